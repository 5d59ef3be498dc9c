//! TCP streams, closing: queued and finished write callbacks before the close callback,
//! half-close, many streams closed at once, a panicking callback while closing.
mod util;

use std::time::Duration;

use evloop::net::ReadEvent;
use evloop::{Handle, Loop};
use util::net::{any_port, silent_server, sink_with_clients};
use util::{Trace, assert_clean, with_timeout};

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
                // Close callbacks run last closed, first called: `a` (closed last) runs first.
                let tb = t.clone();
                b.close(lp, move |_| tb.push("b closed")).unwrap();
                let ta = t.clone();
                a.close(lp, move |_| ta.push("a closed")).unwrap();
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
