//! Futures for the task tests.

use std::cell::Cell;
use std::future::Future;
use std::pin::{Pin, pin};
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

use evloop::{Loop, task};

/// A future woken by hand: `Pending` until [`fire`](Gate::fire) is called, counting its polls.
#[derive(Clone, Default)]
pub struct Gate {
    open: Rc<Cell<bool>>,
    waker: Rc<Cell<Option<Waker>>>,
    polls: Rc<Cell<usize>>,
}

impl Gate {
    /// Opens the gate and wakes the waiting task.
    pub fn fire(&self) {
        self.open.set(true);
        self.wake();
    }

    /// Wakes without opening (a spurious wake); the waker stays registered.
    pub fn wake(&self) {
        if let Some(w) = self.waker.take() {
            self.waker.set(Some(w.clone()));
            w.wake();
        }
    }

    /// A future that completes once the gate is open.
    pub fn wait(&self) -> GateWait {
        GateWait(self.clone())
    }

    /// How many times a [`GateWait`] of this gate was polled.
    pub fn polls(&self) -> usize {
        self.polls.get()
    }
}

/// [`Gate::wait`]'s future.
pub struct GateWait(Gate);

impl Future for GateWait {
    type Output = ();
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let g = &self.0;
        g.polls.set(g.polls.get() + 1);
        if g.open.get() {
            return Poll::Ready(());
        }
        g.waker.set(Some(cx.waker().clone()));
        Poll::Pending
    }
}

/// A listener of `lp` and a blocking client connected to it, with the accepted stream.
pub fn tcp_pair(lp: &mut Loop) -> (task::AsyncTcpStream, std::net::TcpStream) {
    let mut listener = task::AsyncTcpListener::tcp(lp, "127.0.0.1:0".parse().unwrap()).unwrap();
    let addr = listener.local_addr(lp).unwrap();
    let client = std::net::TcpStream::connect(addr).unwrap();
    let conn = lp
        .block_on(async move { listener.accept().await })
        .unwrap()
        .unwrap();
    (conn, client)
}

/// Polls both; the first to finish wins and the other is dropped.
pub async fn race<A: Future, B: Future>(a: A, b: B) -> Result<A::Output, B::Output> {
    let (mut a, mut b) = (pin!(a), pin!(b));
    std::future::poll_fn(|cx| {
        if let Poll::Ready(v) = a.as_mut().poll(cx) {
            return Poll::Ready(Ok(v));
        }
        if let Poll::Ready(v) = b.as_mut().poll(cx) {
            return Poll::Ready(Err(v));
        }
        Poll::Pending
    })
    .await
}

/// Starts `lp`'s watchdog at `period`, collecting its reports: the stalls, and a flag set at
/// the first one (for a task that waits for it on the loop thread).
pub fn collect_stalls(
    lp: &mut Loop,
    period: std::time::Duration,
) -> (
    std::sync::Arc<std::sync::Mutex<Vec<evloop::metrics::Stall>>>,
    std::sync::Arc<std::sync::atomic::AtomicBool>,
) {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::{Arc, Mutex};
    let stalls: Arc<Mutex<Vec<evloop::metrics::Stall>>> = Arc::default();
    let reported = Arc::new(AtomicBool::new(false));
    let (s, r) = (Arc::clone(&stalls), Arc::clone(&reported));
    lp.start_watchdog(period, move |stall| {
        s.lock().unwrap().push(*stall);
        r.store(true, Ordering::SeqCst);
    })
    .unwrap();
    (stalls, reported)
}
