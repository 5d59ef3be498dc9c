//! `examples/http.rs` (and `echo`, `lag`) against careless operators and hostile clients: each
//! test reproduces an attack from issue 16 at a size that fits CI and asserts its bound.
mod util;

use std::io::{BufReader, Read, Write};
use std::net::TcpStream;
use std::os::unix::process::ExitStatusExt;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use util::example::{self, Running};
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

fn http(args: &[&str]) -> Running {
    let mut all = vec!["--addr", "127.0.0.1:0"];
    all.extend_from_slice(args);
    example::start("http", &all)
}

#[test]
fn absurd_or_bad_command_lines_get_a_clear_message() {
    with_timeout(120, || {
        for (name, args, needle) in [
            ("http", &["--threads", "100000"][..], "--threads 100000: want a whole number from 1 to 256"),
            ("http", &["--threads", "0"][..], "--threads 0: want a whole number from 1 to 256"),
            ("echo", &["--threads", "0"][..], "--threads 0: want a whole number from 1 to 256"),
            ("echo", &["--threads", "100000"][..], "--threads 100000: want a whole number from 1 to 256"),
            ("http", &["--addr", "127.0.0.1"][..], "--addr 127.0.0.1:"),
            ("http", &["--max-work", "x"][..], "--max-work x: want a whole number"),
            ("lag", &["--seconds", "abc"][..], "--seconds abc: want a whole number from 1 to 3600"),
        ] {
            let started = Instant::now();
            let (status, stderr) = example::run(name, args);
            assert_eq!(status.code(), Some(2), "{name} {args:?}: {stderr}");
            assert!(stderr.contains(needle), "{name} {args:?}: {stderr}");
            assert!(stderr.contains("usage:"), "{name} {args:?}: {stderr}");
            assert!(!stderr.contains("ParseIntError"), "a Debug dump: {stderr}");
            assert!(started.elapsed() < Duration::from_secs(10));
        }
        // A host name is fine where HOST:PORT is asked for.
        let mut server = example::start("http", &["--addr", "localhost:0"]);
        assert!(server.addr.ip().is_loopback(), "{}", server.addr);
        assert_eq!(get(server.addr, "/").status, 200);
        server.signal("TERM");
        let (status, _) = server.wait_exit(Duration::from_secs(10));
        assert!(status.success(), "{status}");
    });
}

#[test]
fn sigint_during_start_up_exits_at_once() {
    with_timeout(120, || {
        let bin = example::binary("http");
        let mut hit = 0;
        for _ in 0..5 {
            let mut child = std::process::Command::new(&bin)
                .args(["--addr", "127.0.0.1:0", "--threads", "256"])
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap();
            let pid = child.id();
            // Signal once loops are starting: a few threads exist, far from 256.
            let deadline = Instant::now() + Duration::from_secs(10);
            loop {
                let tasks = std::fs::read_dir(format!("/proc/{pid}/task")).map_or(0, Iterator::count);
                if tasks >= 8 {
                    break;
                }
                assert!(Instant::now() < deadline, "the example never started threads");
                std::thread::sleep(Duration::from_micros(200));
            }
            let sent = Instant::now();
            let _ = std::process::Command::new("kill").args(["-INT", &pid.to_string()]).status();
            let status = loop {
                if let Some(status) = child.try_wait().unwrap() {
                    break status;
                }
                assert!(sent.elapsed() < Duration::from_secs(1), "no exit 1 s after SIGINT");
                std::thread::sleep(Duration::from_millis(2));
            };
            let mut stderr = String::new();
            let _ = child.stderr.take().unwrap().read_to_string(&mut stderr);
            if stderr.contains("during start-up") {
                assert_eq!(status.code(), Some(130), "{stderr}");
                hit += 1;
            } else {
                // Start-up had just finished: the graceful path, just as quick.
                assert!(status.success() || status.signal().is_some(), "{status} {stderr}");
            }
        }
        assert!(hit > 0, "no SIGINT landed during start-up in 5 tries");
    });
}

#[test]
fn a_second_server_on_the_same_port_fails_with_the_address_in_the_message() {
    with_timeout(120, || {
        for name in ["http", "echo"] {
            let first = example::start(name, &["--addr", "127.0.0.1:0", "--threads", "2"]);
            let addr = first.addr.to_string();
            let (status, stderr) = example::run(name, &["--addr", &addr]);
            assert_eq!(status.code(), Some(1), "{name}: {stderr}");
            assert!(stderr.contains(&format!("cannot listen on {addr}")), "{name}: {stderr}");
            // The first one still serves: nothing was taken from it.
            if name == "http" {
                assert_eq!(get(first.addr, "/").status, 200);
            }
        }
    });
}

#[test]
fn routes_refuse_methods_bad_numbers_dotfiles_and_chained_blocks() {
    with_timeout(120, || {
        let root = root("routes");
        let server = http(&["--root", root.to_str().unwrap()]);
        let addr = server.addr;
        let send = |raw: &str| exchange(addr, raw.as_bytes());
        let bytes = send("DELETE /files/hello.txt HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
        let r = read_response(&mut BufReader::new(&bytes[..]), false).unwrap();
        assert_eq!((r.status, r.header("allow")), (405, Some("GET, HEAD")));
        let bytes = send("HEAD /files/hello.txt HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
        let r = read_response(&mut BufReader::new(&bytes[..]), true).unwrap();
        assert_eq!((r.status, r.header("content-length")), (200, Some("11")));
        // Absolute-form and HTTP/1.2 are served.
        let bytes = send("GET http://t/files/sub/a.txt HTTP/1.2\r\nHost: t\r\nConnection: close\r\n\r\n");
        assert!(bytes.starts_with(b"HTTP/1.1 200 "), "{}", String::from_utf8_lossy(&bytes));
        assert!(bytes.ends_with(b"\r\n\r\na"));
        for target in ["/work?ms=abc", "/work?ms=-1", "/block?ms=99999"] {
            let r = get(addr, target);
            assert_eq!(r.status, 400, "{target}");
            assert!(r.text().contains("want a whole number of milliseconds"), "{}", r.text());
        }
        for target in ["/files/.secret", "/files/.git/config", "/files/sub/../.secret", "/files/%2egit/config"] {
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
        assert_eq!(statuses.iter().filter(|&&s| s == 200).count(), 1, "{statuses:?}");
        assert_eq!(statuses.iter().filter(|&&s| s == 503).count(), 3, "{statuses:?}");
        assert!(elapsed < Duration::from_millis(1200), "stalls chained: {elapsed:?}");
        let _ = std::fs::remove_dir_all(root);
    });
}
