//! [`Instruments`]: the measuring state the loop carries besides its counters — utilization
//! clocks, lateness histograms, the lag monitor, slow-callback and watchdog settings.

use std::time::Instant;

use crate::event_loop::Clock;
use crate::handle::HandleId;
use crate::metrics::LatencyHistogram;
use crate::metrics::callbacks::CallbackTiming;
use crate::metrics::lag::LagState;
use crate::metrics::watchdog::Watchdog;

/// Owned by the loop; only the loop thread touches it (the watchdog shares a few atomics).
pub(crate) struct Instruments {
    /// Whether `call` times callbacks: a slow-callback hook, duration histograms or the
    /// watchdog is on. Checked once per callback; when false a callback costs one counter
    /// increment and this branch.
    pub(crate) timing: bool,
    /// When the loop first started running (Node's `loopStart`): utilization's time base.
    pub(crate) started: Option<Instant>,
    /// Nanoseconds spent blocked in the poll syscall.
    pub(crate) idle_ns: u64,
    /// Loop time (ns) the last blocking poll returned: up to then the loop was responsive.
    pub(crate) last_wake: u64,
    /// Loop time (ns) of the current and the previous timer pass.
    pub(crate) this_pass: u64,
    pub(crate) prev_pass: u64,
    /// Lateness of every user timer (the lag monitor's own timer excluded).
    pub(crate) timer_lateness: LatencyHistogram,
    pub(crate) lag: Option<LagState>,
    pub(crate) callbacks: CallbackTiming,
    pub(crate) watchdog: Option<Watchdog>,
}

impl Instruments {
    pub(crate) fn new() -> Self {
        Self {
            timing: false,
            started: None,
            idle_ns: 0,
            last_wake: 0,
            this_pass: 0,
            prev_pass: 0,
            timer_lateness: LatencyHistogram::new(),
            lag: None,
            callbacks: CallbackTiming::default(),
            watchdog: None,
        }
    }

    /// Recomputes [`Self::timing`] after a setting changed.
    pub(crate) fn update_timing(&mut self) {
        self.timing = self.callbacks.enabled() || self.watchdog.is_some();
    }

    /// `run` was entered: the first time starts utilization's clock.
    #[inline]
    pub(crate) fn run_started(&mut self) {
        if self.started.is_none() {
            self.started = Some(Instant::now());
        }
    }

    /// A poll that could block was entered at `before` and returned at `after` (loop ns): the
    /// time in between was idle.
    #[inline]
    pub(crate) fn slept(&mut self, before: u64, after: u64) {
        self.idle_ns += after.saturating_sub(before);
        self.last_wake = after;
    }

    /// A timer pass begins at loop time `now`.
    #[inline]
    pub(crate) fn timer_pass(&mut self, now: u64) {
        self.prev_pass = self.this_pass;
        self.this_pass = now;
    }

    /// Called for every timer about to fire, with the pass's cached clock (no clock read) and
    /// the timer's due time in loop ns.
    #[inline]
    pub(crate) fn record_timer_lateness(&mut self, clock: &Clock, due: u64, timer: HandleId) {
        if let Some(lag) = &mut self.lag
            && lag.is_sampler(timer)
        {
            lag.due = due;
            return;
        }
        self.timer_lateness
            .record_ns(clock.now().saturating_sub(due));
    }

    /// A panic unwound out of a callback: no callback is running any more.
    pub(crate) fn unwound(&mut self) {
        if let Some(w) = &mut self.watchdog {
            w.exit();
        }
    }
}
