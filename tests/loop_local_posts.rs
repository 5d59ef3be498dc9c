//! `LocalSender`: loop-thread posts without `&mut Loop` — when they run, in what order, what
//! they keep alive, and what happens once the loop is gone.
mod util;

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use evloop::{LocalSender, Loop};
use util::with_timeout;

#[test]
fn posts_run_in_the_pending_phase_in_post_order_never_inside_post() {
    with_timeout(10, || {
        let mut lp = Loop::new().unwrap();
        let log = Rc::new(RefCell::new(Vec::new()));
        let local = lp.local_sender();
        let (l1, l2, l3) = (Rc::clone(&log), Rc::clone(&log), Rc::clone(&log));
        lp.set_immediate(move |lp| {
            l1.borrow_mut().push("immediate");
            let l = Rc::clone(&l1);
            lp.local_sender()
                .post(move |_| l.borrow_mut().push("post from immediate"))
                .unwrap();
            l1.borrow_mut().push("after post");
        });
        let m = Rc::clone(&log);
        local
            .post(move |lp| {
                m.borrow_mut().push("first post");
                let m2 = Rc::clone(&m);
                lp.queue_microtask(move |_| m2.borrow_mut().push("its microtask"));
            })
            .unwrap();
        local
            .post(move |_| l2.borrow_mut().push("second post"))
            .unwrap();
        lp.set_timeout(Duration::ZERO, move |_, _| l3.borrow_mut().push("timer"));
        lp.run().unwrap();
        // Pre-pass timers, then the first iteration's pending phase runs the posts (each
        // followed by its microtasks), then the check phase; a post made there runs in the next
        // iteration's pending phase.
        assert_eq!(
            *log.borrow(),
            [
                "timer",
                "first post",
                "its microtask",
                "second post",
                "immediate",
                "after post",
                "post from immediate",
            ]
        );
        assert!(lp.active_handles().is_empty());
    });
}

#[test]
fn a_queued_post_keeps_the_loop_alive_and_a_post_from_drop_runs() {
    struct Guard(LocalSender, Rc<RefCell<u32>>);
    impl Drop for Guard {
        fn drop(&mut self) {
            let n = Rc::clone(&self.1);
            let _ = self.0.post(move |_| *n.borrow_mut() += 1);
        }
    }
    with_timeout(10, || {
        let mut lp = Loop::new().unwrap();
        let ran = Rc::new(RefCell::new(0));
        drop(Guard(lp.local_sender(), Rc::clone(&ran)));
        assert!(lp.alive(), "a queued post keeps the loop alive");
        lp.run().unwrap();
        assert_eq!(*ran.borrow(), 1);
        assert!(!lp.alive());
    });
}

#[test]
fn after_the_loop_is_dropped_a_post_hands_the_closure_back() {
    let lp = Loop::new().unwrap();
    let local = lp.local_sender();
    let queued = Rc::new(());
    let q = Rc::clone(&queued);
    local.post(move |_| drop(q)).unwrap();
    assert_eq!(Rc::strong_count(&queued), 2);
    drop(lp);
    // The queued post was dropped with the loop, not leaked.
    assert_eq!(Rc::strong_count(&queued), 1);
    let refused = local.post(|_| {});
    assert!(refused.is_err(), "a post to a dropped loop is refused");
}
