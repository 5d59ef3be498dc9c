//! Futures on the loop: spawn, join, abort, block_on, wake-up order, liveness, panics.
mod util;

use std::cell::Cell;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use evloop::{Error, Loop, task};
use util::task::Gate;
use util::{Counter, Trace, assert_clean, with_timeout};

#[test]
fn a_spawned_task_is_first_polled_in_the_drain_fifo_with_microtasks() {
    with_timeout(10, || {
        let mut lp = Loop::new().unwrap();
        let trace = Trace::new();
        let t = trace.clone();
        lp.set_immediate(move |lp| {
            let t1 = t.clone();
            lp.queue_microtask(move |_| t1.push("micro 1"));
            let t2 = t.clone();
            lp.spawn_local(async move { t2.push("task") }).detach();
            let t3 = t.clone();
            lp.queue_microtask(move |_| t3.push("micro 2"));
            let t4 = t.clone();
            lp.next_tick(move |_| t4.push("tick"));
            t.push("immediate");
        });
        lp.run().unwrap();
        assert_eq!(
            trace.take(),
            ["immediate", "tick", "micro 1", "task", "micro 2"]
        );
        assert_clean(&lp);
    });
}

#[test]
fn a_wake_in_a_callback_polls_the_task_in_that_callbacks_drain_in_fifo_order() {
    with_timeout(10, || {
        let mut lp = Loop::new().unwrap();
        let trace = Trace::new();
        let gate = Gate::default();
        let (t, g) = (trace.clone(), gate.clone());
        lp.spawn_local(async move {
            t.push("task start");
            g.wait().await;
            t.push("task resumed");
        })
        .detach();
        let (t, g) = (trace.clone(), gate.clone());
        lp.set_timeout(Duration::from_millis(1), move |lp, _| {
            let t1 = t.clone();
            lp.queue_microtask(move |_| t1.push("micro before wake"));
            g.fire();
            let t2 = t.clone();
            lp.queue_microtask(move |_| t2.push("micro after wake"));
            let t3 = t.clone();
            lp.next_tick(move |_| t3.push("tick"));
            t.push("timer");
        });
        let t = trace.clone();
        lp.set_timeout(Duration::from_millis(1), move |_, _| t.push("second timer"));
        lp.run().unwrap();
        assert_eq!(
            trace.take(),
            [
                "task start",
                "timer",
                "tick",
                "micro before wake",
                "task resumed",
                "micro after wake",
                "second timer"
            ]
        );
        assert_eq!(gate.polls(), 2);
        assert_clean(&lp);
    });
}

#[test]
fn a_wake_in_an_immediate_runs_before_the_next_immediate() {
    with_timeout(10, || {
        let mut lp = Loop::new().unwrap();
        let trace = Trace::new();
        let gate = Gate::default();
        let (t, g) = (trace.clone(), gate.clone());
        lp.spawn_local(async move {
            g.wait().await;
            t.push("task");
            task::yield_now().await;
            t.push("task after yield");
        })
        .detach();
        let (t, g) = (trace.clone(), gate);
        lp.set_immediate(move |lp| {
            t.push("immediate 1");
            g.fire();
            lp.queue_microtask(move |_| t.push("micro"));
        });
        let t = trace.clone();
        lp.set_immediate(move |_| t.push("immediate 2"));
        lp.run().unwrap();
        // The yield re-queues the task behind the microtask queued after the wake.
        assert_eq!(
            trace.take(),
            [
                "immediate 1",
                "task",
                "micro",
                "task after yield",
                "immediate 2"
            ]
        );
        assert_clean(&lp);
    });
}

#[test]
fn a_task_resumed_by_its_sleep_runs_before_the_next_timer_of_the_same_pass() {
    with_timeout(10, || {
        let mut lp = Loop::new().unwrap();
        let trace = Trace::new();
        for name in ["task 1", "task 2"] {
            let t = trace.clone();
            lp.spawn_local(async move {
                task::sleep(Duration::from_millis(5)).await.unwrap();
                t.push(name);
            })
            .detach();
        }
        let t = trace.clone();
        // Queued after the spawns: this timer starts after both sleeps, due at the same time.
        lp.queue_microtask(move |lp| {
            lp.set_timeout(Duration::from_millis(5), move |_, _| t.push("timer"));
        });
        lp.run().unwrap();
        assert_eq!(trace.take(), ["task 1", "task 2", "timer"]);
        assert_clean(&lp);
    });
}

#[test]
fn many_wakes_before_the_poll_give_one_poll() {
    with_timeout(10, || {
        let mut lp = Loop::new().unwrap();
        let gate = Gate::default();
        let g = gate.clone();
        let done = lp.spawn_local(async move { g.wait().await });
        let g = gate.clone();
        lp.set_immediate(move |_| {
            g.wake();
            g.wake();
            g.fire();
            g.wake();
        });
        lp.run().unwrap();
        assert!(done.is_finished());
        // First poll, then one poll for the four wakes.
        assert_eq!(gate.polls(), 2);
        assert_clean(&lp);
    });
}

#[test]
fn a_task_woken_before_run_is_polled_when_run_starts() {
    with_timeout(10, || {
        let mut lp = Loop::new().unwrap();
        let trace = Trace::new();
        let t = trace.clone();
        lp.spawn_local(async move { t.push("task") }).detach();
        assert!(trace.get().is_empty(), "spawn never polls inside the call");
        assert!(lp.alive(), "a queued first poll is queued work");
        lp.run().unwrap();
        assert_eq!(trace.take(), ["task"]);
        assert_eq!(lp.task_count(), 0);
        assert_clean(&lp);
    });
}

#[test]
fn a_never_woken_task_does_not_keep_run_from_returning_and_is_listed_with_its_site() {
    with_timeout(10, || {
        let mut lp = Loop::new().unwrap();
        let gate = Gate::default();
        let g = gate.clone();
        let line = line!() + 1;
        let join = lp.spawn_local(async move { g.wait().await });
        lp.run().unwrap();
        assert!(!join.is_finished());
        let pending = lp.pending_tasks();
        assert_eq!(pending.len(), 1);
        assert!(pending[0].site.file().ends_with("task_spawn.rs"));
        assert_eq!(pending[0].site.line(), line);
        assert!(!pending[0].woken);
        // Woken later, it finishes on the next run.
        gate.fire();
        assert!(lp.alive());
        lp.run().unwrap();
        assert!(join.is_finished());
        assert!(lp.pending_tasks().is_empty());
        assert_clean(&lp);
    });
}

#[test]
fn what_a_task_waits_on_keeps_the_loop_alive() {
    with_timeout(10, || {
        let mut lp = Loop::new().unwrap();
        let done = Counter::new();
        let d = done.clone();
        lp.spawn_local(async move {
            task::sleep(Duration::from_millis(20)).await.unwrap();
            d.inc();
        })
        .detach();
        lp.run().unwrap();
        assert_eq!(done.get(), 1);
        assert_clean(&lp);
    });
}

#[test]
fn a_join_handle_is_awaited_by_another_task_and_observed_by_a_callback() {
    with_timeout(10, || {
        let mut lp = Loop::new().unwrap();
        let inner = lp.spawn_local(async {
            task::sleep(Duration::from_millis(2)).await.unwrap();
            7
        });
        let outer = lp.spawn_local(async move { inner.await.unwrap() * 6 });
        let trace = Trace::new();
        let t = trace.clone();
        outer.on_done(&mut lp, move |_, r| t.push(format!("done {}", r.unwrap())));
        lp.run().unwrap();
        assert_eq!(trace.take(), ["done 42"]);
        // on_done on a finished task still runs later, as a microtask, never inside the call.
        let finished = lp.spawn_local(async { 1 });
        lp.run().unwrap();
        let t = trace.clone();
        lp.set_immediate(move |lp| {
            let t2 = t.clone();
            finished.on_done(lp, move |_, r| t2.push(format!("late {}", r.unwrap())));
            t.push("after on_done");
        });
        lp.run().unwrap();
        assert_eq!(trace.take(), ["after on_done", "late 1"]);
        assert_clean(&lp);
    });
}

#[test]
fn a_panicking_task_resolves_its_handle_to_the_message_and_others_go_on() {
    with_timeout(10, || {
        let mut lp = Loop::new().unwrap();
        let bad = lp.spawn_local(async {
            task::yield_now().await;
            panic!("boom {}", 42);
        });
        let good = Counter::new();
        let g = good.clone();
        lp.spawn_local(async move {
            for _ in 0..3 {
                task::sleep(Duration::from_millis(1)).await.unwrap();
                g.inc();
            }
        })
        .detach();
        let seen = Trace::new();
        let s = seen.clone();
        lp.spawn_local(async move {
            match bad.await {
                Err(Error::Panicked(msg)) => s.push(msg),
                other => s.push(format!("unexpected {other:?}")),
            }
        })
        .detach();
        lp.run().unwrap();
        assert_eq!(seen.take(), ["boom 42"]);
        assert_eq!(good.get(), 3);
        assert_eq!(lp.task_count(), 0);
        assert_clean(&lp);
    });
}

#[test]
fn abort_drops_the_future_its_timer_is_cleared_and_no_callback_follows() {
    with_timeout(10, || {
        let mut lp = Loop::new().unwrap();
        let trace = Trace::new();
        let t = trace.clone();
        let join = lp.spawn_local(async move {
            task::sleep(Duration::from_secs(30)).await.unwrap();
            t.push("after sleep");
        });
        let watcher = join.abort_handle();
        let t = trace.clone();
        join.on_done(&mut lp, move |_, _| t.push("on_done"));
        let t = trace.clone();
        lp.set_timeout(Duration::from_millis(2), move |lp, _| {
            assert_eq!(
                lp.active_handles().len(),
                2,
                "this timer and the sleep's timer"
            );
            assert!(watcher.abort());
            assert!(!watcher.abort(), "a second abort does nothing");
            let t1 = t.clone();
            lp.queue_microtask(move |lp| {
                // The abort ran in this drain: the future and its timer are gone.
                assert_eq!(lp.task_count(), 0);
                t1.push(format!(
                    "handles after abort: {}",
                    lp.active_handles().len()
                ));
            });
        });
        lp.run().unwrap();
        // The 30 s sleep's timer was cleared, so run returned at once.
        assert_eq!(trace.take(), ["handles after abort: 1"]);
        assert_clean(&lp);
    });
}

#[test]
fn an_aborted_task_with_a_queued_wake_is_never_polled_again() {
    with_timeout(10, || {
        let mut lp = Loop::new().unwrap();
        let gate = Gate::default();
        let g = gate.clone();
        let join = lp.spawn_local(async move { g.wait().await });
        let awaited = Trace::new();
        let g = gate.clone();
        let a = awaited.clone();
        lp.set_immediate(move |lp| {
            g.fire(); // the poll is queued...
            assert!(join.abort()); // ...then the task is aborted
            lp.spawn_local(async move {
                a.push(format!("{:?}", join.await.map_err(|e| e.is_canceled())))
            })
            .detach();
        });
        lp.run().unwrap();
        assert_eq!(gate.polls(), 1, "only the first poll ran");
        assert_eq!(awaited.take(), ["Err(true)"]);
        assert_eq!(lp.task_count(), 0);
        assert_clean(&lp);
    });
}

#[test]
fn a_task_can_abort_itself_from_its_own_poll() {
    with_timeout(10, || {
        let mut lp = Loop::new().unwrap();
        let me: Rc<Cell<Option<task::AbortHandle>>> = Rc::default();
        let m = Rc::clone(&me);
        let after = Counter::new();
        let a = after.clone();
        let join = lp.spawn_local(async move {
            task::yield_now().await;
            if let Some(h) = m.take() {
                h.abort();
            }
            task::yield_now().await;
            a.inc();
        });
        me.set(Some(join.abort_handle()));
        lp.run().unwrap();
        assert_eq!(after.get(), 0);
        assert!(join.is_finished());
        assert_eq!(lp.task_count(), 0);
        assert_clean(&lp);
    });
}

#[test]
fn ten_thousand_tasks_each_await_a_timer() {
    with_timeout(30, || {
        let mut lp = Loop::new().unwrap();
        let done = Counter::new();
        for i in 0..10_000u64 {
            let d = done.clone();
            lp.spawn_local(async move {
                task::sleep(Duration::from_millis(1 + i % 7)).await.unwrap();
                d.inc();
            })
            .detach();
        }
        lp.run().unwrap();
        assert_eq!(done.get(), 10_000);
        assert_eq!(lp.task_count(), 0);
        assert_clean(&lp);
    });
}

/// A counter other threads bump, waking the task that waits for a target.
struct Hammered {
    count: Arc<AtomicUsize>,
    waker: Arc<Mutex<Option<Waker>>>,
    target: usize,
    polls: Rc<Cell<usize>>,
}

impl Future for Hammered {
    type Output = ();
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        self.polls.set(self.polls.get() + 1);
        *self.waker.lock().unwrap() = Some(cx.waker().clone());
        if self.count.load(Ordering::Acquire) >= self.target {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }
}

#[test]
fn a_cross_thread_waker_hammered_by_eight_threads() {
    with_timeout(30, || {
        const THREADS: usize = 8;
        const WAKES: usize = 2_000;
        let mut lp = Loop::new().unwrap();
        let count = Arc::new(AtomicUsize::new(0));
        let waker: Arc<Mutex<Option<Waker>>> = Arc::default();
        let polls = Rc::new(Cell::new(0));
        let join = lp.spawn_local(Hammered {
            count: Arc::clone(&count),
            waker: Arc::clone(&waker),
            target: THREADS * WAKES,
            polls: Rc::clone(&polls),
        });
        // Run the first poll so the waker exists before the threads start.
        lp.run_mode(evloop::RunMode::NoWait).unwrap();
        assert_eq!(polls.get(), 1);
        let keep_alive = lp.sender();
        let threads: Vec<_> = (0..THREADS)
            .map(|_| {
                let (count, waker, alive) =
                    (Arc::clone(&count), Arc::clone(&waker), keep_alive.clone());
                std::thread::spawn(move || {
                    for _ in 0..WAKES {
                        count.fetch_add(1, Ordering::AcqRel);
                        let w = waker.lock().unwrap().clone();
                        if let Some(w) = w {
                            w.wake();
                        }
                    }
                    drop(alive);
                })
            })
            .collect();
        drop(keep_alive);
        lp.run().unwrap();
        for t in threads {
            t.join().unwrap();
        }
        assert!(join.is_finished(), "the last wake reached the task");
        // Coalesced: never more polls than wakes (plus the first poll); usually far fewer.
        assert!(polls.get() <= THREADS * WAKES + 1, "{} polls", polls.get());
        assert_eq!(lp.task_count(), 0);
        assert_clean(&lp);
    });
}

/// Waits for a counter that other threads bump. Only its first poll takes a lock (to hand its
/// waker out); every later poll is a plain atomic load, with no read-modify-write of its own,
/// so only the waker's protocol carries the other threads' increments to it.
struct Watched {
    count: Arc<AtomicUsize>,
    waker: Arc<Mutex<Option<Waker>>>,
    target: usize,
    polls: Rc<Cell<usize>>,
}

impl Future for Watched {
    type Output = ();
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        self.polls.set(self.polls.get() + 1);
        if self.polls.get() == 1 {
            *self.waker.lock().unwrap() = Some(cx.waker().clone());
        }
        if self.count.load(Ordering::Acquire) >= self.target {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }
}

#[test]
fn the_last_cross_thread_wake_reaches_a_task_whose_poll_only_loads() {
    with_timeout(30, || {
        const THREADS: usize = 8;
        const WAKES: usize = 2_000;
        for _ in 0..5 {
            let mut lp = Loop::new().unwrap();
            let count = Arc::new(AtomicUsize::new(0));
            let waker: Arc<Mutex<Option<Waker>>> = Arc::default();
            let polls = Rc::new(Cell::new(0));
            let join = lp.spawn_local(Watched {
                count: Arc::clone(&count),
                waker: Arc::clone(&waker),
                target: THREADS * WAKES,
                polls: Rc::clone(&polls),
            });
            lp.run_mode(evloop::RunMode::NoWait).unwrap();
            assert_eq!(polls.get(), 1);
            let keep_alive = lp.sender();
            let threads: Vec<_> = (0..THREADS)
                .map(|_| {
                    let (count, alive) = (Arc::clone(&count), keep_alive.clone());
                    let w = waker.lock().unwrap().clone();
                    std::thread::spawn(move || {
                        for _ in 0..WAKES {
                            count.fetch_add(1, Ordering::AcqRel);
                            if let Some(w) = &w {
                                w.wake_by_ref();
                            }
                        }
                        drop(alive);
                    })
                })
                .collect();
            drop(keep_alive);
            lp.run().unwrap();
            for t in threads {
                t.join().unwrap();
            }
            assert!(join.is_finished(), "the last wake reached the task");
            assert!(polls.get() <= THREADS * WAKES + 1, "{} polls", polls.get());
            assert_clean(&lp);
        }
    });
}

#[test]
fn block_on_returns_the_value_and_reports_a_deadlock() {
    with_timeout(10, || {
        let mut lp = Loop::new().unwrap();
        let v = lp
            .block_on(async {
                task::sleep(Duration::from_millis(1)).await.unwrap();
                5
            })
            .unwrap();
        assert_eq!(v, 5);
        let gate = Gate::default();
        match lp.block_on(async move { gate.wait().await }) {
            Err(Error::InvalidState(msg)) => assert!(msg.contains("nothing keeps the loop alive")),
            other => panic!("expected a deadlock error, got {other:?}"),
        }
        assert_eq!(lp.task_count(), 0, "the stuck future was dropped");
        match lp.block_on(async { panic!("inside block_on") }) {
            Err(Error::Panicked(msg)) => assert_eq!(msg, "inside block_on"),
            other => panic!("expected the panic, got {other:?}"),
        }
        assert_clean(&lp);
    });
}

#[test]
fn block_on_from_a_callback_is_reentrant() {
    with_timeout(10, || {
        let mut lp = Loop::new().unwrap();
        let seen = Trace::new();
        let s = seen.clone();
        lp.set_immediate(move |lp| {
            s.push(format!(
                "{:?}",
                lp.block_on(async { 1 }).err().map(|e| e.to_string())
            ));
        });
        lp.run().unwrap();
        assert_eq!(
            seen.take(),
            ["Some(\"run() called from inside a callback of the same loop\")"]
        );
        assert_eq!(lp.task_count(), 0, "nothing was spawned");
    });
}

#[test]
fn a_future_polled_outside_a_task_gets_a_clear_error() {
    with_timeout(10, || {
        let _lp = Loop::new().unwrap();
        let mut sleep = std::pin::pin!(task::sleep(Duration::from_millis(1)));
        let mut cx = Context::from_waker(Waker::noop());
        match sleep.as_mut().poll(&mut cx) {
            Poll::Ready(Err(Error::InvalidState(msg))) => assert!(msg.contains("outside a task")),
            other => panic!("expected an error, got {other:?}"),
        }
        assert!(matches!(task::spawn(async {}), Err(Error::InvalidState(_))));
    });
}

#[test]
fn a_task_spawns_tasks_and_reaches_the_loop_with_with_loop() {
    with_timeout(10, || {
        let mut lp = Loop::new().unwrap();
        let total = lp
            .block_on(async {
                let mut joins = Vec::new();
                for i in 0..10u32 {
                    joins.push(task::spawn(async move { i * 2 }).unwrap());
                }
                let mut sum = 0;
                for j in joins {
                    sum += j.await.unwrap();
                }
                let handles = task::with_loop(|lp| lp.active_handles().len())
                    .await
                    .unwrap();
                (sum, handles)
            })
            .unwrap();
        assert_eq!(total, (90, 0));
        assert_clean(&lp);
    });
}

#[test]
fn dropping_the_loop_drops_pending_futures() {
    with_timeout(10, || {
        struct Flag(Rc<Cell<bool>>);
        impl Drop for Flag {
            fn drop(&mut self) {
                self.0.set(true);
            }
        }
        let dropped = Rc::new(Cell::new(false));
        let mut lp = Loop::new().unwrap();
        let flag = Flag(Rc::clone(&dropped));
        lp.spawn_local(async move {
            let _f = flag;
            task::sleep(Duration::from_secs(60)).await.unwrap();
        })
        .detach();
        lp.run_mode(evloop::RunMode::NoWait).unwrap();
        assert!(!dropped.get());
        drop(lp);
        assert!(dropped.get());
    });
}

/// Sets its flag when dropped: shows when a task's future (which owns it) is dropped.
struct DropFlag(Rc<Cell<bool>>);

impl Drop for DropFlag {
    fn drop(&mut self) {
        self.0.set(true);
    }
}

#[test]
fn a_finished_tasks_future_is_dropped_while_its_join_handle_is_kept() {
    with_timeout(10, || {
        let dropped = Rc::new(Cell::new(false));
        let mut lp = Loop::new().unwrap();
        let flag = DropFlag(Rc::clone(&dropped));
        let join = lp.spawn_local(async move {
            let _f = flag;
            task::yield_now().await;
            7
        });
        lp.run().unwrap();
        assert!(join.is_finished());
        assert!(
            dropped.get(),
            "the future (and what it owns) went when the task finished"
        );
        // The result is still there for the handle.
        let out = Rc::new(Cell::new(None));
        let o = Rc::clone(&out);
        join.on_done(&mut lp, move |_, r| o.set(Some(r.unwrap())));
        lp.run().unwrap();
        assert_eq!(out.get(), Some(7));
        assert_clean(&lp);
    });
}

#[test]
fn a_task_aborted_before_it_entered_the_loop_drops_its_future_though_its_handle_is_kept() {
    with_timeout(10, || {
        let dropped = Rc::new(Cell::new(false));
        let d = Rc::clone(&dropped);
        let polled = Counter::new();
        let p = polled.clone();
        let kept: Rc<Cell<Option<task::JoinHandle<()>>>> = Rc::default();
        let k = Rc::clone(&kept);
        let mut lp = Loop::new().unwrap();
        lp.spawn_local(async move {
            let flag = DropFlag(d);
            let child = task::spawn(async move {
                let _f = flag;
                p.inc();
            })
            .unwrap();
            // Aborted in the poll that spawned it: before it entered the table.
            assert!(child.abort());
            k.set(Some(child));
        })
        .detach();
        lp.run().unwrap();
        assert_eq!(polled.get(), 0, "never polled");
        assert!(
            dropped.get(),
            "its future was dropped with its handle still alive"
        );
        let child = kept.take().unwrap();
        assert!(child.is_finished());
        assert_eq!(lp.task_count(), 0);
        assert_clean(&lp);
    });
}

#[test]
fn a_waker_outliving_its_task_and_its_loop_is_harmless_on_another_thread() {
    with_timeout(10, || {
        let stash: Arc<Mutex<Option<Waker>>> = Arc::default();
        let s = Arc::clone(&stash);
        let mut lp = Loop::new().unwrap();
        let join = lp.spawn_local(std::future::poll_fn(move |cx| {
            *s.lock().unwrap() = Some(cx.waker().clone());
            Poll::Ready(3)
        }));
        assert_eq!(lp.block_on(join).unwrap().unwrap(), 3);
        drop(lp);
        let waker = stash.lock().unwrap().take().unwrap();
        std::thread::spawn(move || {
            let cloned = waker.clone();
            waker.wake_by_ref();
            cloned.wake();
            waker.wake();
        })
        .join()
        .unwrap();
    });
}
