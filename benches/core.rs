//! Criterion benchmarks of the core loop, mirroring libuv's `loop_count`, `million_timers` and
//! `async_pummel`, plus Node's immediates / next-ticks / microtasks and timer churn.
//! The cross-runtime comparison lives in `peer_workloads.rs` + `benches/peers/run.sh`.
//! Not on macOS: criterion's `alloca` dependency needs an Apple C compiler to build, so the
//! dev-dependency is gated off there (Cargo.toml) and this bench is an empty program.

#[cfg(not(target_os = "macos"))]
use std::cell::Cell;
#[cfg(not(target_os = "macos"))]
use std::rc::Rc;
#[cfg(not(target_os = "macos"))]
use std::sync::Arc;
#[cfg(not(target_os = "macos"))]
use std::sync::atomic::{AtomicBool, Ordering};
#[cfg(not(target_os = "macos"))]
use std::time::Duration;

#[cfg(not(target_os = "macos"))]
use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
#[cfg(not(target_os = "macos"))]
use evloop::{Handle, Loop};

#[cfg(not(target_os = "macos"))]
fn loop_count(c: &mut Criterion) {
    const N: u64 = 100_000;
    let mut g = c.benchmark_group("loop_count");
    g.throughput(Throughput::Elements(N));
    g.bench_function("idle_callbacks", |b| {
        b.iter_batched(
            || Loop::new().expect("loop"),
            |mut lp| {
                let count = Rc::new(Cell::new(0u64));
                lp.add_idle(move |lp, idle| {
                    count.set(count.get() + 1);
                    if count.get() == N {
                        idle.close(lp, |_| {}).expect("close");
                    }
                });
                lp.run().expect("run");
            },
            BatchSize::PerIteration,
        );
    });
    g.finish();
}

#[cfg(not(target_os = "macos"))]
fn timers(c: &mut Criterion) {
    const N: u64 = 100_000;
    let mut g = c.benchmark_group("timers");
    g.throughput(Throughput::Elements(N));
    g.sample_size(10);
    g.bench_function("start_and_fire_100k_spread", |b| {
        b.iter_batched(
            || Loop::new().expect("loop"),
            |mut lp| {
                // 1000 timers per distinct deadline of 0..100 µs: fire without sleeping long.
                for i in 0..N {
                    lp.set_timeout(Duration::from_micros(i / 1000), |_, _| {});
                }
                lp.run().expect("run");
            },
            BatchSize::PerIteration,
        );
    });
    g.bench_function("churn_100k_refresh_clear", |b| {
        b.iter_batched(
            || {
                let mut lp = Loop::new().expect("loop");
                let timers: Vec<_> = (0..10_000)
                    .map(|_| lp.set_timeout(Duration::from_secs(5), |_, _| {}))
                    .collect();
                (lp, timers)
            },
            |(mut lp, mut timers)| {
                for i in 0..N as usize {
                    let slot = i % timers.len();
                    if i % 10 == 9 {
                        timers[slot].clear(&mut lp);
                        timers[slot] = lp.set_timeout(Duration::from_secs(5), |_, _| {});
                    } else {
                        timers[slot].refresh(&mut lp).expect("refresh");
                    }
                }
                (lp, timers)
            },
            BatchSize::PerIteration,
        );
    });
    g.finish();
}

#[cfg(not(target_os = "macos"))]
fn queues(c: &mut Criterion) {
    const N: u64 = 100_000;
    let mut g = c.benchmark_group("queues");
    g.throughput(Throughput::Elements(N));
    type Queue = fn(&mut Loop, Rc<Cell<u64>>);
    let cases: [(&str, Queue); 3] = [
        ("immediates", |lp, c| {
            lp.set_immediate(move |_| c.set(c.get() + 1));
        }),
        ("next_ticks", |lp, c| {
            lp.next_tick(move |_| c.set(c.get() + 1))
        }),
        ("microtasks", |lp, c| {
            lp.queue_microtask(move |_| c.set(c.get() + 1))
        }),
    ];
    for (name, queue) in cases {
        g.bench_function(name, |b| {
            b.iter_batched(
                || Loop::new().expect("loop"),
                |mut lp| {
                    let count = Rc::new(Cell::new(0u64));
                    let c = count.clone();
                    lp.set_immediate(move |lp| {
                        for _ in 0..N {
                            queue(lp, c.clone());
                        }
                    });
                    lp.run().expect("run");
                    assert_eq!(count.get(), N);
                },
                BatchSize::PerIteration,
            );
        });
    }
    g.finish();
}

#[cfg(not(target_os = "macos"))]
fn posts(c: &mut Criterion) {
    const N: u64 = 100_000;
    let mut g = c.benchmark_group("cross_thread");
    g.throughput(Throughput::Elements(N));
    g.sample_size(20);
    g.bench_function("posts_from_one_thread", |b| {
        b.iter_batched(
            || Loop::new().expect("loop"),
            |mut lp| {
                let sender = lp.sender();
                let t = std::thread::spawn(move || {
                    for _ in 0..N {
                        sender.post(|_| {}).expect("post");
                    }
                });
                lp.run().expect("run");
                t.join().expect("producer");
            },
            BatchSize::PerIteration,
        );
    });
    g.finish();
}

/// libuv's `async_pummel` beside the posts: one thread sends to an async handle as fast as it
/// can (the sends coalesce), and the loop counts the wake-ups until the thread's last send.
#[cfg(not(target_os = "macos"))]
fn async_sends(c: &mut Criterion) {
    const N: u64 = 100_000;
    let mut g = c.benchmark_group("cross_thread");
    g.throughput(Throughput::Elements(N));
    g.sample_size(20);
    g.bench_function("async_sends_from_one_thread", |b| {
        b.iter_batched(
            || Loop::new().expect("loop"),
            |mut lp| {
                let done = Arc::new(AtomicBool::new(false));
                let seen = done.clone();
                let handle = lp.async_handle(move |lp, h| {
                    if seen.load(Ordering::Acquire) {
                        h.close(lp, |_| {}).expect("close");
                    }
                });
                let notifier = handle.notifier(&lp).expect("notifier");
                let t = std::thread::spawn(move || {
                    for _ in 0..N {
                        notifier.send().expect("send");
                    }
                    done.store(true, Ordering::Release);
                    notifier.send().expect("send");
                });
                lp.run().expect("run");
                t.join().expect("sender");
            },
            BatchSize::PerIteration,
        );
    });
    g.finish();
}

#[cfg(not(target_os = "macos"))]
criterion_group!(benches, loop_count, timers, queues, posts, async_sends);
#[cfg(not(target_os = "macos"))]
criterion_main!(benches);

#[cfg(target_os = "macos")]
fn main() {
    eprintln!("benches/core: criterion is not built on macOS (see Cargo.toml)");
}
