//! queue_work: results, panics, cancellation, liveness.
mod util;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use evloop::{Error, Loop};
use util::{Counter, assert_clean, with_timeout};

#[test]
fn simple_work_runs_once_and_done_gets_the_value_once() {
    with_timeout(30, || {
        let mut lp = Loop::builder().threadpool_size(3).build().unwrap();
        let runs = Arc::new(AtomicUsize::new(0));
        let dones = Counter::new();
        let r = runs.clone();
        let d = dones.clone();
        lp.queue_work(
            move || {
                r.fetch_add(1, Ordering::SeqCst);
                21 * 2
            },
            move |_, result| {
                assert_eq!(result.unwrap(), 42);
                d.inc();
            },
        );
        assert!(lp.alive(), "in-flight work keeps the loop alive");
        lp.run().unwrap();
        assert_eq!(runs.load(Ordering::SeqCst), 1);
        assert_eq!(dones.get(), 1);
        assert_clean(&lp);
    });
}

#[test]
fn canceling_16_jobs_queued_behind_a_saturated_pool_of_4() {
    with_timeout(30, || {
        let mut lp = Loop::builder().threadpool_size(4).build().unwrap();
        // CPU work may hold three of the four workers (one stays free for file work): three
        // blockers saturate it.
        let gate = Arc::new(Barrier::new(4));
        let started = Arc::new(Barrier::new(4));
        let blocked: Vec<_> = (0..3)
            .map(|_| {
                let (g, s) = (gate.clone(), started.clone());
                lp.queue_work(
                    move || {
                        s.wait();
                        g.wait();
                        "blocker"
                    },
                    |_, r| assert_eq!(r.unwrap(), "blocker"),
                )
            })
            .collect();
        started.wait(); // every CPU slot is inside a blocker
        let ran = Arc::new(AtomicUsize::new(0));
        let canceled = Counter::new();
        let queued: Vec<_> = (0..16)
            .map(|_| {
                let r = ran.clone();
                let c = canceled.clone();
                lp.queue_work(
                    move || {
                        r.fetch_add(1, Ordering::SeqCst);
                    },
                    move |_, result| {
                        assert!(matches!(result, Err(Error::Canceled)), "{result:?}");
                        c.inc();
                    },
                )
            })
            .collect();
        for req in &queued {
            lp.cancel(*req).unwrap();
        }
        assert_eq!(
            canceled.get(),
            0,
            "cancel callbacks never run inside cancel()"
        );
        // A running job cannot be canceled: busy, and its callback gets the value later.
        assert!(matches!(lp.cancel(blocked[0]), Err(Error::Busy)));
        gate.wait();
        lp.run().unwrap();
        assert_eq!(canceled.get(), 16);
        assert_eq!(ran.load(Ordering::SeqCst), 0, "no canceled work ran");
        assert!(matches!(lp.cancel(queued[0]), Err(Error::StaleHandle)));
        assert_clean(&lp);
    });
}

#[test]
fn a_panicking_job_reports_its_message_and_the_next_100_jobs_run() {
    with_timeout(30, || {
        let mut lp = Loop::builder().threadpool_size(2).build().unwrap();
        let outcome = Arc::new(std::sync::Mutex::new(None));
        let o = outcome.clone();
        lp.queue_work(
            || -> u32 { panic!("job exploded") },
            move |_, result| *o.lock().unwrap() = Some(result),
        );
        let ok = Counter::new();
        for i in 0..100u32 {
            let ok = ok.clone();
            lp.queue_work(
                move || i * 2,
                move |_, r| {
                    assert_eq!(r.unwrap(), i * 2);
                    ok.inc();
                },
            );
        }
        lp.run().unwrap();
        match outcome.lock().unwrap().take() {
            Some(Err(Error::Panicked(msg))) => assert!(msg.contains("job exploded"), "{msg}"),
            other => panic!("unexpected outcome {other:?}"),
        }
        assert_eq!(ok.get(), 100);
        assert_clean(&lp);
    });
}

#[test]
fn a_10ms_timer_fires_on_time_while_the_pool_runs_eight_200ms_jobs() {
    with_timeout(30, || {
        let mut lp = Loop::builder().threadpool_size(5).build().unwrap();
        for _ in 0..8 {
            lp.queue_work(
                || std::thread::sleep(Duration::from_millis(200)),
                |_, r| r.unwrap(),
            );
        }
        let fired_after = std::rc::Rc::new(std::cell::Cell::new(None));
        let f = fired_after.clone();
        let start = Instant::now();
        lp.set_timeout(Duration::from_millis(10), move |_, _| {
            f.set(Some(start.elapsed()))
        });
        lp.run().unwrap();
        let late = fired_after.get().unwrap();
        assert!(
            late < Duration::from_millis(100),
            "timer fired after {late:?}"
        );
        assert!(
            start.elapsed() >= Duration::from_millis(400),
            "8 jobs on 5 threads: two rounds"
        );
        assert_clean(&lp);
    });
}

#[test]
fn an_invalid_pool_size_is_an_error_not_a_default() {
    let err = Loop::builder().threadpool_size(0).build().unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
    let err = Loop::builder().threadpool_size(1025).build().unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
}

#[test]
fn a_bad_evloop_threadpool_size_fails_loop_creation() {
    // The environment is process-wide: check it in a child process running one test.
    if std::env::var_os("EVLOOP_WORK_CHILD").is_some() {
        let err = Loop::new().unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
        assert!(err.to_string().contains("EVLOOP_THREADPOOL_SIZE"), "{err}");
        return;
    }
    for bad in ["0", "abc", "", "1025", "-1"] {
        let status = std::process::Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "a_bad_evloop_threadpool_size_fails_loop_creation",
                "--quiet",
            ])
            .env("EVLOOP_WORK_CHILD", "1")
            .env("EVLOOP_THREADPOOL_SIZE", bad)
            .output()
            .unwrap();
        assert!(status.status.success(), "value {bad:?}: {status:?}");
    }
}

// Unix only: the file job it needs is `evloop::fs`, which Windows does not have yet.
#[cfg(unix)]
#[test]
fn cpu_work_never_holds_the_last_worker_and_cancel_queued_work_cancels_the_waiting_jobs() {
    with_timeout(30, || {
        const SIZE: usize = 6; // no other test in this binary uses this size
        let mut lp = Loop::builder().threadpool_size(SIZE).build().unwrap();
        let running = Arc::new(AtomicUsize::new(0));
        let release = Arc::new(Barrier::new(SIZE));
        let outcomes = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
        // Five blockers take the five CPU slots; five more CPU jobs must wait for one.
        for _ in 0..2 * (SIZE - 1) {
            let (n, r) = (running.clone(), release.clone());
            let o = outcomes.clone();
            lp.queue_work(
                move || {
                    n.fetch_add(1, Ordering::SeqCst);
                    r.wait();
                },
                move |_, r: evloop::Result<()>| o.borrow_mut().push(r.map_err(|e| e.is_canceled())),
            );
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        while running.load(Ordering::SeqCst) < SIZE - 1 {
            assert!(Instant::now() < deadline, "the blockers never started");
            std::thread::sleep(Duration::from_millis(1));
        }
        // The sixth worker is free for file work while every CPU slot is held.
        let read = std::rc::Rc::new(std::cell::RefCell::new(None));
        let r = read.clone();
        evloop::fs::read_file(&mut lp, "/proc/self/stat", move |_, got| {
            *r.borrow_mut() = Some(got.is_ok())
        });
        let started = Instant::now();
        while read.borrow().is_none() {
            lp.run_mode(evloop::RunMode::Once).unwrap();
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "file work starved"
            );
        }
        assert_eq!(*read.borrow(), Some(true));
        assert_eq!(
            running.load(Ordering::SeqCst),
            SIZE - 1,
            "no sixth CPU job ran"
        );

        assert_eq!(lp.cancel_queued_work(), SIZE - 1);
        assert!(outcomes.borrow().is_empty(), "cancel callbacks run later");
        release.wait();
        lp.run().unwrap();
        let outcomes = outcomes.borrow();
        assert_eq!(outcomes.iter().filter(|o| o.is_ok()).count(), SIZE - 1);
        assert_eq!(
            outcomes.iter().filter(|o| **o == Err(true)).count(),
            SIZE - 1
        );
        assert_eq!(lp.cancel_queued_work(), 0);
        assert_clean(&lp);
    });
}
