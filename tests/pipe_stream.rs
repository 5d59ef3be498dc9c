//! Pipes: the stream core over pipe fds — reads, writes, shutdown as EOF, a gone reader.
// Linux only: evloop's pipes are Linux-only so far.
#![cfg(target_os = "linux")]
mod util;

use std::io::ErrorKind;
use std::os::fd::OwnedFd;

use evloop::net::ReadEvent;
use evloop::{Handle, Loop};
use util::{Trace, assert_clean, with_timeout};

#[test]
fn bytes_written_to_a_pipe_arrive_and_shutdown_is_eof() {
    with_timeout(10, || {
        let mut lp = Loop::new().unwrap();
        let (r, w) = lp.pipe().unwrap();
        let trace = Trace::new();
        let t = trace.clone();
        let mut got = Vec::new();
        r.read_start(&mut lp, move |lp, r, ev| match ev {
            ReadEvent::Data(b) => got.extend_from_slice(b),
            ReadEvent::Eof => {
                t.push(format!("eof {}", String::from_utf8_lossy(&got)));
                r.close(lp, |_| {}).unwrap();
            }
            ReadEvent::Error(e) => panic!("{e}"),
        })
        .unwrap();
        let t = trace.clone();
        assert!(w.write(&mut lp, b"hello ", |_, r| r.unwrap()).unwrap());
        w.write(&mut lp, b"pipe".to_vec(), move |_, r| {
            r.unwrap();
            t.push("written");
        })
        .unwrap();
        let t = trace.clone();
        w.shutdown(&mut lp, move |lp, r| {
            r.unwrap();
            t.push("shutdown");
            w.close(lp, |_| {}).unwrap();
        })
        .unwrap();
        // A write after shutdown is refused at once.
        assert!(w.write(&mut lp, b"x", |_, _| panic!("refused")).is_err());
        lp.run().unwrap();
        assert_eq!(trace.take(), ["written", "shutdown", "eof hello pipe"]);
        assert_clean(&lp);
    });
}

#[test]
fn a_write_to_a_pipe_without_reader_fails_with_broken_pipe() {
    with_timeout(10, || {
        let mut lp = Loop::new().unwrap();
        let (r, w) = lp.pipe().unwrap();
        r.close(&mut lp, |_| {}).unwrap();
        let trace = Trace::new();
        let t = trace.clone();
        // The error comes back through the callback (never inside write, never SIGPIPE).
        let _ = w.write(&mut lp, vec![7u8; 1 << 20], move |lp, r| {
            let e = r.expect_err("no reader");
            assert_eq!(e.kind(), ErrorKind::BrokenPipe, "{e}");
            t.push("epipe");
            w.close(lp, |_| {}).unwrap();
        });
        lp.run().unwrap();
        assert_eq!(trace.take(), ["epipe"]);
        assert_clean(&lp);
    });
}

#[test]
fn a_regular_file_is_refused_with_a_clear_error() {
    let mut lp = Loop::new().unwrap();
    let file = std::fs::File::open("/proc/self/exe").unwrap();
    let err = lp
        .pipe_open(OwnedFd::from(file))
        .expect_err("a regular file");
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
    assert!(err.to_string().contains("regular file"), "{err}");
    assert_clean(&lp);
}

#[test]
fn a_pipe_opened_from_an_fd_reads_what_a_thread_writes() {
    with_timeout(10, || {
        let mut lp = Loop::new().unwrap();
        let (reader, mut writer) = std::io::pipe().unwrap();
        let pipe = lp.pipe_open(OwnedFd::from(reader)).unwrap();
        assert_eq!(
            lp.active_handles()[0].kind,
            evloop::HandleKind::Pipe,
            "listed as a pipe"
        );
        let feeder = std::thread::spawn(move || {
            use std::io::Write;
            for _ in 0..100 {
                writer.write_all(&[1u8; 10_000]).unwrap();
            }
        });
        let mut total = 0usize;
        pipe.read_start(&mut lp, move |lp, p, ev| match ev {
            ReadEvent::Data(b) => {
                assert!(b.iter().all(|&x| x == 1));
                total += b.len();
            }
            ReadEvent::Eof => {
                assert_eq!(total, 1_000_000);
                p.close(lp, |_| {}).unwrap();
            }
            ReadEvent::Error(e) => panic!("{e}"),
        })
        .unwrap();
        lp.run().unwrap();
        feeder.join().unwrap();
        assert_clean(&lp);
    });
}

#[test]
fn an_unpollable_stdio_stream_is_an_error_and_its_flags_are_left_as_they_were() {
    // Under the test harness stdin is /dev/null or a terminal or a pipe; whatever it is, a
    // failure must leave fd 0 blocking as it was, and a success must restore it at close.
    // SAFETY: F_GETFL on fd 0 only reads flags.
    let before = unsafe { libc::fcntl(0, libc::F_GETFL) };
    let mut lp = Loop::new().unwrap();
    match lp.pipe_stdio(evloop::process::StdStream::Stdin) {
        Ok(pipe) => {
            pipe.close(&mut lp, |_| {}).unwrap();
            lp.run().unwrap();
        }
        Err(e) => assert!(!e.to_string().is_empty()),
    }
    // SAFETY: as above.
    assert_eq!(unsafe { libc::fcntl(0, libc::F_GETFL) }, before);
    assert_clean(&lp);
}
