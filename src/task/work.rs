//! The thread pool, DNS and signals as futures.

use std::cell::Cell;
use std::fmt;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

#[cfg(unix)]
use crate::dns::Hints;
use crate::error::Result;
use crate::event_loop::Loop;
use crate::handle::Handle;
use crate::task::call::{callback, register};
use crate::task::shared::Shared;

/// Runs `f` on the loop's worker pool and resolves to its value ([`Loop::queue_work`]).
/// [`Error::Panicked`](crate::Error::Panicked) if `f` panicked. Dropped before a worker
/// started it, the job is taken off the queue; once running, it finishes and its value is
/// dropped. The job keeps the loop alive while queued or running.
#[track_caller]
pub fn spawn_blocking<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> impl Future<Output = Result<T>> {
    let call = callback(move |lp, done| lp.queue_work(f, move |_, r| done.complete(r)));
    async move { call.await? }
}

#[cfg(unix)]
/// Resolves `host` and `service` ([`crate::dns::getaddrinfo`]). Dropped before a worker took
/// it, the lookup is canceled.
#[track_caller]
pub fn lookup(
    host: &str,
    service: &str,
    hints: Hints,
) -> impl Future<Output = io::Result<Vec<SocketAddr>>> {
    let (host, service) = (host.to_owned(), service.to_owned());
    let call = callback(move |lp, done| {
        crate::dns::getaddrinfo(lp, &host, &service, hints, move |_, r| done.complete(r))
    });
    async move { call.await? }
}

#[cfg(unix)]
#[derive(Default)]
struct Arrivals {
    count: Cell<u64>,
    waker: Cell<Option<Waker>>,
}

#[cfg(unix)]
/// Deliveries of one signal as a [`Stream`](futures_core::Stream) (and [`recv`](Self::recv)):
/// one item per delivery callback (deliveries between two wake-ups coalesce, as with the
/// callback API). The signal handle keeps the loop alive while this exists; dropping it closes
/// the handle.
pub struct Signals {
    signal: crate::Signal,
    signum: i32,
    arrivals: Rc<Arrivals>,
    shared: Rc<Shared>,
}

#[cfg(unix)]
impl Signals {
    /// Watches `signum` (see [`Loop::signal`]).
    pub fn new(lp: &mut Loop, signum: i32) -> Result<Self> {
        let arrivals: Rc<Arrivals> = Rc::default();
        let a = Rc::clone(&arrivals);
        let signal = lp.signal(signum, move |_, _, _| {
            a.count.set(a.count.get() + 1);
            if let Some(w) = a.waker.take() {
                w.wake();
            }
        })?;
        Ok(Self {
            signal,
            signum,
            arrivals,
            shared: lp.task_shared(),
        })
    }

    /// The next delivery (the signal number).
    pub async fn recv(&mut self) -> i32 {
        std::future::poll_fn(|cx| self.poll_recv(cx)).await
    }

    fn poll_recv(&self, cx: &Context<'_>) -> Poll<i32> {
        let n = self.arrivals.count.get();
        if n > 0 {
            self.arrivals.count.set(n - 1);
            return Poll::Ready(self.signum);
        }
        register(&self.arrivals.waker, cx);
        Poll::Pending
    }

    /// The handle, for the callback API (`unref`, say).
    pub fn handle(&self) -> crate::Signal {
        self.signal
    }
}

#[cfg(unix)]
impl futures_core::Stream for Signals {
    type Item = i32;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<i32>> {
        self.poll_recv(cx).map(Some)
    }
}

#[cfg(unix)]
impl Drop for Signals {
    fn drop(&mut self) {
        let signal = self.signal;
        self.shared
            .defer(std::panic::Location::caller(), move |lp| {
                let _ = signal.close(lp, |_| {});
            });
    }
}

#[cfg(unix)]
impl fmt::Debug for Signals {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Signals")
            .field("signum", &self.signum)
            .field("waiting", &self.arrivals.count.get())
            .finish()
    }
}
