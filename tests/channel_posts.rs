//! Typed channels into a handler on the loop: order per producer, nothing lost, the bound
//! blocks producers, `try_send` reports `Full`, `Closed` once the handle or the loop is gone.

mod util;

use std::time::Duration;

use evloop::channel::SendError;
use evloop::{Handle, Loop};
use util::{assert_clean, with_timeout};

const PRODUCERS: usize = 4;
const PER_PRODUCER: u64 = 250_000;

#[derive(Default)]
struct Seen {
    next: Vec<u64>,
    total: u64,
    batches: u64,
}

#[test]
fn a_million_messages_through_a_small_bound_arrive_once_in_order_per_producer() {
    with_timeout(120, || {
        let mut lp = Loop::new().unwrap();
        lp.insert_state(Seen {
            next: vec![0; PRODUCERS],
            ..Seen::default()
        });
        let tx = lp.channel(Some(16), |lp, (producer, n): (usize, u64)| {
            let seen = lp.state::<Seen>().unwrap();
            assert_eq!(
                seen.next[producer], n,
                "producer {producer}: out of order or lost"
            );
            seen.next[producer] = n + 1;
            seen.total += 1;
        });
        let chan = tx.channel();
        // Count wake-ups (batches) with a check watcher: one run per iteration.
        let check = lp.add_check(|lp, _| lp.state::<Seen>().unwrap().batches += 1);
        check.start(&mut lp).unwrap();
        check.unref(&mut lp).unwrap();
        let producers: Vec<_> = (0..PRODUCERS)
            .map(|p| {
                let tx = tx.clone();
                std::thread::spawn(move || {
                    for n in 0..PER_PRODUCER {
                        tx.send((p, n)).unwrap();
                    }
                })
            })
            .collect();
        let waits_probe = tx.clone();
        drop(tx);
        // Run until every producer is done and every message handled: the senders keep the
        // loop alive, then the channel goes inactive.
        let probe_thread = std::thread::spawn(move || {
            for p in producers {
                p.join().unwrap();
            }
            let waits = waits_probe.waits();
            drop(waits_probe);
            waits
        });
        lp.run().unwrap();
        let waits = probe_thread.join().unwrap();
        let seen = lp.state::<Seen>().unwrap();
        assert_eq!(
            seen.total,
            PRODUCERS as u64 * PER_PRODUCER,
            "every message exactly once"
        );
        assert!(seen.next.iter().all(|&n| n == PER_PRODUCER));
        assert!(waits > 0, "producers ran ahead and waited at the bound");
        // Batched: far fewer iterations than messages.
        assert!(
            seen.batches < seen.total / 4,
            "{} iterations for {} messages",
            seen.batches,
            seen.total
        );
        println!(
            "{} messages, {} waits at the bound, {} loop iterations",
            seen.total, waits, seen.batches
        );
        assert!(
            !chan.is_active(&lp).unwrap(),
            "inactive once every sender is gone"
        );
        chan.close(&mut lp, |_| {}).unwrap();
        check.close(&mut lp, |_| {}).unwrap();
        lp.run().unwrap();
        assert_clean(&lp);
    });
}

#[test]
fn try_send_reports_full_at_the_bound_and_the_loop_thread_never_blocks() {
    with_timeout(10, || {
        let mut lp = Loop::new().unwrap();
        lp.insert_state(Vec::<u32>::new());
        let tx = lp.channel(Some(2), |lp, m: u32| {
            lp.state::<Vec<u32>>().unwrap().push(m)
        });
        tx.try_send(1).unwrap();
        tx.send(2).unwrap();
        assert_eq!(tx.try_send(3), Err(SendError::Full(3)));
        // `send` on the loop thread at the bound cannot wait for the loop: Full, not a hang.
        assert_eq!(tx.send(4), Err(SendError::Full(4)));
        assert_eq!(tx.waits(), 0);
        let chan = tx.channel();
        drop(tx);
        lp.run().unwrap();
        assert_eq!(lp.state_ref::<Vec<u32>>().unwrap(), &[1, 2]);
        chan.close(&mut lp, |_| {}).unwrap();
        lp.run().unwrap();
        assert_clean(&lp);
    });
}

#[test]
fn closing_the_channel_or_dropping_the_loop_makes_sends_fail_closed_and_wakes_waiters() {
    with_timeout(10, || {
        let mut lp = Loop::new().unwrap();
        let tx = lp.channel(Some(1), |_, _m: u8| {});
        tx.send(1).unwrap();
        // A producer blocked at the bound is woken by the close, with its message back.
        let blocked = {
            let tx = tx.clone();
            std::thread::spawn(move || tx.send(2))
        };
        while tx.waits() == 0 {
            std::thread::sleep(Duration::from_millis(1));
        }
        tx.channel().close(&mut lp, |_| {}).unwrap();
        assert_eq!(blocked.join().unwrap(), Err(SendError::Closed(2)));
        assert_eq!(tx.try_send(3), Err(SendError::Closed(3)));
        assert!(tx.is_closed());
        lp.run().unwrap();
        assert_clean(&lp);

        let mut lp = Loop::new().unwrap();
        let tx = lp.channel(None, |_, _m: u8| {});
        drop(lp);
        assert_eq!(tx.send(9), Err(SendError::Closed(9)));
    });
}

#[test]
fn an_unrefd_channel_lets_the_loop_exit_and_its_handler_can_close_it() {
    with_timeout(10, || {
        let mut lp = Loop::new().unwrap();
        let tx = lp.channel(None, |_, _m: u8| unreachable!());
        tx.channel().unref(&mut lp).unwrap();
        lp.run().unwrap(); // returns although a sender lives
        let chan = tx.channel();
        chan.close(&mut lp, |_| {}).unwrap();
        lp.run().unwrap();
        assert_clean(&lp);

        // A handler that closes its own channel gets none of the batch's later messages.
        let mut lp = Loop::new().unwrap();
        lp.insert_state(0u32);
        let tx = lp.channel(None, |lp, m: u32| {
            *lp.state::<u32>().unwrap() += m;
            if m == 2 {
                let own = *lp.state_ref::<evloop::channel::Channel>().unwrap();
                own.close(lp, |_| {}).unwrap();
            }
        });
        lp.insert_state(tx.channel());
        for m in 1..=3 {
            tx.send(m).unwrap(); // one batch: the loop is not running yet
        }
        lp.run().unwrap();
        assert_eq!(
            lp.state_ref::<u32>(),
            Some(&3),
            "1 and 2 handled, 3 dropped"
        );
        assert_eq!(tx.send(4), Err(SendError::Closed(4)));
        assert_clean(&lp);
    });
}

#[test]
fn a_panicking_handler_loses_only_the_message_it_panicked_on() {
    with_timeout(10, || {
        let mut lp = Loop::new().unwrap();
        lp.insert_state(Vec::<u32>::new());
        let tx = lp.channel(Some(8), |lp, m: u32| {
            if m == 2 {
                panic!("handler fails on 2");
            }
            lp.state::<Vec<u32>>().unwrap().push(m);
        });
        for m in 1..=5 {
            tx.send(m).unwrap(); // one batch
        }
        let chan = tx.channel();
        drop(tx);
        let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| lp.run()));
        assert!(caught.is_err(), "the panic unwinds out of run");
        lp.run().unwrap(); // the rest of the batch, in order
        assert_eq!(lp.state_ref::<Vec<u32>>().unwrap(), &[1, 3, 4, 5]);
        chan.close(&mut lp, |_| {}).unwrap();
        lp.run().unwrap();
        assert_clean(&lp);
    });
}
