//! The phase order of one iteration, and microtask drains between callbacks.
mod util;

use std::time::Duration;

use evloop::{Handle, Loop, RunMode};
use util::{Trace, assert_clean, with_timeout};

#[test]
fn one_iteration_runs_idle_prepare_poll_check_close_timers_in_order() {
    with_timeout(10, || {
        let mut lp = Loop::new().unwrap();
        let trace = Trace::new();
        let t = trace.clone();
        let timer = lp.set_timeout(Duration::ZERO, move |_, _| t.push("timer"));
        let t = trace.clone();
        let idle = lp.add_idle(move |_, _| t.push("idle"));
        let t = trace.clone();
        let prepare = lp.add_prepare(move |_, _| t.push("prepare"));
        let t = trace.clone();
        let check = lp.add_check(move |_, _| t.push("check"));
        let t = trace.clone();
        lp.set_immediate(move |_| t.push("immediate"));
        let doomed = lp.add_idle(|_, _| panic!("a closed watcher must not run"));
        let t = trace.clone();
        doomed.close(&mut lp, move |_| t.push("close")).unwrap();

        // Once: no pre-pass, so the 0 ms timer runs in the timer phase at the end.
        assert!(lp.run_mode(RunMode::Once).unwrap());
        assert_eq!(
            trace.take(),
            ["idle", "prepare", "immediate", "check", "close", "timer"]
        );
        assert!(
            timer.is_active(&lp).is_err(),
            "fired one-shot timer is released"
        );

        for h in [idle.id(), prepare.id(), check.id()] {
            let _ = h;
        }
        idle.close(&mut lp, |_| {}).unwrap();
        prepare.close(&mut lp, |_| {}).unwrap();
        check.close(&mut lp, |_| {}).unwrap();
        assert!(!lp.run_mode(RunMode::Default).unwrap());
        assert_clean(&lp);
    });
}

#[test]
fn default_run_fires_due_timers_before_the_first_iteration() {
    with_timeout(10, || {
        let mut lp = Loop::new().unwrap();
        let trace = Trace::new();
        let t = trace.clone();
        lp.set_timeout(Duration::ZERO, move |_, _| t.push("timer"));
        let t = trace.clone();
        lp.add_idle(move |lp, idle| {
            t.push("idle");
            idle.close(lp, |_| {}).unwrap();
        });
        let t = trace.clone();
        lp.set_immediate(move |_| t.push("immediate"));
        lp.run().unwrap();
        assert_eq!(trace.take(), ["timer", "idle", "immediate"]);
        assert_clean(&lp);
    });
}

#[test]
fn close_callbacks_come_after_check_and_run_once() {
    with_timeout(10, || {
        let mut lp = Loop::new().unwrap();
        let trace = Trace::new();
        let t = trace.clone();
        lp.add_check(move |lp, check| {
            t.push("check");
            let t2 = t.clone();
            check.close(lp, move |_| t2.push("close")).unwrap();
            assert!(check.is_closing(lp).unwrap());
            t.push("after close call");
        });
        // A check watcher alone would block in poll (as in libuv): an immediate keeps the first
        // poll non-blocking.
        lp.set_immediate(|_| {});
        lp.run().unwrap();
        assert_eq!(trace.take(), ["check", "after close call", "close"]);
        assert_clean(&lp);
    });
}

#[test]
fn only_the_most_recently_started_watcher_runs_first() {
    with_timeout(10, || {
        let mut lp = Loop::new().unwrap();
        let trace = Trace::new();
        for name in ["a", "b", "c"] {
            let t = trace.clone();
            lp.add_idle(move |lp, w| {
                t.push(name);
                w.close(lp, |_| {}).unwrap();
            });
        }
        lp.run().unwrap();
        assert_eq!(trace.take(), ["c", "b", "a"]);
        assert_clean(&lp);
    });
}

#[test]
fn a_watcher_started_during_its_pass_runs_from_the_next_pass() {
    with_timeout(10, || {
        let mut lp = Loop::new().unwrap();
        let trace = Trace::new();
        let t = trace.clone();
        let mut passes = 0;
        lp.add_prepare(move |lp, w| {
            passes += 1;
            t.push(format!("outer {passes}"));
            if passes == 1 {
                let t2 = t.clone();
                lp.add_prepare(move |lp, inner| {
                    t2.push("inner");
                    inner.close(lp, |_| {}).unwrap();
                });
            }
            if passes == 2 {
                w.close(lp, |_| {}).unwrap();
            }
        });
        // Keep the loop spinning without blocking.
        let idle = lp.add_idle(|_, _| {});
        lp.run_mode(RunMode::NoWait).unwrap();
        lp.run_mode(RunMode::NoWait).unwrap();
        idle.close(&mut lp, |_| {}).unwrap();
        lp.run().unwrap();
        assert_eq!(trace.take(), ["outer 1", "inner", "outer 2"]);
        assert_clean(&lp);
    });
}

#[test]
fn a_watcher_stopped_during_the_pass_does_not_run() {
    with_timeout(10, || {
        let mut lp = Loop::new().unwrap();
        let trace = Trace::new();
        let t = trace.clone();
        // Started first, so it runs second.
        let victim = lp.add_check(move |_, _| t.push("victim"));
        let t = trace.clone();
        lp.add_check(move |lp, me| {
            t.push("stopper");
            victim.stop(lp).unwrap();
            me.close(lp, |_| {}).unwrap();
        });
        lp.set_immediate(|_| {});
        lp.run().unwrap();
        assert_eq!(trace.take(), ["stopper"]);
        assert!(!victim.is_active(&lp).unwrap());
        victim.close(&mut lp, |_| {}).unwrap();
        lp.run().unwrap();
        assert_clean(&lp);
    });
}

#[test]
fn close_callbacks_run_last_closed_first_with_a_drain_after_each() {
    with_timeout(10, || {
        let mut lp = Loop::new().unwrap();
        let trace = Trace::new();
        let t = trace.clone();
        lp.set_immediate(move |lp| {
            let on_close = |name: &'static str| {
                let t = t.clone();
                move |lp: &mut Loop| {
                    t.push(format!("{name} closed"));
                    let t = t.clone();
                    lp.queue_microtask(move |_| t.push(format!("{name} microtask")));
                }
            };
            let a = lp.add_idle(|_, _| {});
            let b = lp.set_timeout(Duration::from_secs(60), |_, _| {});
            let c = lp.add_check(|_, _| {});
            a.close(lp, on_close("a")).unwrap();
            b.close(lp, on_close("b")).unwrap();
            c.close(lp, on_close("c")).unwrap();
        });
        lp.run().unwrap();
        assert_eq!(
            trace.take(),
            [
                "c closed",
                "c microtask",
                "b closed",
                "b microtask",
                "a closed",
                "a microtask"
            ]
        );
        assert_clean(&lp);
    });
}

#[test]
fn a_handle_closed_by_a_close_callback_waits_for_the_next_close_phase() {
    with_timeout(10, || {
        let mut lp = Loop::new().unwrap();
        let trace = Trace::new();
        let t = trace.clone();
        let first = lp.add_idle(|_, _| {});
        let second = lp.add_idle(|_, _| {});
        let third = lp.add_idle(|_, _| {});
        let t3 = t.clone();
        first
            .close(&mut lp, move |lp| {
                t3.push(format!(
                    "first closed, iteration {}",
                    lp.metrics().iterations
                ));
                let t = t3.clone();
                third
                    .close(lp, move |lp| {
                        t.push(format!(
                            "third closed, iteration {}",
                            lp.metrics().iterations
                        ));
                    })
                    .unwrap();
            })
            .unwrap();
        second
            .close(&mut lp, move |lp| {
                t.push(format!(
                    "second closed, iteration {}",
                    lp.metrics().iterations
                ));
            })
            .unwrap();
        lp.run().unwrap();
        assert_eq!(
            trace.take(),
            [
                "second closed, iteration 1",
                "first closed, iteration 1",
                "third closed, iteration 2",
            ]
        );
        assert_clean(&lp);
    });
}

#[test]
fn stop_from_a_task_drained_when_run_starts_skips_the_first_timer_pass() {
    with_timeout(10, || {
        let mut lp = Loop::new().unwrap();
        let trace = Trace::new();
        let t = trace.clone();
        lp.set_timeout(Duration::ZERO, move |_, _| t.push("timer"));
        let t = trace.clone();
        lp.queue_microtask(move |lp| {
            t.push("microtask stops");
            lp.stop();
        });
        lp.run().unwrap();
        assert_eq!(
            trace.take(),
            ["microtask stops"],
            "no timer pass, no iteration"
        );
        assert_eq!(lp.metrics().iterations, 0);
        // One-shot: the next run runs the timer.
        lp.run().unwrap();
        assert_eq!(trace.take(), ["timer"]);
        assert_clean(&lp);
    });
}
