//! Utilization (Node's ELU): time blocked in poll is idle, the rest is active.
mod util;

use std::time::{Duration, Instant};

use evloop::Loop;
use util::{assert_clean, with_timeout};

#[test]
fn a_loop_that_sleeps_in_poll_is_mostly_idle() {
    with_timeout(20, || {
        let mut lp = Loop::new().unwrap();
        assert_eq!(lp.metrics().utilization(), 0.0, "never ran");
        lp.set_timeout(Duration::from_millis(300), |_, _| {});
        lp.run().unwrap();
        let m = lp.metrics();
        assert!(m.utilization() < 0.1, "utilization {}", m.utilization());
        assert!(m.idle >= Duration::from_millis(250), "idle {:?}", m.idle);
        assert!(m.uptime >= m.idle);
        assert_eq!(m.active + m.idle, m.uptime);
        assert_clean(&lp);
    });
}

#[test]
fn a_loop_that_spins_in_callbacks_is_mostly_active() {
    with_timeout(20, || {
        let mut lp = Loop::new().unwrap();
        let start = Instant::now();
        fn spin(lp: &mut Loop, start: Instant) {
            let t = Instant::now();
            while t.elapsed() < Duration::from_millis(5) {
                std::hint::spin_loop();
            }
            if start.elapsed() < Duration::from_millis(300) {
                lp.set_immediate(move |lp| spin(lp, start));
            }
        }
        lp.set_immediate(move |lp| spin(lp, start));
        lp.run().unwrap();
        let m = lp.metrics();
        assert!(m.utilization() > 0.9, "utilization {}", m.utilization());
        assert_clean(&lp);
    });
}

#[test]
fn a_window_between_two_snapshots_has_its_own_utilization() {
    with_timeout(20, || {
        let mut lp = Loop::new().unwrap();
        lp.set_timeout(Duration::from_millis(200), |_, _| {});
        lp.run().unwrap();
        let idle_part = lp.metrics();
        // 200 ms of work in 4 timer callbacks of 50 ms each, back to back.
        for _ in 0..4 {
            lp.set_timeout(Duration::ZERO, |_, _| {
                let t = Instant::now();
                while t.elapsed() < Duration::from_millis(50) {
                    std::hint::spin_loop();
                }
            });
        }
        lp.run().unwrap();
        let total = lp.metrics();
        let window = total.since(&idle_part);
        assert!(
            window.utilization() > 0.9,
            "window {}",
            window.utilization()
        );
        assert!(total.utilization() < 0.75, "total {}", total.utilization());
        assert!(idle_part.utilization() < 0.1);
        assert_eq!(window.timers_fired, 4);
        assert_clean(&lp);
    });
}
