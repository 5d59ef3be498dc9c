//! UDP sockets: send/receive on loopback, send callbacks, connected mode, close, options.
mod util;

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::rc::Rc;
use std::time::Duration;

use evloop::net::UdpBindOptions;
use evloop::{Error, Handle, Loop};
use util::{Counter, Trace, assert_clean, with_timeout};

fn local() -> SocketAddr {
    "127.0.0.1:0".parse().unwrap()
}

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
fn connected_mode() {
    with_timeout(10, || {
        let mut lp = Loop::new().unwrap();
        let a = lp.udp_bind(local()).unwrap();
        let b = lp.udp_bind(local()).unwrap();
        let (a_addr, b_addr) = (a.local_addr(&lp).unwrap(), b.local_addr(&lp).unwrap());

        assert!(matches!(
            a.peer_addr(&lp),
            Err(Error::Io(e)) if e.raw_os_error() == Some(util::errno::ENOTCONN)
        ));
        // Not connected: `send` needs an address.
        let r = a.send(&mut lp, b"x", |_, _, _| panic!("must not run"));
        assert!(matches!(r, Err(e) if e.raw_os_error() == Some(util::errno::EDESTADDRREQ)));

        b.connect(&mut lp, a_addr).unwrap();
        assert_eq!(b.peer_addr(&lp).unwrap(), a_addr);
        let r = b.connect(&mut lp, a_addr);
        assert!(matches!(r, Err(e) if e.raw_os_error() == Some(util::errno::EISCONN)));
        // Connected: `send_to` is refused, the callback never runs.
        let r = b.send_to(&mut lp, b"x", a_addr, |_, _, _| panic!("must not run"));
        assert!(matches!(r, Err(e) if e.raw_os_error() == Some(util::errno::EISCONN)));

        let trace = Trace::new();
        let t = trace.clone();
        a.recv_start(&mut lp, move |lp, a, datagram| {
            let (data, from) = datagram.unwrap();
            assert_eq!(from, b_addr);
            t.push(format!("a got {}", String::from_utf8_lossy(data)));
            a.send_to(lp, b"pong", from, |_, _, r| r.unwrap()).unwrap();
            a.recv_stop(lp).unwrap();
        })
        .unwrap();
        let t = trace.clone();
        b.recv_start(&mut lp, move |lp, b, datagram| {
            let (data, from) = datagram.unwrap();
            assert_eq!(from, a_addr);
            t.push(format!("b got {}", String::from_utf8_lossy(data)));
            b.close(lp, |_| {}).unwrap();
            a.close(lp, |_| {}).unwrap();
        })
        .unwrap();
        let t = trace.clone();
        b.send(&mut lp, b"ping", move |_, _, r| {
            r.unwrap();
            t.push("b sent");
        })
        .unwrap();
        lp.run().unwrap();
        assert_eq!(trace.take(), ["b sent", "a got ping", "b got pong"]);
        assert_clean(&lp);
    });
}

#[test]
fn disconnect_restores_send_to_and_receiving_from_anyone() {
    with_timeout(10, || {
        let mut lp = Loop::new().unwrap();
        let a = lp.udp_bind(local()).unwrap();
        let b = lp.udp_bind(local()).unwrap();
        let c = lp.udp_bind(local()).unwrap();
        let b_addr = b.local_addr(&lp).unwrap();
        let c_addr = c.local_addr(&lp).unwrap();
        let r = a.disconnect(&mut lp);
        assert!(matches!(r, Err(e) if e.raw_os_error() == Some(util::errno::ENOTCONN)));

        a.connect(&mut lp, b_addr).unwrap();
        a.disconnect(&mut lp).unwrap();
        assert!(a.peer_addr(&lp).is_err());
        let r = a.send(&mut lp, b"x", |_, _, _| panic!("must not run"));
        assert!(matches!(r, Err(e) if e.raw_os_error() == Some(util::errno::EDESTADDRREQ)));

        // Disconnected, a may `send_to` anyone (c), and c's reply (not from b) reaches it.
        // (a was bound to port 0, so Linux dropped its port on disconnect and picks a new one
        // for this send: the reply goes to wherever the datagram came from.)
        let trace = Trace::new();
        let t = trace.clone();
        a.recv_start(&mut lp, move |lp, a, d| {
            let (data, from) = d.unwrap();
            assert_eq!(from, c_addr);
            t.push(String::from_utf8_lossy(data).into_owned());
            a.close(lp, |_| {}).unwrap();
        })
        .unwrap();
        c.recv_start(&mut lp, |lp, c, d| {
            let (data, from) = d.unwrap();
            assert_eq!(data, b"to c");
            c.send_to(lp, b"reply from c", from, |lp, c, r| {
                r.unwrap();
                c.close(lp, |_| {}).unwrap();
            })
            .unwrap();
        })
        .unwrap();
        a.send_to(&mut lp, b"to c", c_addr, |_, _, r| r.unwrap())
            .unwrap();
        lp.run().unwrap();
        assert_eq!(trace.take(), ["reply from c"]);
        b.close(&mut lp, |_| {}).unwrap();
        lp.run().unwrap();
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
#[cfg_attr(
    windows,
    ignore = "wine runs on Linux's network stack and never reports ICMP port-unreachable to a connected UDP socket"
)]
fn port_unreachable_is_reported_to_the_connected_receiver() {
    with_timeout(10, || {
        let mut lp = Loop::new().unwrap();
        // A port with nobody behind it: bind, note it, close.
        let gone = lp.udp_bind(local()).unwrap();
        let dead = gone.local_addr(&lp).unwrap();
        gone.close(&mut lp, |_| {}).unwrap();
        lp.run().unwrap();

        let sock = lp.udp_bind(local()).unwrap();
        sock.connect(&mut lp, dead).unwrap();
        let trace = Trace::new();
        let t = trace.clone();
        sock.recv_start(&mut lp, move |lp, sock, d| {
            let e = d.expect_err("ICMP port unreachable");
            assert_eq!(e.kind(), std::io::ErrorKind::ConnectionRefused, "{e}");
            t.push("refused");
            sock.close(lp, |_| {}).unwrap();
        })
        .unwrap();
        let t = trace.clone();
        sock.send(&mut lp, b"anyone?", move |_, _, r| {
            r.unwrap();
            t.push("sent");
        })
        .unwrap();
        lp.run().unwrap();
        assert_eq!(trace.take(), ["sent", "refused"]);
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
fn ipv6_dual_stack_and_v6only() {
    with_timeout(10, || {
        let mut lp = Loop::new().unwrap();
        let any6: SocketAddr = "[::]:0".parse().unwrap();
        let dual = lp
            .udp_bind_with(any6, UdpBindOptions::new().only_v6(false))
            .unwrap();
        let port = dual.local_addr(&lp).unwrap().port();
        let v6only = lp
            .udp_bind_with(any6, UdpBindOptions::new().only_v6(true))
            .unwrap();
        let v6only_port = v6only.local_addr(&lp).unwrap().port();
        let tx = lp.udp_bind(local()).unwrap();
        let tx6 = lp.udp_bind("[::1]:0".parse().unwrap()).unwrap();
        let tx_port = tx.local_addr(&lp).unwrap().port();

        let trace = Trace::new();
        let t = trace.clone();
        dual.recv_start(&mut lp, move |lp, dual, d| {
            let (data, from) = d.unwrap();
            let SocketAddr::V6(from) = from else {
                panic!("a dual-stack socket reports IPv6 sources: {from}");
            };
            assert_eq!(from.ip().to_ipv4_mapped(), Some(Ipv4Addr::LOCALHOST));
            assert_eq!(from.port(), tx_port);
            t.push(format!("dual got {}", String::from_utf8_lossy(data)));
            dual.close(lp, |_| {}).unwrap();
        })
        .unwrap();
        let t = trace.clone();
        v6only
            .recv_start(&mut lp, move |lp, v6only, d| {
                let (data, from) = d.unwrap();
                assert!(from.is_ipv6());
                t.push(format!("v6only got {}", String::from_utf8_lossy(data)));
                v6only.close(lp, |_| {}).unwrap();
            })
            .unwrap();
        tx.send_to(
            &mut lp,
            b"v4",
            SocketAddr::from((Ipv4Addr::LOCALHOST, port)),
            |lp, tx, r| {
                r.unwrap();
                tx.close(lp, |_| {}).unwrap();
            },
        )
        .unwrap();
        let to6 = SocketAddr::from((Ipv6Addr::LOCALHOST, v6only_port));
        tx6.send_to(&mut lp, b"v6", to6, |lp, tx6, r| {
            r.unwrap();
            tx6.close(lp, |_| {}).unwrap();
        })
        .unwrap();
        lp.run().unwrap();
        let mut got = trace.take();
        got.sort();
        assert_eq!(got, ["dual got v4", "v6only got v6"]);
        assert_clean(&lp);
    });
}

#[test]
#[cfg(windows)]
fn reuse_port_is_unsupported_on_windows() {
    with_timeout(10, || {
        let mut lp = Loop::new().unwrap();
        let opts = UdpBindOptions::new().reuse_port(true);
        let err = lp
            .udp_bind_with(local(), opts)
            .expect_err("no SO_REUSEPORT on Windows");
        let Error::Io(io) = &err else {
            panic!("an I/O error, got {err:?}");
        };
        assert_eq!(io.kind(), std::io::ErrorKind::Unsupported, "{io}");
        assert!(io.to_string().contains("SO_REUSEPORT"), "{io}");
        assert_clean(&lp);
    });
}

#[test]
#[cfg(unix)] // Windows has no SO_REUSEPORT: see reuse_port_is_unsupported_on_windows
fn reuse_address_and_port_let_two_sockets_share_a_port() {
    with_timeout(10, || {
        let mut lp = Loop::new().unwrap();
        let opts = UdpBindOptions::new().reuse_address(true).reuse_port(true);
        let a = lp.udp_bind_with(local(), opts).unwrap();
        let addr = a.local_addr(&lp).unwrap();
        let b = lp.udp_bind_with(addr, opts).unwrap();
        assert_eq!(b.local_addr(&lp).unwrap(), addr);
        // Without the option the port is taken.
        let r = lp.udp_bind(addr);
        assert!(matches!(r, Err(e) if e.kind() == std::io::ErrorKind::AddrInUse));
        a.close(&mut lp, |_| {}).unwrap();
        b.close(&mut lp, |_| {}).unwrap();
        lp.run().unwrap();
        assert_clean(&lp);
    });
}

/// Multicast membership on loopback depends on the kernel and the container: joining may
/// succeed, or fail with an OS error. Either way the result must be a clean `Result`, and the
/// socket must keep working afterwards.
fn check_membership(r: Result<(), Error>, what: &str) {
    match r {
        Ok(()) => {}
        Err(Error::Io(e)) => {
            assert!(e.raw_os_error().is_some(), "{what}: not an OS error: {e:?}");
            eprintln!("{what}: the kernel refused: {e}");
        }
        Err(other) => panic!("{what}: unexpected error {other:?}"),
    }
}

#[test]
fn broadcast_multicast_and_ttl_options() {
    with_timeout(10, || {
        let mut lp = Loop::new().unwrap();
        let sock = lp.udp_bind(local()).unwrap();
        sock.set_broadcast(&mut lp, true).unwrap();
        sock.set_broadcast(&mut lp, false).unwrap();
        sock.set_ttl(&mut lp, 32).unwrap();
        sock.set_multicast_ttl_v4(&mut lp, 2).unwrap();
        sock.set_multicast_loop_v4(&mut lp, true).unwrap();
        sock.set_recv_buffer_size(&mut lp, 1 << 16).unwrap();
        assert!(sock.recv_buffer_size(&lp).unwrap() >= 1 << 16);
        sock.set_send_buffer_size(&mut lp, 1 << 16).unwrap();
        assert!(sock.send_buffer_size(&lp).unwrap() >= 1 << 16);
        check_membership(
            sock.set_multicast_interface_v4(&mut lp, Ipv4Addr::LOCALHOST),
            "multicast interface 127.0.0.1",
        );

        let group = Ipv4Addr::new(239, 255, 77, 1);
        let joined = sock.join_multicast_v4(&mut lp, group, Ipv4Addr::LOCALHOST);
        let was_joined = joined.is_ok();
        check_membership(joined, "join 239.255.77.1 on 127.0.0.1");
        let left = sock.leave_multicast_v4(&mut lp, group, Ipv4Addr::LOCALHOST);
        if was_joined {
            left.unwrap();
        } else {
            check_membership(left, "leave without join");
        }
        // Not a multicast address: always refused, cleanly.
        let r = sock.join_multicast_v4(&mut lp, Ipv4Addr::LOCALHOST, Ipv4Addr::LOCALHOST);
        assert!(matches!(r, Err(Error::Io(_))), "{r:?}");

        let sock6 = lp.udp_bind("[::1]:0".parse().unwrap()).unwrap();
        sock6.set_multicast_loop_v6(&mut lp, true).unwrap();
        let group6: Ipv6Addr = "ff02::1:3".parse().unwrap();
        let joined6 = sock6.join_multicast_v6(&mut lp, group6, 1);
        let was_joined6 = joined6.is_ok();
        check_membership(joined6, "join ff02::1:3 on interface 1");
        if was_joined6 {
            sock6.leave_multicast_v6(&mut lp, group6, 1).unwrap();
        }

        // The socket still works after all this.
        let me = sock.local_addr(&lp).unwrap();
        sock.recv_start(&mut lp, |lp, sock, d| {
            assert_eq!(d.unwrap().0, b"still works");
            sock.close(lp, |_| {}).unwrap();
        })
        .unwrap();
        sock.send_to(&mut lp, b"still works", me, |_, _, r| r.unwrap())
            .unwrap();
        sock6.close(&mut lp, |_| {}).unwrap();
        lp.run().unwrap();
        assert!(matches!(sock.set_ttl(&mut lp, 1), Err(Error::StaleHandle)));
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
