//! Timers as futures: [`sleep`] and [`interval`].

use std::cell::Cell;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use crate::error::Result;
use crate::task::call::{Callback, callback, register};
use crate::task::shared::{Shared, current};

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

#[derive(Default)]
struct Ticks {
    /// Timer firings not yet taken by `tick`.
    ready: Cell<u64>,
    waker: Cell<Option<Waker>>,
    timer: Cell<Option<crate::Timer>>,
}

/// A repeating timer for `async` code: [`Interval::tick`] completes once per period (firings
/// missed while nobody awaited are handed out one per `tick`, at once). Also a
/// [`Stream`](futures_core::Stream) of ticks. The timer starts on the first poll and is cleared
/// when the `Interval` is dropped; it keeps the loop alive while it exists.
pub struct Interval {
    period: Duration,
    ticks: Rc<Ticks>,
    shared: Option<Rc<Shared>>,
}

/// A new [`Interval`] of `period` (see [`Loop::set_interval`](crate::Loop::set_interval)).
pub fn interval(period: Duration) -> Interval {
    Interval {
        period,
        ticks: Rc::default(),
        shared: None,
    }
}

impl Interval {
    /// Waits for the next tick.
    pub async fn tick(&mut self) -> Result<()> {
        std::future::poll_fn(|cx| self.poll_tick(cx)).await
    }

    fn poll_tick(&mut self, cx: &mut Context<'_>) -> Poll<Result<()>> {
        if self.shared.is_none() {
            let shared = match current() {
                Ok(s) => s,
                Err(e) => return Poll::Ready(Err(e)),
            };
            let (ticks, period) = (Rc::clone(&self.ticks), self.period);
            shared.defer(std::panic::Location::caller(), move |lp| {
                let t2 = Rc::clone(&ticks);
                let timer = lp.set_interval(period, move |_, _| {
                    t2.ready.set(t2.ready.get() + 1);
                    if let Some(w) = t2.waker.take() {
                        w.wake();
                    }
                });
                ticks.timer.set(Some(timer));
            });
            self.shared = Some(shared);
        }
        let ready = self.ticks.ready.get();
        if ready > 0 {
            self.ticks.ready.set(ready - 1);
            return Poll::Ready(Ok(()));
        }
        register(&self.ticks.waker, cx);
        Poll::Pending
    }
}

impl futures_core::Stream for Interval {
    type Item = Result<()>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<()>>> {
        self.get_mut().poll_tick(cx).map(Some)
    }
}

impl Drop for Interval {
    fn drop(&mut self) {
        if let Some(shared) = &self.shared {
            let ticks = Rc::clone(&self.ticks);
            shared.defer(std::panic::Location::caller(), move |lp| {
                if let Some(t) = ticks.timer.take() {
                    t.clear(lp);
                }
            });
        }
    }
}

impl std::fmt::Debug for Interval {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Interval")
            .field("period", &self.period)
            .field("ready", &self.ticks.ready.get())
            .finish()
    }
}
