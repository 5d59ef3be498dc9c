//! TCP streams, reading: ping-pong round trips, EOF, a peer's reset, and a peer that never
//! stops sending.
mod util;

use std::cell::Cell;
use std::io::ErrorKind;
use std::rc::Rc;
use std::time::Duration;

use evloop::net::{ReadEvent, TcpStream};
use evloop::{Handle, Loop};
use util::net::{any_port, echo_server};
use util::{Counter, Trace, assert_clean, with_timeout};

fn ping_pong(vectored: bool) {
    let mut lp = Loop::new().unwrap();
    let (_server, addr) = echo_server(&mut lp);
    let returned = Rc::new(Cell::new(false));
    let (pongs, eofs, closed) = (Counter::new(), Counter::new(), Counter::new());
    let send_ping = move |lp: &mut Loop, stream: TcpStream| {
        if vectored {
            stream
                .write_vectored(lp, [&b"PI"[..], b"N", b"G\n"], |_, r| r.unwrap())
                .unwrap();
        } else {
            stream.write(lp, b"PING\n", |_, r| r.unwrap()).unwrap();
        }
    };
    let (r, p, e, c) = (
        returned.clone(),
        pongs.clone(),
        eofs.clone(),
        closed.clone(),
    );
    lp.tcp_connect(addr, move |lp, stream, result| {
        assert!(r.get(), "connect callback ran inside tcp_connect");
        result.unwrap();
        send_ping(lp, stream);
        let mut pending = Vec::new();
        let (p, e, c) = (p.clone(), e.clone(), c.clone());
        stream
            .read_start(lp, move |lp, stream, ev| match ev {
                ReadEvent::Data(bytes) => {
                    pending.extend_from_slice(bytes);
                    while pending.len() >= 5 {
                        assert_eq!(&pending[..5], b"PING\n");
                        pending.drain(..5);
                        if p.inc() == 1000 {
                            stream.shutdown(lp, |_, r| r.unwrap()).unwrap();
                        } else {
                            send_ping(lp, stream);
                        }
                    }
                }
                ReadEvent::Eof => {
                    e.inc();
                    let c = c.clone();
                    stream
                        .close(lp, move |_| {
                            c.inc();
                        })
                        .unwrap();
                }
                ReadEvent::Error(err) => panic!("client read: {err}"),
            })
            .unwrap();
    })
    .unwrap();
    returned.set(true);
    lp.run().unwrap();
    assert_eq!(pongs.get(), 1000);
    assert_eq!(eofs.get(), 1);
    assert_eq!(closed.get(), 1);
    assert_clean(&lp);
}

#[test]
fn ping_pong_1000_round_trips() {
    with_timeout(30, || ping_pong(false));
}

#[test]
fn ping_pong_with_vectored_writes() {
    with_timeout(30, || ping_pong(true));
}

#[test]
#[cfg_attr(
    windows,
    ignore = "wine 8.0 closes a SO_LINGER-0 socket with a FIN, not a RST, so the peer reads EOF"
)]
fn peer_reset_is_a_read_error_and_later_writes_fail() {
    with_timeout(10, || {
        // A SIGPIPE from here on sets the flag instead of being ignored (Windows has none).
        let sigpipe = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        #[cfg(unix)]
        signal_hook::flag::register(signal_hook::consts::SIGPIPE, sigpipe.clone()).unwrap();
        let mut lp = Loop::new().unwrap();
        let trace = Trace::new();
        let server = lp
            .tcp_listen(any_port(), move |lp, server, conn| {
                let stream = conn.unwrap();
                server.close(lp, |_| {}).unwrap();
                // Late enough that the client has seen its connect complete.
                lp.set_timeout(Duration::from_millis(50), move |lp, _| {
                    stream.close_reset(lp, |_| {}).unwrap();
                });
            })
            .unwrap();
        let addr = server.local_addr(&lp).unwrap();
        let t = trace.clone();
        lp.tcp_connect(addr, move |lp, stream, r| {
            r.unwrap();
            stream
                .read_start(lp, move |lp, stream, ev| {
                    let ReadEvent::Error(e) = ev else {
                        panic!("expected a reset error, got {ev:?}");
                    };
                    assert_eq!(e.kind(), ErrorKind::ConnectionReset, "{e}");
                    t.push("read reset");
                    let t = t.clone();
                    stream
                        .write(lp, b"after reset", move |lp, r| {
                            let e = r.unwrap_err();
                            assert!(!e.is_canceled(), "{e}");
                            t.push("write failed");
                            stream.close(lp, |_| {}).unwrap();
                        })
                        .unwrap();
                })
                .unwrap();
        })
        .unwrap();
        lp.run().unwrap();
        assert_eq!(trace.take(), ["read reset", "write failed"]);
        assert!(
            !sigpipe.load(std::sync::atomic::Ordering::SeqCst),
            "SIGPIPE was raised"
        );
        assert_clean(&lp);
    });
}

#[test]
fn reading_again_after_eof_reports_eof_again() {
    with_timeout(10, || {
        let mut lp = Loop::new().unwrap();
        let server = lp
            .tcp_listen(any_port(), |lp, server, conn| {
                server.close(lp, |_| {}).unwrap();
                conn.unwrap().close(lp, |_| {}).unwrap();
            })
            .unwrap();
        let addr = server.local_addr(&lp).unwrap();
        let eofs = Counter::new();
        let e = eofs.clone();
        lp.tcp_connect(addr, move |lp, stream, r| {
            r.unwrap();
            stream
                .read_start(lp, move |lp, stream, ev| {
                    assert!(matches!(ev, ReadEvent::Eof), "{ev:?}");
                    assert!(!stream.is_active(lp).unwrap(), "EOF stops reading");
                    let e = e.clone();
                    e.inc();
                    stream
                        .read_start(lp, move |lp, stream, ev| {
                            assert!(matches!(ev, ReadEvent::Eof), "{ev:?}");
                            e.inc();
                            stream.close(lp, |_| {}).unwrap();
                        })
                        .unwrap();
                })
                .unwrap();
        })
        .unwrap();
        lp.run().unwrap();
        assert_eq!(eofs.get(), 2);
        assert_clean(&lp);
    });
}

#[test]
fn a_peer_that_never_stops_sending_does_not_starve_timers() {
    with_timeout(30, || {
        let mut lp = Loop::new().unwrap();
        let bytes = Rc::new(Cell::new(0usize));
        let b = bytes.clone();
        let server = lp
            .tcp_listen(any_port(), move |lp, server, conn| {
                server.close(lp, |_| {}).unwrap();
                let stream = conn.unwrap();
                let b = b.clone();
                stream
                    .read_start(lp, move |lp, stream, ev| match ev {
                        ReadEvent::Data(d) => b.set(b.get() + d.len()),
                        _ => stream.close(lp, |_| {}).unwrap(),
                    })
                    .unwrap();
            })
            .unwrap();
        let addr = server.local_addr(&lp).unwrap();
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let s = stop.clone();
        let sender = std::thread::spawn(move || {
            use std::io::Write;
            let mut peer = std::net::TcpStream::connect(addr).unwrap();
            let chunk = vec![0u8; 256 * 1024];
            while !s.load(std::sync::atomic::Ordering::SeqCst) {
                if peer.write_all(&chunk).is_err() {
                    break;
                }
            }
        });
        let ticks = Counter::new();
        let t = ticks.clone();
        lp.set_interval(Duration::from_millis(10), move |lp, timer| {
            if t.inc() == 20 {
                stop.store(true, std::sync::atomic::Ordering::SeqCst);
                timer.close(lp, |_| {}).unwrap();
            }
        });
        let started = std::time::Instant::now();
        lp.run().unwrap();
        sender.join().unwrap();
        assert_eq!(ticks.get(), 20);
        assert!(started.elapsed() < Duration::from_secs(10));
        assert!(bytes.get() > 0);
        assert_clean(&lp);
    });
}
