//! Response conveniences: empty header lists, text and JSON answers, `Method` at
//! `evloop::http`, and a streamed writer that waits for the client with `on_drain`.
mod util;

use std::io::{BufReader, Write};
use std::time::Duration;

use evloop::Loop;
use evloop::http::{Method, ResponseWriter, ServerConfig};
use util::http::{connect, get, read_response, serve};
use util::with_timeout;

const CHUNK: usize = 64 * 1024;
const CHUNKS: u32 = 128; // 8 MiB: far more than the socket buffers hold

/// Streams the body a chunk per loop iteration (so the loop writes in between and `write`
/// can tell when the client falls behind), parking the writer whenever it does; the last line
/// says how often it had to wait.
fn produce(lp: &mut Loop, mut w: ResponseWriter, left: u32, waits: u32) {
    if left == 0 {
        let _ = w.write(lp, format!("\nwaits {waits}\n"));
        return w.end(lp);
    }
    if w.write(lp, vec![b'x'; CHUNK]) {
        lp.set_immediate(move |lp| produce(lp, w, left - 1, waits));
    } else {
        w.on_drain(lp, move |lp, w| produce(lp, w, left - 1, waits + 1));
    }
}

#[test]
fn empty_headers_text_json_and_method_at_the_http_root() {
    with_timeout(30, || {
        let server = serve(ServerConfig::default(), || {
            |lp: &mut Loop, req: evloop::http::Request, res: evloop::http::Responder| {
                match (req.method(), req.path()) {
                    (Method::Get, "/empty") => res.send(lp, 204, &[], ""),
                    (Method::Get, "/text") => res.text(lp, 200, "hi"),
                    (Method::Get, "/json") => res.json(lp, 201, r#"{"ok":true}"#),
                    #[cfg(feature = "serde")]
                    (Method::Get, "/value") => {
                        let v = std::collections::BTreeMap::from([("n", 1), ("m", 2)]);
                        res.json_value(lp, 200, &v)
                    }
                    #[cfg(feature = "serde")]
                    (Method::Get, "/badvalue") => {
                        // Non-string map keys cannot be JSON object keys.
                        let v = std::collections::BTreeMap::from([(vec![1u8], 1)]);
                        res.json_value(lp, 200, &v)
                    }
                    (Method::Get, "/owned") => {
                        let headers = vec![("X-Owned".to_string(), "yes".to_string())];
                        res.send(lp, 200, &headers, "owned")
                    }
                    _ => res.send(lp, 404, &[], "no"),
                }
            }
        });
        let r = get(server.addr, "/empty");
        assert_eq!((r.status, r.body.len()), (204, 0));
        let r = get(server.addr, "/text");
        assert_eq!((r.status, r.text().as_str()), (200, "hi"));
        assert_eq!(r.header("content-type"), Some("text/plain; charset=utf-8"));
        let r = get(server.addr, "/json");
        assert_eq!((r.status, r.text().as_str()), (201, r#"{"ok":true}"#));
        assert_eq!(r.header("content-type"), Some("application/json"));
        #[cfg(feature = "serde")]
        {
            let r = get(server.addr, "/value");
            assert_eq!((r.status, r.text().as_str()), (200, r#"{"m":2,"n":1}"#));
            assert_eq!(r.header("content-type"), Some("application/json"));
            let r = get(server.addr, "/badvalue");
            assert_eq!(r.status, 500);
            assert!(
                r.text().starts_with("cannot serialise the answer: "),
                "{}",
                r.text()
            );
        }
        let r = get(server.addr, "/owned");
        assert_eq!(r.header("x-owned"), Some("yes"));
        assert_eq!(get(server.addr, "/nope").status, 404);
        server.shutdown(Duration::from_secs(5));
        server.join();
    });
}

#[test]
fn a_streamed_writer_waits_for_a_slow_client_with_on_drain_and_loses_nothing() {
    with_timeout(60, || {
        let server = serve(ServerConfig::default(), || {
            |lp: &mut Loop, _req: evloop::http::Request, res: evloop::http::Responder| {
                let w = res.start(lp, 200, &[("Content-Type", "application/octet-stream")]);
                produce(lp, w, CHUNKS, 0);
            }
        });
        let mut s = connect(server.addr);
        s.write_all(b"GET /stream HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
            .unwrap();
        std::thread::sleep(Duration::from_millis(300)); // fall behind on purpose
        let r = read_response(&mut BufReader::new(s), false).unwrap();
        let body = r.text();
        let tail = body.rsplit('\n').nth(1).unwrap().to_owned();
        assert_eq!(body.len(), CHUNK * CHUNKS as usize + tail.len() + 2);
        assert!(body[..CHUNK * CHUNKS as usize].bytes().all(|b| b == b'x'));
        let waits: u32 = tail.strip_prefix("waits ").unwrap().parse().unwrap();
        assert!(waits > 0, "the writer never had to wait: {tail}");
        server.shutdown(Duration::from_secs(5));
        server.join();
    });
}

/// Writes a chunk per iteration until the client pushes back (at most `turns`), then parks
/// the writer and reports, when it comes back, whether the connection still takes bytes.
fn fill(lp: &mut Loop, mut w: ResponseWriter, tx: std::sync::mpsc::Sender<bool>, turns: u32) {
    if turns > 0 && w.write(lp, vec![b'y'; CHUNK]) {
        lp.set_immediate(move |lp| fill(lp, w, tx, turns - 1));
        return;
    }
    w.on_drain(lp, move |lp, mut w| {
        // The client stopped reading and then reset: the writer comes back on the close.
        let _ = tx.send(w.is_connected() || w.write(lp, "more"));
        w.end(lp);
    });
}

#[test]
fn on_drain_hands_the_writer_back_when_the_client_is_gone() {
    with_timeout(30, || {
        let (tx, rx) = std::sync::mpsc::channel::<bool>();
        let server = serve(ServerConfig::default(), move || {
            move |lp: &mut Loop, _req: evloop::http::Request, res: evloop::http::Responder| {
                let w = res.start(lp, 200, &[]);
                fill(lp, w, tx.clone(), 1000);
            }
        });
        let mut s = connect(server.addr);
        s.write_all(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n").unwrap();
        std::thread::sleep(Duration::from_millis(500));
        socket2::SockRef::from(&s)
            .set_linger(Some(Duration::ZERO))
            .unwrap();
        drop(s); // a reset: the server's writes fail and the connection closes
        let still_going = rx
            .recv_timeout(Duration::from_secs(20))
            .expect("writer handed back");
        assert!(!still_going, "a closed connection reads as closed");
        server.shutdown(Duration::from_secs(5));
        server.join();
    });
}
