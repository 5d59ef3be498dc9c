//! Unix-domain streams: the TCP stream API over a path and over a socketpair.
// Unix only: Unix-domain sockets (Windows' named pipes are not ported: see README's platform section).
#![cfg(unix)]
mod util;

use std::cell::RefCell;
use std::io::ErrorKind;
use std::path::PathBuf;
use std::rc::Rc;

use evloop::net::{ReadEvent, UnixStream};
use evloop::{Error, Handle, Loop};
use util::{Counter, assert_clean, with_timeout};

fn socket_path(name: &str) -> PathBuf {
    let path = std::env::temp_dir().join(format!("evloop-{}-{name}.sock", std::process::id()));
    let _ = std::fs::remove_file(&path);
    path
}

/// Echoes every byte back on `stream`; closes on EOF.
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

/// Sends `PING\n` 1000 times, one round trip at a time, then shuts down and closes on EOF.
fn ping_1000(lp: &mut Loop, stream: UnixStream, pongs: Counter) {
    stream.write(lp, b"PING\n", |_, r| r.unwrap()).unwrap();
    let mut pending = Vec::new();
    stream
        .read_start(lp, move |lp, stream, ev| match ev {
            ReadEvent::Data(bytes) => {
                pending.extend_from_slice(bytes);
                while pending.len() >= 5 {
                    assert_eq!(&pending[..5], b"PING\n");
                    pending.drain(..5);
                    if pongs.inc() == 1000 {
                        stream.shutdown(lp, |_, r| r.unwrap()).unwrap();
                    } else {
                        stream.write(lp, b"PING\n", |_, r| r.unwrap()).unwrap();
                    }
                }
            }
            ReadEvent::Eof => stream.close(lp, |_| {}).unwrap(),
            ReadEvent::Error(e) => panic!("client read: {e}"),
        })
        .unwrap();
}

#[test]
fn ping_pong_over_a_path() {
    with_timeout(30, || {
        let path = socket_path("ping");
        let mut lp = Loop::new().unwrap();
        let server = lp
            .unix_listen(&path, |lp, server, conn| {
                server.close(lp, |_| {}).unwrap();
                echo(lp, conn.unwrap());
            })
            .unwrap();
        assert_eq!(
            server.local_addr(&lp).unwrap().as_pathname(),
            Some(path.as_path())
        );
        let pongs = Counter::new();
        let p = pongs.clone();
        let returned = std::rc::Rc::new(std::cell::Cell::new(false));
        let r = returned.clone();
        lp.unix_connect(&path, move |lp, stream, result| {
            assert!(r.get(), "connect callback ran inside unix_connect");
            result.unwrap();
            ping_1000(lp, stream, p);
        })
        .unwrap();
        returned.set(true);
        lp.run().unwrap();
        assert_eq!(pongs.get(), 1000);
        std::fs::remove_file(&path).unwrap();
        assert_clean(&lp);
    });
}

#[test]
fn ping_pong_over_a_socketpair() {
    with_timeout(30, || {
        let mut lp = Loop::new().unwrap();
        let (a, b) = lp.unix_pair().unwrap();
        echo(&mut lp, b);
        let pongs = Counter::new();
        ping_1000(&mut lp, a, pongs.clone());
        lp.run().unwrap();
        assert_eq!(pongs.get(), 1000);
        assert_clean(&lp);
    });
}

#[test]
fn connecting_to_a_missing_path_fails_through_the_callback() {
    with_timeout(10, || {
        let path = socket_path("missing");
        let mut lp = Loop::new().unwrap();
        let calls = Counter::new();
        let c = calls.clone();
        lp.unix_connect(&path, move |lp, stream, r| {
            c.inc();
            let e = r.unwrap_err();
            assert!(
                matches!(e.kind(), ErrorKind::NotFound | ErrorKind::ConnectionRefused),
                "{e}"
            );
            stream.close(lp, |_| {}).unwrap();
        })
        .unwrap();
        assert_eq!(calls.get(), 0);
        lp.run().unwrap();
        assert_eq!(calls.get(), 1);
        assert_clean(&lp);
    });
}

#[test]
fn writes_to_a_closed_pair_fail_without_a_signal() {
    with_timeout(10, || {
        // Any SIGPIPE sent to this process from now on sets the flag (instead of being ignored
        // as Rust binaries do), so a write without MSG_NOSIGNAL would show.
        let sigpipe = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        signal_hook::flag::register(signal_hook::consts::SIGPIPE, sigpipe.clone()).unwrap();
        let mut lp = Loop::new().unwrap();
        let (a, b) = lp.unix_pair().unwrap();
        b.close(&mut lp, |_| {}).unwrap();
        let failed = Counter::new();
        let f = failed.clone();
        lp.set_immediate(move |lp| {
            a.write(lp, b"into the void", move |lp, r| {
                let e = r.unwrap_err();
                assert_eq!(e.kind(), ErrorKind::BrokenPipe, "{e}");
                f.inc();
                a.close(lp, |_| {}).unwrap();
            })
            .unwrap();
        });
        lp.run().unwrap();
        assert_eq!(failed.get(), 1);
        assert!(
            !sigpipe.load(std::sync::atomic::Ordering::SeqCst),
            "SIGPIPE was raised"
        );
        assert_clean(&lp);
    });
}

#[test]
fn operations_on_closing_and_closed_streams_are_errors() {
    with_timeout(10, || {
        let mut lp = Loop::new().unwrap();
        let (a, b) = lp.unix_pair().unwrap();
        a.close(&mut lp, |_| {}).unwrap();
        let never = |_: &mut Loop, _: evloop::Result<()>| panic!("callback of a refused call");
        assert!(matches!(a.write(&mut lp, b"x", never), Err(Error::Closing)));
        assert!(matches!(a.shutdown(&mut lp, never), Err(Error::Closing)));
        assert!(matches!(
            a.read_start(&mut lp, |_, _, _| {}),
            Err(Error::Closing)
        ));
        assert!(a.is_closing(&lp).unwrap());
        lp.run().unwrap();
        assert!(matches!(
            a.write(&mut lp, b"x", never),
            Err(Error::StaleHandle)
        ));
        assert!(matches!(
            a.write_queue_size(&mut lp),
            Err(Error::StaleHandle)
        ));
        assert!(matches!(a.read_stop(&mut lp), Err(Error::StaleHandle)));
        // The other end saw the close.
        let eof = Counter::new();
        let e = eof.clone();
        b.read_start(&mut lp, move |lp, b, ev| {
            assert!(matches!(ev, ReadEvent::Eof), "{ev:?}");
            e.inc();
            b.close(lp, |_| {}).unwrap();
        })
        .unwrap();
        lp.run().unwrap();
        assert_eq!(eof.get(), 1);
        assert_clean(&lp);
    });
}

#[test]
fn a_write_larger_than_the_socket_buffer_flushes_on_the_writable_edge() {
    with_timeout(30, || {
        let mut lp = Loop::new().unwrap();
        let (a, b) = lp.unix_pair().unwrap();
        let data: Vec<u8> = (0..8 << 20).map(|i: usize| (i % 253) as u8).collect();
        let expected = data.clone();
        let done = Counter::new();
        let d = done.clone();
        // The pair starts connected (read interest only): the queue must still drain once the
        // send buffer fills and frees up.
        a.write(&mut lp, data, move |lp, r| {
            r.unwrap();
            d.inc();
            a.close(lp, |_| {}).unwrap();
        })
        .unwrap();
        assert!(
            a.write_queue_size(&mut lp).unwrap() > 0,
            "8 MiB fit at once"
        );
        let got: Rc<RefCell<Vec<u8>>> = Rc::default();
        let g = got.clone();
        b.read_start(&mut lp, move |lp, b, ev| match ev {
            ReadEvent::Data(bytes) => g.borrow_mut().extend_from_slice(bytes),
            ReadEvent::Eof => b.close(lp, |_| {}).unwrap(),
            ReadEvent::Error(e) => panic!("{e}"),
        })
        .unwrap();
        lp.run().unwrap();
        assert_eq!(done.get(), 1);
        assert!(*got.borrow() == expected, "bytes differ");
        assert_clean(&lp);
    });
}
