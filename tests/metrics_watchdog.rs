//! The watchdog reports a callback that is still blocking the loop, from its own thread.
mod util;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use evloop::CallbackKind;
use evloop::Loop;
use evloop::metrics::Stall;
use util::{assert_clean, with_timeout};

#[test]
fn a_callback_spinning_500ms_is_reported_while_it_still_runs() {
    with_timeout(20, || {
        let mut lp = Loop::new().unwrap();
        let reported = Arc::new(AtomicBool::new(false));
        let stalls: Arc<Mutex<Vec<Stall>>> = Arc::default();
        let (r, s) = (Arc::clone(&reported), Arc::clone(&stalls));
        lp.start_watchdog(Duration::from_millis(100), move |stall| {
            s.lock().unwrap().push(*stall);
            r.store(true, Ordering::SeqCst);
        })
        .unwrap();
        let seen_while_spinning = Arc::new(AtomicBool::new(false));
        let (r, seen) = (Arc::clone(&reported), Arc::clone(&seen_while_spinning));
        let line = line!() + 1;
        lp.set_timeout(Duration::from_millis(5), move |_, _| {
            let start = Instant::now();
            while start.elapsed() < Duration::from_millis(500) {
                if r.load(Ordering::SeqCst) {
                    seen.store(true, Ordering::SeqCst);
                }
                std::hint::spin_loop();
            }
        });
        lp.run().unwrap();
        assert!(
            seen_while_spinning.load(Ordering::SeqCst),
            "the stall was not reported before the callback returned"
        );
        let stalls = stalls.lock().unwrap();
        assert_eq!(stalls.len(), 1, "one report per stall: {stalls:?}");
        let stall = stalls[0];
        assert_eq!(stall.site.file(), file!());
        assert_eq!(stall.site.line(), line);
        assert_eq!(stall.kind, CallbackKind::Timer);
        assert_eq!(stall.report, 1);
        assert!(stall.blocked_for >= Duration::from_millis(100));
        assert!(stall.blocked_for < Duration::from_millis(450), "{stall}");
        let text = stall.to_string();
        assert!(
            text.contains(&format!("{}:{line}", file!())) && text.contains("(timer)"),
            "{text}"
        );
        assert!(lp.stop_watchdog());
        assert!(!lp.stop_watchdog());
        assert_clean(&lp);
    });
}

#[test]
#[cfg_attr(
    windows,
    ignore = "wall-clock thresholds: under wine on a shared 2-core host sleeps overrun by tens of ms (wine's timing is Linux's and proves nothing about Windows)"
)]
fn a_loop_of_fast_callbacks_reports_nothing() {
    with_timeout(20, || {
        let mut lp = Loop::new().unwrap();
        let reports = Arc::new(AtomicUsize::new(0));
        let r = Arc::clone(&reports);
        lp.start_watchdog(Duration::from_millis(50), move |_| {
            r.fetch_add(1, Ordering::SeqCst);
        })
        .unwrap();
        let mut n = 0;
        lp.set_interval(Duration::from_millis(1), move |lp, t| {
            n += 1;
            lp.set_immediate(|lp| lp.queue_microtask(|_| {}));
            std::thread::sleep(Duration::from_millis(2));
            if n == 100 {
                t.clear(lp);
            }
        });
        lp.run().unwrap();
        assert_eq!(reports.load(Ordering::SeqCst), 0);
        lp.stop_watchdog();
        assert_clean(&lp);
    });
}

#[test]
fn repeating_reports_count_up_and_a_panicking_callback_clears_the_beacon() {
    with_timeout(20, || {
        let mut lp = Loop::new().unwrap();
        let stalls: Arc<Mutex<Vec<Stall>>> = Arc::default();
        let s = Arc::clone(&stalls);
        lp.start_watchdog_repeating(
            Duration::from_millis(50),
            Duration::from_millis(50),
            move |stall| s.lock().unwrap().push(*stall),
        )
        .unwrap();
        lp.set_timeout(Duration::ZERO, |_, _| {
            std::thread::sleep(Duration::from_millis(230));
            // resume_unwind skips the panic hook (whose backtrace printing would prolong the
            // stall by an unknown time).
            std::panic::resume_unwind(Box::new("boom"));
        });
        let err = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| lp.run()));
        assert!(err.is_err());
        let n = stalls.lock().unwrap().len();
        assert!((3..=5).contains(&n), "{n} reports");
        let reports: Vec<u32> = stalls.lock().unwrap().iter().map(|s| s.report).collect();
        assert_eq!(reports, (1..=n as u32).collect::<Vec<_>>());
        // The panicked callback no longer counts as running.
        std::thread::sleep(Duration::from_millis(150));
        assert_eq!(stalls.lock().unwrap().len(), n);
        lp.stop_watchdog();
        assert_clean(&lp);
    });
}

#[test]
fn dropping_the_loop_stops_the_thread() {
    with_timeout(10, || {
        let token = Arc::new(());
        let mut lp = Loop::new().unwrap();
        let t = Arc::clone(&token);
        lp.start_watchdog(Duration::from_millis(10), move |_| {
            let _ = &t;
        })
        .unwrap();
        assert_eq!(Arc::strong_count(&token), 2);
        // Replacing a watchdog joins the old thread (dropping its hook).
        let t = Arc::clone(&token);
        lp.start_watchdog(Duration::from_millis(10), move |_| {
            let _ = &t;
        })
        .unwrap();
        assert_eq!(Arc::strong_count(&token), 2);
        drop(lp);
        // The thread was joined, so its hook (and the clone it held) is gone.
        assert_eq!(Arc::strong_count(&token), 1);
    });
}
