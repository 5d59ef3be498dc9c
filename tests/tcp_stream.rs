//! TCP streams: ping-pong, big writes, the write queue, backpressure, close, half-close, reset.
mod util;

use std::cell::{Cell, RefCell};
use std::io::{ErrorKind, IoSlice};
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::Duration;

use evloop::net::{ReadEvent, TcpListener, TcpStream};
use evloop::{Error, Handle, Loop};
use util::{Counter, Trace, assert_clean, with_timeout};

fn any_port() -> SocketAddr {
    "127.0.0.1:0".parse().unwrap()
}

/// A listener that echoes every byte back and closes on EOF; closes itself after one client.
fn echo_server(lp: &mut Loop) -> (TcpListener, SocketAddr) {
    let server = lp
        .tcp_listen(any_port(), |lp, server, conn| {
            let stream = conn.expect("accept");
            server.close(lp, |_| {}).unwrap();
            stream
                .read_start(lp, |lp, stream, ev| match ev {
                    ReadEvent::Data(bytes) => {
                        stream.write(lp, bytes.to_vec(), |_, r| r.unwrap()).unwrap();
                    }
                    ReadEvent::Eof => stream.close(lp, |_| {}).unwrap(),
                    ReadEvent::Error(e) => panic!("server read: {e}"),
                })
                .unwrap();
        })
        .unwrap();
    let addr = server.local_addr(lp).unwrap();
    (server, addr)
}

/// A listener that reads and drops everything; closes on EOF or error; one client.
fn sink_server(lp: &mut Loop) -> SocketAddr {
    sink_listener(lp, 1)
}

/// A listener for `n` clients that reads and drops their bytes and closes each on EOF or
/// error; it closes itself after the `n`th.
fn sink_listener(lp: &mut Loop, n: usize) -> SocketAddr {
    let accepted = Counter::new();
    let server = lp
        .tcp_listen(any_port(), move |lp, server, conn| {
            if accepted.inc() == n {
                server.close(lp, |_| {}).unwrap();
            }
            conn.unwrap()
                .read_start(lp, |lp, stream, ev| {
                    if !matches!(ev, ReadEvent::Data(_)) {
                        stream.close(lp, |_| {}).unwrap();
                    }
                })
                .unwrap();
        })
        .unwrap();
    server.local_addr(lp).unwrap()
}

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

/// Byte `i` of the stream is `i % 251`: a misplaced or lost chunk shows.
fn pattern_chunk(start: usize, len: usize) -> Vec<u8> {
    (start..start + len).map(|i| (i % 251) as u8).collect()
}

#[test]
fn three_40_mib_writes_then_shutdown_arrive_in_order() {
    with_timeout(120, || {
        const CHUNK: usize = 40 << 20;
        let mut lp = Loop::new().unwrap();
        let trace = Trace::new();
        let received = Rc::new(Cell::new(0usize));
        let reference = pattern_chunk(0, 251 + 64 * 1024);
        let rc = received.clone();
        let t = trace.clone();
        let server = lp
            .tcp_listen(any_port(), move |lp, server, conn| {
                let stream = conn.unwrap();
                server.close(lp, |_| {}).unwrap();
                let (rc, t, reference) = (rc.clone(), t.clone(), reference.clone());
                stream
                    .read_start(lp, move |lp, stream, ev| match ev {
                        ReadEvent::Data(bytes) => {
                            let off = rc.get() % 251;
                            assert_eq!(
                                bytes,
                                &reference[off..off + bytes.len()],
                                "at {}",
                                rc.get()
                            );
                            rc.set(rc.get() + bytes.len());
                        }
                        ReadEvent::Eof => {
                            t.push("peer eof");
                            stream.close(lp, |_| {}).unwrap();
                        }
                        ReadEvent::Error(e) => panic!("{e}"),
                    })
                    .unwrap();
            })
            .unwrap();
        let addr = server.local_addr(&lp).unwrap();
        let t = trace.clone();
        lp.tcp_connect(addr, move |lp, stream, r| {
            r.unwrap();
            for i in 0..3 {
                let t = t.clone();
                stream
                    .write(lp, pattern_chunk(i * CHUNK, CHUNK), move |_, r| {
                        r.unwrap();
                        t.push(format!("write {i}"));
                    })
                    .unwrap();
            }
            stream
                .shutdown(lp, move |lp, r| {
                    r.unwrap();
                    assert_eq!(stream.write_queue_size(lp).unwrap(), 0);
                    t.push("shutdown");
                    stream.close(lp, |_| {}).unwrap();
                })
                .unwrap();
            assert!(matches!(
                stream.shutdown(lp, |_, _| panic!("second shutdown called back")),
                Err(Error::InvalidState(_))
            ));
            assert!(matches!(
                stream.write(lp, b"late", |_, _| panic!("late write called back")),
                Err(Error::InvalidState(_))
            ));
        })
        .unwrap();
        lp.run().unwrap();
        assert_eq!(received.get(), 3 * CHUNK);
        let events = trace.take();
        assert_eq!(&events[..4], ["write 0", "write 1", "write 2", "shutdown"]);
        assert!(events.contains(&"peer eof".to_string()));
        assert_clean(&lp);
    });
}

/// Counts each write callback's outcome; panics on a second call for the same write.
#[derive(Clone, Default)]
struct Outcomes {
    calls: Rc<RefCell<Vec<u8>>>,
    ok: Counter,
    canceled: Counter,
}

impl Outcomes {
    fn callback(&self, i: usize) -> impl FnOnce(&mut Loop, evloop::Result<()>) + 'static {
        let me = self.clone();
        me.calls.borrow_mut().push(0);
        move |_, r| {
            me.calls.borrow_mut()[i] += 1;
            match r {
                Ok(()) => drop(me.ok.inc()),
                Err(e) if e.is_canceled() => drop(me.canceled.inc()),
                Err(e) => panic!("write {i}: {e}"),
            }
        }
    }
}

/// A listener whose one accepted stream never reads; it is closed after 300 ms.
fn silent_server(lp: &mut Loop) -> SocketAddr {
    let server = lp
        .tcp_listen(any_port(), move |lp, server, conn| {
            let stream = conn.unwrap();
            stream.set_recv_buffer_size(lp, 4096).unwrap();
            server.close(lp, |_| {}).unwrap();
            lp.set_timeout(Duration::from_millis(300), move |lp, _| {
                stream.close(lp, |_| {}).unwrap();
            });
        })
        .unwrap();
    server.local_addr(lp).unwrap()
}

#[test]
fn queued_writes_to_a_non_reading_peer_complete_or_cancel_exactly_once() {
    with_timeout(60, || {
        let mut lp = Loop::new().unwrap();
        let addr = silent_server(&mut lp);
        let outcomes = Outcomes::default();
        let backpressure = Rc::new(Cell::new(false));
        let trace = Trace::new();
        let (o, bp, t) = (outcomes.clone(), backpressure.clone(), trace.clone());
        lp.tcp_connect(addr, move |lp, stream, r| {
            r.unwrap();
            stream.set_send_buffer_size(lp, 4096).unwrap();
            for i in 0..10_000 {
                let flowing = stream.write(lp, vec![b'x'; 1024], o.callback(i)).unwrap();
                if !flowing {
                    bp.set(true);
                }
            }
            assert!(stream.write_queue_size(lp).unwrap() > 0);
            let (o, t) = (o.clone(), t.clone());
            stream
                .close(lp, move |_| {
                    assert_eq!(o.ok.get() + o.canceled.get(), 10_000);
                    t.push("closed");
                })
                .unwrap();
        })
        .unwrap();
        lp.run().unwrap();
        assert_eq!(trace.take(), ["closed"]);
        assert!(outcomes.calls.borrow().iter().all(|&n| n == 1));
        assert!(outcomes.ok.get() > 0, "nothing was written at all");
        assert!(outcomes.canceled.get() > 0, "nothing was left to cancel");
        assert!(backpressure.get(), "write never reported backpressure");
        assert_clean(&lp);
    });
}

#[test]
fn close_runs_all_32_queued_write_callbacks_before_the_close_callback() {
    with_timeout(30, || {
        let mut lp = Loop::new().unwrap();
        let addr = silent_server(&mut lp);
        let trace = Trace::new();
        let t = trace.clone();
        lp.tcp_connect(addr, move |lp, stream, r| {
            r.unwrap();
            for i in 0..32 {
                let t = t.clone();
                stream
                    .write(lp, vec![7u8; 256 * 1024], move |lp, r| {
                        if let Err(e) = &r {
                            assert!(e.is_canceled(), "{e}");
                            assert!(stream.is_closing(lp).unwrap(), "canceled while closing");
                        }
                        let what = if r.is_ok() { "ok" } else { "canceled" };
                        t.push(format!("write {i} {what}"));
                    })
                    .unwrap();
            }
            stream.close(lp, move |_| t.push("closed")).unwrap();
        })
        .unwrap();
        lp.run().unwrap();
        let events = trace.take();
        assert_eq!(events.len(), 33);
        assert_eq!(events[32], "closed");
        for (i, e) in events[..32].iter().enumerate() {
            assert!(e.starts_with(&format!("write {i} ")), "{events:?}");
        }
        assert!(events.iter().any(|e| e.ends_with("canceled")));
        assert_clean(&lp);
    });
}

#[test]
fn drain_fires_when_a_reading_peer_empties_the_queue() {
    with_timeout(30, || {
        let mut lp = Loop::new().unwrap();
        let addr = sink_server(&mut lp);
        let drains = Counter::new();
        let d = drains.clone();
        lp.tcp_connect(addr, move |lp, stream, r| {
            r.unwrap();
            stream.set_high_water_mark(lp, 16 * 1024).unwrap();
            stream.read_start(lp, |_, _, _| {}).unwrap();
            let mut writes = 0;
            while stream
                .write(lp, vec![1u8; 8 * 1024 * 1024], |_, r| r.unwrap())
                .unwrap()
            {
                writes += 1;
                assert!(writes < 100, "write never reported backpressure");
            }
            stream
                .on_drain(lp, move |lp, stream| {
                    d.inc();
                    assert_eq!(stream.write_queue_size(lp).unwrap(), 0);
                    stream.close(lp, |_| {}).unwrap();
                })
                .unwrap();
        })
        .unwrap();
        lp.run().unwrap();
        assert_eq!(drains.get(), 1);
        assert_clean(&lp);
    });
}

#[test]
fn connect_refused_is_reported_through_the_callback_and_the_handle_stays_open() {
    with_timeout(10, || {
        let port = std::net::TcpListener::bind(any_port())
            .unwrap()
            .local_addr()
            .unwrap();
        let mut lp = Loop::new().unwrap();
        let calls = Counter::new();
        let c = calls.clone();
        let stream = lp
            .tcp_connect(port, move |lp, stream, r| {
                c.inc();
                let e = r.unwrap_err();
                assert_eq!(e.kind(), ErrorKind::ConnectionRefused, "{e}");
                assert!(!stream.is_closing(lp).unwrap());
                lp.set_immediate(move |lp| stream.close(lp, |_| {}).unwrap());
            })
            .unwrap();
        assert_eq!(calls.get(), 0);
        lp.run().unwrap();
        assert_eq!(calls.get(), 1);
        assert!(stream.is_active(&lp).is_err());
        assert_clean(&lp);
    });
}

#[test]
fn half_close_peer_sees_eof_and_can_still_write() {
    with_timeout(10, || {
        let mut lp = Loop::new().unwrap();
        let trace = Trace::new();
        let t = trace.clone();
        let server = lp
            .tcp_listen(any_port(), move |lp, server, conn| {
                let stream = conn.unwrap();
                server.close(lp, |_| {}).unwrap();
                let t = t.clone();
                stream
                    .read_start(lp, move |lp, stream, ev| match ev {
                        ReadEvent::Data(b) => {
                            t.push(format!("server got {}", String::from_utf8_lossy(b)))
                        }
                        ReadEvent::Eof => {
                            t.push("server eof");
                            let t = t.clone();
                            stream
                                .write(lp, b"bye", move |lp, r| {
                                    r.unwrap();
                                    t.push("server wrote after eof");
                                    stream.close(lp, |_| {}).unwrap();
                                })
                                .unwrap();
                        }
                        ReadEvent::Error(e) => panic!("{e}"),
                    })
                    .unwrap();
            })
            .unwrap();
        let addr = server.local_addr(&lp).unwrap();
        let t = trace.clone();
        lp.tcp_connect(addr, move |lp, stream, r| {
            r.unwrap();
            stream.write(lp, b"hello", |_, r| r.unwrap()).unwrap();
            stream.shutdown(lp, |_, r| r.unwrap()).unwrap();
            stream
                .read_start(lp, move |lp, stream, ev| match ev {
                    ReadEvent::Data(b) => {
                        t.push(format!("client got {}", String::from_utf8_lossy(b)))
                    }
                    ReadEvent::Eof => {
                        t.push("client eof");
                        stream.close(lp, |_| {}).unwrap();
                    }
                    ReadEvent::Error(e) => panic!("{e}"),
                })
                .unwrap();
        })
        .unwrap();
        lp.run().unwrap();
        assert_eq!(
            trace.take(),
            [
                "server got hello",
                "server eof",
                "server wrote after eof",
                "client got bye",
                "client eof"
            ]
        );
        assert_clean(&lp);
    });
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

#[test]
fn writes_made_while_connecting_go_out_after_the_connect_callback() {
    with_timeout(10, || {
        let mut lp = Loop::new().unwrap();
        let (_server, addr) = echo_server(&mut lp);
        let trace = Trace::new();
        let t = trace.clone();
        let stream = lp
            .tcp_connect(addr, move |_, _, r| {
                r.unwrap();
                t.push("connected");
            })
            .unwrap();
        let t = trace.clone();
        stream
            .write_vectored(&mut lp, [&b"early "[..], b"bird"], move |_, r| {
                r.unwrap();
                t.push("written");
            })
            .unwrap();
        assert!(trace.get().is_empty(), "a callback ran synchronously");
        let t = trace.clone();
        let mut echoed = Vec::new();
        stream
            .read_start(&mut lp, move |lp, stream, ev| {
                if let ReadEvent::Data(b) = ev {
                    echoed.extend_from_slice(b);
                    if echoed == b"early bird" {
                        t.push("echoed");
                        stream.close(lp, |_| {}).unwrap();
                    }
                }
            })
            .unwrap();
        lp.run().unwrap();
        assert_eq!(trace.take(), ["connected", "written", "echoed"]);
        assert_clean(&lp);
    });
}

#[test]
fn socket_options_and_addresses() {
    with_timeout(10, || {
        let mut lp = Loop::new().unwrap();
        let accepted = Rc::new(Cell::new(None));
        let a = accepted.clone();
        let server = lp
            .tcp_listen(any_port(), move |lp, server, conn| {
                a.set(Some(conn.unwrap()));
                server.close(lp, |_| {}).unwrap();
            })
            .unwrap();
        let addr = server.local_addr(&lp).unwrap();
        let a = accepted;
        lp.tcp_connect(addr, move |lp, stream, r| {
            r.unwrap();
            assert_eq!(stream.peer_addr(lp).unwrap(), addr);
            stream.set_nodelay(lp, true).unwrap();
            stream
                .set_keepalive(lp, Some(Duration::from_secs(30)))
                .unwrap();
            stream.set_keepalive(lp, None).unwrap();
            let local = stream.local_addr(lp).unwrap();
            lp.set_timeout(Duration::from_millis(20), move |lp, _| {
                let peer = a.get().expect("accepted by now");
                assert_eq!(peer.peer_addr(lp).unwrap(), local);
                assert_eq!(peer.local_addr(lp).unwrap(), addr);
                peer.close(lp, |_| {}).unwrap();
                stream.close(lp, |_| {}).unwrap();
                assert!(matches!(stream.local_addr(lp), Err(Error::Closing)));
            });
        })
        .unwrap();
        lp.run().unwrap();
        assert_clean(&lp);
    });
}

/// A [`sink_listener`] for `n` clients and `n` clients connecting to it; the list fills as
/// their connects complete.
fn sink_with_clients(lp: &mut Loop, n: usize) -> Rc<RefCell<Vec<TcpStream>>> {
    let addr = sink_listener(lp, n);
    let streams: Rc<RefCell<Vec<TcpStream>>> = Rc::default();
    for _ in 0..n {
        let s = streams.clone();
        lp.tcp_connect(addr, move |_, stream, r| {
            r.unwrap();
            s.borrow_mut().push(stream);
        })
        .unwrap();
    }
    streams
}

#[test]
fn writes_that_finished_at_once_call_back_before_the_close_callback_others_keep_their_turn() {
    with_timeout(10, || {
        let mut lp = Loop::new().unwrap();
        let streams = sink_with_clients(&mut lp, 2);
        let trace = Trace::new();
        let t = trace.clone();
        lp.set_timeout(Duration::from_millis(50), move |lp, _| {
            let (a, b) = {
                let s = streams.borrow();
                assert_eq!(s.len(), 2, "both connected");
                (s[0], s[1])
            };
            let t = t.clone();
            // In the check phase, after this iteration's pending phase: every write below
            // finishes at once and waits on the pending queue when `a` is closed.
            lp.set_immediate(move |lp| {
                let tb = t.clone();
                b.write(lp, b"x", move |lp, r| {
                    r.unwrap();
                    tb.push("b x ok");
                    b.close(lp, |_| {}).unwrap();
                })
                .unwrap();
                for w in ["1", "2", "3"] {
                    let t = t.clone();
                    a.write(lp, w, move |lp, r| {
                        r.unwrap();
                        assert!(a.is_closing(lp).unwrap());
                        t.push(format!("a {w} ok"));
                    })
                    .unwrap();
                }
                let t = t.clone();
                a.close(lp, move |_| t.push("a closed")).unwrap();
            });
        });
        lp.run().unwrap();
        assert_eq!(
            trace.take(),
            ["a 1 ok", "a 2 ok", "a 3 ok", "a closed", "b x ok"]
        );
        assert_clean(&lp);
    });
}

#[test]
fn try_write_sends_at_once_without_a_callback_and_never_jumps_the_queue() {
    with_timeout(30, || {
        let mut lp = Loop::new().unwrap();
        // A peer that reads nothing for 200 ms, then everything until EOF.
        let received: Rc<RefCell<Vec<u8>>> = Rc::default();
        let got = received.clone();
        let server = lp
            .tcp_listen(any_port(), move |lp, server, conn| {
                server.close(lp, |_| {}).unwrap();
                let stream = conn.unwrap();
                let got = got.clone();
                lp.set_timeout(Duration::from_millis(200), move |lp, _| {
                    let got = got.clone();
                    stream
                        .read_start(lp, move |lp, stream, ev| match ev {
                            ReadEvent::Data(bytes) => got.borrow_mut().extend_from_slice(bytes),
                            _ => stream.close(lp, |_| {}).unwrap(),
                        })
                        .unwrap();
                });
            })
            .unwrap();
        let addr = server.local_addr(&lp).unwrap();
        let big: Vec<u8> = (0..4 << 20).map(|i: usize| (i % 251) as u8).collect();
        let expected: Vec<u8> = b"abcdef"
            .iter()
            .copied()
            .chain(big.iter().copied())
            .collect();
        let trace = Trace::new();
        let t = trace.clone();
        let stream = lp
            .tcp_connect(addr, move |lp, stream, r| {
                r.unwrap();
                let sent = stream
                    .try_write(lp, &[IoSlice::new(b"abc"), IoSlice::new(b"def")])
                    .unwrap();
                assert_eq!(sent, 6);
                stream.set_send_buffer_size(lp, 4096).unwrap();
                let t2 = t.clone();
                stream
                    .write(lp, big.clone(), move |_, r| {
                        r.unwrap();
                        t2.push("big written");
                    })
                    .unwrap();
                assert!(stream.write_queue_size(lp).unwrap() > 0);
                // Earlier bytes wait in the queue: sending now would reorder the stream.
                let err = stream.try_write(lp, &[IoSlice::new(b"X")]).unwrap_err();
                assert!(
                    matches!(&err, Error::Io(e) if e.kind() == ErrorKind::WouldBlock),
                    "{err}"
                );
                let t3 = t;
                stream
                    .shutdown(lp, move |lp, r| {
                        r.unwrap();
                        t3.push("shut down");
                        let err = stream.try_write(lp, &[IoSlice::new(b"Y")]).unwrap_err();
                        assert!(matches!(err, Error::InvalidState(_)), "{err}");
                        stream.close(lp, |_| {}).unwrap();
                    })
                    .unwrap();
            })
            .unwrap();
        // Still connecting: nothing can be sent yet.
        let err = stream
            .try_write(&mut lp, &[IoSlice::new(b"Z")])
            .unwrap_err();
        assert!(
            matches!(&err, Error::Io(e) if e.kind() == ErrorKind::WouldBlock),
            "{err}"
        );
        lp.run().unwrap();
        assert_eq!(trace.take(), ["big written", "shut down"]);
        assert!(*received.borrow() == expected, "bytes differ or reordered");
        let err = stream
            .try_write(&mut lp, &[IoSlice::new(b"W")])
            .unwrap_err();
        assert!(matches!(err, Error::StaleHandle), "{err}");
        assert_clean(&lp);
    });
}

#[test]
fn closing_many_streams_at_once_runs_each_ones_finished_writes_before_its_close_callback() {
    with_timeout(30, || {
        const N: usize = 200;
        let mut lp = Loop::new().unwrap();
        let streams = sink_with_clients(&mut lp, N);
        let trace = Trace::new();
        let t = trace.clone();
        let all = streams;
        // Waits for every connect callback (200 connects can take longer than a fixed delay
        // on a loaded machine or under wine); the 30 s timeout bounds it.
        lp.set_interval(Duration::from_millis(10), move |lp, timer| {
            let streams = all.borrow().clone();
            if streams.len() < N {
                return;
            }
            timer.close(lp, |_| {}).unwrap();
            assert_eq!(streams.len(), N, "all connected");
            let t = t.clone();
            // Check phase: every write below finishes at once and waits on the pending queue,
            // interleaved across streams, when all of them are closed together.
            lp.set_immediate(move |lp| {
                for round in 0..2 {
                    for (i, s) in streams.iter().enumerate() {
                        let t = t.clone();
                        s.write(lp, b"x", move |_, r| {
                            r.unwrap();
                            t.push(format!("{i} write {round}"));
                        })
                        .unwrap();
                    }
                }
                for (i, s) in streams.iter().enumerate() {
                    let t = t.clone();
                    s.close(lp, move |_| t.push(format!("{i} closed"))).unwrap();
                }
            });
        });
        lp.run().unwrap();
        let events = trace.take();
        assert_eq!(events.len(), 3 * N);
        for i in 0..N {
            let mine: Vec<&String> = events
                .iter()
                .filter(|e| e.split(' ').next() == Some(&i.to_string()))
                .collect();
            assert_eq!(
                mine,
                [
                    &format!("{i} write 0"),
                    &format!("{i} write 1"),
                    &format!("{i} closed")
                ],
                "stream {i}"
            );
        }
        assert_clean(&lp);
    });
}

#[test]
fn a_panicking_write_callback_while_closing_loses_no_other_streams_completions() {
    with_timeout(30, || {
        let mut lp = Loop::new().unwrap();
        let streams = sink_with_clients(&mut lp, 2);
        let trace = Trace::new();
        let t = trace.clone();
        lp.set_timeout(Duration::from_millis(100), move |lp, _| {
            let (a, b) = {
                let s = streams.borrow();
                (s[0], s[1])
            };
            let t = t.clone();
            lp.set_immediate(move |lp| {
                let ta = t.clone();
                a.write(lp, b"a", move |_, _| {
                    ta.push("a write");
                    panic!("boom in a's write callback");
                })
                .unwrap();
                let tb = t.clone();
                b.write(lp, b"b", move |_, r| {
                    r.unwrap();
                    tb.push("b write");
                })
                .unwrap();
                let ta = t.clone();
                a.close(lp, move |_| ta.push("a closed")).unwrap();
                let tb = t.clone();
                b.close(lp, move |_| tb.push("b closed")).unwrap();
            });
        });
        let first = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| lp.run()));
        assert!(
            first.is_err(),
            "the write callback's panic reaches run's caller"
        );
        assert_eq!(trace.take(), ["a write", "a closed"]);
        lp.run().unwrap();
        assert_eq!(trace.take(), ["b write", "b closed"]);
        assert_clean(&lp);
    });
}
