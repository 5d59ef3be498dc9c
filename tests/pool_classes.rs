//! `Loop::queue_work_in`: which workers each `WorkClass` may hold, through the public API.
mod util;

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;

use evloop::{Error, Loop, WorkClass};
use util::{assert_clean, with_timeout};

/// A job that says it started, then blocks until released (bounded: 20 s).
fn blocker(
    started: &Arc<AtomicUsize>,
    started_tx: &mpsc::Sender<()>,
    release: &Arc<Mutex<mpsc::Receiver<()>>>,
) -> impl FnOnce() -> usize + Send + 'static {
    let started = started.clone();
    let started_tx = started_tx.clone();
    let release = release.clone();
    move || {
        let n = started.fetch_add(1, Ordering::SeqCst) + 1;
        started_tx.send(()).unwrap();
        let rx = release.lock().unwrap();
        rx.recv_timeout(Duration::from_secs(20)).unwrap();
        n
    }
}

/// Runs `blocking` jobs of `class` on a pool of `workers`, waits until `expect_running` of them
/// have started, then checks that a fast-I/O job still completes while they block, and that no
/// more than `expect_running` started before it did. Releases them all and checks every result.
fn hold_and_probe(workers: usize, class: WorkClass, blocking: usize, expect_running: usize) {
    let mut lp = Loop::builder().threadpool_size(workers).build().unwrap();
    let started = Arc::new(AtomicUsize::new(0));
    let (started_tx, started_rx) = mpsc::channel();
    let (release_tx, release_rx) = mpsc::channel::<()>();
    let release_rx = Arc::new(Mutex::new(release_rx));
    let order = Rc::new(RefCell::new(Vec::new()));
    for i in 0..blocking {
        let o = order.clone();
        lp.queue_work_in(
            class,
            blocker(&started, &started_tx, &release_rx),
            move |_, r| {
                r.unwrap();
                o.borrow_mut().push(format!("blocker {i}"));
            },
        );
    }
    for _ in 0..expect_running {
        started_rx.recv_timeout(Duration::from_secs(10)).unwrap();
    }
    let o = order.clone();
    let s = started.clone();
    lp.queue_work_in(
        WorkClass::FastIo,
        || 7,
        move |_, r| {
            assert_eq!(r.unwrap(), 7);
            // The limited class has its share and no more: the rest still wait in the queue.
            assert_eq!(s.load(Ordering::SeqCst), expect_running);
            o.borrow_mut().push("fast".to_string());
            for _ in 0..blocking {
                release_tx.send(()).unwrap();
            }
        },
    );
    lp.run().unwrap();
    assert_eq!(started.load(Ordering::SeqCst), blocking);
    let order = order.borrow();
    assert_eq!(order.len(), blocking + 1, "{order:?}");
    assert_eq!(order[0], "fast", "{order:?}");
    assert_clean(&lp);
}

#[test]
fn slow_io_holds_at_most_half_the_workers_and_fast_io_still_runs() {
    // Four workers: slow I/O may hold two; the third waits, and a file-class job runs.
    with_timeout(60, || hold_and_probe(4, WorkClass::SlowIo, 3, 2));
}

#[test]
fn cpu_work_leaves_one_worker_for_fast_io() {
    // Three workers: CPU jobs may hold two; the third waits, and a file-class job runs.
    with_timeout(60, || hold_and_probe(3, WorkClass::Cpu, 3, 2));
}

#[test]
fn fast_io_may_use_every_worker() {
    // Two workers held by two fast-I/O jobs at once: no class limit applies to them (two CPU
    // or two slow-I/O jobs could hold only one of the two).
    with_timeout(60, || {
        let mut lp = Loop::builder().threadpool_size(2).build().unwrap();
        let started = Arc::new(AtomicUsize::new(0));
        let (started_tx, started_rx) = mpsc::channel();
        let (release_tx, release_rx) = mpsc::channel::<()>();
        let release_rx = Arc::new(Mutex::new(release_rx));
        let done = Rc::new(RefCell::new(0));
        for _ in 0..2 {
            let d = done.clone();
            lp.queue_work_in(
                WorkClass::FastIo,
                blocker(&started, &started_tx, &release_rx),
                move |_, r| {
                    r.unwrap();
                    *d.borrow_mut() += 1;
                },
            );
        }
        // Both run at once: two workers, no class limit.
        started_rx.recv_timeout(Duration::from_secs(10)).unwrap();
        started_rx.recv_timeout(Duration::from_secs(10)).unwrap();
        assert_eq!(started.load(Ordering::SeqCst), 2);
        release_tx.send(()).unwrap();
        release_tx.send(()).unwrap();
        lp.run().unwrap();
        assert_eq!(*done.borrow(), 2);
        assert_clean(&lp);
    });
}

#[test]
fn a_queued_slow_io_job_can_be_canceled_and_its_callback_gets_canceled() {
    with_timeout(60, || {
        // Two workers: slow I/O has one slot; the second job stays queued and can be canceled.
        let mut lp = Loop::builder().threadpool_size(2).build().unwrap();
        let started = Arc::new(AtomicUsize::new(0));
        let (started_tx, started_rx) = mpsc::channel();
        let (release_tx, release_rx) = mpsc::channel::<()>();
        let release_rx = Arc::new(Mutex::new(release_rx));
        let results = Rc::new(RefCell::new(Vec::new()));
        let r1 = results.clone();
        lp.queue_work_in(
            WorkClass::SlowIo,
            blocker(&started, &started_tx, &release_rx),
            move |_, r| r1.borrow_mut().push(r.map_err(|e| e.to_string())),
        );
        started_rx.recv_timeout(Duration::from_secs(10)).unwrap();
        let r2 = results.clone();
        let queued = lp.queue_work_in(
            WorkClass::SlowIo,
            || 0,
            move |_, r| {
                assert!(matches!(r, Err(Error::Canceled)), "{r:?}");
                r2.borrow_mut().push(Err("canceled".into()));
            },
        );
        lp.cancel(queued).unwrap();
        release_tx.send(()).unwrap();
        lp.run().unwrap();
        assert_eq!(started.load(Ordering::SeqCst), 1);
        let results = results.borrow();
        assert_eq!(results.len(), 2, "{results:?}");
        assert!(results.contains(&Ok(1)), "{results:?}");
        assert!(results.contains(&Err("canceled".into())), "{results:?}");
        assert_clean(&lp);
    });
}
