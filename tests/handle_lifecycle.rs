//! Handles: close semantics, self-replacement, stale ids.
mod util;

use std::time::Duration;

use evloop::{Error, Handle, Loop, RunMode};
use util::{Counter, Trace, assert_clean, with_timeout};

#[test]
fn close_inside_own_callback() {
    with_timeout(10, || {
        let mut lp = Loop::new().unwrap();
        let calls = Counter::new();
        let closes = Counter::new();
        let (c, cl) = (calls.clone(), closes.clone());
        lp.set_interval(Duration::from_millis(1), move |lp, me| {
            c.inc();
            let cl = cl.clone();
            me.close(lp, move |_| {
                cl.inc();
            })
            .unwrap();
            assert!(matches!(me.close(lp, |_| {}), Err(Error::Closing)));
        });
        let (c, cl) = (calls.clone(), closes.clone());
        lp.add_idle(move |lp, me| {
            c.inc();
            let cl = cl.clone();
            me.close(lp, move |_| {
                cl.inc();
            })
            .unwrap();
        });
        lp.run().unwrap();
        assert_eq!(calls.get(), 2);
        assert_eq!(closes.get(), 2);
        assert_clean(&lp);
    });
}

#[test]
fn replace_own_callback() {
    with_timeout(10, || {
        let mut lp = Loop::new().unwrap();
        let trace = Trace::new();
        let t = trace.clone();
        lp.add_idle(move |lp, me| {
            t.push("first");
            let t2 = t.clone();
            me.set_callback(lp, move |lp, me| {
                t2.push("second");
                me.close(lp, |_| {}).unwrap();
            })
            .unwrap();
        });
        lp.run().unwrap();
        assert_eq!(trace.take(), ["first", "second"]);
        assert_clean(&lp);
    });
}

#[test]
fn stale_id_after_close_and_after_slot_reuse() {
    with_timeout(10, || {
        let mut lp = Loop::new().unwrap();
        let old = lp.add_check(|_, _| {});
        old.close(&mut lp, |_| {}).unwrap();
        // Closing but not yet closed: queries work, operations do not.
        assert!(old.is_closing(&lp).unwrap());
        assert!(matches!(old.start(&mut lp), Err(Error::Closing)));
        lp.run().unwrap();
        assert!(matches!(old.is_active(&lp), Err(Error::StaleHandle)));
        assert!(matches!(
            old.close(&mut lp, |_| {}),
            Err(Error::StaleHandle)
        ));
        assert!(matches!(old.stop(&mut lp), Err(Error::StaleHandle)));

        // The slot is reused by a new handle; the old id must not reach it.
        let new = lp.add_check(|_, _| {});
        assert_eq!(new.id().to_string_index(), old.id().to_string_index());
        assert!(matches!(old.stop(&mut lp), Err(Error::StaleHandle)));
        assert!(matches!(old.unref(&mut lp), Err(Error::StaleHandle)));
        assert!(new.is_active(&lp).unwrap());
        new.close(&mut lp, |_| {}).unwrap();
        lp.run().unwrap();
        assert_clean(&lp);
    });
}

/// Index part of a `#index.generation` debug string.
trait IndexOf {
    fn to_string_index(&self) -> String;
}
impl IndexOf for evloop::HandleId {
    fn to_string_index(&self) -> String {
        format!("{self:?}").split('.').next().unwrap().to_owned()
    }
}

#[test]
fn close_callbacks_run_in_the_close_phase_exactly_once() {
    with_timeout(10, || {
        let mut lp = Loop::new().unwrap();
        let trace = Trace::new();
        let idle = lp.add_idle(|_, _| {});
        let t = trace.clone();
        idle.close(&mut lp, move |_| t.push("closed")).unwrap();
        assert!(trace.get().is_empty(), "close callback ran synchronously");
        let t = trace.clone();
        lp.set_immediate(move |_| t.push("check phase"));
        lp.run_mode(RunMode::NoWait).unwrap();
        assert_eq!(trace.take(), ["check phase", "closed"]);
        lp.run().unwrap();
        assert!(trace.get().is_empty());
        assert_clean(&lp);
    });
}

#[test]
fn a_handle_closed_in_a_close_callback_closes_next_iteration() {
    with_timeout(10, || {
        let mut lp = Loop::new().unwrap();
        let trace = Trace::new();
        let a = lp.add_check(|_, _| {});
        let b = lp.add_check(|_, _| {});
        let t = trace.clone();
        a.close(&mut lp, move |lp| {
            t.push("a closed");
            let t2 = t.clone();
            b.close(lp, move |_| t2.push("b closed")).unwrap();
        })
        .unwrap();
        lp.run_mode(RunMode::NoWait).unwrap();
        assert_eq!(trace.take(), ["a closed"]);
        lp.run_mode(RunMode::NoWait).unwrap();
        assert_eq!(trace.take(), ["b closed"]);
        assert_clean(&lp);
    });
}

#[test]
fn closing_a_timer_cancels_it() {
    with_timeout(10, || {
        let mut lp = Loop::new().unwrap();
        let t = lp.set_timeout(Duration::from_millis(1), |_, _| {
            panic!("closed timer fired")
        });
        let closed = Counter::new();
        let c = closed.clone();
        t.close(&mut lp, move |_| {
            c.inc();
        })
        .unwrap();
        std::thread::sleep(Duration::from_millis(5));
        lp.run().unwrap();
        assert_eq!(closed.get(), 1);
        assert!(!t.clear(&mut lp));
        assert_clean(&lp);
    });
}
