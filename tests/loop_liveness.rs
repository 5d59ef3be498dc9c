//! What keeps a loop alive, and active_handles() as the answer to "why does it not exit?".
mod util;

use std::time::{Duration, Instant};

use evloop::{Handle, HandleKind, Loop};
use util::{Counter, assert_clean, with_timeout};

#[test]
fn an_unrefd_timer_alone_does_not_keep_the_loop_alive() {
    with_timeout(10, || {
        let mut lp = Loop::new().unwrap();
        let fired = Counter::new();
        let f = fired.clone();
        let timer = lp.set_timeout(Duration::from_secs(30), move |_, _| {
            f.inc();
        });
        timer.unref(&mut lp).unwrap();
        assert!(!timer.has_ref(&lp).unwrap());
        assert!(timer.is_active(&lp).unwrap());
        assert!(!lp.alive());
        let start = Instant::now();
        lp.run().unwrap();
        assert!(start.elapsed() < Duration::from_secs(1));
        assert_eq!(fired.get(), 0);
        // Still armed and listed: it would fire if something else ran the loop.
        assert_eq!(lp.active_handles().len(), 1);
        timer.clear(&mut lp);
        assert_clean(&lp);
    });
}

#[test]
fn an_unrefd_timer_still_fires_while_a_refd_one_keeps_the_loop_alive() {
    with_timeout(10, || {
        let mut lp = Loop::new().unwrap();
        let fired = Counter::new();
        let f = fired.clone();
        let unrefd = lp.set_interval(Duration::from_millis(5), move |_, _| {
            f.inc();
        });
        unrefd.unref(&mut lp).unwrap();
        lp.set_timeout(Duration::from_millis(60), |_, _| {});
        lp.run().unwrap();
        assert!(
            fired.get() >= 5,
            "unref'd interval fired {} times",
            fired.get()
        );
        unrefd.clear(&mut lp);
        assert_clean(&lp);
    });
}

#[test]
fn set_ref_true_makes_a_handle_count_again() {
    with_timeout(10, || {
        let mut lp = Loop::new().unwrap();
        let timer = lp.set_timeout(Duration::from_millis(10), |_, _| {});
        timer.unref(&mut lp).unwrap();
        assert!(!lp.alive());
        timer.set_ref(&mut lp, true).unwrap();
        assert!(lp.alive());
        lp.run().unwrap();
        assert_clean(&lp);
    });
}

#[test]
fn active_handles_lists_exactly_the_live_handles_with_their_sites() {
    with_timeout(10, || {
        let mut lp = Loop::new().unwrap();
        let line = line!() + 1;
        let timer = lp.set_timeout(Duration::from_secs(60), |_, _| {});
        let idle = lp.add_idle(|_, _| {});
        let prepare = lp.add_prepare(|_, _| {});
        prepare.stop(&mut lp).unwrap();
        let check = lp.add_check(|_, _| {});
        check.unref(&mut lp).unwrap();

        let handles = lp.active_handles();
        assert_eq!(handles.len(), 4);
        let kinds: Vec<_> = handles.iter().map(|h| h.kind).collect();
        assert_eq!(
            kinds,
            [
                HandleKind::Timer,
                HandleKind::Idle,
                HandleKind::Prepare,
                HandleKind::Check
            ]
        );
        for (h, offset) in handles.iter().zip([0, 1, 2, 4]) {
            assert_eq!(h.site.file(), file!());
            assert_eq!(h.site.line(), line + offset);
        }
        assert!(handles[0].active && handles[0].refd);
        assert!(!handles[2].active, "stopped prepare is inactive");
        assert!(!handles[3].refd, "check was unref'd");
        let text = handles[0].to_string();
        assert!(text.contains("timer") && text.contains(&format!("{}:{line}", file!())));

        timer.clear(&mut lp);
        idle.close(&mut lp, |_| {}).unwrap();
        assert!(lp.active_handles().iter().any(|h| h.closing));
        prepare.close(&mut lp, |_| {}).unwrap();
        check.close(&mut lp, |_| {}).unwrap();
        lp.run().unwrap();
        assert_clean(&lp);
    });
}

#[test]
fn pending_immediates_keep_the_loop_alive_until_cleared() {
    with_timeout(10, || {
        let mut lp = Loop::new().unwrap();
        let imm = lp.set_immediate(|_| panic!("cleared immediate ran"));
        assert!(lp.alive());
        assert!(lp.clear_immediate(imm));
        assert!(!lp.clear_immediate(imm), "clearing twice is harmless");
        assert!(!lp.alive());
        lp.run().unwrap();
        assert_clean(&lp);
    });
}

#[test]
fn an_unrefd_immediate_neither_keeps_the_loop_alive_nor_runs_alone() {
    with_timeout(10, || {
        let mut lp = Loop::new().unwrap();
        let ran = Counter::new();
        let r = ran.clone();
        let im = lp.set_immediate(move |_| {
            r.inc();
        });
        assert_eq!(im.has_ref(&lp), Some(true));
        assert!(im.unref(&mut lp));
        assert_eq!(im.has_ref(&lp), Some(false));
        assert!(!lp.alive());
        lp.run().unwrap();
        assert_eq!(
            ran.get(),
            0,
            "the loop exited first, as Node's process would"
        );
        // Ref'd again, it runs.
        assert!(im.set_ref(&mut lp, true));
        lp.run().unwrap();
        assert_eq!(ran.get(), 1);
        assert_eq!(im.has_ref(&lp), None, "ran");
        assert!(!im.unref(&mut lp));
        assert_clean(&lp);
    });
}

#[test]
fn an_unrefd_immediate_runs_in_the_check_phase_of_an_iteration_something_else_brings() {
    with_timeout(10, || {
        // `start` before the loop reads its clock: the timer is due 30 ms after the loop's
        // cached time, which is not earlier than this.
        let start = Instant::now();
        let mut lp = Loop::new().unwrap();
        let trace = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
        let t = trace.clone();
        lp.set_timeout(Duration::from_millis(30), move |_, _| {
            t.borrow_mut().push(("timer", start.elapsed()));
        });
        let t = trace.clone();
        let im = lp.set_immediate(move |_| t.borrow_mut().push(("immediate", start.elapsed())));
        im.unref(&mut lp);
        lp.run().unwrap();
        let got = trace.borrow().clone();
        // Not a reason to skip the poll wait: the iteration that the timer ends runs it,
        // in its check phase, before that iteration's timer phase.
        assert_eq!(
            got.iter().map(|e| e.0).collect::<Vec<_>>(),
            ["immediate", "timer"]
        );
        assert!(got[0].1 >= Duration::from_millis(30), "{got:?}");
        assert_clean(&lp);
    });
}
