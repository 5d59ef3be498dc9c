//! `examples/http` (and `echo`, `lag`) against careless operators and hostile clients: each
//! test reproduces an attack from issue 16 at a size that fits CI and asserts its bound. Every
//! test runs against both modes of the http example (`name::callbacks`, `name::async_mode`).
// Unix only: runs the examples as processes and stops them with signals.
#![cfg(unix)]
mod util;

use std::io::{BufReader, Read, Write};
use std::net::TcpStream;
use std::os::unix::process::ExitStatusExt;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use util::example::{self, Mode, Running, in_both_modes};
use util::http::{connect, exchange, get, read_response, status_of};
use util::with_timeout;

/// A fresh root: hello.txt, a 16 MiB file, .secret and .git/config (dotfiles), sub/a.txt.
fn root(tag: &str) -> PathBuf {
    let base = std::env::temp_dir().join(format!("evloop-hostile-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&base);
    std::fs::create_dir_all(base.join(".git")).unwrap();
    std::fs::create_dir_all(base.join("sub")).unwrap();
    std::fs::write(base.join("hello.txt"), "hello file\n").unwrap();
    std::fs::write(base.join(".secret"), "DOTFILE-SECRET").unwrap();
    std::fs::write(base.join(".git/config"), "DOTGIT-SECRET").unwrap();
    std::fs::write(base.join("sub/a.txt"), "a").unwrap();
    let big: Vec<u8> = (0..16u32 << 20).map(|i| (i % 251) as u8).collect();
    std::fs::write(base.join("big16.bin"), big).unwrap();
    base
}

/// The http example in `mode` on a free port, with `args`.
fn http(mode: Mode, args: &[&str]) -> Running {
    let mut all = mode.with(&["--addr", "127.0.0.1:0"]);
    all.extend_from_slice(args);
    let running = example::start("http", &all);
    mode.assert_banner(&running.banner);
    running
}

in_both_modes! {
    absurd_or_bad_command_lines_get_a_clear_message
    sigint_during_start_up_exits_at_once
    a_second_server_on_the_same_port_fails_with_the_address_in_the_message
    routes_refuse_methods_bad_numbers_dotfiles_and_chained_blocks
    sigterm_with_16_queued_5_s_jobs_exits_0_within_the_grace_and_a_second
    a_tiny_file_is_served_at_once_while_cpu_work_saturates_the_pool
    thirty_two_pipelined_requests_for_a_16_mib_file_grow_rss_by_under_4_mib
    a_fresh_client_is_served_while_10_000_silent_connections_are_held
    the_symlink_swap_race_leaks_nothing_through_files
    requests_sent_before_sigterm_get_an_answer_or_a_fin_never_a_reset
}

fn absurd_or_bad_command_lines_get_a_clear_message(mode: Mode) {
    with_timeout(120, move || {
        for (name, args, needle) in [
            (
                "http",
                &["--threads", "100000"][..],
                "--threads 100000: want a whole number from 1 to 256",
            ),
            (
                "http",
                &["--threads", "0"][..],
                "--threads 0: want a whole number from 1 to 256",
            ),
            (
                "echo",
                &["--threads", "0"][..],
                "--threads 0: want a whole number from 1 to 256",
            ),
            (
                "echo",
                &["--threads", "100000"][..],
                "--threads 100000: want a whole number from 1 to 256",
            ),
            ("http", &["--addr", "127.0.0.1"][..], "--addr 127.0.0.1:"),
            (
                "http",
                &["--max-work", "x"][..],
                "--max-work x: want a whole number",
            ),
            (
                "lag",
                &["--seconds", "abc"][..],
                "--seconds abc: want a whole number from 1 to 3600",
            ),
        ] {
            // The other examples' lines are checked once, in the callbacks run.
            if name != "http" && mode == Mode::Async {
                continue;
            }
            let args = &if name == "http" {
                mode.with(args)
            } else {
                args.to_vec()
            }[..];
            let started = Instant::now();
            let (status, stderr) = example::run(name, args);
            assert_eq!(status.code(), Some(2), "{name} {args:?}: {stderr}");
            assert!(stderr.contains(needle), "{name} {args:?}: {stderr}");
            assert!(stderr.contains("usage:"), "{name} {args:?}: {stderr}");
            assert!(!stderr.contains("ParseIntError"), "a Debug dump: {stderr}");
            assert!(started.elapsed() < Duration::from_secs(10));
        }
        // A host name is fine where HOST:PORT is asked for.
        let mut server = example::start("http", &mode.with(&["--addr", "localhost:0"]));
        mode.assert_banner(&server.banner);
        assert!(server.addr.ip().is_loopback(), "{}", server.addr);
        assert_eq!(get(server.addr, "/").status, 200);
        server.signal("TERM");
        let (status, _) = server.wait_exit(Duration::from_secs(10));
        assert!(status.success(), "{status}");
    });
}

fn sigint_during_start_up_exits_at_once(mode: Mode) {
    with_timeout(120, move || {
        let bin = example::binary("http");
        let mut hit = 0;
        for _ in 0..5 {
            let mut child = std::process::Command::new(&bin)
                .args(mode.with(&["--addr", "127.0.0.1:0", "--threads", "256"]))
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap();
            let pid = child.id();
            // Signal once loops are starting: a few threads exist, far from 256.
            let deadline = Instant::now() + Duration::from_secs(10);
            loop {
                let tasks =
                    std::fs::read_dir(format!("/proc/{pid}/task")).map_or(0, Iterator::count);
                if tasks >= 8 {
                    break;
                }
                assert!(
                    Instant::now() < deadline,
                    "the example never started threads"
                );
                std::thread::sleep(Duration::from_micros(200));
            }
            let sent = Instant::now();
            let _ = std::process::Command::new("kill")
                .args(["-INT", &pid.to_string()])
                .status();
            let status = loop {
                if let Some(status) = child.try_wait().unwrap() {
                    break status;
                }
                assert!(
                    sent.elapsed() < Duration::from_secs(1),
                    "no exit 1 s after SIGINT"
                );
                std::thread::sleep(Duration::from_millis(2));
            };
            let mut stderr = String::new();
            let _ = child.stderr.take().unwrap().read_to_string(&mut stderr);
            if stderr.contains("during start-up") {
                assert_eq!(status.code(), Some(130), "{stderr}");
                hit += 1;
            } else {
                // Start-up had just finished: the graceful path, just as quick.
                assert!(
                    status.success() || status.signal().is_some(),
                    "{status} {stderr}"
                );
            }
        }
        assert!(hit > 0, "no SIGINT landed during start-up in 5 tries");
    });
}

fn a_second_server_on_the_same_port_fails_with_the_address_in_the_message(mode: Mode) {
    with_timeout(120, move || {
        for name in ["http", "echo"] {
            // echo is checked once, in the callbacks run.
            if name == "echo" && mode == Mode::Async {
                continue;
            }
            let mode = if name == "http" {
                mode
            } else {
                Mode::Callbacks
            };
            let first = example::start(
                name,
                &mode.with(&["--addr", "127.0.0.1:0", "--threads", "2"]),
            );
            if name == "http" {
                mode.assert_banner(&first.banner);
            }
            let addr = first.addr.to_string();
            let (status, stderr) = example::run(name, &mode.with(&["--addr", &addr]));
            assert_eq!(status.code(), Some(1), "{name}: {stderr}");
            assert!(
                stderr.contains(&format!("cannot listen on {addr}")),
                "{name}: {stderr}"
            );
            // The first one still serves: nothing was taken from it.
            if name == "http" {
                assert_eq!(get(first.addr, "/").status, 200);
            }
        }
    });
}

fn routes_refuse_methods_bad_numbers_dotfiles_and_chained_blocks(mode: Mode) {
    with_timeout(120, move || {
        let root = root(&format!("routes-{mode:?}"));
        let server = http(mode, &["--root", root.to_str().unwrap()]);
        let addr = server.addr;
        let send = |raw: &str| exchange(addr, raw.as_bytes());
        let bytes =
            send("DELETE /files/hello.txt HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
        let r = read_response(&mut BufReader::new(&bytes[..]), false).unwrap();
        assert_eq!((r.status, r.header("allow")), (405, Some("GET, HEAD")));
        let bytes = send("HEAD /files/hello.txt HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
        let r = read_response(&mut BufReader::new(&bytes[..]), true).unwrap();
        assert_eq!((r.status, r.header("content-length")), (200, Some("11")));
        // Absolute-form and HTTP/1.2 are served.
        let bytes =
            send("GET http://t/files/sub/a.txt HTTP/1.2\r\nHost: t\r\nConnection: close\r\n\r\n");
        assert!(
            bytes.starts_with(b"HTTP/1.1 200 "),
            "{}",
            String::from_utf8_lossy(&bytes)
        );
        assert!(bytes.ends_with(b"\r\n\r\na"));
        for target in ["/work?ms=abc", "/work?ms=-1", "/block?ms=99999"] {
            let r = get(addr, target);
            assert_eq!(r.status, 400, "{target}");
            assert!(
                r.text().contains("want a whole number of milliseconds"),
                "{}",
                r.text()
            );
        }
        for target in [
            "/files/.secret",
            "/files/.git/config",
            "/files/sub/../.secret",
            "/files/%2egit/config",
        ] {
            let raw = format!("GET {target} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
            let bytes = send(&raw);
            let text = String::from_utf8_lossy(&bytes);
            assert!(!text.contains("SECRET"), "{target} leaked: {text}");
            assert_eq!(status_of(&bytes), 403, "{target}");
        }
        // Four concurrent /block?ms=300: one runs, the others get 503 instead of chaining.
        let started = Instant::now();
        let blocks: Vec<_> = (0..4)
            .map(|_| {
                let mut s = connect(addr);
                s.write_all(b"GET /block?ms=300 HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
                    .unwrap();
                s
            })
            .collect();
        let statuses: Vec<u16> = blocks
            .into_iter()
            .map(|mut s| {
                let mut bytes = Vec::new();
                let _ = s.read_to_end(&mut bytes);
                status_of(&bytes)
            })
            .collect();
        let elapsed = started.elapsed();
        assert_eq!(
            statuses.iter().filter(|&&s| s == 200).count(),
            1,
            "{statuses:?}"
        );
        assert_eq!(
            statuses.iter().filter(|&&s| s == 503).count(),
            3,
            "{statuses:?}"
        );
        assert!(
            elapsed < Duration::from_millis(1200),
            "stalls chained: {elapsed:?}"
        );
        let _ = std::fs::remove_dir_all(root);
    });
}

/// Sends `GET target` on a new connection without waiting for the answer.
fn fire(addr: std::net::SocketAddr, target: &str) -> TcpStream {
    let mut s = connect(addr);
    let raw = format!("GET {target} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
    s.write_all(raw.as_bytes()).unwrap();
    s
}

fn sigterm_with_16_queued_5_s_jobs_exits_0_within_the_grace_and_a_second(mode: Mode) {
    with_timeout(60, move || {
        let mut server = http(mode, &["--max-work", "16"]);
        let clients: Vec<TcpStream> = (0..16)
            .map(|_| fire(server.addr, "/work?ms=5000"))
            .collect();
        // The jobs are queued and running (three at a time: CPU work leaves one worker free).
        std::thread::sleep(Duration::from_millis(300));
        server.signal("TERM");
        let (status, took) = server.wait_exit(Duration::from_secs(20));
        assert!(status.success(), "{status}: {}", server.stderr_text());
        assert!(
            took < Duration::from_secs(6),
            "exited {took:?} after SIGTERM (grace 5 s)"
        );
        drop(clients);
    });
}

fn a_tiny_file_is_served_at_once_while_cpu_work_saturates_the_pool(mode: Mode) {
    with_timeout(60, move || {
        let root = root(&format!("starve-{mode:?}"));
        let server = http(
            mode,
            &["--root", root.to_str().unwrap(), "--max-work", "24"],
        );
        let addr = server.addr;
        let work: Vec<TcpStream> = (0..24).map(|_| fire(addr, "/work?ms=3000")).collect();
        std::thread::sleep(Duration::from_millis(200));
        // Every CPU slot is spinning and 21 jobs wait; the file read has its own worker.
        let mut times = Vec::new();
        for _ in 0..3 {
            let started = Instant::now();
            let r = get(addr, "/files/hello.txt");
            times.push(started.elapsed());
            assert_eq!((r.status, r.text().as_str()), (200, "hello file\n"));
        }
        let best = times.iter().min().copied().unwrap_or_default();
        assert!(
            best < Duration::from_millis(100),
            "tiny file took {times:?} (shared CI cores)"
        );
        assert!(
            times.iter().all(|t| *t < Duration::from_secs(1)),
            "{times:?}"
        );
        // More /work than --max-work in flight: 503 at once, not a longer queue.
        let r = get(addr, "/work?ms=10");
        assert_eq!(r.status, 503, "{}", r.text());
        assert_eq!(r.header("retry-after"), Some("1"));
        drop(work);
        let _ = std::fs::remove_dir_all(root);
    });
}

fn thirty_two_pipelined_requests_for_a_16_mib_file_grow_rss_by_under_4_mib(mode: Mode) {
    with_timeout(120, move || {
        let root = root(&format!("rss-{mode:?}"));
        let server = http(mode, &["--root", root.to_str().unwrap()]);
        let addr = server.addr;
        // Warm up: pool threads started, one whole download done.
        let r = get(addr, "/files/big16.bin");
        assert_eq!(r.body.len(), 16 << 20);
        std::thread::sleep(Duration::from_millis(100));
        let before = server.status_kib("VmRSS");
        // The attack: one 1.3 KB write of 32 requests, then not reading for a while.
        let one = "GET /files/big16.bin HTTP/1.1\r\nHost: t\r\n\r\n";
        let mut s = connect(addr);
        s.write_all(one.repeat(32).as_bytes()).unwrap();
        std::thread::sleep(Duration::from_millis(700));
        let stalled = server.status_kib("VmRSS");
        // Then reading it all: 512 MiB, byte-exact lengths, in order.
        let mut r = BufReader::with_capacity(1 << 20, s);
        for i in 0..32 {
            let resp = read_response(&mut r, false).unwrap();
            assert_eq!(
                (resp.status, resp.body.len()),
                (200, 16 << 20),
                "response {i}"
            );
            assert_eq!(resp.body[1000], (1000 % 251) as u8);
        }
        let peak = server.status_kib("VmHWM");
        let growth = peak.saturating_sub(before);
        eprintln!("RSS before {before} KiB, stalled {stalled} KiB, peak {peak} KiB");
        assert!(
            growth < 4 * 1024,
            "peak RSS grew {growth} KiB (before {before}, peak {peak})"
        );
        let _ = std::fs::remove_dir_all(root);
    });
}

/// Held by the 10 000-connection test: its two modes run one after the other, so this
/// process never holds 20 000 client sockets at once.
static TEN_THOUSAND: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn a_fresh_client_is_served_while_10_000_silent_connections_are_held(mode: Mode) {
    with_timeout(240, move || {
        let _one_at_a_time = TEN_THOUSAND
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        // 10 000 client sockets here and 10 000 in the server (which inherits the limit).
        let limit = std::fs::read_to_string("/proc/self/limits")
            .ok()
            .and_then(|t| {
                t.lines()
                    .find(|l| l.starts_with("Max open files"))
                    .and_then(|l| l.split_whitespace().nth(3)?.parse::<u64>().ok())
            })
            .unwrap_or(0);
        if limit < 10_200 {
            eprintln!("SKIPPED: open-file limit {limit} < 10 200 (raise `ulimit -n` to run this)");
            return;
        }
        // Silent connections are not timed out while the test runs, however slow the machine.
        let server = http(mode, &["--header-timeout", "120"]);
        let addr = server.addr;
        // The default cap is 10 000: fill it with connections that never send a byte.
        let mut silent = Vec::with_capacity(10_000);
        for i in 0..10_000 {
            match TcpStream::connect(addr) {
                Ok(s) => silent.push(s),
                Err(e) => panic!("connection {i}: {e}"),
            }
        }
        // Let the server accept them all: its descriptors show it without asking it.
        let deadline = Instant::now() + Duration::from_secs(60);
        while std::fs::read_dir(format!("/proc/{}/fd", server.pid())).map_or(0, Iterator::count)
            < 10_000
        {
            assert!(
                Instant::now() < deadline,
                "the server never accepted 10 000"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        for _ in 0..5 {
            // A reconnecting attacker keeps the cap full.
            silent.push(TcpStream::connect(addr).unwrap());
            let started = Instant::now();
            let r = get(addr, "/");
            assert_eq!((r.status, r.text().as_str()), (200, "Hello, World!"));
            assert!(started.elapsed() < Duration::from_secs(5));
        }
        let metrics = get(addr, "/metrics").text();
        let open = metrics
            .lines()
            .find_map(|l| l.strip_prefix("evloop_http_connections_open{loop=\"0\"} "))
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or_else(|| panic!("no open gauge in {metrics}"));
        assert!(open >= 9_990, "{open} connections held");
        let evicted = metrics
            .lines()
            .find_map(|l| l.strip_prefix("evloop_http_connections_evicted_total{loop=\"0\"} "))
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0);
        assert!(
            evicted >= 5,
            "{evicted} evicted: the fresh clients were not let in by eviction"
        );
        drop(silent);
    });
}

fn the_symlink_swap_race_leaks_nothing_through_files(mode: Mode) {
    with_timeout(120, move || {
        let base = std::env::temp_dir().join(format!(
            "evloop-hostile-race-{mode:?}-{}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&base);
        std::fs::create_dir_all(base.join("root/real")).unwrap();
        std::fs::create_dir_all(base.join("outside")).unwrap();
        std::fs::write(base.join("root/real/f"), "inside").unwrap();
        std::fs::write(base.join("outside/f"), "OUTSIDE-SECRET").unwrap();
        std::os::unix::fs::symlink("../outside", base.join("root/link")).unwrap();
        let root = base.join("root");
        let server = http(mode, &["--root", root.to_str().unwrap()]);
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let swapper = {
            let (stop, dir) = (stop.clone(), root);
            std::thread::spawn(move || {
                let mut swaps = 0u64;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    for from in ["real", "link"] {
                        if std::fs::rename(dir.join(from), dir.join("d")).is_ok() {
                            let _ = std::fs::rename(dir.join("d"), dir.join(from));
                            swaps += 1;
                        }
                    }
                }
                swaps
            })
        };
        const REQUESTS: usize = 100_000;
        const BATCH: usize = 32;
        let s = connect(server.addr);
        let mut w = s.try_clone().unwrap();
        let mut r = BufReader::with_capacity(1 << 16, s);
        let one = b"GET /files/d/f HTTP/1.1\r\nHost: t\r\n\r\n".repeat(BATCH);
        let (mut served, mut refused) = (0, 0);
        let started = Instant::now();
        for _ in 0..REQUESTS / BATCH {
            w.write_all(&one).unwrap();
            for _ in 0..BATCH {
                let resp = read_response(&mut r, false).unwrap();
                assert!(
                    !resp.text().contains("SECRET"),
                    "leaked after {served} served"
                );
                match resp.status {
                    200 => {
                        assert_eq!(resp.text(), "inside");
                        served += 1;
                    }
                    403 | 404 => refused += 1,
                    other => panic!("status {other}"),
                }
            }
        }
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        let swaps = swapper.join().unwrap();
        eprintln!(
            "{} requests in {:?}: {served} served, {refused} refused, {swaps} swaps",
            REQUESTS / BATCH * BATCH,
            started.elapsed()
        );
        assert!(served > 0 && refused > 0 && swaps > 1000);
        let _ = std::fs::remove_dir_all(base);
    });
}

fn requests_sent_before_sigterm_get_an_answer_or_a_fin_never_a_reset(mode: Mode) {
    with_timeout(60, move || {
        let mut server = http(mode, &[]);
        let mut clients: Vec<TcpStream> = (0..20).map(|_| connect(server.addr)).collect();
        for c in &mut clients {
            c.write_all(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n").unwrap();
            let mut r = BufReader::new(c.try_clone().unwrap());
            assert_eq!(read_response(&mut r, false).unwrap().status, 200);
        }
        // Keep-alive clients send their next request as the signal goes out.
        for c in &mut clients {
            c.write_all(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n").unwrap();
        }
        server.signal("TERM");
        let mut answered = 0;
        for (i, mut c) in clients.into_iter().enumerate() {
            let mut bytes = Vec::new();
            if let Err(e) = c.read_to_end(&mut bytes) {
                panic!("client {i}: {e} instead of an answer or a FIN");
            }
            if !bytes.is_empty() {
                let r = read_response(&mut BufReader::new(&bytes[..]), false).unwrap();
                assert_eq!(r.status, 200, "client {i}");
                answered += 1;
            }
        }
        let (status, took) = server.wait_exit(Duration::from_secs(10));
        assert!(status.success(), "{status}");
        assert!(took < Duration::from_secs(6), "{took:?}");
        eprintln!("{answered} of 20 answered, the rest a FIN");
    });
}
