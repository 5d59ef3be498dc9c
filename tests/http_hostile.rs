//! The HTTP server against hostile clients: panicking handlers, HTTP details, and the bounds
//! of `ServerConfig` (queued bytes, send progress, the connection cap, shutdown drains).
mod util;

use std::io::{BufReader, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

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
        let reports = server.report_panics();
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
        // Reported with the handler's site (where `Server::listen` was called) and the client.
        let report = reports
            .recv_timeout(Duration::from_secs(5))
            .expect("a report");
        assert_eq!(report.message, "handler bug on purpose");
        assert!(report.site.file().ends_with("util/http.rs"), "{report}");
        assert_eq!(report.peer, s.local_addr().unwrap());
        assert!(report.to_string().contains("answered 500"), "{report}");
        assert!(reports.try_recv().is_err(), "one panic, one report");
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

/// Polls `f` every 5 ms until it holds; fails after `secs`.
fn wait_until(secs: u64, what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn at_the_cap_the_oldest_silent_connection_makes_room_for_a_fresh_client() {
    with_timeout(30, || {
        let mut config = ServerConfig::default();
        config.max_connections = 64;
        let server = serve(config, util::http::hello);
        let addr = server.addr;
        // One client that has completed a request (it is not evicted), then silent ones up
        // to the cap.
        let mut proven = connect(addr);
        proven
            .write_all(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
            .unwrap();
        let mut proven_reader = BufReader::new(proven.try_clone().unwrap());
        assert_eq!(
            read_response(&mut proven_reader, false).unwrap().status,
            200
        );
        let silent: Vec<TcpStream> = (0..63).map(|_| connect(addr)).collect();
        wait_until(10, "64 open connections", || {
            server.stats().connections_open == 64
        });
        // Fresh clients are served (and stay open), each evicting the oldest silent one.
        let mut fresh = Vec::new();
        for _ in 0..3 {
            let mut c = connect(addr);
            c.write_all(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n").unwrap();
            let mut r = BufReader::new(c.try_clone().unwrap());
            assert_eq!(read_response(&mut r, false).unwrap().status, 200);
            fresh.push(c);
        }
        let stats = server.stats();
        assert_eq!(stats.connections_evicted, 3);
        assert_eq!(stats.connections_rejected, 0);
        // The evicted ones are the oldest: the first three silent clients see the close.
        for (i, mut s) in silent.into_iter().enumerate().take(4) {
            s.set_read_timeout(Some(Duration::from_millis(300)))
                .unwrap();
            let closed = match s.read(&mut [0u8; 16]) {
                Ok(0) => true,
                Err(e) => e.kind() == std::io::ErrorKind::ConnectionReset,
                Ok(_) => panic!("silent client {i} got bytes"),
            };
            assert_eq!(closed, i < 3, "silent client {i}");
        }
        // The client that sent a request is still served on its connection.
        proven
            .write_all(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
            .unwrap();
        assert_eq!(
            read_response(&mut proven_reader, false).unwrap().status,
            200
        );
    });
}

#[test]
fn max_connections_per_ip_closes_one_too_many_from_an_address() {
    with_timeout(30, || {
        let mut config = ServerConfig::default();
        config.max_connections_per_ip = Some(2);
        let server = serve(config, util::http::hello);
        let addr = server.addr;
        let a = connect(addr);
        let b = connect(addr);
        wait_until(10, "two open connections", || {
            server.stats().connections_open == 2
        });
        let mut c = connect(addr);
        assert_eq!(read_to_eof(&mut c), b"", "the third is closed unanswered");
        assert_eq!(server.stats().connections_rejected, 1);
        drop((a, b));
        wait_until(10, "the two to close", || {
            server.stats().connections_open == 0
        });
        assert_eq!(get(addr, "/").status, 200);
    });
}

#[test]
fn a_client_that_stops_reading_is_closed_by_the_send_timeout() {
    with_timeout(30, || {
        let mut config = ServerConfig::default();
        config.send_timeout = Duration::from_millis(300);
        let server = serve(config, || {
            |lp: &mut evloop::Loop, _req: evloop::http::Request, res: evloop::http::Responder| {
                // Far more than the loopback socket buffers hold.
                res.send(
                    lp,
                    200,
                    &[("Content-Type", "application/octet-stream")],
                    vec![7u8; 64 << 20],
                )
            }
        });
        let mut s = connect(server.addr);
        s.write_all(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n").unwrap();
        let started = Instant::now();
        wait_until(10, "the send timeout", || server.stats().send_timeouts == 1);
        let waited = started.elapsed();
        assert!(
            waited >= Duration::from_millis(300),
            "closed after {waited:?}"
        );
        wait_until(10, "the connection to close", || {
            server.stats().connections_open == 0
        });
        // The client got part of the body, then the close: never all of it.
        let got = read_to_eof(&mut s);
        assert!(got.len() < 64 << 20, "{} bytes", got.len());
    });
}

#[test]
fn pipelined_requests_wait_while_responses_are_over_the_high_water_mark() {
    with_timeout(60, || {
        let server = serve(ServerConfig::default(), || {
            |lp: &mut evloop::Loop, _req: evloop::http::Request, res: evloop::http::Responder| {
                res.send(
                    lp,
                    200,
                    &[("Content-Type", "application/octet-stream")],
                    vec![1u8; 4 << 20],
                )
            }
        });
        let mut s = connect(server.addr);
        let one = b"GET / HTTP/1.1\r\nHost: t\r\n\r\n";
        s.write_all(&one.repeat(32)).unwrap();
        // Not reading: the server runs handlers only while the answers fit.
        std::thread::sleep(Duration::from_millis(500));
        let dispatched = server.stats().requests;
        assert!(
            (1..=4).contains(&dispatched),
            "{dispatched} of 32 handlers ran with nobody reading (each answer is 4 MiB)"
        );
        // Reading, every answer arrives complete and in order.
        let mut r = BufReader::new(s);
        for i in 0..32 {
            let resp = read_response(&mut r, false).unwrap();
            assert_eq!(
                (resp.status, resp.body.len()),
                (200, 4 << 20),
                "response {i}"
            );
        }
        assert_eq!(server.stats().requests, 32);
    });
}

/// Reads until EOF; `Err` on a reset.
fn read_until_fin(s: &mut TcpStream) -> std::io::Result<Vec<u8>> {
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match s.read(&mut buf)? {
            0 => return Ok(out),
            n => out.extend_from_slice(&buf[..n]),
        }
    }
}

#[test]
fn requests_received_before_a_shutdown_get_an_answer_or_a_fin_never_a_reset() {
    with_timeout(60, || {
        let (mut answered, mut fins) = (0, 0);
        for round in 0..5 {
            let server = serve(ServerConfig::default(), util::http::hello);
            let addr = server.addr;
            let mut clients: Vec<TcpStream> = (0..40).map(|_| connect(addr)).collect();
            for c in &mut clients {
                c.write_all(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n").unwrap();
                let mut r = BufReader::new(c.try_clone().unwrap());
                assert_eq!(read_response(&mut r, false).unwrap().status, 200);
            }
            // Keep-alive clients send their next request as the shutdown starts.
            for c in &mut clients {
                c.write_all(b"GET /next HTTP/1.1\r\nHost: t\r\n\r\n")
                    .unwrap();
            }
            server.shutdown(Duration::from_secs(5));
            for (i, mut c) in clients.into_iter().enumerate() {
                let bytes = read_until_fin(&mut c)
                    .unwrap_or_else(|e| panic!("round {round} client {i}: {e} instead of a FIN"));
                if bytes.is_empty() {
                    fins += 1;
                } else {
                    // One whole answer (with `Connection: close` unless it went out before the
                    // shutdown began), then the FIN.
                    let mut r = BufReader::new(&bytes[..]);
                    let resp = read_response(&mut r, false).unwrap();
                    assert_eq!(resp.status, 200, "round {round} client {i}");
                    assert!(read_response(&mut r, false).is_err(), "one answer only");
                    answered += 1;
                }
            }
            server.join();
        }
        // The requests were on the wire before the shutdown: they are answered, not dropped.
        assert!(answered > 0, "{answered} answered, {fins} FINs");
    });
}
