//! An HTTP/1.1 server on evloop: hello world, metrics, static files streamed from the disk on
//! the thread pool, and a pair of routes that show event-loop lag and its cure.
//!
//! ```sh
//! cargo run --release --example http -- --addr localhost:8080 --threads 2 --root ./public --log
//! curl -i http://127.0.0.1:8080/
//! ```
//!
//! Routes (`GET` and `HEAD`; other methods get 405 with `Allow`): `/` (`Hello, World!`),
//! `/metrics` (Prometheus text), `/files/<path>` (files under `--root`; without `--root` there
//! are none), `/block?ms=N` (busy-blocks the loop for N ms, at most 10 000: every other
//! connection on this loop waits) and `/work?ms=N` (the same work on the thread pool: nobody
//! waits).
//!
//! What an operator can rely on:
//! - `--threads N` (1 to 256) runs one loop per thread on one port, shared among this
//!   process's loops only: a port another process holds is refused, with the address named.
//! - `/files` never leaves the root: the path is opened relative to the root directory with no
//!   symlink followed anywhere (`openat2`, or a component walk), and dot-segments and dotfiles
//!   (`.git/config`) are refused. A path in the kernel's lookup cache is opened on the loop
//!   thread (`openat2` with `RESOLVE_CACHED`), any other on the pool. Files are streamed in
//!   bounded chunks as the client reads.
//! - `/block` runs one at a time per loop: one arriving while the lag of the last is still being
//!   worked off (as long after it as it lasted) gets 503. `/work` holds at most `--max-work`
//!   (default 8) jobs per loop in flight, 503 beyond; CPU jobs never hold the pool worker kept
//!   for file reads.
//! - SIGINT/SIGTERM: stop accepting, answer requests already received (with `Connection:
//!   close`), close idle connections with a FIN, and exit within the 5 s grace: pool jobs still
//!   queued then are canceled. A signal during start-up exits at once; a second signal exits
//!   without waiting.
//! - `--instrument` turns on callback timing, slow-callback reports (> 100 ms) and the watchdog
//!   (> 1 s).
//!
//! On Windows, which has no `SO_REUSEPORT`, the loops share one listening socket instead
//! (`TcpListenOptions::shared`); `--root` is refused (the confined open, `fs::open_beneath`, is
//! Unix-only), and Ctrl-C or Ctrl-Break (console events, as evloop signals) take SIGINT's and
//! SIGTERM's place.
//!
//! Two modes, one behaviour: by default every route is answered by callbacks
//! (`callbacks.rs`); `--async` answers each request from an `async` handler, a task of the
//! loop (`asynch.rs`, on [`Server::listen_async`]). The command line, the routing table, the
//! limits and the shutdown are shared (this file).

mod asynch;
mod callbacks;
#[path = "../support/mod.rs"]
mod support;

use std::cell::{Cell, RefCell};
use std::net::SocketAddr;
#[cfg(unix)]
use std::path::Path;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use evloop::http::method::Method;
use evloop::http::{Request, Response, Server, ServerConfig, percent_decode};
use evloop::net::TcpListenOptions;
use evloop::{Loop, LoopSender};

/// More loops than this is a typo, not a deployment (one per core is the usual choice).
const MAX_THREADS: usize = 256;
/// How long a graceful shutdown lets requests finish.
const GRACE: Duration = Duration::from_secs(5);
/// `/block` and `/work` take at most this many milliseconds.
const MAX_MS: u64 = 10_000;
const USAGE: &str = "usage: http [--addr HOST:PORT] [--threads 1..=256] [--root DIR] \
                     [--max-work N] [--header-timeout SECS] [--no-sendfile] [--log] [--instrument] \
                     [--async]";

struct Options {
    addr: SocketAddr,
    threads: usize,
    root: Option<PathBuf>,
    /// `/work` jobs in flight per loop; 503 beyond.
    max_work: usize,
    /// Seconds to receive a request head (`ServerConfig::header_timeout`).
    header_timeout: u64,
    /// Files read on the pool instead of `sendfile` (`ServerConfig::sendfile`).
    no_sendfile: bool,
    log: bool,
    /// Everything metrics can do, on: callback timing, slow-callback reports, the watchdog.
    instrument: bool,
    /// Answer from `async` handlers (tasks) instead of callbacks.
    async_mode: bool,
}

/// What every loop shares.
struct Shared {
    /// The root directory, opened once: files are opened relative to it.
    root: Option<Arc<std::fs::File>>,
    max_work: usize,
    header_timeout: Duration,
    no_sendfile: bool,
    log: bool,
    instrument: bool,
    /// How each loop listens: on an `SO_REUSEPORT` port, or a copy of one shared socket.
    listen: TcpListenOptions,
    async_mode: bool,
}

fn main() {
    let opts = match parse_args() {
        Ok(opts) => opts,
        Err(e) => {
            eprintln!("http: {e}\n{USAGE}");
            std::process::exit(2);
        }
    };
    #[cfg(windows)]
    if opts.root.is_some() {
        eprintln!(
            "http: --root: static files need fs::open_beneath (openat2, or an O_NOFOLLOW walk), \
             which Windows lacks"
        );
        std::process::exit(2);
    }
    let root = match &opts.root {
        None => None,
        Some(dir) => match std::fs::File::open(dir).and_then(|f| {
            if f.metadata()?.is_dir() {
                Ok(f)
            } else {
                Err(std::io::Error::other("not a directory"))
            }
        }) {
            Ok(file) => Some(Arc::new(file)),
            Err(e) => {
                eprintln!("http: --root {}: {e}", dir.display());
                std::process::exit(2);
            }
        },
    };
    // Registered before any loop starts: a signal during start-up exits at once, one after it
    // shuts every loop down (see `watch_signals`).
    let senders: support::Started = Arc::new(Mutex::new(None));
    if let Err(e) = support::watch_signals("http", Arc::clone(&senders), |senders, _| {
        shut_down(senders)
    }) {
        eprintln!("http: cannot watch signals: {e}");
        std::process::exit(1);
    }
    let (addr, listen) = match support::claim_port(opts.addr) {
        Ok(claimed) => (claimed.addr, claimed.options()),
        Err(e) => {
            eprintln!("http: {e}");
            std::process::exit(1);
        }
    };
    let shared = Arc::new(Shared {
        root,
        max_work: opts.max_work,
        header_timeout: Duration::from_secs(opts.header_timeout),
        no_sendfile: opts.no_sendfile,
        log: opts.log,
        instrument: opts.instrument,
        listen,
        async_mode: opts.async_mode,
    });
    let (tx, rx) = std::sync::mpsc::channel::<Result<LoopSender, String>>();
    let mut threads = Vec::new();
    let mut started = Vec::new();
    for index in 0..opts.threads {
        let tx = tx.clone();
        let shared = Arc::clone(&shared);
        threads.push(std::thread::spawn(move || {
            if let Err(e) = serve(index, addr, &shared, &tx) {
                let _ = tx.send(Err(format!("loop {index}: cannot listen on {addr}: {e}")));
            }
        }));
        match rx.recv() {
            Ok(Ok(sender)) => started.push(sender),
            Ok(Err(e)) => {
                eprintln!("http: {e}");
                std::process::exit(1);
            }
            Err(_) => std::process::exit(1),
        }
    }
    drop(tx);
    *senders.lock().unwrap_or_else(PoisonError::into_inner) = Some(started);
    if shared.root.is_none() {
        eprintln!("http: no --root given: /files serves nothing");
    }
    let mode = if shared.async_mode { " (async)" } else { "" };
    println!("listening on {addr}{mode}");
    // The loops end once their servers have shut down; then the process exits.
    for thread in threads {
        let _ = thread.join();
    }
}

/// Shuts every loop's server down gracefully: after the grace, jobs still queued for the pool
/// are canceled and the loop stops, whatever is still running on the pool, so the process
/// exits within the grace, not when the last queued job would have finished.
fn shut_down(senders: &[LoopSender]) {
    for sender in senders {
        let _ = sender.post(|lp| {
            if let Some(server) = SERVER.with(|s| s.borrow().clone()) {
                server.shutdown(lp, GRACE, |lp| {
                    lp.cancel_queued_work();
                    lp.stop();
                });
            }
        });
    }
}

thread_local! {
    /// This loop's server, for `/metrics` and for the shutdown posted on a signal.
    static SERVER: RefCell<Option<Server>> = const { RefCell::new(None) };
    /// When this loop may run the next `/block`.
    static BLOCK_FREE_AT: Cell<Option<Instant>> = const { Cell::new(None) };
    /// `/work` jobs of this loop in flight.
    static WORK_IN_FLIGHT: Cell<usize> = const { Cell::new(0) };
}

fn serve(
    index: usize,
    addr: SocketAddr,
    shared: &Arc<Shared>,
    ready: &std::sync::mpsc::Sender<Result<LoopSender, String>>,
) -> Result<(), evloop::Error> {
    let mut lp = Loop::new()?;
    if shared.instrument {
        // What a production deployment would leave on: per-phase callback durations, a report
        // for any callback over 100 ms (with its file:line), and a watchdog for one stuck > 1 s.
        lp.time_callbacks(true);
        lp.on_slow_callback(Duration::from_millis(100), move |slow| {
            eprintln!("loop {index}: {slow}");
        });
        lp.start_watchdog(Duration::from_secs(1), move |stall| {
            eprintln!("loop {index}: {stall}");
        })?;
    }
    let mut config = ServerConfig::default();
    config.server_header = Some("evloop".into());
    config.header_timeout = shared.header_timeout;
    config.sendfile = !shared.no_sendfile;
    let options = shared.listen.clone();
    let shared = Arc::clone(shared);
    let server = if shared.async_mode {
        Server::listen_async_with(&mut lp, addr, &options, config, move |req| {
            log(index, &shared, &req);
            asynch::handle(index, Arc::clone(&shared), req)
        })?
    } else {
        Server::listen_with(&mut lp, addr, &options, config, move |lp, req, res| {
            log(index, &shared, &req);
            callbacks::handle(lp, index, &shared, req, res);
        })?
    };
    server.on_handler_panic(move |report| eprintln!("loop {index}: {report}"));
    // Lag sampled every 10 ms (an unref'd timer: it never keeps the loop alive); `/block`
    // shows up there, `/work` does not.
    lp.monitor_lag(Duration::from_millis(10));
    let sender = lp.weak_sender();
    SERVER.with(|s| *s.borrow_mut() = Some(server));
    let _ = ready.send(Ok(sender));
    lp.run()
}

fn log(index: usize, shared: &Shared, req: &Request) {
    if shared.log {
        println!(
            "loop {index} {} \"{} {}\"",
            req.peer_addr(),
            req.method(),
            req.target()
        );
    }
}

/// What a request asks for, once the checks both modes share have passed: the routing table.
/// Anything unknown is 404, other methods than `GET`/`HEAD` 405, a bad `ms` 400, a refused
/// file path 403.
enum Route {
    /// An answer known at once.
    Answer(Response),
    Metrics,
    /// A file path relative to the root, checked (no dot-segments, no dotfiles). Unix only:
    /// it is opened with `fs::open_beneath`.
    #[cfg(unix)]
    File(Arc<std::fs::File>, String),
    Block(u64),
    Work(u64),
}

fn route(shared: &Shared, req: &Request) -> Route {
    let path = req.path();
    let files = path.strip_prefix("/files/");
    if !matches!(path, "/" | "/metrics" | "/block" | "/work") && files.is_none() {
        return Route::Answer(Response::text(404, "not found\n"));
    }
    if !matches!(req.method(), Method::Get | Method::Head) {
        let answer = Response::text(405, "method not allowed\n").header("Allow", "GET, HEAD");
        return Route::Answer(answer);
    }
    let ms = || match req.query_param("ms").as_deref() {
        None => Ok(100),
        Some(v) => match v.parse::<u64>() {
            Ok(ms) if ms <= MAX_MS => Ok(ms),
            _ => Err(Response::text(
                400,
                format!("ms={v:?}: want a whole number of milliseconds 0..={MAX_MS}\n"),
            )),
        },
    };
    match (path, files) {
        ("/", _) => Route::Answer(Response::text(200, "Hello, World!")),
        ("/metrics", _) => Route::Metrics,
        ("/block", _) => ms().map_or_else(Route::Answer, Route::Block),
        ("/work", _) => ms().map_or_else(Route::Answer, Route::Work),
        (_, Some(rest)) => file_route(shared, rest),
        _ => Route::Answer(Response::text(404, "not found\n")),
    }
}

/// `/block`: one at a time per loop. A block arriving while the last one's stall is still
/// being worked off (as long after it as it lasted) gets 503: blocks never chain into one long
/// stall, and the loop is never blocked more than half the time. Both modes run it on the loop
/// thread (a callback, or a task's poll): that is the point of the route.
fn block(ms: u64) -> Response {
    let now = Instant::now();
    if BLOCK_FREE_AT.get().is_some_and(|free| now < free) {
        let busy_text = "another /block ran on this loop just now; try again later\n";
        return Response::text(503, busy_text).header("Retry-After", "1");
    }
    busy(ms);
    let end = Instant::now();
    BLOCK_FREE_AT.set(Some(end + (end - now)));
    Response::text(200, format!("blocked the loop for {ms} ms\n"))
}

/// A `/work` job's place among the `--max-work` allowed in flight on this loop; given back
/// when dropped (the job answered, or its task dropped).
struct WorkSlot;

impl WorkSlot {
    /// A place, or the 503 that says there is none: the pool's queue stays bounded.
    fn take(max: usize) -> Result<Self, Response> {
        if WORK_IN_FLIGHT.get() >= max {
            let busy = format!("{max} /work jobs are in flight on this loop; try again later\n");
            return Err(Response::text(503, busy).header("Retry-After", "1"));
        }
        WORK_IN_FLIGHT.set(WORK_IN_FLIGHT.get() + 1);
        Ok(Self)
    }
}

impl Drop for WorkSlot {
    fn drop(&mut self) {
        WORK_IN_FLIGHT.set(WORK_IN_FLIGHT.get().saturating_sub(1));
    }
}

/// The answer to a `/work` job of `ms` that ran on the pool (or was canceled by the shutdown).
fn worked(done: evloop::Result<()>, ms: u64) -> Response {
    match done {
        Ok(()) => Response::text(200, format!("worked {ms} ms on the pool\n")),
        Err(e) if e.is_canceled() => Response::text(503, "shutting down: the job was canceled\n"),
        Err(e) => Response::text(500, format!("{e}\n")),
    }
}

/// Spins (rather than sleeps) for `ms`: real work that holds whichever thread runs it.
fn busy(ms: u64) {
    let until = Instant::now() + Duration::from_millis(ms);
    while Instant::now() < until {
        std::hint::spin_loop();
    }
}

/// Prometheus text for the loop that answers: this server's counters (labelled with the loop),
/// then the loop's own metrics — iterations, callbacks by phase, utilization, the lag
/// histogram and every timer's lateness, pool jobs, bytes.
fn metrics(lp: &Loop, index: usize) -> Response {
    let kind = ("Content-Type", "text/plain; version=0.0.4");
    let Some(stats) = SERVER.with(|s| s.borrow().as_ref().map(Server::stats)) else {
        return Response::new(200, "").header(kind.0, kind.1);
    };
    let families: [(&str, &str, &str, u64); 9] = [
        (
            "evloop_http_connections_accepted_total",
            "counter",
            "Connections accepted.",
            stats.connections_accepted,
        ),
        (
            "evloop_http_connections_rejected_total",
            "counter",
            "Connections closed at once (over a limit, or shutting down).",
            stats.connections_rejected,
        ),
        (
            "evloop_http_connections_evicted_total",
            "counter",
            "Connections without a complete request closed at the cap for a new one.",
            stats.connections_evicted,
        ),
        (
            "evloop_http_send_timeouts_total",
            "counter",
            "Connections closed because the client took no bytes for the send timeout.",
            stats.send_timeouts,
        ),
        (
            "evloop_http_connections_open",
            "gauge",
            "Connections open.",
            stats.connections_open,
        ),
        (
            "evloop_http_requests_total",
            "counter",
            "Requests dispatched.",
            stats.requests,
        ),
        (
            "evloop_http_bytes_in_total",
            "counter",
            "Bytes read from clients.",
            stats.bytes_in,
        ),
        (
            "evloop_http_bytes_out_total",
            "counter",
            "Bytes written to clients.",
            stats.bytes_out,
        ),
        (
            "evloop_http_handler_panics_total",
            "counter",
            "Handler calls that panicked (answered 500, connection closed).",
            stats.handler_panics,
        ),
    ];
    let mut out = String::new();
    for (name, kind, help, value) in families {
        out += &format!(
            "# HELP {name} {help}\n# TYPE {name} {kind}\n{name}{{loop=\"{index}\"}} {value}\n"
        );
    }
    out += &lp.metrics().to_prometheus("evloop");
    Response::new(200, out).header(kind.0, kind.1)
}

/// `/files/<rest>`: refuses dot-segments, dotfiles and anything odd before touching the disk.
/// The file is then opened relative to the root directory, following no symlink anywhere (so
/// nothing swapped in under the root can lead out of it): on the loop thread when the kernel's
/// lookup cache holds the whole path (`fs::open_beneath_cached`, a few microseconds), else on
/// the pool (`fs::open_beneath`); and streamed ([`file_answer`]).
fn file_route(shared: &Shared, rest: &str) -> Route {
    let Some(root) = shared.root.clone() else {
        return Route::Answer(Response::text(404, "not found (no --root)\n"));
    };
    let Some(rel) = percent_decode(rest).and_then(|b| String::from_utf8(b).ok()) else {
        return Route::Answer(Response::text(400, "bad path\n"));
    };
    // As serve-static's default: a segment starting with a dot (`.`, `..`, `.git`, `.env`) is
    // never served.
    let refused = rel.is_empty()
        || rel.contains(['\\', '\0'])
        || rel
            .split('/')
            .any(|seg| seg.is_empty() || seg.starts_with('.'));
    if refused {
        return Route::Answer(Response::text(403, "forbidden\n"));
    }
    #[cfg(unix)]
    let file = Route::File(root, rel);
    #[cfg(windows)] // `--root` is refused there, so `root` is never set
    let file = {
        let _ = (root, rel);
        Route::Answer(Response::text(404, "not found (no --root)\n"))
    };
    file
}

/// The answer to `/files/<rel>` once `fs::open_beneath` has tried to open it.
#[cfg(unix)]
fn file_answer(opened: std::io::Result<(std::fs::File, std::fs::Metadata)>, rel: &str) -> Response {
    match opened {
        Ok((file, meta)) if meta.is_file() => {
            let kind = content_type(Path::new(rel));
            Response::file(200, file, meta.len()).header("Content-Type", kind)
        }
        Ok(_) => Response::text(404, "not found\n"),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Response::text(404, "not found\n"),
        // A symlink, or a path through one: refused, whatever it points at.
        Err(_) => Response::text(403, "forbidden\n"),
    }
}

#[cfg(unix)] // no static files on Windows (see `route`)
fn content_type(path: &Path) -> &'static str {
    match path.extension().and_then(|e| e.to_str()).unwrap_or("") {
        "html" | "htm" => "text/html; charset=utf-8",
        "txt" | "md" | "rs" | "toml" => "text/plain; charset=utf-8",
        "css" => "text/css",
        "js" => "text/javascript",
        "json" => "application/json",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "svg" => "image/svg+xml",
        "wasm" => "application/wasm",
        "pdf" => "application/pdf",
        _ => "application/octet-stream",
    }
}

fn parse_args() -> Result<Options, String> {
    let mut opts = Options {
        addr: SocketAddr::from(([127, 0, 0, 1], 8080)),
        threads: 1,
        root: None,
        max_work: 8,
        header_timeout: 10,
        no_sendfile: false,
        log: false,
        instrument: false,
        async_mode: false,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().ok_or(format!("{arg} needs a value"));
        match arg.as_str() {
            "--addr" => opts.addr = support::resolve(&value()?)?,
            "--threads" => opts.threads = support::count("--threads", &value()?, MAX_THREADS)?,
            "--max-work" => opts.max_work = support::count("--max-work", &value()?, 100_000)?,
            "--header-timeout" => {
                opts.header_timeout = support::count("--header-timeout", &value()?, 3600)? as u64
            }
            "--root" => opts.root = Some(PathBuf::from(value()?)),
            "--no-sendfile" => opts.no_sendfile = true,
            "--log" => opts.log = true,
            "--instrument" => opts.instrument = true,
            "--async" => opts.async_mode = true,
            other => return Err(format!("unknown argument {other}")),
        }
    }
    Ok(opts)
}
