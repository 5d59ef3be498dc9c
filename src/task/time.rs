//! Timers as futures: [`sleep`].

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use crate::error::Result;
use crate::task::call::{Callback, callback};

/// Completes `delay` after the loop's cached time when its first poll ran (a one-shot timer
/// started right after that poll). Dropped early, it clears its timer. Keeps the loop alive
/// while it waits (the timer does).
#[track_caller]
pub fn sleep(delay: Duration) -> Sleep {
    Sleep {
        inner: callback(move |lp, done| {
            let mut done = Some(done);
            lp.set_timeout(delay, move |_, _| {
                if let Some(d) = done.take() {
                    d.complete(());
                }
            })
        }),
    }
}

/// The future of [`sleep`].
#[derive(Debug)]
#[must_use = "futures do nothing unless awaited"]
pub struct Sleep {
    inner: Callback<(), crate::Timer>,
}

impl Future for Sleep {
    type Output = Result<()>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<()>> {
        Pin::new(&mut self.inner).poll(cx)
    }
}
