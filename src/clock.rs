//! The loop's cached clock.

use std::time::{Duration, Instant};

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
    pub(crate) fn new() -> Self {
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
