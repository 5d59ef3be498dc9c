//! Futures for the task tests.

use std::cell::Cell;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

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
