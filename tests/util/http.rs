//! HTTP test helpers: a server on its own loop thread, and a tiny blocking client.

use std::cell::RefCell;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::thread::JoinHandle;
use std::time::Duration;

use evloop::http::{Request, Responder, Server, ServerConfig};
use evloop::{Loop, LoopSender};

thread_local! {
    static SERVER: RefCell<Option<Server>> = const { RefCell::new(None) };
}

/// A server running on its own thread. Dropping it shuts the server down (deadline 0) and
/// waits for the loop to end, which proves the server left nothing behind.
pub struct TestServer {
    pub addr: SocketAddr,
    sender: LoopSender,
    thread: Option<JoinHandle<()>>,
}

/// Starts a server whose handler `make` builds on the loop thread.
pub fn serve<F, H>(config: ServerConfig, make: F) -> TestServer
where
    F: FnOnce() -> H + Send + 'static,
    H: FnMut(&mut Loop, Request, Responder) + 'static,
{
    let (tx, rx) = std::sync::mpsc::channel();
    let thread = std::thread::spawn(move || {
        let mut lp = Loop::new().expect("loop");
        let handler = make();
        let addr = "127.0.0.1:0".parse().expect("addr");
        let server = Server::listen(&mut lp, addr, config, handler).expect("listen");
        tx.send((server.local_addr(), lp.weak_sender()))
            .expect("send addr");
        SERVER.with(|s| *s.borrow_mut() = Some(server));
        lp.run().expect("run");
        SERVER.with(|s| s.borrow_mut().take());
        let live = lp.active_handles();
        assert!(live.is_empty(), "handles left: {live:#?}");
    });
    let (addr, sender) = rx.recv().expect("server started");
    TestServer {
        addr,
        sender,
        thread: Some(thread),
    }
}

/// A handler answering `200 Hello, World!` to everything.
pub fn hello() -> impl FnMut(&mut Loop, Request, Responder) + 'static {
    |lp, _req, res| res.send(lp, 200, &[("Content-Type", "text/plain")], "Hello, World!")
}

impl TestServer {
    /// Starts a graceful shutdown with `deadline`; `done` runs on the loop thread when it ends.
    pub fn shutdown(&self, deadline: Duration) {
        let _ = self.sender.post(move |lp| {
            if let Some(server) = SERVER.with(|s| s.borrow().clone()) {
                server.shutdown(lp, deadline, |_| {});
            }
        });
    }

    /// Waits for the loop thread to end (after a shutdown).
    pub fn join(mut self) {
        if let Some(thread) = self.thread.take() {
            thread.join().expect("server thread panicked");
        }
    }

    /// How many live handles of each kind the server's loop has, e.g. `("timer", 3)`.
    pub fn handle_kinds(&self) -> Vec<(&'static str, usize)> {
        let (tx, rx) = std::sync::mpsc::channel();
        let _ = self.sender.post(move |lp| {
            let mut kinds: Vec<(&'static str, usize)> = Vec::new();
            for h in lp.active_handles() {
                match kinds.iter_mut().find(|(k, _)| *k == h.kind.name()) {
                    Some((_, n)) => *n += 1,
                    None => kinds.push((h.kind.name(), 1)),
                }
            }
            let _ = tx.send(kinds);
        });
        rx.recv_timeout(Duration::from_secs(5)).expect("handles")
    }

    /// Sets the server's `on_handler_panic` hook to send every report to the returned channel;
    /// returns once the hook is in place.
    pub fn report_panics(&self) -> std::sync::mpsc::Receiver<evloop::http::HandlerPanic> {
        let (tx, rx) = std::sync::mpsc::channel();
        let (ack, acked) = std::sync::mpsc::channel();
        let _ = self.sender.post(move |_| {
            if let Some(server) = SERVER.with(|s| s.borrow().clone()) {
                server.on_handler_panic(move |p| {
                    let _ = tx.send(p.clone());
                });
            }
            let _ = ack.send(());
        });
        acked
            .recv_timeout(Duration::from_secs(5))
            .expect("hook set");
        rx
    }

    /// The server's stats, read on its loop.
    pub fn stats(&self) -> evloop::http::ServerStats {
        let (tx, rx) = std::sync::mpsc::channel();
        let _ = self.sender.post(move |_| {
            if let Some(server) = SERVER.with(|s| s.borrow().clone()) {
                let _ = tx.send(server.stats());
            }
        });
        rx.recv_timeout(Duration::from_secs(5)).expect("stats")
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(thread) = self.thread.take() {
            self.shutdown(Duration::ZERO);
            if !std::thread::panicking() {
                thread.join().expect("server thread panicked");
            }
        }
    }
}

/// A client connection with a 10 s read timeout.
pub fn connect(addr: SocketAddr) -> TcpStream {
    let s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    s.set_nodelay(true).expect("nodelay");
    s
}

/// A parsed response.
#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

fn line(r: &mut impl BufRead) -> io::Result<String> {
    let mut buf = Vec::new();
    r.read_until(b'\n', &mut buf)?;
    if buf.is_empty() {
        return Err(io::ErrorKind::UnexpectedEof.into());
    }
    let s = String::from_utf8_lossy(&buf).into_owned();
    Ok(s.trim_end_matches(['\r', '\n']).to_owned())
}

/// Reads one response (a 1xx is returned on its own). `head_only` for answers to HEAD.
pub fn read_response(r: &mut impl BufRead, head_only: bool) -> io::Result<Response> {
    let status_line = line(r)?;
    let status = status_line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| io::Error::other(format!("bad status line {status_line:?}")))?;
    let mut headers = Vec::new();
    loop {
        let l = line(r)?;
        if l.is_empty() {
            break;
        }
        let (n, v) = l
            .split_once(':')
            .ok_or_else(|| io::Error::other("bad header"))?;
        headers.push((n.to_owned(), v.trim().to_owned()));
    }
    let mut resp = Response {
        status,
        headers,
        body: Vec::new(),
    };
    if head_only || status < 200 || status == 204 || status == 304 {
        return Ok(resp);
    }
    if let Some(len) = resp.header("content-length") {
        let len: usize = len.parse().map_err(io::Error::other)?;
        resp.body.resize(len, 0);
        r.read_exact(&mut resp.body)?;
    } else if resp.header("transfer-encoding") == Some("chunked") {
        loop {
            let size = usize::from_str_radix(&line(r)?, 16).map_err(io::Error::other)?;
            if size == 0 {
                line(r)?;
                break;
            }
            let at = resp.body.len();
            resp.body.resize(at + size, 0);
            r.read_exact(&mut resp.body[at..])?;
            line(r)?;
        }
    } else {
        r.read_to_end(&mut resp.body)?;
    }
    Ok(resp)
}

/// Sends `raw` on a new connection and reads everything until the server closes.
pub fn exchange(addr: SocketAddr, raw: &[u8]) -> Vec<u8> {
    let mut s = connect(addr);
    s.write_all(raw).expect("write");
    read_to_eof(&mut s)
}

/// Reads until EOF (a reset after some bytes counts as the end too); fails after 10 s.
pub fn read_to_eof(s: &mut TcpStream) -> Vec<u8> {
    let mut out = Vec::new();
    let mut buf = [0u8; 65536];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return out,
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == io::ErrorKind::ConnectionReset => return out,
            Err(e) => panic!("reading to EOF: {e} (after {} bytes)", out.len()),
        }
    }
}

/// One request on its own connection, `Connection: close`.
pub fn get(addr: SocketAddr, target: &str) -> Response {
    let raw = format!("GET {target} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
    let bytes = exchange(addr, raw.as_bytes());
    read_response(&mut BufReader::new(&bytes[..]), false).expect("response")
}

/// The status of the first response in `bytes`.
pub fn status_of(bytes: &[u8]) -> u16 {
    read_response(&mut BufReader::new(bytes), false)
        .map(|r| r.status)
        .unwrap_or_else(|e| panic!("{e}: {:?}", String::from_utf8_lossy(bytes)))
}
