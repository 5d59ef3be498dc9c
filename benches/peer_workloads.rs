//! The evloop side of the peer comparison (`bash benches/peers/run.sh`): the same workloads as
//! `benches/peers/{node,c}`, one per run, printing one line
//! `workload=<name> ops=<n> secs=<s> rate=<ops/s>`.
//!
//! Run one by hand: `cargo bench --bench peer_workloads -- loop_count [--quick]`.

use std::cell::Cell;
use std::process::ExitCode;
use std::rc::Rc;
use std::time::{Duration, Instant};

use evloop::{Handle, Loop, Timer};

type Workload = fn(u64) -> (u64, Duration);

const WORKLOADS: &[(&str, u64, Workload)] = &[
    ("loop_count", 10_000_000, loop_count),
    ("million_timers", 1_000_000, million_timers),
    ("posts", 1_000_000, posts),
    ("immediates", 1_000_000, immediates),
    ("next_tick", 1_000_000, next_tick),
    ("microtasks", 1_000_000, microtasks),
    ("timer_churn", 1_000_000, timer_churn),
];

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let quick = args.iter().any(|a| a == "--quick");
    // `cargo bench` passes `--bench`; ignore flags we do not know.
    let names: Vec<&str> = args
        .iter()
        .filter(|a| !a.starts_with("--"))
        .map(String::as_str)
        .collect();
    if names.is_empty() {
        eprintln!(
            "usage: peer_workloads <workload>... [--quick]; workloads: {}",
            WORKLOADS.iter().map(|w| w.0).collect::<Vec<_>>().join(" ")
        );
        return ExitCode::from(2);
    }
    for name in names {
        let Some((_, n, run)) = WORKLOADS.iter().find(|w| w.0 == name) else {
            eprintln!("unknown workload {name}");
            return ExitCode::from(2);
        };
        let n = if quick { n / 10 } else { *n };
        let (ops, elapsed) = run(n);
        let secs = elapsed.as_secs_f64();
        println!(
            "workload={name} ops={ops} secs={secs:.6} rate={:.1}",
            ops as f64 / secs
        );
    }
    ExitCode::SUCCESS
}

fn new_loop() -> Loop {
    Loop::new().expect("create loop")
}

/// One idle watcher counting to n, then stopping itself.
fn loop_count(n: u64) -> (u64, Duration) {
    let mut lp = new_loop();
    let count = Rc::new(Cell::new(0u64));
    let c = count.clone();
    lp.add_idle(move |lp, idle| {
        c.set(c.get() + 1);
        if c.get() == n {
            idle.close(lp, |_| {}).expect("close idle");
        }
    });
    let start = Instant::now();
    lp.run().expect("run");
    (count.get(), start.elapsed())
}

/// n one-shot timers, timeout 1 ms for the first 1000, 2 ms for the next 1000...; start all,
/// run until all fired. (A fired one-shot is released, which is libuv's close step.) Measured in
/// CPU time of the loop thread, as on the peers: the wall time is the 1 s wait for the last one.
fn million_timers(n: u64) -> (u64, Duration) {
    let mut lp = new_loop();
    let fired = Rc::new(Cell::new(0u64));
    let start = thread_cpu_time();
    let mut timeout = 0;
    for i in 0..n {
        if i % 1000 == 0 {
            timeout += 1;
        }
        let f = fired.clone();
        lp.set_timeout(Duration::from_millis(timeout), move |_, _| {
            f.set(f.get() + 1)
        });
    }
    lp.run().expect("run");
    assert_eq!(fired.get(), n);
    (n, thread_cpu_time() - start)
}

/// CPU time of the calling thread (on-CPU ns from `/proc/thread-self/schedstat`), or of the
/// process from `/proc/self/stat` (10 ms ticks) where schedstat is missing.
fn thread_cpu_time() -> Duration {
    if let Ok(s) = std::fs::read_to_string("/proc/thread-self/schedstat")
        && let Some(ns) = s.split_whitespace().next().and_then(|f| f.parse().ok())
    {
        return Duration::from_nanos(ns);
    }
    let stat = std::fs::read_to_string("/proc/self/stat").expect("read /proc/self/stat");
    // Fields after the parenthesised command name: utime and stime are the 12th and 13th.
    let after = &stat[stat.rfind(')').expect("stat format") + 2..];
    let fields: Vec<u64> = after
        .split_whitespace()
        .map(|f| f.parse().unwrap_or(0))
        .collect();
    Duration::from_millis((fields[11] + fields[12]) * 10)
}

/// One producer thread posts n closures; the loop runs each.
fn posts(n: u64) -> (u64, Duration) {
    let mut lp = new_loop();
    let sender = lp.sender();
    let start = Instant::now();
    let producer = std::thread::spawn(move || {
        for _ in 0..n {
            sender
                .post(|lp| {
                    COUNT.with(|c| c.set(c.get() + 1));
                    let _ = lp;
                })
                .expect("post");
        }
    });
    thread_local!(static COUNT: Cell<u64> = const { Cell::new(0) });
    lp.run().expect("run");
    let elapsed = start.elapsed();
    producer.join().expect("producer");
    assert_eq!(COUNT.with(Cell::get), n);
    (n, elapsed)
}

/// From one callback, queue n immediates each bumping a counter.
fn immediates(n: u64) -> (u64, Duration) {
    queue_from_one_callback(n, |lp, c| {
        lp.set_immediate(move |_| c.set(c.get() + 1));
    })
}

/// From one callback, queue n next-ticks.
fn next_tick(n: u64) -> (u64, Duration) {
    queue_from_one_callback(n, |lp, c| lp.next_tick(move |_| c.set(c.get() + 1)))
}

/// From one callback, queue n microtasks.
fn microtasks(n: u64) -> (u64, Duration) {
    queue_from_one_callback(n, |lp, c| lp.queue_microtask(move |_| c.set(c.get() + 1)))
}

/// Queues n callbacks from inside a 0 ms timer; the clock runs from the start of that callback
/// to the end of the run (the last queued callback).
fn queue_from_one_callback(
    n: u64,
    queue: impl Fn(&mut Loop, Rc<Cell<u64>>) + 'static,
) -> (u64, Duration) {
    let mut lp = new_loop();
    let count = Rc::new(Cell::new(0u64));
    let c = count.clone();
    let start = Rc::new(Cell::new(None));
    let s = start.clone();
    lp.set_timeout(Duration::ZERO, move |lp, _| {
        s.set(Some(Instant::now()));
        for _ in 0..n {
            queue(lp, c.clone());
        }
    });
    lp.run().expect("run");
    let elapsed = start.get().expect("timer ran").elapsed();
    assert_eq!(count.get(), n);
    (n, elapsed)
}

/// 10 000 timers of 5 s; n ops: refresh timer i % 10 000, every 10th op clear it and start a
/// new one in its place; then clear all.
fn timer_churn(n: u64) -> (u64, Duration) {
    let mut lp = new_loop();
    let mut timers: Vec<Timer> = (0..10_000)
        .map(|_| lp.set_timeout(Duration::from_secs(5), |_, _| {}))
        .collect();
    let start = Instant::now();
    for i in 0..n as usize {
        let slot = i % timers.len();
        if i % 10 == 9 {
            timers[slot].clear(&mut lp);
            timers[slot] = lp.set_timeout(Duration::from_secs(5), |_, _| {});
        } else {
            timers[slot].refresh(&mut lp).expect("refresh");
        }
    }
    for t in timers {
        t.clear(&mut lp);
    }
    let elapsed = start.elapsed();
    lp.run().expect("run");
    (n, elapsed)
}
