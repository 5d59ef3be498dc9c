//! `Server::listen_async`: handlers as `async` tasks returning a `Response` — awaits inside
//! them, answers in request order, files, HEAD, and a panicking handler future costing only its
//! connection (500, close, counted, reported with the `listen_async` site).
mod util;

use std::cell::RefCell;
use std::io::{BufReader, Write};
use std::net::SocketAddr;
use std::sync::mpsc;
use std::time::Duration;

use evloop::http::{HandlerPanic, Response, Server, ServerConfig, ServerStats};
use evloop::{Loop, LoopSender, task};
use util::http::{connect, get, read_response, read_to_eof};
use util::with_timeout;

thread_local! {
    static SERVER: RefCell<Option<Server>> = const { RefCell::new(None) };
}

struct Running {
    addr: SocketAddr,
    sender: LoopSender,
    panics: mpsc::Receiver<HandlerPanic>,
    /// The line of the `listen_async` call (the site panic reports name).
    listen_line: u32,
    thread: Option<std::thread::JoinHandle<()>>,
}

/// A server with `async` handlers on its own loop thread: `/` hello, `/slow?ms=N` answers
/// after a sleep, `/file` the file at `file`, `/never` never answers, `/panic` panics after an
/// await.
fn start(file: std::path::PathBuf) -> Running {
    let (tx, rx) = mpsc::channel();
    let (ptx, panics) = mpsc::channel();
    let thread = std::thread::spawn(move || {
        let mut lp = Loop::new().expect("loop");
        let addr = "127.0.0.1:0".parse().expect("addr");
        let handler = move |req: evloop::http::Request| {
            let file = file.clone();
            async move { route(req, file).await }
        };
        let config = ServerConfig::default();
        let server = Server::listen_async(&mut lp, addr, config, handler);
        let line = line!() - 1;
        let server = server.expect("listen");
        server.on_handler_panic(move |p| {
            let _ = ptx.send(p.clone());
        });
        tx.send((server.local_addr(), lp.weak_sender(), line))
            .unwrap();
        SERVER.with(|s| *s.borrow_mut() = Some(server));
        lp.run().expect("run");
        SERVER.with(|s| s.borrow_mut().take());
        let live = lp.active_handles();
        assert!(live.is_empty(), "handles left: {live:#?}");
    });
    let (addr, sender, listen_line) = rx.recv().expect("started");
    Running {
        addr,
        sender,
        panics,
        listen_line,
        thread: Some(thread),
    }
}

async fn route(req: evloop::http::Request, file: std::path::PathBuf) -> Response {
    match req.path() {
        "/" => Response::text(200, "Hello, World!"),
        "/slow" => {
            let ms = req
                .query_param("ms")
                .and_then(|v| v.parse().ok())
                .unwrap_or(0);
            match task::sleep(Duration::from_millis(ms)).await {
                Ok(()) => Response::text(200, format!("slept {ms} ms")),
                Err(e) => Response::text(500, e.to_string()),
            }
        }
        "/file" => match task::spawn_blocking(move || std::fs::File::open(file)).await {
            Ok(Ok(f)) => match f.metadata() {
                Ok(meta) => Response::file(200, f, meta.len())
                    .header("Content-Type", "application/octet-stream"),
                Err(e) => Response::text(500, e.to_string()),
            },
            Ok(Err(e)) => Response::text(500, e.to_string()),
            Err(e) => Response::text(500, e.to_string()),
        },
        // Waits for something that never comes (a promise that never settles).
        "/never" => {
            std::future::pending::<()>().await;
            Response::text(200, "never")
        }
        "/panic" => {
            task::yield_now().await;
            panic!("async handler bug on purpose");
        }
        _ => Response::text(404, "not found").header("X-Route", "none"),
    }
}

impl Running {
    fn stats(&self) -> ServerStats {
        let (tx, rx) = mpsc::channel();
        let _ = self.sender.post(move |_| {
            if let Some(server) = SERVER.with(|s| s.borrow().clone()) {
                let _ = tx.send(server.stats());
            }
        });
        rx.recv_timeout(Duration::from_secs(5)).expect("stats")
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.sender.post(|lp| {
            if let Some(server) = SERVER.with(|s| s.borrow().clone()) {
                server.shutdown(lp, Duration::ZERO, |_| {});
            }
        });
        if let Some(thread) = self.thread.take()
            && !std::thread::panicking()
        {
            thread.join().expect("server thread panicked");
        }
    }
}

fn temp_file(tag: &str, bytes: &[u8]) -> std::path::PathBuf {
    let path = std::env::temp_dir().join(format!("evloop-http-async-{tag}-{}", std::process::id()));
    std::fs::write(&path, bytes).unwrap();
    path
}

#[test]
fn async_handlers_answer_in_request_order_with_bytes_exact() {
    with_timeout(20, || {
        let data: Vec<u8> = (0..300_000u32).map(|i| (i % 253) as u8).collect();
        let path = temp_file("order", &data);
        let server = start(path.clone());
        let r = get(server.addr, "/");
        assert_eq!((r.status, r.text().as_str()), (200, "Hello, World!"));
        assert_eq!(r.header("content-type"), Some("text/plain; charset=utf-8"));
        let r = get(server.addr, "/nope");
        assert_eq!((r.status, r.header("x-route")), (404, Some("none")));

        // Pipelined: the slow one first, answered first, though the later ones finish sooner.
        let mut s = connect(server.addr);
        s.write_all(
            b"GET /slow?ms=150 HTTP/1.1\r\nHost: t\r\n\r\n\
              GET / HTTP/1.1\r\nHost: t\r\n\r\n\
              HEAD /file HTTP/1.1\r\nHost: t\r\n\r\n\
              GET /file HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
        )
        .unwrap();
        let bytes = read_to_eof(&mut s);
        let mut r = BufReader::new(&bytes[..]);
        let first = read_response(&mut r, false).unwrap();
        assert_eq!((first.status, first.text().as_str()), (200, "slept 150 ms"));
        let second = read_response(&mut r, false).unwrap();
        assert_eq!(
            (second.status, second.text().as_str()),
            (200, "Hello, World!")
        );
        let head = read_response(&mut r, true).unwrap();
        assert_eq!(
            (head.status, head.header("content-length")),
            (200, Some("300000"))
        );
        let file = read_response(&mut r, false).unwrap();
        assert_eq!(file.status, 200);
        assert!(file.body == data, "the file arrives byte-exact");
        // Nothing after the last answer: HEAD carried no body.
        let mut rest = Vec::new();
        std::io::Read::read_to_end(&mut r, &mut rest).unwrap();
        assert!(rest.is_empty(), "{} stray bytes", rest.len());
        assert_eq!(server.stats().requests, 6);
        let _ = std::fs::remove_file(path);
    });
}

#[test]
fn a_panicking_handler_future_gets_500_and_close_and_the_rest_is_served() {
    with_timeout(20, || {
        let server = start(temp_file("panic", b"x"));
        // A keep-alive client on another connection, before and after the panic.
        let mut other = connect(server.addr);
        other
            .write_all(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
            .unwrap();
        let mut other_r = BufReader::new(other.try_clone().unwrap());
        assert_eq!(read_response(&mut other_r, false).unwrap().status, 200);

        // The panic is pipelined behind a good request and before another one: the first is
        // answered, the panic gets 500 and the close, the last is never answered.
        let mut s = connect(server.addr);
        s.write_all(
            b"GET / HTTP/1.1\r\nHost: t\r\n\r\n\
              GET /panic HTTP/1.1\r\nHost: t\r\n\r\n\
              GET / HTTP/1.1\r\nHost: t\r\n\r\n",
        )
        .unwrap();
        let bytes = read_to_eof(&mut s);
        let mut r = BufReader::new(&bytes[..]);
        assert_eq!(read_response(&mut r, false).unwrap().status, 200);
        let failed = read_response(&mut r, false).unwrap();
        assert_eq!(failed.status, 500);
        assert!(
            read_response(&mut r, false).is_err(),
            "nothing after the 500: {:?}",
            String::from_utf8_lossy(&bytes)
        );

        let report = server
            .panics
            .recv_timeout(Duration::from_secs(5))
            .expect("the panic was reported");
        assert_eq!(report.message, "async handler bug on purpose");
        assert_eq!(report.site.line(), server.listen_line, "{}", report.site);
        assert!(
            report.site.file().ends_with("http_async.rs"),
            "{}",
            report.site
        );
        assert!(report.peer.ip().is_loopback());
        let stats = server.stats();
        assert_eq!(stats.handler_panics, 1);
        assert_eq!(stats.responders_dropped, 0);

        other
            .write_all(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
            .unwrap();
        let again = read_response(&mut other_r, false).unwrap();
        assert_eq!(
            (again.status, again.text().as_str()),
            (200, "Hello, World!")
        );
    });
}

#[test]
fn a_handler_future_that_never_completes_does_not_hold_the_shutdown() {
    with_timeout(20, || {
        let server = start(temp_file("never", b"x"));
        let mut s = connect(server.addr);
        s.write_all(b"GET /never HTTP/1.1\r\nHost: t\r\n\r\n")
            .unwrap();
        // The request reached the handler: the server counts it.
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while server.stats().requests < 1 {
            assert!(std::time::Instant::now() < deadline, "never dispatched");
            std::thread::sleep(Duration::from_millis(5));
        }
        // Shutdown with a 100 ms deadline: the pending task does not keep the loop alive,
        // its connection is closed at the deadline, and the loop ends with no handle left
        // (asserted on the server thread, which `drop` joins).
        let started = std::time::Instant::now();
        let _ = server.sender.post(|lp| {
            if let Some(server) = SERVER.with(|s| s.borrow().clone()) {
                server.shutdown(lp, Duration::from_millis(100), |_| {});
            }
        });
        let bytes = read_to_eof(&mut s);
        assert!(bytes.is_empty(), "{:?}", String::from_utf8_lossy(&bytes));
        drop(server);
        let took = started.elapsed();
        assert!(
            took >= Duration::from_millis(90) && took < Duration::from_secs(5),
            "{took:?}"
        );
    });
}
