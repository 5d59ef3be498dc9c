//! Async handles (libuv `uv_async_t`): sends from any thread coalesce into one callback call
//! per wake-up, sends made after the call began bring one more, closing stops every call, and
//! a send allocates nothing.
mod util;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Barrier, Mutex};
use std::time::{Duration, Instant};

use evloop::{AsyncHandle, Handle, Loop, NotifyError, RunMode};
use util::{Counter, Trace, assert_clean, with_timeout};

/// Counts the allocations made by the current thread.
struct CountingAlloc;

thread_local! {
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
}

// SAFETY: forwards every call to the system allocator unchanged; the counter is a
// const-initialized thread-local `Cell` with no destructor, so touching it never allocates.
unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let _ = ALLOCATIONS.try_with(|n| n.set(n.get() + 1));
        // SAFETY: the caller's contract for `alloc` is passed through.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: the caller's contract for `dealloc` is passed through.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: CountingAlloc = CountingAlloc;

fn allocations() -> usize {
    ALLOCATIONS.with(Cell::get)
}

const THREADS: usize = 8;
const SENDS_PER_THREAD: usize = 20_000;

#[test]
fn sends_before_the_loop_runs_coalesce_into_one_call() {
    with_timeout(20, || {
        let mut lp = Loop::new().unwrap();
        let calls = Counter::new();
        let c = calls.clone();
        let handle = lp.async_handle(move |_, _| {
            c.inc();
        });
        let notifier = handle.notifier(&lp).unwrap();
        // Eight threads hammer it while the loop is not running.
        let start = Arc::new(Barrier::new(THREADS));
        let threads: Vec<_> = (0..THREADS)
            .map(|_| {
                let (n, start) = (notifier.clone(), start.clone());
                std::thread::spawn(move || {
                    start.wait();
                    for _ in 0..SENDS_PER_THREAD {
                        n.send().unwrap();
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert!(
            lp.run_mode(RunMode::NoWait).unwrap(),
            "the handle is still open"
        );
        assert_eq!(
            calls.get(),
            1,
            "{} sends, one call",
            THREADS * SENDS_PER_THREAD
        );
        // Nothing sent since: no further call.
        lp.run_mode(RunMode::NoWait).unwrap();
        assert_eq!(calls.get(), 1);
        handle.close(&mut lp, |_| {}).unwrap();
        lp.run().unwrap();
        assert_clean(&lp);
    });
}

#[test]
fn eight_threads_hammering_get_one_call_after_their_last_send_and_never_more_calls_than_sends() {
    with_timeout(30, || {
        let mut lp = Loop::new().unwrap();
        let sent = Arc::new(AtomicUsize::new(0));
        let total = THREADS * SENDS_PER_THREAD;
        let calls = Counter::new();
        let saw_all = Counter::new();
        let (c, s, seen) = (calls.clone(), sent.clone(), saw_all.clone());
        let handle = lp.async_handle(move |lp, h| {
            c.inc();
            // Sends are counted under release before they are made, so a call entered after
            // the last send sees them all.
            if s.load(Ordering::Acquire) == total {
                seen.inc();
                h.close(lp, |_| {}).unwrap();
            }
        });
        let notifier = handle.notifier(&lp).unwrap();
        let threads: Vec<_> = (0..THREADS)
            .map(|_| {
                let (n, sent) = (notifier.clone(), sent.clone());
                std::thread::spawn(move || {
                    for _ in 0..SENDS_PER_THREAD {
                        sent.fetch_add(1, Ordering::AcqRel);
                        n.send().unwrap();
                    }
                })
            })
            .collect();
        lp.run().unwrap();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(saw_all.get(), 1, "one call came after the last send");
        assert!(
            (1..=total).contains(&calls.get()),
            "{} calls for {total} sends",
            calls.get()
        );
        assert_clean(&lp);
    });
}

#[test]
fn closing_while_eight_threads_send_stops_every_call_and_later_sends_fail() {
    with_timeout(30, || {
        let mut lp = Loop::new().unwrap();
        let closed = Arc::new(AtomicBool::new(false));
        let calls = Counter::new();
        let trace = Trace::new();
        let (c, cl, t) = (calls.clone(), closed, trace.clone());
        let handle = lp.async_handle(move |lp, h| {
            assert!(!cl.load(Ordering::Acquire), "a call after close");
            if c.inc() == 3 {
                cl.store(true, Ordering::Release);
                let t = t.clone();
                h.close(lp, move |_| t.push("closed")).unwrap();
            }
        });
        let notifier = handle.notifier(&lp).unwrap();
        let stop_at = Instant::now() + Duration::from_secs(10);
        let threads: Vec<_> = (0..THREADS)
            .map(|_| {
                let n = notifier.clone();
                std::thread::spawn(move || {
                    // Bounded in time; ends at the first refused send.
                    let mut sends = 0u64;
                    while Instant::now() < stop_at {
                        match n.send() {
                            Ok(()) => sends += 1,
                            Err(NotifyError::Closed) => return Ok(sends),
                            Err(e) => return Err(format!("unexpected {e:?}")),
                        }
                        if sends.is_multiple_of(64) {
                            std::thread::yield_now();
                        }
                    }
                    Err("never saw the close".to_string())
                })
            })
            .collect();
        lp.run().unwrap();
        for t in threads {
            t.join().unwrap().unwrap();
        }
        assert_eq!(calls.get(), 3);
        assert_eq!(trace.take(), ["closed"]);
        // After close, and after the loop is gone, sends fail rather than call anything.
        assert_eq!(notifier.send(), Err(NotifyError::Closed));
        assert!(matches!(
            handle.notifier(&lp),
            Err(evloop::Error::StaleHandle)
        ));
        assert_clean(&lp);
        drop(lp);
        assert_eq!(notifier.send(), Err(NotifyError::Closed));
    });
}

#[test]
fn a_send_from_inside_the_callback_brings_exactly_one_more_call() {
    with_timeout(10, || {
        let mut lp = Loop::new().unwrap();
        let trace = Trace::new();
        let t = trace.clone();
        let notifier: Arc<Mutex<Option<evloop::Notifier>>> = Arc::default();
        let own = notifier.clone();
        let calls = Counter::new();
        let handle = lp.async_handle(move |lp, h| {
            let n = calls.inc();
            t.push(format!("call {n} in iteration {}", lp.metrics().iterations));
            if n == 1 {
                let guard = own.lock().unwrap();
                let me = guard.as_ref().unwrap();
                // Twice: the second coalesces into the first.
                me.send().unwrap();
                me.send().unwrap();
            } else {
                h.close(lp, |_| {}).unwrap();
            }
        });
        let n = handle.notifier(&lp).unwrap();
        n.send().unwrap();
        *notifier.lock().unwrap() = Some(n);
        lp.run().unwrap();
        assert_eq!(
            trace.take(),
            ["call 1 in iteration 1", "call 2 in iteration 2"]
        );
        assert_clean(&lp);
    });
}

#[test]
fn a_call_runs_in_send_order_with_posts_and_is_followed_by_a_drain() {
    with_timeout(10, || {
        let mut lp = Loop::new().unwrap();
        let log = Arc::new(Mutex::new(Vec::new()));
        let l = log.clone();
        let handle = lp.async_handle(move |lp, h| {
            l.lock().unwrap().push("async");
            let l = l.clone();
            lp.queue_microtask(move |_| l.lock().unwrap().push("async's microtask"));
            h.close(lp, |_| {}).unwrap();
        });
        let notifier = handle.notifier(&lp).unwrap();
        let sender = lp.weak_sender();
        let l = log.clone();
        std::thread::spawn(move || {
            let l2 = l.clone();
            sender
                .post(move |_| l2.lock().unwrap().push("post before"))
                .unwrap();
            notifier.send().unwrap();
            sender
                .post(move |_| l.lock().unwrap().push("post after"))
                .unwrap();
        })
        .join()
        .unwrap();
        lp.run().unwrap();
        assert_eq!(
            *log.lock().unwrap(),
            ["post before", "async", "async's microtask", "post after"]
        );
        assert_clean(&lp);
    });
}

#[test]
fn an_async_handle_keeps_the_loop_alive_until_unrefd_or_closed() {
    with_timeout(10, || {
        let mut lp = Loop::new().unwrap();
        let calls = Counter::new();
        let c = calls.clone();
        let handle: AsyncHandle = lp.async_handle(move |_, _| {
            c.inc();
        });
        assert!(lp.alive());
        assert!(handle.is_active(&lp).unwrap());
        handle.unref(&mut lp).unwrap();
        assert!(!lp.alive());
        lp.run().unwrap(); // returns: nothing keeps the loop alive
        assert_eq!(calls.get(), 0);
        // Unref'd, it still works while something else keeps the loop alive.
        let n = handle.notifier(&lp).unwrap();
        lp.set_timeout(Duration::from_millis(20), |_, _| {});
        std::thread::spawn(move || n.send().unwrap())
            .join()
            .unwrap();
        lp.run().unwrap();
        assert_eq!(calls.get(), 1);
        handle.close(&mut lp, |_| {}).unwrap();
        assert!(handle.notifier(&lp).is_err(), "closing");
        lp.run().unwrap();
        assert_clean(&lp);
    });
}

#[test]
fn a_send_allocates_nothing() {
    with_timeout(10, || {
        let mut lp = Loop::new().unwrap();
        let calls = Counter::new();
        let c = calls.clone();
        let handle = lp.async_handle(move |_, _| {
            c.inc();
        });
        let notifier = handle.notifier(&lp).unwrap();
        // Warm up: the inbox queues grow to their working size once.
        for _ in 0..4 {
            notifier.send().unwrap();
            lp.run_mode(RunMode::NoWait).unwrap();
        }
        let mut during_sends = 0;
        for _ in 0..1000 {
            let before = allocations();
            for _ in 0..10 {
                notifier.send().unwrap();
            }
            during_sends += allocations() - before;
            lp.run_mode(RunMode::NoWait).unwrap();
        }
        assert_eq!(during_sends, 0, "allocations in 10 000 sends");
        assert_eq!(calls.get(), 1004, "one call per round of ten sends");
        handle.close(&mut lp, |_| {}).unwrap();
        lp.run().unwrap();
        assert_clean(&lp);
    });
}
