//! [`Metrics`]: one snapshot of everything the loop measures.

use std::fmt;
use std::time::{Duration, Instant};

use crate::event_loop::Loop;
use crate::event_loop::Phase;
use crate::handle::HandleKind;
use crate::metrics::histogram::Short;
use crate::metrics::{LatencyHistogram, PoolStats};

/// A snapshot of the loop's counters, utilization and histograms, from [`Loop::metrics`].
///
/// Counters only grow; the difference of two snapshots ([`Metrics::since`]) is the window
/// between them. The snapshot prints as an aligned table (`{}`) and exports as Prometheus text
/// ([`Metrics::to_prometheus`]).
///
/// ```
/// use std::time::Duration;
/// use evloop::Loop;
///
/// # fn main() -> Result<(), evloop::Error> {
/// let mut lp = Loop::new()?;
/// let before = lp.metrics();
/// for i in 0..3 {
///     lp.set_timeout(Duration::from_millis(i), |_, _| {});
/// }
/// lp.run()?;
/// let m = lp.metrics();
/// let window = m.since(&before);
/// assert_eq!(window.timers_fired, 3);
/// assert!(window.utilization() <= 1.0);
/// println!("{m}"); // a table: iterations, callbacks per phase, utilization, lag...
/// let text = m.to_prometheus("evloop");
/// assert!(text.contains("# TYPE evloop_timers_fired_total counter"));
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Metrics {
    /// When the snapshot was taken.
    pub taken_at: Instant,
    /// Time since the loop first started running (zero if it never ran); in a window, the
    /// window's length.
    pub uptime: Duration,
    /// Time spent blocked in the poll syscall: the loop had nothing to do.
    pub idle: Duration,
    /// `uptime - idle`: time spent running callbacks and loop bookkeeping.
    pub active: Duration,
    /// Loop iterations.
    pub iterations: u64,
    /// Events returned by poll (including the loop's own wake-ups).
    pub poll_events: u64,
    /// Callbacks run, indexed by `Phase as usize` (see [`Metrics::callbacks_in`]).
    pub callbacks: [u64; Phase::COUNT],
    /// Next-ticks run.
    pub next_ticks: u64,
    /// Microtasks run.
    pub microtasks: u64,
    /// Next-tick/microtask drains that found work.
    pub task_drains: u64,
    /// Timer callbacks run.
    pub timers_fired: u64,
    /// Closures posted from other threads that ran.
    pub posts: u64,
    /// Live handles by kind (closing ones included); kinds with none are left out.
    pub open_handles: Vec<(HandleKind, u64)>,
    /// Bytes read from sockets.
    pub bytes_read: u64,
    /// Bytes written to sockets.
    pub bytes_written: u64,
    /// Thread-pool jobs: queued and running now (gauges), completed so far.
    pub pool: PoolStats,
    /// Callbacks reported by the slow-callback hook.
    pub slow_callbacks: u64,
    /// The lag monitor's samples since it started, if one was started.
    pub lag: Option<LatencyHistogram>,
    /// How late every user timer ran (due time to the timer pass that ran it).
    pub timer_lateness: LatencyHistogram,
    /// Callback durations per phase, while callbacks are timed ([`Loop::on_slow_callback`],
    /// [`Loop::time_callbacks`]); phases with no callback are left out.
    pub callback_durations: Vec<(Phase, LatencyHistogram)>,
}

/// # Metrics: the snapshot
impl Loop {
    /// A snapshot of every metric. Cheap enough to take once a second (it clones the
    /// histograms).
    pub fn metrics(&self) -> Metrics {
        let taken_at = Instant::now();
        let ins = self.instruments();
        let c = self.counters();
        let uptime = ins
            .started
            .map_or(Duration::ZERO, |s| taken_at.saturating_duration_since(s));
        let idle = Duration::from_nanos(ins.idle_ns).min(uptime);
        let mut by_kind: Vec<(HandleKind, u64)> = Vec::new();
        for info in self.handles().infos() {
            match by_kind.iter_mut().find(|(k, _)| *k == info.kind) {
                Some((_, n)) => *n += 1,
                None => by_kind.push((info.kind, 1)),
            }
        }
        let callback_durations = ins
            .callbacks
            .durations
            .as_deref()
            .map(|d| {
                Phase::ALL
                    .iter()
                    .zip(d.iter())
                    .filter(|(_, h)| !h.is_empty())
                    .map(|(p, h)| (*p, h.clone()))
                    .collect()
            })
            .unwrap_or_default();
        Metrics {
            taken_at,
            uptime,
            idle,
            active: uptime - idle,
            iterations: c.iterations,
            poll_events: c.events,
            callbacks: c.callbacks,
            next_ticks: c.next_ticks,
            microtasks: c.microtasks,
            task_drains: c.task_drains,
            timers_fired: c.timers_fired,
            posts: c.posts,
            open_handles: by_kind,
            bytes_read: c.bytes_read,
            bytes_written: c.bytes_written,
            pool: self.pool_stats().unwrap_or_default(),
            slow_callbacks: ins.callbacks.slow_count,
            lag: self.lag_histogram().cloned(),
            timer_lateness: ins.timer_lateness.clone(),
            callback_durations,
        }
    }
}

impl Metrics {
    /// Event-loop utilization, as Node's `eventLoopUtilization()`: `active / (active + idle)`,
    /// from 0 (always waiting in poll) to 1 (never waiting). Zero before the loop ran. As in
    /// Node, time is counted from when the loop first ran, so time between two `run` calls is
    /// active; take windows with [`Metrics::since`] around the stretch you care about.
    pub fn utilization(&self) -> f64 {
        let total = self.active + self.idle;
        if total.is_zero() {
            return 0.0;
        }
        self.active.as_secs_f64() / total.as_secs_f64()
    }

    /// Callbacks run in `phase`.
    pub fn callbacks_in(&self, phase: Phase) -> u64 {
        self.callbacks[phase as usize]
    }

    /// Callbacks run in every phase.
    pub fn total_callbacks(&self) -> u64 {
        self.callbacks.iter().sum()
    }

    /// The window between `earlier` and `self` (both from the same loop): counters, times and
    /// histograms are differences; gauges (open handles, queued and running pool jobs) are
    /// `self`'s. A histogram reset in between (a lag monitor restarted or
    /// [reset](crate::metrics::LagMonitor::reset)) is reported whole.
    pub fn since(&self, earlier: &Self) -> Self {
        let mut callbacks = self.callbacks;
        for (c, e) in callbacks.iter_mut().zip(earlier.callbacks) {
            *c = c.saturating_sub(e);
        }
        let callback_durations = self
            .callback_durations
            .iter()
            .map(|(phase, h)| {
                let before = earlier.callback_durations.iter().find(|(p, _)| p == phase);
                (
                    *phase,
                    before.map_or_else(|| h.clone(), |(_, b)| h.since(b)),
                )
            })
            .filter(|(_, h)| !h.is_empty())
            .collect();
        let lag = match (&self.lag, &earlier.lag) {
            (Some(now), Some(before)) => Some(now.since(before)),
            (now, _) => now.clone(),
        };
        Self {
            taken_at: self.taken_at,
            uptime: self.uptime.saturating_sub(earlier.uptime),
            idle: self.idle.saturating_sub(earlier.idle),
            active: self.active.saturating_sub(earlier.active),
            iterations: self.iterations.saturating_sub(earlier.iterations),
            poll_events: self.poll_events.saturating_sub(earlier.poll_events),
            callbacks,
            next_ticks: self.next_ticks.saturating_sub(earlier.next_ticks),
            microtasks: self.microtasks.saturating_sub(earlier.microtasks),
            task_drains: self.task_drains.saturating_sub(earlier.task_drains),
            timers_fired: self.timers_fired.saturating_sub(earlier.timers_fired),
            posts: self.posts.saturating_sub(earlier.posts),
            open_handles: self.open_handles.clone(),
            bytes_read: self.bytes_read.saturating_sub(earlier.bytes_read),
            bytes_written: self.bytes_written.saturating_sub(earlier.bytes_written),
            pool: PoolStats {
                completed: self.pool.completed.saturating_sub(earlier.pool.completed),
                ..self.pool
            },
            slow_callbacks: self.slow_callbacks.saturating_sub(earlier.slow_callbacks),
            lag,
            timer_lateness: self.timer_lateness.since(&earlier.timer_lateness),
            callback_durations,
        }
    }
}

/// An aligned two-column table, histograms on one line each.
impl fmt::Display for Metrics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut rows: Vec<(String, String)> = vec![
            ("uptime".into(), Short(self.uptime).to_string()),
            (
                "utilization".into(),
                format!(
                    "{:.3} (active {}, idle {})",
                    self.utilization(),
                    Short(self.active),
                    Short(self.idle)
                ),
            ),
            ("iterations".into(), self.iterations.to_string()),
            ("poll events".into(), self.poll_events.to_string()),
        ];
        for phase in Phase::ALL {
            rows.push((
                format!("callbacks: {phase}"),
                self.callbacks_in(phase).to_string(),
            ));
        }
        rows.extend([
            ("next-ticks".into(), self.next_ticks.to_string()),
            ("microtasks".into(), self.microtasks.to_string()),
            ("task drains".into(), self.task_drains.to_string()),
            ("timers fired".into(), self.timers_fired.to_string()),
            ("posts".into(), self.posts.to_string()),
        ]);
        for (kind, n) in &self.open_handles {
            rows.push((format!("open handles: {kind}"), n.to_string()));
        }
        rows.extend([
            ("bytes read".into(), self.bytes_read.to_string()),
            ("bytes written".into(), self.bytes_written.to_string()),
            (
                "pool jobs".into(),
                format!(
                    "{} queued, {} running, {} completed",
                    self.pool.queued, self.pool.running, self.pool.completed
                ),
            ),
            ("slow callbacks".into(), self.slow_callbacks.to_string()),
        ]);
        if let Some(lag) = &self.lag {
            rows.push(("lag".into(), lag.to_string()));
        }
        rows.push(("timer lateness".into(), self.timer_lateness.to_string()));
        for (phase, h) in &self.callback_durations {
            rows.push((format!("duration: {phase}"), h.to_string()));
        }
        let width = rows
            .iter()
            .map(|(k, _)| k.chars().count())
            .max()
            .unwrap_or(0);
        for (k, v) in rows {
            writeln!(f, "{k:<width$}  {v}")?;
        }
        Ok(())
    }
}
