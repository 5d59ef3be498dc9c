//! hyper 1.x on evloop (cargo feature `hyper`): [`HyperExecutor`], [`HyperTimer`], and
//! `hyper::rt::Read`/`Write` for [`AsyncStream`].
//!
//! ```no_run
//! use std::convert::Infallible;
//! use evloop::{Loop, task};
//! use evloop::task::hyper::{HyperExecutor, HyperTimer};
//!
//! # fn main() -> Result<(), evloop::Error> {
//! let mut lp = Loop::new()?;
//! let mut listener = task::AsyncTcpListener::tcp(&mut lp, "127.0.0.1:8080".parse().unwrap())?;
//! lp.block_on(async move {
//!     while let Ok(stream) = listener.accept().await {
//!         let service = hyper::service::service_fn(|_req| async {
//!             Ok::<_, Infallible>(hyper::Response::new("Hello, World!".to_owned()))
//!         });
//!         let conn = hyper::server::conn::http1::Builder::new()
//!             .timer(HyperTimer)
//!             .serve_connection(stream, service);
//!         task::spawn(conn).map(|j| j.detach()).ok();
//!     }
//! })?;
//! # let _ = HyperExecutor::new(&lp);
//! # Ok(())
//! # }
//! ```

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use crate::event_loop::Loop;
use crate::sys::loop_scope;
use crate::task::AsyncStream;
use crate::task::runtime::{current, shared_for};
use crate::task::stream::StreamKind;

/// hyper's executor: spawns hyper's background futures (HTTP/2 streams and connection
/// drivers) as tasks of the loop. From a task's poll they are spawned at once; from anywhere
/// else on the loop's thread they are spawned by a [`LocalSender`](crate::LocalSender) post.
#[derive(Clone, Debug)]
pub struct HyperExecutor {
    local: crate::LocalSender,
}

impl HyperExecutor {
    /// An executor for loop `lp`.
    pub fn new(lp: &Loop) -> Self {
        Self {
            local: lp.local_sender(),
        }
    }
}

impl<F: Future + 'static> hyper::rt::Executor<F> for HyperExecutor {
    fn execute(&self, fut: F) {
        let fut = async move {
            fut.await;
        };
        if current().is_ok() {
            if let Ok(join) = crate::task::spawn(fut) {
                join.detach();
            }
            return;
        }
        // Not inside a poll: spawn from the next pending phase (fails only once the loop is
        // gone, and then the future has nowhere to run).
        let _ = self.local.post(move |lp| lp.spawn_local(fut).detach());
    }
}

/// hyper's timer: one-shot loop timers behind `Send + Sync` sleeps (hyper asks for both).
/// A sleep starts its timer on its first poll, which must be inside a task of an evloop loop
/// (hyper polls it from the connection future); polled anywhere else it completes at once,
/// so a timeout fails fast instead of never firing.
#[derive(Clone, Copy, Debug, Default)]
pub struct HyperTimer;

impl hyper::rt::Timer for HyperTimer {
    fn sleep(&self, duration: Duration) -> Pin<Box<dyn hyper::rt::Sleep>> {
        Box::pin(HyperSleep::new(Instant::now() + duration))
    }

    fn sleep_until(&self, deadline: Instant) -> Pin<Box<dyn hyper::rt::Sleep>> {
        Box::pin(HyperSleep::new(deadline))
    }
}

#[derive(Default)]
struct SleepState {
    fired: AtomicBool,
    waker: Mutex<Option<Waker>>,
    /// The loop timer, when it was started after a poll (the deferred path).
    timer: Mutex<Option<crate::Timer>>,
}

impl SleepState {
    fn fire(&self) {
        self.fired.store(true, Ordering::Release);
        let w = self
            .waker
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(w) = w {
            w.wake();
        }
    }
}

/// The sleep [`HyperTimer`] hands out.
struct HyperSleep {
    deadline: Instant,
    state: Arc<SleepState>,
    /// The loop whose timer it started.
    loop_id: Option<u64>,
    /// The loop timer, when it was started inline (inside the poll).
    timer: Option<crate::Timer>,
}

impl HyperSleep {
    fn new(deadline: Instant) -> Self {
        Self {
            deadline,
            state: Arc::default(),
            loop_id: None,
            timer: None,
        }
    }
}

/// Starts the timer of a sleep until `deadline` that fires `state`.
fn start_timer(lp: &mut Loop, deadline: Instant, state: &Arc<SleepState>) -> crate::Timer {
    let delay = deadline.saturating_duration_since(lp.now());
    let state = Arc::clone(state);
    lp.set_timeout(delay, move |_, _| state.fire())
}

impl Future for HyperSleep {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.state.fired.load(Ordering::Acquire) {
            return Poll::Ready(());
        }
        {
            let mut w = self
                .state
                .waker
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            match &*w {
                Some(old) if old.will_wake(cx.waker()) => {}
                _ => *w = Some(cx.waker().clone()),
            }
        }
        if self.loop_id.is_none() {
            let Ok(shared) = current() else {
                return Poll::Ready(());
            };
            self.loop_id = Some(shared.loop_id);
            let (state, deadline) = (Arc::clone(&self.state), self.deadline);
            // Inside the task's poll the timer starts at once; a timer never fires inside
            // `set_timeout`, so the wake comes later, from the timer phase.
            match loop_scope::with_loop::<Loop, _>(shared.loop_id, |lp| {
                start_timer(lp, deadline, &state)
            }) {
                Ok(t) => self.timer = Some(t),
                Err(_) => shared.defer(std::panic::Location::caller(), move |lp| {
                    let timer = start_timer(lp, deadline, &state);
                    *state.timer.lock().unwrap_or_else(PoisonError::into_inner) = Some(timer);
                }),
            }
        }
        if self.state.fired.load(Ordering::Acquire) {
            return Poll::Ready(());
        }
        Poll::Pending
    }
}

impl hyper::rt::Sleep for HyperSleep {}

impl Drop for HyperSleep {
    fn drop(&mut self) {
        let Some(id) = self.loop_id else { return };
        if self.state.fired.load(Ordering::Acquire) {
            return;
        }
        // Inside a poll of its loop (hyper drops the header-read sleep while it polls the
        // connection): cleared at once. `clear` drops the timer's callback, never runs it.
        if let Some(t) = self.timer
            && loop_scope::with_loop::<Loop, _>(id, |lp| t.clear(lp)).is_ok()
        {
            return;
        }
        // Dropped on another thread (hyper does not do that): the timer fires harmlessly.
        if let Some(shared) = shared_for(id) {
            let (state, inline) = (Arc::clone(&self.state), self.timer);
            shared.defer(std::panic::Location::caller(), move |lp| {
                let t = state
                    .timer
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .take();
                if let Some(t) = t.or(inline) {
                    t.clear(lp);
                }
            });
        }
    }
}

impl<S: StreamKind> hyper::rt::Read for AsyncStream<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        mut buf: hyper::rt::ReadBufCursor<'_>,
    ) -> Poll<io::Result<()>> {
        let max = buf.remaining();
        self.poll_read_with(cx, max, |bytes| buf.put_slice(bytes))
            .map_err(io::Error::from)
    }
}

impl<S: StreamKind> hyper::rt::Write for AsyncStream<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        futures_io::AsyncWrite::poll_write(self, cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        futures_io::AsyncWrite::poll_flush(self, cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        futures_io::AsyncWrite::poll_close(self, cx)
    }
}
