//! The lag monitor: a sampling timer whose lateness goes into an HDR histogram.

use std::panic::Location;
use std::time::{Duration, Instant};

use crate::error::{Error, Result};
use crate::event_loop::Loop;
use crate::handle::{Handle, HandleId};
use crate::metrics::LatencyHistogram;
use crate::timer::Timer;

/// The shortest resolution [`Loop::monitor_lag`] accepts (Node's minimum too).
pub(crate) const MIN_RESOLUTION: Duration = Duration::from_millis(1);

/// Samples event-loop lag: how late a timer runs, at a chosen resolution.
///
/// Started by [`Loop::monitor_lag`]. It is a repeating timer that is *unref'd*, so it never keeps
/// the loop alive, and listed by [`Loop::active_handles`] with the `file:line` that started it.
/// Each sample records the sampler's **lateness** — when its callback actually started minus
/// when it was due — never the interval. An idle loop therefore reads its real wake-up latency
/// (tens of microseconds on Linux, where timers are backed by a `timerfd`), not ~the resolution
/// as Node's `monitorEventLoopDelay` does.
///
/// A sample that fell due while the loop was already busy running callbacks is measured from the
/// start of that busy stretch (the last time the loop woke from poll or ran its timers), which is
/// when a timer due at the worst moment would have been due: so a callback that blocks the loop
/// for 50 ms reads as 50 ms at any resolution, instead of 50 ms minus wherever the sampling grid
/// happened to fall. The resolution decides how often the loop is sampled (how short a stall can
/// be and still be seen), not how exact a sample is. Time the loop is not being run at all
/// (between two `run` calls) counts as lag too: no timer can fire then.
///
/// The monitor keeps two histograms: one since it started (or was [`reset`](Self::reset)), read
/// with [`snapshot`](Self::snapshot), and a window read and restarted by [`take`](Self::take).
/// [`crate::metrics::Metrics::lag`] carries the first.
///
/// ```
/// use std::time::Duration;
/// use evloop::Loop;
///
/// # fn main() -> Result<(), evloop::Error> {
/// let mut lp = Loop::new()?;
/// let monitor = lp.monitor_lag(Duration::from_millis(1));
/// // A callback that blocks the loop for 20 ms.
/// lp.set_timeout(Duration::from_millis(5), |_, _| std::thread::sleep(Duration::from_millis(20)));
/// lp.set_timeout(Duration::from_millis(40), |_, _| {}); // keeps the loop running a little longer
/// lp.run()?;
/// let lag = monitor.take(&mut lp)?;
/// assert!(lag.max() >= Duration::from_millis(20));
/// println!("lag: {lag}"); // n=37 min 21µs p50 48µs p90 61µs p99 20.1ms max 20.1ms
/// monitor.stop(&mut lp)?;
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LagMonitor {
    timer: Timer,
}

/// The monitor's state on the loop. Only one monitor runs per loop; starting another replaces it.
pub(crate) struct LagState {
    timer: HandleId,
    running: bool,
    resolution: Duration,
    /// Due time (loop ns) of the sample about to run, set by the timer-lateness hook.
    pub(crate) due: u64,
    /// Loop time of the pass that ran the previous sample (or the monitor's start): the part
    /// of a busy stretch before it was already measured.
    last_sample: u64,
    total: LatencyHistogram,
    window: LatencyHistogram,
}

impl LagState {
    #[inline]
    pub(crate) fn is_sampler(&self, timer: HandleId) -> bool {
        self.timer == timer
    }
}

/// # Metrics: the lag monitor
impl Loop {
    /// Starts sampling loop lag every `resolution` (at least 1 ms; shorter values are raised to
    /// 1 ms, as Node does). See [`LagMonitor`] for what a sample measures. A loop runs one
    /// monitor: starting another stops the previous one, whose id then goes stale.
    #[track_caller]
    pub fn monitor_lag(&mut self, resolution: Duration) -> LagMonitor {
        let site = Location::caller();
        if let Some(old) = self.instruments_mut().lag.take()
            && old.running
        {
            Timer(old.timer).clear(self);
        }
        let resolution = resolution.max(MIN_RESOLUTION);
        let timer = self.start_timer(
            resolution,
            true,
            Box::new(|lp: &mut Self, _| lp.sample_lag()),
            site,
        );
        // Cannot fail: the timer was just created.
        let _ = timer.unref(self);
        self.instruments_mut().lag = Some(LagState {
            timer: timer.0,
            running: true,
            resolution,
            due: 0,
            last_sample: self.clock().now(),
            total: LatencyHistogram::new(),
            window: LatencyHistogram::new(),
        });
        LagMonitor { timer }
    }

    /// The sampler's callback.
    fn sample_lag(&mut self) {
        let started = self.clock().ns_since_epoch(Instant::now());
        let now = self.clock().now();
        let ins = self.instruments_mut();
        let Some(lag) = &mut ins.lag else { return };
        // The loop was responsive (asleep in poll, or at a timer pass) until `busy_since`; a
        // sample that fell due after that waited for the whole busy stretch.
        let busy_since = ins.last_wake.max(ins.prev_pass).max(lag.last_sample);
        let lateness = started.saturating_sub(lag.due.min(busy_since));
        lag.total.record_ns(lateness);
        lag.window.record_ns(lateness);
        lag.last_sample = now;
    }

    fn lag_state(&self, monitor: LagMonitor) -> Result<&LagState> {
        match &self.instruments().lag {
            Some(lag) if lag.timer == monitor.timer.0 => Ok(lag),
            _ => Err(Error::StaleHandle),
        }
    }

    fn lag_state_mut(&mut self, monitor: LagMonitor) -> Result<&mut LagState> {
        match &mut self.instruments_mut().lag {
            Some(lag) if lag.timer == monitor.timer.0 => Ok(lag),
            _ => Err(Error::StaleHandle),
        }
    }
}

impl LagMonitor {
    /// Stops sampling. The histograms stay readable until another monitor is started.
    /// Stopping a stopped monitor is harmless. Errors: [`Error::StaleHandle`] if another
    /// monitor replaced this one.
    pub fn stop(self, lp: &mut Loop) -> Result<()> {
        let lag = lp.lag_state_mut(self)?;
        if std::mem::replace(&mut lag.running, false) {
            self.timer.clear(lp);
        }
        Ok(())
    }

    /// Whether it is still sampling.
    pub fn is_running(self, lp: &Loop) -> bool {
        lp.lag_state(self).is_ok_and(|l| l.running)
    }

    /// The sampling period.
    pub fn resolution(self, lp: &Loop) -> Result<Duration> {
        Ok(lp.lag_state(self)?.resolution)
    }

    /// Every sample since the monitor started or was last [`reset`](Self::reset).
    pub fn snapshot(self, lp: &Loop) -> Result<LatencyHistogram> {
        Ok(lp.lag_state(self)?.total.clone())
    }

    /// The samples since the previous `take` (or the start), and starts a new window: call it
    /// once a second for a per-second view. Does not touch [`snapshot`](Self::snapshot)'s data.
    pub fn take(self, lp: &mut Loop) -> Result<LatencyHistogram> {
        let lag = lp.lag_state_mut(self)?;
        let window = lag.window.clone();
        lag.window.reset();
        Ok(window)
    }

    /// Forgets every sample (both the total and the window).
    pub fn reset(self, lp: &mut Loop) -> Result<()> {
        let lag = lp.lag_state_mut(self)?;
        lag.total.reset();
        lag.window.reset();
        Ok(())
    }
}

impl Loop {
    /// The running (or stopped but not replaced) lag monitor's total histogram.
    pub(crate) fn lag_histogram(&self) -> Option<&LatencyHistogram> {
        self.instruments().lag.as_ref().map(|l| &l.total)
    }
}
