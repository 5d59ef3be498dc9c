//! The two Node-style job queues drained after every callback: next-ticks, then microtasks.
//!
//! The microtask queue also carries the polls of woken [futures](crate::task): a wake is a
//! microtask, FIFO with the closures queued so far (Node's promise continuations). The queue
//! is shared (`Rc`) with the task runtime so that a waker, which holds no `&mut Loop`, can
//! push onto it.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::rc::Rc;

use crate::event_loop::LoopFn;
use crate::handle::Site;

/// A queued next-tick or microtask.
pub(crate) struct Task {
    pub(crate) run: LoopFn,
    pub(crate) site: Site,
}

/// Which queue a [`Task`] goes to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum TaskKind {
    NextTick,
    Microtask,
}

/// Names a spawned future in the task runtime's table: slot and generation, so a wake that
/// arrives after the task finished (and its slot was reused) is recognised as stale.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct TaskRef {
    pub(crate) key: u32,
    pub(crate) gen_: u32,
}

/// An entry of the microtask queue.
pub(crate) enum Micro {
    /// A closure (`queue_microtask`, a join callback, a deferred future operation).
    Call(Task),
    /// Poll a woken task.
    Poll(TaskRef),
}

/// What a drain runs next.
pub(crate) enum Next {
    Tick(Task),
    Micro(Task),
    Poll(TaskRef),
}

/// The microtask queue, shared with the task runtime. Its `RefCell` is borrowed only inside
/// `push` and `pop` (no user code runs there; a popped entry is dropped by the caller, after
/// the borrow), so a borrow can never fail.
#[derive(Default)]
pub(crate) struct MicroQueue {
    queue: RefCell<VecDeque<Micro>>,
    len: Cell<usize>,
}

impl MicroQueue {
    #[inline]
    pub(crate) fn push(&self, m: Micro) {
        crate::task::self_wake::pushed();
        let mut q = self.queue.borrow_mut();
        q.push_back(m);
        self.len.set(q.len());
    }

    #[inline]
    fn pop(&self) -> Option<Micro> {
        if self.len.get() == 0 {
            return None;
        }
        let mut q = self.queue.borrow_mut();
        let m = q.pop_front();
        self.len.set(q.len());
        m
    }

    #[inline]
    pub(crate) fn len(&self) -> usize {
        self.len.get()
    }

    /// Drops every queued entry (the loop is being dropped). Entries are dropped after the
    /// queue is put back, so a drop that queues again finds a usable queue.
    pub(crate) fn clear(&self) {
        self.len.set(0);
        let q = std::mem::take(&mut *self.queue.borrow_mut());
        drop(q);
    }
}

/// The next-tick queue and the microtask queue.
///
/// [`TaskQueues::next`] encodes Node's drain order: every next-tick (including ones queued
/// meanwhile) before any microtask; then every microtask (including ones queued meanwhile); then
/// back to next-ticks queued by those microtasks; until both are empty.
#[derive(Default)]
pub(crate) struct TaskQueues {
    ticks: VecDeque<Task>,
    micro: Rc<MicroQueue>,
    /// Set while the microtask queue is being emptied: next-ticks queued by a microtask wait
    /// until the microtask queue is empty.
    in_micro: bool,
}

impl TaskQueues {
    #[inline]
    pub(crate) fn is_empty(&self) -> bool {
        self.ticks.is_empty() && self.micro.len() == 0
    }

    pub(crate) fn len(&self) -> usize {
        self.ticks.len() + self.micro.len()
    }

    pub(crate) fn push(&mut self, kind: TaskKind, task: Task) {
        match kind {
            TaskKind::NextTick => self.ticks.push_back(task),
            TaskKind::Microtask => self.micro.push(Micro::Call(task)),
        }
    }

    /// The microtask queue, for the task runtime's wakers.
    pub(crate) fn micro_queue(&self) -> &Rc<MicroQueue> {
        &self.micro
    }

    /// The next task to run in a drain, or `None` when both queues are empty.
    pub(crate) fn next(&mut self) -> Option<Next> {
        if !self.in_micro
            && let Some(t) = self.ticks.pop_front()
        {
            return Some(Next::Tick(t));
        }
        if let Some(m) = self.micro.pop() {
            self.in_micro = true;
            return Some(match m {
                Micro::Call(t) => Next::Micro(t),
                Micro::Poll(r) => Next::Poll(r),
            });
        }
        self.in_micro = false;
        self.ticks.pop_front().map(Next::Tick)
    }

    /// The next microtask, skipping next-ticks (a drain that hit the tick cap).
    pub(crate) fn next_microtask(&mut self) -> Option<Micro> {
        self.micro.pop()
    }

    /// Forgets drain position (a drain that stopped early starts over with next-ticks).
    pub(crate) fn reset_drain(&mut self) {
        self.in_micro = false;
    }
}
