//! `cargo bench --bench lag_accuracy [-- --seconds N]` — how exactly does the lag monitor see a
//! known stall?
//!
//! The workload blocks the loop for 50 ms every 200 ms (true utilization 0.25). For each monitor
//! resolution (1 ms and 10 ms) it reports the lag monitor's max against the true block (the
//! longest the blocking callback ran), the median lag of an idle loop at that resolution, and
//! utilization against the true busy fraction. The same workload runs on Node
//! (`benches/peers/node/lag.js`: `monitorEventLoopDelay` + `eventLoopUtilization`) when `node`
//! is on the PATH.

use std::cell::Cell;
use std::process::Command;
use std::rc::Rc;
use std::time::{Duration, Instant};

use evloop::Loop;

const BLOCK: Duration = Duration::from_millis(50);
const PERIOD: Duration = Duration::from_millis(200);

/// One run's figures, all in ms except the ratios.
#[derive(Default)]
struct Figures {
    max_ms: f64,
    p50_ms: f64,
    utilization: f64,
    true_block_ms: f64,
    true_busy: f64,
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

/// Runs evloop for `seconds` with the monitor at `resolution`, blocking or idle.
fn evloop_run(resolution: Duration, seconds: f64, block: bool) -> Figures {
    let mut lp = Loop::new().expect("loop");
    let monitor = lp.monitor_lag(resolution);
    let longest = Rc::new(Cell::new(Duration::ZERO));
    let busy = Rc::new(Cell::new(Duration::ZERO));
    let before = lp.metrics();
    let start = Instant::now();
    let blocker = block.then(|| {
        let (longest, busy) = (Rc::clone(&longest), Rc::clone(&busy));
        lp.set_interval(PERIOD, move |_, _| {
            let t = Instant::now();
            busy_wait(BLOCK);
            let took = t.elapsed();
            longest.set(longest.get().max(took));
            busy.set(busy.get() + took);
        })
    });
    lp.set_timeout(Duration::from_secs_f64(seconds), move |lp, _| {
        if let Some(b) = blocker {
            b.clear(lp);
        }
    });
    lp.run().expect("run");
    let wall = start.elapsed();
    let window = lp.metrics().since(&before);
    let lag = monitor.snapshot(&lp).expect("monitor");
    Figures {
        max_ms: ms(lag.max()),
        p50_ms: ms(lag.percentile(50.0)),
        utilization: window.utilization(),
        true_block_ms: ms(longest.get()),
        true_busy: busy.get().as_secs_f64() / wall.as_secs_f64(),
    }
}

/// Runs the Node peer script; `None` when node is missing or fails.
fn node_run(resolution: Duration, seconds: f64, block: bool) -> Option<Figures> {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/benches/peers/node/lag.js");
    let out = Command::new("node")
        .arg(script)
        .args(["--mode", if block { "block" } else { "idle" }])
        .args(["--resolution", &resolution.as_millis().to_string()])
        .args(["--seconds", &seconds.to_string()])
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let mut f = Figures::default();
    for pair in text.split_whitespace() {
        let (k, v) = pair.split_once('=')?;
        let v: f64 = v.parse().ok()?;
        match k {
            "max_ms" => f.max_ms = v,
            "p50_ms" => f.p50_ms = v,
            "elu" => f.utilization = v,
            "true_block_ms" => f.true_block_ms = v,
            "true_busy" => f.true_busy = v,
            _ => {}
        }
    }
    Some(f)
}

fn verdict(ok: bool) -> &'static str {
    if ok { "ok" } else { "MISSED" }
}

fn main() {
    let mut seconds = 3.0;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        if a == "--seconds" {
            seconds = args.next().and_then(|s| s.parse().ok()).unwrap_or(seconds);
        }
    }
    println!(
        "lag accuracy: a callback blocks {} ms every {} ms for {seconds} s (true utilization {:.2})",
        BLOCK.as_millis(),
        PERIOD.as_millis(),
        BLOCK.as_secs_f64() / PERIOD.as_secs_f64()
    );
    println!(
        "{:<8} {:>5}  {:>10} {:>10} {:>8}  {:>11}  {:>6} {:>6} {:>7}",
        "runtime", "res", "max lag", "true block", "error", "idle median", "util", "true", "error"
    );
    let mut all_ok = true;
    for res_ms in [1, 10] {
        let res = Duration::from_millis(res_ms);
        let blocked = evloop_run(res, seconds, true);
        let idle = evloop_run(res, seconds, false);
        let max_err = blocked.max_ms - blocked.true_block_ms;
        let util_err = blocked.utilization - blocked.true_busy;
        let ok = max_err.abs() <= 1.0 && idle.p50_ms < 0.2 && util_err.abs() <= 0.02;
        all_ok &= ok;
        println!(
            "{:<8} {:>3} ms  {:>7.3} ms {:>7.3} ms {:>+8.3}  {:>8.3} ms  {:>6.3} {:>6.3} {:>+7.3}  {}",
            "evloop",
            res_ms,
            blocked.max_ms,
            blocked.true_block_ms,
            max_err,
            idle.p50_ms,
            blocked.utilization,
            blocked.true_busy,
            util_err,
            verdict(ok)
        );
        match (node_run(res, seconds, true), node_run(res, seconds, false)) {
            (Some(blocked), Some(idle)) => println!(
                "{:<8} {:>3} ms  {:>7.3} ms {:>7.3} ms {:>+8.3}  {:>8.3} ms  {:>6.3} {:>6.3} {:>+7.3}",
                "node",
                res_ms,
                blocked.max_ms,
                blocked.true_block_ms,
                blocked.max_ms - blocked.true_block_ms,
                idle.p50_ms,
                blocked.utilization,
                blocked.true_busy,
                blocked.utilization - blocked.true_busy,
            ),
            _ => println!("{:<8} {:>3} ms  (node not found or failed)", "node", res_ms),
        }
    }
    println!(
        "targets (evloop): max lag within 1 ms of the true block, idle median < 0.2 ms, \
         utilization within 0.02 of the true busy fraction: {}",
        if all_ok { "met" } else { "MISSED" }
    );
}
