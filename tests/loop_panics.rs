//! A panicking callback unwinds out of run(); the loop stays consistent.
mod util;

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::Duration;

use evloop::Loop;
use util::{Counter, assert_clean, with_timeout};

#[test]
fn a_panicking_timer_unwinds_and_the_next_run_fires_the_remaining_timers() {
    with_timeout(10, || {
        let mut lp = Loop::new().unwrap();
        let fired = Counter::new();
        for i in 0..5 {
            let f = fired.clone();
            lp.set_timeout(Duration::from_millis(5), move |_, _| {
                f.inc();
                if i == 1 {
                    panic!("boom from timer {i}");
                }
            });
        }
        let err = catch_unwind(AssertUnwindSafe(|| lp.run())).unwrap_err();
        assert_eq!(err.downcast_ref::<String>().unwrap(), "boom from timer 1");
        assert_eq!(fired.get(), 2);
        lp.run().unwrap();
        assert_eq!(fired.get(), 5);
        assert_clean(&lp);
    });
}

#[test]
fn a_panicking_interval_keeps_its_callback_and_runs_again() {
    with_timeout(10, || {
        let mut lp = Loop::new().unwrap();
        let calls = Counter::new();
        let c = calls.clone();
        lp.set_interval(Duration::from_millis(1), move |lp, me| {
            let n = c.inc();
            if n == 1 {
                panic!("first call panics");
            }
            if n == 3 {
                me.clear(lp);
            }
        });
        assert!(catch_unwind(AssertUnwindSafe(|| lp.run())).is_err());
        lp.run().unwrap();
        assert_eq!(calls.get(), 3);
        assert_clean(&lp);
    });
}

#[test]
fn a_panicking_microtask_leaves_the_rest_queued() {
    with_timeout(10, || {
        let mut lp = Loop::new().unwrap();
        let ran = Counter::new();
        let r = ran.clone();
        lp.set_immediate(move |lp| {
            lp.queue_microtask(|_| panic!("micro boom"));
            let r = r;
            lp.queue_microtask(move |_| {
                r.inc();
            });
        });
        assert!(catch_unwind(AssertUnwindSafe(|| lp.run())).is_err());
        assert_eq!(ran.get(), 0);
        lp.run().unwrap();
        assert_eq!(ran.get(), 1);
        assert_clean(&lp);
    });
}

#[test]
fn a_panicking_post_leaves_the_rest_of_its_batch_to_run_next() {
    with_timeout(10, || {
        let mut lp = Loop::new().unwrap();
        let ran = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let sender = lp.sender();
        sender.post(|_| panic!("post boom")).unwrap();
        for _ in 0..3 {
            let r = ran.clone();
            sender
                .post(move |_| {
                    r.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                })
                .unwrap();
        }
        drop(sender);
        assert!(catch_unwind(AssertUnwindSafe(|| lp.run())).is_err());
        assert_eq!(ran.load(std::sync::atomic::Ordering::SeqCst), 0);
        assert!(lp.alive(), "the rest of the batch keeps the loop alive");
        lp.run().unwrap();
        assert_eq!(ran.load(std::sync::atomic::Ordering::SeqCst), 3);
        assert_clean(&lp);
    });
}

#[test]
fn under_on_uncaught_panic_a_panic_is_reported_with_its_site_and_the_loop_goes_on() {
    with_timeout(10, || {
        let mut lp = Loop::new().unwrap();
        let reports = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
        let r = reports.clone();
        lp.on_uncaught_panic(move |p| {
            r.borrow_mut()
                .push((p.message.clone(), p.site.map(|s| s.line())));
        });
        let fired = Counter::new();
        let mut panic_line = 0;
        for i in 0..4 {
            let f = fired.clone();
            if i == 1 {
                panic_line = line!() + 1;
                lp.set_timeout(Duration::from_millis(5), move |_, _| {
                    f.inc();
                    panic!("boom {i}");
                });
            } else {
                lp.set_timeout(Duration::from_millis(5), move |_, _| {
                    f.inc();
                });
            }
        }
        // A microtask queued by a callback panics too: reported with its own site.
        lp.set_immediate(|lp| lp.queue_microtask(|_| panic!("in a microtask")));
        lp.run().expect("run goes on past the panics");
        assert_eq!(fired.get(), 4, "every other timer still fired");
        let reports = reports.borrow();
        assert_eq!(reports.len(), 2, "{reports:?}");
        assert!(
            reports.contains(&("boom 1".to_owned(), Some(panic_line))),
            "{reports:?}"
        );
        assert!(
            reports
                .iter()
                .any(|(m, site)| m == "in a microtask" && site.is_some()),
            "{reports:?}"
        );
        assert_clean(&lp);

        // Back to the default: the panic unwinds out of run.
        lp.unwind_on_panic();
        lp.set_immediate(|_| panic!("unwinds"));
        assert!(catch_unwind(AssertUnwindSafe(|| lp.run())).is_err());
    });
}
