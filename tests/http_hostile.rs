//! The HTTP server against hostile clients: panicking handlers, HTTP details, and the bounds
//! of `ServerConfig` (queued bytes, send progress, the connection cap, shutdown drains).
mod util;

use std::io::{BufReader, Write};

use evloop::http::ServerConfig;
use util::http::{connect, exchange, get, read_response, read_to_eof, serve};
use util::with_timeout;

/// A handler that panics on `/panic` and says hello otherwise.
fn panicky() -> impl FnMut(&mut evloop::Loop, evloop::http::Request, evloop::http::Responder) {
    |lp, req, res| {
        if req.path() == "/panic" {
            panic!("handler bug on purpose");
        }
        res.send(lp, 200, &[("Content-Type", "text/plain")], "hello")
    }
}

#[test]
fn a_panicking_handler_gets_a_500_and_close_and_other_connections_are_served() {
    with_timeout(20, || {
        let server = serve(ServerConfig::default(), panicky);
        let addr = server.addr;
        // A keep-alive client on another connection, opened before the panic.
        let mut other = connect(addr);
        other
            .write_all(b"GET /a HTTP/1.1\r\nHost: t\r\n\r\n")
            .unwrap();
        let mut other_reader = BufReader::new(other.try_clone().unwrap());
        assert_eq!(read_response(&mut other_reader, false).unwrap().status, 200);

        // The panicking request is pipelined between two good ones: the one before is
        // answered, the panic gets 500 + close, the one after is never run.
        let mut s = connect(addr);
        s.write_all(
            b"GET /1 HTTP/1.1\r\nHost: t\r\n\r\nGET /panic HTTP/1.1\r\nHost: t\r\n\r\n\
              GET /3 HTTP/1.1\r\nHost: t\r\n\r\n",
        )
        .unwrap();
        let bytes = read_to_eof(&mut s);
        let mut r = BufReader::new(&bytes[..]);
        let first = read_response(&mut r, false).unwrap();
        assert_eq!((first.status, first.text().as_str()), (200, "hello"));
        let second = read_response(&mut r, false).unwrap();
        assert_eq!(second.status, 500);
        assert_eq!(second.header("connection"), Some("close"));
        assert!(
            read_response(&mut r, false).is_err(),
            "nothing after the 500"
        );

        // The connection opened before is still served, and so is a fresh one.
        other
            .write_all(b"GET /b HTTP/1.1\r\nHost: t\r\n\r\n")
            .unwrap();
        assert_eq!(read_response(&mut other_reader, false).unwrap().status, 200);
        assert_eq!(get(addr, "/c").status, 200);
        let stats = server.stats();
        assert_eq!(stats.handler_panics, 1);
        assert_eq!(stats.requests, 5, "/3 was never dispatched");
    });
}

#[test]
fn absolute_form_targets_and_http_1_2_are_served() {
    with_timeout(20, || {
        let server = serve(ServerConfig::default(), || {
            |lp: &mut evloop::Loop, req: evloop::http::Request, res: evloop::http::Responder| {
                let body = format!("{} {:?}", req.path(), req.query());
                res.send(lp, 200, &[("Content-Type", "text/plain")], body)
            }
        });
        let bytes = exchange(
            server.addr,
            b"GET http://t:80/x/y?z=1 HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
        );
        let r = read_response(&mut BufReader::new(&bytes[..]), false).unwrap();
        assert_eq!((r.status, r.text().as_str()), (200, "/x/y Some(\"z=1\")"));
        let bytes = exchange(
            server.addr,
            b"GET /v HTTP/1.2\r\nHost: t\r\nConnection: close\r\n\r\n",
        );
        let text = String::from_utf8_lossy(&bytes);
        assert!(text.starts_with("HTTP/1.1 200 "), "{text}");
    });
}
