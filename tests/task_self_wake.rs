//! A task that wakes itself during its own poll: the order is the phase spec's (its poll is
//! queued at the back of the microtask queue at the moment of the wake), whether the loop
//! re-polls it at once (the self-wake fast path: the queue was empty when the poll began and
//! nothing was queued before the wake) or through the queue. Each expected trace below is
//! derived from the spec's queue model, not from the implementation.
mod util;

use std::cell::Cell;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use evloop::metrics::SlowCallback;
use evloop::{CallbackKind, Error, Loop, Phase, task};
use util::task::{Gate, collect_stalls};
use util::{Counter, Trace, assert_clean, with_timeout};

type Action = Box<dyn FnOnce()>;

/// Pending once: its first poll runs `before`, wakes its own task, runs `after`; then ready.
struct WakeSelf {
    before: Option<Action>,
    after: Option<Action>,
    woke: bool,
}

fn wake_self(before: impl FnOnce() + 'static, after: impl FnOnce() + 'static) -> WakeSelf {
    WakeSelf {
        before: Some(Box::new(before)),
        after: Some(Box::new(after)),
        woke: false,
    }
}

impl Future for WakeSelf {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.woke {
            return Poll::Ready(());
        }
        self.woke = true;
        if let Some(f) = self.before.take() {
            f();
        }
        cx.waker().wake_by_ref();
        if let Some(f) = self.after.take() {
            f();
        }
        Poll::Pending
    }
}

/// Spawns a task waiting on `gate` that logs `name` when it opens (its first poll runs in the
/// drain when `run` starts).
fn waiter(lp: &mut Loop, trace: &Trace, gate: &Gate, name: &'static str) {
    let (t, g) = (trace.clone(), gate.clone());
    lp.spawn_local(async move {
        g.wait().await;
        t.push(name);
    })
    .detach();
}

#[test]
fn a_self_wake_at_the_front_runs_before_what_the_poll_queued_after_it() {
    with_timeout(10, || {
        let mut lp = Loop::new().unwrap();
        let trace = Trace::new();
        let gate = Gate::default();
        waiter(&mut lp, &trace, &gate, "B");
        let (t, g) = (trace.clone(), gate);
        lp.set_immediate(move |lp| {
            let t2 = t.clone();
            lp.spawn_local(async move {
                t2.push("A1");
                // Queue: [] at the poll's start; the wake queues A, then B is queued: [A, B].
                wake_self(|| {}, move || g.fire()).await;
                t2.push("A2");
                // Queue: [B] at this poll's start: the wake queues A behind it.
                task::yield_now().await;
                t2.push("A3");
            })
            .detach();
            t.push("immediate");
        });
        lp.run().unwrap();
        assert_eq!(trace.take(), ["immediate", "A1", "A2", "B", "A3"]);
        assert_clean(&lp);
    });
}

#[test]
fn a_self_wake_after_a_push_in_the_same_poll_queues_behind_it() {
    with_timeout(10, || {
        let mut lp = Loop::new().unwrap();
        let trace = Trace::new();
        let gate = Gate::default();
        waiter(&mut lp, &trace, &gate, "B");
        let (t, g) = (trace.clone(), gate);
        lp.set_immediate(move |lp| {
            lp.spawn_local(async move {
                t.push("A1");
                // B is queued first, then the wake queues A: [B, A].
                wake_self(move || g.fire(), || {}).await;
                t.push("A2");
            })
            .detach();
        });
        lp.run().unwrap();
        assert_eq!(trace.take(), ["A1", "B", "A2"]);
        assert_clean(&lp);
    });
}

#[test]
fn a_task_polled_behind_queued_microtasks_yields_behind_them_then_runs_on() {
    with_timeout(10, || {
        let mut lp = Loop::new().unwrap();
        let trace = Trace::new();
        let t = trace.clone();
        lp.set_immediate(move |lp| {
            let t1 = t.clone();
            lp.spawn_local(async move {
                t1.push("A1");
                task::yield_now().await; // queue [M1] at the start: behind M1
                t1.push("A2");
                task::yield_now().await; // queue [] at the start: next
                t1.push("A3");
            })
            .detach();
            let t2 = t.clone();
            lp.queue_microtask(move |_| t2.push("M1"));
            let t3 = t.clone();
            lp.next_tick(move |_| t3.push("T1"));
            t.push("immediate");
        });
        lp.run().unwrap();
        assert_eq!(trace.take(), ["immediate", "T1", "A1", "M1", "A2", "A3"]);
        assert_clean(&lp);
    });
}

#[test]
fn a_next_tick_queued_by_a_task_waits_for_the_wakes_that_follow_it() {
    with_timeout(10, || {
        let mut lp = Loop::new().unwrap();
        let trace = Trace::new();
        let t = trace.clone();
        lp.set_immediate(move |lp| {
            lp.spawn_local(async move {
                t.push("A1");
                let t1 = t.clone();
                // The tick is queued right after this poll; completing the operation wakes the
                // task, which is queued as a microtask: a microtask's own microtasks run
                // before the next-ticks it queued.
                task::with_loop(move |lp| lp.next_tick(move |_| t1.push("T")))
                    .await
                    .unwrap();
                t.push("A2");
                task::yield_now().await;
                t.push("A3");
            })
            .detach();
        });
        lp.run().unwrap();
        assert_eq!(trace.take(), ["A1", "A2", "A3", "T"]);
        assert_clean(&lp);
    });
}

#[test]
fn a_microtask_queued_by_a_task_runs_before_the_task_resumes() {
    with_timeout(10, || {
        let mut lp = Loop::new().unwrap();
        let trace = Trace::new();
        let t = trace.clone();
        lp.set_immediate(move |lp| {
            lp.spawn_local(async move {
                t.push("A1");
                let t1 = t.clone();
                // The microtask is queued before the completion wakes the task: [M, A].
                task::with_loop(move |lp| lp.queue_microtask(move |_| t1.push("M")))
                    .await
                    .unwrap();
                t.push("A2");
            })
            .detach();
        });
        lp.run().unwrap();
        assert_eq!(trace.take(), ["A1", "M", "A2"]);
        assert_clean(&lp);
    });
}

#[test]
fn self_wakes_run_in_the_drain_of_the_callback_that_woke_the_task_before_timers_and_immediates() {
    with_timeout(10, || {
        let mut lp = Loop::new().unwrap();
        let trace = Trace::new();
        let gate = Gate::default();
        let (t, g) = (trace.clone(), gate.clone());
        lp.spawn_local(async move {
            g.wait().await;
            for i in 0..3 {
                t.push(format!("A{i}"));
                task::yield_now().await;
            }
            t.push("A done");
        })
        .detach();
        let (t, g) = (trace.clone(), gate);
        lp.set_timeout(Duration::from_millis(1), move |lp, _| {
            t.push("timer 1");
            let t1 = t.clone();
            lp.set_immediate(move |_| t1.push("immediate"));
            g.fire();
            let t2 = t.clone();
            lp.next_tick(move |_| t2.push("tick"));
        });
        let t = trace.clone();
        lp.set_timeout(Duration::from_millis(1), move |_, _| t.push("timer 2"));
        lp.run().unwrap();
        assert_eq!(
            trace.take(),
            [
                "timer 1",
                "tick",
                "A0",
                "A1",
                "A2",
                "A done",
                "timer 2",
                "immediate"
            ]
        );
        assert_clean(&lp);
    });
}

#[test]
fn two_tasks_yielding_take_turns_as_each_is_queued_behind_the_other() {
    with_timeout(10, || {
        let mut lp = Loop::new().unwrap();
        let trace = Trace::new();
        let t = trace.clone();
        lp.set_immediate(move |lp| {
            for name in ["A", "B"] {
                let t = t.clone();
                lp.spawn_local(async move {
                    for i in 1..=3 {
                        t.push(format!("{name}{i}"));
                        task::yield_now().await;
                    }
                })
                .detach();
            }
        });
        lp.run().unwrap();
        assert_eq!(trace.take(), ["A1", "B1", "A2", "B2", "A3", "B3"]);
        assert_clean(&lp);
    });
}

#[test]
fn a_task_that_keeps_waking_itself_runs_every_wake_in_one_drain_counted_poll_by_poll() {
    with_timeout(20, || {
        const YIELDS: u64 = 10_000;
        let mut lp = Loop::new().unwrap();
        // Timing on (a threshold nothing reaches): callback durations are recorded.
        lp.on_slow_callback(Duration::from_secs(60), |_| {});
        let trace = Trace::new();
        let polls = Counter::new();
        let t = trace.clone();
        lp.set_timeout(Duration::ZERO, move |lp, _| {
            let t1 = t.clone();
            lp.set_immediate(move |_| t1.push("immediate"));
            let (t2, p) = (t.clone(), polls.clone());
            lp.spawn_local(async move {
                for _ in 0..YIELDS {
                    p.inc();
                    task::yield_now().await;
                }
                t2.push(format!("task done after {} polls", p.get() + 1));
            })
            .detach();
            let t3 = t.clone();
            lp.set_timeout(Duration::ZERO, move |_, _| t3.push("timer"));
        });
        let before = lp.metrics();
        lp.run().unwrap();
        let m = lp.metrics().since(&before);
        // Not bounded, as before the fast path and as in Node (an async function awaiting in a
        // loop starves the loop): every wake runs in the drain of the callback that spawned
        // the task, before the immediate and the timer it queued.
        assert_eq!(
            trace.take(),
            ["task done after 10001 polls", "immediate", "timer"]
        );
        // Each poll is one microtask and one callback in the counters, as through the queue...
        assert_eq!(m.microtasks, YIELDS + 1);
        assert_eq!(m.callbacks_in(Phase::Microtask), YIELDS + 1);
        // ...while the chain of self-wakes is timed as one task run.
        let timed = m
            .callback_durations
            .iter()
            .find(|(p, _)| *p == Phase::Microtask)
            .map(|(_, h)| h.count());
        assert_eq!(timed, Some(1), "one timed run for the whole chain");
        assert_clean(&lp);
    });
}

/// Counts its own drop.
struct OnDrop(Counter);

impl Drop for OnDrop {
    fn drop(&mut self) {
        self.0.inc();
    }
}

#[test]
fn a_task_that_aborts_itself_after_waking_itself_is_dropped_and_never_polled_again() {
    with_timeout(10, || {
        let mut lp = Loop::new().unwrap();
        let me: Rc<Cell<Option<task::AbortHandle>>> = Rc::default();
        let (polls, drops, after) = (Counter::new(), Counter::new(), Counter::new());
        let (m, p, d, a) = (Rc::clone(&me), polls.clone(), drops.clone(), after.clone());
        let join = lp.spawn_local(async move {
            let _guard = OnDrop(d);
            for k in 0..3 {
                p.inc();
                if k == 2 {
                    // The wake first (the re-poll is due), then the abort.
                    let m = Rc::clone(&m);
                    wake_self(
                        || {},
                        move || {
                            if let Some(h) = m.take() {
                                assert!(h.abort());
                            }
                        },
                    )
                    .await;
                    a.inc();
                } else {
                    task::yield_now().await;
                }
            }
        });
        me.set(Some(join.abort_handle()));
        let awaited = Trace::new();
        let w = awaited.clone();
        lp.spawn_local(
            async move { w.push(format!("{:?}", join.await.map_err(|e| e.is_canceled()))) },
        )
        .detach();
        lp.run().unwrap();
        assert_eq!(polls.get(), 3, "polled up to the abort");
        assert_eq!(after.get(), 0, "never polled after the abort");
        assert_eq!(drops.get(), 1);
        assert_eq!(awaited.take(), ["Err(true)"]);
        assert_eq!(lp.task_count(), 0);
        assert_clean(&lp);
    });
}

#[test]
fn a_panic_on_the_kth_re_poll_resolves_the_handle_and_the_loop_goes_on() {
    with_timeout(10, || {
        let mut lp = Loop::new().unwrap();
        let polls = Counter::new();
        let p = polls.clone();
        let join = lp.spawn_local(async move {
            loop {
                if p.inc() == 5 {
                    panic!("boom on poll 5");
                }
                task::yield_now().await;
            }
        });
        let trace = Trace::new();
        let t = trace.clone();
        lp.spawn_local(async move {
            match join.await {
                Err(Error::Panicked(msg)) => t.push(msg),
                other => t.push(format!("unexpected: {other:?}")),
            }
            task::yield_now().await;
            t.push("awaiter goes on");
        })
        .detach();
        let t = trace.clone();
        lp.set_immediate(move |_| t.push("immediate"));
        lp.run().unwrap();
        assert_eq!(polls.get(), 5);
        assert_eq!(
            trace.take(),
            ["boom on poll 5", "awaiter goes on", "immediate"]
        );
        assert_eq!(lp.task_count(), 0);
        assert_clean(&lp);
    });
}

#[test]
fn a_wake_from_another_thread_during_a_self_woken_poll_coalesces_with_it() {
    with_timeout(10, || {
        for remote_first in [false, true] {
            let mut lp = Loop::new().unwrap();
            let polls = Counter::new();
            let p = polls.clone();
            lp.spawn_local(std::future::poll_fn(move |cx| {
                if p.inc() == 1 {
                    let remote = cx.waker().clone();
                    let wake_remote = move || {
                        std::thread::spawn(move || remote.wake()).join().unwrap();
                    };
                    if remote_first {
                        wake_remote();
                        cx.waker().wake_by_ref();
                    } else {
                        cx.waker().wake_by_ref();
                        wake_remote();
                    }
                }
                // Pending for good after the first poll: a second wake would show as a
                // third poll.
                Poll::<()>::Pending
            }))
            .detach();
            // Keeps the loop alive while a posted wake would arrive.
            lp.set_timeout(Duration::from_millis(20), |_, _| {});
            lp.run().unwrap();
            assert_eq!(polls.get(), 2, "two wakes in one poll: one more poll");
            assert_eq!(lp.task_count(), 1);
        }
    });
}

fn spin(d: Duration) {
    let start = Instant::now();
    while start.elapsed() < d {
        std::hint::spin_loop();
    }
}

#[test]
fn a_chain_of_self_wakes_is_one_task_run_for_the_slow_callback_hook() {
    with_timeout(20, || {
        let mut lp = Loop::new().unwrap();
        let slow: Rc<std::cell::RefCell<Vec<SlowCallback>>> = Rc::default();
        let s = Rc::clone(&slow);
        lp.on_slow_callback(Duration::from_millis(30), move |cb| {
            s.borrow_mut().push(*cb)
        });
        let line = line!() + 1;
        lp.spawn_local(async {
            for _ in 0..10 {
                spin(Duration::from_millis(5)); // no single poll is slow...
                task::yield_now().await;
            }
        })
        .detach();
        lp.run().unwrap();
        // ...but the run of them is, like a long synchronous callback.
        let slow = slow.borrow();
        assert_eq!(slow.len(), 1, "{slow:?}");
        assert_eq!(slow[0].kind, CallbackKind::Task);
        assert_eq!(slow[0].site.line(), line);
        assert_eq!(slow[0].site.file(), file!());
        assert!(slow[0].duration >= Duration::from_millis(50));
        assert_clean(&lp);
    });
}

#[test]
fn the_watchdog_names_a_task_that_keeps_waking_itself_while_it_does() {
    with_timeout(20, || {
        let mut lp = Loop::new().unwrap();
        let (stalls, reported) = collect_stalls(&mut lp, Duration::from_millis(100));
        let seen = Arc::new(AtomicBool::new(false));
        let (r, sn) = (Arc::clone(&reported), Arc::clone(&seen));
        let line = line!() + 1;
        lp.spawn_local(async move {
            // Wakes itself every millisecond until the watchdog has spoken (at most 5 s: a
            // loaded machine may schedule the watchdog's thread late).
            let start = Instant::now();
            while start.elapsed() < Duration::from_secs(5) {
                if r.load(Ordering::SeqCst) {
                    sn.store(true, Ordering::SeqCst);
                    break;
                }
                spin(Duration::from_millis(1));
                task::yield_now().await;
            }
        })
        .detach();
        lp.run().unwrap();
        assert!(seen.load(Ordering::SeqCst), "reported while it still ran");
        let stalls = stalls.lock().unwrap();
        assert_eq!(stalls.len(), 1, "{stalls:?}");
        assert_eq!(stalls[0].kind, CallbackKind::Task);
        assert_eq!(stalls[0].site.file(), file!());
        assert_eq!(stalls[0].site.line(), line);
        lp.stop_watchdog();
        assert_clean(&lp);
    });
}
