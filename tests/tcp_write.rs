//! TCP streams, writing: big writes in order, the write queue and its callbacks,
//! backpressure and drain, `try_write`.
mod util;

use std::cell::{Cell, RefCell};
use std::io::{ErrorKind, IoSlice};
use std::rc::Rc;
use std::time::Duration;

use evloop::net::ReadEvent;
use evloop::{Error, Handle, Loop};
use util::net::{any_port, silent_server, sink_server};
use util::{Counter, Trace, assert_clean, with_timeout};

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
