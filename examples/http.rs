//! An HTTP/1.1 server on evloop: hello world, metrics, static files read on the thread pool,
//! and a pair of routes that show event-loop lag and its cure.
//!
//! ```sh
//! cargo run --release --example http -- --addr 127.0.0.1:8080 --threads 2 --root . --log
//! curl -i http://127.0.0.1:8080/
//! ```
//!
//! Routes: `/` (`Hello, World!`), `/metrics` (Prometheus text), `/files/<path>` (files under
//! `--root`), `/block?ms=N` (busy-blocks the loop for N ms, at most 10 000: every other
//! connection on this loop waits) and `/work?ms=N` (the same work on the thread pool: nobody
//! waits). `--threads N` runs one loop per thread on a shared `SO_REUSEPORT` port. SIGINT and
//! SIGTERM shut down gracefully: stop accepting, finish in-flight requests, exit. `--instrument`
//! turns on callback timing, slow-callback reports (> 100 ms) and the watchdog (> 1 s).
//! `--async` answers every request from an `async` task (`evloop::task`): the same routes and
//! bytes, with `await` where the callback mode nests callbacks.

use std::cell::RefCell;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use evloop::http::{Request, Responder, Server, ServerConfig, percent_decode};
use evloop::net::TcpListenOptions;
use evloop::{Loop, LoopSender, task};
use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook::iterator::Signals;

const TEXT: (&str, &str) = ("Content-Type", "text/plain; charset=utf-8");

struct Options {
    addr: SocketAddr,
    threads: usize,
    root: PathBuf,
    log: bool,
    /// Everything metrics can do, on: callback timing, slow-callback reports, the watchdog.
    instrument: bool,
    /// Answer from `async` tasks.
    async_mode: bool,
}

fn main() {
    let opts = match parse_args() {
        Ok(opts) => opts,
        Err(e) => {
            eprintln!(
                "{e}\nusage: http [--addr HOST:PORT] [--threads N] [--root DIR] [--log] [--instrument] [--async]"
            );
            std::process::exit(2);
        }
    };
    let root = match opts.root.canonicalize() {
        Ok(root) => Arc::new(root),
        Err(e) => {
            eprintln!("--root {}: {e}", opts.root.display());
            std::process::exit(2);
        }
    };
    // Registered before any loop starts, so an early signal is not fatal. Watched here rather
    // than with a `Signal` handle per loop: one place stops every loop, and a second signal
    // can still end the process while requests finish.
    let mut signals = match Signals::new([SIGINT, SIGTERM]) {
        Ok(signals) => signals,
        Err(e) => {
            eprintln!("cannot watch signals: {e}");
            std::process::exit(1);
        }
    };
    // The first loop binds (port 0 picks a port); the others share its port.
    let (tx, rx) = std::sync::mpsc::channel::<Result<(SocketAddr, LoopSender), String>>();
    let mut threads = Vec::new();
    let mut addr = opts.addr;
    let mut senders = Vec::new();
    for index in 0..opts.threads.max(1) {
        let tx = tx.clone();
        let root = Arc::clone(&root);
        let flags = (opts.log, opts.instrument, opts.async_mode);
        threads.push(std::thread::spawn(move || {
            if let Err(e) = serve(index, addr, root, flags, &tx) {
                let _ = tx.send(Err(format!("loop {index}: {e}")));
            }
        }));
        match rx.recv() {
            Ok(Ok((bound, sender))) => {
                if index == 0 {
                    addr = bound;
                }
                senders.push(sender);
            }
            Ok(Err(e)) => {
                eprintln!("{e}");
                std::process::exit(1);
            }
            Err(_) => std::process::exit(1),
        }
    }
    println!("listening on {addr}");
    drop(tx);
    // The loops end once their servers have shut down; then the process exits.
    std::thread::spawn(move || {
        for thread in threads {
            let _ = thread.join();
        }
        std::process::exit(0);
    });
    // First SIGINT/SIGTERM: every loop's server shuts down gracefully (5 s for in-flight
    // requests). A second one while they finish means "now".
    if signals.forever().next().is_some() {
        for sender in &senders {
            let _ = sender.post(|lp| {
                if let Some(server) = SERVER.with(|s| s.borrow().clone()) {
                    server.shutdown(lp, Duration::from_secs(5), |_| {});
                }
            });
        }
    }
    if signals.forever().next().is_some() {
        eprintln!("second signal: exiting without waiting");
        std::process::exit(1);
    }
}

thread_local! {
    /// This loop's server, for `/metrics` and for the shutdown posted on a signal.
    static SERVER: RefCell<Option<Server>> = const { RefCell::new(None) };
}

fn serve(
    index: usize,
    addr: SocketAddr,
    root: Arc<PathBuf>,
    (log, instrument, async_mode): (bool, bool, bool),
    ready: &std::sync::mpsc::Sender<Result<(SocketAddr, LoopSender), String>>,
) -> Result<(), evloop::Error> {
    let mut lp = Loop::new()?;
    if instrument {
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
    let options = TcpListenOptions::new().reuse_port(true);
    let handler = move |lp: &mut Loop, req: Request, res: Responder| {
        if log {
            println!(
                "loop {index} {} \"{} {}\"",
                req.peer_addr(),
                req.method(),
                req.target()
            );
        }
        if async_mode {
            route_async(lp, index, &root, &req, res);
        } else {
            route(lp, index, &root, &req, res);
        }
    };
    let server = Server::listen_with(&mut lp, addr, &options, config, handler)?;
    // Lag sampled every 10 ms (an unref'd timer: it never keeps the loop alive); `/block`
    // shows up there, `/work` does not.
    lp.monitor_lag(Duration::from_millis(10));
    let sender = lp.weak_sender();
    SERVER.with(|s| *s.borrow_mut() = Some(server.clone()));
    let _ = ready.send(Ok((server.local_addr(), sender)));
    lp.run()
}

fn route(lp: &mut Loop, index: usize, root: &Arc<PathBuf>, req: &Request, res: Responder) {
    let path = req.path();
    if path == "/" {
        res.send(lp, 200, &[TEXT], "Hello, World!");
    } else if path == "/metrics" {
        let body = metrics(lp, index);
        res.send(
            lp,
            200,
            &[("Content-Type", "text/plain; version=0.0.4")],
            body,
        );
    } else if let Some(rest) = path.strip_prefix("/files/") {
        serve_file(lp, root, rest, res);
    } else if path == "/block" || path == "/work" {
        let ms = req
            .query_param("ms")
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(100)
            .min(10_000);
        if path == "/block" {
            busy(ms);
            res.send(lp, 200, &[TEXT], format!("blocked the loop for {ms} ms\n"));
        } else {
            lp.queue_work(
                move || busy(ms),
                move |lp, done| match done {
                    Ok(()) => res.send(lp, 200, &[TEXT], format!("worked {ms} ms on the pool\n")),
                    Err(e) => res.send(lp, 500, &[TEXT], format!("{e}\n")),
                },
            );
        }
    } else {
        res.send(lp, 404, &[TEXT], "not found\n");
    }
}

/// `--async`: the same routes, answered by a task per request.
fn route_async(lp: &mut Loop, index: usize, root: &Arc<PathBuf>, req: &Request, res: Responder) {
    let path = req.path().to_owned();
    let ms = req
        .query_param("ms")
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or(100)
        .min(10_000);
    let root = Arc::clone(root);
    lp.spawn_local(async move {
        // Every answer goes out through the loop: `with_loop` hands the closure `&mut Loop`
        // right after this poll. (It fails only outside a task, which this is not.)
        let reply = |status: u16, kind: &'static str, body: Vec<u8>| {
            task::with_loop(move |lp| res.send(lp, status, &[("Content-Type", kind)], body))
        };
        let text = "text/plain; charset=utf-8";
        let _ = if path == "/" {
            reply(200, text, b"Hello, World!".to_vec()).await
        } else if path == "/metrics" {
            let body = task::with_loop(move |lp| metrics(lp, index)).await;
            let body = body.unwrap_or_default().into_bytes();
            reply(200, "text/plain; version=0.0.4", body).await
        } else if let Some(rest) = path.strip_prefix("/files/") {
            let answer = match confine(rest) {
                Err((status, msg)) => Err((status, msg.to_owned())),
                Ok(rel) => match task::spawn_blocking(move || read_confined(&root, &rel)).await {
                    Ok(Ok(found)) => Ok(found),
                    Ok(Err(status)) => Err((status, format!("{status}\n"))),
                    Err(e) => Err((500, format!("{e}\n"))),
                },
            };
            match answer {
                Ok((bytes, kind)) => reply(200, kind, bytes).await,
                Err((status, msg)) => reply(status, text, msg.into_bytes()).await,
            }
        } else if path == "/block" {
            busy(ms);
            reply(
                200,
                text,
                format!("blocked the loop for {ms} ms\n").into_bytes(),
            )
            .await
        } else if path == "/work" {
            match task::spawn_blocking(move || busy(ms)).await {
                Ok(()) => {
                    reply(
                        200,
                        text,
                        format!("worked {ms} ms on the pool\n").into_bytes(),
                    )
                    .await
                }
                Err(e) => reply(500, text, format!("{e}\n").into_bytes()).await,
            }
        } else {
            reply(404, text, b"not found\n".to_vec()).await
        };
    })
    .detach();
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
fn metrics(lp: &Loop, index: usize) -> String {
    let Some(stats) = SERVER.with(|s| s.borrow().as_ref().map(Server::stats)) else {
        return String::new();
    };
    let families: [(&str, &str, &str, u64); 6] = [
        (
            "evloop_http_connections_accepted_total",
            "counter",
            "Connections accepted.",
            stats.connections_accepted,
        ),
        (
            "evloop_http_connections_rejected_total",
            "counter",
            "Connections closed over the limit.",
            stats.connections_rejected,
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
    ];
    let mut out = String::new();
    for (name, kind, help, value) in families {
        out += &format!(
            "# HELP {name} {help}\n# TYPE {name} {kind}\n{name}{{loop=\"{index}\"}} {value}\n"
        );
    }
    out + &lp.metrics().to_prometheus("evloop")
}

/// `/files/<rest>`: refuses anything that could leave the root before touching the disk,
/// then canonicalizes on the pool and checks the prefix again (symlinks out of the root).
fn serve_file(lp: &mut Loop, root: &Arc<PathBuf>, rest: &str, res: Responder) {
    let rel = match confine(rest) {
        Ok(rel) => rel,
        Err((status, msg)) => return res.send(lp, status, &[TEXT], msg),
    };
    let root = Arc::clone(root);
    lp.queue_work(
        move || read_confined(&root, &rel),
        move |lp, done| match done {
            Ok(Ok((bytes, kind))) => res.send(lp, 200, &[("Content-Type", kind)], bytes),
            Ok(Err(status)) => res.send(lp, status, &[TEXT], format!("{status}\n")),
            Err(e) => res.send(lp, 500, &[TEXT], format!("{e}\n")),
        },
    );
}

/// The decoded relative path under `/files/`, or the status and body refusing it.
fn confine(rest: &str) -> Result<String, (u16, &'static str)> {
    let Some(rel) = percent_decode(rest).and_then(|b| String::from_utf8(b).ok()) else {
        return Err((400, "bad path\n"));
    };
    let suspicious = rel.is_empty()
        || rel.starts_with('/')
        || rel.contains(['\\', '\0'])
        || rel.split('/').any(|seg| seg == ".." || seg == ".");
    if suspicious {
        return Err((403, "forbidden\n"));
    }
    Ok(rel)
}

/// On the pool: the file's bytes and content type, or a status.
fn read_confined(root: &Path, rel: &str) -> Result<(Vec<u8>, &'static str), u16> {
    let path = root.join(rel).canonicalize().map_err(|_| 404u16)?;
    if !path.starts_with(root) {
        return Err(403);
    }
    if !path.is_file() {
        return Err(404);
    }
    let bytes = std::fs::read(&path).map_err(|_| 404u16)?;
    Ok((bytes, content_type(&path)))
}

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
        addr: "127.0.0.1:8080".parse().map_err(|e| format!("{e}"))?,
        threads: 1,
        root: PathBuf::from("."),
        log: false,
        instrument: false,
        async_mode: false,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().ok_or(format!("{arg} needs a value"));
        match arg.as_str() {
            "--addr" => opts.addr = value()?.parse().map_err(|e| format!("--addr: {e}"))?,
            "--threads" => {
                opts.threads = value()?.parse().map_err(|e| format!("--threads: {e}"))?
            }
            "--root" => opts.root = PathBuf::from(value()?),
            "--log" => opts.log = true,
            "--instrument" => opts.instrument = true,
            "--async" => opts.async_mode = true,
            other => return Err(format!("unknown argument {other}")),
        }
    }
    Ok(opts)
}
