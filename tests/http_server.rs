//! The HTTP server against raw loopback clients: keep-alive, pipelining, HTTP/1.0, HEAD,
//! bodies, 100-continue, dribbled and slow requests, many connections, late answers.
mod util;

use std::io::{BufReader, Read, Write};
use std::time::{Duration, Instant};

use evloop::http::ServerConfig;
use util::http::{connect, exchange, get, hello, read_response, read_to_eof, serve, status_of};
use util::with_timeout;

const GET: &[u8] = b"GET / HTTP/1.1\r\nHost: t\r\n\r\n";

#[test]
fn hello_with_correct_headers() {
    with_timeout(20, || {
        let server = serve(ServerConfig::default(), hello);
        let r = get(server.addr, "/");
        assert_eq!(r.status, 200);
        assert_eq!(r.text(), "Hello, World!");
        assert_eq!(r.header("content-length"), Some("13"));
        assert_eq!(r.header("content-type"), Some("text/plain"));
        assert_eq!(r.header("connection"), Some("close"));
        assert!(
            r.header("date")
                .is_some_and(|d| d.ends_with(" GMT") && d.len() == 29)
        );
    });
}

#[test]
fn curl_gets_hello_world() {
    with_timeout(20, || {
        if std::process::Command::new("curl")
            .arg("--version")
            .output()
            .is_err()
        {
            eprintln!(
                "SKIPPED curl_gets_hello_world: `curl` is not installed (.ci/run installs it)"
            );
            return;
        }
        let server = serve(ServerConfig::default(), hello);
        let url = format!("http://{}/", server.addr);
        let out = std::process::Command::new("curl")
            .args(["-s", "-i", "--max-time", "10", &url])
            .output()
            .expect("curl runs");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.starts_with("HTTP/1.1 200 OK\r\n"), "{text}");
        assert!(text.contains("Content-Length: 13\r\n"), "{text}");
        assert!(text.ends_with("\r\n\r\nHello, World!"), "{text}");
    });
}

#[test]
fn hundred_keep_alive_requests_on_one_connection() {
    with_timeout(20, || {
        let server = serve(ServerConfig::default(), hello);
        let s = connect(server.addr);
        let mut w = s.try_clone().unwrap();
        let mut r = BufReader::new(s);
        for _ in 0..100 {
            w.write_all(GET).unwrap();
            let resp = read_response(&mut r, false).unwrap();
            assert_eq!((resp.status, resp.text().as_str()), (200, "Hello, World!"));
            assert_eq!(resp.header("connection"), None);
        }
        assert_eq!(server.stats().connections_accepted, 1);
    });
}

#[test]
fn sixteen_pipelined_requests_answered_in_order_in_one_burst() {
    with_timeout(20, || {
        let server = serve(ServerConfig::default(), || {
            |lp: &mut evloop::Loop, req: evloop::http::Request, res: evloop::http::Responder| {
                let body = req.target().to_owned();
                res.send(lp, 200, &[("X-Seq", body.as_str())], body.clone());
            }
        });
        let mut s = connect(server.addr);
        let mut raw = Vec::new();
        for i in 0..16 {
            raw.extend_from_slice(format!("GET /{i} HTTP/1.1\r\nHost: t\r\n\r\n").as_bytes());
        }
        s.write_all(&raw).unwrap();
        // One read loop collects everything; the 16 answers arrive as one burst.
        let mut got = Vec::new();
        let mut buf = [0u8; 65536];
        let mut reads = 0;
        while !got.ends_with(b"/15") {
            let n = s.read(&mut buf).unwrap();
            assert!(n > 0, "closed early");
            got.extend_from_slice(&buf[..n]);
            reads += 1;
        }
        assert!(reads <= 2, "answers came in {reads} reads");
        let mut r = BufReader::new(&got[..]);
        for i in 0..16 {
            let resp = read_response(&mut r, false).unwrap();
            assert_eq!(resp.text(), format!("/{i}"));
        }
    });
}

#[test]
fn pipelined_answers_out_of_order_are_sent_in_order() {
    with_timeout(20, || {
        // /0 answers after 150 ms, /1 after 50 ms, /2 at once, /3 from the pool.
        let server = serve(ServerConfig::default(), || {
            |lp: &mut evloop::Loop, req: evloop::http::Request, res: evloop::http::Responder| {
                let target = req.target().to_owned();
                let delay = match target.as_str() {
                    "/0" => 150,
                    "/1" => 50,
                    "/3" => {
                        lp.queue_work(
                            || std::thread::sleep(Duration::from_millis(20)),
                            move |lp, _| res.send(lp, 200, &[("A", "b")], "/3"),
                        );
                        return;
                    }
                    _ => return res.send(lp, 200, &[("A", "b")], target),
                };
                let mut res = Some(res);
                lp.set_timeout(Duration::from_millis(delay), move |lp, _| {
                    if let Some(res) = res.take() {
                        res.send(lp, 200, &[("A", "b")], target.clone());
                    }
                });
            }
        });
        let mut raw = Vec::new();
        for i in 0..4 {
            raw.extend_from_slice(format!("GET /{i} HTTP/1.1\r\nHost: t\r\n\r\n").as_bytes());
        }
        raw.extend_from_slice(b"GET /last HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
        let bytes = exchange(server.addr, &raw);
        let mut r = BufReader::new(&bytes[..]);
        for expect in ["/0", "/1", "/2", "/3", "/last"] {
            assert_eq!(read_response(&mut r, false).unwrap().text(), expect);
        }
    });
}

#[test]
fn http10_closes_and_keep_alive_keeps() {
    with_timeout(20, || {
        let server = serve(ServerConfig::default(), hello);
        let bytes = exchange(server.addr, b"GET / HTTP/1.0\r\n\r\n");
        let r = read_response(&mut BufReader::new(&bytes[..]), false).unwrap();
        assert_eq!(r.text(), "Hello, World!");
        assert_eq!(r.header("connection"), Some("close"));

        let s = connect(server.addr);
        let mut w = s.try_clone().unwrap();
        let mut r = BufReader::new(s);
        for _ in 0..3 {
            w.write_all(b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
                .unwrap();
            let resp = read_response(&mut r, false).unwrap();
            assert_eq!(resp.header("connection"), Some("keep-alive"));
        }
    });
}

#[test]
fn head_has_no_body() {
    with_timeout(20, || {
        let server = serve(ServerConfig::default(), hello);
        let raw = b"HEAD / HTTP/1.1\r\nHost: t\r\n\r\nGET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n";
        let bytes = exchange(server.addr, raw);
        let mut r = BufReader::new(&bytes[..]);
        let head = read_response(&mut r, true).unwrap();
        assert_eq!(head.header("content-length"), Some("13"));
        let next = read_response(&mut r, false).unwrap();
        assert_eq!(
            next.text(),
            "Hello, World!",
            "the HEAD answer had no body bytes"
        );
    });
}

fn echo_body()
-> impl FnMut(&mut evloop::Loop, evloop::http::Request, evloop::http::Responder) + 'static {
    |lp, req, res| {
        let body = req.body().to_vec();
        res.send(lp, 200, &[("X-Target", req.target())], body);
    }
}

#[test]
fn bodies_are_consumed_exactly_with_a_pipelined_request_behind() {
    with_timeout(20, || {
        let server = serve(ServerConfig::default(), echo_body);
        let raw = b"POST /a HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nhello\
                    POST /b HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n\
                    3\r\nabc\r\n4;ext=1\r\ndefg\r\n0\r\nTrailer: x\r\n\r\n\
                    GET /c HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n";
        let bytes = exchange(server.addr, raw);
        let mut r = BufReader::new(&bytes[..]);
        assert_eq!(read_response(&mut r, false).unwrap().text(), "hello");
        assert_eq!(read_response(&mut r, false).unwrap().text(), "abcdefg");
        let last = read_response(&mut r, false).unwrap();
        assert_eq!(last.header("x-target"), Some("/c"));
        assert!(last.body.is_empty());
    });
}

#[test]
fn expect_100_continue_is_answered() {
    with_timeout(20, || {
        let server = serve(ServerConfig::default(), echo_body);
        let s = connect(server.addr);
        let mut w = s.try_clone().unwrap();
        let mut r = BufReader::new(s);
        w.write_all(
            b"PUT / HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n",
        )
        .unwrap();
        let interim = read_response(&mut r, false).unwrap();
        assert_eq!(interim.status, 100);
        w.write_all(b"data").unwrap();
        assert_eq!(read_response(&mut r, false).unwrap().text(), "data");
        // Over the limit: 413 instead of 100, and the connection closes.
        w.write_all(
            b"PUT / HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nContent-Length: 9999999\r\n\r\n",
        )
        .unwrap();
        let refused = read_response(&mut r, false).unwrap();
        assert_eq!(refused.status, 413);
        assert_eq!(refused.header("connection"), Some("close"));
    });
}

#[test]
fn a_request_dribbled_one_byte_per_write_succeeds() {
    with_timeout(20, || {
        let server = serve(ServerConfig::default(), echo_body);
        let mut s = connect(server.addr);
        let raw =
            b"POST /d HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\nConnection: close\r\n\r\nxyz";
        for b in raw {
            s.write_all(&[*b]).unwrap();
            std::thread::sleep(Duration::from_millis(1));
        }
        let bytes = read_to_eof(&mut s);
        let r = read_response(&mut BufReader::new(&bytes[..]), false).unwrap();
        assert_eq!(r.text(), "xyz");
    });
}

#[test]
fn slowloris_is_cut_by_the_header_timeout() {
    with_timeout(20, || {
        let mut config = ServerConfig::default();
        config.header_timeout = Duration::from_millis(300);
        let server = serve(config, hello);
        let mut s = connect(server.addr);
        let started = Instant::now();
        s.write_all(b"GET / HTTP/1.1\r\n").unwrap();
        // Trickle header lines: each arrives well within any per-read timeout.
        let mut closed = false;
        for i in 0..40 {
            std::thread::sleep(Duration::from_millis(50));
            if s.write_all(format!("X-{i}: a\r\n").as_bytes()).is_err() {
                closed = true;
                break;
            }
            if started.elapsed() > Duration::from_millis(600) {
                break;
            }
        }
        let bytes = read_to_eof(&mut s);
        assert_eq!(status_of(&bytes), 408, "closed by write error: {closed}");
        assert!(started.elapsed() < Duration::from_secs(3));
    });
}

#[test]
fn idle_keep_alive_connections_are_closed() {
    with_timeout(20, || {
        let mut config = ServerConfig::default();
        config.idle_timeout = Duration::from_millis(200);
        let server = serve(config, hello);
        let mut s = connect(server.addr);
        s.write_all(GET).unwrap();
        let started = Instant::now();
        let bytes = read_to_eof(&mut s);
        assert_eq!(status_of(&bytes), 200);
        assert!(started.elapsed() >= Duration::from_millis(150));
    });
}

fn rounds(addr: std::net::SocketAddr, n: usize) {
    let s = connect(addr);
    let mut w = s.try_clone().unwrap();
    let mut r = BufReader::new(s);
    for _ in 0..n {
        w.write_all(GET).unwrap();
        let resp = read_response(&mut r, false).unwrap();
        assert_eq!(resp.text(), "Hello, World!");
    }
}

#[test]
fn thousand_sequential_connections() {
    with_timeout(60, || {
        let server = serve(ServerConfig::default(), hello);
        for _ in 0..1000 {
            rounds(server.addr, 10);
        }
        assert_eq!(server.stats().requests, 10_000);
    });
}

#[test]
fn five_hundred_concurrent_connections() {
    with_timeout(60, || {
        let server = serve(ServerConfig::default(), hello);
        let addr = server.addr;
        // 50 client threads, 10 connections each, all open at once.
        let threads: Vec<_> = (0..50)
            .map(|_| {
                std::thread::spawn(move || {
                    let conns: Vec<_> = (0..10).map(|_| connect(addr)).collect();
                    for _ in 0..10 {
                        for c in &conns {
                            (&*c).write_all(GET).unwrap();
                        }
                        for c in &conns {
                            let mut r = BufReader::new(c);
                            let resp = read_response(&mut r, false).unwrap();
                            assert_eq!(resp.status, 200);
                        }
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let stats = server.stats();
        assert_eq!((stats.requests, stats.connections_accepted), (5000, 500));
    });
}

#[test]
fn max_connections_closes_the_excess() {
    with_timeout(20, || {
        let mut config = ServerConfig::default();
        config.max_connections = 2;
        let server = serve(config, hello);
        // Both have completed a request (connections that have not may be evicted at the
        // cap for a new one; see tests/http_hostile.rs).
        let a = connect(server.addr);
        let b = connect(server.addr);
        for s in [&a, &b] {
            (&*s).write_all(GET).unwrap();
            read_response(&mut BufReader::new(s), false).unwrap();
        }
        std::thread::sleep(Duration::from_millis(100));
        let mut c = connect(server.addr);
        let _ = c.write_all(GET);
        assert!(
            read_to_eof(&mut c).is_empty(),
            "the third is closed unanswered"
        );
        drop((a, b));
        std::thread::sleep(Duration::from_millis(100));
        rounds(server.addr, 1);
    });
}

#[test]
fn one_timer_per_connection_however_many_requests() {
    with_timeout(20, || {
        let server = serve(ServerConfig::default(), hello);
        let conns: Vec<_> = (0..10).map(|_| connect(server.addr)).collect();
        for _ in 0..20 {
            for c in &conns {
                (&*c).write_all(GET).unwrap();
                read_response(&mut BufReader::new(c), false).unwrap();
            }
        }
        let kinds = server.handle_kinds();
        let count = |kind: &str| {
            kinds
                .iter()
                .find(|(k, _)| *k == kind)
                .map_or(0, |(_, n)| *n)
        };
        assert_eq!(count("tcp"), 10, "{kinds:?}");
        assert!(
            count("timer") <= 10,
            "at most one timer per connection: {kinds:?}"
        );
    });
}
