//! The loop's cached clock.

use std::time::{Duration, Instant};

/// The loop's cached clock: nanoseconds since the loop was created.
///
/// Updating it costs a `clock_gettime` (tens of ns on a VM), which would be most of an idle
/// iteration. So a refresh point of the loop (poll returned, the timer phase begins or ends)
/// only marks the cache stale, and the first reader refreshes it: every reader between two
/// refresh points sees one value (timers started in one callback tie), taken no earlier than
/// the refresh point. The rule is the same on every path; only `update` reads at once.
pub(crate) struct Clock {
    pub(crate) epoch: Instant,
    /// `epoch` as a raw `CLOCK_MONOTONIC` reading (read right after it, so the two agree to
    /// within the cost of one read).
    #[cfg(all(target_os = "linux", not(feature = "portable-fallbacks")))]
    epoch_raw: u64,
    now: std::cell::Cell<u64>,
    stale: std::cell::Cell<bool>,
}

impl Clock {
    pub(crate) fn new() -> Self {
        let clock = Self {
            epoch: Instant::now(),
            #[cfg(all(target_os = "linux", not(feature = "portable-fallbacks")))]
            epoch_raw: crate::sys::monotonic_ns(),
            now: std::cell::Cell::new(0),
            stale: std::cell::Cell::new(true),
        };
        clock.now();
        clock
    }

    /// Reads the clock now, without touching the cache: ns since the epoch.
    #[inline]
    pub(crate) fn read(&self) -> u64 {
        #[cfg(all(target_os = "linux", not(feature = "portable-fallbacks")))]
        {
            crate::sys::monotonic_ns().saturating_sub(self.epoch_raw)
        }
        #[cfg(not(all(target_os = "linux", not(feature = "portable-fallbacks"))))]
        {
            self.ns_since_epoch(Instant::now())
        }
    }

    /// Loop time `ns` as a raw `CLOCK_MONOTONIC` reading (for an absolute timerfd deadline).
    #[cfg(all(target_os = "linux", not(feature = "portable-fallbacks")))]
    pub(crate) fn raw(&self, ns: u64) -> u64 {
        self.epoch_raw.saturating_add(ns)
    }

    /// Reads the clock now.
    pub(crate) fn update(&self) {
        self.now.set(self.read());
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
