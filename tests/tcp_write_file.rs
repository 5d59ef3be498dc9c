//! TCP streams, `write_file`: a range of a file sent in order with the buffers around it (by
//! `sendfile` where the kernel has it), its completion and its failure when the file is
//! shorter than asked.
mod util;

use std::cell::RefCell;
use std::io::{ErrorKind, Write};
use std::rc::Rc;
use std::sync::Arc;

use evloop::net::{ReadEvent, TcpStream};
use evloop::{Handle, Loop};
use util::net::any_port;
use util::{Trace, assert_clean, with_timeout};

/// Byte `i` of a test file is a hash of `i`: a misplaced or lost range shows.
fn pattern(len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| ((i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 56) as u8)
        .collect()
}

fn temp_file(name: &str, bytes: &[u8]) -> (std::path::PathBuf, std::fs::File) {
    let path = std::env::temp_dir().join(format!("evloop-{name}-{}", std::process::id()));
    std::fs::File::create(&path)
        .and_then(|mut f| f.write_all(bytes))
        .unwrap();
    let file = std::fs::File::open(&path).unwrap();
    (path, file)
}

/// A listener whose first connection's bytes are collected into the returned buffer until
/// EOF; `writer` runs on the connecting side once connected.
fn collect_from(
    lp: &mut Loop,
    writer: impl FnOnce(&mut Loop, TcpStream) + 'static,
) -> Rc<RefCell<Vec<u8>>> {
    let got = Rc::new(RefCell::new(Vec::new()));
    let g = got.clone();
    let server = lp
        .tcp_listen(any_port(), move |lp, server, conn| {
            server.close(lp, |_| {}).unwrap();
            let g = g.clone();
            conn.unwrap()
                .read_start(lp, move |lp, stream, ev| match ev {
                    ReadEvent::Data(bytes) => g.borrow_mut().extend_from_slice(bytes),
                    ReadEvent::Eof => stream.close(lp, |_| {}).unwrap(),
                    ReadEvent::Error(e) => panic!("{e}"),
                })
                .unwrap();
        })
        .unwrap();
    let addr = server.local_addr(lp).unwrap();
    lp.tcp_connect(addr, move |lp, stream, r| {
        r.unwrap();
        writer(lp, stream);
    })
    .unwrap();
    got
}

#[test]
fn a_file_range_between_buffers_arrives_exact_with_callbacks_in_order() {
    with_timeout(60, || {
        const OFFSET: usize = 1000;
        const LEN: usize = (5 << 20) + 7;
        let data = pattern(OFFSET + LEN + 500);
        let (path, file) = temp_file("write-file-range", &data);
        let file = Arc::new(file);
        let mut lp = Loop::new().unwrap();
        let trace = Trace::new();
        let t = trace.clone();
        let shared = Arc::clone(&file);
        let got = collect_from(&mut lp, move |lp, stream| {
            let cb = |t: &Trace, what: &'static str| {
                let t = t.clone();
                move |_: &mut Loop, r: evloop::Result<()>| {
                    r.unwrap();
                    t.push(what);
                }
            };
            stream.write(lp, b"head", cb(&t, "head")).unwrap();
            let below = stream
                .write_file(lp, shared, OFFSET as u64, LEN as u64, cb(&t, "file"))
                .unwrap();
            // 5 MiB unsent (the socket takes a few at most) is over the 64 KiB mark.
            assert!(!below, "a 5 MiB file segment is backpressure");
            assert!(stream.write_queue_size(lp).unwrap() > 64 * 1024);
            stream.write(lp, b"tail", cb(&t, "tail")).unwrap();
            // An empty range completes in order too.
            let (_, empty) = temp_file("write-file-empty", b"");
            stream.write_file(lp, empty, 0, 0, cb(&t, "empty")).unwrap();
            let t2 = t.clone();
            stream.on_drain(lp, move |_, _| t2.push("drain")).unwrap();
            stream
                .shutdown(lp, move |lp, r| {
                    r.unwrap();
                    t.push("shutdown");
                    stream.close(lp, |_| {}).unwrap();
                })
                .unwrap();
        });
        lp.run().unwrap();
        let mut want = b"head".to_vec();
        want.extend_from_slice(&data[OFFSET..OFFSET + LEN]);
        want.extend_from_slice(b"tail");
        let got = got.borrow();
        assert_eq!(got.len(), want.len());
        assert!(*got == want, "the bytes differ");
        assert_eq!(
            trace.take(),
            ["head", "file", "tail", "empty", "drain", "shutdown"]
        );
        // The stream let go of the file: this is the last holder.
        assert_eq!(Arc::strong_count(&file), 1);
        assert_clean(&lp);
        std::fs::remove_file(path).unwrap();
    });
}

#[test]
fn a_file_shorter_than_asked_fails_its_write_and_the_writes_after_it() {
    with_timeout(60, || {
        // More than the socket buffers hold, so `after` is queued behind the file when it fails.
        const HAS: usize = 8 << 20;
        let data = pattern(HAS);
        let (path, file) = temp_file("write-file-short", &data);
        let mut lp = Loop::new().unwrap();
        let trace = Trace::new();
        let t = trace.clone();
        let got = collect_from(&mut lp, move |lp, stream| {
            let t2 = t.clone();
            stream
                .write_file(lp, file, 0, (HAS + 1) as u64, move |_, r| {
                    let e = r.expect_err("the file is a byte short");
                    assert_eq!(e.kind(), ErrorKind::UnexpectedEof, "{e}");
                    t2.push("file failed");
                })
                .unwrap();
            stream
                .write(lp, b"after", move |lp, r| {
                    assert!(r.is_err(), "a byte stream cannot skip the hole");
                    t.push("after failed");
                    stream.close(lp, |_| {}).unwrap();
                })
                .unwrap();
        });
        lp.run().unwrap();
        assert_eq!(trace.take(), ["file failed", "after failed"]);
        // What the file had arrived, and nothing after it.
        assert!(
            *got.borrow() == data,
            "{} bytes arrived",
            got.borrow().len()
        );
        assert_clean(&lp);
        std::fs::remove_file(path).unwrap();
    });
}
