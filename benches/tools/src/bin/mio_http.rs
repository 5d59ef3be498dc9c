//! The "no abstraction" peer of `examples/http` for `benches/http_bench.sh`: a hello-world
//! HTTP/1.1 server written straight on mio — the least a single-threaded keep-alive,
//! pipelining server can do.
//!
//! `cargo run --release -p evloop-bench-tools --bin mio_http -- [--addr HOST:PORT]` (default `127.0.0.1:0`) prints
//! `listening on <addr>`; SIGTERM or SIGINT ends it.
//!
//! Edge-triggered, one registration per socket, one read buffer per connection. Every request
//! head is parsed with `httparse` (as evloop's server does) and answered with the same bytes
//! `examples/http` sends for `/` (`Hello, World!` after `Date`, `Server: evloop`,
//! `Content-Type` and `Content-Length`, the `Date` formatted once a second); pipelined answers
//! go out in one write. No bodies, no limits, no
//! timeouts, no handler dispatch: what evloop adds over this is the price of its abstraction
//! and its defences.

use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::SystemTime;

use evloop::http::date::DateCache;
use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Token};
use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook_mio::v1_0::Signals;
use slab::Slab;

const LISTENER: Token = Token(usize::MAX - 1);
const SIGNALS: Token = Token(usize::MAX - 2);
const BODY: &[u8] = b"Hello, World!";

struct Conn {
    socket: TcpStream,
    /// Bytes read and not yet parsed (a partial head).
    input: Vec<u8>,
    /// Answers not yet taken by the socket.
    output: Vec<u8>,
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let addr: SocketAddr = match args.as_slice() {
        [] => ([127, 0, 0, 1], 0).into(),
        [flag, value] if flag == "--addr" => match value.parse() {
            Ok(addr) => addr,
            Err(e) => {
                eprintln!("mio_http: --addr {value}: {e}");
                return ExitCode::from(2);
            }
        },
        _ => {
            eprintln!("usage: mio_http [--addr HOST:PORT]");
            return ExitCode::from(2);
        }
    };
    match serve(addr) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("mio_http: {e}");
            ExitCode::FAILURE
        }
    }
}

fn serve(addr: SocketAddr) -> io::Result<()> {
    let mut poll = Poll::new()?;
    let mut events = Events::with_capacity(1024);
    let mut listener = TcpListener::bind(addr)?;
    poll.registry()
        .register(&mut listener, LISTENER, Interest::READABLE)?;
    let mut signals = Signals::new([SIGTERM, SIGINT])?;
    poll.registry()
        .register(&mut signals, SIGNALS, Interest::READABLE)?;
    println!("listening on {}", listener.local_addr()?);

    let mut conns: Slab<Conn> = Slab::new();
    let mut dates = DateCache::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        match poll.poll(&mut events, None) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
        let date = dates.get(SystemTime::now()).to_vec();
        for event in &events {
            match event.token() {
                LISTENER => accept_all(&poll, &listener, &mut conns)?,
                SIGNALS => {
                    if signals.pending().next().is_some() {
                        return Ok(());
                    }
                }
                Token(key) => {
                    let Some(conn) = conns.get_mut(key) else {
                        continue;
                    };
                    let open = flush(conn) && serve_conn(conn, &mut buf, &date) && flush(conn);
                    if !open {
                        let mut conn = conns.remove(key);
                        let _ = poll.registry().deregister(&mut conn.socket);
                    }
                }
            }
        }
    }
}

fn accept_all(poll: &Poll, listener: &TcpListener, conns: &mut Slab<Conn>) -> io::Result<()> {
    loop {
        match listener.accept() {
            Ok((mut socket, _)) => {
                let entry = conns.vacant_entry();
                poll.registry().register(
                    &mut socket,
                    Token(entry.key()),
                    Interest::READABLE | Interest::WRITABLE,
                )?;
                entry.insert(Conn {
                    socket,
                    input: Vec::new(),
                    output: Vec::new(),
                });
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => {
                eprintln!("mio_http: accept: {e}");
                return Ok(());
            }
        }
    }
}

/// Reads until `WouldBlock`, answering every complete request head. False when the
/// connection is finished (EOF, an error, or a request it cannot parse).
fn serve_conn(conn: &mut Conn, buf: &mut [u8], date: &[u8]) -> bool {
    loop {
        match conn.socket.read(buf) {
            Ok(0) => return false,
            Ok(n) => conn.input.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return true,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(_) => return false,
        }
        let mut parsed = 0;
        loop {
            let mut headers = [httparse::EMPTY_HEADER; 32];
            let mut req = httparse::Request::new(&mut headers);
            match req.parse(&conn.input[parsed..]) {
                Ok(httparse::Status::Complete(len)) => {
                    parsed += len;
                    answer(&mut conn.output, date);
                }
                Ok(httparse::Status::Partial) => break,
                Err(_) => return false,
            }
        }
        conn.input.drain(..parsed);
    }
}

/// The bytes `examples/http` sends for `/`, in its order: the same work for the client.
fn answer(out: &mut Vec<u8>, date: &[u8]) {
    out.extend_from_slice(b"HTTP/1.1 200 OK\r\nDate: ");
    out.extend_from_slice(date);
    out.extend_from_slice(
        b"\r\nServer: evloop\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 13\r\n\r\n",
    );
    out.extend_from_slice(BODY);
}

/// Writes pending answers until done or `WouldBlock`. False on a write error.
fn flush(conn: &mut Conn) -> bool {
    let mut written = 0;
    while written < conn.output.len() {
        match conn.socket.write(&conn.output[written..]) {
            Ok(w) => written += w,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => return false,
        }
    }
    conn.output.drain(..written);
    true
}
