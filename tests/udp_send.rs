//! UDP sockets, sending: datagrams between sockets and to self, send callbacks (order,
//! errors, close), `try_send_to` and liveness.
mod util;

use std::cell::{Cell, RefCell};
use std::net::SocketAddr;
use std::rc::Rc;

use evloop::{Error, Handle, Loop};
use util::net::any_port as local;
use util::{Counter, Trace, assert_clean, with_timeout};

fn payload(i: usize) -> Vec<u8> {
    // Varying lengths (1..=200 bytes), content tied to the index.
    let len = 1 + i % 200;
    (0..len).map(|k| (i.wrapping_mul(31) + k) as u8).collect()
}

#[test]
fn thousand_datagrams_between_two_sockets() {
    thousand_datagrams(false);
}

#[test]
fn thousand_datagrams_to_self() {
    thousand_datagrams(true);
}

/// 1000 datagrams, each received once with the right source and content, each send callback
/// run once and never inside `send_to`. A window of 32 in flight keeps the receive buffer from
/// overflowing (UDP would drop, not block).
fn thousand_datagrams(to_self: bool) {
    with_timeout(20, move || {
        const TOTAL: usize = 1000;
        const WINDOW: usize = 32;
        let mut lp = Loop::new().unwrap();
        let rx = lp.udp_bind(local()).unwrap();
        let tx = if to_self {
            rx
        } else {
            lp.udp_bind(local()).unwrap()
        };
        let (rx_addr, tx_addr) = (rx.local_addr(&lp).unwrap(), tx.local_addr(&lp).unwrap());

        let received = Rc::new(RefCell::new(vec![0u32; TOTAL]));
        let sent_cbs = Rc::new(RefCell::new(vec![0u32; TOTAL]));
        let next = Rc::new(Cell::new(0usize));
        let in_send_call = Rc::new(Cell::new(false));

        // Sends datagram `next` (its index in the first 4 bytes) and counts its callback.
        let send_one = {
            let sent_cbs = sent_cbs.clone();
            Rc::new(move |lp: &mut Loop| {
                let i = next.get();
                if i == TOTAL {
                    return;
                }
                next.set(i + 1);
                let mut buf = (i as u32).to_le_bytes().to_vec();
                buf.extend(payload(i));
                let (sent_cbs, flag) = (sent_cbs.clone(), in_send_call.clone());
                in_send_call.set(true);
                tx.send_to(lp, &buf, rx_addr, move |_, sock, res| {
                    assert!(!flag.get(), "send callback ran inside send_to");
                    assert_eq!(sock, tx);
                    // With `to_self`, the last callbacks may come from the close phase.
                    res.expect("send");
                    sent_cbs.borrow_mut()[i] += 1;
                })
                .unwrap();
                in_send_call.set(false);
            })
        };
        let got = Counter::new();
        {
            let (received, send_one, got) = (received.clone(), send_one.clone(), got.clone());
            rx.recv_start(&mut lp, move |lp, sock, datagram| {
                let (data, from) = datagram.expect("recv");
                assert_eq!(from, tx_addr, "source address");
                let i = u32::from_le_bytes(data[..4].try_into().unwrap()) as usize;
                assert_eq!(&data[4..], &payload(i)[..], "content of datagram {i}");
                received.borrow_mut()[i] += 1;
                if got.inc() == TOTAL {
                    sock.recv_stop(lp).unwrap();
                    sock.close(lp, |_| {}).unwrap();
                    if tx != sock {
                        tx.close(lp, |_| {}).unwrap();
                    }
                } else {
                    send_one(lp);
                }
            })
            .unwrap();
        }
        for _ in 0..WINDOW {
            send_one(&mut lp);
        }
        lp.run().unwrap();
        assert_eq!(got.get(), TOTAL);
        assert!(
            received.borrow().iter().all(|&n| n == 1),
            "each datagram once"
        );
        assert!(
            sent_cbs.borrow().iter().all(|&n| n == 1),
            "each send callback once"
        );
        assert_clean(&lp);
    });
}

#[test]
fn send_to_self() {
    with_timeout(10, || {
        let mut lp = Loop::new().unwrap();
        let sock = lp.udp_bind(local()).unwrap();
        let me = sock.local_addr(&lp).unwrap();
        let trace = Trace::new();
        let t = trace.clone();
        sock.recv_start(&mut lp, move |lp, sock, datagram| {
            let (data, from) = datagram.unwrap();
            assert_eq!(from, me);
            t.push(format!("recv {}", String::from_utf8_lossy(data)));
            sock.close(lp, |_| {}).unwrap();
        })
        .unwrap();
        let t = trace.clone();
        sock.send_to(&mut lp, b"me", me, move |_, _, res| {
            res.unwrap();
            t.push("sent");
        })
        .unwrap();
        lp.run().unwrap();
        assert_eq!(trace.take(), ["sent", "recv me"]);
        assert_clean(&lp);
    });
}

#[test]
fn close_runs_send_callbacks_before_close_callback() {
    // Sends that finished at once but whose callbacks were still pending when the socket was
    // closed get `Ok` in the close phase, in order, before the close callback. (Sends still
    // queued get `Canceled` there too; loopback never makes `sendto` block, so that path is
    // pinned by the unit test in `src/net/udp.rs`.)
    with_timeout(10, || {
        let mut lp = Loop::new().unwrap();
        let rx = lp.udp_bind(local()).unwrap();
        let rx_addr = rx.local_addr(&lp).unwrap();
        let trace = Trace::new();
        let t = trace.clone();
        lp.set_immediate(move |lp| {
            let tx = lp.udp_bind(local()).unwrap();
            for i in 0..3 {
                let t = t.clone();
                tx.send_to(lp, b"x", rx_addr, move |_, _, r| {
                    t.push(format!("send {i} {}", if r.is_ok() { "ok" } else { "err" }));
                })
                .unwrap();
            }
            let t = t.clone();
            tx.close(lp, move |_| t.push("close")).unwrap();
            // Too late: closing.
            assert!(matches!(
                tx.send_to(lp, b"x", rx_addr, |_, _, _| panic!("must not run")),
                Err(Error::Closing)
            ));
        });
        lp.run().unwrap();
        assert_eq!(
            trace.take(),
            ["send 0 ok", "send 1 ok", "send 2 ok", "close"]
        );
        rx.close(&mut lp, |_| {}).unwrap();
        lp.run().unwrap();
        assert_clean(&lp);
    });
}

#[test]
fn send_error_comes_through_the_callback() {
    with_timeout(10, || {
        let mut lp = Loop::new().unwrap();
        let sock = lp.udp_bind(local()).unwrap();
        let trace = Trace::new();
        let t = trace.clone();
        // Port 0 is not a valid destination: the syscall fails at once, the callback later.
        let bad: SocketAddr = "127.0.0.1:0".parse().unwrap();
        sock.send_to(&mut lp, b"x", bad, move |lp, sock, r| {
            let e = r.expect_err("sendto port 0");
            t.push(format!("error {:?}", e.kind()));
            sock.close(lp, |_| {}).unwrap();
        })
        .unwrap();
        assert!(trace.get().is_empty(), "callback ran synchronously");
        assert!(lp.alive(), "an in-flight send keeps the loop alive");
        lp.run().unwrap();
        assert_eq!(trace.len(), 1);
        assert_clean(&lp);
    });
}

#[test]
fn liveness_try_send_and_unref() {
    with_timeout(10, || {
        let mut lp = Loop::new().unwrap();
        let sock = lp.udp_bind(local()).unwrap();
        let me = sock.local_addr(&lp).unwrap();
        // Bound but idle: inactive, does not keep the loop alive.
        assert!(!sock.is_active(&lp).unwrap());
        assert!(!lp.alive());
        assert_eq!(sock.try_send_to(&mut lp, b"abc", me).unwrap(), 3);
        assert_eq!(sock.send_queue_len(&lp).unwrap(), 0);

        // Receiving but unref'd: the loop exits.
        sock.recv_start(&mut lp, |_, _, _| {}).unwrap();
        assert!(sock.is_active(&lp).unwrap());
        sock.unref(&mut lp).unwrap();
        assert!(!lp.alive());
        lp.run().unwrap();

        // An in-flight send keeps even an unref'd socket's loop alive until its callback.
        let done = Counter::new();
        let d = done.clone();
        sock.send_to(&mut lp, b"x", me, move |_, _, r| {
            r.unwrap();
            d.inc();
        })
        .unwrap();
        assert!(lp.alive());
        lp.run().unwrap();
        assert_eq!(done.get(), 1);
        sock.close(&mut lp, |_| {}).unwrap();
        lp.run().unwrap();
        assert_clean(&lp);
    });
}
