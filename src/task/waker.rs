//! The waker of a spawned task: a microtask on the loop thread, a coalesced post elsewhere.
//! Its state lives in the task's own allocation (see `sys::task_cell`).

use std::panic::Location;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use crate::event_loop::sender::{Message, Remote};
use crate::event_loop::tasks::TaskRef;
use crate::sys::task_cell::TaskWake;
use crate::task::self_wake::SelfWake;

/// What a task's [`Waker`](std::task::Waker) reaches. `Send + Sync` (plain data, atomics and an
/// `Arc`): on the loop's thread a wake pushes a poll onto the loop's microtask queue (found
/// through the thread's loop registry), or, for a task waking itself at the queue's front,
/// marks it for a poll at once (`task::self_wake`); on any other thread it posts the wake to
/// the loop's inbox.
///
/// Two flags, so that the loop thread never needs an atomic read-modify-write:
///
/// - `local` is touched only on the loop's thread (a wake checks it only after finding its
///   loop on the current thread; `Relaxed` loads and stores, plain moves): a poll is queued
///   (or due at once) and has not started. Many loop-thread wakes before the poll give one.
/// - `posted` is set by a wake from another thread with a swap, which posts only if it was
///   clear: many cross-thread wakes before the loop takes the flag give one post. The loop
///   takes it (a swap, `Acquire`: the poll then sees everything the wakers did before waking)
///   at the start of a poll if it is set, or when the post is delivered; a delivered post
///   whose flag a poll already took polls nothing more.
pub(crate) struct TaskWaker {
    loop_id: u64,
    /// The task's place in the table (`TaskRef` packed), set when it is inserted.
    task: AtomicU64,
    /// Loop thread only: a poll is queued or due and has not started.
    local: AtomicBool,
    /// A wake from another thread posted and the loop has not taken it yet.
    posted: AtomicBool,
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
    /// The waker state of a task not yet in the table: its first poll will be queued when it
    /// is inserted, so wakes until it starts are absorbed (both flags set; the first poll takes
    /// `posted`).
    pub(crate) fn new(loop_id: u64, remote: Arc<Remote>) -> Self {
        Self {
            loop_id,
            task: AtomicU64::new(u64::MAX),
            local: AtomicBool::new(true),
            posted: AtomicBool::new(true),
            remote,
        }
    }

    /// The task was inserted as `r` and its first poll queued.
    pub(crate) fn set_task(&self, r: TaskRef) {
        self.task.store(pack(r), Ordering::Release);
    }

    /// A poll is starting (loop thread): a wake from now on queues another one. Takes a
    /// cross-thread wake that is still posted (its delivery then polls nothing more), with
    /// `Acquire` so this poll sees what that waker did.
    #[inline]
    pub(crate) fn poll_starts(&self) {
        self.local.store(false, Ordering::Relaxed);
        if self.posted.load(Ordering::Relaxed) {
            self.take_posted();
        }
    }

    /// Takes the cross-thread wake flag (loop thread): whether it was set.
    pub(crate) fn take_posted(&self) -> bool {
        self.posted.swap(false, Ordering::AcqRel)
    }

    /// Marks a poll queued (loop thread): `false` if one already was.
    #[inline]
    pub(crate) fn mark_local(&self) -> bool {
        if self.local.load(Ordering::Relaxed) {
            return false;
        }
        self.local.store(true, Ordering::Relaxed);
        true
    }

    /// Whether a poll is queued or a cross-thread wake posted (loop thread).
    pub(crate) fn is_queued(&self) -> bool {
        self.local.load(Ordering::Relaxed) || self.posted.load(Ordering::Acquire)
    }
}

impl TaskWake for TaskWaker {
    #[inline]
    fn wake(&self, task: usize) {
        // The task waking itself in its own poll with nothing queued before its place: it is
        // polled again right after this poll (same order; see `task::self_wake`). Being in
        // its poll proves this is the loop's thread.
        match crate::task::self_wake::self_wake(task) {
            SelfWake::First => self.local.store(true, Ordering::Relaxed),
            SelfWake::Again => {}
            SelfWake::No => self.wake_queued(),
        }
    }
}

impl TaskWaker {
    /// The ordinary wake: on the loop's thread, queue the poll on the loop's microtask queue
    /// (unless one is queued); elsewhere, post it. Out of line: the fast path stays small.
    #[inline(never)]
    fn wake_queued(&self) {
        if crate::task::shared::wake_local(self.loop_id, self) {
            return;
        }
        if self.posted.swap(true, Ordering::AcqRel) {
            return; // a post is on its way, or the loop has yet to take the flag
        }
        // Read after the swap: the flag was clear, so the loop took it (at a poll's start or a
        // post's delivery, both after it set `task`); the swap's `Acquire` makes that store
        // visible here.
        self.wake_remote(self.task());
    }

    /// The task's place in the table (on the loop's thread, or after taking `posted`).
    pub(crate) fn task(&self) -> TaskRef {
        unpack(self.task.load(Ordering::Acquire))
    }

    /// Another thread: post the wake. The post does not keep the loop alive by itself beyond
    /// its delivery (as any message); a refused post means the loop is gone.
    #[cold]
    fn wake_remote(&self, task: TaskRef) {
        let run: crate::event_loop::sender::PostFn =
            Box::new(move |lp| lp.deliver_remote_wake(task));
        let _ = self.remote.send(Message::Post {
            run,
            site: Location::caller(),
        });
    }
}
