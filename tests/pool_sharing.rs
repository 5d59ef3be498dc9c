//! The shared pool: DNS cannot starve file work, many loops share it, and it exits with them.
mod util;

use std::cell::Cell;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, mpsc};
use std::time::{Duration, Instant};

use evloop::dns::{self, Hints, SocketType};
use evloop::{Loop, WorkClass, fs};
use util::{Counter, assert_clean, with_timeout};

#[test]
fn a_blocked_dns_job_does_not_stop_file_jobs() {
    with_timeout(30, || {
        // Two workers: DNS may hold one, so the other is always there for files.
        let mut lp = Loop::builder().threadpool_size(2).build().unwrap();
        let (started_tx, started_rx) = mpsc::channel();
        let (release_tx, release_rx) = mpsc::channel::<()>();
        let dns_blocked = Arc::new(AtomicBool::new(true));
        let blocked = dns_blocked.clone();
        lp.queue_work_in(
            WorkClass::SlowIo,
            move || {
                started_tx.send(()).unwrap();
                release_rx.recv_timeout(Duration::from_secs(20)).unwrap();
                blocked.store(false, Ordering::SeqCst);
            },
            |_, r| r.unwrap(),
        );
        started_rx.recv_timeout(Duration::from_secs(10)).unwrap();
        // A second lookup waits for the one DNS slot; it must not take the file worker either.
        let lookup_done = Counter::new();
        let l = lookup_done.clone();
        let hints = Hints::default();
        dns::getaddrinfo(&mut lp, "localhost", "", hints, move |_, r| {
            r.unwrap();
            l.inc();
        });
        const FILES: usize = 20;
        let files_done = Counter::new();
        let release = Rc::new(Cell::new(Some(release_tx)));
        for _ in 0..FILES {
            let (f, d, release) = (files_done.clone(), dns_blocked.clone(), release.clone());
            fs::stat(&mut lp, some_file(), move |_, r| {
                r.unwrap();
                assert!(
                    d.load(Ordering::SeqCst),
                    "file jobs finish while DNS is blocked"
                );
                if f.inc() == FILES {
                    release.take().unwrap().send(()).unwrap();
                }
            });
        }
        lp.run().unwrap();
        assert_eq!((files_done.get(), lookup_done.get()), (FILES, 1));
        assert!(!dns_blocked.load(Ordering::SeqCst));
        assert_clean(&lp);
    });
}

#[test]
fn eight_loops_on_eight_threads_share_the_pool() {
    with_timeout(60, || {
        let threads: Vec<_> = (0..8)
            .map(|_| {
                std::thread::spawn(|| {
                    let mut lp = Loop::builder().threadpool_size(4).build().unwrap();
                    let (stats, lookups) = (Counter::new(), Counter::new());
                    chain_stats(&mut lp, stats.clone());
                    chain_lookups(&mut lp, lookups.clone());
                    lp.run().unwrap();
                    assert_eq!((stats.get(), lookups.get()), (16, 16));
                    assert_eq!(lp.pool_stats().map(|s| s.threads), Some(4));
                    assert_clean(&lp);
                })
            })
            .collect();
        for thread in threads {
            thread.join().unwrap();
        }
    });
}

/// A file that exists on every platform: this test program.
fn some_file() -> std::path::PathBuf {
    std::env::current_exe().expect("the test program's path")
}

/// Issues one stat, and the next from its callback, until 16 have completed.
fn chain_stats(lp: &mut Loop, done: Counter) {
    fs::stat(lp, some_file(), move |lp, r| {
        assert!(r.unwrap().is_file());
        if done.inc() < 16 {
            chain_stats(lp, done);
        }
    });
}

/// Issues one lookup of `localhost`, and the next from its callback, until 16 have completed.
fn chain_lookups(lp: &mut Loop, done: Counter) {
    let hints = Hints {
        socktype: SocketType::Stream,
        ..Hints::default()
    };
    dns::getaddrinfo(lp, "localhost", "", hints, move |lp, r| {
        assert!(r.unwrap().iter().all(|a| a.ip().is_loopback()));
        if done.inc() < 16 {
            chain_lookups(lp, done);
        }
    });
}

/// Worker threads of this process, by the name prefix the pool gives them.
fn pool_threads() -> usize {
    let tasks = std::fs::read_dir("/proc/self/task").expect("/proc/self/task is readable");
    tasks
        .filter_map(|task| std::fs::read_to_string(task.ok()?.path().join("comm")).ok())
        .filter(|comm| comm.starts_with("evloop-pool"))
        .count()
}

#[test]
#[cfg_attr(
    windows,
    ignore = "counts the pool's threads in Linux's /proc/self/task"
)]
fn dropping_the_last_loop_lets_the_pool_threads_exit() {
    // Other tests' pools live in this process too: check in a child process running only this.
    if std::env::var_os("EVLOOP_POOL_EXIT_CHILD").is_some() {
        let mut lp = Loop::builder().threadpool_size(5).build().unwrap();
        assert_eq!(pool_threads(), 0, "the pool starts on first use");
        let stats = Counter::new();
        let s = stats.clone();
        fs::stat(&mut lp, some_file(), move |_, r| {
            r.unwrap();
            s.inc();
        });
        lp.queue_work(|| 6 * 7, |_, r| assert_eq!(r.unwrap(), 42));
        lp.run().unwrap();
        assert_eq!(stats.get(), 1);
        // A worker names itself once it runs: under load that can trail the spawn a little.
        let deadline = Instant::now() + Duration::from_secs(5);
        while pool_threads() < 5 {
            assert!(
                Instant::now() < deadline,
                "only {} pool threads",
                pool_threads()
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        assert_eq!(pool_threads(), 5);
        assert_clean(&lp);
        drop(lp);
        let deadline = Instant::now() + Duration::from_secs(5);
        while pool_threads() > 0 {
            assert!(
                Instant::now() < deadline,
                "{} pool threads left",
                pool_threads()
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        return;
    }
    let output = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "dropping_the_last_loop_lets_the_pool_threads_exit",
            "--quiet",
            "--test-threads=1",
        ])
        .env("EVLOOP_POOL_EXIT_CHILD", "1")
        .env_remove("EVLOOP_THREADPOOL_SIZE")
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains("1 passed"),
        "the child ran the test: {stdout}"
    );
}
