//! The "no abstraction" peer of evloop's `examples/echo` for `benches/net_bench.sh`: a TCP echo
//! server written straight on mio, the least a single-threaded echo loop can do.
//!
//! `cargo run --release -p evloop-bench-tools --bin mio_echo -- [--addr HOST:PORT]` (default `127.0.0.1:0`) prints
//! `listening on <addr>`; SIGTERM or SIGINT ends it.
//!
//! Edge-triggered, every socket registered once for `READABLE | WRITABLE`, one 64 KiB read
//! buffer for the whole loop, `TCP_NODELAY` on every connection. Each read is written straight
//! back; what the socket does not take goes to that connection's pending buffer, and the connection stops reading until the
//! pending bytes are flushed on a writable edge (then it reads again: no new readable edge
//! comes for data that was already there). No read budget, no callbacks, no write queue of
//! requests, no timers: what evloop adds over this is the price of its abstraction.

use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::process::ExitCode;

use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Token};
use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook_mio::v1_0::Signals;
use slab::Slab;

const LISTENER: Token = Token(usize::MAX - 1);
const SIGNALS: Token = Token(usize::MAX - 2);
const READ_BUFFER_SIZE: usize = 64 * 1024;

struct Conn {
    socket: TcpStream,
    /// Bytes read but not yet taken by the socket; reading waits while it is non-empty.
    pending: Vec<u8>,
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let addr: SocketAddr = match args.as_slice() {
        [] => ([127, 0, 0, 1], 0).into(),
        [flag, value] if flag == "--addr" => match value.parse() {
            Ok(addr) => addr,
            Err(e) => {
                eprintln!("mio_echo: --addr {value}: {e}");
                return ExitCode::from(2);
            }
        },
        _ => {
            eprintln!("usage: mio_echo [--addr HOST:PORT]");
            return ExitCode::from(2);
        }
    };
    match serve(addr) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("mio_echo: {e}");
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
    let mut buf = vec![0u8; READ_BUFFER_SIZE];
    loop {
        match poll.poll(&mut events, None) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
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
                    // Read on a readable edge, or when a flush just emptied the pending
                    // buffer (reading stopped with data still in the socket).
                    let was_pending = !conn.pending.is_empty();
                    let mut open = !was_pending || !event.is_writable() || flush(conn);
                    let wants_read = event.is_readable() || event.is_error() || was_pending;
                    if open && wants_read && conn.pending.is_empty() {
                        open = echo(conn, &mut buf);
                    }
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
                // As every echo peer does: no Nagle delay on a queued tail. A socket already
                // reset fails here and shows it on its first read.
                let _ = socket.set_nodelay(true);
                let entry = conns.vacant_entry();
                poll.registry().register(
                    &mut socket,
                    Token(entry.key()),
                    Interest::READABLE | Interest::WRITABLE,
                )?;
                entry.insert(Conn {
                    socket,
                    pending: Vec::new(),
                });
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            // EMFILE, ECONNABORTED...: drop this one, keep serving.
            Err(e) => {
                eprintln!("mio_echo: accept: {e}");
                return Ok(());
            }
        }
    }
}

/// Reads until `WouldBlock`, writing each chunk straight back. Returns false when the
/// connection is finished (EOF or an error).
fn echo(conn: &mut Conn, buf: &mut [u8]) -> bool {
    loop {
        let n = match conn.socket.read(buf) {
            Ok(0) => return false,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return true,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(_) => return false,
        };
        let mut written = 0;
        while written < n {
            match conn.socket.write(&buf[written..n]) {
                Ok(w) => written += w,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return false,
            }
        }
        if written < n {
            // Backpressure: keep the rest and stop reading until it is flushed.
            conn.pending.extend_from_slice(&buf[written..n]);
            return true;
        }
    }
}

/// Writes pending bytes until done or `WouldBlock`. Returns false on a write error.
fn flush(conn: &mut Conn) -> bool {
    let mut written = 0;
    while written < conn.pending.len() {
        match conn.socket.write(&conn.pending[written..]) {
            Ok(w) => written += w,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => return false,
        }
    }
    conn.pending.drain(..written);
    true
}
