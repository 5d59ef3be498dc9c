//! Lag attribution for futures: a slow poll is reported like a slow callback, naming the
//! task's spawn site; the watchdog names a task stuck in a poll while it is stuck.
mod util;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use evloop::metrics::SlowCallback;
use evloop::{CallbackKind, Loop, Phase, task};
use util::task::collect_stalls;
use util::{assert_clean, with_timeout};

fn spin(d: Duration) {
    let start = Instant::now();
    while start.elapsed() < d {
        std::hint::spin_loop();
    }
}

#[test]
fn a_slow_poll_is_reported_with_the_spawn_site() {
    with_timeout(20, || {
        let mut lp = Loop::new().unwrap();
        let slow: std::rc::Rc<std::cell::RefCell<Vec<SlowCallback>>> = Default::default();
        let s = slow.clone();
        lp.on_slow_callback(Duration::from_millis(20), move |cb| {
            s.borrow_mut().push(*cb)
        });
        let line = line!() + 1;
        lp.spawn_local(async {
            task::yield_now().await; // a fast poll first
            spin(Duration::from_millis(40)); // then a slow one
        })
        .detach();
        lp.set_immediate(|_| {}); // a fast callback: not reported
        lp.run().unwrap();
        let slow = slow.borrow();
        assert_eq!(slow.len(), 1, "{slow:?}");
        assert_eq!(slow[0].kind, CallbackKind::Task);
        assert_eq!(slow[0].phase, Phase::Microtask);
        assert_eq!(slow[0].site.file(), file!());
        assert_eq!(slow[0].site.line(), line);
        assert!(slow[0].duration >= Duration::from_millis(40));
        assert!(slow[0].to_string().contains("task callback registered at"));
        assert_clean(&lp);
    });
}

#[test]
fn the_watchdog_names_a_task_stuck_in_a_poll_while_it_is_stuck() {
    with_timeout(20, || {
        let mut lp = Loop::new().unwrap();
        let (stalls, reported) = collect_stalls(&mut lp, Duration::from_millis(100));
        let seen = Arc::new(AtomicBool::new(false));
        let (r, sn) = (Arc::clone(&reported), Arc::clone(&seen));
        let line = line!() + 1;
        lp.spawn_local(async move {
            let start = Instant::now();
            while start.elapsed() < Duration::from_millis(400) {
                if r.load(Ordering::SeqCst) {
                    sn.store(true, Ordering::SeqCst);
                }
                std::hint::spin_loop();
            }
        })
        .detach();
        lp.run().unwrap();
        assert!(
            seen.load(Ordering::SeqCst),
            "reported while the poll still ran"
        );
        let stalls = stalls.lock().unwrap();
        assert_eq!(stalls.len(), 1, "{stalls:?}");
        assert_eq!(stalls[0].kind, CallbackKind::Task);
        assert_eq!(stalls[0].site.file(), file!());
        assert_eq!(stalls[0].site.line(), line);
        lp.stop_watchdog();
        assert_clean(&lp);
    });
}
