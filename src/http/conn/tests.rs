use super::*;
use crate::http::conn::pipeline::Fields;
use crate::http::response::EncodeError;
use std::time::Duration;

const DATE: [u8; HTTP_DATE_LEN] = *b"Sun, 06 Nov 1994 08:49:37 GMT";
const TEXT: &Fields<'static> = &[(b"Content-Type", b"text/plain")];

struct Harness {
    conn: Conn,
    base: Instant,
    now: Now,
}

impl Harness {
    fn new() -> Self {
        Self::with(|_| {})
    }

    fn with(tweak: impl FnOnce(&mut ServerConfig)) -> Self {
        let mut cfg = ServerConfig::default();
        tweak(&mut cfg);
        let base = Instant::now();
        Self {
            conn: Conn::new(Rc::new(cfg), base),
            base,
            now: Now {
                at: base,
                date: DATE,
            },
        }
    }

    fn at(&mut self, ms: u64) {
        self.now.at = self.base + Duration::from_millis(ms);
    }

    fn feed(&mut self, bytes: &[u8]) {
        self.conn.on_data(bytes, &self.now);
    }

    fn seqs(&mut self) -> Vec<u64> {
        std::iter::from_fn(|| self.conn.take_dispatch())
            .map(|d| d.seq)
            .collect()
    }

    fn dispatch(&mut self) -> Dispatch {
        self.conn.take_dispatch().expect("a dispatched request")
    }

    fn send(&mut self, seq: u64, body: &'static str) {
        let sent = self
            .conn
            .send(seq, 200, TEXT, WriteBuf::from(body), false, &self.now);
        assert_eq!(sent, Ok(true));
    }

    fn output(&mut self) -> String {
        let pieces = self.conn.take_output(self.now.at);
        if !pieces.is_empty() {
            self.conn.on_write_done(self.now.at);
        }
        let bytes: Vec<u8> = pieces.iter().flat_map(|p| p.as_slice().to_vec()).collect();
        String::from_utf8(bytes).expect("utf-8 output")
    }
}

fn ok(body: &str) -> String {
    format!(
        "HTTP/1.1 200 OK\r\nDate: Sun, 06 Nov 1994 08:49:37 GMT\r\nContent-Type: text/plain\r\n\
         Content-Length: {}\r\n\r\n{body}",
        body.len()
    )
}

const GET: &[u8] = b"GET / HTTP/1.1\r\nHost: a\r\n\r\n";

#[test]
fn one_request_one_response_keep_alive() {
    let mut h = Harness::new();
    assert_eq!(h.conn.deadline(), Some(h.base + Duration::from_secs(10)));
    h.feed(GET);
    let d = h.dispatch();
    assert_eq!(d.head.target(), "/");
    assert_eq!(h.conn.deadline(), None, "the handler has no deadline");
    h.at(100);
    h.send(d.seq, "hi");
    assert_eq!(h.output(), ok("hi"));
    assert_eq!(h.conn.life(), Life::Open);
    assert!(h.conn.wants_read());
    assert_eq!(
        h.conn.deadline(),
        Some(h.base + Duration::from_millis(5100))
    );
    // A second answer to the same request is ignored.
    let again = h
        .conn
        .send(d.seq, 200, TEXT, WriteBuf::from(b"x"), false, &h.now);
    assert_eq!(again, Ok(false));
    assert_eq!(h.output(), "");
}

#[test]
fn pipelined_responses_leave_in_request_order() {
    let mut h = Harness::new();
    let mut input = Vec::new();
    for _ in 0..3 {
        input.extend_from_slice(GET);
    }
    h.feed(&input);
    let seqs = h.seqs();
    assert_eq!(seqs.len(), 3);
    h.send(seqs[2], "c");
    assert_eq!(h.output(), "", "held back behind earlier responses");
    h.send(seqs[0], "a");
    assert_eq!(h.output(), ok("a"));
    h.send(seqs[1], "b");
    assert_eq!(h.output(), ok("b") + &ok("c"));
}

#[test]
fn an_answered_front_releases_every_finished_response_behind_it_and_stops_at_a_waiting_one() {
    let mut h = Harness::new();
    h.feed(&GET.repeat(5));
    let seqs = h.seqs();
    assert_eq!(seqs.len(), 5);
    h.send(seqs[1], "b");
    h.send(seqs[3], "d");
    assert_eq!(h.output(), "", "held back behind the first response");
    h.send(seqs[0], "a");
    assert_eq!(
        h.output(),
        ok("a") + &ok("b"),
        "stops at the unanswered third"
    );
    h.send(seqs[2], "c");
    assert_eq!(h.output(), ok("c") + &ok("d"));
    h.send(seqs[4], "e");
    assert_eq!(h.output(), ok("e"), "answered in turn, straight out");
}

#[test]
fn dribbled_request_and_body() {
    let mut h = Harness::new();
    let req = b"POST /p HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhelloGET";
    for b in req.iter() {
        h.feed(std::slice::from_ref(b));
    }
    let d = h.dispatch();
    assert_eq!(d.head.body(), b"hello");
    assert!(h.conn.take_dispatch().is_none());
    h.feed(b" / HTTP/1.1\r\nHost: a\r\n\r\n");
    assert_eq!(h.seqs().len(), 1);
}

#[test]
fn chunked_body_then_pipelined_request_in_one_read() {
    let mut h = Harness::new();
    let mut req = b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n\
                    3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n"
        .to_vec();
    req.extend_from_slice(GET);
    h.feed(&req);
    let first = h.dispatch();
    assert_eq!(first.head.body(), b"abcde");
    let second = h.dispatch();
    assert!(second.head.body().is_empty());
}

#[test]
fn connection_close_half_closes_then_lingers() {
    let mut h = Harness::new();
    h.feed(b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\nGET / HTTP/1.1\r\n\r\n");
    let seqs = h.seqs();
    assert_eq!(seqs.len(), 1, "nothing is read after a closing request");
    h.send(seqs[0], "x");
    let out = h.conn.take_output(h.now.at);
    let text: Vec<u8> = out.iter().flat_map(|p| p.as_slice().to_vec()).collect();
    assert!(String::from_utf8_lossy(&text).contains("Connection: close\r\n"));
    assert_eq!(h.conn.life(), Life::ShutdownWrite);
    h.conn.on_write_done(h.now.at);
    h.at(50);
    h.conn.on_shutdown_done(h.now.at);
    assert_eq!(h.conn.life(), Life::Lingering(h.now.at));
    assert!(h.conn.wants_read());
    assert_eq!(h.conn.deadline(), Some(h.now.at + Duration::from_secs(2)));
    h.conn.on_eof();
    assert_eq!(h.conn.life(), Life::Close);
}

#[test]
fn http10_closes_unless_keep_alive_asked() {
    let mut h = Harness::new();
    h.feed(b"GET / HTTP/1.0\r\n\r\n");
    let d = h.dispatch();
    h.send(d.seq, "x");
    assert!(h.output().contains("Connection: close\r\n"));
    assert_eq!(h.conn.life(), Life::ShutdownWrite);

    let mut h = Harness::new();
    h.feed(b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    let d = h.dispatch();
    h.send(d.seq, "x");
    assert!(h.output().contains("Connection: keep-alive\r\n"));
    assert_eq!(h.conn.life(), Life::Open);
}

#[test]
fn head_gets_length_but_no_body() {
    let mut h = Harness::new();
    h.feed(b"HEAD / HTTP/1.1\r\nHost: a\r\n\r\n");
    let d = h.dispatch();
    h.send(d.seq, "hello");
    let out = h.output();
    assert!(out.ends_with("Content-Length: 5\r\n\r\n"), "{out}");
}

#[test]
fn malformed_request_gets_status_after_earlier_responses_then_close() {
    let mut h = Harness::new();
    let mut input = GET.to_vec();
    input.extend_from_slice(
        b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n",
    );
    h.feed(&input);
    let d = h.dispatch();
    assert!(h.conn.take_dispatch().is_none());
    assert_eq!(h.output(), "", "the 400 waits for the first response");
    h.send(d.seq, "a");
    let out = h.output();
    assert!(out.starts_with(&ok("a")));
    assert!(out[ok("a").len()..].starts_with("HTTP/1.1 400 Bad Request\r\n"));
    assert!(out.contains("Connection: close\r\n"));
    assert_eq!(h.conn.life(), Life::ShutdownWrite);
    h.feed(GET);
    assert!(h.conn.take_dispatch().is_none());
}

#[test]
fn unknown_methods_and_expectations() {
    let mut h = Harness::new();
    h.feed(b"BREW / HTTP/1.1\r\nHost: a\r\n\r\n");
    assert!(h.conn.take_dispatch().is_none());
    assert!(h.output().starts_with("HTTP/1.1 501 Not Implemented\r\n"));

    let mut h = Harness::with(|c| c.allow_unknown_methods = true);
    h.feed(b"BREW / HTTP/1.1\r\nHost: a\r\n\r\n");
    assert_eq!(
        h.dispatch().head.meta().method,
        Method::Other("BREW".into())
    );

    let mut h = Harness::new();
    h.feed(b"GET / HTTP/1.1\r\nHost: a\r\nExpect: tea\r\n\r\n");
    assert!(
        h.output()
            .starts_with("HTTP/1.1 417 Expectation Failed\r\n")
    );
}

#[test]
fn continue_is_sent_at_once_or_after_earlier_responses() {
    let mut h = Harness::new();
    h.feed(b"POST / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n");
    assert_eq!(h.output(), "HTTP/1.1 100 Continue\r\n\r\n");
    h.feed(b"ok");
    assert_eq!(h.dispatch().head.body(), b"ok");

    let mut h = Harness::new();
    h.feed(GET);
    let first = h.dispatch();
    h.feed(b"POST / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n");
    assert_eq!(h.output(), "");
    h.send(first.seq, "a");
    assert_eq!(h.output(), ok("a") + "HTTP/1.1 100 Continue\r\n\r\n");

    let mut h = Harness::new();
    h.feed(
        b"POST / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 2000000\r\n\r\n",
    );
    assert!(h.output().starts_with("HTTP/1.1 413 "));
}

#[test]
fn header_timeout_answers_408_and_idle_timeout_closes_quietly() {
    let mut h = Harness::with(|c| c.header_timeout = Duration::from_millis(300));
    h.at(1000);
    h.feed(b"GET / HTTP/1.1\r\nHo");
    assert_eq!(
        h.conn.deadline(),
        Some(h.base + Duration::from_millis(1300))
    );
    h.at(1200);
    h.feed(b"st: a\r\n");
    h.conn.on_timer(&h.now);
    assert_eq!(h.conn.life(), Life::Open, "early timer: nothing happens");
    h.at(1300);
    h.conn.on_timer(&h.now);
    assert!(h.output().starts_with("HTTP/1.1 408 Request Timeout\r\n"));
    assert_eq!(h.conn.life(), Life::ShutdownWrite);

    let mut h = Harness::new();
    h.feed(GET);
    let d = h.dispatch();
    h.send(d.seq, "a");
    h.output();
    h.at(5000);
    h.conn.on_timer(&h.now);
    assert_eq!(h.conn.life(), Life::Close);
    assert_eq!(h.output(), "");
}

#[test]
fn body_timeout() {
    let mut h = Harness::with(|c| c.body_timeout = Duration::from_millis(500));
    h.feed(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\nabc");
    assert_eq!(h.conn.deadline(), Some(h.base + Duration::from_millis(500)));
    h.at(500);
    h.conn.on_timer(&h.now);
    assert!(h.output().starts_with("HTTP/1.1 408 "));
}

#[test]
fn pipeline_limit_pauses_reading() {
    let mut h = Harness::with(|c| c.max_pipelined = 2);
    let input: Vec<u8> = GET.iter().copied().cycle().take(GET.len() * 3).collect();
    h.feed(&input);
    let seqs = h.seqs();
    assert_eq!(seqs.len(), 2);
    assert!(!h.conn.wants_read());
    assert_eq!(h.conn.deadline(), None);
    h.send(seqs[0], "a");
    let third = h.seqs();
    assert_eq!(third.len(), 1);
    assert!(!h.conn.wants_read(), "two pending again");
    h.send(seqs[1], "b");
    assert!(h.conn.wants_read());
}

#[test]
fn abandoned_requests() {
    let mut h = Harness::new();
    h.feed(GET);
    let d = h.dispatch();
    assert!(h.conn.abandon(d.seq, &h.now));
    assert!(
        h.output()
            .starts_with("HTTP/1.1 500 Internal Server Error\r\n")
    );
    assert_eq!(h.conn.life(), Life::Open);

    h.feed(GET);
    let d = h.dispatch();
    assert_eq!(h.conn.start(d.seq, 200, TEXT, false, &h.now), Ok(true));
    assert!(h.conn.write(d.seq, WriteBuf::from(b"part")));
    assert!(h.conn.abandon(d.seq, &h.now));
    let out = h.output();
    assert!(out.ends_with("4\r\npart\r\n"), "{out}");
    assert_eq!(h.conn.life(), Life::ShutdownWrite);
}

#[test]
fn streaming_is_chunked_for_11_and_close_delimited_for_10() {
    let mut h = Harness::new();
    h.feed(GET);
    let d = h.dispatch();
    assert_eq!(h.conn.start(d.seq, 200, TEXT, false, &h.now), Ok(true));
    assert!(h.conn.write(d.seq, WriteBuf::from(b"hello")));
    assert!(h.conn.end(d.seq, &h.now));
    let out = h.output();
    assert!(out.contains("Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"));
    assert_eq!(h.conn.life(), Life::Open);

    let mut h = Harness::new();
    h.feed(b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    let d = h.dispatch();
    assert_eq!(h.conn.start(d.seq, 200, TEXT, false, &h.now), Ok(true));
    assert!(h.conn.write(d.seq, WriteBuf::from(b"hello")));
    assert!(h.conn.end(d.seq, &h.now));
    let out = h.output();
    assert!(out.ends_with("Connection: close\r\n\r\nhello"), "{out}");
    assert_eq!(h.conn.life(), Life::ShutdownWrite);
}

#[test]
fn bad_response_heads_are_refused() {
    let mut h = Harness::new();
    h.feed(GET);
    let d = h.dispatch();
    let bad: &Fields<'_> = &[(b"X", b"a\r\nb")];
    let r = h
        .conn
        .send(d.seq, 200, bad, WriteBuf::from(b""), false, &h.now);
    assert_eq!(r, Err(EncodeError::InvalidHeaderValue));
    assert_eq!(h.output(), "");
    assert!(h.conn.abandon(d.seq, &h.now), "still answerable");
}

#[test]
fn drain_half_closes_idle_and_busy_after_the_last_response() {
    // Idle: reading ends once the drain settles, then a FIN and a linger, never a close with
    // a request unread (that would be a reset).
    let mut h = Harness::new();
    h.conn.drain(&h.now);
    assert_eq!(
        h.conn.life(),
        Life::Open,
        "reads under way are still taken in"
    );
    h.conn.settle_drain();
    assert_eq!(h.conn.life(), Life::ShutdownWrite);
    h.conn.on_shutdown_done(h.now.at);
    assert_eq!(h.conn.life(), Life::Lingering(h.now.at));
    h.conn.on_eof();
    assert_eq!(h.conn.life(), Life::Close);

    let mut h = Harness::new();
    h.feed(GET);
    h.feed(GET);
    let seqs = h.seqs();
    h.conn.drain(&h.now);
    h.conn.settle_drain();
    assert_eq!(h.conn.life(), Life::Open);
    h.send(seqs[0], "a");
    assert_eq!(h.output(), ok("a"));
    h.send(seqs[1], "b");
    assert!(h.output().contains("Connection: close\r\n"));
    assert_eq!(h.conn.life(), Life::ShutdownWrite);
}

#[test]
fn a_request_read_before_the_drain_settles_is_answered_with_close() {
    let mut h = Harness::new();
    h.conn.drain(&h.now);
    h.feed(GET); // arrived in the same iteration as the shutdown
    let seqs = h.seqs();
    assert_eq!(seqs.len(), 1);
    h.conn.settle_drain();
    h.send(seqs[0], "late");
    let out = h.output();
    assert!(out.contains("Connection: close\r\n"), "{out}");
    assert!(out.ends_with("late"), "{out}");
    assert_eq!(h.conn.life(), Life::ShutdownWrite);
}

#[test]
fn eof_answers_complete_requests_then_closes() {
    let mut h = Harness::new();
    let mut input = GET.to_vec();
    input.extend_from_slice(b"GET / HT");
    h.feed(&input);
    h.conn.on_eof();
    let d = h.dispatch();
    assert_eq!(h.conn.life(), Life::Open);
    assert!(!h.conn.wants_read());
    h.send(d.seq, "a");
    assert_eq!(h.conn.life(), Life::ShutdownWrite);
    h.output();
    h.conn.on_shutdown_done(h.now.at);
    assert_eq!(h.conn.life(), Life::Close);
}

#[test]
fn eof_when_idle_closes_at_once() {
    let mut h = Harness::new();
    h.conn.on_eof();
    assert_eq!(h.conn.life(), Life::Close);
}

#[test]
fn requests_behind_a_closing_response_are_not_dispatched() {
    let mut h = Harness::new();
    let input: Vec<u8> = GET.iter().copied().cycle().take(GET.len() * 3).collect();
    h.feed(&input);
    let first = h.dispatch();
    let r = h
        .conn
        .send(first.seq, 200, TEXT, WriteBuf::from(b"x"), true, &h.now);
    assert_eq!(r, Ok(true));
    assert!(h.output().contains("Connection: close\r\n"));
    assert!(h.conn.take_dispatch().is_none());
    assert_eq!(h.conn.life(), Life::ShutdownWrite);
}

#[test]
fn the_send_timeout_counts_from_the_last_progress_and_closes_without_an_answer() {
    let mut h = Harness::with(|cfg| cfg.send_timeout = Duration::from_millis(500));
    h.feed(GET);
    let seqs = h.seqs();
    h.conn
        .send(
            seqs[0],
            200,
            TEXT,
            WriteBuf::from(vec![b'x'; 100_000]),
            false,
            &h.now,
        )
        .unwrap();
    let out = h.conn.take_output(h.now.at);
    assert!(!out.is_empty());
    h.conn.set_write_blocked(true);
    assert!(!h.conn.wants_read(), "reading waits for the socket");
    assert_eq!(h.conn.deadline(), Some(h.base + Duration::from_millis(500)));
    // The socket took some bytes at 400 ms: the timeout starts again.
    h.at(400);
    h.conn.on_send_progress(h.now.at);
    h.at(500);
    assert!(!h.conn.on_timer(&h.now), "not due any more");
    assert_eq!(h.conn.deadline(), Some(h.base + Duration::from_millis(900)));
    h.at(900);
    assert!(h.conn.on_timer(&h.now), "closed for the send timeout");
    assert_eq!(h.conn.life(), Life::Close);
}

#[test]
fn the_send_timeout_ends_once_everything_is_written() {
    let mut h = Harness::with(|cfg| cfg.send_timeout = Duration::from_millis(500));
    h.feed(GET);
    let seqs = h.seqs();
    h.conn
        .send(
            seqs[0],
            200,
            TEXT,
            WriteBuf::from(vec![b'x'; 100_000]),
            false,
            &h.now,
        )
        .unwrap();
    assert!(!h.conn.take_output(h.now.at).is_empty());
    assert!(h.conn.is_sending());
    h.at(100);
    h.conn.on_write_done(h.now.at);
    assert!(!h.conn.is_sending());
    // Idle now: the keep-alive timeout, not the send timeout.
    assert_eq!(
        h.conn.deadline(),
        Some(h.base + ServerConfig::default().idle_timeout)
    );
}

#[test]
fn dispatch_waits_while_answers_are_over_the_high_water_mark() {
    let mut h = Harness::with(|cfg| cfg.response_high_water = 1000);
    h.feed(&GET.repeat(3));
    let first = h.dispatch();
    h.conn
        .send(
            first.seq,
            200,
            TEXT,
            WriteBuf::from(vec![b'x'; 2000]),
            false,
            &h.now,
        )
        .unwrap();
    assert!(
        h.conn.take_dispatch().is_none(),
        "2 KB waiting: over the 1 KB mark"
    );
    assert!(!h.conn.wants_read());
    let out = h.conn.take_output(h.now.at);
    assert!(!out.is_empty());
    // Handed to the socket (which took it without pushing back): the rest go on.
    h.conn.resume(&h.now);
    assert_eq!(h.seqs().len(), 2);
}

#[test]
fn a_file_body_is_read_one_bounded_chunk_at_a_time_from_the_front() {
    let path = std::env::temp_dir().join(format!("evloop-conn-file-{}", std::process::id()));
    std::fs::write(&path, vec![b'f'; 10]).unwrap();
    let mut h = Harness::with(|cfg| cfg.file_chunk_bytes = 4);
    h.feed(&GET.repeat(2));
    let seqs = h.seqs();
    // The second answer is a file too, but waits behind the first: no read for it yet.
    for &seq in seqs.iter().rev() {
        let file = std::fs::File::open(&path).unwrap();
        assert_eq!(
            h.conn
                .send_file(seq, 200, TEXT, file, 10, false, None, &h.now),
            Ok(true)
        );
    }
    let mut body = Vec::new();
    for (offset, len) in [(0, 4), (4, 4), (8, 2)] {
        let read = h.conn.take_file_read().expect("a chunk is due");
        assert_eq!((read.seq, read.offset, read.len), (seqs[0], offset, len));
        assert!(h.conn.take_file_read().is_none(), "one read at a time");
        h.conn.on_file_chunk(read.seq, Ok(vec![b'f'; len]), &h.now);
        body.push(h.output());
    }
    let first = body.concat();
    assert!(first.starts_with("HTTP/1.1 200 OK\r\n"), "{first}");
    // The whole first body, then the second head (held until then), in order.
    assert!(
        first.contains("Content-Length: 10\r\n\r\nffffffffffHTTP/1.1 200 OK\r\n"),
        "{first}"
    );
    assert!(first.ends_with("Content-Length: 10\r\n\r\n"), "{first}");
    // The second file is at the front now. A short read (the file shrank) cuts it short.
    let read = h
        .conn
        .take_file_read()
        .expect("the second file's first chunk");
    assert_eq!((read.seq, read.offset), (seqs[1], 0));
    h.conn.on_file_chunk(read.seq, Ok(Vec::new()), &h.now);
    assert_eq!(h.output(), "", "nothing more of the second body");
    assert_eq!(
        h.conn.life(),
        Life::Close,
        "closes: the client sees an incomplete body"
    );
    let _ = std::fs::remove_file(path);
}

#[cfg(unix)]
#[test]
fn a_small_file_body_goes_out_behind_its_head_and_a_large_or_short_one_streams() {
    use crate::http::conn::pipeline::InlineFile;
    use std::cell::Cell;
    thread_local!(static READS: Cell<usize> = const { Cell::new(0) });
    /// An inline read that fills the buffer from the file (a plain read), counted.
    fn counted(file: &std::fs::File, buf: &mut [u8]) -> std::io::Result<usize> {
        READS.set(READS.get() + 1);
        std::os::unix::fs::FileExt::read_at(file, buf, 0)
    }
    let inline = Some(InlineFile {
        max: 8,
        read: counted,
    });
    let dir = std::env::temp_dir().join(format!("evloop-conn-inline-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let open = |name: &str, bytes: &[u8]| {
        std::fs::write(dir.join(name), bytes).unwrap();
        std::fs::File::open(dir.join(name)).unwrap()
    };
    let mut h = Harness::new();
    // GET small, HEAD small, GET large, GET of a file shorter than its length, pipelined;
    // answered last first, so all but the front are held.
    h.feed(&[GET, b"HEAD / HTTP/1.1\r\nHost: a\r\n\r\n", GET, GET].concat());
    let seqs = h.seqs();
    let files = [
        (open("short", b"abc"), 5),
        (open("large", b"0123456789"), 10),
        (open("head", b"hhhh"), 4),
        (open("small", b"ssss"), 4),
    ];
    for (&seq, (file, len)) in seqs.iter().rev().zip(files) {
        let sent = h
            .conn
            .send_file(seq, 200, TEXT, file, len, false, inline, &h.now);
        assert_eq!(sent, Ok(true));
    }
    // Read for the small file and the short one only: not for HEAD, not over `max`.
    assert_eq!(READS.get(), 2);
    let head = |len: usize| {
        format!(
            "HTTP/1.1 200 OK\r\nDate: Sun, 06 Nov 1994 08:49:37 GMT\r\nContent-Type: text/plain\r\n\
             Content-Length: {len}\r\n\r\n"
        )
    };
    // The small body is out with its head, and the HEAD answer behind it: no file read is due
    // for either. The large body streams next (its head is out, its body is read in chunks).
    let out = h.output();
    assert_eq!(out, format!("{}ssss{}{}", head(4), head(4), head(10)));
    let read = h.conn.take_file_read().expect("the large body streams");
    assert_eq!((read.seq, read.offset, read.len), (seqs[2], 0, 10));
    h.conn
        .on_file_chunk(read.seq, Ok(b"0123456789".to_vec()), &h.now);
    // The short file fell back to the streaming path, whose short read cuts it.
    assert_eq!(h.output(), format!("0123456789{}", head(5)));
    let read = h.conn.take_file_read().expect("the short file streams");
    assert_eq!((read.seq, read.offset, read.len), (seqs[3], 0, 5));
    h.conn.on_file_chunk(read.seq, Ok(Vec::new()), &h.now);
    assert_eq!(h.output(), "", "no byte of the short file was sent");
    assert_eq!(
        h.conn.life(),
        Life::Close,
        "the client sees an incomplete body"
    );
    let _ = std::fs::remove_dir_all(dir);
}
