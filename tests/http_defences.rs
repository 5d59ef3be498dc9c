//! Every limit and RFC 9112 defence, as raw bytes on the wire: the server answers the status
//! with `Connection: close` and then closes (the client reads until EOF).
mod util;

use std::io::{BufReader, Write};
use std::time::Duration;

use evloop::http::ServerConfig;
use util::http::{TestServer, connect, exchange, hello, read_response, read_to_eof, serve};
use util::with_timeout;

/// Sends `raw`, reads to EOF, and checks the one answer is `status` with `Connection: close`.
fn refused(server: &TestServer, raw: &[u8], status: u16) {
    let bytes = exchange(server.addr, raw);
    let mut r = BufReader::new(&bytes[..]);
    let resp = read_response(&mut r, false)
        .unwrap_or_else(|e| panic!("{e}: {:?}", String::from_utf8_lossy(raw)));
    assert_eq!(
        resp.status,
        status,
        "for {:?}",
        String::from_utf8_lossy(raw)
    );
    assert_eq!(resp.header("connection"), Some("close"));
    assert!(
        read_response(&mut r, false).is_err(),
        "nothing follows the refusal"
    );
}

fn head_with(extra: &str) -> Vec<u8> {
    format!("GET / HTTP/1.1\r\nHost: t\r\n{extra}\r\n").into_bytes()
}

#[test]
fn limits() {
    with_timeout(30, || {
        let server = serve(ServerConfig::default(), hello);
        // Header bytes over 16 KiB.
        let big = format!("X-Big: {}\r\n", "a".repeat(17 * 1024));
        refused(&server, &head_with(&big), 431);
        // More than 100 header fields.
        let many: String = (0..101).map(|i| format!("X-{i}: v\r\n")).collect();
        refused(&server, &head_with(&many), 431);
        // Request-target over 8 KiB.
        let long = format!(
            "GET /{} HTTP/1.1\r\nHost: t\r\n\r\n",
            "a".repeat(8 * 1024 + 1)
        );
        refused(&server, long.as_bytes(), 414);
        // Body over 1 MiB, announced...
        refused(&server, &head_with("Content-Length: 1048577\r\n"), 413);
        // ...or found while reading chunks.
        let mut chunked = head_with("Transfer-Encoding: chunked\r\n");
        chunked.extend_from_slice(b"100001\r\n");
        chunked.extend_from_slice(&vec![b'x'; 0x100001]);
        refused(&server, &chunked, 413);
    });
}

#[test]
fn smuggling_and_syntax_defences() {
    with_timeout(30, || {
        let server = serve(ServerConfig::default(), hello);
        let cases: &[(&[u8], u16)] = &[
            (b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400),
            (b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd", 400),
            (b"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 400),
            (b"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcX\r\n", 400),
            (b"GET / HTTP/1.1\r\nHost: t\r\nX-A: a\r\n  folded\r\n\r\n", 400),
            (b"GET / HTTP/1.1\r\nHost: t\r\nX-A : a\r\n\r\n", 400),
            (b"GET / HTTP/1.1\r\nHost: t\r\nX-A: a\rb\r\n\r\n", 400),
            (b"GET / HTTP/1.1\r\n\r\n", 400),
            (b"GET / HTTP/2.0\r\nHost: t\r\n\r\n", 505),
            (b"GET / HTTP/9.9\r\nHost: t\r\n\r\n", 505),
            (b"BREW / HTTP/1.1\r\nHost: t\r\n\r\n", 501),
            (b"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 501),
            (b"GET / HTTP/1.1\r\nHost: t\r\nExpect: tea\r\n\r\n", 417),
            (b"\x00\x01garbage\r\n\r\n", 400),
        ];
        for (raw, status) in cases {
            refused(&server, raw, *status);
        }
    });
}

#[test]
fn a_refusal_after_a_good_request_comes_after_its_answer() {
    with_timeout(20, || {
        let server = serve(ServerConfig::default(), hello);
        let raw = b"GET / HTTP/1.1\r\nHost: t\r\n\r\nGET / HTTP/1.1\r\nX-A : a\r\n\r\n";
        let bytes = exchange(server.addr, raw);
        let mut r = BufReader::new(&bytes[..]);
        assert_eq!(read_response(&mut r, false).unwrap().status, 200);
        assert_eq!(read_response(&mut r, false).unwrap().status, 400);
    });
}

#[test]
fn random_bytes_never_hang_or_crash_the_server() {
    with_timeout(60, || {
        let server = serve(ServerConfig::default(), hello);
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let alphabet = b"GET / HTTP/1.1\r\n:Host-Length0123456789abcdef ;\t\x00\xff";
        for _ in 0..200 {
            let len = (next() % 300) as usize;
            let raw: Vec<u8> = (0..len)
                .map(|_| alphabet[(next() % alphabet.len() as u64) as usize])
                .collect();
            let mut s = connect(server.addr);
            let _ = s.write_all(&raw);
            // Half-close: the server answers what it can and closes, or closes at once.
            let _ = s.shutdown(std::net::Shutdown::Write);
            let _ = read_to_eof(&mut s);
        }
        // Still serving.
        let r = util::http::get(server.addr, "/");
        assert_eq!(r.status, 200);
    });
}

#[test]
fn body_timeout_answers_408() {
    with_timeout(20, || {
        let mut config = ServerConfig::default();
        config.body_timeout = Duration::from_millis(200);
        let server = serve(config, hello);
        let mut s = connect(server.addr);
        s.write_all(b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\nabc")
            .unwrap();
        let bytes = read_to_eof(&mut s);
        assert_eq!(util::http::status_of(&bytes), 408);
    });
}

#[test]
fn a_huge_refused_body_still_gets_its_answer() {
    with_timeout(30, || {
        // The client keeps sending after the 413: the server drains before closing, so the
        // answer is not destroyed by a reset.
        let server = serve(ServerConfig::default(), hello);
        let s = connect(server.addr);
        let mut w = s.try_clone().unwrap();
        let writer = std::thread::spawn(move || {
            let _ =
                w.write_all(b"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n");
            let chunk = vec![b'x'; 64 * 1024];
            for _ in 0..40 {
                if w.write_all(b"10000\r\n").is_err() || w.write_all(&chunk).is_err() {
                    break;
                }
                let _ = w.write_all(b"\r\n");
            }
            let _ = w.shutdown(std::net::Shutdown::Write);
        });
        let mut r = BufReader::new(s);
        let resp = read_response(&mut r, false).unwrap();
        assert_eq!(resp.status, 413);
        writer.join().unwrap();
    });
}
