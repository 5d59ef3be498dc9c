//! Unix-domain streams: the TCP stream API over a path and over a socketpair.
mod util;

use std::io::ErrorKind;
use std::path::PathBuf;

use evloop::{Handle, Loop, ReadEvent, UnixStream};
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
        assert_clean(&lp);
    });
}
