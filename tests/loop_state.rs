//! Application state through `&mut Loop`: loop-owned typed state, `with_state` lending and its
//! re-entrancy errors, per-handle data, `walk` and `close_all`.

mod util;

use std::time::Duration;

use evloop::{Error, Handle, HandleKind, Loop};
use util::{assert_clean, with_timeout};

#[derive(Debug, Default, PartialEq)]
struct Count(u32);

#[derive(Debug, Default, PartialEq)]
struct Log(Vec<String>);

#[test]
fn callbacks_reach_loop_state_without_refcell() {
    with_timeout(10, || {
        let mut lp = Loop::new().unwrap();
        assert_eq!(lp.insert_state(Count(0)), None);
        assert_eq!(
            lp.insert_state(Count(1)),
            Some(Count(0)),
            "replaced, old one returned"
        );
        lp.set_interval(Duration::from_millis(1), |lp, t| {
            let c = lp.state::<Count>().unwrap();
            c.0 += 1;
            if c.0 == 4 {
                t.clear(lp);
            }
        });
        lp.run().unwrap();
        assert_eq!(lp.state_ref::<Count>(), Some(&Count(4)));
        assert_eq!(lp.remove_state::<Count>(), Some(Count(4)));
        assert!(lp.state::<Count>().is_none());
        assert_clean(&lp);
    });
}

#[test]
fn with_state_lends_the_state_and_reentrant_access_is_an_error_not_a_panic() {
    let mut lp = Loop::new().unwrap();
    lp.insert_state(Count(0));
    lp.insert_state(Log::default());
    let r = lp.with_state(|lp, c: &mut Count| {
        c.0 += 1;
        // The same type is lent out: None and StateInUse, never a double-borrow panic.
        assert!(lp.state::<Count>().is_none());
        let nested = lp.with_state(|_, _: &mut Count| unreachable!("must not run"));
        assert!(matches!(nested, Err(Error::StateInUse(name)) if name.ends_with("Count")));
        // Other types stay reachable, even lent at the same time.
        lp.with_state(|_, log: &mut Log| log.0.push(format!("count {}", c.0)))
            .unwrap();
        c.0 * 10
    });
    assert_eq!(r.unwrap(), 10);
    assert_eq!(
        lp.state_ref::<Count>(),
        Some(&Count(1)),
        "put back after the closure"
    );
    assert_eq!(lp.state_ref::<Log>().unwrap().0, ["count 1"]);
    let missing = lp.with_state(|_, _: &mut String| ());
    assert!(matches!(missing, Err(Error::NoState(_))), "{missing:?}");
    assert!(missing.unwrap_err().to_string().contains("String"));
}

#[test]
fn with_state_puts_the_state_back_when_the_closure_panics() {
    let mut lp = Loop::new().unwrap();
    lp.insert_state(Count(7));
    let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        lp.with_state(|_, c: &mut Count| {
            c.0 += 1;
            panic!("boom");
        })
    }));
    assert!(caught.is_err());
    assert_eq!(lp.state_ref::<Count>(), Some(&Count(8)));
}

#[test]
fn inserting_while_lent_replaces_the_lent_value() {
    let mut lp = Loop::new().unwrap();
    lp.insert_state(Count(1));
    lp.with_state(|lp, c: &mut Count| {
        c.0 = 2;
        assert_eq!(lp.insert_state(Count(100)), None);
    })
    .unwrap();
    assert_eq!(lp.state_ref::<Count>(), Some(&Count(100)));
}

#[test]
fn per_handle_data_lives_as_long_as_the_handle() {
    with_timeout(10, || {
        let mut lp = Loop::new().unwrap();
        let t = lp.set_interval(Duration::from_millis(1), |lp, t| {
            let n = t.data_mut::<u32>(lp).unwrap();
            *n += 1;
            if *n == 3 {
                t.close(lp, |_| {}).unwrap();
            }
        });
        t.set_data(&mut lp, 0u32).unwrap();
        assert_eq!(t.data::<u32>(&lp), Some(&0));
        assert_eq!(t.data::<String>(&lp), None, "another type is not there");
        lp.run().unwrap();
        // Freed with the handle: a stale id reaches nothing.
        assert_eq!(t.data::<u32>(&lp), None);
        assert!(matches!(t.set_data(&mut lp, 1u8), Err(Error::StaleHandle)));
        // A reused slot does not inherit the old data.
        let t2 = lp.set_timeout(Duration::from_millis(1), |_, _| {});
        assert_eq!(t2.data::<u32>(&lp), None);
        t2.set_data(&mut lp, String::from("x")).unwrap();
        assert_eq!(
            t2.take_data::<u8>(&mut lp),
            None,
            "wrong type stays attached"
        );
        assert_eq!(t2.take_data::<String>(&mut lp).as_deref(), Some("x"));
        lp.run().unwrap();
        assert_clean(&lp);
    });
}

#[test]
fn walk_sees_every_handle_and_close_all_closes_them_then_calls_back_once() {
    with_timeout(10, || {
        let mut lp = Loop::new().unwrap();
        lp.set_interval(Duration::from_millis(1), |_, _| {});
        lp.set_timeout(Duration::from_secs(60), |_, _| {});
        let idle = lp.add_idle(|_, _| {});
        idle.unref(&mut lp).unwrap();
        let listener = lp
            .tcp_listen("127.0.0.1:0".parse().unwrap(), |_, _, _| {})
            .unwrap();
        let mut kinds = Vec::new();
        lp.walk(|_, info| kinds.push(info.kind));
        assert_eq!(
            kinds,
            [
                HandleKind::Timer,
                HandleKind::Timer,
                HandleKind::Idle,
                HandleKind::TcpListener
            ]
        );
        // `walk` can close generically through the `HandleId`.
        lp.walk(|lp, info| {
            if info.kind == HandleKind::Idle {
                info.id.close(lp, |_| {}).unwrap();
            }
        });
        assert!(idle.is_closing(&lp).unwrap());
        lp.insert_state(Count(0));
        let closed = lp.close_all(|lp| lp.state::<Count>().unwrap().0 += 1);
        assert_eq!(closed, 3, "the closing idle is skipped");
        assert!(listener.is_closing(&lp).unwrap());
        lp.run().unwrap();
        assert_eq!(lp.state_ref::<Count>(), Some(&Count(1)), "done ran once");
        assert_clean(&lp);
        // Nothing open: `done` still runs, later, not inside the call.
        assert_eq!(lp.close_all(|lp| lp.state::<Count>().unwrap().0 += 1), 0);
        assert_eq!(lp.state_ref::<Count>(), Some(&Count(1)));
        lp.run().unwrap();
        assert_eq!(lp.state_ref::<Count>(), Some(&Count(2)));
    });
}

#[cfg(unix)] // Unix signals: absent on Windows
#[test]
fn set_timeout_once_takes_fnonce_and_signal_numbers_are_reexported() {
    with_timeout(10, || {
        let mut lp = Loop::new().unwrap();
        lp.insert_state(Vec::<String>::new());
        // The callback consumes what it captured: no Option::take dance.
        let owned = String::from("consumed");
        lp.set_timeout_once(Duration::from_millis(1), move |lp| {
            lp.state::<Vec<String>>().unwrap().push(owned);
        });
        let cleared = lp.set_timeout_once(Duration::from_millis(1), |_| unreachable!());
        assert!(cleared.clear(&mut lp));
        lp.run().unwrap();
        assert_eq!(lp.state_ref::<Vec<String>>().unwrap(), &["consumed"]);
        assert_clean(&lp);
        assert_eq!(evloop::signal::SIGINT, libc::SIGINT);
        assert_eq!(evloop::signal::SIGTERM, libc::SIGTERM);
        // The constant is what `signal` takes.
        let sig = lp.signal(evloop::signal::SIGUSR2, |_, _, _| {}).unwrap();
        assert_eq!(sig.signum(&lp).unwrap(), libc::SIGUSR2);
        sig.close(&mut lp, |_| {}).unwrap();
        lp.run().unwrap();
        assert_clean(&lp);
    });
}
