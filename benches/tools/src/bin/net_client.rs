//! The load generator of `benches/net_bench.sh`: one client, on one thread, that drives every
//! echo server (evloop, libuv, Node, raw mio) the same way.
//!
//! Built by `cargo build --release -p evloop-bench-tools` (into `target/release/`):
//!
//! ```text
//! net_client pingpong --addr 127.0.0.1:7000 --conns 1 --size 64 --secs 5
//! net_client pound --addr 127.0.0.1:7000 --conns 100 --secs 5
//! net_client pump --addr 127.0.0.1:7000 --secs 5
//! net_client idle --addr 127.0.0.1:7000 --conns 10000
//! ```
//!
//! - `pingpong`: each of `--conns` connections sends `--size` bytes, waits for the whole echo
//!   (checked byte for byte), and sends again. ops = round trips.
//! - `pound`: `--conns` connections at a time each connect, send 16 bytes, read their echo and
//!   close (with `SO_LINGER 0`, so the client's ports do not pile up in `TIME_WAIT`); each
//!   close starts a new connection. ops = connections completed.
//! - `pump`: one connection writes 64 KiB chunks whenever it can while reading the echo
//!   (checked) concurrently. ops = bytes echoed back.
//! - `idle`: opens `--conns` connections one after another, pings each once (1 byte), prints
//!   `ready conns=<n>` (fewer when the fd limit or the server stops it: the reason goes to
//!   stderr), and holds them until stdin reaches EOF, a signal ends it, or `--secs` pass.
//!
//! `--spin` (any timed mode) polls without ever sleeping: the client has a core of its own,
//! and a single connection's round trip then holds no wake-up of the client's.
//!
//! The timed modes print `workload=<mode>_<conns>x<size> ops=<n> secs=<s> rate=<ops/s>` and stop
//! at `--secs` or `--max-ops`, whichever comes first. The client is a mio loop on one thread so
//! that, pinned to its own core, it needs no context switches and is never the bottleneck.

use std::io::{self, BufRead, Read, Write};
use std::net::{SocketAddr, TcpStream as StdStream};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Token};
use socket2::SockRef;

const POUND_MESSAGE: &[u8] = b"pound 0123456789";
const PUMP_CHUNK: usize = 64 * 1024;
/// The pump's byte pattern repeats every 251 bytes (a prime, so it never lines up with a chunk).
const PATTERN_PERIOD: usize = 251;

struct Args {
    mode: String,
    addr: SocketAddr,
    conns: usize,
    size: usize,
    secs: f64,
    max_ops: u64,
    /// Poll without sleeping (on the client's own core), so its wake-ups add no latency.
    spin: bool,
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(args) => args,
        Err(msg) => {
            eprintln!(
                "net_client: {msg}\nusage: net_client pingpong|pound|pump|idle --addr HOST:PORT \
                 [--conns N] [--size BYTES] [--secs S] [--max-ops N]"
            );
            return ExitCode::from(2);
        }
    };
    let result = match args.mode.as_str() {
        "pingpong" => {
            pingpong(&args).map(|r| report(&format!("pingpong_{}x{}", args.conns, args.size), r))
        }
        "pound" => pound(&args).map(|r| report(&format!("pound_{}", args.conns), r)),
        "pump" => pump(&args).map(|r| report("pump", r)),
        "idle" => idle(&args),
        _ => unreachable!("parse_args checks the mode"),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("net_client {}: {e}", args.mode);
            ExitCode::FAILURE
        }
    }
}

fn parse_args() -> Result<Args, String> {
    let mut argv = std::env::args().skip(1);
    let mode = argv.next().ok_or("no mode")?;
    if !["pingpong", "pound", "pump", "idle"].contains(&mode.as_str()) {
        return Err(format!("unknown mode {mode}"));
    }
    let mut args = Args {
        conns: if mode == "idle" {
            10_000
        } else if mode == "pound" {
            100
        } else {
            1
        },
        secs: if mode == "idle" { 300.0 } else { 5.0 },
        mode,
        addr: ([127, 0, 0, 1], 7000).into(),
        size: 64,
        max_ops: u64::MAX,
        spin: false,
    };
    while let Some(flag) = argv.next() {
        if flag == "--spin" {
            args.spin = true;
            continue;
        }
        let value = argv.next().ok_or(format!("{flag} needs a value"))?;
        let bad = |e: &dyn std::fmt::Display| format!("{flag} {value}: {e}");
        match flag.as_str() {
            "--addr" => args.addr = value.parse().map_err(|e| bad(&e))?,
            "--conns" => args.conns = value.parse().map_err(|e| bad(&e))?,
            "--size" => args.size = value.parse().map_err(|e| bad(&e))?,
            "--secs" => args.secs = value.parse().map_err(|e| bad(&e))?,
            "--max-ops" => args.max_ops = value.parse().map_err(|e| bad(&e))?,
            _ => return Err(format!("unknown argument {flag}")),
        }
    }
    if args.conns == 0
        || args.size == 0
        || args.secs.is_nan()
        || args.secs <= 0.0
        || args.max_ops == 0
    {
        return Err("--conns, --size, --secs and --max-ops must be positive".into());
    }
    Ok(args)
}

/// Ops done and the time they took.
type Outcome = (u64, Duration);

fn report(workload: &str, (ops, elapsed): Outcome) {
    let secs = elapsed.as_secs_f64();
    println!(
        "workload={workload} ops={ops} secs={secs:.6} rate={:.1}",
        ops as f64 / secs
    );
}

/// Polls until `deadline`, bounded so a silent server cannot hang the client.
fn poll_until(
    poll: &mut Poll,
    events: &mut Events,
    deadline: Instant,
    spin: bool,
) -> io::Result<()> {
    let timeout = if spin {
        Duration::ZERO
    } else {
        deadline.saturating_duration_since(Instant::now())
    };
    match poll.poll(events, Some(timeout)) {
        Err(e) if e.kind() == io::ErrorKind::Interrupted => Ok(()),
        other => other,
    }
}

/// A blocking connect turned into a registered, non-blocking mio stream with `TCP_NODELAY`.
fn connect_registered(poll: &Poll, addr: SocketAddr, token: Token) -> io::Result<TcpStream> {
    let std = StdStream::connect(addr)?;
    std.set_nodelay(true)?;
    std.set_nonblocking(true)?;
    let mut stream = TcpStream::from_std(std);
    poll.registry()
        .register(&mut stream, token, Interest::READABLE | Interest::WRITABLE)?;
    Ok(stream)
}

/// Writes as much of `buf` as the socket takes; returns the count (0 on `WouldBlock`).
fn write_some(stream: &mut TcpStream, buf: &[u8]) -> io::Result<usize> {
    let mut written = 0;
    while written < buf.len() {
        match stream.write(&buf[written..]) {
            Ok(n) => written += n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(written)
}

/// Reads one chunk; `Ok(None)` on `WouldBlock`; EOF is an error (no server closes first).
fn read_some(stream: &mut TcpStream, buf: &mut [u8]) -> io::Result<Option<usize>> {
    loop {
        return match stream.read(buf) {
            Ok(0) => Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "server closed",
            )),
            Ok(n) => Ok(Some(n)),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(None),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => Err(e),
        };
    }
}

fn mismatch() -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        "the echo differs from what was sent",
    )
}

struct Pinger {
    stream: TcpStream,
    sent: usize,
    received: usize,
}

fn pingpong(args: &Args) -> io::Result<Outcome> {
    let mut poll = Poll::new()?;
    let mut events = Events::with_capacity(1024);
    let message: Vec<u8> = (0..args.size).map(|i| (i % PATTERN_PERIOD) as u8).collect();
    let mut buf = vec![0u8; args.size.max(64 * 1024)];
    let mut conns = (0..args.conns)
        .map(|i| {
            let stream = connect_registered(&poll, args.addr, Token(i))?;
            Ok(Pinger {
                stream,
                sent: 0,
                received: 0,
            })
        })
        .collect::<io::Result<Vec<_>>>()?;

    let start = Instant::now();
    let deadline = start + Duration::from_secs_f64(args.secs);
    let mut round_trips = 0u64;
    for c in &mut conns {
        c.sent = write_some(&mut c.stream, &message)?;
    }
    while round_trips < args.max_ops && Instant::now() < deadline {
        poll_until(&mut poll, &mut events, deadline, args.spin)?;
        for event in &events {
            let c = &mut conns[event.token().0];
            if c.sent < message.len() {
                c.sent += write_some(&mut c.stream, &message[c.sent..])?;
            }
            while c.received < c.sent {
                let Some(n) = read_some(&mut c.stream, &mut buf[..c.sent - c.received])? else {
                    break;
                };
                if buf[..n] != message[c.received..c.received + n] {
                    return Err(mismatch());
                }
                c.received += n;
            }
            if c.received == message.len() {
                round_trips += 1;
                c.received = 0;
                c.sent = write_some(&mut c.stream, &message)?;
            }
        }
    }
    Ok((round_trips, start.elapsed()))
}

struct Pounder {
    stream: TcpStream,
    /// The connect has completed (the first writable event came without an error).
    connected: bool,
    sent: usize,
    received: usize,
}

fn pound(args: &Args) -> io::Result<Outcome> {
    let mut poll = Poll::new()?;
    let mut events = Events::with_capacity(1024);
    let mut slots: Vec<Option<Pounder>> = (0..args.conns).map(|_| None).collect();
    let mut buf = [0u8; 64];
    let mut errors = 0u64;
    let start = Instant::now();
    let deadline = start + Duration::from_secs_f64(args.secs);
    let mut done = 0u64;
    let mut to_open: Vec<usize> = (0..args.conns).collect();
    while done < args.max_ops && Instant::now() < deadline {
        // Refill after the event batch, so a late event for a closed socket never meets its
        // successor in the same slot.
        for slot in to_open.drain(..) {
            let mut stream = TcpStream::connect(args.addr)?;
            stream.set_nodelay(true)?;
            poll.registry().register(
                &mut stream,
                Token(slot),
                Interest::READABLE | Interest::WRITABLE,
            )?;
            slots[slot] = Some(Pounder {
                stream,
                connected: false,
                sent: 0,
                received: 0,
            });
        }
        poll_until(&mut poll, &mut events, deadline, args.spin)?;
        for event in &events {
            let slot = event.token().0;
            let Some(p) = slots[slot].as_mut() else {
                continue;
            };
            let step = (|| -> io::Result<bool> {
                if !p.connected {
                    if let Some(e) = p.stream.take_error()? {
                        return Err(e);
                    }
                    match p.stream.peer_addr() {
                        Ok(_) => p.connected = true,
                        Err(e) if e.kind() == io::ErrorKind::NotConnected => return Ok(false),
                        Err(e) => return Err(e),
                    }
                }
                if p.sent < POUND_MESSAGE.len() {
                    p.sent += write_some(&mut p.stream, &POUND_MESSAGE[p.sent..])?;
                }
                while p.received < p.sent {
                    let Some(n) = read_some(&mut p.stream, &mut buf[..p.sent - p.received])? else {
                        break;
                    };
                    if buf[..n] != POUND_MESSAGE[p.received..p.received + n] {
                        return Err(mismatch());
                    }
                    p.received += n;
                }
                Ok(p.received == POUND_MESSAGE.len())
            })();
            let finished = match step {
                Ok(finished) => finished,
                Err(e) if e.kind() == io::ErrorKind::InvalidData => return Err(e),
                Err(e) => {
                    errors += 1;
                    if errors <= 10 {
                        eprintln!("net_client pound: connection failed: {e}");
                    }
                    true
                }
            };
            if finished {
                let mut p = slots[slot].take().expect("slot checked above");
                if p.received == POUND_MESSAGE.len() {
                    done += 1;
                }
                // RST instead of FIN: no TIME_WAIT, so ports never run out in a long run.
                let _ = SockRef::from(&p.stream).set_linger(Some(Duration::ZERO));
                let _ = poll.registry().deregister(&mut p.stream);
                to_open.push(slot);
            }
        }
        if errors > 1000 && errors > done {
            return Err(io::Error::other(format!(
                "{errors} connections failed, {done} completed"
            )));
        }
    }
    if errors > 0 {
        eprintln!("net_client pound: {errors} connections failed");
    }
    Ok((done, start.elapsed()))
}

/// The pump's byte pattern from stream offset `at`, `len` bytes long.
fn pattern(at: u64, len: usize) -> impl Iterator<Item = u8> {
    (0..len).map(move |i| ((at + i as u64) % PATTERN_PERIOD as u64) as u8)
}

fn pump(args: &Args) -> io::Result<Outcome> {
    let mut poll = Poll::new()?;
    let mut events = Events::with_capacity(16);
    let mut stream = connect_registered(&poll, args.addr, Token(0))?;
    let mut buf = vec![0u8; 256 * 1024];
    // The pattern from any stream offset, for a chunk or a full read buffer, is a slice of
    // `source` starting at (offset % PATTERN_PERIOD).
    let source: Vec<u8> = pattern(0, buf.len() + PATTERN_PERIOD).collect();
    let (mut sent, mut received) = (0u64, 0u64);
    // Bytes of the current chunk already written.
    let mut in_chunk = 0usize;
    let start = Instant::now();
    let deadline = start + Duration::from_secs_f64(args.secs);
    let mut writable = true;
    while received < args.max_ops && Instant::now() < deadline {
        while writable {
            let at = ((sent - in_chunk as u64) % PATTERN_PERIOD as u64) as usize;
            let n = write_some(&mut stream, &source[at + in_chunk..at + PUMP_CHUNK])?;
            sent += n as u64;
            in_chunk += n;
            if in_chunk == PUMP_CHUNK {
                in_chunk = 0;
            } else {
                writable = false;
            }
        }
        poll_until(&mut poll, &mut events, deadline, args.spin)?;
        for event in &events {
            writable |= event.is_writable();
            while received < sent {
                let want = buf.len().min((sent - received) as usize);
                let Some(n) = read_some(&mut stream, &mut buf[..want])? else {
                    break;
                };
                let at = (received % PATTERN_PERIOD as u64) as usize;
                if buf[..n] != source[at..at + n] {
                    return Err(mismatch());
                }
                received += n as u64;
            }
        }
    }
    Ok((received, start.elapsed()))
}

fn idle(args: &Args) -> io::Result<()> {
    raise_fd_limit();
    let deadline = Instant::now() + Duration::from_secs_f64(args.secs);
    let mut held = Vec::with_capacity(args.conns);
    let mut byte = [0u8; 1];
    for i in 0..args.conns {
        let ping = (|| -> io::Result<StdStream> {
            let mut stream = StdStream::connect(args.addr)?;
            stream.set_read_timeout(Some(Duration::from_secs(10)))?;
            stream.write_all(&[i as u8])?;
            stream.read_exact(&mut byte)?;
            if byte[0] != i as u8 {
                return Err(mismatch());
            }
            Ok(stream)
        })();
        match ping {
            Ok(stream) => held.push(stream),
            Err(e) => {
                eprintln!(
                    "net_client idle: connection {} failed, holding {}: {e}",
                    i + 1,
                    held.len()
                );
                break;
            }
        }
        if Instant::now() >= deadline {
            eprintln!(
                "net_client idle: out of time after {} connections",
                held.len()
            );
            break;
        }
    }
    println!("ready conns={}", held.len());
    io::stdout().flush()?;
    // Hold until stdin closes (the runner closes it) or the time is up.
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = io::stdin().lock().lines().count();
        let _ = tx.send(());
    });
    let _ = rx.recv_timeout(deadline.saturating_duration_since(Instant::now()));
    drop(held);
    Ok(())
}

/// Lifts the soft open-file limit to the hard one (10 000 connections need 10 000 fds).
fn raise_fd_limit() {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit only read and write the rlimit struct we pass.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) == 0 && lim.rlim_cur < lim.rlim_max {
            lim.rlim_cur = lim.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
        }
    }
}
