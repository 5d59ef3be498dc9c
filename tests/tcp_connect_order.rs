//! A stream's connect callback comes first: before any read callback, even when the handshake
//! and the server's first bytes (or the refusal) arrive in one poll; after a failed connect no
//! read callback runs and queued requests are canceled. Also libuv's refusals: `close_reset`
//! after `shutdown`, and `only_v6(true)` on an IPv4 address.
mod util;

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::mpsc;
use std::time::Duration;

use evloop::net::{ReadEvent, TcpListenOptions, UdpBindOptions};
use evloop::{Error, Handle, Loop};
use util::{Trace, assert_clean, with_timeout};

fn loopback() -> SocketAddr {
    (Ipv4Addr::LOCALHOST, 0).into()
}

/// An address nothing listens on (a port just bound and released).
fn refused_addr() -> SocketAddr {
    let l = std::net::TcpListener::bind(loopback()).unwrap();
    let addr = l.local_addr().unwrap();
    drop(l);
    addr
}

fn describe(ev: &ReadEvent<'_>) -> String {
    match ev {
        ReadEvent::Data(d) => format!("read {}", String::from_utf8_lossy(d)),
        ReadEvent::Eof => "read eof".into(),
        ReadEvent::Error(e) => format!("read error {e}"),
    }
}

fn iterations(lp: &Loop) -> u64 {
    lp.metrics().iterations
}

#[test]
fn connect_callback_runs_before_the_banner_read_that_came_in_the_same_poll() {
    with_timeout(20, || {
        // A server that talks first (SMTP, Redis): it writes its banner the moment it accepts.
        let server = std::net::TcpListener::bind(loopback()).unwrap();
        let addr = server.local_addr().unwrap();
        let (written_tx, written_rx) = mpsc::channel();
        let peer = std::thread::spawn(move || {
            let (mut s, _) = server.accept().unwrap();
            s.write_all(b"220 ready").unwrap();
            written_tx.send(()).unwrap();
            let mut rest = Vec::new();
            let _ = s.read_to_end(&mut rest); // until the client closes
        });

        let mut lp = Loop::new().unwrap();
        let trace = Trace::new();
        let t = trace.clone();
        let stream = lp
            .tcp_connect(addr, move |lp, _, r| {
                t.push(format!("connect {}", r.is_ok()));
                t.push(format!("connect in iteration {}", iterations(lp)));
            })
            .unwrap();
        let t = trace.clone();
        stream
            .read_start(&mut lp, move |lp, s, ev| {
                t.push(describe(&ev));
                t.push(format!("read in iteration {}", iterations(lp)));
                s.close(lp, |_| {}).unwrap();
            })
            .unwrap();
        // The loop has not polled yet: the handshake is done and the banner is in the socket
        // before the first poll, so both arrive in one wake-up.
        written_rx.recv_timeout(Duration::from_secs(10)).unwrap();
        std::thread::sleep(Duration::from_millis(20));
        lp.run().unwrap();
        assert_eq!(
            trace.take(),
            [
                "connect true",
                "connect in iteration 1",
                "read 220 ready",
                "read in iteration 1",
            ]
        );
        assert_clean(&lp);
        peer.join().unwrap();
    });
}

#[test]
fn a_refused_connect_reports_once_and_no_read_callback_runs() {
    with_timeout(20, || {
        let addr = refused_addr();
        let mut lp = Loop::new().unwrap();
        let trace = Trace::new();
        let t = trace.clone();
        let stream = lp
            .tcp_connect(addr, move |lp, s, r| {
                let e = r.expect_err("nothing listens there");
                t.push(format!("connect {:?}", e.kind()));
                // Closed only in a later iteration: a read would have had its chance.
                lp.set_timeout(Duration::from_millis(20), move |lp, _| {
                    let t = t.clone();
                    s.close(lp, move |_| t.push("closed")).unwrap();
                });
            })
            .unwrap();
        let t = trace.clone();
        stream
            .read_start(&mut lp, move |_, _, ev| t.push(describe(&ev)))
            .unwrap();
        // The refusal is on the socket before the loop first polls.
        std::thread::sleep(Duration::from_millis(30));
        lp.run().unwrap();
        assert_eq!(trace.take(), ["connect ConnectionRefused", "closed"]);
        assert_clean(&lp);
    });
}

#[test]
#[cfg(unix)] // fails at once through a Unix-domain socket, which Windows builds lack
fn a_connect_that_fails_at_once_reports_once_and_no_read_callback_runs() {
    with_timeout(20, || {
        // connect(2) on a Unix socket path that does not exist fails inside the call.
        let dir = std::env::temp_dir().join(format!("evloop-order-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("nobody-listens");
        let mut lp = Loop::new().unwrap();
        let trace = Trace::new();
        let t = trace.clone();
        let stream = lp
            .unix_connect(&path, move |lp, s, r| {
                let e = r.expect_err("no such socket");
                t.push(format!("connect {:?}", e.kind()));
                lp.set_timeout(Duration::from_millis(20), move |lp, _| {
                    let t = t.clone();
                    s.close(lp, move |_| t.push("closed")).unwrap();
                });
            })
            .unwrap();
        let t = trace.clone();
        stream
            .read_start(&mut lp, move |_, _, ev| t.push(describe(&ev)))
            .unwrap();
        lp.run().unwrap();
        assert_eq!(trace.take(), ["connect NotFound", "closed"]);
        assert_clean(&lp);
        let _ = std::fs::remove_dir_all(&dir);
    });
}

#[test]
fn writes_and_shutdown_queued_behind_a_failed_connect_are_canceled_after_its_callback() {
    with_timeout(20, || {
        let addr = refused_addr();
        let mut lp = Loop::new().unwrap();
        let trace = Trace::new();
        let t = trace.clone();
        let stream = lp
            .tcp_connect(addr, move |_, _, r| {
                t.push(format!("connect {:?}", r.map_err(|e| e.kind())));
            })
            .unwrap();
        for i in 0..2 {
            let t = trace.clone();
            stream
                .write(&mut lp, &b"early"[..], move |_, r| {
                    t.push(format!(
                        "write {i} canceled={}",
                        r.unwrap_err().is_canceled()
                    ));
                })
                .unwrap();
        }
        let t = trace.clone();
        stream
            .shutdown(&mut lp, move |lp, r| {
                t.push(format!(
                    "shutdown canceled={}",
                    r.unwrap_err().is_canceled()
                ));
                stream.close(lp, |_| {}).unwrap();
            })
            .unwrap();
        std::thread::sleep(Duration::from_millis(30));
        lp.run().unwrap();
        assert_eq!(
            trace.take(),
            [
                "connect Err(ConnectionRefused)",
                "write 0 canceled=true",
                "write 1 canceled=true",
                "shutdown canceled=true",
            ]
        );
        assert_clean(&lp);
    });
}

#[test]
fn a_write_in_a_failed_connects_callback_is_canceled_and_a_later_one_fails_with_the_socket() {
    with_timeout(20, || {
        let addr = refused_addr();
        let mut lp = Loop::new().unwrap();
        let trace = Trace::new();
        let t = trace.clone();
        let stream = lp
            .tcp_connect(addr, move |lp, s, r| {
                t.push(format!("connect {:?}", r.map_err(|e| e.kind())));
                // Made inside the callback: still behind the failed connect (libuv cancels
                // the write queue after the connect callback returns).
                s.write(lp, &b"late"[..], move |_, r| {
                    t.push(format!(
                        "write late canceled={}",
                        r.unwrap_err().is_canceled()
                    ));
                })
                .unwrap();
            })
            .unwrap();
        std::thread::sleep(Duration::from_millis(30));
        lp.run().unwrap();
        assert_eq!(
            trace.take(),
            ["connect Err(ConnectionRefused)", "write late canceled=true"]
        );
        // The stream stays open until closed; a write now fails with the socket's error
        // instead of waiting for a writable edge that will never come.
        let t = trace.clone();
        stream
            .write(&mut lp, &b"after"[..], move |_, r| {
                let e = r.expect_err("the socket is not connected");
                t.push(format!("write after: canceled={}", e.is_canceled()));
            })
            .unwrap();
        lp.run().unwrap();
        assert_eq!(trace.take(), ["write after: canceled=false"]);
        stream.close(&mut lp, |_| {}).unwrap();
        lp.run().unwrap();
        assert_clean(&lp);
    });
}

#[test]
fn writes_queued_behind_a_successful_connect_complete_after_its_callback() {
    with_timeout(20, || {
        let server = std::net::TcpListener::bind(loopback()).unwrap();
        let addr = server.local_addr().unwrap();
        let peer = std::thread::spawn(move || {
            let (mut s, _) = server.accept().unwrap();
            let mut got = Vec::new();
            s.read_to_end(&mut got).unwrap();
            got
        });
        let mut lp = Loop::new().unwrap();
        let trace = Trace::new();
        let t = trace.clone();
        let stream = lp
            .tcp_connect(addr, move |_, _, r| {
                t.push(format!("connect {}", r.is_ok()))
            })
            .unwrap();
        for i in 0..2 {
            let t = trace.clone();
            stream
                .write(&mut lp, format!("w{i} ").into_bytes(), move |_, r| {
                    t.push(format!("write {i} {}", r.is_ok()));
                })
                .unwrap();
        }
        let t = trace.clone();
        stream
            .shutdown(&mut lp, move |lp, r| {
                t.push(format!("shutdown {}", r.is_ok()));
                stream.close(lp, |_| {}).unwrap();
            })
            .unwrap();
        lp.run().unwrap();
        assert_eq!(
            trace.take(),
            [
                "connect true",
                "write 0 true",
                "write 1 true",
                "shutdown true"
            ]
        );
        assert_eq!(peer.join().unwrap(), b"w0 w1 ");
        assert_clean(&lp);
    });
}

#[test]
fn close_reset_after_shutdown_is_invalid_and_the_stream_stays_usable() {
    with_timeout(20, || {
        let server = std::net::TcpListener::bind(loopback()).unwrap();
        let addr = server.local_addr().unwrap();
        let peer = std::thread::spawn(move || {
            let (mut s, _) = server.accept().unwrap();
            let mut got = Vec::new();
            // A FIN, not a RST: read_to_end ends cleanly.
            s.read_to_end(&mut got).map(|_| got)
        });
        let mut lp = Loop::new().unwrap();
        let trace = Trace::new();
        let t = trace.clone();
        lp.tcp_connect(addr, move |lp, s, r| {
            r.unwrap();
            s.write(lp, &b"bye"[..], |_, r| r.unwrap()).unwrap();
            let t2 = t.clone();
            s.shutdown(lp, move |_, r| t2.push(format!("shutdown {}", r.is_ok())))
                .unwrap();
            let err = s
                .close_reset(lp, |_| panic!("a refused close_reset must not call back"))
                .unwrap_err();
            assert!(matches!(err, Error::InvalidState(_)), "{err:?}");
            t.push("close_reset refused");
            assert!(!s.is_closing(lp).unwrap());
            s.close(lp, move |_| t.push("closed")).unwrap();
        })
        .unwrap();
        lp.run().unwrap();
        assert_eq!(
            trace.take(),
            ["close_reset refused", "shutdown true", "closed"]
        );
        assert_eq!(peer.join().unwrap().unwrap(), b"bye");
        assert_clean(&lp);
    });
}

#[test]
fn only_v6_true_on_an_ipv4_address_is_invalid_input() {
    with_timeout(20, || {
        let mut lp = Loop::new().unwrap();
        let err = lp
            .tcp_listen_with(
                loopback(),
                &TcpListenOptions::new().only_v6(true),
                |_, _, _| {},
            )
            .unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput, "{err}");
        assert!(err.to_string().contains("only_v6"), "{err}");
        let err = lp
            .udp_bind_with(loopback(), UdpBindOptions::new().only_v6(true))
            .unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput, "{err}");
        // `false` on IPv4 says nothing untrue and is accepted, as before.
        let l = lp
            .tcp_listen_with(
                loopback(),
                &TcpListenOptions::new().only_v6(false),
                |_, _, _| {},
            )
            .unwrap();
        let u = lp
            .udp_bind_with(loopback(), UdpBindOptions::new().only_v6(false))
            .unwrap();
        l.close(&mut lp, |_| {}).unwrap();
        u.close(&mut lp, |_| {}).unwrap();
        lp.run().unwrap();
        assert_clean(&lp);
    });
}
