//! The loop: one iteration in one function, each phase a call into the module that owns it.
//!
//! `Loop`'s fields are private to this module. Other modules reach the parts they own through
//! the accessors at the bottom of this file, or through [`IoCx`], the part of the state an I/O
//! kind works on; liveness is counted only by [`RequestCount`], [`IoRegistry`] and the handle
//! table; handle kinds plug in through the registry in `kinds.rs`.

mod access;
pub(crate) mod builder;
pub(crate) mod clock;
mod close;
pub(crate) mod immediate;
mod invoke;
mod kinds;
mod liveness;
pub(crate) mod local;
mod phase;
mod poll;
pub(crate) mod sender;
pub(crate) mod state;
pub(crate) mod tasks;
pub(crate) mod uncaught;
mod walk;

use std::collections::VecDeque;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
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
use crate::event_loop::immediate::ImmediateQueue;
use crate::event_loop::local::{LocalQueue, LocalSender};
use crate::event_loop::sender::{LoopSender, Message, Remote};
use crate::event_loop::tasks::TaskQueues;
use crate::handle::{HandleId, HandleInfo, HandleTable, Site};
use crate::metrics::{Counters, Instruments};
use crate::timer::queue::TimerQueue;
use crate::watcher::loop_phase::WatcherLists;

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
    closing: close::CloseQueue,
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
    /// The last poll phase ran posts from other threads: yield the CPU once before the next
    /// blocking wait (`poll.rs`, `yield_before_sleep`).
    posts_ran: bool,
    /// Posts from [`LocalSender`]s, for the pending phase.
    local: Rc<LocalQueue>,
    clock: Clock,
    #[cfg(all(target_os = "linux", not(feature = "portable-fallbacks")))]
    deadline_timer: crate::sys::DeadlineTimer,
    /// Pool requests in flight and the pool they go to.
    requests: crate::pool::work::Requests,
    /// Open files: what `fs::File` ids name.
    files: crate::fs::FileTable,
    /// Pool size asked of the builder (`None`: `EVLOOP_THREADPOOL_SIZE` or 4).
    pool_size: Option<usize>,
    stop_flag: bool,
    running: bool,
    max_ticks_per_drain: usize,
    counters: Counters,
    /// Utilization clocks, histograms, lag monitor, slow-callback hook, watchdog.
    instruments: Instruments,
    /// The opt-in report-and-go-on policy for panicking callbacks.
    uncaught: uncaught::Uncaught,
    /// The application's state and per-handle data (`state.rs`).
    user: crate::event_loop::state::UserState,
    /// Children watched through `SIGCHLD`, and orphans to reap.
    #[cfg(target_os = "linux")]
    processes: crate::process::Reaper,
    /// Spawned futures (created on first use).
    rt: crate::task::Runtime,
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
            closing: close::CloseQueue::default(),
            reqs: RequestCount::default(),
            io,
            net: crate::net::NetShared::default(),
            events: Some(Events::with_capacity(b.event_capacity)),
            remote,
            inbox: VecDeque::new(),
            posts_ran: false,
            local: Rc::default(),
            clock,
            #[cfg(all(target_os = "linux", not(feature = "portable-fallbacks")))]
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
            user: crate::event_loop::state::UserState::default(),
            #[cfg(target_os = "linux")]
            processes: crate::process::Reaper::default(),
            rt: crate::task::Runtime::default(),
        })
    }

    /// Runs until nothing keeps the loop alive or [`Loop::stop`] is called.
    ///
    /// Errors: [`Error::Reentrant`] when called from one of this loop's callbacks; an OS error if
    /// polling fails. A panicking callback unwinds out of `run`; the loop stays consistent and
    /// `run` may be called again (or, under [`Loop::on_uncaught_panic`], the panic is reported
    /// and `run` goes on).
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
        // libuv checks the stop flag here too: a task drained above may have called `stop`.
        if mode == RunMode::Default && alive && !self.stop_flag {
            self.timer_phase();
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
                _ => poll::PollWait::Zero,
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
            self.timer_phase();
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
    /// a pending or closing callback, a queued ref'd immediate or a job, or a ref'd
    /// [`LoopSender`].
    pub fn alive(&self) -> bool {
        self.handles.active_refd() > 0
            || self.reqs.any()
            || !self.pending.is_empty()
            || !self.closing.is_empty()
            || self.immediates.refd() > 0
            || !self.tasks.is_empty()
            || !self.inbox.is_empty()
            || self.local.has_posts()
            || self.remote.keeps_alive()
    }
}

/// # Time
///
/// The loop's cached clock: what timers start from, refreshed (lazily) when poll returns and
/// when the timer phase begins and ends.
impl Loop {
    /// The cached time, which timers start from. The loop refreshes it when poll returns and
    /// when the timer phase begins and ends; the first reader after such a point (this call,
    /// starting a timer, the timer phase) takes the time, and every reader until the next
    /// point sees that same time (see *Clock* in the [crate docs](crate)).
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

    /// Refreshes the cached clock now. Call it before starting a timer after a long blocking
    /// stretch inside a callback, or the timer fires early by up to that long.
    pub fn update_time(&mut self) {
        self.clock.update();
    }

    /// The timer phase, between two refresh points of the cached clock: the clock is read at
    /// its start only if a timer could be due, and marked stale at its end, so the callbacks
    /// of the next phases start timers from a time taken after this phase, timers queued or
    /// not.
    #[inline]
    fn timer_phase(&mut self) {
        if self.timers.is_empty() {
            self.clock.invalidate();
            return;
        }
        self.timer_pass();
    }

    /// The timer phase with timers queued (out of line: an iteration without timers pays a
    /// test, not a call).
    #[inline(never)]
    fn timer_pass(&mut self) {
        self.clock.update();
        self.run_timers();
        self.clock.invalidate();
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

impl Drop for Loop {
    fn drop(&mut self) {
        // Senders outliving the loop get their closures back instead of queueing into the void.
        self.remote.close();
        self.local.close();
        // Futures first (their drops may queue cancellations), then what they queued.
        self.rt.shutdown();
        self.tasks.micro_queue().clear();
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
