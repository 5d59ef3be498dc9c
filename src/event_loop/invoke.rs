//! The queues Node programs know (next-ticks, microtasks, immediates) and how every callback
//! runs: counted per phase (timed when a hook wants it), followed by the microtask drain; the
//! pending phase and the check phase.

use std::panic::{AssertUnwindSafe, Location, catch_unwind, resume_unwind};

use crate::event_loop::immediate::Immediate;
use crate::event_loop::tasks::{Micro, Next, Task, TaskKind};
use crate::event_loop::{CallbackKind, Loop, LoopFn, Pending, Phase};
use crate::handle::Site;

/// # Queues: next-ticks, microtasks and immediates
///
/// Node's `process.nextTick`, `queueMicrotask` and `setImmediate`, with Node's order (see the
/// phase spec in the [crate docs](crate)).
impl Loop {
    /// Queues `cb` on the next-tick queue: it runs right after the current callback, before any
    /// microtask (Node's `process.nextTick`).
    #[track_caller]
    pub fn next_tick(&mut self, cb: impl FnOnce(&mut Self) + 'static) {
        let site = Location::caller();
        self.tasks.push(
            TaskKind::NextTick,
            Task {
                run: Box::new(cb),
                site,
            },
        );
    }

    /// Queues `cb` on the microtask queue: it runs after the current callback and the next-ticks
    /// (Node's `queueMicrotask`).
    #[track_caller]
    pub fn queue_microtask(&mut self, cb: impl FnOnce(&mut Self) + 'static) {
        let site = Location::caller();
        self.tasks.push(
            TaskKind::Microtask,
            Task {
                run: Box::new(cb),
                site,
            },
        );
    }

    /// Queues `cb` for the check phase. An immediate queued from an immediate runs in the next
    /// iteration. Queued immediates keep the loop alive and make poll non-blocking, unless
    /// [unref'd](Immediate::unref).
    #[track_caller]
    pub fn set_immediate(&mut self, cb: impl FnOnce(&mut Self) + 'static) -> Immediate {
        self.immediates.push(Box::new(cb), Location::caller())
    }

    /// Cancels a queued immediate. Returns `false` if it already ran or was cleared (harmless).
    pub fn clear_immediate(&mut self, immediate: Immediate) -> bool {
        self.immediates.clear(immediate)
    }
}

/// Running callbacks: counting, timing, the microtask drain after each, the pending phase.
impl Loop {
    /// Runs `f` as a callback of `phase`: counts it, then drains the task queues.
    #[inline]
    pub(crate) fn invoke<R>(
        &mut self,
        phase: Phase,
        kind: CallbackKind,
        site: Site,
        f: impl FnOnce(&mut Self) -> R,
    ) -> R {
        let r = self.call(phase, kind, site, f);
        self.drain_tasks();
        r
    }

    /// Runs `f` as a callback without the task drain (used for the tasks themselves).
    #[inline]
    pub(crate) fn call<R>(
        &mut self,
        phase: Phase,
        kind: CallbackKind,
        site: Site,
        f: impl FnOnce(&mut Self) -> R,
    ) -> R {
        self.counters.callbacks[phase as usize] += 1;
        // The innermost callback running, for `on_uncaught_panic` reports (left in place by a
        // panic, so it names the callback that panicked).
        let outer = self.uncaught.site.replace(site);
        let r = if self.instruments.timing {
            self.call_timed(phase, kind, site, f)
        } else {
            f(self)
        };
        self.uncaught.site = outer;
        r
    }

    /// Runs `f` (which calls a user callback taken out of its slot) and then `restore` (which
    /// puts it back), even if the callback panics; the panic then continues.
    pub(crate) fn invoke_restoring<C>(
        &mut self,
        phase: Phase,
        kind: CallbackKind,
        site: Site,
        mut cb: C,
        f: impl FnOnce(&mut Self, &mut C),
        restore: impl FnOnce(&mut Self, C),
    ) {
        let outcome = catch_unwind(AssertUnwindSafe(|| {
            self.invoke(phase, kind, site, |lp| f(lp, &mut cb))
        }));
        restore(self, cb);
        if let Err(panic) = outcome {
            resume_unwind(panic);
        }
    }

    /// Drains next-ticks then microtasks until both are empty (or the builder's cap is hit).
    #[inline]
    pub(crate) fn drain_tasks(&mut self) {
        if !self.tasks.is_empty() {
            self.drain_tasks_slow();
        }
    }

    /// Whether no next-tick and no microtask is queued.
    #[inline]
    pub(crate) fn tasks_idle(&self) -> bool {
        self.tasks.is_empty()
    }

    fn drain_tasks_slow(&mut self) {
        self.counters.task_drains += 1;
        let mut ticks = 0usize;
        while let Some(next) = self.tasks.next() {
            let (cb_kind, task) = match next {
                Next::Tick(task) => {
                    ticks += 1;
                    self.counters.next_ticks += 1;
                    (CallbackKind::NextTick, task)
                }
                Next::Micro(task) => {
                    self.counters.microtasks += 1;
                    (CallbackKind::Microtask, task)
                }
                Next::Poll(r) => {
                    self.counters.microtasks += 1;
                    self.poll_task(r);
                    continue;
                }
            };
            self.call(Phase::Microtask, cb_kind, task.site, task.run);
            if ticks >= self.max_ticks_per_drain {
                // Starvation guard: the remaining next-ticks wait for the next drain point, but
                // the cap bounds ticks only: microtasks (and task polls) still drain.
                while let Some(m) = self.tasks.next_microtask() {
                    self.counters.microtasks += 1;
                    match m {
                        Micro::Call(task) => self.call(
                            Phase::Microtask,
                            CallbackKind::Microtask,
                            task.site,
                            task.run,
                        ),
                        Micro::Poll(r) => self.poll_task(r),
                    }
                }
                self.tasks.reset_drain();
                break;
            }
        }
    }

    /// Defers `run` to the pending phase (never runs it inside the caller).
    pub(crate) fn defer(&mut self, kind: CallbackKind, site: Site, run: LoopFn) {
        self.pending.push_back(Pending::Call { run, kind, site });
    }

    /// The pending phase. Inline for its test only: with nothing pending (most iterations of a
    /// busy server) it costs two loads, not a call.
    #[inline]
    pub(super) fn run_pending(&mut self) {
        if !self.pending.is_empty() || self.local.has_posts() {
            self.run_pending_queue();
        }
    }

    #[inline(never)]
    fn run_pending_queue(&mut self) {
        if self.local.has_posts() {
            for (run, site) in self.local.take() {
                self.pending.push_back(Pending::Call {
                    run,
                    kind: CallbackKind::Post,
                    site,
                });
            }
        }
        for _ in 0..self.pending.len() {
            let Some(p) = self.pending.pop_front() else {
                break;
            };
            match p {
                Pending::Call { run, kind, site } => self.invoke(Phase::Pending, kind, site, run),
                Pending::Handle { id, event } => self.kind_pending(id, event),
            }
        }
    }

    pub(super) fn run_check(&mut self) {
        for _ in 0..self.immediates.queued() {
            let Some(q) = self.immediates.pop() else {
                break;
            };
            if let Some(run) = q.run {
                self.invoke(Phase::Check, CallbackKind::Immediate, q.site, run);
            }
        }
        self.run_watchers(Phase::Check);
    }
}
