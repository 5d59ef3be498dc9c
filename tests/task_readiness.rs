//! Readiness-mode reads: a future inside its task's poll reads the socket itself, into its own
//! buffer, and waits for the readable edge only when the socket is empty. Pinned here: nothing
//! is read ahead of the reader (the kernel keeps what it did not ask for), a reader that always
//! finds data still yields to the loop, the edge reaches a reader that changed task or waits
//! through a combinator's own waker, and EOF ends reading.
mod util;

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::io::Write;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;

use evloop::{Loop, task};
use util::task::{Gate, tcp_pair};
use util::{assert_clean, with_timeout};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// Bytes `0, 1, 2, ...` (mod 251), `n` of them.
fn pattern(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i % 251) as u8).collect()
}

#[test]
fn a_read_takes_only_what_it_asks_for_and_the_kernel_keeps_the_rest() {
    with_timeout(10, || {
        let mut lp = Loop::new().unwrap();
        let (mut conn, mut client) = tcp_pair(&mut lp);
        let sent = pattern(100 * 1024);
        let writer = {
            let sent = sent.clone();
            std::thread::spawn(move || {
                client.write_all(&sent).unwrap();
                client
            })
        };
        let before = lp.metrics().bytes_read;
        let (first, ahead, counted, rest) = lp
            .block_on(async move {
                let mut small = [0u8; 10];
                let mut got = 0;
                while got < small.len() {
                    got += conn.read(&mut small[got..]).await.unwrap();
                }
                // Nothing was read beyond those ten bytes: the rest waits in the kernel.
                let ahead = conn.take_read_ahead();
                let counted = task::try_with_loop(|lp| lp.metrics().bytes_read).unwrap();
                let mut rest = Vec::new();
                while rest.len() < 100 * 1024 - 10 {
                    match conn.read_chunk().await.unwrap() {
                        Some(chunk) => rest.extend_from_slice(&chunk),
                        None => break,
                    }
                }
                (small.to_vec(), ahead, counted, rest)
            })
            .unwrap();
        let _client = writer.join().unwrap();
        assert_eq!(first, sent[..10]);
        assert!(ahead.is_empty(), "read ahead: {} bytes", ahead.len());
        assert_eq!(counted - before, 10, "the loop read exactly what was asked");
        assert_eq!(rest, sent[10..], "the rest, in order");
        drop(_client);
        lp.run().unwrap();
        assert_clean(&lp);
    });
}

#[test]
fn a_reader_that_always_finds_data_still_yields_to_the_loop() {
    yields_to_the_loop(false);
}

#[test]
fn a_readable_try_read_loop_that_always_finds_data_still_yields_to_the_loop() {
    yields_to_the_loop(true);
}

/// A task reads 64 KiB, all there already, 64 bytes at a time (with `read`, or with
/// `readable` and `try_read`): an immediate queued before it must run long before it ends.
fn yields_to_the_loop(try_read: bool) {
    with_timeout(10, move || {
        let mut lp = Loop::new().unwrap();
        let (mut conn, mut client) = tcp_pair(&mut lp);
        const TOTAL: usize = 64 * 1024;
        let sent = pattern(TOTAL);
        client.write_all(&sent).unwrap();
        // Let it all arrive, so that every read below finds data.
        std::thread::sleep(ms(50));
        let read = Rc::new(Cell::new(0usize));
        let at_immediate = Rc::new(Cell::new(None));
        let (r, a) = (Rc::clone(&read), Rc::clone(&at_immediate));
        let got = lp
            .block_on(async move {
                task::try_with_loop(|lp| {
                    lp.set_immediate(move |_| a.set(Some(r.get())));
                })
                .unwrap();
                let mut got = Vec::with_capacity(TOTAL);
                let mut buf = [0u8; 64];
                while got.len() < TOTAL {
                    let n = if try_read {
                        conn.readable().await.unwrap();
                        match conn.try_read(&mut buf).unwrap() {
                            Some(n) => n,
                            None => continue,
                        }
                    } else {
                        conn.read(&mut buf).await.unwrap()
                    };
                    assert!(n > 0, "EOF before the end");
                    got.extend_from_slice(&buf[..n]);
                    read.set(got.len());
                }
                got
            })
            .unwrap();
        assert_eq!(got, sent);
        let at = at_immediate.get().expect("the immediate ran");
        // A thousand reads each found data at once; the loop still had its turn (the check
        // phase ran the immediate) long before the last of them. (As for read callbacks: a
        // bounded run of reads per report, and a bounded number of pending passes before the
        // check phase.)
        assert!(
            at > 0 && at < TOTAL / 2,
            "the immediate ran after {at} bytes"
        );
        drop(client);
        lp.run().unwrap();
        assert_clean(&lp);
    });
}

#[test]
fn the_edge_reaches_a_stream_handed_to_another_task() {
    with_timeout(10, || {
        let mut lp = Loop::new().unwrap();
        let (conn, mut client) = tcp_pair(&mut lp);
        let slot: Rc<RefCell<Option<task::AsyncTcpStream>>> = Rc::new(RefCell::new(Some(conn)));
        let handed = Gate::default();
        let (s1, h1) = (Rc::clone(&slot), handed.clone());
        // Task A reads once (it waits, then gets "one"), then hands the stream over.
        let a = lp.spawn_local(async move {
            let mut conn = s1.borrow_mut().take().unwrap();
            let mut buf = [0u8; 16];
            let n = conn.read(&mut buf).await.unwrap();
            *s1.borrow_mut() = Some(conn);
            h1.fire();
            buf[..n].to_vec()
        });
        // Task B takes it and waits for "two", which comes only after the handover.
        let s2 = Rc::clone(&slot);
        let h2 = handed;
        let b = lp.spawn_local(async move {
            h2.wait().await;
            let mut conn = s2.borrow_mut().take().unwrap();
            let mut buf = [0u8; 16];
            let n = conn.read(&mut buf).await.unwrap();
            buf[..n].to_vec()
        });
        let writer = std::thread::spawn(move || {
            std::thread::sleep(ms(30));
            client.write_all(b"one").unwrap();
            std::thread::sleep(ms(100));
            client.write_all(b"two").unwrap();
            client
        });
        let (one, two) = lp
            .block_on(async move { (a.await.unwrap(), b.await.unwrap()) })
            .unwrap();
        let _client = writer.join().unwrap();
        assert_eq!(one, b"one");
        assert_eq!(two, b"two");
        drop(slot);
        lp.run().unwrap();
        assert_clean(&lp);
    });
}

/// Wakes the task it wraps: a waker of a combinator's own (it is not the task's waker).
struct Forward(Waker);

impl Wake for Forward {
    fn wake(self: Arc<Self>) {
        self.0.wake_by_ref();
    }
}

/// Polls `inner` with a [`Forward`] waker instead of the task's.
struct OwnWaker<F>(Pin<Box<F>>);

impl<F: Future> Future for OwnWaker<F> {
    type Output = F::Output;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let waker = Waker::from(Arc::new(Forward(cx.waker().clone())));
        self.0.as_mut().poll(&mut Context::from_waker(&waker))
    }
}

#[test]
fn a_read_polled_through_a_combinators_waker_is_woken_by_the_edge() {
    with_timeout(10, || {
        let mut lp = Loop::new().unwrap();
        let (mut conn, mut client) = tcp_pair(&mut lp);
        let writer = std::thread::spawn(move || {
            std::thread::sleep(ms(50));
            client.write_all(b"late").unwrap();
            client
        });
        let got = lp
            .block_on(async move {
                let mut buf = [0u8; 16];
                let n = OwnWaker(Box::pin(conn.read(&mut buf))).await.unwrap();
                buf[..n].to_vec()
            })
            .unwrap();
        let _client = writer.join().unwrap();
        assert_eq!(got, b"late");
        drop(_client);
        lp.run().unwrap();
        assert_clean(&lp);
    });
}

#[test]
fn eof_ends_reading_and_the_loop_with_it() {
    with_timeout(10, || {
        let mut lp = Loop::new().unwrap();
        let (mut conn, mut client) = tcp_pair(&mut lp);
        let writer = std::thread::spawn(move || {
            std::thread::sleep(ms(30));
            client.write_all(b"bye").unwrap();
            client.shutdown(std::net::Shutdown::Write).unwrap();
            client
        });
        let h = conn.handle();
        let (got, active) = lp
            .block_on(async move {
                let mut got = Vec::new();
                while let Some(chunk) = conn.read_chunk().await.unwrap() {
                    got.extend_from_slice(&chunk);
                }
                let active = task::try_with_loop(|lp| evloop::Handle::is_active(h, lp))
                    .unwrap()
                    .unwrap();
                // Kept open (not dropped) until after the check.
                drop(conn);
                (got, active)
            })
            .unwrap();
        let _client = writer.join().unwrap();
        assert_eq!(got, b"bye");
        assert!(!active, "reading stopped at EOF");
        lp.run().unwrap();
        assert_clean(&lp);
    });
}

#[test]
fn readable_then_try_read_reads_what_is_there_and_try_send_answers() {
    with_timeout(10, || {
        let mut lp = Loop::new().unwrap();
        let (mut conn, mut client) = tcp_pair(&mut lp);
        let writer = std::thread::spawn(move || {
            client.write_all(b"abc").unwrap();
            // The answer to "abc" first, then more.
            let mut back = [0u8; 3];
            std::io::Read::read_exact(&mut client, &mut back).unwrap();
            assert_eq!(&back, b"abc");
            std::thread::sleep(ms(30));
            client.write_all(b"de").unwrap();
            std::thread::sleep(ms(30));
            client.shutdown(std::net::Shutdown::Write).unwrap();
            client
        });
        let steps = lp
            .block_on(async move {
                let mut steps = Vec::new();
                let mut buf = [0u8; 16];
                loop {
                    conn.readable().await.unwrap();
                    match conn.try_read(&mut buf).unwrap() {
                        None => steps.push("nothing".to_owned()),
                        Some(0) => {
                            steps.push("eof".to_owned());
                            break;
                        }
                        Some(n) => {
                            steps.push(String::from_utf8_lossy(&buf[..n]).into_owned());
                            assert!(conn.try_send(&buf[..n]).unwrap(), "far below 64 KiB");
                            // Drained: nothing more until the peer sends again.
                            assert_eq!(conn.try_read(&mut buf).unwrap(), None);
                        }
                    }
                }
                // After EOF: EOF again, and nothing was read ahead.
                assert_eq!(conn.try_read(&mut buf).unwrap(), Some(0));
                conn.flush().await.unwrap();
                steps
            })
            .unwrap();
        let _client = writer.join().unwrap();
        // `readable` may complete when there is nothing after all ("nothing"): a spurious
        // report is allowed, a lost one is not.
        let data: Vec<&str> = steps
            .iter()
            .map(String::as_str)
            .filter(|s| *s != "nothing")
            .collect();
        assert_eq!(data, ["abc", "de", "eof"], "{steps:?}");
        lp.run().unwrap();
        assert_clean(&lp);
    });
}

#[test]
fn try_send_reports_backpressure_and_flush_waits_for_it() {
    with_timeout(10, || {
        let mut lp = Loop::new().unwrap();
        let (mut conn, mut client) = tcp_pair(&mut lp);
        let h = conn.handle();
        lp.block_on(async move { task::try_with_loop(|lp| h.set_send_buffer_size(lp, 8192)) })
            .unwrap()
            .unwrap()
            .unwrap();
        const N: usize = 256 * 1024;
        let sent = pattern(N);
        let reader = std::thread::spawn(move || {
            // Not reading at first: the server's queue fills.
            std::thread::sleep(ms(100));
            let mut got = vec![0u8; N];
            std::io::Read::read_exact(&mut client, &mut got).unwrap();
            got
        });
        let s = sent.clone();
        let (below, flushed, after) = lp
            .block_on(async move {
                let mut below = Vec::new();
                for part in s.chunks(16 * 1024) {
                    below.push(conn.try_send(part).unwrap());
                }
                conn.flush().await.unwrap();
                let flushed = task::try_with_loop(|lp| h.write_queue_size(lp))
                    .unwrap()
                    .unwrap();
                conn.shutdown().await.unwrap().unwrap();
                let after = conn.try_send(b"late").unwrap_err();
                (below, flushed, after)
            })
            .unwrap();
        let got = reader.join().unwrap();
        assert!(below[0], "the first 16 KiB are far below the mark");
        assert!(
            !*below.last().unwrap(),
            "256 KiB to a reader that waits: over the mark"
        );
        assert_eq!(flushed, 0, "flush waited for the queue");
        assert!(
            matches!(after, evloop::Error::InvalidState(_)),
            "a send after shutdown: {after:?}"
        );
        assert_eq!(got, sent, "every byte, in order");
        lp.run().unwrap();
        assert_clean(&lp);
    });
}

#[test]
fn try_read_in_a_tight_loop_reads_everything() {
    with_timeout(10, || {
        let mut lp = Loop::new().unwrap();
        let (mut conn, mut client) = tcp_pair(&mut lp);
        const TOTAL: usize = 64 * 1024;
        let sent = pattern(TOTAL);
        client.write_all(&sent).unwrap();
        std::thread::sleep(ms(50));
        let (got, waits) = lp
            .block_on(async move {
                let mut got = Vec::new();
                let mut buf = [0u8; 64];
                let mut waits = 0;
                // A thousand reads in one poll when the socket has it all: no await between.
                while got.len() < TOTAL {
                    match conn.try_read(&mut buf).unwrap() {
                        Some(n) => got.extend_from_slice(&buf[..n]),
                        None => {
                            waits += 1;
                            conn.readable().await.unwrap();
                        }
                    }
                }
                (got, waits)
            })
            .unwrap();
        assert_eq!(got, sent);
        assert!(waits <= 2, "waited {waits} times for bytes that were there");
        drop(client);
        lp.run().unwrap();
        assert_clean(&lp);
    });
}

/// `poll_readable` in a hand-written future, beside a flag set from outside (the echo
/// example's shape): the edge completes it with the bytes there for `try_read`; while it waits,
/// a wake of the waker it registered (a timer sets the flag) lets the same poll see the flag;
/// what the peer sends after that stays unread, and the loop closes clean.
#[test]
fn poll_readable_beside_a_stop_flag_in_one_poll_fn() {
    with_timeout(10, || {
        let mut lp = Loop::new().unwrap();
        let (mut conn, mut client) = tcp_pair(&mut lp);
        let stop = Rc::new(Cell::new(false));
        let waker: Rc<RefCell<Option<Waker>>> = Rc::default();
        let (s, w) = (Rc::clone(&stop), Rc::clone(&waker));
        let writer = std::thread::spawn(move || {
            client.write_all(b"abc").unwrap();
            client
        });
        let steps = lp
            .block_on(async move {
                let mut steps = Vec::new();
                let mut buf = [0u8; 16];
                loop {
                    let ready = std::future::poll_fn(|cx| match conn.poll_readable(cx) {
                        Poll::Pending if s.get() => Poll::Ready(None),
                        Poll::Pending => {
                            *w.borrow_mut() = Some(cx.waker().clone());
                            Poll::Pending
                        }
                        Poll::Ready(r) => Poll::Ready(Some(r)),
                    });
                    match ready.await {
                        Some(r) => {
                            r.unwrap();
                            match conn.try_read(&mut buf).unwrap() {
                                None => steps.push("nothing".to_owned()),
                                Some(n) => {
                                    steps.push(String::from_utf8_lossy(&buf[..n]).into_owned());
                                    // Drained: the next poll waits, and the stop comes then.
                                    let (s, w) = (Rc::clone(&s), Rc::clone(&w));
                                    task::try_with_loop(move |lp| {
                                        lp.set_timeout_once(ms(20), move |_| {
                                            s.set(true);
                                            if let Some(w) = w.borrow_mut().take() {
                                                w.wake();
                                            }
                                        })
                                    })
                                    .unwrap();
                                }
                            }
                        }
                        None => {
                            steps.push("stop".to_owned());
                            break;
                        }
                    }
                }
                steps
            })
            .unwrap();
        let mut client = writer.join().unwrap();
        client.write_all(b"late").unwrap();
        let data: Vec<&str> = steps
            .iter()
            .map(String::as_str)
            .filter(|s| *s != "nothing")
            .collect();
        assert_eq!(data, ["abc", "stop"], "{steps:?}");
        assert!(stop.get());
        assert!(waker.borrow().is_none(), "the timer took the waker");
        lp.run().unwrap();
        assert_clean(&lp);
    });
}
