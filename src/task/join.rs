//! [`JoinHandle`]: the result of a spawned task, awaited or observed with a callback.

use std::cell::{Cell, Ref};
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use crate::error::{Error, Result};
use crate::event_loop::Loop;
use crate::event_loop::sender::Remote;
use crate::event_loop::tasks::TaskRef;
use crate::handle::Site;
use crate::sys::task_cell::{LocalTask, Owned, TaskCell};
use crate::task::runtime::Chain;
use crate::task::shared::Shared;
use crate::task::waker::TaskWaker;

type DoneFn<T> = Box<dyn FnOnce(&mut Loop, Result<T>)>;

/// Where a task's result waits for its [`JoinHandle`]: the header of the task's allocation
/// ([`TaskCell`]), which holds the future too.
pub(crate) struct JoinSlot<T> {
    shared: Rc<Shared>,
    site: Site,
    task: Cell<Option<TaskRef>>,
    result: Cell<Option<Result<T>>>,
    /// The task finished (its result was stored or handed to `on_done`).
    done: Cell<bool>,
    aborted: Cell<bool>,
    /// The result was taken by an `await`.
    taken: Cell<bool>,
    waker: Cell<Option<Waker>>,
    on_done: Cell<Option<DoneFn<T>>>,
}

/// How the runtime and an [`AbortHandle`] reach a task without knowing its output type.
pub(crate) trait Fail: Owned {
    /// Completes the task with an error (a panic).
    fn fail(&self, err: Error);
    fn is_aborted(&self) -> bool;
    /// See [`JoinHandle::abort`].
    fn abort(&self) -> bool;
}

/// A spawned task as the runtime's table holds it, type-erased: one allocation with the
/// future, its join slot and its waker state (`sys::task_cell`).
pub(crate) trait Run: Fail {
    /// Polls the future in place, and again at once while `chain` says so (it woke itself at
    /// the queue's front: see `task::self_wake`); on completion stores the output in the join
    /// slot (or hands it to `on_done`). `Ready` also when there is no future left to poll.
    fn run(&self, cx: &mut Context<'_>, chain: &Chain<'_>) -> Poll<()>;
    /// Drops the future in place (finished, panicked or aborted); `false` if it was already.
    fn drop_future(&self) -> bool;
    /// The task was inserted in the table as `r` (for `abort` and the waker).
    fn set_task(&self, r: TaskRef);
    /// The waker's state.
    fn waker_state(&self) -> &TaskWaker;
    /// A poll is about to start: wakes from now on queue another; `false` if the task was
    /// aborted (it must not be polled again).
    fn start_poll(&self) -> bool;
}

/// What a [`JoinHandle`] reaches in the task's allocation.
pub(crate) trait Join<T>: Fail {
    /// The join slot; `None` only while the task's allocation is being released.
    fn slot(&self) -> Option<Ref<'_, JoinSlot<T>>>;
}

/// A task: its waker state, its join slot and its future, in one allocation.
pub(crate) type TaskOf<F> = TaskCell<TaskWaker, JoinSlot<<F as Future>::Output>, F>;

impl<F: Future + 'static> Fail for TaskOf<F>
where
    F::Output: 'static,
{
    fn fail(&self, err: Error) {
        if let Some(h) = self.head() {
            h.complete(Err(err));
        }
    }

    #[inline]
    fn is_aborted(&self) -> bool {
        self.with_head(|h| h.aborted.get()).unwrap_or(true)
    }

    fn abort(&self) -> bool {
        self.head().is_some_and(|h| h.abort())
    }
}

impl<F: Future + 'static> Run for TaskOf<F>
where
    F::Output: 'static,
{
    #[inline]
    fn run(&self, cx: &mut Context<'_>, chain: &Chain<'_>) -> Poll<()> {
        let start_poll = |quiet: bool| {
            if quiet {
                debug_assert!(!self.is_aborted(), "an abort queues a microtask");
                self.wake_state().poll_starts();
                true
            } else {
                self.start_poll()
            }
        };
        match self.poll_while(cx, || chain.again(start_poll)) {
            Some(Poll::Pending) => Poll::Pending,
            Some(Poll::Ready(v)) => {
                if let Some(h) = self.head() {
                    h.complete(Ok(v));
                }
                Poll::Ready(())
            }
            None => Poll::Ready(()),
        }
    }

    fn drop_future(&self) -> bool {
        self.clear_future()
    }

    fn set_task(&self, r: TaskRef) {
        if let Some(h) = self.head() {
            h.task.set(Some(r));
        }
        self.wake_state().set_task(r);
    }

    #[inline]
    fn waker_state(&self) -> &TaskWaker {
        self.wake_state()
    }

    #[inline]
    fn start_poll(&self) -> bool {
        if self.with_head(|h| h.aborted.get()).unwrap_or(true) {
            return false;
        }
        self.wake_state().poll_starts();
        true
    }
}

impl<F: Future + 'static> Join<F::Output> for TaskOf<F>
where
    F::Output: 'static,
{
    fn slot(&self) -> Option<Ref<'_, JoinSlot<F::Output>>> {
        self.head()
    }
}

/// A new task for `fut`, spawned at `site` on the loop of `shared` (whose inbox is `remote`):
/// the table's handle, its waker, and the [`JoinHandle`]. One allocation.
pub(crate) fn new_task<F>(
    shared: Rc<Shared>,
    remote: Arc<Remote>,
    site: Site,
    fut: F,
) -> (LocalTask<dyn Run>, Waker, JoinHandle<F::Output>)
where
    F: Future + 'static,
    F::Output: 'static,
{
    let wake = TaskWaker::new(shared.loop_id, remote);
    let task: LocalTask<TaskOf<F>> = LocalTask::new(wake, JoinSlot::new(shared, site), fut);
    let run = task.cast(|a| a as Arc<dyn Run>);
    let join = task.cast(|a| a as Arc<dyn Join<F::Output>>);
    (run, task.waker(), JoinHandle { task: join })
}

impl<T: 'static> JoinSlot<T> {
    pub(crate) fn new(shared: Rc<Shared>, site: Site) -> Self {
        Self {
            shared,
            site,
            task: Cell::new(None),
            result: Cell::new(None),
            done: Cell::new(false),
            aborted: Cell::new(false),
            taken: Cell::new(false),
            waker: Cell::new(None),
            on_done: Cell::new(None),
        }
    }

    /// See [`JoinHandle::abort`].
    fn abort(&self) -> bool {
        if self.done.get() || self.aborted.get() {
            return false;
        }
        self.aborted.set(true);
        drop(self.on_done.take());
        if let Some(r) = self.task.get() {
            self.shared.microtask(self.site, move |lp| lp.abort_task(r));
        }
        if let Some(w) = self.waker.take() {
            w.wake();
        }
        true
    }

    /// The task finished with `r`: hand it to the callback (as a microtask) or store it and
    /// wake the awaiting task. Ignored after an abort.
    pub(crate) fn complete(&self, r: Result<T>) {
        if self.done.get() || self.aborted.get() {
            return;
        }
        self.done.set(true);
        if let Some(cb) = self.on_done.take() {
            self.shared.microtask(self.site, move |lp| cb(lp, r));
            return;
        }
        self.result.set(Some(r));
        if let Some(w) = self.waker.take() {
            w.wake();
        }
    }
}

/// The handle to a spawned task's result (from [`Loop::spawn_local`] or [`crate::task::spawn`]).
///
/// Await it from another task (it resolves to the task's output, [`Error::Panicked`] with the
/// panic message if the task panicked, or [`Error::Canceled`] if it was aborted), observe it
/// with [`on_done`](Self::on_done), or let it go: dropping the handle (or
/// [`detach`](Self::detach)) leaves the task running. [`abort`](Self::abort) drops the task's
/// future.
#[must_use = "dropping a JoinHandle detaches the task; call detach() to say so"]
pub struct JoinHandle<T> {
    task: LocalTask<dyn Join<T>>,
}

impl<T: 'static> JoinHandle<T> {
    /// Runs `f` on the join slot; `default` if there is none (only while the task's
    /// allocation is being released, which no handle can observe).
    #[inline]
    fn with_slot<R>(&self, default: R, f: impl FnOnce(&JoinSlot<T>) -> R) -> R {
        self.task.slot().map_or(default, |s| f(&s))
    }

    /// Lets the task run on its own; its result is dropped.
    pub fn detach(self) {}

    /// Whether the task has finished (completed, panicked or been aborted).
    pub fn is_finished(&self) -> bool {
        self.with_slot(true, |s| s.done.get() || s.aborted.get())
    }

    /// Aborts the task: its future is dropped on the loop thread in the microtask drain after
    /// the current callback (or right after its own poll, if it aborts itself), and it is never
    /// polled again — not even for a wake queued before this call. Operations it was waiting on
    /// are canceled by their futures' drops. An `on_done` callback is dropped without being
    /// called; a task awaiting this handle gets [`Error::Canceled`]. Returns `false` if the task
    /// had already finished.
    pub fn abort(&self) -> bool {
        self.task.abort()
    }

    /// A handle that can abort the task without owning its result (e.g. to keep after
    /// handing the `JoinHandle` to another task).
    pub fn abort_handle(&self) -> AbortHandle {
        AbortHandle {
            task: self.task.cast(|a| a as Arc<dyn Fail>),
        }
    }

    /// Calls `cb(lp, result)` when the task finishes, as a microtask (like a promise's `then`):
    /// in the microtask drain after the task's last poll, or after the current callback if it
    /// has already finished — never inside this call. Not called if the task is aborted.
    #[track_caller]
    pub fn on_done(self, lp: &mut Loop, cb: impl FnOnce(&mut Loop, Result<T>) + 'static) {
        let Some(s) = self.task.slot() else {
            return;
        };
        if s.aborted.get() {
            return;
        }
        if s.done.get() {
            let r = s.result.take().unwrap_or(Err(Error::InvalidState(
                "the task's result was already taken",
            )));
            lp.queue_microtask(move |lp| cb(lp, r));
            return;
        }
        s.on_done.set(Some(Box::new(cb)));
    }
}

impl<T: 'static> Future for JoinHandle<T> {
    type Output = Result<T>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<T>> {
        let Some(s) = self.task.slot() else {
            return Poll::Ready(Err(Error::InvalidState("the task is gone")));
        };
        if let Some(r) = s.result.take() {
            s.taken.set(true);
            return Poll::Ready(r);
        }
        if s.aborted.get() {
            return Poll::Ready(Err(Error::Canceled));
        }
        if s.taken.get() {
            return Poll::Ready(Err(Error::InvalidState(
                "JoinHandle polled after it completed",
            )));
        }
        let w = match s.waker.take() {
            Some(w) if w.will_wake(cx.waker()) => w,
            _ => cx.waker().clone(),
        };
        s.waker.set(Some(w));
        Poll::Pending
    }
}

impl<T> fmt::Debug for JoinHandle<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("JoinHandle");
        if let Some(s) = self.task.slot() {
            d.field("site", &s.site)
                .field("done", &s.done.get())
                .field("aborted", &s.aborted.get());
        }
        d.finish()
    }
}

/// Aborts a task without owning its result: see [`JoinHandle::abort_handle`].
#[derive(Clone)]
pub struct AbortHandle {
    task: LocalTask<dyn Fail>,
}

impl AbortHandle {
    /// As [`JoinHandle::abort`].
    pub fn abort(&self) -> bool {
        self.task.abort()
    }
}

impl fmt::Debug for AbortHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AbortHandle")
            .field("aborted", &self.task.is_aborted())
            .finish()
    }
}
