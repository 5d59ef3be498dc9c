//! Timers: ordering, restarts, refresh, huge timeouts, no catch-up.
mod util;

use std::cell::RefCell;
use std::rc::Rc;
use std::time::{Duration, Instant};

use evloop::{Handle, Loop, RunMode, Timer};
use util::{Counter, Trace, assert_clean, with_timeout};

#[test]
fn one_shots_and_an_interval_closed_on_its_fifth_call() {
    with_timeout(20, || {
        let mut lp = Loop::new().unwrap();
        let start = Instant::now();
        let once = Counter::new();
        let repeat = Counter::new();
        let closed = Counter::new();
        for i in 0..10u64 {
            let o = once.clone();
            lp.set_timeout(Duration::from_millis(i * 50), move |_, _| {
                o.inc();
            });
        }
        let (r, c) = (repeat.clone(), closed.clone());
        lp.set_interval(Duration::from_millis(100), move |lp, me| {
            if r.inc() == 5 {
                let c = c.clone();
                me.close(lp, move |_| {
                    c.inc();
                })
                .unwrap();
            }
        });
        lp.run().unwrap();
        assert_eq!(once.get(), 10);
        assert_eq!(repeat.get(), 5);
        assert_eq!(closed.get(), 1);
        assert!(start.elapsed() >= Duration::from_millis(500));
        assert_clean(&lp);
    });
}

#[test]
fn equal_due_times_fire_in_start_order_and_reversed_after_restart() {
    with_timeout(10, || {
        let mut lp = Loop::new().unwrap();
        let trace = Trace::new();
        for i in 0..5 {
            let t = trace.clone();
            lp.set_timeout(Duration::from_millis(10), move |_, _| t.push(i.to_string()));
        }
        lp.run().unwrap();
        assert_eq!(trace.take(), ["0", "1", "2", "3", "4"]);

        // Restart in reverse order: start order is the restart order.
        let timers: Vec<Timer> = (0..5)
            .map(|i| {
                let t = trace.clone();
                lp.set_interval(Duration::from_millis(10), move |lp, me| {
                    t.push(i.to_string());
                    me.clear(lp);
                })
            })
            .collect();
        for t in timers.iter().rev() {
            t.refresh(&mut lp).unwrap();
        }
        lp.run().unwrap();
        assert_eq!(trace.take(), ["4", "3", "2", "1", "0"]);
        assert_clean(&lp);
    });
}

#[test]
fn a_zero_ms_restart_from_its_own_callback_runs_once_per_pass() {
    with_timeout(10, || {
        let mut lp = Loop::new().unwrap();
        let calls = Counter::new();
        let c = calls.clone();
        let timer = lp.set_timeout(Duration::ZERO, move |lp, me| {
            c.inc();
            me.refresh(lp).unwrap();
        });
        for pass in 1..=10 {
            lp.run_mode(RunMode::NoWait).unwrap();
            assert_eq!(calls.get(), pass, "one call per timer pass");
        }
        timer.clear(&mut lp);
        assert_clean(&lp);
    });
}

#[test]
fn a_timer_started_from_a_timer_callback_waits_for_the_next_pass() {
    with_timeout(10, || {
        let mut lp = Loop::new().unwrap();
        let trace = Trace::new();
        let t = trace.clone();
        lp.set_timeout(Duration::ZERO, move |lp, _| {
            t.push("outer");
            let t2 = t.clone();
            lp.set_timeout(Duration::ZERO, move |_, _| t2.push("inner"));
        });
        lp.run_mode(RunMode::NoWait).unwrap();
        assert_eq!(trace.take(), ["outer"]);
        lp.run_mode(RunMode::NoWait).unwrap();
        assert_eq!(trace.take(), ["inner"]);
        assert_clean(&lp);
    });
}

#[test]
fn a_huge_timeout_neither_overflows_nor_fires() {
    with_timeout(10, || {
        let mut lp = Loop::new().unwrap();
        let timer = lp.set_timeout(Duration::MAX, |_, _| panic!("huge timer fired"));
        let due = timer.due_in(&lp).unwrap().unwrap();
        assert!(due > Duration::from_secs(100 * 365 * 24 * 3600));
        let other = lp.set_timeout(Duration::from_secs(u64::MAX / 2), |_, _| panic!("fired"));
        for _ in 0..3 {
            assert!(lp.run_mode(RunMode::NoWait).unwrap());
        }
        timer.clear(&mut lp);
        other.clear(&mut lp);
        assert_clean(&lp);
    });
}

#[test]
fn refresh_keeps_a_timer_from_firing() {
    with_timeout(10, || {
        let mut lp = Loop::new().unwrap();
        let fired = Counter::new();
        let f = fired.clone();
        let watched = lp.set_timeout(Duration::from_millis(100), move |_, _| {
            f.inc();
        });
        let refreshes = Counter::new();
        let r = refreshes.clone();
        let f = fired.clone();
        lp.set_interval(Duration::from_millis(50), move |lp, me| {
            assert_eq!(f.get(), 0, "refreshed timer fired");
            watched.refresh(lp).unwrap();
            if r.inc() == 8 {
                me.clear(lp);
            }
        });
        let start = Instant::now();
        lp.run().unwrap();
        assert_eq!(refreshes.get(), 8);
        assert_eq!(fired.get(), 1, "fires once refreshes stop");
        assert!(start.elapsed() >= Duration::from_millis(500));
        assert_clean(&lp);
    });
}

#[test]
fn an_interval_that_fell_behind_runs_once_not_n_times() {
    with_timeout(10, || {
        let mut lp = Loop::new().unwrap();
        let calls = Rc::new(RefCell::new(Vec::new()));
        let c = calls.clone();
        lp.set_interval(Duration::from_millis(10), move |lp, me| {
            c.borrow_mut().push(Instant::now());
            if c.borrow().len() == 1 {
                // Block for ten periods.
                std::thread::sleep(Duration::from_millis(100));
            }
            if c.borrow().len() == 3 {
                me.clear(lp);
            }
        });
        lp.run().unwrap();
        let calls = calls.borrow();
        assert_eq!(calls.len(), 3);
        // After the block the next call comes a full period later, not in a burst.
        assert!(
            calls[2] - calls[1] >= Duration::from_millis(9),
            "{:?}",
            calls[2] - calls[1]
        );
        assert_clean(&lp);
    });
}

#[test]
fn clearing_a_timer_due_in_the_same_pass_prevents_its_call() {
    with_timeout(10, || {
        let mut lp = Loop::new().unwrap();
        let trace = Trace::new();
        let victim: Rc<RefCell<Option<Timer>>> = Rc::default();
        let (t, v) = (trace.clone(), victim.clone());
        lp.set_timeout(Duration::from_millis(5), move |lp, _| {
            t.push("first");
            let victim = v.borrow_mut().take().unwrap();
            assert!(victim.clear(lp), "victim was still pending");
            assert!(!victim.clear(lp), "clear is idempotent");
        });
        let t = trace.clone();
        *victim.borrow_mut() =
            Some(lp.set_timeout(Duration::from_millis(5), move |_, _| t.push("victim")));
        lp.run().unwrap();
        assert_eq!(trace.take(), ["first"]);
        assert_clean(&lp);
    });
}

#[test]
fn due_in_reports_the_remaining_time_and_none_when_not_armed() {
    with_timeout(10, || {
        let mut lp = Loop::new().unwrap();
        let t = lp.set_timeout(Duration::from_millis(500), |_, _| {});
        let due = t.due_in(&lp).unwrap().unwrap();
        assert!(due <= Duration::from_millis(500) && due > Duration::from_millis(400));
        assert_eq!(t.timeout(&lp).unwrap(), Duration::from_millis(500));
        let seen = Rc::new(RefCell::new(None));
        let s = seen.clone();
        let inner = lp.set_timeout(Duration::ZERO, move |lp, me| {
            *s.borrow_mut() = Some(me.due_in(lp).unwrap());
        });
        lp.run_mode(RunMode::NoWait).unwrap();
        assert_eq!(*seen.borrow(), Some(None), "a firing one-shot is not armed");
        assert!(inner.due_in(&lp).is_err(), "released after firing");
        t.clear(&mut lp);
        assert_clean(&lp);
    });
}

#[test]
fn timers_fire_close_to_their_deadline() {
    with_timeout(10, || {
        let mut lp = Loop::new().unwrap();
        let late = Rc::new(RefCell::new(Vec::new()));
        for ms in [3u64, 7, 15, 30] {
            let l = late.clone();
            let scheduled = Instant::now() + Duration::from_millis(ms);
            lp.update_time();
            lp.set_timeout(Duration::from_millis(ms), move |_, _| {
                l.borrow_mut()
                    .push(Instant::now().saturating_duration_since(scheduled));
            });
        }
        lp.run().unwrap();
        // Generous bound (CI noise); the precise figure is in the lag benchmark.
        for l in late.borrow().iter() {
            assert!(*l < Duration::from_millis(50), "fired {l:?} late");
        }
    });
}

/// Whatever backs the poll wait (a timerfd on Linux; elsewhere, and with `portable-fallbacks`,
/// the poller's own timeout, which mio rounds *up* to whole milliseconds except on kqueue), a
/// timer never fires before its due time and the loop does not spin while it waits: a
/// sub-millisecond remainder must not become a zero timeout polled over and over.
#[test]
fn fractional_millisecond_timers_fire_never_early_and_without_spinning() {
    with_timeout(20, || {
        const TIMERS: u64 = 20;
        let mut lp = Loop::new().unwrap();
        let late = Rc::new(RefCell::new(Vec::new()));
        fn chain(lp: &mut Loop, n: u64, late: Rc<RefCell<Vec<Duration>>>) {
            if n == TIMERS {
                return;
            }
            // 0.3 ms, 0.8 ms, ... 2.3 ms: never a whole number of milliseconds.
            let delay = Duration::from_micros(300 + (n % 5) * 500);
            let start = Instant::now();
            lp.update_time(); // the timer counts from the cached clock: make it >= start
            lp.set_timeout(delay, move |lp, _| {
                let elapsed = start.elapsed();
                assert!(
                    elapsed >= delay,
                    "timer {n} fired early: {elapsed:?} < {delay:?}"
                );
                late.borrow_mut().push(elapsed - delay);
                chain(lp, n + 1, late.clone());
            });
        }
        let before = lp.metrics().iterations;
        chain(&mut lp, 0, late.clone());
        lp.run().unwrap();
        let iterations = lp.metrics().iterations - before;
        assert_eq!(late.borrow().len() as u64, TIMERS);
        // One wait per timer, plus slack for a wake-up that finds its timer not yet due; a
        // loop spinning on a zero timeout would count thousands.
        assert!(
            iterations <= 3 * TIMERS,
            "{iterations} iterations for {TIMERS} timers"
        );
        assert_clean(&lp);
    });
}

/// What registers an fd with the loop's poller for the clock tests: nothing, an unref'd TCP
/// listener, or an unref'd raw-fd watcher. None of them keeps the loop alive.
#[derive(Clone, Copy, Debug)]
enum Fds {
    None,
    UnrefdListener,
    UnrefdUdp,
}

/// Closes what `register` made.
type Cleanup = Box<dyn FnOnce(&mut Loop)>;

fn register(lp: &mut Loop, fds: Fds) -> Option<Cleanup> {
    let any: std::net::SocketAddr = "127.0.0.1:0".parse().unwrap();
    match fds {
        Fds::None => None,
        Fds::UnrefdListener => {
            let l = lp.tcp_listen(any, |_, _, _| {}).unwrap();
            l.unref(lp).unwrap();
            Some(Box::new(move |lp| l.close(lp, |_| {}).unwrap()))
        }
        Fds::UnrefdUdp => {
            let u = lp.udp_bind(any).unwrap();
            u.recv_start(lp, |_, _, _| {}).unwrap();
            u.unref(lp).unwrap();
            Some(Box::new(move |lp| u.close(lp, |_| {}).unwrap()))
        }
    }
}

const BLOCK: Duration = Duration::from_millis(40);
const DELAY: Duration = Duration::from_millis(30);

/// What `timer_after_a_block` saw of the timer it started.
#[derive(Debug)]
struct Fired {
    /// From the start call to the callback.
    waited: Duration,
    /// It fired in the timer phase of the iteration that started it (it was already due).
    same_iteration: bool,
}

/// From an immediate (after poll) that blocks for `BLOCK` and then starts a `DELAY` timer,
/// with the clock read before the block (`read_first`) or not, and `update_time` after it or
/// not: when and where the timer fired.
fn timer_after_a_block(fds: Fds, read_first: bool, update: bool) -> Fired {
    let mut lp = Loop::new().unwrap();
    let cleanup = register(&mut lp, fds);
    let waited = Rc::new(RefCell::new(None));
    let w = waited.clone();
    // A ref'd timer far away keeps the loop alive and blocking in poll between iterations.
    let keeper = lp.set_timeout(Duration::from_secs(30), |_, _| {});
    lp.set_timeout(Duration::from_millis(1), move |lp, _| {
        let w = w.clone();
        lp.set_immediate(move |lp| {
            if read_first {
                let _ = lp.now();
            }
            std::thread::sleep(BLOCK);
            if update {
                lp.update_time();
            }
            let started = Instant::now();
            let iteration = lp.metrics().iterations;
            let w = w.clone();
            lp.set_timeout(DELAY, move |lp, _| {
                *w.borrow_mut() = Some(Fired {
                    waited: started.elapsed(),
                    same_iteration: lp.metrics().iterations == iteration,
                });
                keeper.clear(lp);
            });
        });
    });
    lp.run().unwrap();
    if let Some(close) = cleanup {
        close(&mut lp);
        lp.run().unwrap();
    }
    assert_clean(&lp);
    let fired = waited.borrow_mut().take();
    fired.expect("the timer fired")
}

#[test]
fn a_timer_starts_from_the_first_clock_read_of_its_stretch_with_or_without_fds() {
    with_timeout(30, || {
        for fds in [Fds::None, Fds::UnrefdListener, Fds::UnrefdUdp] {
            // Nothing read the clock after poll returned: the timer start takes the time, after
            // the block, so the timer waits its whole delay.
            let fired = timer_after_a_block(fds, false, false);
            assert!(fired.waited >= DELAY, "{fds:?}: {fired:?}");
            // The clock was read before the block: the timer starts from that cached time, so
            // it is already due and fires in the timer phase of the same iteration, early by
            // the blocked time (libuv's rule).
            let fired = timer_after_a_block(fds, true, false);
            assert!(fired.same_iteration, "{fds:?}: {fired:?}, expected early");
            // `update_time` refreshes it by hand: the whole delay again.
            let fired = timer_after_a_block(fds, true, true);
            assert!(fired.waited >= DELAY, "{fds:?} with update_time: {fired:?}");
        }
    });
}

#[test]
fn timers_started_in_one_stretch_tie_whatever_is_registered() {
    with_timeout(30, || {
        for fds in [Fds::None, Fds::UnrefdListener] {
            let mut lp = Loop::new().unwrap();
            let cleanup = register(&mut lp, fds);
            let trace = Trace::new();
            let t = trace.clone();
            lp.set_immediate(move |lp| {
                // Started 5 ms apart in real time, from one cached time: equal due times, so
                // start order decides, and both fire in one pass.
                let t1 = t.clone();
                let first = lp.set_timeout(Duration::from_millis(10), move |lp, _| {
                    t1.push(format!("first, iteration {}", lp.metrics().iterations));
                });
                std::thread::sleep(Duration::from_millis(5));
                let second = lp.set_timeout(Duration::from_millis(10), move |lp, _| {
                    t.push(format!("second, iteration {}", lp.metrics().iterations));
                });
                assert_eq!(first.due_in(lp).unwrap(), second.due_in(lp).unwrap());
            });
            lp.run().unwrap();
            let got = trace.take();
            assert_eq!(got.len(), 2, "{fds:?}");
            assert!(got[0].starts_with("first"), "{fds:?}: {got:?}");
            assert_eq!(
                got[0].split(", ").nth(1),
                got[1].split(", ").nth(1),
                "{fds:?}: one pass"
            );
            if let Some(close) = cleanup {
                close(&mut lp);
                lp.run().unwrap();
            }
            assert_clean(&lp);
        }
    });
}

#[test]
fn restart_rearms_an_armed_timer_with_a_new_timeout_and_start_order() {
    with_timeout(10, || {
        let mut lp = Loop::new().unwrap();
        let trace = Trace::new();
        let t = trace.clone();
        let slow = lp.set_timeout(Duration::from_secs(60), move |_, _| t.push("slow"));
        let t = trace.clone();
        lp.set_timeout(Duration::from_millis(5), move |_, _| t.push("other"));
        // Same cached time, same timeout as `other`: restarting puts it after `other`.
        slow.restart(&mut lp, Duration::from_millis(5), false)
            .unwrap();
        assert_eq!(slow.timeout(&lp).unwrap(), Duration::from_millis(5));
        let started = Instant::now();
        lp.run().unwrap();
        assert!(started.elapsed() < Duration::from_secs(30));
        assert_eq!(trace.take(), ["other", "slow"]);
        assert!(matches!(
            slow.restart(&mut lp, Duration::ZERO, false),
            Err(evloop::Error::StaleHandle)
        ));
        assert_clean(&lp);
    });
}

#[test]
fn restart_from_its_own_callback_turns_a_one_shot_into_an_interval_and_back() {
    with_timeout(10, || {
        let mut lp = Loop::new().unwrap();
        let calls = Counter::new();
        let c = calls.clone();
        lp.set_timeout(Duration::from_millis(1), move |lp, timer| match c.inc() {
            1 => timer.restart(lp, Duration::from_millis(2), true).unwrap(),
            3 => timer.restart(lp, Duration::from_millis(2), false).unwrap(),
            _ => {}
        });
        lp.run().unwrap();
        // 1: one-shot; 2, 3: interval; 4: one-shot again, then released.
        assert_eq!(calls.get(), 4);
        assert_clean(&lp);
    });
}

#[test]
fn restart_with_replaces_the_callback() {
    with_timeout(10, || {
        let mut lp = Loop::new().unwrap();
        let trace = Trace::new();
        let t = trace.clone();
        let timer = lp.set_interval(Duration::from_millis(1), move |lp, timer| {
            t.push("old");
            let t = t.clone();
            timer
                .restart_with(lp, Duration::from_millis(1), false, move |_, _| {
                    t.push("new");
                })
                .unwrap();
        });
        lp.run().unwrap();
        assert_eq!(trace.take(), ["old", "new"]);
        assert!(timer.is_active(&lp).is_err(), "released after its one shot");
        // On a closing timer: an error, and its callback never runs.
        let t = trace.clone();
        let closing = lp.set_timeout(Duration::ZERO, move |_, _| t.push("closing timer"));
        closing.close(&mut lp, |_| {}).unwrap();
        assert!(matches!(
            closing.restart_with(&mut lp, Duration::ZERO, false, |_, _| {}),
            Err(evloop::Error::Closing)
        ));
        lp.run().unwrap();
        assert!(trace.take().is_empty());
        assert_clean(&lp);
    });
}
