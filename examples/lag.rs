//! `cargo run --release --example lag [-- --seconds N] [--svg lag.svg]` — event-loop lag, and its
//! cure, measured.
//!
//! Three phases of N seconds (default 5): an idle loop; a loop whose callback blocks it for
//! 50 ms every 200 ms; and the same work moved to a helper thread, its result posted back. Each
//! second prints lag p50/p99/max, utilization and the slowest callback with the `file:line` that
//! registered it; the end prints a comparison table. `--svg FILE` draws lag over time per phase.

use std::cell::RefCell;
use std::fmt::Write as _;
use std::rc::Rc;
use std::time::{Duration, Instant};

use evloop::Loop;
use evloop::metrics::Metrics;
use evloop::metrics::{LatencyHistogram, SlowCallback};

const BLOCK: Duration = Duration::from_millis(50);
const PERIOD: Duration = Duration::from_millis(200);
/// How often the lag window is read (one point of the SVG).
const TICK: Duration = Duration::from_millis(100);

#[derive(Clone, Copy, PartialEq)]
enum Workload {
    Idle,
    Blocking,
    Offloaded,
}

impl Workload {
    fn name(self) -> &'static str {
        match self {
            Self::Idle => "idle",
            Self::Blocking => "blocking",
            Self::Offloaded => "offloaded",
        }
    }

    fn colour(self) -> &'static str {
        match self {
            Self::Idle => "#2a9d8f",
            Self::Blocking => "#e63946",
            Self::Offloaded => "#457b9d",
        }
    }
}

/// What one phase measured.
struct PhaseResult {
    workload: Workload,
    lag: LatencyHistogram,
    /// (seconds into the phase, max lag in the window in ms) per tick.
    points: Vec<(f64, f64)>,
    metrics: Metrics,
    slowest: Option<SlowCallback>,
}

fn busy_wait(d: Duration) {
    let start = Instant::now();
    while start.elapsed() < d {
        std::hint::spin_loop();
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// Starts the phase's work; returns a closure that stops it.
fn start_work(lp: &mut Loop, workload: Workload) -> Box<dyn FnOnce(&mut Loop)> {
    match workload {
        Workload::Idle => Box::new(|_| {}),
        Workload::Blocking => {
            let timer = lp.set_interval(PERIOD, |_, _| busy_wait(BLOCK));
            Box::new(move |lp| {
                timer.clear(lp);
            })
        }
        Workload::Offloaded => {
            // The same 50 ms of work on a helper thread; the loop only gets the result. Once the
            // thread pool lands this becomes `lp.queue_work(|| busy_wait(BLOCK), |lp, r| ...)`.
            let timer = lp.set_interval(PERIOD, |lp, _| {
                let sender = lp.sender();
                std::thread::spawn(move || {
                    busy_wait(BLOCK);
                    let _ = sender.post(|_| { /* use the result on the loop */ });
                });
            });
            Box::new(move |lp| {
                timer.clear(lp);
            })
        }
    }
}

fn run_phase(workload: Workload, seconds: u64) -> Result<PhaseResult, evloop::Error> {
    let mut lp = Loop::new()?;
    let monitor = lp.monitor_lag(Duration::from_millis(1));
    let slowest_now: Rc<RefCell<Option<SlowCallback>>> = Rc::default();
    let slowest_ever: Rc<RefCell<Option<SlowCallback>>> = Rc::default();
    let (now, ever) = (Rc::clone(&slowest_now), Rc::clone(&slowest_ever));
    lp.on_slow_callback(Duration::from_millis(1), move |slow| {
        for cell in [&now, &ever] {
            let mut cell = cell.borrow_mut();
            if cell.is_none_or(|s| s.duration < slow.duration) {
                *cell = Some(*slow);
            }
        }
    });
    let stop_work = start_work(&mut lp, workload);

    let points: Rc<RefCell<Vec<(f64, f64)>>> = Rc::default();
    let start = Instant::now();
    let mut second = LatencyHistogram::new();
    let mut last = lp.metrics();
    let mut ticks = 0u64;
    let p = Rc::clone(&points);
    let mut stop_work = Some(stop_work);
    lp.set_interval(TICK, move |lp, me| {
        ticks += 1;
        let window = monitor.take(lp).expect("the monitor runs");
        p.borrow_mut()
            .push((start.elapsed().as_secs_f64(), ms(window.max())));
        second.add(&window);
        if !ticks.is_multiple_of(10) {
            return;
        }
        let m = lp.metrics();
        let slow = slowest_now.borrow_mut().take();
        println!(
            "[{:<9} {:>2}s] lag p50 {:>7.3} ms  p99 {:>7.3} ms  max {:>7.3} ms  util {:.2}  slowest {}",
            workload.name(),
            ticks / 10,
            ms(second.percentile(50.0)),
            ms(second.percentile(99.0)),
            ms(second.max()),
            m.since(&last).utilization(),
            slow.map_or_else(
                || "-".to_string(),
                |s| format!("{:.1} ms at {} ({})", ms(s.duration), s.site, s.kind)
            ),
        );
        second.reset();
        last = m;
        if ticks >= seconds * 10 {
            if let Some(stop) = stop_work.take() {
                stop(lp);
            }
            me.clear(lp);
        }
    });
    let before = lp.metrics();
    lp.run()?;
    let lag = monitor.snapshot(&lp)?;
    monitor.stop(&mut lp)?;
    let points = points.borrow().clone();
    let slowest = *slowest_ever.borrow();
    Ok(PhaseResult {
        workload,
        lag,
        points,
        metrics: lp.metrics().since(&before),
        slowest,
    })
}

fn print_table(results: &[PhaseResult]) {
    println!();
    println!(
        "{:<10} {:>9} {:>9} {:>9} {:>9} {:>9} {:>6}  slowest callback",
        "phase", "lag p50", "p90", "p99", "p99.9", "max", "util"
    );
    for r in results {
        let l = &r.lag;
        println!(
            "{:<10} {:>6.3} ms {:>6.3} ms {:>6.3} ms {:>6.3} ms {:>6.3} ms {:>6.2}  {}",
            r.workload.name(),
            ms(l.percentile(50.0)),
            ms(l.percentile(90.0)),
            ms(l.percentile(99.0)),
            ms(l.percentile(99.9)),
            ms(l.max()),
            r.metrics.utilization(),
            r.slowest.map_or_else(|| "-".to_string(), |s| s.to_string()),
        );
    }
}

/// Lag over time, one polyline per phase, on a log scale (idle lag is microseconds, a block
/// tens of milliseconds).
fn svg(results: &[PhaseResult], seconds: u64) -> String {
    let (w, h) = (900.0, 420.0);
    let (left, right, top, bottom) = (70.0, 150.0, 30.0, 50.0);
    let (pw, ph) = (w - left - right, h - top - bottom);
    let (lo, hi) = (-3.0_f64, 3.0_f64); // log10 of ms: 1 µs .. 1 s
    let x = |t: f64| left + pw * (t / seconds as f64).clamp(0.0, 1.0);
    let y = |v: f64| top + ph * (1.0 - ((v.max(1e-3).log10() - lo) / (hi - lo)).clamp(0.0, 1.0));
    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(s, r#"<rect width="{w}" height="{h}" fill="white"/>"#);
    let _ = writeln!(
        s,
        r#"<text x="{}" y="18" text-anchor="middle" font-size="14">evloop lag over time (max per {} ms window, 1 ms monitor)</text>"#,
        left + pw / 2.0,
        TICK.as_millis()
    );
    for decade in -3..=3 {
        let v = 10f64.powi(decade);
        let yy = y(v);
        let label = if v < 1.0 {
            format!("{v} ms")
        } else {
            format!("{v:.0} ms")
        };
        let _ = writeln!(
            s,
            r##"<line x1="{left}" y1="{yy:.1}" x2="{}" y2="{yy:.1}" stroke="#ddd"/><text x="{}" y="{:.1}" text-anchor="end">{label}</text>"##,
            left + pw,
            left - 6.0,
            yy + 4.0
        );
    }
    for sec in 0..=seconds {
        let xx = x(sec as f64);
        let _ = writeln!(
            s,
            r##"<line x1="{xx:.1}" y1="{}" x2="{xx:.1}" y2="{}" stroke="#999"/><text x="{xx:.1}" y="{}" text-anchor="middle">{sec}</text>"##,
            top + ph,
            top + ph + 5.0,
            top + ph + 18.0
        );
    }
    let _ = writeln!(
        s,
        r#"<rect x="{left}" y="{top}" width="{pw}" height="{ph}" fill="none" stroke="black"/>"#
    );
    let _ = writeln!(
        s,
        r#"<text x="{}" y="{}" text-anchor="middle">seconds into the phase</text>"#,
        left + pw / 2.0,
        h - 12.0
    );
    let _ = writeln!(
        s,
        r#"<text transform="translate(16 {:.1}) rotate(-90)" text-anchor="middle">lag (log scale)</text>"#,
        top + ph / 2.0
    );
    for (i, r) in results.iter().enumerate() {
        let pts: Vec<String> = r
            .points
            .iter()
            .map(|&(t, v)| format!("{:.1},{:.1}", x(t), y(v)))
            .collect();
        let c = r.workload.colour();
        let _ = writeln!(
            s,
            r#"<polyline fill="none" stroke="{c}" stroke-width="1.5" points="{}"/>"#,
            pts.join(" ")
        );
        let ly = top + 20.0 + 20.0 * i as f64;
        let _ = writeln!(
            s,
            r#"<line x1="{}" y1="{ly:.1}" x2="{}" y2="{ly:.1}" stroke="{c}" stroke-width="3"/><text x="{}" y="{:.1}">{}</text>"#,
            left + pw + 12.0,
            left + pw + 36.0,
            left + pw + 42.0,
            ly + 4.0,
            r.workload.name()
        );
    }
    s.push_str("</svg>\n");
    s
}

fn main() {
    let (seconds, svg_path) = match parse_args() {
        Ok(args) => args,
        Err(e) => {
            eprintln!("lag: {e}\nusage: lag [--seconds 1..=3600] [--svg FILE]");
            std::process::exit(2);
        }
    };
    if let Err(e) = run(seconds, svg_path) {
        eprintln!("lag: {e}");
        std::process::exit(1);
    }
}

fn parse_args() -> Result<(u64, Option<String>), String> {
    let mut seconds = 5;
    let mut svg_path = None;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--seconds" => {
                let value = args.next().ok_or("--seconds needs a value")?;
                seconds = value
                    .parse::<u64>()
                    .ok()
                    .filter(|s| (1..=3600).contains(s))
                    .ok_or(format!(
                        "--seconds {value}: want a whole number from 1 to 3600"
                    ))?;
            }
            "--svg" => svg_path = Some(args.next().ok_or("--svg needs a file name")?),
            other => return Err(format!("unknown argument {other}")),
        }
    }
    Ok((seconds, svg_path))
}

fn run(seconds: u64, svg_path: Option<String>) -> Result<(), Box<dyn std::error::Error>> {
    let mut results = Vec::new();
    for workload in [Workload::Idle, Workload::Blocking, Workload::Offloaded] {
        results.push(run_phase(workload, seconds)?);
    }
    print_table(&results);
    if let Some(path) = svg_path {
        std::fs::write(&path, svg(&results, seconds))?;
        println!("\nwrote {path}");
    }
    Ok(())
}
