//! The waker of a spawned task: a microtask on the loop thread, a coalesced post elsewhere.

use std::panic::Location;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::Wake;

use crate::event_loop::sender::{Message, Remote};
use crate::event_loop::tasks::TaskRef;

/// What a task's [`Waker`](std::task::Waker) holds. `Send + Sync` (plain data and an `Arc`):
/// on the loop's thread a wake pushes a poll onto the loop's microtask queue (found through the
/// thread's loop registry); on any other thread it posts the wake to the loop's inbox.
pub(crate) struct TaskWaker {
    loop_id: u64,
    task: TaskRef,
    /// Set from the wake until the poll starts: many wakes in between give one poll.
    queued: AtomicBool,
    remote: Arc<Remote>,
}

impl TaskWaker {
    /// A waker for a task whose first poll is already queued.
    pub(crate) fn new(loop_id: u64, task: TaskRef, remote: Arc<Remote>) -> Arc<Self> {
        Arc::new(Self {
            loop_id,
            task,
            queued: AtomicBool::new(true),
            remote,
        })
    }

    /// Makes a spare waker (one no one else holds) the waker of task `task`, whose first
    /// poll is already queued.
    pub(crate) fn reset(&mut self, task: TaskRef) {
        self.task = task;
        *self.queued.get_mut() = true;
    }

    /// The poll is starting: a wake from now on queues another one.
    pub(crate) fn clear_queued(&self) {
        self.queued.store(false, Ordering::Release);
    }

    pub(crate) fn is_queued(&self) -> bool {
        self.queued.load(Ordering::Acquire)
    }
}

impl Wake for TaskWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        if self.queued.load(Ordering::Acquire) || self.queued.swap(true, Ordering::AcqRel) {
            return; // a poll is already queued
        }
        if crate::task::runtime::wake_local(self.loop_id, self.task) {
            return;
        }
        // Another thread: post the wake. The post does not keep the loop alive by itself
        // beyond its delivery (as any message); a refused post means the loop is gone.
        let (loop_id, task) = (self.loop_id, self.task);
        let run: crate::event_loop::sender::PostFn = Box::new(move |_lp| {
            crate::task::runtime::wake_local(loop_id, task);
        });
        let _ = self.remote.send(Message::Post {
            run,
            site: Location::caller(),
        });
    }
}
