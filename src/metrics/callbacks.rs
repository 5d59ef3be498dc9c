//! Callback timing: slow-callback reports and per-phase duration histograms.

use std::fmt;
use std::time::{Duration, Instant};

use crate::event_loop::Loop;
use crate::event_loop::{CallbackKind, Phase};
use crate::handle::Site;
use crate::metrics::LatencyHistogram;
use crate::metrics::histogram::Short;

/// A callback that ran longer than the threshold given to [`Loop::on_slow_callback`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct SlowCallback {
    /// How long it ran (its microtask drain not included: each task is reported on its own).
    pub duration: Duration,
    /// The phase it ran in.
    pub phase: Phase,
    /// What kind of callback it was.
    pub kind: CallbackKind,
    /// The `file:line` that registered it.
    pub site: Site,
    /// When it started.
    pub started: Instant,
}

/// `timer callback registered at src/main.rs:42 ran for 52.1ms (timers phase)`
impl fmt::Display for SlowCallback {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} callback registered at {} ran for {} ({} phase)",
            self.kind,
            self.site,
            Short(self.duration),
            self.phase
        )
    }
}

type SlowHook = Box<dyn FnMut(&SlowCallback)>;

/// Slow-callback settings and the duration histograms.
#[derive(Default)]
pub(crate) struct CallbackTiming {
    slow: Option<(Duration, SlowHook)>,
    /// Set by [`Loop::time_callbacks`]; the histograms are also kept while a hook is set.
    forced: bool,
    /// Per-phase duration histograms, created on first use.
    pub(crate) durations: Option<Box<[LatencyHistogram; Phase::COUNT]>>,
    /// Callbacks reported slow.
    pub(crate) slow_count: u64,
}

impl CallbackTiming {
    pub(crate) fn enabled(&self) -> bool {
        self.forced || self.slow.is_some()
    }

    fn finished(
        &mut self,
        phase: Phase,
        kind: CallbackKind,
        site: Site,
        started: Instant,
        took: Duration,
    ) {
        if let Some(d) = &mut self.durations {
            d[phase as usize].record(took);
        }
        if let Some((threshold, hook)) = &mut self.slow
            && took > *threshold
        {
            self.slow_count += 1;
            hook(&SlowCallback {
                duration: took,
                phase,
                kind,
                site,
                started,
            });
        }
    }
}

/// # Metrics: slow-callback reports
impl Loop {
    /// Reports every callback that runs longer than `threshold` to `hook`, with its duration,
    /// phase, kind and the `file:line` that registered it. Replaces an earlier hook.
    ///
    /// While a hook is set, callback durations are also kept per phase (see
    /// [`crate::metrics::Metrics::callback_durations`]). Timing costs two clock reads per callback; with
    /// no hook, no watchdog and [`Loop::time_callbacks`] off, callbacks are not timed at all.
    ///
    /// The hook runs on the loop thread right after the slow callback returns; it cannot touch
    /// the loop (collect what you need and act on it from a callback).
    ///
    /// ```
    /// use std::time::Duration;
    /// # fn main() -> std::io::Result<()> {
    /// let mut lp = evloop::Loop::new()?;
    /// lp.on_slow_callback(Duration::from_millis(10), |slow| eprintln!("{slow}"));
    /// lp.set_timeout(Duration::ZERO, |_, _| std::thread::sleep(Duration::from_millis(20)));
    /// lp.run().unwrap(); // prints "timer callback registered at src/main.rs:6 ran for 20.1ms..."
    /// assert_eq!(lp.metrics().slow_callbacks, 1);
    /// # Ok(())
    /// # }
    /// ```
    pub fn on_slow_callback(
        &mut self,
        threshold: Duration,
        hook: impl FnMut(&SlowCallback) + 'static,
    ) {
        self.instruments_mut().callbacks.slow = Some((threshold, Box::new(hook)));
        self.timing_changed();
    }

    /// Removes the slow-callback hook; returns whether one was set.
    pub fn clear_slow_callback(&mut self) -> bool {
        let had = self.instruments_mut().callbacks.slow.take().is_some();
        self.timing_changed();
        had
    }

    /// Keeps per-phase callback duration histograms even without a slow-callback hook (`true`),
    /// or only while a hook is set (`false`, the default).
    pub fn time_callbacks(&mut self, enabled: bool) {
        self.instruments_mut().callbacks.forced = enabled;
        self.timing_changed();
    }

    fn timing_changed(&mut self) {
        let cb = &mut self.instruments_mut().callbacks;
        if cb.enabled() && cb.durations.is_none() {
            cb.durations = Some(Box::default());
        }
        self.instruments_mut().update_timing();
    }

    /// `call` with timing on: a watchdog beacon around the callback, then the duration
    /// histogram and the slow-callback hook. Kept out of line so the untimed path stays small.
    #[inline(never)]
    pub(crate) fn call_timed<R>(
        &mut self,
        phase: Phase,
        kind: CallbackKind,
        site: Site,
        f: impl FnOnce(&mut Self) -> R,
    ) -> R {
        let started = Instant::now();
        let started_ns = self.clock().ns_since_epoch(started);
        if let Some(w) = &mut self.instruments_mut().watchdog {
            w.enter(started_ns, site, phase, kind);
        }
        // A panic unwinds past the exit below; `run_mode` clears the beacon in its catch.
        let r = f(self);
        if let Some(w) = &self.instruments_mut().watchdog {
            w.exit();
        }
        let took = started.elapsed();
        self.instruments_mut()
            .callbacks
            .finished(phase, kind, site, started, took);
        r
    }
}
