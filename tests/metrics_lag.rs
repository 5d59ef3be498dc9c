//! The lag monitor records true lateness (never the interval), and every user timer's lateness.
mod util;

use std::cell::RefCell;
use std::rc::Rc;
use std::time::{Duration, Instant};

use evloop::metrics::SlowCallback;
use evloop::{CallbackKind, Phase};
use evloop::{Handle, Loop};
use util::{assert_clean, with_timeout};

fn busy_wait(d: Duration) {
    let start = Instant::now();
    while start.elapsed() < d {
        std::hint::spin_loop();
    }
}

/// Keeps an otherwise idle loop running for `d` (the monitor itself is unref'd).
fn keep_alive(lp: &mut Loop, d: Duration) {
    lp.set_timeout(d, |_, _| {});
}

#[test]
#[cfg_attr(
    any(not(target_os = "linux"), feature = "portable-fallbacks"),
    ignore = "needs the timerfd: without it the poll wait rounds up to whole milliseconds"
)]
fn an_idle_loop_sampled_at_10ms_reports_median_lag_below_1ms() {
    with_timeout(30, || {
        let mut lp = Loop::new().unwrap();
        let monitor = lp.monitor_lag(Duration::from_millis(10));
        keep_alive(&mut lp, Duration::from_millis(600));
        lp.run().unwrap();
        let lag = monitor.snapshot(&lp).unwrap();
        assert!(lag.count() >= 30, "too few samples: {lag}");
        assert!(
            lag.percentile(50.0) < Duration::from_millis(1),
            "median lag: {lag}"
        );
        // Node folds the interval into every sample (~10 ms); we must not.
        assert!(lag.min() < Duration::from_millis(1), "{lag}");
        monitor.stop(&mut lp).unwrap();
        assert_clean(&lp);
    });
}

#[test]
#[cfg_attr(
    windows,
    ignore = "wall-clock thresholds: under wine on a shared 2-core host sleeps overrun by tens of ms (wine's timing is Linux's and proves nothing about Windows)"
)]
fn a_50ms_block_every_200ms_reads_as_50ms_lag_and_is_reported_with_its_site() {
    with_timeout(60, || {
        for resolution_ms in [1, 10] {
            let mut lp = Loop::new().unwrap();
            let monitor = lp.monitor_lag(Duration::from_millis(resolution_ms));
            let slow: Rc<RefCell<Vec<SlowCallback>>> = Rc::default();
            let s = Rc::clone(&slow);
            lp.on_slow_callback(Duration::from_millis(20), move |report| {
                s.borrow_mut().push(*report)
            });
            let blocks = Rc::new(RefCell::new(0u32));
            let b = Rc::clone(&blocks);
            let site_line = line!() + 1;
            let blocker = lp.set_interval(Duration::from_millis(200), move |_, _| {
                *b.borrow_mut() += 1;
                busy_wait(Duration::from_millis(50));
            });
            lp.set_timeout(Duration::from_millis(1050), move |lp, _| {
                blocker.clear(lp);
            });
            lp.run().unwrap();

            let lag = monitor.snapshot(&lp).unwrap();
            assert!(
                lag.max() >= Duration::from_millis(50),
                "{resolution_ms} ms: max lag {:?} < 50 ms; {lag}",
                lag.max()
            );
            assert!(lag.max() < Duration::from_millis(100), "{lag}");
            // Most samples are from the idle stretches between blocks.
            assert!(lag.percentile(50.0) < Duration::from_millis(5), "{lag}");

            let blocks = *blocks.borrow();
            assert!(blocks >= 4, "only {blocks} blocks ran");
            let slow = slow.borrow();
            assert_eq!(
                slow.len(),
                blocks as usize,
                "one report per block: {slow:#?}"
            );
            for report in slow.iter() {
                assert!(report.duration >= Duration::from_millis(50), "{report}");
                assert_eq!(report.site.file(), file!());
                assert_eq!(report.site.line(), site_line, "{report}");
                assert_eq!(report.phase, Phase::Timers);
                assert_eq!(report.kind, CallbackKind::Timer);
            }
            let m = lp.metrics();
            assert_eq!(m.slow_callbacks, u64::from(blocks));
            let timers = m
                .callback_durations
                .iter()
                .find(|(p, _)| *p == Phase::Timers)
                .map(|(_, h)| h.clone())
                .expect("timer durations are kept while a hook is set");
            assert_eq!(
                timers.count_above(Duration::from_millis(49)),
                u64::from(blocks)
            );
            monitor.stop(&mut lp).unwrap();
            assert_clean(&lp);
        }
    });
}

#[test]
fn the_monitor_does_not_keep_the_loop_alive_and_is_listed_with_its_site() {
    with_timeout(10, || {
        let mut lp = Loop::new().unwrap();
        let line = line!() + 1;
        let monitor = lp.monitor_lag(Duration::from_millis(1));
        let handles = lp.active_handles();
        assert_eq!(handles.len(), 1);
        assert!(!handles[0].refd);
        assert_eq!(handles[0].site.line(), line);
        let start = Instant::now();
        lp.run().unwrap(); // returns at once: only the unref'd monitor is left
        assert!(start.elapsed() < Duration::from_millis(500));
        assert!(monitor.is_running(&lp));
        assert_eq!(monitor.resolution(&lp).unwrap(), Duration::from_millis(1));
        monitor.stop(&mut lp).unwrap();
        monitor.stop(&mut lp).unwrap(); // harmless
        assert!(!monitor.is_running(&lp));
        assert_clean(&lp);
    });
}

#[test]
#[cfg_attr(
    windows,
    ignore = "wall-clock thresholds: under wine on a shared 2-core host sleeps overrun by tens of ms (wine's timing is Linux's and proves nothing about Windows)"
)]
fn take_returns_a_window_and_reset_forgets() {
    with_timeout(20, || {
        let mut lp = Loop::new().unwrap();
        let monitor = lp.monitor_lag(Duration::from_millis(2));
        keep_alive(&mut lp, Duration::from_millis(100));
        lp.run().unwrap();
        let first = monitor.take(&mut lp).unwrap();
        assert!(first.count() >= 10, "{first}");
        assert_eq!(monitor.take(&mut lp).unwrap().count(), 0);
        keep_alive(&mut lp, Duration::from_millis(60));
        lp.run().unwrap();
        let second = monitor.take(&mut lp).unwrap();
        let total = monitor.snapshot(&lp).unwrap();
        assert!(second.count() > 0);
        assert_eq!(total.count(), first.count() + second.count());
        assert_eq!(lp.metrics().lag.unwrap().count(), total.count());
        monitor.reset(&mut lp).unwrap();
        assert_eq!(monitor.snapshot(&lp).unwrap().count(), 0);

        // Starting another monitor replaces this one: the old id goes stale.
        let newer = lp.monitor_lag(Duration::from_millis(5));
        assert!(monitor.snapshot(&lp).is_err());
        assert!(!monitor.is_running(&lp));
        assert_eq!(lp.active_handles().len(), 1);
        newer.stop(&mut lp).unwrap();
        assert_clean(&lp);
    });
}

#[test]
#[cfg_attr(
    windows,
    ignore = "wall-clock thresholds: under wine on a shared 2-core host sleeps overrun by tens of ms (wine's timing is Linux's and proves nothing about Windows)"
)]
fn every_user_timer_has_its_lateness_recorded_and_the_sampler_is_not_one_of_them() {
    with_timeout(20, || {
        let mut lp = Loop::new().unwrap();
        let monitor = lp.monitor_lag(Duration::from_millis(1));
        for i in 0..20 {
            lp.set_timeout(Duration::from_millis(i * 3), |_, _| {});
        }
        let mut n = 0;
        lp.set_interval(Duration::from_millis(4), move |lp, t| {
            n += 1;
            if n == 5 {
                t.close(lp, |_| {}).unwrap();
            }
        });
        lp.run().unwrap();
        let m = lp.metrics();
        assert_eq!(m.timer_lateness.count(), 25);
        assert!(m.timers_fired > 25, "the sampler's timer fires too");
        // Timers on an idle loop run within a few ms of their due time.
        assert!(
            m.timer_lateness.percentile(50.0) < Duration::from_millis(2),
            "{}",
            m.timer_lateness
        );
        monitor.stop(&mut lp).unwrap();
        assert_clean(&lp);
    });
}
