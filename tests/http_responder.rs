//! Responders: answering later (timer, pool), dropping one, streaming, answering a closed
//! connection, and graceful shutdown with a slow request in flight.
mod util;

use std::io::{BufReader, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use evloop::Loop;
use evloop::http::{Request, Responder, ServerConfig};
use util::http::{connect, exchange, get, read_response, read_to_eof, serve};
use util::with_timeout;

fn routes() -> impl FnMut(&mut Loop, Request, Responder) + 'static {
    let mut held: Option<Responder> = None;
    move |lp, req, res| match req.path() {
        "/hold" => held = Some(res),
        "/release" => {
            // Answers another connection's request from inside this one's handler.
            if let Some(other) = held.take() {
                other.send(lp, 200, &[("Via", "release")], "released");
            }
            res.send(lp, 200, &[("Via", "now")], "done");
        }
        "/drop" => drop(res),
        "/timer" => {
            let mut res = Some(res);
            lp.set_timeout(Duration::from_millis(30), move |lp, _| {
                if let Some(res) = res.take() {
                    res.send(lp, 200, &[("Via", "timer")], "from a timer");
                }
            });
        }
        "/pool" => {
            lp.queue_work(
                || 6 * 7,
                move |lp, n| res.send(lp, 200, &[("Via", "pool")], format!("{}", n.unwrap_or(0))),
            );
        }
        "/stream" => {
            let mut w = res.start(lp, 200, &[("Content-Type", "text/plain")]);
            w.write(lp, "one ");
            let mut w = Some(w);
            lp.set_timeout(Duration::from_millis(20), move |lp, _| {
                if let Some(mut w) = w.take() {
                    w.write(lp, "two");
                    w.end(lp);
                }
            });
        }
        "/cut" => {
            let mut w = res.start(lp, 200, &[("Content-Type", "text/plain")]);
            w.write(lp, "partial");
        }
        "/slow" => {
            let mut res = Some(res);
            lp.set_timeout(Duration::from_millis(400), move |lp, _| {
                if let Some(res) = res.take() {
                    res.send(lp, 200, &[("Via", "slow")], "slow done");
                }
            });
        }
        "/close" => res.send(lp, 200, &[("Connection", "close")], "bye"),
        "/badheader" => res.send(lp, 200, &[("X", "a\r\nInjected: 1")], "x"),
        _ => res.send(lp, 200, &[("Via", "now")], "now"),
    }
}

#[test]
fn a_dropped_responder_answers_500_and_the_connection_lives_on() {
    with_timeout(20, || {
        let server = serve(ServerConfig::default(), routes);
        let raw = b"GET /drop HTTP/1.1\r\nHost: t\r\n\r\nGET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n";
        let bytes = exchange(server.addr, raw);
        let mut r = BufReader::new(&bytes[..]);
        assert_eq!(read_response(&mut r, false).unwrap().status, 500);
        assert_eq!(read_response(&mut r, false).unwrap().text(), "now");
    });
}

#[test]
fn dropped_responders_and_refused_responses_are_counted_in_the_stats() {
    with_timeout(20, || {
        let server = serve(ServerConfig::default(), routes);
        let raw = b"GET /drop HTTP/1.1\r\nHost: t\r\n\r\nGET /badheader HTTP/1.1\r\nHost: t\r\n\r\nGET /drop HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n";
        let bytes = exchange(server.addr, raw);
        let mut r = BufReader::new(&bytes[..]);
        for _ in 0..3 {
            assert_eq!(read_response(&mut r, false).unwrap().status, 500);
        }
        let stats = server.stats();
        assert_eq!(
            (
                stats.responders_dropped,
                stats.responses_refused,
                stats.requests
            ),
            (2, 1, 3)
        );
    });
}

#[test]
fn a_handler_answering_another_connections_request_gets_it_written_at_once() {
    with_timeout(20, || {
        let server = serve(ServerConfig::default(), routes);
        let mut held = connect(server.addr);
        held.write_all(b"GET /hold HTTP/1.1\r\nHost: t\r\n\r\n")
            .unwrap();
        // Let the server dispatch it before the releasing request arrives.
        std::thread::sleep(Duration::from_millis(100));
        let r = get(server.addr, "/release");
        assert_eq!(r.text(), "done");
        held.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let r = read_response(&mut BufReader::new(&held), false).unwrap();
        assert_eq!(
            (r.header("via"), r.text().as_str()),
            (Some("release"), "released")
        );
    });
}

#[test]
fn answers_from_a_timer_and_from_the_pool() {
    with_timeout(20, || {
        let server = serve(ServerConfig::default(), routes);
        let r = get(server.addr, "/timer");
        assert_eq!((r.status, r.text().as_str()), (200, "from a timer"));
        let r = get(server.addr, "/pool");
        assert_eq!((r.header("via"), r.text().as_str()), (Some("pool"), "42"));
    });
}

#[test]
fn streamed_responses_are_chunked_and_cut_ones_close() {
    with_timeout(20, || {
        let server = serve(ServerConfig::default(), routes);
        let r = get(server.addr, "/stream");
        assert_eq!(r.header("transfer-encoding"), Some("chunked"));
        assert_eq!(r.text(), "one two");
        // HTTP/1.0: no chunks, the close ends the body.
        let bytes = exchange(server.addr, b"GET /stream HTTP/1.0\r\n\r\n");
        let r = read_response(&mut BufReader::new(&bytes[..]), false).unwrap();
        assert_eq!(
            (r.header("connection"), r.text().as_str()),
            (Some("close"), "one two")
        );
        // A writer dropped mid-body: what was written arrives, then the connection closes
        // without the last chunk.
        let bytes = exchange(server.addr, b"GET /cut HTTP/1.1\r\nHost: t\r\n\r\n");
        let text = String::from_utf8_lossy(&bytes);
        assert!(text.ends_with("7\r\npartial\r\n"), "{text}");
    });
}

#[test]
fn handler_headers_connection_close_and_refused_heads() {
    with_timeout(20, || {
        let server = serve(ServerConfig::default(), routes);
        let mut s = connect(server.addr);
        s.write_all(b"GET /close HTTP/1.1\r\nHost: t\r\n\r\n")
            .unwrap();
        let bytes = read_to_eof(&mut s);
        let r = read_response(&mut BufReader::new(&bytes[..]), false).unwrap();
        assert_eq!(
            (r.header("connection"), r.text().as_str()),
            (Some("close"), "bye")
        );
        let r = get(server.addr, "/badheader");
        assert_eq!(r.status, 500);
        assert_eq!(r.header("injected"), None);
    });
}

#[test]
fn an_answer_to_a_closed_connection_is_dropped_quietly() {
    with_timeout(20, || {
        let server = serve(ServerConfig::default(), routes);
        let mut s = connect(server.addr);
        s.write_all(b"GET /timer HTTP/1.1\r\nHost: t\r\n\r\n")
            .unwrap();
        drop(s);
        std::thread::sleep(Duration::from_millis(100));
        assert_eq!(get(server.addr, "/").text(), "now");
        // Both connections end (the second once the server sees our close after its answer).
        let until = Instant::now() + Duration::from_secs(2);
        while server.stats().connections_open > 0 {
            assert!(Instant::now() < until, "connections left open");
            std::thread::sleep(Duration::from_millis(10));
        }
    });
}

#[test]
fn graceful_shutdown_finishes_in_flight_and_refuses_new() {
    with_timeout(20, || {
        let server = serve(ServerConfig::default(), routes);
        let addr = server.addr;
        // An idle keep-alive connection, closed at once by the shutdown.
        let mut idle = connect(addr);
        idle.write_all(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
            .unwrap();
        let mut idle_r = BufReader::new(idle.try_clone().unwrap());
        assert_eq!(read_response(&mut idle_r, false).unwrap().text(), "now");
        // A slow request in flight.
        let mut slow = connect(addr);
        slow.write_all(b"GET /slow HTTP/1.1\r\nHost: t\r\n\r\n")
            .unwrap();
        std::thread::sleep(Duration::from_millis(50));
        let started = Instant::now();
        server.shutdown(Duration::from_secs(5));
        std::thread::sleep(Duration::from_millis(50));
        // New connections are refused.
        assert!(TcpStream::connect(addr).is_err(), "listener still open");
        // The idle connection was closed.
        assert!(read_to_eof(&mut idle).is_empty());
        // The slow one completes, says it closes, and is closed.
        let bytes = read_to_eof(&mut slow);
        let r = read_response(&mut BufReader::new(&bytes[..]), false).unwrap();
        assert_eq!(
            (r.text().as_str(), r.header("connection")),
            ("slow done", Some("close"))
        );
        assert!(started.elapsed() < Duration::from_secs(2));
        drop((slow, idle, idle_r)); // ends the server's linger at once
        server.join(); // the loop ended: nothing left
        assert!(started.elapsed() < Duration::from_secs(2));
    });
}

#[test]
fn shutdown_deadline_closes_what_is_left() {
    with_timeout(20, || {
        let server = serve(ServerConfig::default(), routes);
        let mut slow = connect(server.addr);
        slow.write_all(b"GET /slow HTTP/1.1\r\nHost: t\r\n\r\n")
            .unwrap();
        std::thread::sleep(Duration::from_millis(50));
        let started = Instant::now();
        server.shutdown(Duration::from_millis(100));
        assert!(read_to_eof(&mut slow).is_empty(), "cut before the answer");
        assert!(started.elapsed() < Duration::from_millis(380));
        server.join();
    });
}
