//! Signal handles: delivery on the loop thread, fan-out to every handle and loop, ref/unref,
//! stop/start and close.
//!
//! Signals are process-wide and the tests of this binary run in parallel threads, so every
//! test holds `SERIAL` while it has handles or raises. Only SIGUSR1 and SIGUSR2 are used; a
//! handle for the signal always exists before it is raised (signal-hook's handler then stays
//! installed for the rest of the process, so a later stray raise is ignored, not fatal).
// Unix only: Unix signals (signal-hook); Windows has console control events instead.
#![cfg(unix)]
mod util;

use std::sync::{Arc, Barrier, Mutex, MutexGuard};
use std::thread;
use std::time::Duration;

use evloop::{Error, Handle, Loop, RunMode};
use signal_hook::consts::{SIGKILL, SIGUSR1, SIGUSR2};
use signal_hook::low_level::raise;
use util::{Counter, Trace, assert_clean, with_timeout};

static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> MutexGuard<'static, ()> {
    SERIAL
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[test]
fn raised_signal_runs_callback_once_on_the_loop_thread() {
    with_timeout(10, || {
        let _guard = serial();
        let mut lp = Loop::new().unwrap();
        let loop_thread = thread::current().id();
        let calls = Counter::new();
        let c = calls.clone();
        let sig = lp
            .signal(SIGUSR1, move |lp, sig, signum| {
                assert_eq!(thread::current().id(), loop_thread);
                assert_eq!(signum, SIGUSR1);
                c.inc();
                sig.close(lp, |_| {}).unwrap();
            })
            .unwrap();
        assert_eq!(sig.signum(&lp).unwrap(), SIGUSR1);
        assert!(sig.is_active(&lp).unwrap());
        assert_eq!(calls.get(), 0);
        raise(SIGUSR1).unwrap();
        assert_eq!(
            calls.get(),
            0,
            "the callback runs on the loop, not in the handler"
        );
        lp.run().unwrap();
        assert_eq!(calls.get(), 1);
        assert_clean(&lp);
    });
}

#[test]
fn every_handle_for_the_signal_fires() {
    with_timeout(10, || {
        let _guard = serial();
        let mut lp = Loop::new().unwrap();
        let trace = Trace::new();
        for name in ["first", "second"] {
            let t = trace.clone();
            lp.signal(SIGUSR2, move |lp, sig, _| {
                t.push(name);
                sig.close(lp, |_| {}).unwrap();
            })
            .unwrap();
        }
        raise(SIGUSR2).unwrap();
        lp.run().unwrap();
        let mut got = trace.take();
        got.sort();
        assert_eq!(got, ["first", "second"]);
        assert_clean(&lp);
    });
}

#[test]
fn loops_on_two_threads_both_see_it() {
    with_timeout(10, || {
        let _guard = serial();
        let ready = Arc::new(Barrier::new(3));
        let loops: Vec<_> = (0..2)
            .map(|_| {
                let ready = ready.clone();
                thread::spawn(move || {
                    let mut lp = Loop::new().unwrap();
                    let calls = Counter::new();
                    let c = calls.clone();
                    lp.signal(SIGUSR1, move |lp, sig, signum| {
                        assert_eq!(signum, SIGUSR1);
                        c.inc();
                        sig.close(lp, |_| {}).unwrap();
                    })
                    .unwrap();
                    ready.wait();
                    lp.run().unwrap();
                    assert_clean(&lp);
                    calls.get()
                })
            })
            .collect();
        ready.wait(); // both handles exist
        raise(SIGUSR1).unwrap();
        for lp in loops {
            assert_eq!(lp.join().unwrap(), 1);
        }
    });
}

#[test]
fn unrefd_signal_handle_does_not_keep_the_loop_alive() {
    with_timeout(10, || {
        let _guard = serial();
        let mut lp = Loop::new().unwrap();
        let calls = Counter::new();
        let c = calls.clone();
        let sig = lp
            .signal(SIGUSR2, move |_, _, _| {
                c.inc();
            })
            .unwrap();
        assert!(
            lp.alive(),
            "a ref'd active signal handle keeps the loop alive"
        );
        sig.unref(&mut lp).unwrap();
        assert!(!lp.alive());
        lp.run().unwrap(); // returns at once

        // Unref'd, it still works while something else keeps the loop alive.
        raise(SIGUSR2).unwrap();
        lp.set_timeout(Duration::from_millis(30), |_, _| {});
        lp.run().unwrap();
        assert_eq!(calls.get(), 1);
        sig.close(&mut lp, |_| {}).unwrap();
        lp.run().unwrap();
        assert_clean(&lp);
    });
}

#[test]
fn close_and_stop_stop_delivery() {
    with_timeout(10, || {
        let _guard = serial();
        let mut lp = Loop::new().unwrap();
        let trace = Trace::new();
        let t = trace.clone();
        // Stays open throughout: proves each raise below was really delivered.
        let witness = lp
            .signal(SIGUSR1, move |_, _, _| t.push("witness"))
            .unwrap();
        let t = trace.clone();
        let closed = lp.signal(SIGUSR1, move |_, _, _| t.push("closed")).unwrap();
        let t = trace.clone();
        let stopped = lp
            .signal(SIGUSR1, move |_, _, _| t.push("stopped"))
            .unwrap();
        let t = trace.clone();
        closed.close(&mut lp, move |_| t.push("close cb")).unwrap();
        stopped.stop(&mut lp).unwrap();
        assert!(!stopped.is_active(&lp).unwrap());

        raise(SIGUSR1).unwrap();
        lp.run_mode(RunMode::Once).unwrap(); // the pipe is written: poll returns at once
        let mut got = trace.take();
        got.sort();
        assert_eq!(got, ["close cb", "witness"]);
        assert!(matches!(closed.stop(&mut lp), Err(Error::StaleHandle)));

        // Restarted: deliveries while stopped are not replayed, new ones are seen.
        stopped.start(&mut lp).unwrap();
        lp.run_mode(RunMode::NoWait).unwrap();
        assert!(trace.take().is_empty());
        raise(SIGUSR1).unwrap();
        lp.run_mode(RunMode::Once).unwrap();
        let mut got = trace.take();
        got.sort();
        assert_eq!(got, ["stopped", "witness"]);

        witness.close(&mut lp, |_| {}).unwrap();
        stopped.close(&mut lp, |_| {}).unwrap();
        lp.run().unwrap();
        assert_clean(&lp);
    });
}

#[test]
fn callback_may_replace_itself() {
    with_timeout(10, || {
        let _guard = serial();
        let mut lp = Loop::new().unwrap();
        let trace = Trace::new();
        let t = trace.clone();
        lp.signal(SIGUSR2, move |lp, sig, _| {
            t.push("first");
            let t = t.clone();
            sig.set_callback(lp, move |lp, sig, _| {
                t.push("second");
                sig.close(lp, |_| {}).unwrap();
            })
            .unwrap();
            raise(SIGUSR2).unwrap();
        })
        .unwrap();
        raise(SIGUSR2).unwrap();
        lp.run().unwrap();
        assert_eq!(trace.take(), ["first", "second"]);
        assert_clean(&lp);
    });
}

#[test]
fn forbidden_and_invalid_signals_are_errors_not_panics() {
    with_timeout(10, || {
        let mut lp = Loop::new().unwrap();
        for signum in [SIGKILL, 0, -3, 1000] {
            let r = lp.signal(signum, |_, _, _| {});
            assert!(
                matches!(&r, Err(e) if e.kind() == std::io::ErrorKind::InvalidInput),
                "signal {signum}: {r:?}"
            );
        }
        assert_clean(&lp);
    });
}
