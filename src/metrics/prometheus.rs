//! Prometheus text exposition (format 0.0.4) of a [`Metrics`] snapshot.

use std::fmt::Write as _;

use crate::event_loop::Phase;
use crate::metrics::{LatencyHistogram, Metrics};

/// The quantiles a histogram is exported with, as a Prometheus summary.
const QUANTILES: [f64; 4] = [0.5, 0.9, 0.99, 0.999];

/// Builds the exposition text: one `# HELP` and `# TYPE` line per family, then its samples.
struct Exposition {
    prefix: String,
    out: String,
}

impl Exposition {
    fn family(&mut self, name: &str, kind: &str, help: &str) -> String {
        let full = format!("{}{name}", self.prefix);
        let _ = writeln!(self.out, "# HELP {full} {help}");
        let _ = writeln!(self.out, "# TYPE {full} {kind}");
        full
    }

    fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: f64) {
        self.out.push_str(name);
        if !labels.is_empty() {
            self.out.push('{');
            for (i, (k, v)) in labels.iter().enumerate() {
                if i > 0 {
                    self.out.push(',');
                }
                let _ = write!(self.out, "{k}=\"{}\"", escape(v));
            }
            self.out.push('}');
        }
        let _ = writeln!(self.out, " {}", number(value));
    }

    fn counter(&mut self, name: &str, help: &str, value: u64) {
        let full = self.family(name, "counter", help);
        self.sample(&full, &[], value as f64);
    }

    fn gauge(&mut self, name: &str, help: &str, value: f64) {
        let full = self.family(name, "gauge", help);
        self.sample(&full, &[], value);
    }

    /// Samples of a summary family: quantiles, `_sum` and `_count`, in seconds.
    fn summary_samples(&mut self, full: &str, labels: &[(&str, &str)], h: &LatencyHistogram) {
        for q in QUANTILES {
            let qs = q.to_string();
            let mut l = labels.to_vec();
            l.push(("quantile", &qs));
            self.sample(full, &l, h.percentile(q * 100.0).as_secs_f64());
        }
        self.sample(&format!("{full}_sum"), labels, h.sum().as_secs_f64());
        self.sample(&format!("{full}_count"), labels, h.count() as f64);
    }
}

/// Label values escape backslash, double quote and newline.
fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// Integers print without a fraction; non-finite values as Prometheus spells them.
fn number(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v.is_infinite() {
        if v > 0.0 {
            "+Inf".into()
        } else {
            "-Inf".into()
        }
    } else {
        v.to_string()
    }
}

/// A metric-name prefix made valid (`[a-zA-Z_:][a-zA-Z0-9_:]*`), with a `_` separator.
fn sanitize_prefix(prefix: &str) -> String {
    if prefix.is_empty() {
        return String::new();
    }
    let mut p: String = prefix
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == ':' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if p.starts_with(|c: char| c.is_ascii_digit()) {
        p.insert(0, '_');
    }
    if !p.ends_with('_') {
        p.push('_');
    }
    p
}

impl Metrics {
    /// The snapshot in Prometheus text exposition format, each metric name starting with
    /// `prefix` and `_` (`"evloop"` gives `evloop_loop_iterations_total`; invalid characters
    /// become `_`; an empty prefix adds none). Counters end in `_total`; histograms are
    /// summaries with the 0.5, 0.9, 0.99 and 0.999 quantiles, `_sum` and `_count`, in seconds.
    pub fn to_prometheus(&self, prefix: &str) -> String {
        let mut e = Exposition {
            prefix: sanitize_prefix(prefix),
            out: String::new(),
        };
        e.counter(
            "loop_iterations_total",
            "Event-loop iterations.",
            self.iterations,
        );
        e.counter(
            "poll_events_total",
            "Events returned by the poll syscall.",
            self.poll_events,
        );
        let full = e.family(
            "callbacks_total",
            "counter",
            "Callbacks run, by loop phase.",
        );
        for phase in Phase::ALL {
            e.sample(
                &full,
                &[("phase", phase.name())],
                self.callbacks_in(phase) as f64,
            );
        }
        e.counter(
            "next_ticks_total",
            "Next-tick callbacks run.",
            self.next_ticks,
        );
        e.counter("microtasks_total", "Microtasks run.", self.microtasks);
        e.counter(
            "task_drains_total",
            "Next-tick and microtask drains that found work.",
            self.task_drains,
        );
        e.counter(
            "timers_fired_total",
            "Timer callbacks run.",
            self.timers_fired,
        );
        e.counter(
            "posts_total",
            "Closures posted from other threads that ran on the loop.",
            self.posts,
        );
        let full = e.family("open_handles", "gauge", "Live handles, by kind.");
        for (kind, n) in &self.open_handles {
            e.sample(&full, &[("kind", kind.name())], *n as f64);
        }
        e.counter(
            "read_bytes_total",
            "Bytes read from sockets.",
            self.bytes_read,
        );
        e.counter(
            "written_bytes_total",
            "Bytes written to sockets.",
            self.bytes_written,
        );
        e.gauge(
            "pool_jobs_queued",
            "Thread-pool jobs waiting for a worker.",
            self.pool.queued as f64,
        );
        e.gauge(
            "pool_jobs_running",
            "Thread-pool jobs running now.",
            self.pool.running as f64,
        );
        e.counter(
            "pool_jobs_completed_total",
            "Thread-pool jobs completed.",
            self.pool.completed,
        );
        let full = e.family(
            "idle_seconds_total",
            "counter",
            "Time the loop spent blocked in poll.",
        );
        e.sample(&full, &[], self.idle.as_secs_f64());
        let full = e.family(
            "active_seconds_total",
            "counter",
            "Time the loop spent running (not blocked in poll) since it started.",
        );
        e.sample(&full, &[], self.active.as_secs_f64());
        e.gauge(
            "utilization_ratio",
            "Event-loop utilization since the loop started: active / (active + idle).",
            self.utilization(),
        );
        e.counter(
            "slow_callbacks_total",
            "Callbacks that ran longer than the slow-callback threshold.",
            self.slow_callbacks,
        );
        if let Some(lag) = &self.lag {
            let full = e.family(
                "lag_seconds",
                "summary",
                "Event-loop lag: how late the lag monitor's timer ran.",
            );
            e.summary_samples(&full, &[], lag);
        }
        let full = e.family(
            "timer_lateness_seconds",
            "summary",
            "How late user timers ran after their due time.",
        );
        e.summary_samples(&full, &[], &self.timer_lateness);
        if !self.callback_durations.is_empty() {
            let full = e.family(
                "callback_duration_seconds",
                "summary",
                "Callback durations, by loop phase (while callbacks are timed).",
            );
            for (phase, h) in &self.callback_durations {
                e.summary_samples(&full, &[("phase", phase.name())], h);
            }
        }
        e.out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_are_made_valid() {
        assert_eq!(sanitize_prefix("evloop"), "evloop_");
        assert_eq!(sanitize_prefix("my-app.loop"), "my_app_loop_");
        assert_eq!(sanitize_prefix("9lives"), "_9lives_");
        assert_eq!(sanitize_prefix(""), "");
        assert_eq!(sanitize_prefix("ns:"), "ns:_");
    }

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(escape(r#"a"b\c"#), r#"a\"b\\c"#);
        assert_eq!(escape("x\ny"), "x\\ny");
    }

    #[test]
    fn numbers() {
        assert_eq!(number(3.0), "3");
        assert_eq!(number(0.25), "0.25");
        assert_eq!(number(f64::INFINITY), "+Inf");
        assert_eq!(number(f64::NAN), "NaN");
    }
}
