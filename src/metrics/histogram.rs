//! [`LatencyHistogram`]: an HDR histogram of durations, in nanoseconds, to 3 significant figures.

use std::fmt;
use std::time::Duration;

use hdrhistogram::Histogram;

/// A histogram of durations (lag samples, timer lateness, callback durations).
///
/// Values are kept in nanoseconds to 3 significant figures (so 50 ms reads as 50.0 ms ± 0.05 ms)
/// with [hdrhistogram](https://docs.rs/hdrhistogram); the range grows as needed, so memory
/// follows the largest value recorded, not a preset maximum.
///
/// ```
/// use std::time::Duration;
/// use evloop::metrics::LatencyHistogram;
///
/// let mut h = LatencyHistogram::new();
/// for ms in [1, 2, 3, 50] {
///     h.record(Duration::from_millis(ms));
/// }
/// assert_eq!(h.count(), 4);
/// assert!(h.percentile(50.0) < Duration::from_millis(3));
/// assert!(h.max() >= Duration::from_millis(50));
/// assert_eq!(h.count_above(Duration::from_millis(10)), 1);
/// ```
#[derive(Clone)]
pub struct LatencyHistogram {
    inner: Histogram<u64>,
}

impl Default for LatencyHistogram {
    fn default() -> Self {
        Self::new()
    }
}

fn ns(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

impl LatencyHistogram {
    /// An empty histogram.
    pub fn new() -> Self {
        // 3 significant figures is always a valid precision.
        let inner = Histogram::new(3).unwrap_or_else(|_| unreachable!("sigfig 3 is valid"));
        Self { inner }
    }

    /// Records one duration.
    pub fn record(&mut self, d: Duration) {
        self.record_ns(ns(d));
    }

    #[inline]
    pub(crate) fn record_ns(&mut self, ns: u64) {
        // `record` grows the range as needed (`saturating_record` would clamp instead); it
        // fails only past what a u64 index can address, and then clamping is the answer.
        if self.inner.record(ns).is_err() {
            self.inner.saturating_record(ns);
        }
    }

    /// How many values were recorded.
    pub fn count(&self) -> u64 {
        self.inner.len()
    }

    /// Whether nothing was recorded.
    pub fn is_empty(&self) -> bool {
        self.inner.is_empty()
    }

    /// The smallest value (zero when empty).
    pub fn min(&self) -> Duration {
        if self.is_empty() {
            return Duration::ZERO;
        }
        Duration::from_nanos(self.inner.min())
    }

    /// The largest value (zero when empty).
    pub fn max(&self) -> Duration {
        if self.is_empty() {
            return Duration::ZERO;
        }
        Duration::from_nanos(self.inner.max())
    }

    /// The mean (zero when empty).
    pub fn mean(&self) -> Duration {
        Duration::from_nanos(self.inner.mean() as u64)
    }

    /// The standard deviation (zero when empty).
    pub fn stddev(&self) -> Duration {
        Duration::from_nanos(self.inner.stdev() as u64)
    }

    /// The value below which `p` percent of the values fall (`p` in 0..=100; zero when empty).
    pub fn percentile(&self, p: f64) -> Duration {
        if self.is_empty() {
            return Duration::ZERO;
        }
        Duration::from_nanos(self.inner.value_at_percentile(p.clamp(0.0, 100.0)))
    }

    /// How many values exceed `threshold` (to the histogram's precision).
    pub fn count_above(&self, threshold: Duration) -> u64 {
        let at_or_below = self.inner.count_between(0, ns(threshold));
        self.count().saturating_sub(at_or_below)
    }

    /// The sum of the values (mean × count: exact to the histogram's precision).
    pub fn sum(&self) -> Duration {
        Duration::from_secs_f64(self.inner.mean() * self.count() as f64 / 1e9)
    }

    /// Adds every value of `other` to this histogram.
    pub fn add(&mut self, other: &Self) {
        // Cannot fail: both histograms auto-resize.
        let _ = self.inner.add(&other.inner);
    }

    /// The values recorded after `earlier` was taken from the same histogram: the window
    /// between two snapshots. If `earlier` is not a prefix of `self` (the source was reset in
    /// between), `self` is returned whole.
    pub fn since(&self, earlier: &Self) -> Self {
        let mut delta = self.clone();
        if delta.inner.subtract(&earlier.inner).is_err() {
            return self.clone();
        }
        delta
    }

    /// Forgets every value.
    pub fn reset(&mut self) {
        self.inner.reset();
    }
}

impl fmt::Debug for LatencyHistogram {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LatencyHistogram")
            .field("count", &self.count())
            .field("min", &self.min())
            .field("p50", &self.percentile(50.0))
            .field("p99", &self.percentile(99.0))
            .field("max", &self.max())
            .field("mean", &self.mean())
            .field("stddev", &self.stddev())
            .finish()
    }
}

/// `n=120 min 21µs p50 48µs p90 60µs p99 50.1ms max 50.1ms`
impl fmt::Display for LatencyHistogram {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_empty() {
            return f.write_str("n=0");
        }
        write!(
            f,
            "n={} min {} p50 {} p90 {} p99 {} max {}",
            self.count(),
            Short(self.min()),
            Short(self.percentile(50.0)),
            Short(self.percentile(90.0)),
            Short(self.percentile(99.0)),
            Short(self.max()),
        )
    }
}

/// A duration printed short, with 3 significant figures: `48µs`, `50.1ms`, `1.30s`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Short(pub(crate) Duration);

impl fmt::Display for Short {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ns = self.0.as_nanos() as f64;
        let (v, unit) = if ns < 1e3 {
            (ns, "ns")
        } else if ns < 1e6 {
            (ns / 1e3, "µs")
        } else if ns < 1e9 {
            (ns / 1e6, "ms")
        } else {
            (ns / 1e9, "s")
        };
        let s = if v >= 100.0 {
            format!("{v:.0}{unit}")
        } else if v >= 10.0 {
            format!("{v:.1}{unit}")
        } else {
            format!("{v:.2}{unit}")
        };
        f.pad(&s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statistics_of_known_values() {
        let mut h = LatencyHistogram::new();
        assert_eq!(h.max(), Duration::ZERO);
        assert_eq!(h.percentile(50.0), Duration::ZERO);
        for us in 1..=100 {
            h.record(Duration::from_micros(us));
        }
        assert_eq!(h.count(), 100);
        let p50 = h.percentile(50.0).as_nanos() as f64;
        assert!((p50 - 50_000.0).abs() < 100.0, "{p50}");
        assert!((h.max().as_nanos() as f64 - 100_000.0).abs() < 100.0);
        assert!((h.min().as_nanos() as f64 - 1_000.0).abs() < 2.0);
        assert_eq!(h.count_above(Duration::from_micros(90)), 10);
        let mean = h.mean().as_nanos() as f64;
        assert!((mean - 50_500.0).abs() < 100.0, "{mean}");
        assert!(h.stddev() > Duration::from_micros(28) && h.stddev() < Duration::from_micros(30));
    }

    #[test]
    fn since_is_the_window_between_two_snapshots() {
        let mut h = LatencyHistogram::new();
        h.record(Duration::from_millis(1));
        let before = h.clone();
        h.record(Duration::from_secs(2));
        let window = h.since(&before);
        assert_eq!(window.count(), 1);
        assert!(window.min() >= Duration::from_millis(1999));
        // A reset source is not a superset: the later snapshot is returned whole.
        let mut reset = LatencyHistogram::new();
        reset.record(Duration::from_micros(5));
        assert_eq!(reset.since(&h).count(), 1);
    }

    #[test]
    fn short_durations_print_with_three_figures() {
        assert_eq!(Short(Duration::from_nanos(48_300)).to_string(), "48.3µs");
        assert_eq!(Short(Duration::from_micros(50_120)).to_string(), "50.1ms");
        assert_eq!(Short(Duration::from_millis(1300)).to_string(), "1.30s");
        assert_eq!(Short(Duration::from_nanos(7)).to_string(), "7.00ns");
    }
}
