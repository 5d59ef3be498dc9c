//! The loop: one iteration in one function, each phase a call into the module that owns it.

use std::collections::VecDeque;
use std::panic::{AssertUnwindSafe, Location, catch_unwind, resume_unwind};
use std::sync::Arc;
use std::time::{Duration, Instant};

use mio::{Events, Poll, Token};

use crate::builder::LoopBuilder;
use crate::error::{Error, Result};
use crate::handle::{HandleId, HandleInfo, HandleTable, Site};
use crate::immediate::{Immediate, ImmediateQueue};
use crate::metrics::{CallbackKind, Counters, Phase};
use crate::sender::{LoopSender, Message, Remote};
use crate::task_queue::{Task, TaskKind, TaskQueues};
use crate::timer::TimerData;
use crate::timer_queue::TimerQueue;
use crate::watcher::{WatcherData, WatcherLists};

pub(crate) const WAKER_TOKEN: Token = Token(usize::MAX - 1);
#[cfg(target_os = "linux")]
pub(crate) const TIMERFD_TOKEN: Token = Token(usize::MAX - 2);

/// The longest single poll wait, so a loop with a far-away timer still wakes every ~24 days
/// and recomputes (as libuv clamps to `INT_MAX` ms).
const MAX_POLL_WAIT: Duration = Duration::from_millis(i32::MAX as u64);

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

/// What only a handle's kind knows.
pub(crate) enum HandleData {
    Timer(TimerData),
    Watcher(WatcherData),
    Stream(Box<crate::net::StreamState>),
    Listener(Box<crate::net::ListenerState>),
}

/// A callback deferred to the pending phase.
pub(crate) struct Pending {
    pub(crate) run: LoopFn,
    pub(crate) kind: CallbackKind,
    pub(crate) site: Site,
}

/// The event loop. See the [crate docs](crate) for the phase order and the rules it keeps.
pub struct Loop {
    pub(crate) handles: HandleTable<HandleData>,
    pub(crate) timers: TimerQueue<HandleId>,
    pub(crate) watchers: WatcherLists,
    pub(crate) tasks: TaskQueues,
    pub(crate) immediates: ImmediateQueue,
    pub(crate) pending: VecDeque<Pending>,
    pub(crate) closing: VecDeque<HandleId>,
    /// In-flight requests (pool work, connects, writes...): they keep the loop alive.
    pub(crate) active_reqs: usize,
    /// Sources registered with `poll` other than the loop's own waker and timer fd.
    pub(crate) io_sources: usize,
    /// The read buffer all streams share.
    pub(crate) net: crate::net::NetShared,
    pub(crate) poll: Poll,
    events: Option<Events>,
    pub(crate) remote: Arc<Remote>,
    /// Messages taken from the remote inbox and not yet run (kept across a panic).
    inbox: VecDeque<Message>,
    pub(crate) clock: Clock,
    #[cfg(target_os = "linux")]
    deadline_timer: crate::sys::DeadlineTimer,
    pub(crate) requests: crate::work::Requests,
    /// Pool size asked of the builder (`None`: `EVLOOP_THREADPOOL_SIZE` or 4).
    pub(crate) pool_size: Option<usize>,
    stop_flag: bool,
    running: bool,
    max_ticks_per_drain: usize,
    pub(crate) counters: Counters,
}

/// The loop's cached clock: nanoseconds since the loop was created.
///
/// Updating it costs a `clock_gettime` (tens of ns on a VM), which would be most of an idle
/// iteration. So an update point with no timer to run only marks the cache stale, and the first
/// reader refreshes it: every reader between two update points still sees one value (timers
/// started in one callback still tie), taken no earlier than the update point.
pub(crate) struct Clock {
    pub(crate) epoch: Instant,
    now: std::cell::Cell<u64>,
    stale: std::cell::Cell<bool>,
}

impl Clock {
    fn new() -> Self {
        let clock = Self {
            epoch: Instant::now(),
            now: std::cell::Cell::new(0),
            stale: std::cell::Cell::new(true),
        };
        clock.now();
        clock
    }

    /// Reads the clock now.
    pub(crate) fn update(&self) {
        self.now.set(self.ns_since_epoch(Instant::now()));
        self.stale.set(false);
    }

    /// Marks the cache stale: the next reader refreshes it.
    pub(crate) fn invalidate(&self) {
        self.stale.set(true);
    }

    /// The cached time in ns since the epoch.
    #[inline]
    pub(crate) fn now(&self) -> u64 {
        if self.stale.get() {
            self.update();
        }
        self.now.get()
    }

    pub(crate) fn ns_since_epoch(&self, t: Instant) -> u64 {
        u64::try_from(t.saturating_duration_since(self.epoch).as_nanos()).unwrap_or(u64::MAX)
    }

    pub(crate) fn instant(&self, ns: u64) -> Instant {
        self.epoch
            .checked_add(Duration::from_nanos(ns))
            .unwrap_or(self.epoch)
    }
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
            requests: crate::work::Requests::default(),
            pool_size: b.threadpool_size,
            stop_flag: false,
            running: false,
            max_ticks_per_drain: b.max_ticks_per_drain,
            counters: Counters::default(),
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
        let result = catch_unwind(AssertUnwindSafe(|| self.run_iterations(mode)));
        self.running = false;
        match result {
            Ok(r) => r,
            Err(panic) => {
                self.tasks.reset_drain();
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
        let _ = (kind, site);
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
                    CallbackKind::NextTick
                }
                TaskKind::Microtask => CallbackKind::Microtask,
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
        self.pending.push_back(Pending { run, kind, site });
    }

    fn run_pending(&mut self) {
        for _ in 0..self.pending.len() {
            let Some(p) = self.pending.pop_front() else {
                break;
            };
            self.invoke(Phase::Pending, p.kind, p.site, p.run);
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

    /// The poll timeout in ns: `Some(0)` when something is ready to run, the time to the next
    /// timer, or `None` (block) when only I/O can make progress.
    fn poll_timeout(&self) -> Option<u64> {
        let blocked = !self.stop_flag
            && (self.handles.active_refd() > 0
                || self.active_reqs > 0
                || self.remote.keeps_alive())
            && self.pending.is_empty()
            && !self.watchers.has_idle()
            && self.immediates.live() == 0
            && self.closing.is_empty()
            && self.tasks.is_empty()
            && self.inbox.is_empty();
        if !blocked {
            return Some(0);
        }
        self.timers
            .next_due()
            .map(|due| due.saturating_sub(self.clock.now()))
    }

    /// The poll phase: wait for I/O (or the timeout), then dispatch events, pool completions
    /// and cross-thread posts.
    fn poll_io(&mut self, timeout_ns: Option<u64>) -> Result<()> {
        if timeout_ns == Some(0) && self.io_sources == 0 {
            // Nothing but our own waker is registered: skip the syscall and look at the inbox
            // flag directly (libuv likewise skips epoll_wait with no fds).
            if self.remote.take_notified() || !self.inbox.is_empty() {
                self.run_inbox();
            }
            return Ok(());
        }
        let timeout = timeout_ns.map(|ns| Duration::from_nanos(ns).min(MAX_POLL_WAIT));
        #[cfg(target_os = "linux")]
        let timeout = {
            // epoll_wait rounds up to whole milliseconds; a timerfd armed at the exact deadline
            // wakes us on time, so timers (and the lag monitor) are precise to microseconds.
            match timeout {
                Some(t) if !t.is_zero() => {
                    let deadline = self.clock.now().saturating_add(t.as_nanos() as u64);
                    self.deadline_timer
                        .arm(self.clock.instant(deadline))
                        .map_err(Error::Io)?;
                    Some(t + Duration::from_millis(1))
                }
                other => other,
            }
        };
        let mut events = self
            .events
            .take()
            .unwrap_or_else(|| Events::with_capacity(1024));
        let polled = self.poll.poll(&mut events, timeout);
        self.update_time();
        if let Err(e) = polled
            && e.kind() != std::io::ErrorKind::Interrupted
        {
            self.events = Some(events);
            return Err(Error::Io(e));
        }
        self.counters.events += events.iter().count() as u64;
        let mut inbox = false;
        for event in events.iter() {
            match event.token() {
                WAKER_TOKEN => inbox = true,
                #[cfg(target_os = "linux")]
                TIMERFD_TOKEN => self.deadline_timer.clear(),
                token => self.dispatch_io(HandleId::from_token(token.0), event),
            }
        }
        self.events = Some(events);
        if self.remote.take_notified() || inbox || !self.inbox.is_empty() {
            self.run_inbox();
        }
        Ok(())
    }

    fn dispatch_io(&mut self, id: HandleId, event: &mio::event::Event) {
        // Events for closing or closed handles are dropped: their slots are not reused before
        // the close phase, and the generation in the token catches the rest.
        let Ok(entry) = self.handles.get(id) else {
            return;
        };
        if entry.closing {
            return;
        }
        match entry.data {
            HandleData::Stream(_) => self.stream_event(id, event),
            HandleData::Listener(_) => self.listener_event(id),
            HandleData::Timer(_) | HandleData::Watcher(_) => {}
        }
    }

    /// Runs the posts (and pool completions) that were in the inbox when the poll phase looked,
    /// in send order. Later ones wake the loop again.
    fn run_inbox(&mut self) {
        if self.inbox.is_empty() {
            self.remote.take_batch(&mut self.inbox);
        }
        while let Some(message) = self.inbox.pop_front() {
            match message {
                Message::Post { run, site } => {
                    self.counters.posts += 1;
                    self.invoke(Phase::Poll, CallbackKind::Post, site, run);
                }
                Message::Completion {
                    key,
                    serial,
                    outcome,
                } => self.complete_request(key, serial, outcome),
            }
        }
    }

    /// Starts closing `id`: stops it now, runs `on_close` in the close phase.
    pub(crate) fn close_handle(
        &mut self,
        id: HandleId,
        on_close: Option<LoopFn>,
        _site: Site,
    ) -> Result<()> {
        let entry = self.handles.open_mut(id)?;
        entry.closing = true;
        entry.on_close = on_close;
        let kind = entry.kind;
        self.stop_handle(id, kind);
        self.handles.set_active(id, false);
        self.closing.push_back(id);
        Ok(())
    }

    /// Kind-specific part of closing: take it out of every queue and the poller.
    fn stop_handle(&mut self, id: HandleId, kind: crate::handle::HandleKind) {
        use crate::handle::HandleKind as K;
        match kind {
            K::Timer => self.timer_disarm(id),
            K::Idle | K::Prepare | K::Check => self.watchers.remove(kind, id),
            K::TcpStream | K::UnixStream => self.stream_stop(id),
            K::TcpListener | K::UnixListener => self.listener_stop(id),
        }
    }

    /// The close phase: handles closed before it began get their close callbacks, in close order.
    fn run_closing(&mut self) {
        for _ in 0..self.closing.len() {
            let Some(id) = self.closing.pop_front() else {
                break;
            };
            // Requests still pending on the handle complete (canceled) before its close
            // callback, while the handle still reads as closing.
            if let Ok(entry) = self.handles.get(id)
                && let HandleData::Stream(_) = entry.data
            {
                self.stream_cancel_requests(id);
            }
            let Some(entry) = self.handles.remove(id) else {
                continue;
            };
            if let Some(cb) = entry.on_close {
                self.invoke(Phase::Close, CallbackKind::Close, entry.site, cb);
            }
        }
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
