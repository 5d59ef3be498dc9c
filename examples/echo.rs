//! `cargo run --release --example echo -- --addr localhost:7000 --threads 2` — a TCP echo
//! server: one loop per thread (1 to 256) on one `SO_REUSEPORT` port shared among this
//! process's loops only (a port another process holds is refused, with the address named),
//! backpressure (a connection whose write queue is full stops being read until it drains),
//! `TCP_NODELAY` on every accepted connection,
//! and a graceful shutdown on SIGINT/SIGTERM: stop accepting, finish echoing what was read,
//! close, exit 0 (a signal during start-up, or a second signal, exits at once).
//!
//! `--async` serves the same protocol with one `async` task per connection
//! (`evloop::task`): wait until readable, read into one buffer all connections share, send
//! from it, repeat (no buffer per waiting connection); the same backpressure (a connection
//! with 64 KiB in flight stops reading) and the same graceful shutdown.
//!
//! On Windows, which has no `SO_REUSEPORT`, the loops share one listening socket instead
//! (`TcpListenOptions::shared`), and Ctrl-C or Ctrl-Break (console events, as evloop signals)
//! take SIGINT's and SIGTERM's place.

#[path = "support/mod.rs"]
mod support;

use std::cell::RefCell;
use std::collections::HashSet;
use std::hash::{BuildHasherDefault, Hasher};
use std::io::{self, IoSlice};
use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::{Arc, Mutex, PoisonError, mpsc};

use evloop::net::{ReadEvent, TcpListenOptions, TcpListener, TcpStream};
use evloop::{Handle, Loop, LoopSender};
#[cfg(unix)]
use signal_hook::consts::{SIGINT, SIGTERM};

/// One loop's server state. Posted closures (the shutdown) reach it on the loop's thread.
#[derive(Default)]
struct Server {
    listener: Option<TcpListener>,
    /// Connections being echoed (not yet finishing).
    conns: HashSet<TcpStream, BuildHasherDefault<IdHasher>>,
    stopping: bool,
}

/// Handle ids are small integers we made ourselves, not attacker-chosen keys: a multiply is
/// hash enough, where the default SipHash cost ~250 instructions per connection (a tenth of
/// what the loop spends on one).
#[derive(Default)]
struct IdHasher(u64);

impl Hasher for IdHasher {
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.write_u8(b);
        }
    }

    fn write_u8(&mut self, n: u8) {
        self.write_u64(u64::from(n));
    }

    fn write_u32(&mut self, n: u32) {
        self.write_u64(u64::from(n));
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = (self.0.rotate_left(5) ^ n).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

thread_local! {
    static SERVER: RefCell<Server> = RefCell::default();
}

/// More loops than this is a typo, not a deployment (one per core is the usual choice).
const MAX_THREADS: usize = 256;

fn main() -> ExitCode {
    let (addr, threads, async_mode) = match parse_args() {
        Ok(args) => args,
        Err(msg) => {
            eprintln!("echo: {msg}\nusage: echo [--addr HOST:PORT] [--threads 1..=256] [--async]");
            return ExitCode::from(2);
        }
    };
    #[cfg(unix)]
    if threads == 1 {
        return serve_single(addr, async_mode);
    }
    let started: support::Started = Arc::new(Mutex::new(None));
    let (stop_tx, stop_rx) = mpsc::channel();
    let stop = move |senders: &[LoopSender], signal| {
        for sender in senders {
            let _ = if async_mode {
                sender.post(asynch::stop_gracefully)
            } else {
                sender.post(stop_gracefully)
            };
        }
        let _ = stop_tx.send(signal);
    };
    if let Err(e) = support::watch_signals("echo", Arc::clone(&started), stop) {
        eprintln!("echo: cannot watch signals: {e}");
        return ExitCode::FAILURE;
    }
    let claimed = match support::claim_port(addr) {
        Ok(claimed) => claimed,
        Err(e) => {
            eprintln!("echo: {e}");
            return ExitCode::FAILURE;
        }
    };
    let addr = claimed.addr;
    let (ready_tx, ready_rx) = mpsc::channel();
    let mut senders = Vec::new();
    let mut workers = Vec::new();
    for _ in 0..threads {
        let ready_tx = ready_tx.clone();
        let options = claimed.options();
        workers.push(std::thread::spawn(move || {
            serve(addr, &options, ready_tx, async_mode)
        }));
        match ready_rx.recv() {
            Ok(Ok((_, sender))) => senders.push(sender),
            Ok(Err(e)) => {
                eprintln!("echo: cannot listen on {addr}: {e}");
                return ExitCode::FAILURE;
            }
            Err(_) => return ExitCode::FAILURE,
        }
    }
    *started.lock().unwrap_or_else(PoisonError::into_inner) = Some(senders);
    let mode = if async_mode { ", async" } else { "" };
    println!("echo: listening on {addr} ({threads} threads{mode})");
    let clean = workers.into_iter().all(|w| w.join().is_ok());
    #[cfg(unix)]
    let name = match stop_rx.try_recv() {
        Ok(SIGINT) => "SIGINT",
        _ => "SIGTERM",
    };
    #[cfg(windows)]
    let name = match stop_rx.try_recv() {
        Ok(evloop::signal::SIGBREAK) => "Ctrl-Break",
        _ => "Ctrl-C",
    };
    println!("echo: stopped on {name}");
    if clean {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// `--threads 1` (the default): the one loop runs on the main thread and watches SIGINT and
/// SIGTERM itself ([`Loop::signal`]), so the process never starts a second thread. That is
/// worth having: once a process has had two threads, glibc wraps every blocking syscall
/// (`recv`, `send`, `epoll_wait`) in cancellation-point bookkeeping, about 90 instructions per
/// echo round trip, a tenth of what the loop spends on one (callgrind, `benches/echo_rounds.sh`).
/// The first signal stops gracefully as the threaded path does; a second exits at once.
#[cfg(unix)]
fn serve_single(addr: SocketAddr, async_mode: bool) -> ExitCode {
    let started = support::claim_port(addr).and_then(|claimed| {
        let addr = claimed.addr;
        let mut lp = Loop::new().map_err(|e| format!("cannot start the loop: {e}"))?;
        let stopped_by = std::rc::Rc::new(std::cell::Cell::new(None));
        for signum in [SIGINT, SIGTERM] {
            let seen = std::rc::Rc::clone(&stopped_by);
            let watch = lp
                .signal(signum, move |lp, _, signum| {
                    if seen.replace(Some(signum)).is_some() {
                        eprintln!("echo: second signal, exiting without waiting");
                        std::process::exit(1);
                    }
                    if async_mode {
                        asynch::stop_gracefully(lp);
                    } else {
                        stop_gracefully(lp);
                    }
                })
                .map_err(|e| format!("cannot watch signals: {e}"))?;
            // The listener and the connections keep the loop running, not the signal watch.
            watch
                .unref(&mut lp)
                .map_err(|e| format!("cannot watch signals: {e}"))?;
        }
        let bound = listen(&mut lp, addr, &claimed.options(), async_mode)
            .map_err(|e| format!("cannot listen on {addr}: {e}"))?;
        Ok((lp, bound, stopped_by))
    });
    let (mut lp, bound, stopped_by) = match started {
        Ok(started) => started,
        Err(e) => {
            eprintln!("echo: {e}");
            return ExitCode::FAILURE;
        }
    };
    let mode = if async_mode { ", async" } else { "" };
    println!("echo: listening on {bound} (1 threads{mode})");
    if let Err(e) = lp.run() {
        eprintln!("echo: loop failed: {e}");
        return ExitCode::FAILURE;
    }
    let name = match stopped_by.get() {
        Some(SIGINT) => "SIGINT",
        _ => "SIGTERM",
    };
    println!("echo: stopped on {name}");
    ExitCode::SUCCESS
}

/// Listens on `addr` with `opts` (shared with this process's other loops: `SO_REUSEPORT`, or
/// one shared socket where that is missing) and serves it from `lp`; returns the bound address.
fn listen(
    lp: &mut Loop,
    addr: SocketAddr,
    opts: &TcpListenOptions,
    async_mode: bool,
) -> evloop::Result<SocketAddr> {
    if async_mode {
        return asynch::listen(lp, addr, opts);
    }
    let listener = lp.tcp_listen_with(addr, opts, on_connection)?;
    let bound = listener.local_addr(lp)?;
    SERVER.with(|s| s.borrow_mut().listener = Some(listener));
    Ok(bound)
}

type Ready = evloop::Result<(SocketAddr, LoopSender)>;

/// One loop on this thread until its listener and connections are closed.
fn serve(addr: SocketAddr, opts: &TcpListenOptions, ready: mpsc::Sender<Ready>, async_mode: bool) {
    let started = Loop::new().map_err(evloop::Error::from).and_then(|mut lp| {
        let bound = listen(&mut lp, addr, opts, async_mode)?;
        Ok((lp, bound))
    });
    let mut lp = match started {
        Ok((lp, bound)) => {
            let _ = ready.send(Ok((bound, lp.weak_sender())));
            lp
        }
        Err(e) => {
            let _ = ready.send(Err(e));
            return;
        }
    };
    if let Err(e) = lp.run() {
        eprintln!("echo: loop failed: {e}");
    }
}

fn on_connection(lp: &mut Loop, _listener: TcpListener, conn: evloop::Result<TcpStream>) {
    let stream = match conn {
        Ok(stream) => stream,
        Err(e) => return eprintln!("echo: accept: {e}"), // EMFILE: already shed, keep serving
    };
    if SERVER.with(|s| s.borrow().stopping) {
        let _ = stream.close(lp, |_| {});
        return;
    }
    // Every echo peer sets TCP_NODELAY: a tail queued behind an unacknowledged segment must not
    // wait for Nagle. A connection already reset fails here and shows it on its first read.
    let _ = stream.set_nodelay(lp, true);
    SERVER.with(|s| s.borrow_mut().conns.insert(stream));
    start_reading(lp, stream);
}

fn start_reading(lp: &mut Loop, stream: TcpStream) {
    let _ = stream.read_start(lp, |lp, stream, event| match event {
        ReadEvent::Data(bytes) => echo(lp, stream, bytes),
        // The peer is done sending. With nothing left to echo, close at once (the FIN goes
        // with it); otherwise flush first.
        ReadEvent::Eof if stream.write_queue_size(lp).is_ok_and(|n| n == 0) => {
            forget_and_close(lp, stream)
        }
        ReadEvent::Eof => finish(lp, stream),
        // Broken (reset): nothing more can be delivered.
        ReadEvent::Error(_) => forget_and_close(lp, stream),
    });
}

/// Sends `bytes` back: what the socket takes now straight from the loop's read buffer (no
/// copy, no allocation: libuv's `uv_try_write`), only the rest as a queued write of its own.
fn echo(lp: &mut Loop, stream: TcpStream, bytes: &[u8]) {
    let sent = match stream.try_write(lp, &[IoSlice::new(bytes)]) {
        Ok(n) => n,
        // Earlier bytes still queued, or a full socket buffer: queue behind them.
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => 0,
        Err(_) => return finish(lp, stream),
    };
    if sent == bytes.len() {
        return;
    }
    match stream.write(lp, bytes[sent..].to_vec(), |_, _| {}) {
        Ok(true) => {}
        Ok(false) => {
            // Backpressure: stop reading until the queue drains. The drain callback is
            // set only now, so a connection that never fills its queue never pays for it.
            let _ = stream.read_stop(lp);
            let _ = stream.on_drain(lp, |lp, stream| {
                if SERVER.with(|s| s.borrow().conns.contains(&stream)) {
                    start_reading(lp, stream);
                }
            });
        }
        Err(_) => finish(lp, stream),
    }
}

fn forget_and_close(lp: &mut Loop, stream: TcpStream) {
    if SERVER.with(|s| s.borrow_mut().conns.remove(&stream)) {
        let _ = stream.close(lp, |_| {});
    }
}

/// Flushes what is queued, half-closes, then closes (at once if the stream is broken).
fn finish(lp: &mut Loop, stream: TcpStream) {
    if !SERVER.with(|s| s.borrow_mut().conns.remove(&stream)) {
        return; // already finishing
    }
    let _ = stream.read_stop(lp);
    let shut = stream.shutdown(lp, move |lp, _| {
        let _ = stream.close(lp, |_| {});
    });
    if shut.is_err() {
        let _ = stream.close(lp, |_| {});
    }
}

/// Posted to each loop on SIGINT/SIGTERM: stop accepting, let every connection finish.
fn stop_gracefully(lp: &mut Loop) {
    let (listener, conns) = SERVER.with(|s| {
        let mut s = s.borrow_mut();
        s.stopping = true;
        (
            s.listener.take(),
            s.conns.iter().copied().collect::<Vec<_>>(),
        )
    });
    if let Some(listener) = listener {
        let _ = listener.close(lp, |_| {});
    }
    for stream in conns {
        finish(lp, stream);
    }
}

fn parse_args() -> Result<(SocketAddr, usize, bool), String> {
    let mut addr: SocketAddr = ([127, 0, 0, 1], 7000).into();
    let mut threads = 1;
    let mut async_mode = false;
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        if flag == "--async" {
            async_mode = true;
            continue;
        }
        let value = args.next().ok_or(format!("{flag} needs a value"))?;
        match flag.as_str() {
            // A name or an address: the first address the name resolves to.
            "--addr" => addr = support::resolve(&value)?,
            "--threads" => threads = support::count("--threads", &value, MAX_THREADS)?,
            _ => return Err(format!("unknown argument {flag}")),
        }
    }
    Ok((addr, threads, async_mode))
}

/// The `--async` server: a task per connection.
mod asynch {
    use std::cell::{Cell, RefCell};
    use std::future::Future;
    use std::net::SocketAddr;
    use std::pin::pin;
    use std::rc::Rc;
    use std::task::{Context, Poll, Waker};

    use evloop::Loop;
    use evloop::net::TcpListenOptions;
    use evloop::task::{self, AsyncTcpListener, AsyncTcpStream};

    /// The shutdown signal every task of this loop watches.
    #[derive(Default)]
    struct Stop {
        stopped: Cell<bool>,
        /// One waker slot per watching task (a slab: slots are reused, never piled up).
        wakers: RefCell<Vec<Option<Waker>>>,
        free: RefCell<Vec<usize>>,
    }

    thread_local! {
        static STOP: Rc<Stop> = Rc::default();
    }

    /// A task's registration with [`Stop`]; asked as often as the task likes.
    struct Watch {
        stop: Rc<Stop>,
        slot: usize,
        /// A copy of the waker registered in `slot`: asked on every read, the watch compares
        /// against it and touches the shared list only when the task's waker changed.
        waker: Waker,
    }

    impl Watch {
        fn new() -> Self {
            let stop = STOP.with(Rc::clone);
            let slot = match stop.free.borrow_mut().pop() {
                Some(slot) => slot,
                None => {
                    let mut w = stop.wakers.borrow_mut();
                    w.push(None);
                    w.len() - 1
                }
            };
            Self {
                stop,
                slot,
                waker: Waker::noop().clone(),
            }
        }

        /// Whether the server is stopping; if not, `cx`'s waker is the one the stop wakes.
        /// Kept cheap, as it is asked beside every read: a flag and a waker comparison.
        #[inline(always)]
        fn stopping(&mut self, cx: &Context<'_>) -> bool {
            if self.stop.stopped.get() {
                return true;
            }
            if !self.waker.will_wake(cx.waker()) {
                self.waker = cx.waker().clone();
                self.stop.wakers.borrow_mut()[self.slot] = Some(self.waker.clone());
            }
            false
        }

        /// Completes once the server is stopping.
        fn stopped(&mut self) -> impl Future<Output = ()> + '_ {
            std::future::poll_fn(|cx| match self.stopping(cx) {
                true => Poll::Ready(()),
                false => Poll::Pending,
            })
        }
    }

    impl Drop for Watch {
        fn drop(&mut self) {
            self.stop.wakers.borrow_mut()[self.slot] = None;
            self.stop.free.borrow_mut().push(self.slot);
        }
    }

    /// `Some(a)` if `a` finishes first, `None` if `b` does (the other is dropped).
    async fn first<A: Future>(a: A, b: impl Future<Output = ()>) -> Option<A::Output> {
        let (mut a, mut b) = (pin!(a), pin!(b));
        std::future::poll_fn(|cx| {
            if let Poll::Ready(v) = a.as_mut().poll(cx) {
                return Poll::Ready(Some(v));
            }
            b.as_mut().poll(cx).map(|()| None)
        })
        .await
    }

    pub(super) fn listen(
        lp: &mut Loop,
        addr: SocketAddr,
        opts: &TcpListenOptions,
    ) -> evloop::Result<SocketAddr> {
        let listener = AsyncTcpListener::tcp_with(lp, addr, opts)?;
        let bound = listener.local_addr(lp)?;
        lp.spawn_local(accept_loop(listener)).detach();
        Ok(bound)
    }

    async fn accept_loop(mut listener: AsyncTcpListener) {
        let mut watch = Watch::new();
        // Until the stop: then the listener is dropped, which closes it.
        while let Some(conn) = first(listener.accept(), watch.stopped()).await {
            match conn {
                Ok(conn) => match task::spawn(echo(conn)) {
                    Ok(join) => join.detach(),
                    Err(e) => eprintln!("echo: spawn: {e}"),
                },
                Err(e) => eprintln!("echo: accept: {e}"), // EMFILE: already shed
            }
        }
    }

    thread_local! {
        /// The one read buffer this thread's connections share: a task reads into it and sends
        /// from it within one poll (`try_read`, `try_send`), so no connection holds a buffer
        /// while it waits.
        static SCRATCH: RefCell<Vec<u8>> = RefCell::new(vec![0; 64 * 1024]);
    }

    /// What one read-and-echo step came to.
    enum Step {
        /// Echoed; `false`: 64 KiB or more in flight, wait for the flush first.
        Sent(bool),
        /// Nothing to read after all: wait again.
        Nothing,
        Eof,
    }

    /// Reads what the socket has into the shared buffer and sends it back (what the socket
    /// does not take at once is copied and queued).
    fn echo_once(conn: &mut AsyncTcpStream) -> evloop::Result<Step> {
        SCRATCH.with(|buf| {
            let mut buf = buf.borrow_mut();
            Ok(match conn.try_read(&mut buf)? {
                Some(0) => Step::Eof,
                Some(n) => Step::Sent(conn.try_send(&buf[..n])?),
                None => Step::Nothing,
            })
        })
    }

    async fn echo(mut conn: AsyncTcpStream) {
        let mut watch = Watch::new();
        let handle = conn.handle();
        let _ = task::with_loop(move |lp| handle.set_nodelay(lp, true)).await;
        loop {
            // Readable, else stopping? One poll asks both (racing two futures on every read
            // cost a tenth of the round trip).
            let ready = std::future::poll_fn(|cx| match conn.poll_readable(cx) {
                Poll::Pending if watch.stopping(cx) => Poll::Ready(None),
                Poll::Pending => Poll::Pending,
                Poll::Ready(r) => Poll::Ready(Some(r)),
            });
            match ready.await {
                Some(Ok(())) => match echo_once(&mut conn) {
                    Ok(Step::Sent(true) | Step::Nothing) => {}
                    // Backpressure: read nothing more until the queue drains.
                    Ok(Step::Sent(false)) => {
                        if conn.flush().await.is_err() {
                            return;
                        }
                    }
                    Ok(Step::Eof) => break,
                    Err(_) => return, // reset, or broken: dropping the stream closes it
                },
                // Stopping: echo what was already read, then finish.
                None => {
                    let rest = conn.take_read_ahead();
                    if !rest.is_empty() && conn.send(rest).await.is_err() {
                        return;
                    }
                    break;
                }
                Some(Err(_)) => return,
            }
        }
        if conn.flush().await.is_ok() {
            let _ = conn.shutdown().await;
        }
    }

    /// Posted on SIGINT/SIGTERM: every task of this loop sees the stop.
    pub(super) fn stop_gracefully(_lp: &mut Loop) {
        STOP.with(|s| {
            s.stopped.set(true);
            for w in s.wakers.borrow_mut().iter_mut() {
                if let Some(w) = w.take() {
                    w.wake();
                }
            }
        });
    }
}
