//! Run modes, stop, and reentrancy.
mod util;

use std::time::{Duration, Instant};

use evloop::{Error, Handle, Loop, RunMode};
use util::{Counter, assert_clean, with_timeout};

#[test]
fn once_with_a_self_stopping_idle_watcher_runs_it_exactly_64_times() {
    with_timeout(10, || {
        let mut lp = Loop::new().unwrap();
        let calls = Counter::new();
        let c = calls.clone();
        let idle = lp.add_idle(move |lp, me| {
            if c.inc() == 64 {
                me.stop(lp).unwrap();
            }
        });
        let mut runs = 0;
        while lp.run_mode(RunMode::Once).unwrap() {
            runs += 1;
            assert!(runs < 1000, "Once did not stop");
        }
        assert_eq!(calls.get(), 64);
        assert_eq!(runs, 63, "alive after each of the first 63 calls");
        idle.close(&mut lp, |_| {}).unwrap();
        lp.run().unwrap();
        assert_clean(&lp);
    });
}

#[test]
fn nowait_with_a_100ms_repeating_timer_returns_alive_without_running_it() {
    with_timeout(10, || {
        let mut lp = Loop::new().unwrap();
        let calls = Counter::new();
        let c = calls.clone();
        let timer = lp.set_interval(Duration::from_millis(100), move |_, _| {
            c.inc();
        });
        let start = Instant::now();
        assert!(lp.run_mode(RunMode::NoWait).unwrap());
        assert!(
            start.elapsed() < Duration::from_millis(50),
            "NoWait blocked"
        );
        assert_eq!(calls.get(), 0);
        timer.clear(&mut lp);
        assert!(!lp.run_mode(RunMode::NoWait).unwrap());
        assert_clean(&lp);
    });
}

#[test]
fn once_runs_a_repeating_zero_timer_at_most_once_per_call() {
    with_timeout(10, || {
        let mut lp = Loop::new().unwrap();
        let calls = Counter::new();
        let c = calls.clone();
        let timer = lp.set_interval(Duration::ZERO, move |_, _| {
            c.inc();
        });
        for i in 1..=5 {
            assert!(lp.run_mode(RunMode::Once).unwrap());
            assert_eq!(calls.get(), i);
        }
        timer.clear(&mut lp);
        assert_clean(&lp);
    });
}

#[test]
fn empty_loop_run_returns_at_once() {
    with_timeout(10, || {
        let mut lp = Loop::new().unwrap();
        let start = Instant::now();
        lp.run().unwrap();
        assert!(!lp.run_mode(RunMode::Once).unwrap());
        assert!(!lp.run_mode(RunMode::NoWait).unwrap());
        assert!(start.elapsed() < Duration::from_millis(100));
        assert_clean(&lp);
    });
}

#[test]
fn stop_before_run_returns_without_running_callbacks() {
    with_timeout(10, || {
        let mut lp = Loop::new().unwrap();
        let calls = Counter::new();
        let c = calls.clone();
        lp.set_timeout(Duration::ZERO, move |_, _| {
            c.inc();
        });
        let c = calls.clone();
        lp.queue_microtask(move |_| {
            c.inc();
        });
        lp.stop();
        lp.run().unwrap();
        assert_eq!(calls.get(), 0);
        // One-shot: the next run runs everything.
        lp.run().unwrap();
        assert_eq!(calls.get(), 2);
        assert_clean(&lp);
    });
}

#[test]
fn stop_inside_a_callback_ends_run_after_the_current_iteration() {
    with_timeout(10, || {
        let mut lp = Loop::new().unwrap();
        let trace = util::Trace::new();
        let t = trace.clone();
        let idle = lp.add_idle(move |lp, _| {
            t.push("idle");
            lp.stop();
        });
        let t = trace.clone();
        let check = lp.add_check(move |_, _| t.push("check"));
        let t = trace.clone();
        lp.set_timeout(Duration::ZERO, move |_, _| t.push("timer"));
        let start = Instant::now();
        lp.run().unwrap();
        // Pre-pass timer, then the stopping iteration runs to its end, then run returns.
        assert_eq!(trace.take(), ["timer", "idle", "check"]);
        assert!(start.elapsed() < Duration::from_millis(500));
        assert!(lp.alive());
        idle.close(&mut lp, |_| {}).unwrap();
        check.close(&mut lp, |_| {}).unwrap();
        lp.run().unwrap();
        assert_clean(&lp);
    });
}

#[test]
fn run_from_inside_a_callback_is_an_error() {
    with_timeout(10, || {
        let mut lp = Loop::new().unwrap();
        let seen = Counter::new();
        let s = seen.clone();
        lp.set_immediate(move |lp| {
            assert!(matches!(lp.run(), Err(Error::Reentrant)));
            s.inc();
        });
        lp.run().unwrap();
        assert_eq!(seen.get(), 1);
        assert_clean(&lp);
    });
}

#[test]
fn update_time_moves_the_cached_clock() {
    with_timeout(10, || {
        let mut lp = Loop::new().unwrap();
        let before = lp.now();
        std::thread::sleep(Duration::from_millis(20));
        assert_eq!(lp.now(), before, "now() is cached");
        lp.update_time();
        assert!(lp.now() - before >= Duration::from_millis(20));
    });
}
