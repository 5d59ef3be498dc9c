//! The loop's phases and the kinds of callback it runs: what counters, slow-callback reports
//! and lag attribution are keyed by.

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
    /// How many phases there are (the length of per-phase arrays).
    pub const COUNT: usize = 8;

    /// Every phase, in index order.
    pub const ALL: [Self; Self::COUNT] = [
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

impl std::fmt::Display for Phase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// What kind of callback ran: the handle kind, or the queue it came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
#[repr(u8)]
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
    /// A thread-pool completion (`queue_work`, files, DNS).
    Work,
    /// A UDP send completion (or cancellation).
    UdpSend,
    /// A received UDP datagram (or receive error).
    UdpRecv,
    /// A signal delivery.
    Signal,
    /// A raw fd watcher's readiness callback.
    Watcher,
    /// A file-operation completion (`evloop::fs`).
    Fs,
    /// A DNS lookup completion (`evloop::dns`).
    Dns,
    /// A stream read callback (data, EOF or error).
    Read,
    /// A stream write completion (or cancellation).
    Write,
    /// A connect completion.
    Connect,
    /// A shutdown completion.
    Shutdown,
    /// A stream's drain callback.
    Drain,
    /// A listener's connection callback.
    Connection,
    /// An async handle's wake-up callback.
    Async,
    /// A child process's exit callback.
    Exit,
    /// A file-system event (or stat-poll change).
    FsEvent,
    /// A poll of a spawned future ([`Loop::spawn_local`](crate::Loop::spawn_local)).
    Task,
}

impl CallbackKind {
    /// Every kind, in declaration order (so `ALL[k as usize] == k`).
    pub const ALL: &'static [Self] = &[
        Self::Timer,
        Self::Idle,
        Self::Prepare,
        Self::Check,
        Self::Immediate,
        Self::NextTick,
        Self::Microtask,
        Self::Post,
        Self::Close,
        Self::Work,
        Self::UdpSend,
        Self::UdpRecv,
        Self::Signal,
        Self::Watcher,
        Self::Fs,
        Self::Dns,
        Self::Read,
        Self::Write,
        Self::Connect,
        Self::Shutdown,
        Self::Drain,
        Self::Connection,
        Self::Async,
        Self::Exit,
        Self::FsEvent,
        Self::Task,
    ];

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
            Self::Work => "work",
            Self::UdpSend => "udp-send",
            Self::UdpRecv => "udp-recv",
            Self::Signal => "signal",
            Self::Watcher => "watcher",
            Self::Fs => "fs",
            Self::Dns => "dns",
            Self::Read => "read",
            Self::Write => "write",
            Self::Connect => "connect",
            Self::Shutdown => "shutdown",
            Self::Drain => "drain",
            Self::Connection => "connection",
            Self::Async => "async",
            Self::Exit => "exit",
            Self::FsEvent => "fs-event",
            Self::Task => "task",
        }
    }

    /// A small number for the watchdog's atomics; [`Self::from_index`] inverts it.
    pub(crate) fn index(self) -> u8 {
        self as u8
    }

    pub(crate) fn from_index(i: u8) -> Option<Self> {
        Self::ALL.get(usize::from(i)).copied()
    }
}

impl std::fmt::Display for CallbackKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn callback_kind_indexes_round_trip() {
        for (i, kind) in super::CallbackKind::ALL.iter().enumerate() {
            assert_eq!(
                usize::from(kind.index()),
                i,
                "ALL is out of declaration order at {kind:?}"
            );
            assert_eq!(super::CallbackKind::from_index(kind.index()), Some(*kind));
        }
    }

    use super::*;

    #[test]
    fn callback_kind_index_round_trips() {
        for i in 0..=u8::MAX {
            if let Some(kind) = CallbackKind::from_index(i) {
                assert_eq!(kind.index(), i);
            }
        }
        assert_eq!(
            CallbackKind::from_index(CallbackKind::Close.index()),
            Some(CallbackKind::Close)
        );
    }

    #[test]
    fn phase_all_is_in_index_order() {
        for (i, p) in Phase::ALL.iter().enumerate() {
            assert_eq!(*p as usize, i);
        }
    }
}
