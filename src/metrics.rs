//! Loop metrics: counters kept on every iteration.

use crate::event_loop::Clock;

/// A loop phase, for counters and callback reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Phase {
    /// Due timers.
    Timers = 0,
    /// Deferred callbacks (write completions, connect errors...).
    Pending = 1,
    /// Idle watchers.
    Idle = 2,
    /// Prepare watchers.
    Prepare = 3,
    /// I/O events, pool completions and cross-thread posts.
    Poll = 4,
    /// Immediates, then check watchers.
    Check = 5,
    /// Close callbacks.
    Close = 6,
    /// Next-ticks and microtasks, drained after every callback.
    Microtask = 7,
}

impl Phase {
    /// Every phase, in index order.
    pub const ALL: [Self; 8] = [
        Self::Timers,
        Self::Pending,
        Self::Idle,
        Self::Prepare,
        Self::Poll,
        Self::Check,
        Self::Close,
        Self::Microtask,
    ];

    /// A short lowercase name.
    pub fn name(self) -> &'static str {
        match self {
            Self::Timers => "timers",
            Self::Pending => "pending",
            Self::Idle => "idle",
            Self::Prepare => "prepare",
            Self::Poll => "poll",
            Self::Check => "check",
            Self::Close => "close",
            Self::Microtask => "microtask",
        }
    }
}

/// What kind of callback ran: the handle kind, or the queue it came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum CallbackKind {
    /// A timer callback.
    Timer,
    /// An idle watcher.
    Idle,
    /// A prepare watcher.
    Prepare,
    /// A check watcher.
    Check,
    /// An immediate.
    Immediate,
    /// A next-tick.
    NextTick,
    /// A microtask.
    Microtask,
    /// A closure posted from another thread.
    Post,
    /// A close callback.
    Close,
    /// A stream read callback.
    Read,
    /// A stream write callback.
    Write,
    /// A connect callback.
    Connect,
    /// A shutdown callback.
    Shutdown,
    /// A stream's drain callback.
    Drain,
    /// A listener's connection callback.
    Connection,
    /// A thread-pool completion (`queue_work`).
    Work,
}

impl CallbackKind {
    /// A short lowercase name.
    pub fn name(self) -> &'static str {
        match self {
            Self::Timer => "timer",
            Self::Idle => "idle",
            Self::Prepare => "prepare",
            Self::Check => "check",
            Self::Immediate => "immediate",
            Self::NextTick => "next-tick",
            Self::Microtask => "microtask",
            Self::Post => "post",
            Self::Close => "close",
            Self::Read => "read",
            Self::Write => "write",
            Self::Connect => "connect",
            Self::Shutdown => "shutdown",
            Self::Drain => "drain",
            Self::Connection => "connection",
            Self::Work => "work",
        }
    }
}

/// Always-on counters (plain integers on the loop thread).
#[derive(Clone, Debug, Default)]
pub(crate) struct Counters {
    pub(crate) iterations: u64,
    pub(crate) events: u64,
    pub(crate) callbacks: [u64; 8],
    pub(crate) timers_fired: u64,
    pub(crate) posts: u64,
    pub(crate) task_drains: u64,
    pub(crate) pool_submitted: u64,
    pub(crate) pool_completed: u64,
}

impl Counters {
    /// Hook for timer lateness (the lag work fills it in); `due` is in loop ns.
    #[inline]
    pub(crate) fn record_timer_lateness(&mut self, _clock: &Clock, _due: u64) {}
}
