//! Local streams, one API on every platform: `unix_listen` / `unix_connect` are Unix-domain
//! sockets on Unix and named pipes (`\\.\pipe\NAME`) on Windows. Every test here runs on both
//! (under wine for Windows); where the two differ (a named pipe has no half-close), the test
//! says what each does.
mod util;

use std::cell::{Cell, RefCell};
use std::io::ErrorKind;
use std::path::PathBuf;
use std::rc::Rc;
use std::time::{Duration, Instant};

use evloop::net::{ReadEvent, UnixListener, UnixStream};
use evloop::{Error, Handle, HandleKind, Loop};
use util::{Counter, Trace, assert_clean, with_timeout};

/// A fresh local endpoint: a socket file in the temp dir, or a pipe name.
fn endpoint(tag: &str) -> PathBuf {
    #[cfg(unix)]
    {
        let path =
            std::env::temp_dir().join(format!("evloop-local-{}-{tag}.sock", std::process::id()));
        let _ = std::fs::remove_file(&path);
        path
    }
    #[cfg(windows)]
    {
        PathBuf::from(format!(
            r"\\.\pipe\evloop-local-{}-{tag}",
            std::process::id()
        ))
    }
}

/// Removes the socket file (Unix; a pipe name leaves nothing behind).
fn cleanup(path: &PathBuf) {
    #[cfg(unix)]
    let _ = std::fs::remove_file(path);
    #[cfg(windows)]
    let _ = path;
}

/// Echoes every byte back; closes on EOF.
fn echo(lp: &mut Loop, stream: UnixStream) {
    stream
        .read_start(lp, |lp, stream, ev| match ev {
            ReadEvent::Data(bytes) => {
                stream.write(lp, bytes.to_vec(), |_, r| r.unwrap()).unwrap();
            }
            ReadEvent::Eof => stream.close(lp, |_| {}).unwrap(),
            ReadEvent::Error(e) => panic!("echo read: {e}"),
        })
        .unwrap();
}

/// Connects and sends `msg` at once (the write waits in the queue until the connect
/// completes, as on any stream), reads until `msg` came back, then closes and records it in
/// `log`.
fn echo_client(lp: &mut Loop, path: &PathBuf, msg: Vec<u8>, log: Trace) {
    let returned = Rc::new(Cell::new(false));
    let r = Rc::clone(&returned);
    let want = msg.clone();
    let wrote = Rc::new(Cell::new(false));
    let w = Rc::clone(&wrote);
    let stream = lp
        .unix_connect(path, move |lp, stream, result| {
            assert!(r.get(), "connect callback ran inside unix_connect");
            assert!(!w.get(), "write completed before the connect callback");
            result.unwrap();
            let mut got = Vec::new();
            stream
                .read_start(lp, move |lp, stream, ev| match ev {
                    ReadEvent::Data(bytes) => {
                        got.extend_from_slice(bytes);
                        assert!(want.starts_with(&got), "echo out of order");
                        if got.len() == want.len() {
                            log.push(String::from_utf8_lossy(&got).into_owned());
                            stream.close(lp, |_| {}).unwrap();
                        }
                    }
                    other => panic!("client read: {other:?}"),
                })
                .unwrap();
        })
        .unwrap();
    returned.set(true);
    stream
        .write(lp, msg, move |_, r| {
            r.unwrap();
            wrote.set(true);
        })
        .unwrap();
}

#[test]
fn clients_one_after_the_other_each_get_their_own_stream() {
    with_timeout(30, || {
        let path = endpoint("serial");
        let mut lp = Loop::new().unwrap();
        let accepted = Counter::new();
        let a = accepted.clone();
        let server = lp
            .unix_listen(&path, move |lp, _, conn| {
                a.inc();
                echo(lp, conn.unwrap());
            })
            .unwrap();
        let log = Trace::new();
        // Client n+1 connects only after client n got its echo and closed.
        fn next(lp: &mut Loop, path: PathBuf, n: usize, log: Trace, server: UnixListener) {
            if n == 5 {
                server.close(lp, |_| {}).unwrap();
                return;
            }
            let msg = format!("client {n}").into_bytes();
            let l = log.clone();
            let p = path.clone();
            // Chain on the log growing: poll it from an immediate after each close.
            echo_client(lp, &path, msg, log);
            wait_for(lp, move |lp| {
                if l.len() > n {
                    next(lp, p.clone(), n + 1, l.clone(), server);
                    true
                } else {
                    false
                }
            });
        }
        next(&mut lp, path.clone(), 0, log.clone(), server);
        lp.run().unwrap();
        assert_eq!(
            log.get(),
            (0..5).map(|n| format!("client {n}")).collect::<Vec<_>>()
        );
        assert_eq!(accepted.get(), 5);
        assert_clean(&lp);
        cleanup(&path);
    });
}

/// Reads `stream` into `got` until EOF, then closes it; a read error fails the test, naming
/// `who`.
fn read_until_eof(
    lp: &mut Loop,
    stream: UnixStream,
    got: &Rc<RefCell<Vec<u8>>>,
    who: &'static str,
) {
    let g = Rc::clone(got);
    stream
        .read_start(lp, move |lp, stream, ev| match ev {
            ReadEvent::Data(b) => g.borrow_mut().extend_from_slice(b),
            ReadEvent::Eof => stream.close(lp, |_| {}).unwrap(),
            ReadEvent::Error(e) => panic!("{who} read: {e}"),
        })
        .unwrap();
}

/// A server on `path` for one client: it stops listening, then collects what the client
/// sends until EOF.
fn collecting_server(lp: &mut Loop, path: &PathBuf) -> Rc<RefCell<Vec<u8>>> {
    let got = Rc::new(RefCell::new(Vec::new()));
    let g = Rc::clone(&got);
    lp.unix_listen(path, move |lp, server, conn| {
        server.close(lp, |_| {}).unwrap();
        read_until_eof(lp, conn.unwrap(), &g, "server");
    })
    .unwrap();
    got
}

/// Runs `f` every 1 ms until it returns `true`.
fn wait_for(lp: &mut Loop, mut f: impl FnMut(&mut Loop) -> bool + 'static) {
    lp.set_interval(Duration::from_millis(1), move |lp, timer| {
        if f(lp) {
            timer.clear(lp);
        }
    });
}

#[test]
fn concurrent_clients_are_accepted_on_instances_of_their_own() {
    with_timeout(30, || {
        const CLIENTS: usize = 8;
        let path = endpoint("concurrent");
        let mut lp = Loop::new().unwrap();
        let accepted = Counter::new();
        let a = accepted.clone();
        let open = Rc::new(RefCell::new(Vec::new()));
        let o = Rc::clone(&open);
        let server = lp
            .unix_listen(&path, move |lp, _, conn| {
                a.inc();
                let stream = conn.unwrap();
                o.borrow_mut().push(stream);
                echo(lp, stream);
            })
            .unwrap();
        let log = Trace::new();
        // All connect in the same callback, before the server accepts any: on Windows the
        // second finds every instance busy and waits for the next.
        for n in 0..CLIENTS {
            echo_client(
                &mut lp,
                &path,
                format!("concurrent {n}").into_bytes(),
                log.clone(),
            );
        }
        // On Windows the first client took the one waiting instance; the others wait for
        // theirs on retry timers (one each).
        #[cfg(windows)]
        {
            let timers = lp
                .active_handles()
                .iter()
                .filter(|h| h.kind == HandleKind::Timer)
                .count();
            assert_eq!(timers, CLIENTS - 1, "clients waiting for a free instance");
        }
        let l = log.clone();
        wait_for(&mut lp, move |lp| {
            if l.len() == CLIENTS {
                server.close(lp, |_| {}).unwrap();
                true
            } else {
                false
            }
        });
        lp.run().unwrap();
        let mut got = log.get();
        got.sort();
        let mut want: Vec<_> = (0..CLIENTS).map(|n| format!("concurrent {n}")).collect();
        want.sort();
        assert_eq!(got, want);
        assert_eq!(accepted.get(), CLIENTS);
        // Several server streams were open at once: distinct ids, all closed at the end.
        let ids = open.borrow();
        for (i, a) in ids.iter().enumerate() {
            assert!(ids[i + 1..].iter().all(|b| b != a));
        }
        assert_clean(&lp);
        cleanup(&path);
    });
}

/// The byte at offset `i` of a transfer tagged `tag`: shifts with the offset's upper bits
/// too, so a lost, repeated or reordered 4 KiB block shows.
fn pattern(tag: u8, i: usize) -> u8 {
    (i as u8) ^ ((i >> 12) as u8).wrapping_mul(31) ^ tag
}

/// One end of a two-way bulk transfer: it closes once it has read everything and its own
/// shutdown has completed. (On Unix the peer's FIN comes first; a named pipe has no
/// half-close, so waiting for the peer's EOF before closing would wait for ever: each end
/// would wait for the other's close.)
#[derive(Default)]
struct Side {
    read: Cell<Option<usize>>,
    shut: Cell<bool>,
    closed: Cell<bool>,
    /// Write callbacks that ran `Ok`, in order.
    written: Cell<usize>,
}

impl Side {
    fn maybe_close(&self, lp: &mut Loop, stream: UnixStream) {
        if self.read.get().is_some() && self.shut.get() && !self.closed.get() {
            self.closed.set(true);
            stream.close(lp, |_| {}).unwrap();
        }
    }
}

/// Writes `total` bytes of `pattern(tag, ..)` in 64 KiB writes, pausing on backpressure
/// until `on_drain`, then shuts the stream down (its callback checks that every write
/// callback ran first, in order).
fn send_pattern(lp: &mut Loop, stream: UnixStream, tag: u8, total: usize, side: Rc<Side>) {
    const CHUNK: usize = 64 * 1024;
    let sent = Rc::new(Cell::new(0usize));
    fn pump(
        lp: &mut Loop,
        stream: UnixStream,
        tag: u8,
        total: usize,
        sent: &Rc<Cell<usize>>,
        side: &Rc<Side>,
    ) {
        while sent.get() < total {
            let at = sent.get();
            let n = CHUNK.min(total - at);
            let chunk: Vec<u8> = (at..at + n).map(|i| pattern(tag, i)).collect();
            sent.set(at + n);
            let index = at / CHUNK;
            let s = Rc::clone(side);
            let below = stream
                .write(lp, chunk, move |_, r| {
                    r.unwrap();
                    assert_eq!(s.written.get(), index, "write callbacks out of order");
                    s.written.set(index + 1);
                })
                .unwrap();
            if !below {
                return; // on_drain resumes
            }
        }
        let s = Rc::clone(side);
        let chunks = total.div_ceil(CHUNK);
        stream
            .shutdown(lp, move |lp, r| {
                r.unwrap();
                assert_eq!(
                    s.written.get(),
                    chunks,
                    "shutdown before the last write callback"
                );
                s.shut.set(true);
                s.maybe_close(lp, stream);
            })
            .unwrap();
    }
    let (s2, side2) = (Rc::clone(&sent), Rc::clone(&side));
    stream
        .on_drain(lp, move |lp, stream| {
            pump(lp, stream, tag, total, &s2, &side2)
        })
        .unwrap();
    pump(lp, stream, tag, total, &sent, &side);
}

/// Reads, checking every byte against `pattern(tag, ..)`, until `total` bytes came (or EOF,
/// which must come after them).
fn check_pattern(lp: &mut Loop, stream: UnixStream, tag: u8, total: usize, side: Rc<Side>) {
    let mut at = 0usize;
    stream
        .read_start(lp, move |lp, stream, ev| match ev {
            ReadEvent::Data(bytes) => {
                for (k, &b) in bytes.iter().enumerate() {
                    assert_eq!(b, pattern(tag, at + k), "byte {} of stream {tag}", at + k);
                }
                at += bytes.len();
                assert!(at <= total, "read {at} of {total} bytes");
                if at == total {
                    side.read.set(Some(at));
                    side.maybe_close(lp, stream);
                }
            }
            ReadEvent::Eof => assert_eq!(at, total, "EOF before the last byte"),
            ReadEvent::Error(e) => panic!("read: {e}"),
        })
        .unwrap();
}

#[test]
fn sixteen_mib_each_way_at_once_arrive_intact() {
    with_timeout(120, || {
        const TOTAL: usize = 16 << 20;
        let path = endpoint("bulk");
        let mut lp = Loop::new().unwrap();
        let server = Rc::new(Side::default());
        let client = Rc::new(Side::default());
        let s = Rc::clone(&server);
        lp.unix_listen(&path, move |lp, listener, conn| {
            listener.close(lp, |_| {}).unwrap();
            let stream = conn.unwrap();
            check_pattern(lp, stream, 2, TOTAL, Rc::clone(&s));
            send_pattern(lp, stream, 1, TOTAL, Rc::clone(&s));
        })
        .unwrap();
        let c = Rc::clone(&client);
        lp.unix_connect(&path, move |lp, stream, r| {
            r.unwrap();
            check_pattern(lp, stream, 1, TOTAL, Rc::clone(&c));
            send_pattern(lp, stream, 2, TOTAL, Rc::clone(&c));
        })
        .unwrap();
        lp.run().unwrap();
        let chunks = TOTAL / (64 * 1024);
        for (who, side) in [("server", &server), ("client", &client)] {
            assert_eq!(side.read.get(), Some(TOTAL), "bytes the {who} read");
            assert_eq!(side.written.get(), chunks, "{who}'s write callbacks");
            assert!(
                side.shut.get() && side.closed.get(),
                "{who} shut down and closed"
            );
        }
        assert_clean(&lp);
        cleanup(&path);
    });
}

#[test]
fn the_peer_closing_is_eof_after_its_last_bytes() {
    with_timeout(30, || {
        let path = endpoint("eof");
        let mut lp = Loop::new().unwrap();
        let trace = Trace::new();
        let t = trace.clone();
        lp.unix_listen(&path, move |lp, server, conn| {
            server.close(lp, |_| {}).unwrap();
            let t = t.clone();
            let mut got = Vec::new();
            conn.unwrap()
                .read_start(lp, move |lp, stream, ev| match ev {
                    ReadEvent::Data(b) => got.extend_from_slice(b),
                    ReadEvent::Eof => {
                        t.push(format!(
                            "server eof after {:?}",
                            String::from_utf8_lossy(&got)
                        ));
                        // Reading again reports EOF again.
                        let t2 = t.clone();
                        stream
                            .read_start(lp, move |lp, stream, ev| {
                                assert!(matches!(ev, ReadEvent::Eof), "{ev:?}");
                                t2.push("server eof again");
                                stream.close(lp, |_| {}).unwrap();
                            })
                            .unwrap();
                    }
                    ReadEvent::Error(e) => panic!("server read: {e}"),
                })
                .unwrap();
        })
        .unwrap();
        let t = trace.clone();
        lp.unix_connect(&path, move |lp, stream, r| {
            r.unwrap();

            stream
                .write(lp, b"last words", move |lp, r| {
                    r.unwrap();
                    t.push("client wrote");
                    let t = t.clone();
                    stream.close(lp, move |_| t.push("client closed")).unwrap();
                })
                .unwrap();
        })
        .unwrap();
        lp.run().unwrap();
        assert_eq!(
            trace.get(),
            [
                "client wrote",
                "client closed",
                "server eof after \"last words\"",
                "server eof again"
            ]
        );
        assert_clean(&lp);
        cleanup(&path);
    });
}

#[test]
fn backpressure_holds_writes_in_order_until_the_peer_reads() {
    with_timeout(60, || {
        const CHUNK: usize = 64 * 1024;
        const WRITES: usize = 64; // 4 MiB: far more than any pipe or socket buffer here
        let path = endpoint("backpressure");
        let mut lp = Loop::new().unwrap();
        let server_stream = Rc::new(Cell::new(None));
        let s = Rc::clone(&server_stream);
        lp.unix_listen(&path, move |lp, server, conn| {
            server.close(lp, |_| {}).unwrap();
            s.set(Some(conn.unwrap())); // not reading yet
        })
        .unwrap();
        let trace = Trace::new();
        let completions = Rc::new(RefCell::new(Vec::new()));
        let first_false = Rc::new(Cell::new(None));
        let (t, c, ff, ss) = (
            trace.clone(),
            Rc::clone(&completions),
            Rc::clone(&first_false),
            Rc::clone(&server_stream),
        );
        lp.unix_connect(&path, move |lp, stream, r| {
            r.unwrap();
            let t2 = t.clone();
            let c2 = Rc::clone(&c);
            stream
                .on_drain(lp, move |lp, stream| {
                    t2.push(format!("drain after {} completions", c2.borrow().len()));
                    assert_eq!(stream.write_queue_size(lp).unwrap(), 0);
                    stream.close(lp, |_| {}).unwrap();
                })
                .unwrap();
            for i in 0..WRITES {
                let c = Rc::clone(&c);
                let below = stream
                    .write(lp, vec![i as u8; CHUNK], move |_, r| {
                        r.unwrap();
                        c.borrow_mut().push(i);
                    })
                    .unwrap();
                if !below && ff.get().is_none() {
                    ff.set(Some(i));
                }
            }
            assert!(
                stream.write_queue_size(lp).unwrap() > 0,
                "everything went out at once"
            );
            // Only now the server starts reading: the queue drains in order.
            let server = ss.get().expect("accepted before the connect callback ran");
            let mut got = 0usize;
            let t3 = t;
            server
                .read_start(lp, move |lp, server, ev| match ev {
                    ReadEvent::Data(b) => {
                        for (k, &byte) in b.iter().enumerate() {
                            assert_eq!(byte as usize, (got + k) / CHUNK, "byte {}", got + k);
                        }
                        got += b.len();
                    }
                    ReadEvent::Eof => {
                        t3.push(format!("server read {got}"));
                        server.close(lp, |_| {}).unwrap();
                    }
                    ReadEvent::Error(e) => panic!("server read: {e}"),
                })
                .unwrap();
        })
        .unwrap();
        lp.run().unwrap();
        assert_eq!(*completions.borrow(), (0..WRITES).collect::<Vec<_>>());
        let ff = first_false
            .get()
            .expect("write never reported backpressure");
        assert!(
            ff < WRITES - 1,
            "backpressure only at the last write ({ff})"
        );
        assert_eq!(
            trace.get(),
            [
                format!("drain after {WRITES} completions"),
                format!("server read {}", CHUNK * WRITES)
            ]
        );
        assert_clean(&lp);
        cleanup(&path);
    });
}

#[test]
fn connecting_to_a_missing_name_fails_naming_it() {
    with_timeout(30, || {
        let path = endpoint("missing");
        let mut lp = Loop::new().unwrap();
        let called = Counter::new();
        let c = called.clone();
        let shown = path.display().to_string();
        let stream = lp
            .unix_connect(&path, move |lp, stream, r| {
                c.inc();
                let err = r.expect_err("nothing listens there");
                let net = err.as_net().expect("a named error");
                assert_eq!(net.op(), "connect");
                assert_eq!(net.addr(), shown);
                assert_eq!(net.io_error().kind(), ErrorKind::NotFound, "{err}");
                assert!(err.to_string().contains(&shown), "{err}");
                // The stream stays open until closed. A write fails: on Unix through its
                // callback, with the socket's error; a named pipe that never opened has no
                // handle to write to, so the write is refused at once.
                #[cfg(unix)]
                stream
                    .write(lp, b"x", |_, r| assert!(r.is_err(), "{r:?}"))
                    .unwrap();
                #[cfg(windows)]
                {
                    let w = stream.write(lp, b"x", |_, _| panic!("write callback ran"));
                    assert!(matches!(w, Err(Error::InvalidState(_))), "{w:?}");
                }
                stream.close(lp, |_| {}).unwrap();
            })
            .unwrap();
        assert_eq!(called.get(), 0, "connect callback ran inside unix_connect");
        assert_eq!(lp.active_handles().len(), 1);
        assert_eq!(lp.active_handles()[0].kind, HandleKind::UnixStream);
        let _ = stream;
        lp.run().unwrap();
        assert_eq!(called.get(), 1);
        assert_clean(&lp);
    });
}

#[test]
#[cfg_attr(
    windows,
    ignore = "wine 8.0 ignores FILE_FLAG_FIRST_PIPE_INSTANCE: a second server gets an instance of a pipe name that has one (Windows refuses it with ERROR_ACCESS_DENIED)"
)]
fn listening_twice_on_one_name_fails_naming_it() {
    with_timeout(30, || {
        let path = endpoint("twice");
        let mut lp = Loop::new().unwrap();
        let first = lp.unix_listen(&path, |_, _, _| {}).unwrap();
        let err = lp
            .unix_listen(&path, |_, _, _| {})
            .expect_err("the name is taken");
        let net = err.as_net().expect("a named error");
        assert_eq!(net.op(), "listen");
        assert_eq!(net.addr(), path.display().to_string());
        #[cfg(unix)]
        assert_eq!(net.io_error().kind(), ErrorKind::AddrInUse, "{err}");
        #[cfg(windows)]
        assert_eq!(net.io_error().kind(), ErrorKind::PermissionDenied, "{err}");
        first.close(&mut lp, |_| {}).unwrap();
        lp.run().unwrap();
        assert_clean(&lp);
        cleanup(&path);
    });
}

#[test]
fn closing_with_queued_writes_cancels_them_in_order() {
    with_timeout(30, || {
        const CHUNK: usize = 256 * 1024;
        let path = endpoint("cancel");
        let mut lp = Loop::new().unwrap();
        let server_stream = Rc::new(Cell::new(None));
        let s = Rc::clone(&server_stream);
        lp.unix_listen(&path, move |lp, server, conn| {
            server.close(lp, |_| {}).unwrap();
            s.set(Some(conn.unwrap())); // never reads
        })
        .unwrap();
        let trace = Trace::new();
        let (t, ss) = (trace.clone(), Rc::clone(&server_stream));
        lp.unix_connect(&path, move |lp, stream, r| {
            r.unwrap();
            for i in 0..16 {
                let t = t.clone();
                stream
                    .write(lp, vec![0u8; CHUNK], move |_, r| match r {
                        Ok(()) => t.push(format!("{i} ok")),
                        Err(Error::Canceled) => t.push(format!("{i} canceled")),
                        Err(e) => panic!("write {i}: {e}"),
                    })
                    .unwrap();
            }
            assert!(stream.write_queue_size(lp).unwrap() > 0);
            let t = t.clone();
            stream.close(lp, move |_| t.push("closed")).unwrap();
            let server = ss.get().expect("accepted before the connect callback ran");
            server.close(lp, |_| {}).unwrap();
        })
        .unwrap();
        lp.run().unwrap();
        let got = trace.get();
        assert_eq!(got.len(), 17, "{got:?}");
        assert_eq!(got.last().map(String::as_str), Some("closed"));
        // Some writes may have gone out; every later one is canceled, in order.
        let first_canceled = got
            .iter()
            .position(|e| e.ends_with("canceled"))
            .expect("a canceled write");
        assert!(first_canceled < 16);
        for (i, e) in got[..16].iter().enumerate() {
            let want = if i < first_canceled { "ok" } else { "canceled" };
            assert_eq!(*e, format!("{i} {want}"), "{got:?}");
        }
        assert_clean(&lp);
        cleanup(&path);
    });
}

#[test]
fn shutdown_completes_after_the_writes_and_the_peer_reads_everything() {
    with_timeout(30, || {
        let path = endpoint("shutdown");
        let mut lp = Loop::new().unwrap();
        let got = collecting_server(&mut lp, &path);
        let trace = Trace::new();
        let t = trace.clone();
        lp.unix_connect(&path, move |lp, stream, r| {
            r.unwrap();
            for i in 0..3 {
                let t = t.clone();
                stream
                    .write(lp, format!("part {i};"), move |_, r| {
                        r.unwrap();
                        t.push(format!("write {i}"));
                    })
                    .unwrap();
            }

            stream
                .shutdown(lp, move |lp, r| {
                    r.unwrap();
                    t.push("shutdown");
                    // Writing after shutdown is refused.
                    let again = stream.write(lp, b"late", |_, _| panic!("late write ran"));
                    assert!(matches!(again, Err(Error::InvalidState(_))), "{again:?}");
                    // Unix: the peer saw EOF already; Windows: it sees EOF at this close.
                    stream.close(lp, |_| {}).unwrap();
                })
                .unwrap();
        })
        .unwrap();
        lp.run().unwrap();
        assert_eq!(trace.get(), ["write 0", "write 1", "write 2", "shutdown"]);
        assert_eq!(&*got.borrow(), b"part 0;part 1;part 2;");
        assert_clean(&lp);
        cleanup(&path);
    });
}

#[test]
fn end_delivers_everything_then_closes_without_lingering() {
    with_timeout(30, || {
        let path = endpoint("end");
        let mut lp = Loop::new().unwrap();
        let got = collecting_server(&mut lp, &path);
        let ended = Rc::new(Cell::new(None));
        let e = Rc::clone(&ended);
        let start = Instant::now();
        lp.unix_connect(&path, move |lp, stream, r| {
            r.unwrap();
            let e = Rc::clone(&e);
            stream
                .end(lp, vec![7u8; 200_000], move |_, r| {
                    r.unwrap();
                    e.set(Some(start.elapsed()));
                })
                .unwrap();
        })
        .unwrap();
        lp.run().unwrap();
        assert_eq!(*got.borrow(), vec![7u8; 200_000]);
        let took = ended.get().expect("end callback ran");
        // On Unix the server's close answers the FIN at once; a named pipe has no FIN, so
        // `end` must not wait out its 2 s linger for an EOF that comes only after it closes.
        assert!(took < Duration::from_millis(1500), "end took {took:?}");
        assert_clean(&lp);
        cleanup(&path);
    });
}

#[test]
fn write_file_sends_a_file_range_in_order_with_writes() {
    with_timeout(30, || {
        let path = endpoint("file");
        let file_path =
            std::env::temp_dir().join(format!("evloop-local-{}-file.bin", std::process::id()));
        let content: Vec<u8> = (0..300_000).map(|i| pattern(9, i)).collect();
        std::fs::write(&file_path, &content).unwrap();
        let file = std::sync::Arc::new(std::fs::File::open(&file_path).unwrap());
        let mut lp = Loop::new().unwrap();
        lp.unix_listen(&path, move |lp, server, conn| {
            server.close(lp, |_| {}).unwrap();
            let stream = conn.unwrap();
            stream.write(lp, b"head:", |_, r| r.unwrap()).unwrap();
            stream
                .write_file(lp, std::sync::Arc::clone(&file), 1000, 250_000, |_, r| {
                    r.unwrap()
                })
                .unwrap();
            stream.end(lp, b":tail", |_, r| r.unwrap()).unwrap();
        })
        .unwrap();
        let got = Rc::new(RefCell::new(Vec::new()));
        let g = Rc::clone(&got);
        lp.unix_connect(&path, move |lp, stream, r| {
            r.unwrap();
            read_until_eof(lp, stream, &g, "client");
        })
        .unwrap();
        lp.run().unwrap();
        let mut want = b"head:".to_vec();
        want.extend_from_slice(&content[1000..251_000]);
        want.extend_from_slice(b":tail");
        assert!(
            *got.borrow() == want,
            "{} bytes, want {}",
            got.borrow().len(),
            want.len()
        );
        assert_clean(&lp);
        cleanup(&path);
        let _ = std::fs::remove_file(&file_path);
    });
}

#[test]
fn writing_to_a_closed_peer_fails_naming_the_path() {
    with_timeout(30, || {
        let path = endpoint("closed-peer");
        let mut lp = Loop::new().unwrap();
        let failed = Rc::new(RefCell::new(None));
        let f = Rc::clone(&failed);
        lp.unix_listen(&path, move |lp, server, conn| {
            server.close(lp, |_| {}).unwrap();
            let f = Rc::clone(&f);
            conn.unwrap()
                .read_start(lp, move |lp, stream, ev| {
                    assert!(matches!(ev, ReadEvent::Eof), "{ev:?}");
                    let f = Rc::clone(&f);
                    // The client is gone: the write fails (no signal on Unix).
                    stream
                        .write(lp, b"anyone?", move |lp, r| {
                            *f.borrow_mut() = Some(r.expect_err("the peer is closed"));
                            stream.close(lp, |_| {}).unwrap();
                        })
                        .unwrap();
                })
                .unwrap();
        })
        .unwrap();
        lp.unix_connect(&path, |lp, stream, r| {
            r.unwrap();
            stream.close(lp, |_| {}).unwrap();
        })
        .unwrap();
        lp.run().unwrap();
        let err = failed.borrow_mut().take().expect("write callback ran");
        let net = err.as_net().expect("a named error");
        assert_eq!(net.op(), "write");
        assert_eq!(net.addr(), path.display().to_string(), "{err}");
        assert_eq!(net.io_error().kind(), ErrorKind::BrokenPipe, "{err}");
        assert_clean(&lp);
        cleanup(&path);
    });
}

#[test]
fn active_handles_name_listeners_and_streams_until_closed() {
    with_timeout(30, || {
        let path = endpoint("handles");
        let mut lp = Loop::new().unwrap();
        let seen = Rc::new(RefCell::new(Vec::new()));
        let s = Rc::clone(&seen);
        let server = lp
            .unix_listen(&path, move |lp, server, conn| {
                let stream = conn.unwrap();
                stream.read_start(lp, |_, _, _| {}).unwrap();
                let mut kinds: Vec<_> = lp.active_handles().iter().map(|h| h.kind).collect();
                kinds.sort_by_key(|k| format!("{k:?}"));
                *s.borrow_mut() = kinds;
                server.close(lp, |_| {}).unwrap();
                stream.close(lp, |_| {}).unwrap();
            })
            .unwrap();
        assert_eq!(lp.active_handles().len(), 1);
        assert_eq!(lp.active_handles()[0].kind, HandleKind::UnixListener);
        let _ = server;
        lp.unix_connect(&path, |lp, stream, r| {
            r.unwrap();
            stream
                .read_start(lp, |lp, stream, ev| {
                    assert!(matches!(ev, ReadEvent::Eof), "{ev:?}");
                    stream.close(lp, |_| {}).unwrap();
                })
                .unwrap();
        })
        .unwrap();
        lp.run().unwrap();
        // The listener, the accepted stream (reading) and the client (reading or connecting).
        let seen = seen.borrow();
        assert_eq!(
            seen.iter()
                .filter(|k| **k == HandleKind::UnixListener)
                .count(),
            1,
            "{seen:?}"
        );
        assert_eq!(
            seen.iter()
                .filter(|k| **k == HandleKind::UnixStream)
                .count(),
            2,
            "{seen:?}"
        );
        assert_eq!(seen.len(), 3, "{seen:?}");
        assert_clean(&lp);
        cleanup(&path);
    });
}

/// What exists only for named pipes.
#[cfg(windows)]
mod windows_only {
    use super::*;

    #[test]
    fn closing_a_client_that_waits_for_a_free_instance_cancels_its_connect() {
        with_timeout(30, || {
            let path = endpoint("busy-close");
            let mut lp = Loop::new().unwrap();
            lp.unix_listen(&path, |lp, server, conn| {
                server.close(lp, |_| {}).unwrap();
                conn.unwrap().close(lp, |_| {}).unwrap();
            })
            .unwrap();
            let trace = Trace::new();
            let t = trace.clone();
            lp.unix_connect(&path, move |lp, stream, r| {
                r.unwrap();
                t.push("first connected");
                stream.close(lp, |_| {}).unwrap();
            })
            .unwrap();
            let t = trace.clone();
            let second = lp
                .unix_connect(&path, move |_, _, r| {
                    assert!(matches!(r, Err(Error::Canceled)), "{r:?}");
                    t.push("second canceled");
                })
                .unwrap();
            // The second found the one instance taken: it waits on a retry timer.
            let kinds: Vec<_> = lp.active_handles().iter().map(|h| h.kind).collect();
            let timers = kinds.iter().filter(|k| **k == HandleKind::Timer).count();
            assert_eq!(timers, 1, "{kinds:?}");
            // A write made while it waits is queued; closing cancels the connect, then it.
            let t = trace.clone();
            second
                .write(&mut lp, b"never sent", move |_, r| {
                    assert!(matches!(r, Err(Error::Canceled)), "{r:?}");
                    t.push("write canceled");
                })
                .unwrap();
            let t = trace.clone();
            second
                .close(&mut lp, move |_| t.push("second closed"))
                .unwrap();
            lp.run().unwrap();
            let got = trace.get();
            assert!(got.contains(&"first connected".to_owned()), "{got:?}");
            let mine: Vec<_> = got.iter().filter(|e| !e.starts_with("first")).collect();
            assert_eq!(mine, ["second canceled", "write canceled", "second closed"]);
            assert_clean(&lp);
        });
    }

    #[test]
    fn a_name_that_is_not_a_pipe_name_is_refused_naming_it() {
        with_timeout(30, || {
            let mut lp = Loop::new().unwrap();
            for bad in [r"C:\temp\evloop.sock", r"\\.\pipe\", "relative.sock"] {
                let err = lp.unix_listen(bad, |_, _, _| {}).expect_err(bad);
                let net = err.as_net().expect("a named error");
                assert_eq!((net.op(), net.addr()), ("listen", bad));
                assert_eq!(net.io_error().kind(), ErrorKind::InvalidInput, "{err}");
                assert!(err.to_string().contains(r"\\.\pipe\NAME"), "{err}");
                let err = lp.unix_connect(bad, |_, _, _| {}).expect_err(bad);
                assert_eq!(err.as_net().map(|n| n.op()), Some("connect"), "{err}");
                assert_eq!(
                    err.as_net().unwrap().io_error().kind(),
                    ErrorKind::InvalidInput
                );
            }
            assert_clean(&lp);
        });
    }

    #[test]
    fn a_pipe_has_no_socket_options() {
        with_timeout(30, || {
            let path = endpoint("options");
            let mut lp = Loop::new().unwrap();
            lp.unix_listen(&path, |lp, server, conn| {
                server.close(lp, |_| {}).unwrap();
                conn.unwrap().close(lp, |_| {}).unwrap();
            })
            .unwrap();
            let shown = path.display().to_string();
            lp.unix_connect(&path, move |lp, stream, r| {
                r.unwrap();
                let err = stream
                    .set_send_buffer_size(lp, 4096)
                    .expect_err("no socket");
                assert_eq!(err.kind(), ErrorKind::Unsupported, "{err}");
                assert!(err.to_string().contains(&shown), "{err}");
                stream.close(lp, |_| {}).unwrap();
            })
            .unwrap();
            lp.run().unwrap();
            assert_clean(&lp);
        });
    }
}
