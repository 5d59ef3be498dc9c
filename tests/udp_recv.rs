//! UDP sockets, receiving: `recv_stop`, the per-wake-up budget, oversized datagrams, a
//! panicking receive callback.
mod util;

use std::cell::RefCell;
use std::collections::VecDeque;
use std::rc::Rc;
use std::time::Duration;

use evloop::{Error, Handle, Loop};
use util::net::any_port as local;
use util::{Trace, assert_clean, with_timeout};

#[test]
fn recv_stop_stops_delivery() {
    with_timeout(10, || {
        let mut lp = Loop::new().unwrap();
        let rx = lp.udp_bind(local()).unwrap();
        let tx = lp.udp_bind(local()).unwrap();
        let rx_addr = rx.local_addr(&lp).unwrap();
        for i in 0..5u8 {
            tx.send_to(&mut lp, &[i], rx_addr, |_, _, r| r.unwrap())
                .unwrap();
        }
        let got = Rc::new(RefCell::new(Vec::new()));
        let g = got.clone();
        // All five are in the kernel buffer before the first wake-up; stopping in the first
        // callback must hold back the other four even though they were readable.
        lp.set_timeout(Duration::from_millis(20), move |lp, _| {
            let g = g.clone();
            rx.recv_start(lp, move |lp, rx, d| {
                g.borrow_mut().push(d.unwrap().0[0]);
                rx.recv_stop(lp).unwrap();
            })
            .unwrap();
        });
        lp.run().unwrap();
        assert_eq!(*got.borrow(), [0]);
        assert!(!rx.is_active(&lp).unwrap());

        // Restarting picks up the rest, which waited in the kernel.
        let g = got.clone();
        rx.recv_start(&mut lp, move |lp, rx, d| {
            g.borrow_mut().push(d.unwrap().0[0]);
            if g.borrow().len() == 5 {
                rx.close(lp, |_| {}).unwrap();
                tx.close(lp, |_| {}).unwrap();
            }
        })
        .unwrap();
        assert!(matches!(
            rx.recv_start(&mut lp, |_, _, _| {}),
            Err(Error::InvalidState(_))
        ));
        lp.run().unwrap();
        assert_eq!(*got.borrow(), [0, 1, 2, 3, 4]);
        assert_clean(&lp);
    });
}

#[test]
fn many_datagrams_per_wakeup_are_bounded_and_all_delivered() {
    // More datagrams than one wake-up's budget: the rest continue from the pending phase
    // (no new edge would come), and timers still get their turn in between.
    with_timeout(10, || {
        let mut lp = Loop::new().unwrap();
        let rx = lp.udp_bind(local()).unwrap();
        let tx = lp.udp_bind(local()).unwrap();
        let rx_addr = rx.local_addr(&lp).unwrap();
        for i in 0..100u8 {
            tx.send_to(&mut lp, &[i], rx_addr, |_, _, r| r.unwrap())
                .unwrap();
        }
        let order = Rc::new(RefCell::new(VecDeque::new()));
        let o = order.clone();
        lp.set_timeout(Duration::from_millis(20), move |lp, _| {
            let o = o.clone();
            rx.recv_start(lp, move |lp, rx, d| {
                o.borrow_mut().push_back(d.unwrap().0[0]);
                if o.borrow().len() == 100 {
                    rx.close(lp, |_| {}).unwrap();
                    tx.close(lp, |_| {}).unwrap();
                }
            })
            .unwrap();
        });
        lp.run().unwrap();
        let got: Vec<u8> = order.borrow().iter().copied().collect();
        assert_eq!(got, (0..100).collect::<Vec<u8>>());
        assert_clean(&lp);
    });
}

#[test]
fn oversized_datagram_is_reported_not_cut() {
    with_timeout(10, || {
        let mut lp = Loop::new().unwrap();
        let rx = lp.udp_bind(local()).unwrap();
        let tx = lp.udp_bind(local()).unwrap();
        let rx_addr = rx.local_addr(&lp).unwrap();
        rx.set_max_datagram_len(&mut lp, 16).unwrap();
        tx.send_to(&mut lp, &[7; 100], rx_addr, |_, _, r| r.unwrap())
            .unwrap();
        tx.send_to(&mut lp, &[8; 16], rx_addr, |_, _, r| r.unwrap())
            .unwrap();
        let trace = Trace::new();
        let t = trace.clone();
        rx.recv_start(&mut lp, move |lp, rx, d| match d {
            Err(e) => {
                assert_eq!(e.raw_os_error(), Some(util::errno::EMSGSIZE));
                t.push("truncated");
            }
            Ok((data, _)) => {
                assert_eq!(data, [8; 16]);
                t.push("fits");
                rx.close(lp, |_| {}).unwrap();
                tx.close(lp, |_| {}).unwrap();
            }
        })
        .unwrap();
        lp.run().unwrap();
        assert_eq!(trace.take(), ["truncated", "fits"]);
        assert_clean(&lp);
    });
}

#[test]
fn a_panicking_recv_callback_leaves_the_rest_for_the_next_run() {
    with_timeout(10, || {
        let mut lp = Loop::new().unwrap();
        let rx = lp.udp_bind(local()).unwrap();
        let tx = lp.udp_bind(local()).unwrap();
        let rx_addr = rx.local_addr(&lp).unwrap();
        for i in 0..3u8 {
            tx.try_send_to(&mut lp, &[i], rx_addr).unwrap();
        }
        let got = Rc::new(RefCell::new(Vec::new()));
        let g = got.clone();
        rx.recv_start(&mut lp, move |lp, rx, d| {
            let byte = d.unwrap().0[0];
            g.borrow_mut().push(byte);
            if byte == 0 {
                panic!("boom");
            }
            if byte == 2 {
                rx.close(lp, |_| {}).unwrap();
                tx.close(lp, |_| {}).unwrap();
            }
        })
        .unwrap();
        let err = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| lp.run()));
        assert!(err.is_err());
        // Datagrams 1 and 2 were already readable and no new edge will come.
        lp.run().unwrap();
        assert_eq!(*got.borrow(), [0, 1, 2]);
        assert_clean(&lp);
    });
}
