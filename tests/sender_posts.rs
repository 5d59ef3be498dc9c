//! LoopSender: cross-thread posts, ordering, wake-ups and liveness.
mod util;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use evloop::Loop;
use util::{assert_clean, with_timeout};

#[test]
fn a_thread_posts_100_000_closures_all_run_in_order_on_the_loop_thread() {
    with_timeout(60, || {
        let mut lp = Loop::new().unwrap();
        let loop_thread = thread::current().id();
        let next = Arc::new(AtomicUsize::new(0));
        let sender = lp.sender();
        let n = next.clone();
        let producer = thread::spawn(move || {
            for i in 0..100_000usize {
                let n = n.clone();
                let posted = sender.post(move |_| {
                    assert_eq!(thread::current().id(), loop_thread);
                    assert_eq!(n.fetch_add(1, Ordering::Relaxed), i, "posts out of order");
                });
                assert!(posted.is_ok());
            }
            // Dropping the sender lets the loop exit once every post ran.
        });
        lp.run().unwrap();
        producer.join().unwrap();
        assert_eq!(next.load(Ordering::Relaxed), 100_000);
        assert_clean(&lp);
    });
}

#[test]
fn the_loop_wakes_from_an_infinite_poll_when_posted_to() {
    with_timeout(10, || {
        let mut lp = Loop::new().unwrap();
        let sender = lp.sender();
        let posted_at = Arc::new(std::sync::Mutex::new(None::<Instant>));
        let p = posted_at.clone();
        let t = thread::spawn(move || {
            thread::sleep(Duration::from_millis(200));
            *p.lock().unwrap() = Some(Instant::now());
            sender
                .post(|lp| {
                    lp.set_immediate(|_| {});
                })
                .unwrap();
            // sender dropped here: the loop may exit after running the post.
        });
        let start = Instant::now();
        lp.run().unwrap();
        let woke = Instant::now();
        t.join().unwrap();
        let posted = posted_at.lock().unwrap().unwrap();
        assert!(
            start.elapsed() >= Duration::from_millis(190),
            "did not block"
        );
        assert!(
            woke - posted < Duration::from_millis(500),
            "slow wake: {:?}",
            woke - posted
        );
        assert_clean(&lp);
    });
}

#[test]
fn a_weak_sender_does_not_keep_the_loop_alive() {
    with_timeout(10, || {
        let mut lp = Loop::new().unwrap();
        let weak = lp.weak_sender();
        assert!(!weak.keeps_alive());
        assert!(!lp.alive());
        lp.run().unwrap();
        let strong = lp.sender();
        assert!(lp.alive());
        drop(strong);
        assert!(!lp.alive());
        drop(weak);
    });
}

#[test]
fn posts_sent_before_the_last_sender_drops_still_run() {
    with_timeout(10, || {
        let mut lp = Loop::new().unwrap();
        let ran = Arc::new(AtomicBool::new(false));
        let r = ran.clone();
        let sender = lp.sender();
        thread::spawn(move || {
            sender
                .post(move |_| r.store(true, Ordering::SeqCst))
                .unwrap();
        })
        .join()
        .unwrap();
        assert!(lp.alive(), "a queued post keeps the loop alive");
        lp.run().unwrap();
        assert!(ran.load(Ordering::SeqCst));
    });
}

#[test]
fn posting_to_a_dropped_loop_hands_the_closure_back() {
    with_timeout(10, || {
        let lp = Loop::new().unwrap();
        let sender = lp.weak_sender();
        drop(lp);
        let err = sender.post(|_| {}).unwrap_err();
        let _closure: evloop::PostFnBox = err.0;
    });
}

#[test]
fn posts_queued_between_two_iterations_all_run_in_one_poll_phase() {
    with_timeout(10, || {
        let mut lp = Loop::new().unwrap();
        let sender = lp.sender();
        let ran = Arc::new(AtomicUsize::new(0));
        for _ in 0..1000 {
            let r = ran.clone();
            sender
                .post(move |_| {
                    r.fetch_add(1, Ordering::Relaxed);
                })
                .unwrap();
        }
        assert!(lp.run_mode(evloop::RunMode::NoWait).unwrap());
        assert_eq!(
            ran.load(Ordering::Relaxed),
            1000,
            "all ran in one iteration"
        );
        drop(sender);
        assert!(!lp.alive());
        assert_clean(&lp);
    });
}
