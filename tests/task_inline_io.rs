//! A future reaches its loop inside its own poll (`task::try_with_loop`, the streams' inline
//! writes and reads): the clear errors outside that scope and on re-entry, the order of inline
//! and deferred operations, backpressure, EOF and errors met inline, drop-cancellation, and a
//! task that aborts itself from inside its own I/O.
mod util;

use std::cell::Cell;
use std::future::Future;
use std::io::{Read, Write};
use std::pin::{Pin, pin};
use std::rc::Rc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use evloop::{Error, Loop, task};
use futures_io::AsyncWrite;
use util::task::{race, tcp_pair};
use util::{Counter, assert_clean, with_timeout};

/// The message of an `InvalidState` error (anything else fails the test).
fn invalid_state<T: std::fmt::Debug>(r: evloop::Result<T>) -> &'static str {
    match r {
        Err(Error::InvalidState(m)) => m,
        other => panic!("expected InvalidState, got {other:?}"),
    }
}

const OUTSIDE: &str = "an evloop future used its loop outside the loop's poll of one of its tasks";
const REENTRANT: &str = "re-entrant use of the loop from inside a future's own loop access";

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

#[test]
fn the_loop_used_outside_a_poll_is_a_clear_invalid_state() {
    with_timeout(10, || {
        // No loop at all on this thread.
        assert_eq!(invalid_state(task::try_with_loop(|_| ())), OUTSIDE);
        let mut lp = Loop::new().unwrap();
        // A callback has `&mut Loop` already; the scope is a task's poll only.
        let seen = Rc::new(Cell::new(""));
        let s = Rc::clone(&seen);
        lp.set_timeout(ms(1), move |_, _| {
            s.set(invalid_state(task::try_with_loop(|_| ())));
        });
        lp.run().unwrap();
        assert_eq!(seen.get(), OUTSIDE);
        // A future polled by hand in a callback (another executor, in effect).
        let s = Rc::clone(&seen);
        seen.set("");
        lp.set_timeout(ms(1), move |_, _| {
            let mut fut = pin!(async { task::try_with_loop(|lp| lp.now()) });
            let mut cx = Context::from_waker(Waker::noop());
            match fut.as_mut().poll(&mut cx) {
                Poll::Ready(r) => s.set(invalid_state(r)),
                Poll::Pending => s.set("pending"),
            }
        });
        lp.run().unwrap();
        assert_eq!(seen.get(), OUTSIDE);
        // Inside a task's poll: granted; from another thread meanwhile: refused.
        let (inside, other_thread) = lp
            .block_on(async {
                let inside = task::try_with_loop(|lp| lp.active_handles().len());
                let other = std::thread::spawn(|| match task::try_with_loop(|_| ()) {
                    Err(Error::InvalidState(m)) => m,
                    _ => "granted",
                })
                .join()
                .unwrap();
                (inside, other)
            })
            .unwrap();
        assert_eq!(inside.unwrap(), 0);
        assert_eq!(other_thread, OUTSIDE);
        lp.run().unwrap();
        assert_clean(&lp);
    });
}

#[test]
fn reentry_is_refused_and_a_write_refused_inline_keeps_its_place() {
    with_timeout(10, || {
        let mut lp = Loop::new().unwrap();
        let (mut conn, mut client) = tcp_pair(&mut lp);
        let nested = lp
            .block_on(async move {
                let nested = task::try_with_loop(|_| task::try_with_loop(|_| ())).unwrap();
                let mut cx = Context::from_waker(Waker::noop());
                assert!(matches!(
                    Pin::new(&mut conn).poll_write(&mut cx, b"first "),
                    Poll::Ready(Ok(6))
                ));
                // Inside a loop access the stream cannot reach the loop: the write is deferred
                // to after the poll...
                task::try_with_loop(|_| {
                    assert!(matches!(
                        Pin::new(&mut conn).poll_write(&mut cx, b"second "),
                        Poll::Ready(Ok(7))
                    ));
                })
                .unwrap();
                // ...and the next one, which could go inline, waits its turn behind it.
                conn.send(&b"third"[..]).await.unwrap();
                conn.flush().await.unwrap();
                conn.close();
                nested
            })
            .unwrap();
        assert_eq!(invalid_state(nested), REENTRANT);
        let mut got = String::new();
        client.read_to_string(&mut got).unwrap();
        assert_eq!(got, "first second third");
        lp.run().unwrap();
        assert_clean(&lp);
    });
}

#[test]
fn a_write_larger_than_the_socket_buffers_completes_in_order_with_backpressure() {
    with_timeout(20, || {
        let mut lp = Loop::new().unwrap();
        let (mut conn, mut client) = tcp_pair(&mut lp);
        const TOTAL: usize = 2 << 20;
        let (waited, wait_seen) = std::sync::mpsc::channel();
        let reader = std::thread::spawn(move || {
            // Not reading until the writer had to wait (the socket's buffers are full), or
            // 5 s have passed (the test then fails below).
            let _ = wait_seen.recv_timeout(Duration::from_secs(5));
            let mut got = Vec::with_capacity(TOTAL);
            client.read_to_end(&mut got).unwrap();
            got
        });
        let pendings = lp
            .block_on(async move {
                let h = conn.handle();
                task::try_with_loop(|lp| h.set_send_buffer_size(lp, 8192))
                    .unwrap()
                    .unwrap();
                let data: Vec<u8> = (0..TOTAL).map(|i| (i % 251) as u8).collect();
                let mut pendings = 0;
                // Half through `poll_write` (borrowed bytes), half through `send` (owned).
                for chunk in data[..TOTAL / 2].chunks(16 * 1024) {
                    let mut at = 0;
                    std::future::poll_fn(|cx| {
                        while at < chunk.len() {
                            match Pin::new(&mut conn).poll_write(cx, &chunk[at..]) {
                                Poll::Ready(Ok(n)) => at += n,
                                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                                Poll::Pending => {
                                    pendings += 1;
                                    let _ = waited.send(());
                                    return Poll::Pending;
                                }
                            }
                        }
                        Poll::Ready(Ok(()))
                    })
                    .await
                    .unwrap();
                }
                for chunk in data[TOTAL / 2..].chunks(16 * 1024) {
                    conn.send(chunk.to_vec()).await.unwrap();
                }
                conn.flush().await.unwrap();
                conn.shutdown().await.unwrap().unwrap();
                pendings
            })
            .unwrap();
        let got = reader.join().unwrap();
        assert_eq!(got.len(), TOTAL);
        assert!(
            got.iter().enumerate().all(|(i, &b)| b == (i % 251) as u8),
            "bytes out of order"
        );
        assert!(pendings > 0, "the writer never had to wait");
        lp.run().unwrap();
        assert_clean(&lp);
    });
}

#[test]
fn eof_and_a_reset_are_met_by_the_inline_read_and_write() {
    with_timeout(10, || {
        let mut lp = Loop::new().unwrap();
        let (mut conn, mut client) = tcp_pair(&mut lp);
        client.write_all(b"hello").unwrap();
        client.shutdown(std::net::Shutdown::Write).unwrap();
        let (read, eof, chunk_eof) = lp
            .block_on(async move {
                let mut buf = [0u8; 64];
                let mut got = Vec::new();
                loop {
                    let n = conn.read(&mut buf).await.unwrap();
                    if n == 0 {
                        break;
                    }
                    got.extend_from_slice(&buf[..n]);
                }
                let again = conn.read(&mut buf).await.unwrap();
                let chunk = conn.read_chunk().await.unwrap();
                (got, again, chunk)
            })
            .unwrap();
        assert_eq!(read, b"hello");
        assert_eq!(eof, 0, "EOF stays EOF");
        assert_eq!(chunk_eof, None);
        if cfg!(windows) {
            // A reset's error kinds differ there (and under wine); the Unix run pins them.
            lp.run().unwrap();
            assert_clean(&lp);
            return;
        }

        let (mut conn, client) = tcp_pair(&mut lp);
        socket2::SockRef::from(&client)
            .set_linger(Some(Duration::ZERO))
            .unwrap();
        drop(client); // a reset
        let (read_err, write_err) = lp
            .block_on(async move {
                let mut buf = [0u8; 16];
                let read_err = conn.read(&mut buf).await.unwrap_err();
                // Writes after the reset fail inline (or on the next write: the first may
                // still be taken by the kernel).
                let mut write_err = None;
                for _ in 0..100 {
                    if let Err(e) = conn.send(&b"x"[..]).await {
                        write_err = Some(e);
                        break;
                    }
                    task::sleep(ms(1)).await.unwrap();
                }
                (read_err, write_err)
            })
            .unwrap();
        assert_eq!(
            read_err.kind(),
            std::io::ErrorKind::ConnectionReset,
            "{read_err}"
        );
        let write_err = write_err.expect("a write after a reset fails");
        assert!(
            matches!(
                write_err.kind(),
                std::io::ErrorKind::ConnectionReset | std::io::ErrorKind::BrokenPipe
            ),
            "{write_err}"
        );
        lp.run().unwrap();
        assert_clean(&lp);
    });
}

#[test]
fn dropped_inline_reads_and_writes_leave_nothing_behind() {
    with_timeout(10, || {
        let mut lp = Loop::new().unwrap();
        let (mut conn, mut client) = tcp_pair(&mut lp);
        let late = Counter::new();
        let l = late.clone();
        let writer = std::thread::spawn(move || {
            // After the read below was given up.
            std::thread::sleep(ms(100));
            client.write_all(b"late").unwrap();
            client
        });
        let got = lp
            .block_on(async move {
                let h = conn.handle();
                let mut buf = [0u8; 16];
                // Nothing to read: the sleep wins, the read is dropped and stops reading.
                assert!(race(conn.read(&mut buf), task::sleep(ms(5))).await.is_err());
                let reading = task::try_with_loop(|lp| {
                    lp.active_handles()
                        .iter()
                        .find(|i| i.id == evloop::Handle::id(h))
                        .map(|i| i.active)
                })
                .unwrap();
                assert_eq!(
                    reading,
                    Some(false),
                    "reading stopped with the dropped read"
                );
                // A write bigger than the socket takes, given up before it completes.
                task::try_with_loop(|lp| h.set_send_buffer_size(lp, 8192))
                    .unwrap()
                    .unwrap();
                let big = vec![7u8; 4 << 20];
                let w = conn.write_all(big);
                assert!(race(w, task::sleep(ms(5))).await.is_err());
                l.inc();
                // The bytes the peer sent after the dropped read are still there.
                let n = conn.read(&mut buf).await.unwrap();
                let got = buf[..n].to_vec();
                conn.close();
                got
            })
            .unwrap();
        let _client = writer.join().unwrap();
        assert_eq!(late.get(), 1);
        assert!(!got.is_empty());
        assert!(b"late".starts_with(&got), "{got:?}");
        lp.run().unwrap();
        assert_clean(&lp);
    });
}

#[test]
fn a_task_aborting_itself_inside_its_own_io_is_dropped_after_that_poll() {
    with_timeout(10, || {
        let mut lp = Loop::new().unwrap();
        let (mut conn, mut client) = tcp_pair(&mut lp);
        struct Dropped(Rc<Cell<u32>>);
        impl Drop for Dropped {
            fn drop(&mut self) {
                self.0.set(self.0.get() + 1);
            }
        }
        let drops = Rc::new(Cell::new(0));
        let after = Counter::new();
        let me: Rc<Cell<Option<task::AbortHandle>>> = Rc::default();
        let (d, a, m) = (Rc::clone(&drops), after.clone(), Rc::clone(&me));
        let join = lp.spawn_local(async move {
            let _guard = Dropped(d);
            conn.send(&b"x"[..]).await.unwrap();
            let me = m.take().unwrap();
            // Aborted from inside its own loop access: the future lives on to the end of this
            // poll, and its I/O in the rest of the poll still works.
            let first = task::try_with_loop(|_| me.abort()).unwrap();
            assert!(first);
            assert!(!me.abort(), "already aborted");
            conn.send(&b"y"[..]).await.unwrap();
            let mut buf = [0u8; 4];
            let _ = conn.read(&mut buf).await; // Pending: the poll returns, the future goes
            a.inc();
        });
        me.set(Some(join.abort_handle()));
        let out = lp.block_on(join).unwrap();
        assert!(matches!(out, Err(Error::Canceled)), "{out:?}");
        assert_eq!(drops.get(), 1, "the future was dropped once");
        assert_eq!(after.get(), 0, "never polled again");
        let mut got = Vec::new();
        client.read_to_end(&mut got).unwrap();
        assert_eq!(got, b"xy", "the stream was closed with the future");
        lp.run().unwrap();
        assert_eq!(lp.task_count(), 0);
        assert_clean(&lp);
    });
}
