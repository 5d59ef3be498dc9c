//! Next-tick and microtask queues: drained after every callback, next-ticks first.
mod util;

use std::time::Duration;

use evloop::{Loop, RunMode};
use util::{Trace, assert_clean, with_timeout};

#[test]
fn next_tick_runs_before_microtask() {
    with_timeout(10, || {
        let mut lp = Loop::new().unwrap();
        let trace = Trace::new();
        let t = trace.clone();
        lp.set_immediate(move |lp| {
            let t1 = t.clone();
            lp.queue_microtask(move |_| t1.push("micro"));
            let t2 = t.clone();
            lp.next_tick(move |_| t2.push("tick"));
            t.push("immediate");
        });
        lp.run().unwrap();
        assert_eq!(trace.take(), ["immediate", "tick", "micro"]);
        assert_clean(&lp);
    });
}

#[test]
fn tasks_drain_between_two_timers_due_in_the_same_pass() {
    with_timeout(10, || {
        let mut lp = Loop::new().unwrap();
        let trace = Trace::new();
        for name in ["t1", "t2"] {
            let t = trace.clone();
            lp.set_timeout(Duration::from_millis(5), move |lp, _| {
                t.push(name);
                let tm = t.clone();
                lp.queue_microtask(move |_| tm.push(format!("{name} micro")));
                let tt = t.clone();
                lp.next_tick(move |_| tt.push(format!("{name} tick")));
            });
        }
        lp.run().unwrap();
        assert_eq!(
            trace.take(),
            ["t1", "t1 tick", "t1 micro", "t2", "t2 tick", "t2 micro"]
        );
        assert_clean(&lp);
    });
}

#[test]
fn tasks_drain_between_two_immediates() {
    with_timeout(10, || {
        let mut lp = Loop::new().unwrap();
        let trace = Trace::new();
        for name in ["i1", "i2"] {
            let t = trace.clone();
            lp.set_immediate(move |lp| {
                t.push(name);
                let tm = t.clone();
                lp.queue_microtask(move |_| tm.push(format!("{name} micro")));
            });
        }
        lp.run().unwrap();
        assert_eq!(trace.take(), ["i1", "i1 micro", "i2", "i2 micro"]);
        assert_clean(&lp);
    });
}

#[test]
fn a_next_tick_queued_inside_a_microtask_runs_in_the_same_drain() {
    with_timeout(10, || {
        let mut lp = Loop::new().unwrap();
        let trace = Trace::new();
        let t = trace.clone();
        lp.set_immediate(move |lp| {
            let t1 = t.clone();
            lp.queue_microtask(move |lp| {
                t1.push("micro 1");
                let t2 = t1.clone();
                lp.next_tick(move |_| t2.push("tick from micro"));
                let t3 = t1;
                lp.queue_microtask(move |_| t3.push("micro from micro"));
            });
            let t4 = t;
            lp.queue_microtask(move |_| t4.push("micro 2"));
        });
        let t = trace.clone();
        lp.set_immediate(move |_| t.push("next immediate"));
        lp.run().unwrap();
        // A microtask's own microtasks run before the next-ticks it queued.
        assert_eq!(
            trace.take(),
            [
                "micro 1",
                "micro 2",
                "micro from micro",
                "tick from micro",
                "next immediate"
            ]
        );
        assert_clean(&lp);
    });
}

#[test]
fn ticks_queued_by_ticks_run_in_the_same_drain_before_microtasks() {
    with_timeout(10, || {
        let mut lp = Loop::new().unwrap();
        let trace = Trace::new();
        let t = trace.clone();
        lp.set_immediate(move |lp| {
            let tm = t.clone();
            lp.queue_microtask(move |_| tm.push("micro"));
            let t1 = t;
            lp.next_tick(move |lp| {
                t1.push("tick 1");
                let t2 = t1;
                lp.next_tick(move |_| t2.push("tick 2"));
            });
        });
        lp.run().unwrap();
        assert_eq!(trace.take(), ["tick 1", "tick 2", "micro"]);
        assert_clean(&lp);
    });
}

#[test]
fn tasks_queued_before_run_drain_when_run_starts() {
    with_timeout(10, || {
        let mut lp = Loop::new().unwrap();
        let trace = Trace::new();
        let t = trace.clone();
        lp.set_timeout(Duration::ZERO, move |_, _| t.push("timer"));
        let t = trace.clone();
        lp.queue_microtask(move |_| t.push("micro"));
        let t = trace.clone();
        lp.next_tick(move |_| t.push("tick"));
        lp.run().unwrap();
        assert_eq!(trace.take(), ["tick", "micro", "timer"]);
        assert_clean(&lp);
    });
}

#[test]
fn a_tick_cap_lets_the_loop_make_progress() {
    with_timeout(10, || {
        let mut lp = Loop::builder().max_ticks_per_drain(100).build().unwrap();
        let ticks = util::Counter::new();
        let seen = Trace::new();
        fn chain(lp: &mut Loop, ticks: util::Counter) {
            if ticks.inc() < 1000 {
                lp.next_tick(move |lp| chain(lp, ticks));
            }
        }
        let t = ticks.clone();
        lp.set_immediate(move |lp| lp.next_tick(move |lp| chain(lp, t)));
        let (t, s) = (ticks.clone(), seen.clone());
        lp.set_immediate(move |_| s.push(format!("second immediate after {} ticks", t.get())));
        while lp.run_mode(RunMode::NoWait).unwrap() {}
        // Uncapped, all 1000 chained ticks would run before the second immediate.
        assert_eq!(seen.take(), ["second immediate after 100 ticks"]);
        assert_eq!(ticks.get(), 1000, "the rest still ran");
        assert_clean(&lp);
    });
}

#[test]
fn a_tick_cap_bounds_ticks_only_and_microtasks_queued_so_far_still_drain() {
    with_timeout(10, || {
        let mut lp = Loop::builder().max_ticks_per_drain(2).build().unwrap();
        let trace = Trace::new();
        let t = trace.clone();
        lp.set_timeout(Duration::ZERO, move |_, _| t.push("timer"));
        let t = trace.clone();
        lp.set_immediate(move |_| t.push("immediate"));
        for i in 1..=4 {
            let t = trace.clone();
            lp.next_tick(move |_| t.push(format!("tick {i}")));
        }
        let t = trace.clone();
        lp.queue_microtask(move |lp| {
            t.push("micro");
            // A microtask's own microtask runs in the same drain; its next-tick waits for the
            // next drain point, behind the ticks the cap held back.
            let t2 = t.clone();
            lp.queue_microtask(move |_| t2.push("micro's micro"));
            lp.next_tick(move |_| t.push("micro's tick"));
        });
        lp.run().unwrap();
        assert_eq!(
            trace.take(),
            [
                "tick 1",
                "tick 2",
                "micro",
                "micro's micro",
                "timer",
                "tick 3",
                "tick 4",
                // The cap again: two ticks per drain.
                "immediate",
                "micro's tick"
            ]
        );
        assert_clean(&lp);
    });
}
