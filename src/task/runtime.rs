//! The per-loop task table and polling. What a loop's futures share with it, and the
//! thread's registry of those, are in `shared.rs`.

use std::cell::Cell;
use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::rc::Rc;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use slab::Slab;

use crate::error::Error;
use crate::event_loop::tasks::{Micro, TaskRef};
use crate::event_loop::{CallbackKind, Loop, Phase};
use crate::handle::Site;
use crate::sys::task_cell::LocalTask;
use crate::task::join::{JoinHandle, Run, new_task};
use crate::task::self_wake::PollScope;

use crate::task::shared::{Polled, Shared};

/// What decides, inside a task's poll, whether it is polled again at once (see
/// [`Loop::poll_task`]), and what counts those polls.
pub(crate) struct Chain<'a> {
    shared: &'a Shared,
    scope: &'a PollScope,
    /// Polls run after the first, times two; plus one if a re-poll was due but the task had
    /// been aborted (from its own poll). One word: the common case reads one zero.
    state: Cell<u64>,
}

impl Chain<'_> {
    /// Called after a poll returned `Pending`: whether to poll again now. Yes if the task woke
    /// itself at the queue's front, deferred nothing, and `start_poll` (the check and reset a
    /// queued poll does first) lets it.
    /// `start_poll(quiet)`: `quiet` when nothing was pushed during the poll, so the task cannot
    /// have been aborted in it (an abort queues a microtask) and the abort check can be
    /// skipped.
    #[inline]
    pub(crate) fn again(&self, start_poll: impl FnOnce(bool) -> bool) -> bool {
        if self.shared.op_count.get() != 0 {
            return false;
        }
        let Some(quiet) = self.scope.take_woke() else {
            return false;
        };
        if !start_poll(quiet) {
            self.state.set(self.state.get() | 1);
            return false;
        }
        self.state.set(self.state.get() + 2);
        true
    }
}

/// Marks the task being polled in [`Shared::polled`] for the scope of its poll (nested polls,
/// of another loop's tasks, restore the outer one).
struct PolledScope<'a> {
    shared: &'a Shared,
    outer: Option<Polled>,
}

impl<'a> PolledScope<'a> {
    #[inline]
    fn enter(shared: &'a Shared, polled: Polled) -> Self {
        let outer = shared.polled.replace(Some(polled));
        Self { shared, outer }
    }
}

impl Drop for PolledScope<'_> {
    #[inline]
    fn drop(&mut self) {
        self.shared.polled.set(self.outer);
    }
}

/// A spawned task.
struct Entry {
    gen_: u32,
    /// The task; `None` while it is being polled (lent to the poll).
    live: Option<Live>,
    site: Site,
    /// Aborted while being polled: dropped when the poll returns.
    abort: bool,
}

/// A task's allocation and its waker.
struct Live {
    /// The future, its join slot and its waker state, in one allocation (shared with the
    /// `JoinHandle` and the wakers).
    cell: LocalTask<dyn Run>,
    /// The task's waker, made once and lent to each poll (no atomic per poll).
    waker: Waker,
}

/// A pending task, as [`Loop::pending_tasks`] lists it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct TaskInfo {
    /// The `file:line` that spawned it.
    pub site: Site,
    /// Whether it is woken and waiting for its poll in the microtask queue.
    pub woken: bool,
}

/// The loop's task table. Created on first use: a loop without futures pays nothing.
#[derive(Default)]
pub(crate) struct Runtime {
    state: Option<Box<State>>,
}

struct State {
    tasks: Slab<Entry>,
    next_gen: u32,
    shared: Rc<Shared>,
}

impl Runtime {
    /// Drops every task's future (the loop is being dropped), and leaves the registry.
    pub(crate) fn shutdown(&mut self) {
        let Some(state) = self.state.take() else {
            return;
        };
        Shared::unregister(state.shared.loop_id);
        for (_, entry) in state.tasks {
            let _ = catch_unwind(AssertUnwindSafe(move || {
                if let Some(live) = &entry.live {
                    live.cell.drop_future();
                }
                drop(entry);
            }));
        }
    }

    fn len(&self) -> usize {
        self.state.as_ref().map_or(0, |s| s.tasks.len())
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// # Futures
///
/// Spawned futures run as microtasks; see [`crate::task`] for the model.
impl Loop {
    /// The runtime state, created (and registered with this thread) on first use.
    fn rt_state(&mut self) -> &mut State {
        if self.rt().state.is_none() {
            let shared = Shared::register(Rc::clone(self.micro_queue()), Arc::clone(self.remote()));
            self.rt_mut().state = Some(Box::new(State {
                tasks: Slab::new(),
                next_gen: 0,
                shared,
            }));
        }
        match &mut self.rt_mut().state {
            Some(s) => s,
            None => unreachable!("created above"),
        }
    }

    /// The futures' shared state for this loop (created on first use).
    pub(crate) fn task_shared(&mut self) -> Rc<Shared> {
        Rc::clone(&self.rt_state().shared)
    }

    /// Spawns `fut` as a task of this loop and returns a handle to its result.
    ///
    /// The task is first polled in the microtask drain that follows the current callback (or
    /// when `run` starts, if spawned before), then every time it is woken. A pending task does
    /// not keep the loop alive; what it waits on does (see [`Loop::pending_tasks`]). A task that
    /// panics resolves its handle to [`Error::Panicked`]; the loop and other tasks go on.
    ///
    /// ```
    /// use std::time::Duration;
    /// use evloop::{Loop, task};
    ///
    /// # fn main() -> Result<(), evloop::Error> {
    /// let mut lp = Loop::new()?;
    /// let answer = lp.spawn_local(async {
    ///     task::sleep(Duration::from_millis(1)).await?;
    ///     Ok::<_, evloop::Error>(42)
    /// });
    /// assert_eq!(lp.block_on(answer)???, 42);
    /// # Ok(())
    /// # }
    /// ```
    #[track_caller]
    pub fn spawn_local<F>(&mut self, fut: F) -> JoinHandle<F::Output>
    where
        F: Future + 'static,
        F::Output: 'static,
    {
        let site = std::panic::Location::caller();
        let shared = self.task_shared();
        let remote = shared.remote();
        let (run, waker, join) = new_task(shared, remote, site, fut);
        self.insert_task(run, waker, site);
        join
    }

    /// Puts a task in the table and queues its first poll.
    pub(crate) fn insert_task(&mut self, cell: LocalTask<dyn Run>, waker: Waker, site: Site) {
        if cell.is_aborted() {
            // Aborted before it entered the table: its future goes now (the `JoinHandle` may
            // keep the allocation, not the future).
            let _ = catch_unwind(AssertUnwindSafe(|| cell.drop_future()));
            return;
        }
        let state = self.rt_state();
        let gen_ = state.next_gen;
        state.next_gen = state.next_gen.wrapping_add(1);
        let entry = state.tasks.vacant_entry();
        let Ok(key) = u32::try_from(entry.key()) else {
            cell.fail(Error::InvalidState("too many tasks"));
            let _ = catch_unwind(AssertUnwindSafe(|| cell.drop_future()));
            return;
        };
        let r = TaskRef { key, gen_ };
        cell.set_task(r);
        entry.insert(Entry {
            gen_,
            live: Some(Live { cell, waker }),
            site,
            abort: false,
        });
        state.shared.micro.push(Micro::Poll(r));
    }

    /// Polls task `r` (from the microtask drain), as a callback of kind `Task` so slow polls
    /// are reported and the watchdog names the spawn site.
    ///
    /// A task that wakes itself during the poll while its poll would be the microtask queue's
    /// next entry (see `task::self_wake`) is polled again at once instead of through the queue:
    /// the same order, without the queue's push and pop, the drain's dispatch, the thread's
    /// loop-registry lookup and the table lookup. Such a chain of polls is one `Task` callback
    /// run (timed as one, like a long synchronous callback: the slow-callback hook and the
    /// watchdog name the task for the whole chain), while the counters still count every poll
    /// as one callback and one microtask, as the queue would have. A poll that deferred
    /// operations ends the chain: they run, then the task is polled again through the table.
    pub(crate) fn poll_task(&mut self, r: TaskRef) {
        let Some((mut live, site, shared)) = self.begin_task_poll(r) else {
            return;
        };
        // The task's identity for the fast path: its allocation's address, which its wakers
        // pass to `TaskWake::wake`.
        let scope = PollScope::enter(live.waker.data().addr(), shared.micro.len() == 0);
        // Which task is being polled, for futures that would rather be polled than woken.
        let _polled = PolledScope::enter(&shared, Polled::new(r, &live.waker));
        loop {
            let chain = Chain {
                shared: &shared,
                scope: &scope,
                state: Cell::new(0),
            };
            let out = self.call(Phase::Microtask, CallbackKind::Task, site, |lp| {
                shared.polling.set(true);
                let mut cx = Context::from_waker(&live.waker);
                // The loop is lent to the poll (`sys::loop_scope`): it is `current()`, and the
                // future does its I/O inline through it (for every poll of a chain).
                crate::sys::loop_scope::lend(lp, shared.loop_id, || {
                    catch_unwind(AssertUnwindSafe(|| live.cell.run(&mut cx, &chain)))
                })
            });
            let ready = match out {
                Ok(Poll::Ready(())) => true,
                Ok(Poll::Pending) => false,
                Err(panic) => {
                    live.cell.fail(Error::Panicked(panic_message(&*panic)));
                    true
                }
            };
            let chained = chain.state.get();
            if chained != 0 {
                let (polls, aborted) = (chained >> 1, chained & 1);
                let c = self.counters_mut();
                c.callbacks[Phase::Microtask as usize] += polls;
                c.microtasks += polls + aborted;
                if aborted != 0 && !ready {
                    // Aborted from its own poll, with a re-poll due: dropped as the queued
                    // poll would have dropped it.
                    shared.polling.set(false);
                    self.end_task_poll(r, live, false);
                    self.abort_task(r);
                    return;
                }
            }
            self.end_task_poll(r, live, ready);
            shared.polling.set(false);
            // (Without deferred operations, `Chain::again` has already taken any self-wake.)
            let deferred = shared.op_count.get() > 0;
            self.run_task_ops(&shared);
            if ready || !deferred || scope.take_woke().is_none() {
                return;
            }
            // Woken by itself at the front, and the operations it deferred have run (with
            // `&mut Loop`: they may have aborted it): the next poll goes through the table.
            self.counters_mut().microtasks += 1;
            let Some((next, _, _)) = self.begin_task_poll(r) else {
                return;
            };
            live = next;
        }
    }

    /// A readable edge for a stream whose reader is task `r` (waiting with its own waker), with
    /// no next-tick and no microtask queued: polls it now. The same order as waking it from a
    /// callback, whose drain would then poll it first and alone; counted as that drain would
    /// count it. A task gone, being polled or aborted is not polled (as a queued poll).
    pub(crate) fn poll_reader_task(&mut self, r: TaskRef) {
        if let Some(state) = self.rt().state.as_deref() {
            let edges = &state.shared.edges;
            edges.set(edges.get().wrapping_add(1));
        }
        let c = self.counters_mut();
        c.task_drains += 1;
        c.microtasks += 1;
        self.poll_task(r);
        self.drain_tasks();
    }

    /// Takes task `r` out of the table for a poll: `None` if it is gone, stale or being polled,
    /// or was aborted (then it is dropped here).
    #[inline]
    fn begin_task_poll(&mut self, r: TaskRef) -> Option<(Live, Site, Rc<Shared>)> {
        let state = self.rt_mut().state.as_deref_mut()?;
        let entry = state.tasks.get_mut(r.key as usize)?;
        if entry.gen_ != r.gen_ {
            return None;
        }
        // `None` while being polled: the wake is already recorded in its flag.
        let live = entry.live.as_ref()?;
        if !live.cell.start_poll() {
            // Aborted with a wake already queued: never polled again.
            self.abort_task(r);
            return None;
        }
        let live = entry.live.take()?;
        Some((live, entry.site, Rc::clone(&state.shared)))
    }

    /// After a poll: puts task `r` back in the table if it is still pending and not aborted,
    /// else removes it and drops its future (with deferred operations still collected: the
    /// caller runs them).
    #[inline(always)]
    fn end_task_poll(&mut self, r: TaskRef, live: Live, ready: bool) {
        let mut done = Some(live);
        if let Some(state) = self.rt_mut().state.as_deref_mut()
            && let Some(e) = state.tasks.get_mut(r.key as usize)
            && e.gen_ == r.gen_
        {
            if !ready && !e.abort {
                if let Some(live) = done.take() {
                    // (`live` is `None` here: no old value to drop.)
                    e.live.get_or_insert(live);
                }
            } else {
                state.tasks.remove(r.key as usize);
            }
        }
        if let Some(Live { cell, waker }) = done {
            drop(waker);
            // A future that panics while dropped must not take the loop down either.
            let _ = catch_unwind(AssertUnwindSafe(move || {
                cell.drop_future();
                drop(cell);
            }));
        }
    }

    /// Runs the operations the last poll (or drop) deferred, in order.
    #[inline]
    fn run_task_ops(&mut self, shared: &Shared) {
        if shared.op_count.get() > 0 {
            self.run_task_ops_slow(shared);
        }
    }

    fn run_task_ops_slow(&mut self, shared: &Shared) {
        while shared.op_count.get() > 0 {
            let next = {
                let mut ops = shared.ops.borrow_mut();
                let next = ops.pop_front();
                shared.op_count.set(ops.len());
                next
            };
            let Some((op, site)) = next else { return };
            self.call(Phase::Microtask, CallbackKind::Task, site, op);
        }
    }

    /// A wake from another thread arrived for task `r` (a post, in the poll phase): take its
    /// flag and queue a poll, unless a poll that started since took the flag (it saw what the
    /// waker did) or a poll is queued already.
    pub(crate) fn deliver_remote_wake(&mut self, r: TaskRef) {
        let Some(state) = self.rt_mut().state.as_deref_mut() else {
            return;
        };
        let Some(entry) = state.tasks.get(r.key as usize) else {
            return;
        };
        if entry.gen_ != r.gen_ {
            return;
        }
        // (`None` only during the task's poll, which no post runs inside.)
        let Some(live) = &entry.live else {
            return;
        };
        let w = live.cell.waker_state();
        if w.take_posted() && w.mark_local() {
            state.shared.micro.push(Micro::Poll(r));
        }
    }

    /// Drops task `r`'s future (from [`JoinHandle::abort`]): at once if it is not being
    /// polled, else when its poll returns.
    pub(crate) fn abort_task(&mut self, r: TaskRef) {
        let Some(state) = self.rt_mut().state.as_deref_mut() else {
            return;
        };
        let Some(entry) = state.tasks.get_mut(r.key as usize) else {
            return;
        };
        if entry.gen_ != r.gen_ {
            return;
        }
        if entry.live.is_none() {
            // Being polled (this can only be that task's own poll, its loop lent to it): no
            // re-poll at once either; dropped when the poll returns.
            entry.abort = true;
            crate::task::self_wake::cancel_woke();
            return;
        }
        let entry = state.tasks.remove(r.key as usize);
        let Some(Live { cell, waker }) = entry.live else {
            return;
        };
        drop(waker);
        let shared = Rc::clone(&state.shared);
        shared.polling.set(true);
        let _ = catch_unwind(AssertUnwindSafe(move || {
            cell.drop_future();
            drop(cell);
        }));
        shared.polling.set(false);
        self.run_task_ops(&shared);
    }

    /// Every spawned task that has not finished, with the `file:line` that spawned it: the
    /// answer to "which futures are still waiting?" when `run` returned with work undone.
    pub fn pending_tasks(&self) -> Vec<TaskInfo> {
        let Some(state) = self.rt().state.as_deref() else {
            return Vec::new();
        };
        state
            .tasks
            .iter()
            .map(|(_, e)| TaskInfo {
                site: e.site,
                woken: e
                    .live
                    .as_ref()
                    .is_some_and(|l| l.cell.waker_state().is_queued()),
            })
            .collect()
    }

    /// How many spawned tasks have not finished.
    pub fn task_count(&self) -> usize {
        self.rt().len()
    }
}

/// The message of a panic payload (`panic!` with a literal or a format string).
pub(crate) fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "non-string panic payload".to_owned()
    }
}
