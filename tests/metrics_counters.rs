//! Counters match exact counts in a scripted run.
mod util;

use std::time::Duration;

use evloop::Phase;
use evloop::{HandleKind, Loop, RunMode};
use util::{assert_clean, with_timeout};

#[test]
fn counters_match_a_scripted_run() {
    with_timeout(10, || {
        let mut lp = Loop::new().unwrap();
        let zero = lp.metrics();
        assert_eq!(zero.iterations, 0);
        assert_eq!(zero.total_callbacks(), 0);

        // 5 timers, each queueing one microtask.
        for _ in 0..5 {
            lp.set_timeout(Duration::ZERO, |lp, _| lp.queue_microtask(|_| {}));
        }
        // 3 immediates, each queueing one next-tick.
        for _ in 0..3 {
            lp.set_immediate(|lp| lp.next_tick(|_| {}));
        }
        // 4 posts, each queueing a next-tick that queues a microtask.
        let sender = lp.sender();
        for _ in 0..4 {
            sender
                .post(|lp| lp.next_tick(|lp| lp.queue_microtask(|_| {})))
                .unwrap();
        }
        drop(sender);
        let m = lp.metrics();
        assert_eq!(m.open_handles, vec![(HandleKind::Timer, 5)]);

        lp.run().unwrap();
        let m = lp.metrics().since(&zero);
        assert_eq!(m.timers_fired, 5);
        assert_eq!(m.callbacks_in(Phase::Timers), 5);
        assert_eq!(m.callbacks_in(Phase::Check), 3);
        assert_eq!(m.posts, 4);
        assert_eq!(m.callbacks_in(Phase::Poll), 4);
        assert_eq!(m.next_ticks, 3 + 4);
        assert_eq!(m.microtasks, 5 + 4);
        assert_eq!(m.callbacks_in(Phase::Microtask), 7 + 9);
        // One drain after each callback that queued something: 5 timers, 3 immediates, 4 posts.
        assert_eq!(m.task_drains, 12);
        // The timers ran in run()'s pre-pass; posts and immediates in one iteration.
        assert_eq!(m.iterations, 1);
        assert_eq!(m.total_callbacks(), 5 + 3 + 4 + 16);
        assert_eq!(m.callbacks_in(Phase::Close), 0);
        assert!(m.open_handles.is_empty());
        assert_eq!((m.bytes_read, m.bytes_written), (0, 0));
        assert_eq!(m.pool.completed, 0);

        // Every NoWait call on a live loop is exactly one iteration.
        let before = lp.metrics();
        let far = lp.set_timeout(Duration::from_secs(3600), |_, _| {});
        for _ in 0..10 {
            assert!(lp.run_mode(RunMode::NoWait).unwrap());
        }
        let m = lp.metrics().since(&before);
        assert_eq!(m.iterations, 10);
        assert_eq!(m.total_callbacks(), 0);
        assert_eq!(m.open_handles, vec![(HandleKind::Timer, 1)]);
        // NoWait never blocks: no idle time.
        assert_eq!(m.idle, Duration::ZERO);
        far.clear(&mut lp);

        // A close callback counts in the close phase.
        let before = lp.metrics();
        let t = lp.set_timeout(Duration::from_secs(3600), |_, _| {});
        evloop::Handle::close(t, &mut lp, |_| {}).unwrap();
        lp.run().unwrap();
        let m = lp.metrics().since(&before);
        assert_eq!(m.callbacks_in(Phase::Close), 1);
        assert_eq!(m.timers_fired, 0);
        assert_clean(&lp);
    });
}

#[test]
fn the_snapshot_prints_as_an_aligned_table() {
    with_timeout(10, || {
        let mut lp = Loop::new().unwrap();
        let monitor = lp.monitor_lag(Duration::from_millis(1));
        lp.time_callbacks(true);
        lp.set_timeout(Duration::from_millis(20), |_, _| {});
        lp.run().unwrap();
        let text = lp.metrics().to_string();
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines.len() > 15, "{text}");
        // Every value starts in the same column.
        let column = |l: &str| {
            l.find("  ")
                .map(|i| i + l[i..].len() - l[i..].trim_start().len())
        };
        let first = column(lines[0]).unwrap();
        for l in &lines {
            assert_eq!(column(l), Some(first), "misaligned: {l:?}\n{text}");
        }
        for key in [
            "utilization",
            "iterations",
            "callbacks: timers",
            "lag",
            "duration: timers",
        ] {
            assert!(
                lines.iter().any(|l| l.starts_with(key)),
                "no {key} row:\n{text}"
            );
        }
        monitor.stop(&mut lp).unwrap();
        assert_clean(&lp);
    });
}

#[test]
fn bytes_read_and_written_count_what_sockets_moved() {
    util::with_timeout(20, || {
        let mut lp = evloop::Loop::new().unwrap();
        let listener = lp
            .tcp_listen("127.0.0.1:0".parse().unwrap(), |lp, _, conn| {
                let conn = conn.unwrap();
                conn.read_start(lp, |lp, me, ev| match ev {
                    evloop::net::ReadEvent::Data(d) => {
                        me.write(lp, d.to_vec(), |_, r| r.unwrap()).unwrap();
                    }
                    _ => evloop::Handle::close(me, lp, |_| {}).unwrap(),
                })
                .unwrap();
            })
            .unwrap();
        let addr = listener.local_addr(&lp).unwrap();
        let client = lp.tcp_connect(addr, |_, _, r| r.unwrap()).unwrap();
        client
            .write(&mut lp, vec![7u8; 1000], |_, r| r.unwrap())
            .unwrap();
        let got = std::rc::Rc::new(std::cell::Cell::new(0usize));
        let g = got;
        client
            .read_start(&mut lp, move |lp, me, ev| {
                if let evloop::net::ReadEvent::Data(d) = ev {
                    g.set(g.get() + d.len());
                    if g.get() == 1000 {
                        evloop::Handle::close(me, lp, |_| {}).unwrap();
                        evloop::Handle::close(listener, lp, |_| {}).unwrap();
                    }
                }
            })
            .unwrap();
        lp.run().unwrap();
        let m = lp.metrics();
        // The client wrote 1000 and the server echoed 1000; each side read the same.
        assert_eq!(m.bytes_written, 2000);
        assert_eq!(m.bytes_read, 2000);
        util::assert_clean(&lp);
    });
}
