//! The loop: one iteration in one function, each phase a call into the module that owns it.
//!
//! `Loop`'s fields are private to this module. Other modules reach the parts they own through
//! the accessors at the bottom of this file, or through [`IoCx`], the part of the state an I/O
//! kind works on; liveness is counted only by [`RequestCount`], [`IoRegistry`] and the handle
//! table; handle kinds plug in through the registry in `kinds.rs`.

pub(crate) mod builder;
pub(crate) mod clock;
mod close;
pub(crate) mod immediate;
mod kinds;
mod liveness;
pub(crate) mod local;
mod phase;
mod poll;
pub(crate) mod sender;
pub(crate) mod tasks;

use std::collections::VecDeque;
use std::panic::{AssertUnwindSafe, Location, catch_unwind, resume_unwind};
use std::rc::Rc;
use std::sync::Arc;
use std::time::Instant;

use mio::{Events, Poll, Token};

pub(crate) use self::clock::Clock;
pub use self::kinds::HandleKind;
pub(crate) use self::kinds::{HandleData, HandleEvent, HandleState, Never};
pub(crate) use self::liveness::{IoRegistry, RequestCount};
pub use self::phase::{CallbackKind, Phase};
use crate::error::{Error, Result};
use crate::event_loop::builder::LoopBuilder;
use crate::event_loop::immediate::{Immediate, ImmediateQueue};
use crate::event_loop::local::{LocalQueue, LocalSender};
use crate::event_loop::sender::{LoopSender, Message, Remote};
use crate::event_loop::tasks::{Task, TaskKind, TaskQueues};
use crate::handle::{HandleId, HandleInfo, HandleTable, Site};
use crate::loop_watcher::WatcherLists;
use crate::metrics::{Counters, Instruments};
use crate::timer::queue::TimerQueue;

pub(crate) const WAKER_TOKEN: Token = Token(usize::MAX - 1);
#[cfg(all(target_os = "linux", not(feature = "portable-fallbacks")))]
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

/// Work deferred to the pending phase: a closure, or a handle kind's typed entry (a stream's
/// write completion or read continuation costs no boxed closure).
pub(crate) enum Pending {
    /// A deferred closure.
    Call {
        run: LoopFn,
        kind: CallbackKind,
        site: Site,
    },
    /// A kind's typed entry for handle `id`.
    Handle { id: HandleId, event: HandleEvent },
}

/// The part of the loop's state an I/O handle kind works on while it holds a handle's data:
/// disjoint borrows, so a stream can queue a completion or re-register while it holds its slot.
pub(crate) struct IoCx<'a> {
    pub(crate) handles: &'a mut HandleTable<HandleData>,
    pub(crate) pending: &'a mut VecDeque<Pending>,
    pub(crate) io: &'a mut IoRegistry,
    pub(crate) reqs: &'a mut RequestCount,
    pub(crate) counters: &'a mut Counters,
    pub(crate) net: &'a mut crate::net::NetShared,
}

/// The event loop. See the [crate docs](crate) for the phase order and the rules it keeps.
pub struct Loop {
    handles: HandleTable<HandleData>,
    timers: TimerQueue<HandleId>,
    watchers: WatcherLists,
    tasks: TaskQueues,
    immediates: ImmediateQueue,
    pending: VecDeque<Pending>,
    /// Handles whose close callback is due in the close phase, with that callback.
    closing: VecDeque<(HandleId, Option<LoopFn>)>,
    /// In-flight requests (pool work, connects, writes...): they keep the loop alive.
    reqs: RequestCount,
    /// The poller and the handle sources registered with it.
    io: IoRegistry,
    /// What the stream and UDP kinds share: the read buffer, spare stream boxes...
    net: crate::net::NetShared,
    events: Option<Events>,
    remote: Arc<Remote>,
    /// Messages taken from the remote inbox and not yet run (kept across a panic).
    inbox: VecDeque<Message>,
    /// Posts from [`LocalSender`]s, for the pending phase.
    local: Rc<LocalQueue>,
    clock: Clock,
    #[cfg(all(target_os = "linux", not(feature = "portable-fallbacks")))]
    deadline_timer: crate::sys::DeadlineTimer,
    /// Pool requests in flight and the pool they go to.
    requests: crate::pool::work::Requests,
    /// Open files: what `fs::File` ids name.
    #[cfg(unix)]
    files: crate::fs::FileTable,
    /// Pool size asked of the builder (`None`: `EVLOOP_THREADPOOL_SIZE` or 4).
    pool_size: Option<usize>,
    stop_flag: bool,
    running: bool,
    max_ticks_per_drain: usize,
    counters: Counters,
    /// Utilization clocks, histograms, lag monitor, slow-callback hook, watchdog.
    instruments: Instruments,
}

/// # Creating and running the loop
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
        let io = IoRegistry::new(Poll::new()?);
        let remote = Remote::new(io.loop_registry())?;
        #[cfg(all(target_os = "linux", not(feature = "portable-fallbacks")))]
        let deadline_timer = crate::sys::DeadlineTimer::new(io.loop_registry(), TIMERFD_TOKEN)?;
        let clock = Clock::new();
        Ok(Self {
            handles: HandleTable::new(),
            timers: TimerQueue::new(),
            watchers: WatcherLists::default(),
            tasks: TaskQueues::default(),
            immediates: ImmediateQueue::default(),
            pending: VecDeque::new(),
            closing: VecDeque::new(),
            reqs: RequestCount::default(),
            io,
            net: crate::net::NetShared::default(),
            events: Some(Events::with_capacity(b.event_capacity)),
            remote,
            inbox: VecDeque::new(),
            local: Rc::default(),
            clock,
            #[cfg(all(target_os = "linux", not(feature = "portable-fallbacks")))]
            deadline_timer,
            requests: crate::pool::work::Requests::default(),
            #[cfg(unix)]
            files: crate::fs::FileTable::default(),
            pool_size: b.threadpool_size,
            stop_flag: false,
            running: false,
            max_ticks_per_drain: b.max_ticks_per_drain,
            counters: Counters::default(),
            instruments: Instruments::new(),
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
        let result = catch_unwind(AssertUnwindSafe(|| self.run_iterations(mode)));
        self.running = false;
        match result {
            Ok(r) => r,
            Err(panic) => {
                self.tasks.reset_drain();
                self.instruments.unwound();
                resume_unwind(panic)
            }
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
            let can_sleep =
                self.pending.is_empty() && !self.local.has_posts() && !self.watchers.has_idle();
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
                if self.pending.is_empty() && !self.local.has_posts() {
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
            || self.reqs.any()
            || !self.pending.is_empty()
            || !self.closing.is_empty()
            || self.immediates.live() > 0
            || !self.tasks.is_empty()
            || !self.inbox.is_empty()
            || self.local.has_posts()
            || self.remote.keeps_alive()
    }
}

/// # Time
///
/// The loop's cached clock: what timers start from, refreshed once per iteration.
impl Loop {
    /// The cached time: when the current iteration last updated its clock (after poll returned,
    /// and before timers ran). Timers start from this time.
    pub fn now(&self) -> Instant {
        self.clock.instant(self.clock.now())
    }

    /// The cached time as nanoseconds since the loop was created: the instant [`Loop::now`]
    /// returns, without the conversion to an `Instant`. The cheapest clock read there is, for
    /// code that asks on every callback whether the loop's time has moved.
    #[inline]
    pub fn now_ns(&self) -> u64 {
        self.clock.now()
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
}

/// # Handles
///
/// Per-handle operations live on the handle types (see [`Handle`](crate::Handle)); this
/// lists them all.
impl Loop {
    /// Every live handle (active or not, closing ones included) with its kind, ref state and the
    /// `file:line` that created it: the answer to "why does my loop not exit?".
    pub fn active_handles(&self) -> Vec<HandleInfo> {
        self.handles.infos()
    }
}

/// # Posts: from other threads, and from this one without `&mut Loop`
impl Loop {
    /// A sender other threads use to post closures to this loop. It keeps the loop alive while
    /// it (or a clone) exists, like the sending side of a channel; see [`Loop::weak_sender`].
    pub fn sender(&self) -> LoopSender {
        LoopSender::new(Arc::clone(&self.remote), true)
    }

    /// A sender that does not keep the loop alive: its posts run while something else does.
    pub fn weak_sender(&self) -> LoopSender {
        LoopSender::new(Arc::clone(&self.remote), false)
    }

    /// A sender for this thread: it schedules callbacks on the loop from code that holds no
    /// `&mut Loop` (a `Drop`, shared state), without `Send`. Its posts run in the pending phase.
    pub fn local_sender(&self) -> LocalSender {
        LocalSender::new(Rc::clone(&self.local))
    }
}

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
    /// iteration. Queued immediates keep the loop alive and make poll non-blocking.
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
    fn call<R>(
        &mut self,
        phase: Phase,
        kind: CallbackKind,
        site: Site,
        f: impl FnOnce(&mut Self) -> R,
    ) -> R {
        self.counters.callbacks[phase as usize] += 1;
        if self.instruments.timing {
            return self.call_timed(phase, kind, site, f);
        }
        f(self)
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

/// The loop's state as the modules that own each part reach it. Nothing here changes a
/// liveness count behind its owner's back: requests go through [`RequestCount`], sources
/// through [`IoRegistry`], handles through the [`HandleTable`]'s own methods.
impl Loop {
    #[inline]
    pub(crate) fn handles(&self) -> &HandleTable<HandleData> {
        &self.handles
    }

    #[inline]
    pub(crate) fn handles_mut(&mut self) -> &mut HandleTable<HandleData> {
        &mut self.handles
    }

    /// Which kind's data a live handle holds, for the registry's dispatch.
    #[inline]
    fn handle_tag(&self, id: HandleId) -> Option<kinds::Tag> {
        self.handles.get(id).ok().map(|e| e.data.tag())
    }

    /// The part of the state an I/O kind works on, as disjoint borrows.
    #[inline]
    pub(crate) fn io_cx(&mut self) -> IoCx<'_> {
        IoCx {
            handles: &mut self.handles,
            pending: &mut self.pending,
            io: &mut self.io,
            reqs: &mut self.reqs,
            counters: &mut self.counters,
            net: &mut self.net,
        }
    }

    #[inline]
    pub(crate) fn io_mut(&mut self) -> &mut IoRegistry {
        &mut self.io
    }

    #[cfg(test)]
    pub(crate) fn reqs(&self) -> &RequestCount {
        &self.reqs
    }

    #[inline]
    pub(crate) fn reqs_mut(&mut self) -> &mut RequestCount {
        &mut self.reqs
    }

    /// Queues a kind's typed entry for the pending phase.
    #[inline]
    pub(crate) fn push_pending(&mut self, id: HandleId, event: HandleEvent) {
        self.pending.push_back(Pending::Handle { id, event });
    }

    /// The handles waiting for the close phase, in close order.
    pub(crate) fn closing_ids(&self) -> impl Iterator<Item = HandleId> + '_ {
        self.closing.iter().map(|(id, _)| *id)
    }

    #[inline]
    pub(crate) fn timers(&self) -> &TimerQueue<HandleId> {
        &self.timers
    }

    #[inline]
    pub(crate) fn timers_mut(&mut self) -> &mut TimerQueue<HandleId> {
        &mut self.timers
    }

    #[inline]
    pub(crate) fn watchers_mut(&mut self) -> &mut WatcherLists {
        &mut self.watchers
    }

    #[inline]
    pub(crate) fn net_mut(&mut self) -> &mut crate::net::NetShared {
        &mut self.net
    }

    #[inline]
    pub(crate) fn clock(&self) -> &Clock {
        &self.clock
    }

    #[inline]
    pub(crate) fn remote(&self) -> &Arc<Remote> {
        &self.remote
    }

    #[inline]
    pub(crate) fn pool_requests(&self) -> &crate::pool::work::Requests {
        &self.requests
    }

    #[inline]
    pub(crate) fn pool_requests_mut(&mut self) -> &mut crate::pool::work::Requests {
        &mut self.requests
    }

    #[inline]
    pub(crate) fn pool_size(&self) -> Option<usize> {
        self.pool_size
    }

    #[cfg(unix)]
    #[inline]
    pub(crate) fn files(&self) -> &crate::fs::FileTable {
        &self.files
    }

    #[cfg(unix)]
    #[inline]
    pub(crate) fn files_mut(&mut self) -> &mut crate::fs::FileTable {
        &mut self.files
    }

    #[inline]
    pub(crate) fn counters(&self) -> &Counters {
        &self.counters
    }

    #[inline]
    pub(crate) fn counters_mut(&mut self) -> &mut Counters {
        &mut self.counters
    }

    #[inline]
    pub(crate) fn instruments(&self) -> &Instruments {
        &self.instruments
    }

    #[inline]
    pub(crate) fn instruments_mut(&mut self) -> &mut Instruments {
        &mut self.instruments
    }

    /// The instruments, with the clock they read.
    #[inline]
    pub(crate) fn instruments_with_clock(&mut self) -> (&mut Instruments, &Clock) {
        (&mut self.instruments, &self.clock)
    }
}

impl Drop for Loop {
    fn drop(&mut self) {
        // Senders outliving the loop get their closures back instead of queueing into the void.
        self.remote.close();
        self.local.close();
    }
}

impl std::fmt::Debug for Loop {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Loop")
            .field("handles", &self.handles.live())
            .field("active_refd", &self.handles.active_refd())
            .field("requests", &self.reqs.len())
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
