//! Raw fd watchers: readable/writable readiness, level-triggered re-reporting, interest
//! changes, stop/start, hang-up, and that closing the watcher leaves the fd open.
// Unix only: watches raw file descriptors (libuv's uv_poll_t on fds); Windows has no fds to poll.
#![cfg(unix)]
mod util;

use std::cell::{Cell, RefCell};
use std::io::{ErrorKind, Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::rc::Rc;
use std::time::Duration;

use evloop::{Error, Handle, Interest, Loop, Readiness};
use util::{Counter, Trace, assert_clean, with_timeout};

fn pair() -> (UnixStream, UnixStream) {
    let (a, b) = UnixStream::pair().unwrap();
    a.set_nonblocking(true).unwrap();
    b.set_nonblocking(true).unwrap();
    (a, b)
}

#[test]
fn readable_fires_when_data_arrives() {
    with_timeout(10, || {
        let mut lp = Loop::new().unwrap();
        let (mut a, b) = pair();
        let fd = a.as_raw_fd();
        let trace = Trace::new();
        let t = trace.clone();
        let w = lp
            .watch_fd(fd, Interest::READABLE, move |lp, w, ready| {
                assert!(ready.readable && !ready.writable && !ready.hangup && !ready.error);
                let mut buf = [0; 64];
                let n = a.read(&mut buf).unwrap();
                t.push(format!("read {}", String::from_utf8_lossy(&buf[..n])));
                w.close(lp, |_| {}).unwrap();
            })
            .unwrap();
        assert_eq!(w.fd(&lp).unwrap(), fd);
        assert_eq!(w.interest(&lp).unwrap(), Interest::READABLE);
        assert!(w.is_active(&lp).unwrap());
        let t = trace.clone();
        let writer = Rc::new(b); // kept open: a dropped peer would also report a hang-up
        let w2 = writer.clone();
        lp.set_timeout(Duration::from_millis(10), move |_, _| {
            t.push("write");
            (&*w2).write_all(b"hello").unwrap();
        });
        lp.run().unwrap();
        assert_eq!(trace.take(), ["write", "read hello"]);
        drop(writer);
        assert_clean(&lp);
    });
}

#[test]
fn writable_fires_on_an_empty_buffer() {
    with_timeout(10, || {
        let mut lp = Loop::new().unwrap();
        let (a, _b) = pair();
        let calls = Counter::new();
        let c = calls.clone();
        lp.watch_fd(a.as_raw_fd(), Interest::WRITABLE, move |lp, w, ready| {
            assert!(ready.writable && !ready.readable);
            c.inc();
            w.close(lp, |_| {}).unwrap();
        })
        .unwrap();
        assert_eq!(calls.get(), 0, "never inside watch_fd");
        lp.run().unwrap();
        assert_eq!(calls.get(), 1);
        assert_clean(&lp);
    });
}

#[test]
fn level_triggered_once_per_iteration_until_drained() {
    with_timeout(10, || {
        let mut lp = Loop::new().unwrap();
        let (mut a, mut b) = pair();
        b.write_all(b"0123456789").unwrap();
        // Counts iterations, to show the callback runs at most once per iteration.
        let iteration = Rc::new(Cell::new(0u32));
        let it = iteration.clone();
        let prep = lp.add_prepare(move |_, _| it.set(it.get() + 1));
        prep.unref(&mut lp).unwrap();

        let seen = Rc::new(RefCell::new(Vec::new()));
        let s = seen.clone();
        let w = lp
            .watch_fd(a.as_raw_fd(), Interest::READABLE, move |lp, w, ready| {
                assert!(ready.readable);
                s.borrow_mut().push(iteration.get());
                // Read one byte per call: the fd stays ready, so it is reported again.
                let mut byte = [0; 1];
                a.read_exact(&mut byte).unwrap();
                if byte[0] == b'9' {
                    assert_eq!(a.read(&mut byte).unwrap_err().kind(), ErrorKind::WouldBlock);
                    // Drained: no more calls until new data. Close a bit later to prove it.
                    lp.set_timeout(Duration::from_millis(30), move |lp, _| {
                        w.close(lp, |_| {}).unwrap();
                        prep.close(lp, |_| {}).unwrap();
                    });
                }
            })
            .unwrap();
        lp.run().unwrap();
        let seen = seen.borrow();
        assert_eq!(
            seen.len(),
            10,
            "one call per byte, none after draining: {seen:?}"
        );
        assert!(
            seen.windows(2).all(|p| p[0] < p[1]),
            "at most one call per iteration: {seen:?}"
        );
        assert!(matches!(w.stop(&mut lp), Err(Error::StaleHandle)));
        assert_clean(&lp);
    });
}

#[test]
fn interest_change() {
    with_timeout(10, || {
        let mut lp = Loop::new().unwrap();
        let (mut a, b) = pair();
        let trace = Trace::new();
        let t = trace.clone();
        // Nothing to read: silent. Then switch to writable (ready at once), then back to
        // readable (silent again) until the peer writes.
        let w = lp
            .watch_fd(a.as_raw_fd(), Interest::READABLE, move |lp, w, ready| {
                if ready.writable {
                    t.push("writable");
                    w.set_interest(lp, Interest::READABLE).unwrap();
                } else if ready.readable {
                    let mut buf = [0; 8];
                    let n = a.read(&mut buf).unwrap();
                    t.push(format!("readable {}", String::from_utf8_lossy(&buf[..n])));
                    w.close(lp, |_| {}).unwrap();
                }
            })
            .unwrap();
        let t = trace.clone();
        let mut b = Some(b);
        lp.set_timeout(Duration::from_millis(10), move |lp, _| {
            t.push("to writable");
            w.set_interest(lp, Interest::WRITABLE).unwrap();
            let t = t.clone();
            let mut b = b.take();
            lp.set_timeout(Duration::from_millis(20), move |_, _| {
                t.push("peer writes");
                b.take().unwrap().write_all(b"hi").unwrap();
            });
        });
        lp.run().unwrap();
        assert_eq!(
            trace.take(),
            ["to writable", "writable", "peer writes", "readable hi"]
        );
        assert!(matches!(
            w.set_interest(&mut lp, Interest::BOTH),
            Err(Error::StaleHandle)
        ));
        assert_clean(&lp);
    });
}

#[test]
fn stop_and_start() {
    with_timeout(10, || {
        let mut lp = Loop::new().unwrap();
        let (mut a, mut b) = pair();
        b.write_all(b"x").unwrap();
        let calls = Counter::new();
        let c = calls.clone();
        let w = lp
            .watch_fd(a.as_raw_fd(), Interest::READABLE, move |lp, w, _| {
                c.inc();
                let mut buf = [0; 1];
                a.read_exact(&mut buf).unwrap();
                w.close(lp, |_| {}).unwrap();
            })
            .unwrap();
        w.stop(&mut lp).unwrap();
        w.stop(&mut lp).unwrap(); // idempotent
        assert!(!w.is_active(&lp).unwrap());
        // Stopped: data is ready but nothing runs, and the loop has nothing to wait for.
        assert!(!lp.alive());
        lp.set_timeout(Duration::from_millis(20), |_, _| {});
        lp.run().unwrap();
        assert_eq!(calls.get(), 0);

        // Started again: the fd that is already ready is reported.
        w.start(&mut lp).unwrap();
        w.start(&mut lp).unwrap(); // idempotent
        assert!(w.is_active(&lp).unwrap());
        lp.run().unwrap();
        assert_eq!(calls.get(), 1);
        assert_clean(&lp);
    });
}

#[test]
fn close_does_not_close_the_fd() {
    with_timeout(10, || {
        let mut lp = Loop::new().unwrap();
        let (mut a, mut b) = pair();
        let w = lp
            .watch_fd(a.as_raw_fd(), Interest::BOTH, |_, _, _| {})
            .unwrap();
        let closed = Counter::new();
        let c = closed.clone();
        w.close(&mut lp, move |_| {
            c.inc();
        })
        .unwrap();
        lp.run().unwrap();
        assert_eq!(closed.get(), 1);
        assert_clean(&lp);
        // Both directions still work on the fd the watcher watched.
        a.write_all(b"after").unwrap();
        let mut buf = [0; 5];
        b.read_exact(&mut buf).unwrap();
        assert_eq!(&buf, b"after");
        b.write_all(b"back").unwrap();
        let mut buf = [0; 4];
        a.read_exact(&mut buf).unwrap();
        assert_eq!(&buf, b"back");
        // And it can be watched again by a new watcher.
        let w = lp
            .watch_fd(a.as_raw_fd(), Interest::READABLE, |_, _, _| {})
            .unwrap();
        w.close(&mut lp, |_| {}).unwrap();
        lp.run().unwrap();
        assert_clean(&lp);
    });
}

#[test]
fn hangup_on_peer_close() {
    with_timeout(10, || {
        let mut lp = Loop::new().unwrap();
        let (mut a, b) = pair();
        let got = Rc::new(Cell::new(None::<Readiness>));
        let g = got.clone();
        lp.watch_fd(a.as_raw_fd(), Interest::READABLE, move |lp, w, ready| {
            g.set(Some(ready));
            // EOF: the read returns 0.
            assert_eq!(a.read(&mut [0; 4]).unwrap(), 0);
            w.close(lp, |_| {}).unwrap();
        })
        .unwrap();
        let mut b = Some(b);
        lp.set_timeout(Duration::from_millis(10), move |_, _| drop(b.take()));
        lp.run().unwrap();
        let ready = got.get().expect("callback ran");
        assert!(ready.hangup, "{ready:?}");
        assert!(ready.readable, "EOF is readable: {ready:?}");
        assert_clean(&lp);
    });
}

#[test]
fn hangup_on_pipe_writer_close() {
    with_timeout(10, || {
        let mut lp = Loop::new().unwrap();
        let (reader, writer) = std::io::pipe().unwrap();
        let got = Rc::new(Cell::new(None::<Readiness>));
        let g = got.clone();
        lp.watch_fd(
            reader.as_raw_fd(),
            Interest::READABLE,
            move |lp, w, ready| {
                g.set(Some(ready));
                w.close(lp, |_| {}).unwrap();
            },
        )
        .unwrap();
        drop(writer);
        lp.run().unwrap();
        assert!(got.get().expect("callback ran").hangup);
        drop(reader);
        assert_clean(&lp);
    });
}

#[test]
fn unrefd_ready_watcher_does_not_keep_the_loop_alive() {
    with_timeout(10, || {
        let mut lp = Loop::new().unwrap();
        let (a, _b) = pair();
        let calls = Counter::new();
        let c = calls.clone();
        // Always writable: level-triggered, it would fire every iteration.
        let w = lp
            .watch_fd(a.as_raw_fd(), Interest::WRITABLE, move |_, _, _| {
                c.inc();
            })
            .unwrap();
        w.unref(&mut lp).unwrap();
        lp.set_timeout(Duration::from_millis(20), |_, _| {});
        lp.run().unwrap(); // returns after the timer: the watcher holds nothing back
        assert!(calls.get() >= 1);
        w.close(&mut lp, |_| {}).unwrap();
        lp.run().unwrap();
        assert_clean(&lp);
    });
}

#[test]
fn registration_errors_are_reported() {
    with_timeout(10, || {
        let mut lp = Loop::new().unwrap();
        let (a, _b) = pair();
        let empty = Interest::default();
        assert!(matches!(
            lp.watch_fd(a.as_raw_fd(), empty, |_, _, _| {}),
            Err(Error::InvalidState(_))
        ));
        let r = lp.watch_fd(-1, Interest::READABLE, |_, _, _| {});
        assert!(matches!(r, Err(e) if e.raw_os_error() == Some(libc::EBADF)));
        let w = lp
            .watch_fd(a.as_raw_fd(), Interest::READABLE, |_, _, _| {})
            .unwrap();
        let r = lp.watch_fd(a.as_raw_fd(), Interest::READABLE, |_, _, _| {});
        assert!(matches!(r, Err(e) if e.raw_os_error() == Some(libc::EEXIST)));
        assert!(matches!(
            w.set_interest(&mut lp, empty),
            Err(Error::InvalidState(_))
        ));
        w.close(&mut lp, |_| {}).unwrap();
        lp.run().unwrap();
        assert_clean(&lp);
    });
}

#[test]
fn a_panicking_callback_keeps_the_watcher_reporting() {
    with_timeout(10, || {
        let mut lp = Loop::new().unwrap();
        let (mut a, mut b) = pair();
        b.write_all(b"ab").unwrap();
        let calls = Counter::new();
        let c = calls.clone();
        lp.watch_fd(a.as_raw_fd(), Interest::READABLE, move |lp, w, _| {
            let mut byte = [0; 1];
            a.read_exact(&mut byte).unwrap();
            if c.inc() == 1 {
                panic!("boom");
            }
            w.close(lp, |_| {}).unwrap();
        })
        .unwrap();
        let err = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| lp.run()));
        assert!(err.is_err());
        // One byte is still unread and no new edge will come: the re-arm must have happened.
        lp.run().unwrap();
        assert_eq!(calls.get(), 2);
        assert_clean(&lp);
    });
}
