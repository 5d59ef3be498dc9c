//! The evloop side of the peer comparison (`bash benches/peers/run.sh`): the same workloads as
//! `benches/peers/{node,c}`, one per run, printing one line
//! `workload=<name> ops=<n> secs=<s> rate=<ops/s>`.
//!
//! Run one by hand: `cargo bench --bench peer_workloads -- loop_count [--quick]`.

use std::cell::Cell;
use std::process::ExitCode;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use evloop::dns::{self, Hints, SocketType};
use evloop::net::ReadEvent;
use evloop::process::{Command, Stdio};
use evloop::{Handle, Loop, Timer, fs};

type Workload = fn(u64) -> (u64, Duration);

const WORKLOADS: &[(&str, u64, Workload)] = &[
    ("loop_count", 10_000_000, loop_count),
    ("million_timers", 1_000_000, million_timers),
    ("posts", 1_000_000, posts),
    ("async_pummel", 1_000_000, async_pummel),
    ("async_pingpong", 100_000, async_pingpong),
    ("immediates", 1_000_000, immediates),
    ("next_tick", 1_000_000, next_tick),
    ("microtasks", 1_000_000, microtasks),
    ("timer_churn", 1_000_000, timer_churn),
    ("queue_work", 100_000, queue_work),
    ("fs_stat_1", 100_000, |n| fs_stat(n, 1)),
    ("fs_stat_4", 100_000, |n| fs_stat(n, 4)),
    ("fs_stat_16", 100_000, |n| fs_stat(n, 16)),
    ("fs_stat_32", 100_000, |n| fs_stat(n, 32)),
    ("getaddrinfo", 20_000, getaddrinfo),
    ("tcp_write_batch", 1_000_000, tcp_write_batch),
    ("spawn", 2_000, spawn),
    ("pipe_1g", 1024, pipe_1g),
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

/// A second thread sends to an async handle n times as fast as it can; the callback counts
/// wake-ups (stderr). After its last counted send the thread raises a flag and sends once more
/// (not counted); the callback that sees the flag stops the clock. As libuv's `async_pummel`.
fn async_pummel(n: u64) -> (u64, Duration) {
    let mut lp = new_loop();
    let finished = Arc::new(AtomicBool::new(false));
    let wakeups = Rc::new(Cell::new(0u64));
    let end = Rc::new(Cell::new(None));
    let (f, w, e) = (finished.clone(), wakeups.clone(), end.clone());
    let handle = lp.async_handle(move |lp, h| {
        w.set(w.get() + 1);
        if f.load(Ordering::Acquire) {
            e.set(Some(Instant::now()));
            h.close(lp, |_| {}).expect("close");
        }
    });
    let notifier = handle.notifier(&lp).expect("notifier");
    let start = Instant::now();
    let sender = std::thread::spawn(move || {
        for _ in 0..n {
            notifier.send().expect("send");
        }
        finished.store(true, Ordering::Release);
        notifier.send().expect("send");
    });
    lp.run().expect("run");
    sender.join().expect("sender");
    eprintln!("async_pummel: {n} sends, {} wake-ups", wakeups.get());
    (n, end.get().expect("the flag was seen") - start)
}

/// Two loops on two threads, each with an async handle; each callback sends to the other
/// loop's handle, n round trips in all (libuv's `async1` benchmark: the cost of a wake-up that
/// cannot coalesce).
fn async_pingpong(n: u64) -> (u64, Duration) {
    let (to_main_tx, to_main_rx) = std::sync::mpsc::channel::<evloop::Notifier>();
    let (to_worker_tx, to_worker_rx) = std::sync::mpsc::channel::<evloop::Notifier>();
    let worker = std::thread::spawn(move || {
        let mut lp = new_loop();
        let to_main: Rc<Cell<Option<evloop::Notifier>>> = Rc::default();
        let tm = to_main.clone();
        let handle = lp.async_handle(move |lp, h| {
            let Some(main) = tm.take() else { return };
            if main.send().is_err() {
                // The main side is done and closed its handle.
                h.close(lp, |_| {}).expect("close");
                return;
            }
            tm.set(Some(main));
        });
        to_main_tx
            .send(handle.notifier(&lp).expect("notifier"))
            .expect("hand over");
        to_main.set(Some(to_worker_rx.recv().expect("main's notifier")));
        lp.run().expect("run");
    });
    let mut lp = new_loop();
    let to_worker = to_main_rx.recv().expect("worker's notifier");
    let r = Rc::new(Cell::new(0u64));
    let end = Rc::new(Cell::new(None));
    let e = end.clone();
    let tw = to_worker.clone();
    let handle = lp.async_handle(move |lp, h| {
        r.set(r.get() + 1);
        if r.get() == n {
            e.set(Some(Instant::now()));
            h.close(lp, |_| {}).expect("close");
        }
        // After the close this send lets the worker see the closed handle and stop.
        tw.send().expect("send");
    });
    to_worker_tx
        .send(handle.notifier(&lp).expect("notifier"))
        .expect("hand over");
    let start = Instant::now();
    to_worker.send().expect("first send");
    lp.run().expect("run");
    worker.join().expect("worker");
    (n, end.get().expect("all rounds ran") - start)
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

/// Requests issued and completed by a workload that keeps a fixed number in flight, and when
/// the last one completed.
struct Progress {
    n: u64,
    issued: Cell<u64>,
    done: Cell<u64>,
    end: Cell<Option<Instant>>,
}

impl Progress {
    fn new(n: u64) -> Rc<Self> {
        Rc::new(Self {
            n,
            issued: Cell::new(0),
            done: Cell::new(0),
            end: Cell::new(None),
        })
    }

    /// Counts an issued request; false once all n are issued.
    fn issue(&self) -> bool {
        if self.issued.get() == self.n {
            return false;
        }
        self.issued.set(self.issued.get() + 1);
        true
    }

    /// Counts a completion, stopping the clock at the last.
    fn complete(&self) {
        self.done.set(self.done.get() + 1);
        if self.done.get() == self.n {
            self.end.set(Some(Instant::now()));
        }
    }

    /// Runs `lp` with `in_flight` requests started by `issue`; returns (completions, time).
    fn run(
        self: &Rc<Self>,
        lp: &mut Loop,
        in_flight: u64,
        issue: fn(&mut Loop, Rc<Self>),
    ) -> (u64, Duration) {
        let start = Instant::now();
        for _ in 0..in_flight {
            if self.issue() {
                issue(lp, Rc::clone(self));
            }
        }
        lp.run().expect("run");
        let end = self.end.get().expect("all requests completed");
        assert_eq!(self.done.get(), self.n);
        (self.n, end - start)
    }
}

/// One no-op job, re-queued from its own completion until it completed n times.
fn queue_work(n: u64) -> (u64, Duration) {
    fn requeue(lp: &mut Loop, progress: Rc<Progress>) {
        lp.queue_work(
            || (),
            move |lp, r| {
                r.expect("job");
                progress.complete();
                if progress.issue() {
                    requeue(lp, progress);
                }
            },
        );
    }
    Progress::new(n).run(&mut new_loop(), 1, requeue)
}

/// n stats of /etc/hostname with `in_flight` requests outstanding; each completion issues the next.
fn fs_stat(n: u64, in_flight: u64) -> (u64, Duration) {
    fn issue(lp: &mut Loop, progress: Rc<Progress>) {
        fs::stat(lp, "/etc/hostname", move |lp, r| {
            r.expect("stat");
            progress.complete();
            if progress.issue() {
                issue(lp, progress);
            }
        });
    }
    Progress::new(n).run(&mut new_loop(), in_flight, issue)
}

/// n lookups of `localhost` (AF_UNSPEC, SOCK_STREAM, no service), 10 in flight.
fn getaddrinfo(n: u64) -> (u64, Duration) {
    fn issue(lp: &mut Loop, progress: Rc<Progress>) {
        let hints = Hints {
            socktype: SocketType::Stream,
            ..Hints::default()
        };
        dns::getaddrinfo(lp, "localhost", "", hints, move |lp, r| {
            assert!(!r.expect("lookup").is_empty());
            progress.complete();
            if progress.issue() {
                issue(lp, progress);
            }
        });
    }
    Progress::new(n).run(&mut new_loop(), 10, issue)
}

thread_local! {
    /// Write callbacks run in `tcp_write_batch` (a counter the callbacks need not capture, so a
    /// write's callback box allocates nothing, as libuv's static `write_cb`).
    static WRITES_DONE: Cell<u64> = const { Cell::new(0) };
}

/// libuv's tcp_write_batch: n writes of the 13 bytes "Hello, world." on one connected stream,
/// then shutdown and close, timed from the first write to the close callback. The peer is a
/// thread reading until EOF (libuv's uses a blackhole server process).
fn tcp_write_batch(n: u64) -> (u64, Duration) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind reader");
    let addr = listener.local_addr().expect("reader address");
    let reader = std::thread::spawn(move || {
        let (mut conn, _) = listener.accept().expect("accept");
        std::io::copy(&mut conn, &mut std::io::sink()).expect("read until EOF")
    });
    let mut lp = new_loop();
    let times = Rc::new(Cell::new(None));
    let t = times.clone();
    lp.tcp_connect(addr, move |lp, stream, r| {
        r.expect("connect");
        let start = Instant::now();
        for _ in 0..n {
            stream
                .write(lp, &b"Hello, world."[..], |_, r| {
                    r.expect("write");
                    WRITES_DONE.with(|w| w.set(w.get() + 1));
                })
                .expect("write");
        }
        stream
            .shutdown(lp, move |lp, r| {
                r.expect("shutdown");
                stream
                    .close(lp, move |_| t.set(Some((start, Instant::now()))))
                    .expect("close");
            })
            .expect("shutdown");
    })
    .expect("connect");
    lp.run().expect("run");
    let (start, end) = times.get().expect("closed");
    assert_eq!(WRITES_DONE.with(Cell::get), n);
    assert_eq!(reader.join().expect("reader"), n * 13);
    (n, end - start)
}

/// libuv's spawn benchmark, on `true`: n children one after another, each spawned from the
/// previous one's exit callback (stdio ignored), each closed in its exit callback.
fn spawn(n: u64) -> (u64, Duration) {
    fn next(lp: &mut Loop, cmd: Rc<Command>, left: Rc<Cell<u64>>) {
        if left.get() == 0 {
            return;
        }
        left.set(left.get() - 1);
        let c = Rc::clone(&cmd);
        lp.spawn(&cmd, move |lp, p, status| {
            assert!(status.success(), "{status}");
            p.close(lp, |_| {}).expect("close");
            next(lp, c, left);
        })
        .expect("spawn true");
    }
    let mut lp = new_loop();
    let mut cmd = Command::new("true");
    cmd.stdin(Stdio::Ignore)
        .stdout(Stdio::Ignore)
        .stderr(Stdio::Ignore);
    let start = Instant::now();
    next(&mut lp, Rc::new(cmd), Rc::new(Cell::new(n)));
    lp.run().expect("run");
    (n, start.elapsed())
}

/// Pipe throughput from a child: `head -c <n MiB> /dev/zero` read through its stdout pipe
/// until EOF and its exit. ops = MiB.
fn pipe_1g(mib: u64) -> (u64, Duration) {
    let mut lp = new_loop();
    let total = Rc::new(Cell::new(0u64));
    let mut cmd = Command::new("head");
    cmd.args(["-c", &(mib << 20).to_string(), "/dev/zero"])
        .stdin(Stdio::Ignore)
        .stdout(Stdio::Pipe);
    let start = Instant::now();
    let child = lp
        .spawn(&cmd, |lp, p, status| {
            assert!(status.success(), "{status}");
            p.close(lp, |_| {}).expect("close");
        })
        .expect("spawn head");
    let t = Rc::clone(&total);
    child
        .stdout()
        .expect("a stdout pipe")
        .read_start(&mut lp, move |lp, pipe, ev| match ev {
            ReadEvent::Data(b) => t.set(t.get() + b.len() as u64),
            ReadEvent::Eof => pipe.close(lp, |_| {}).expect("close"),
            ReadEvent::Error(e) => panic!("read: {e}"),
        })
        .expect("read");
    lp.run().expect("run");
    let elapsed = start.elapsed();
    assert_eq!(total.get(), mib << 20);
    (mib, elapsed)
}
