//! The loop: one iteration in one function, each phase a call into the module that owns it.

pub(crate) mod builder;
pub(crate) mod clock;
mod close;
pub(crate) mod immediate;
mod poll;
pub(crate) mod sender;
pub(crate) mod tasks;
pub(crate) mod uncaught;

use std::collections::VecDeque;
use std::panic::{AssertUnwindSafe, Location, catch_unwind, resume_unwind};
use std::sync::Arc;
use std::time::Instant;

use mio::{Events, Poll, Token};

use crate::error::{Error, Result};
use crate::event_loop::builder::LoopBuilder;
pub(crate) use crate::event_loop::clock::Clock;
use crate::event_loop::immediate::{Immediate, ImmediateQueue};
use crate::event_loop::sender::{LoopSender, Message, Remote};
use crate::event_loop::tasks::{Task, TaskKind, TaskQueues};
use crate::fd_watcher::FdWatcherData;
use crate::handle::{HandleId, HandleInfo, HandleTable, Site};
use crate::loop_watcher::{WatcherData, WatcherLists};
use crate::metrics::{CallbackKind, Counters, Instruments, Phase};
use crate::net::udp::UdpData;
use crate::signal::SignalData;
use crate::timer::TimerData;
use crate::timer::queue::TimerQueue;

pub(crate) const WAKER_TOKEN: Token = Token(usize::MAX - 1);
#[cfg(target_os = "linux")]
pub(crate) const TIMERFD_TOKEN: Token = Token(usize::MAX - 2);

/// How [`Loop::run_mode`] runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RunMode {
    /// Run until no ref'd handle or request is left, or [`Loop::stop`] is called.
    Default,
    /// Run one iteration, blocking in poll if nothing is pending.
    Once,
    /// Run one iteration without blocking.
    NoWait,
}

/// A boxed one-shot callback run on the loop.
pub(crate) type LoopFn = Box<dyn FnOnce(&mut Loop)>;

/// What a caught panic carries, to resume it later.
pub(crate) type PanicPayload = Box<dyn std::any::Any + Send>;

/// What only a handle's kind knows.
pub(crate) enum HandleData {
    Timer(TimerData),
    Watcher(WatcherData),
    Udp(Box<UdpData>),
    Signal(Box<SignalData>),
    FdWatcher(FdWatcherData),
    Stream(Box<crate::net::StreamState>),
    Listener(Box<crate::net::ListenerState>),
}

/// Work deferred to the pending phase. The stream variants are typed so that a write
/// completion or a read continuation costs no boxed closure.
pub(crate) enum Pending {
    /// A deferred closure.
    Call {
        run: LoopFn,
        kind: CallbackKind,
        site: Site,
    },
    /// A stream request's completion, or its drain event.
    StreamDone {
        id: HandleId,
        done: crate::net::Done,
    },
    /// A stream's next batch of reads.
    StreamRead(HandleId),
}

/// The event loop. See the [crate docs](crate) for the phase order and the rules it keeps.
pub struct Loop {
    pub(crate) handles: HandleTable<HandleData>,
    pub(crate) timers: TimerQueue<HandleId>,
    pub(crate) watchers: WatcherLists,
    pub(crate) tasks: TaskQueues,
    pub(crate) immediates: ImmediateQueue,
    pub(crate) pending: VecDeque<Pending>,
    /// Handles whose close callback is due in the close phase, with that callback.
    pub(crate) closing: VecDeque<(HandleId, Option<LoopFn>)>,
    /// Completions of closing streams, taken off the pending queue in one pass for every
    /// closing stream at once (so a mass close is not quadratic), until each one's close
    /// phase runs them.
    pub(crate) closing_done: std::collections::HashMap<HandleId, Vec<crate::net::Done>>,
    /// In-flight requests (pool work, connects, writes...): they keep the loop alive.
    pub(crate) active_reqs: usize,
    /// Sources registered with `poll` other than the loop's own waker and timer fd.
    pub(crate) io_sources: usize,
    /// The read buffer all streams share.
    pub(crate) net: crate::net::NetShared,
    pub(crate) poll: Poll,
    pub(crate) events: Option<Events>,
    pub(crate) remote: Arc<Remote>,
    /// Messages taken from the remote inbox and not yet run (kept across a panic).
    pub(crate) inbox: VecDeque<Message>,
    pub(crate) clock: Clock,
    #[cfg(target_os = "linux")]
    pub(crate) deadline_timer: crate::sys::DeadlineTimer,
    pub(crate) requests: crate::pool::work::Requests,
    /// Open files: what `fs::File` ids name.
    pub(crate) files: crate::fs::FileTable,
    /// Pool size asked of the builder (`None`: `EVLOOP_THREADPOOL_SIZE` or 4).
    pub(crate) pool_size: Option<usize>,
    pub(crate) stop_flag: bool,
    pub(crate) running: bool,
    max_ticks_per_drain: usize,
    pub(crate) counters: Counters,
    /// Utilization clocks, histograms, lag monitor, slow-callback hook, watchdog.
    pub(crate) instruments: Instruments,
    /// The opt-in report-and-go-on policy for panicking callbacks.
    pub(crate) uncaught: uncaught::Uncaught,
}

impl Loop {
    /// A loop with default settings. Fails only if the OS refuses an epoll/kqueue instance or
    /// an eventfd.
    pub fn new() -> std::io::Result<Self> {
        LoopBuilder::new().build()
    }

    /// A builder for a loop with non-default settings.
    pub fn builder() -> LoopBuilder {
        LoopBuilder::new()
    }

    pub(crate) fn from_builder(b: &LoopBuilder) -> std::io::Result<Self> {
        let poll = Poll::new()?;
        let remote = Remote::new(poll.registry())?;
        #[cfg(target_os = "linux")]
        let deadline_timer = crate::sys::DeadlineTimer::new(poll.registry(), TIMERFD_TOKEN)?;
        let clock = Clock::new();
        Ok(Self {
            handles: HandleTable::new(),
            timers: TimerQueue::new(),
            watchers: WatcherLists::default(),
            tasks: TaskQueues::default(),
            immediates: ImmediateQueue::default(),
            pending: VecDeque::new(),
            closing: VecDeque::new(),
            closing_done: std::collections::HashMap::new(),
            active_reqs: 0,
            io_sources: 0,
            net: crate::net::NetShared::default(),
            poll,
            events: Some(Events::with_capacity(b.event_capacity)),
            remote,
            inbox: VecDeque::new(),
            clock,
            #[cfg(target_os = "linux")]
            deadline_timer,
            requests: crate::pool::work::Requests::default(),
            files: crate::fs::FileTable::default(),
            pool_size: b.threadpool_size,
            stop_flag: false,
            running: false,
            max_ticks_per_drain: b.max_ticks_per_drain,
            counters: Counters::default(),
            instruments: Instruments::new(),
            uncaught: uncaught::Uncaught::default(),
        })
    }

    /// Runs until nothing keeps the loop alive or [`Loop::stop`] is called.
    ///
    /// Errors: [`Error::Reentrant`] when called from one of this loop's callbacks; an OS error if
    /// polling fails. A panicking callback unwinds out of `run`; the loop stays consistent and
    /// `run` may be called again.
    pub fn run(&mut self) -> Result<()> {
        self.run_mode(RunMode::Default).map(|_| ())
    }

    /// Runs in the given mode; returns whether the loop is still alive (see [`Loop::alive`]).
    pub fn run_mode(&mut self, mode: RunMode) -> Result<bool> {
        if self.running {
            return Err(Error::Reentrant);
        }
        self.running = true;
        self.instruments.run_started();
        loop {
            let panic = match catch_unwind(AssertUnwindSafe(|| self.run_iterations(mode))) {
                Ok(result) => {
                    self.running = false;
                    return result;
                }
                Err(panic) => panic,
            };
            self.tasks.reset_drain();
            self.instruments.unwound();
            // Under `on_uncaught_panic`: reported, and the loop goes on.
            let reported = self.uncaught.report(panic.as_ref());
            if reported && mode == RunMode::Default {
                continue;
            }
            self.running = false;
            if reported {
                return Ok(self.alive());
            }
            resume_unwind(panic)
        }
    }

    /// The iteration of DESIGN.md, as libuv's `uv_run`.
    fn run_iterations(&mut self, mode: RunMode) -> Result<bool> {
        if self.stop_flag {
            self.stop_flag = false;
            return Ok(self.alive());
        }
        self.drain_tasks();
        let mut alive = self.alive();
        if !alive {
            self.update_time();
        }
        if mode == RunMode::Default && alive {
            self.update_time_for_timers();
            self.run_timers();
        }
        while alive && !self.stop_flag {
            let can_sleep = self.pending.is_empty() && !self.watchers.has_idle();
            self.run_pending();
            self.run_watchers(Phase::Idle);
            self.run_watchers(Phase::Prepare);
            let timeout = match mode {
                RunMode::Default => self.poll_timeout(),
                RunMode::Once if can_sleep => self.poll_timeout(),
                _ => Some(0),
            };
            self.counters.iterations += 1;
            self.poll_io(timeout)?;
            for _ in 0..8 {
                if self.pending.is_empty() {
                    break;
                }
                self.run_pending();
            }
            self.run_check();
            self.run_closing();
            self.update_time_for_timers();
            self.run_timers();
            alive = self.alive();
            if mode != RunMode::Default {
                break;
            }
        }
        self.stop_flag = false;
        Ok(alive)
    }

    /// Makes the running `run` return at the top of the next iteration (the current iteration's
    /// poll does not block; its check, close and timer phases still run). One-shot: it resets
    /// when `run` returns. Called before `run`, it makes that `run` return without running any
    /// callback.
    pub fn stop(&mut self) {
        self.stop_flag = true;
    }

    /// Whether anything keeps the loop alive: an active ref'd handle, an in-flight request,
    /// a pending or closing callback, a queued immediate or job, or a ref'd [`LoopSender`].
    pub fn alive(&self) -> bool {
        self.handles.active_refd() > 0
            || self.active_reqs > 0
            || !self.pending.is_empty()
            || !self.closing.is_empty()
            || self.immediates.live() > 0
            || !self.tasks.is_empty()
            || !self.inbox.is_empty()
            || self.remote.keeps_alive()
    }

    /// The cached time: when the current iteration last updated its clock (after poll returned,
    /// and before timers ran). Timers start from this time.
    pub fn now(&self) -> Instant {
        self.clock.instant(self.clock.now())
    }

    /// Refreshes the cached clock. Call it before starting a timer after a long blocking stretch
    /// inside a callback, or the timer will fire early by that long.
    pub fn update_time(&mut self) {
        self.clock.update();
    }

    /// The update point before the timer phase: reads the clock only if a timer could be due.
    fn update_time_for_timers(&mut self) {
        if self.timers.is_empty() {
            self.clock.invalidate();
        } else {
            self.clock.update();
        }
    }

    /// Every live handle (active or not, closing ones included) with its kind, ref state and the
    /// `file:line` that created it: the answer to "why does my loop not exit?".
    pub fn active_handles(&self) -> Vec<HandleInfo> {
        self.handles.infos()
    }

    /// A sender other threads use to post closures to this loop. It keeps the loop alive while
    /// it (or a clone) exists, like the sending side of a channel; see [`Loop::weak_sender`].
    pub fn sender(&self) -> LoopSender {
        LoopSender::new(Arc::clone(&self.remote), true)
    }

    /// A sender that does not keep the loop alive: its posts run while something else does.
    pub fn weak_sender(&self) -> LoopSender {
        LoopSender::new(Arc::clone(&self.remote), false)
    }

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
    /// iteration. Queued immediates keep the loop alive and make poll non-blocking.
    #[track_caller]
    pub fn set_immediate(&mut self, cb: impl FnOnce(&mut Self) + 'static) -> Immediate {
        self.immediates.push(Box::new(cb), Location::caller())
    }

    /// Cancels a queued immediate. Returns `false` if it already ran or was cleared (harmless).
    pub fn clear_immediate(&mut self, immediate: Immediate) -> bool {
        self.immediates.clear(immediate)
    }

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
    fn call<R>(
        &mut self,
        phase: Phase,
        kind: CallbackKind,
        site: Site,
        f: impl FnOnce(&mut Self) -> R,
    ) -> R {
        self.counters.callbacks[phase as usize] += 1;
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

    fn drain_tasks_slow(&mut self) {
        self.counters.task_drains += 1;
        let mut ticks = 0usize;
        while let Some((kind, task)) = self.tasks.next() {
            let cb_kind = match kind {
                TaskKind::NextTick => {
                    ticks += 1;
                    self.counters.next_ticks += 1;
                    CallbackKind::NextTick
                }
                TaskKind::Microtask => {
                    self.counters.microtasks += 1;
                    CallbackKind::Microtask
                }
            };
            self.call(Phase::Microtask, cb_kind, task.site, task.run);
            if ticks >= self.max_ticks_per_drain {
                // Starvation guard: leave the rest for the next drain point.
                self.tasks.reset_drain();
                break;
            }
        }
    }

    /// Defers `run` to the pending phase (never runs it inside the caller).
    pub(crate) fn defer(&mut self, kind: CallbackKind, site: Site, run: LoopFn) {
        self.pending.push_back(Pending::Call { run, kind, site });
    }

    fn run_pending(&mut self) {
        for _ in 0..self.pending.len() {
            let Some(p) = self.pending.pop_front() else {
                break;
            };
            match p {
                Pending::Call { run, kind, site } => self.invoke(Phase::Pending, kind, site, run),
                Pending::StreamDone { id, done } => self.stream_deliver(id, done),
                Pending::StreamRead(id) => self.stream_read_pending(id),
            }
        }
    }

    fn run_check(&mut self) {
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

impl Drop for Loop {
    fn drop(&mut self) {
        // Senders outliving the loop get their closures back instead of queueing into the void.
        self.remote.close();
    }
}

impl std::fmt::Debug for Loop {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Loop")
            .field("handles", &self.handles.live())
            .field("active_refd", &self.handles.active_refd())
            .field("active_reqs", &self.active_reqs)
            .field("timers", &self.timers.len())
            .field("immediates", &self.immediates.live())
            .field("pending", &self.pending.len())
            .field("tasks", &self.tasks.len())
            .finish_non_exhaustive()
    }
}
#[cfg(test)]
mod layout {
    use std::mem::size_of;

    /// Memory per idle connection is a benchmark target (BENCHMARKS.md): a handle slot and a
    /// boxed stream state are what each connection costs, so their growth must be deliberate.
    #[test]
    fn a_handle_slot_and_a_stream_stay_small() {
        assert!(size_of::<crate::handle::Entry<super::HandleData>>() <= 56);
        assert!(size_of::<super::HandleData>() <= 40);
        // mio adds a selector id to each source in debug builds.
        let socket_extra = if cfg!(debug_assertions) { 16 } else { 0 };
        assert!(size_of::<crate::net::StreamState>() <= 96 + socket_extra);
    }
}
