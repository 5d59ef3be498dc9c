//! The futures workloads of `benches/task_bench.sh`, for evloop and its peer tokio, in one
//! binary so both sides share a build and a process shape:
//!
//! ```text
//! task_workloads await --side evloop --n 2000000   # one task awaiting n futures that each complete after one wake
//! task_workloads spawn --side tokio --n 200000     # n tasks spawned, run until all completed
//! ```
//!
//! Prints `workload=<mode> side=<side> n=<n> ns=<total> ns_per_op=<x>`.

use std::future::Future;
use std::pin::Pin;
use std::process::ExitCode;
use std::task::{Context, Poll};
use std::time::Instant;

/// Completes after one wake of its own: the unit of an await chain (as `await null` in JS).
struct OneWake(bool);

impl Future for OneWake {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.0 {
            return Poll::Ready(());
        }
        self.0 = true;
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mode = args.first().cloned().unwrap_or_default();
    let mut side = "evloop".to_owned();
    let mut n: u64 = 1_000_000;
    let mut it = args.iter().skip(1);
    while let Some(flag) = it.next() {
        let Some(value) = it.next() else {
            eprintln!("{flag} needs a value");
            return ExitCode::from(2);
        };
        match flag.as_str() {
            "--side" => side = value.clone(),
            "--n" => match value.parse() {
                Ok(v) => n = v,
                Err(e) => {
                    eprintln!("--n {value}: {e}");
                    return ExitCode::from(2);
                }
            },
            _ => {
                eprintln!("unknown flag {flag}");
                return ExitCode::from(2);
            }
        }
    }
    let ns = match (mode.as_str(), side.as_str()) {
        ("await", "evloop") => evloop_await(n),
        ("await", "tokio") => tokio_await(n),
        ("spawn", "evloop") => evloop_spawn(n),
        ("spawn", "tokio") => tokio_spawn(n),
        _ => {
            eprintln!("usage: task_workloads await|spawn --side evloop|tokio --n N");
            return ExitCode::from(2);
        }
    };
    println!(
        "workload={mode} side={side} n={n} ns={ns} ns_per_op={:.2}",
        ns as f64 / n.max(1) as f64
    );
    ExitCode::SUCCESS
}

fn evloop_await(n: u64) -> u128 {
    let mut lp = evloop::Loop::new().expect("loop");
    let start = Instant::now();
    lp.block_on(async move {
        for _ in 0..n {
            OneWake(false).await;
        }
    })
    .expect("block_on");
    start.elapsed().as_nanos()
}

fn tokio_await(n: u64) -> u128 {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    let local = tokio::task::LocalSet::new();
    let start = Instant::now();
    local.block_on(&rt, async move {
        for _ in 0..n {
            OneWake(false).await;
        }
    });
    start.elapsed().as_nanos()
}

fn evloop_spawn(n: u64) -> u128 {
    let mut lp = evloop::Loop::new().expect("loop");
    let start = Instant::now();
    for i in 0..n {
        lp.spawn_local(async move { std::hint::black_box(i) })
            .detach();
    }
    lp.run().expect("run");
    assert_eq!(lp.task_count(), 0);
    start.elapsed().as_nanos()
}

fn tokio_spawn(n: u64) -> u128 {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    let local = tokio::task::LocalSet::new();
    let start = Instant::now();
    for i in 0..n {
        drop(local.spawn_local(async move { std::hint::black_box(i) }));
    }
    rt.block_on(local);
    start.elapsed().as_nanos()
}
