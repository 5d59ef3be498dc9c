//! The waker of a spawned task: a microtask on the loop thread, a coalesced post elsewhere.
//! Its state lives in the task's own allocation (see `sys::task_cell`).

use std::panic::Location;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use crate::event_loop::sender::{Message, Remote};
use crate::event_loop::tasks::TaskRef;
use crate::sys::task_cell::TaskWake;

/// What a task's [`Waker`](std::task::Waker) reaches. `Send + Sync` (plain data, atomics and an
/// `Arc`): on the loop's thread a wake pushes a poll onto the loop's microtask queue (found
/// through the thread's loop registry); on any other thread it posts the wake to the loop's
/// inbox.
pub(crate) struct TaskWaker {
    loop_id: u64,
    /// The task's place in the table (`TaskRef` packed), set when it is inserted.
    task: AtomicU64,
    /// Set from the wake until the poll starts: many wakes in between give one poll.
    queued: AtomicBool,
    remote: Arc<Remote>,
}

fn pack(r: TaskRef) -> u64 {
    (u64::from(r.gen_) << 32) | u64::from(r.key)
}

fn unpack(v: u64) -> TaskRef {
    TaskRef {
        key: v as u32,
        gen_: (v >> 32) as u32,
    }
}

impl TaskWaker {
    /// The waker state of a task not yet in the table (its first poll will be queued when it
    /// is inserted, so wakes until then are absorbed).
    pub(crate) fn new(loop_id: u64, remote: Arc<Remote>) -> Self {
        Self {
            loop_id,
            task: AtomicU64::new(u64::MAX),
            queued: AtomicBool::new(true),
            remote,
        }
    }

    /// The task was inserted as `r` and its first poll queued.
    pub(crate) fn set_task(&self, r: TaskRef) {
        self.task.store(pack(r), Ordering::Release);
    }

    /// The poll is starting: a wake from now on queues another one.
    #[inline]
    pub(crate) fn clear_queued(&self) {
        self.queued.store(false, Ordering::Release);
    }

    pub(crate) fn is_queued(&self) -> bool {
        self.queued.load(Ordering::Acquire)
    }

    /// The identity the self-wake fast path knows the task by (this state's address: unique
    /// while the task lives, and the poll that uses it holds the task).
    #[inline]
    pub(crate) fn id(&self) -> usize {
        std::ptr::from_ref(self).addr()
    }
}

impl TaskWake for TaskWaker {
    #[inline]
    fn wake(&self) {
        if self.queued.load(Ordering::Acquire) {
            return; // a poll is already queued
        }
        // The task waking itself in its own poll with nothing queued before its place: it is
        // polled again right after this poll (same order; see `task::self_wake`).
        let front = crate::task::self_wake::is_front(self.id());
        if self.queued.swap(true, Ordering::AcqRel) {
            return; // a poll is already queued
        }
        if front {
            crate::task::self_wake::record_self_wake();
            return;
        }
        self.queue_poll();
    }
}

impl TaskWaker {
    /// The wake took the queued flag: queue the poll on the loop's microtask queue if the loop
    /// lives on this thread, else post it. Out of line: the self-wake fast path stays small.
    #[inline(never)]
    fn queue_poll(&self) {
        let task = unpack(self.task.load(Ordering::Acquire));
        if crate::task::runtime::wake_local(self.loop_id, task) {
            return;
        }
        self.wake_remote(task);
    }

    /// Another thread: post the wake. The post does not keep the loop alive by itself beyond
    /// its delivery (as any message); a refused post means the loop is gone.
    #[cold]
    fn wake_remote(&self, task: TaskRef) {
        let loop_id = self.loop_id;
        let run: crate::event_loop::sender::PostFn = Box::new(move |_lp| {
            crate::task::runtime::wake_local(loop_id, task);
        });
        let _ = self.remote.send(Message::Post {
            run,
            site: Location::caller(),
        });
    }
}
