//! `examples/http` as a process: static files arrive byte-exact, traversal never leaks a
//! file from outside the root, `/block` and `/work`, and SIGTERM shuts it down — in both
//! modes: callbacks, and `--async` (a task per request).
// Unix only: serves files through the http example's `--root` (evloop::fs, a symlink escape) and stops it with SIGTERM.
#![cfg(unix)]
mod util;

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use util::example::{Mode, in_both_modes};
use util::http::{exchange, get, read_response};
use util::with_timeout;

const SECRET: &str = "TOP-SECRET-3f9a1c";

struct Example {
    child: Child,
    addr: SocketAddr,
}

impl Drop for Example {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The example binary `cargo test` builds next to the test binaries.
fn example_path() -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    let path = exe.parent()?.parent()?.join("examples").join("http");
    path.exists().then_some(path)
}

fn start(root: &Path, mode: Mode) -> Option<Example> {
    let Some(bin) = example_path() else {
        eprintln!(
            "SKIPPED: examples/http is not built (plain `cargo test` builds it; \
             `cargo test --test http_files` alone does not)"
        );
        return None;
    };
    let mut cmd = Command::new(bin);
    cmd.args(mode.with(&["--addr", "127.0.0.1:0", "--root"]))
        .arg(root);
    let mut child = cmd
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn the example");
    let stdout = child.stdout.take().expect("stdout");
    let mut line = String::new();
    BufReader::new(stdout)
        .read_line(&mut line)
        .expect("first line");
    let line = line.trim();
    mode.assert_banner(line);
    let addr = line
        .strip_prefix("listening on ")
        .and_then(|a| a.split(' ').next()?.parse().ok())
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"));
    Some(Example { child, addr })
}

/// root/{hello.txt, big.bin, sub/a.html, escape -> ../secret.txt}, and secret.txt beside root.
fn tree(tag: &str) -> (PathBuf, Vec<u8>) {
    let base = std::env::temp_dir().join(format!("evloop-http-files-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&base);
    let root = base.join("root");
    std::fs::create_dir_all(root.join("sub")).unwrap();
    std::fs::write(base.join("secret.txt"), SECRET).unwrap();
    std::fs::write(root.join("hello.txt"), "hello file\n").unwrap();
    std::fs::write(root.join("sub/a.html"), "<p>a</p>").unwrap();
    let big: Vec<u8> = (0..10 * 1024 * 1024u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    std::fs::write(root.join("big.bin"), &big).unwrap();
    std::os::unix::fs::symlink(base.join("secret.txt"), root.join("escape")).unwrap();
    (root, big)
}

in_both_modes! {
    files_traversal_lag_routes_and_sigterm
}

fn files_traversal_lag_routes_and_sigterm(mode: Mode) {
    with_timeout(60, move || {
        let (root, big) = tree(&format!("{mode:?}"));
        let Some(mut example) = start(&root, mode) else {
            return;
        };
        let addr = example.addr;

        let r = get(addr, "/");
        assert_eq!((r.status, r.text().as_str()), (200, "Hello, World!"));
        assert_eq!(get(addr, "/nope").status, 404);
        let r = get(addr, "/files/hello.txt");
        assert_eq!((r.status, r.text().as_str()), (200, "hello file\n"));
        assert_eq!(r.header("content-type"), Some("text/plain; charset=utf-8"));
        let r = get(addr, "/files/sub/a.html");
        assert_eq!(r.header("content-type"), Some("text/html; charset=utf-8"));
        let r = get(addr, "/files/big.bin");
        assert_eq!(r.header("content-length"), Some("10485760"));
        assert!(r.body == big, "10 MiB arrive byte-exact");
        assert_eq!(get(addr, "/files/missing.txt").status, 404);
        assert_eq!(get(addr, "/files/sub").status, 404);

        let attacks = [
            "/files/../secret.txt",
            "/files/sub/../../secret.txt",
            "/files/%2e%2e/secret.txt",
            "/files/%2E%2E%2Fsecret.txt",
            "/files/..%2fsecret.txt",
            "/files/sub%2f..%2f..%2fsecret.txt",
            "/files/%252e%252e/secret.txt",
            "/files//etc/passwd",
            "/files/%2fetc%2fpasswd",
            "/files/..\\secret.txt",
            "/files/%5c..%5csecret.txt",
            "/files/escape",
            "/files/hello.txt%00.png",
            "/files/./hello.txt",
            "/files/%zz",
        ];
        for target in attacks {
            let raw = format!("GET {target} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
            let bytes = exchange(addr, raw.as_bytes());
            let text = String::from_utf8_lossy(&bytes);
            assert!(!text.contains(SECRET), "{target} leaked the secret");
            assert!(!text.contains("root:"), "{target} leaked /etc/passwd");
            let status = read_response(&mut BufReader::new(&bytes[..]), false)
                .map(|r| r.status)
                .unwrap_or(0);
            assert!([400, 403, 404].contains(&status), "{target}: {status}");
        }

        let r = get(addr, "/work?ms=20");
        assert_eq!(
            (r.status, r.text().as_str()),
            (200, "worked 20 ms on the pool\n")
        );
        let r = get(addr, "/block?ms=20");
        assert_eq!(r.status, 200);
        let r = get(addr, "/metrics");
        let text = r.text();
        assert!(text.contains("evloop_http_requests_total{loop=\"0\"}"));
        // The loop's own metrics follow: utilization and the lag monitor's histogram.
        assert!(
            text.contains("# TYPE evloop_utilization_ratio gauge"),
            "{text}"
        );
        let samples = text
            .lines()
            .find_map(|l| l.strip_prefix("evloop_lag_seconds_count "))
            .and_then(|v| v.parse::<f64>().ok());
        assert!(
            samples.is_some_and(|n| n > 0.0),
            "no lag samples in:\n{text}"
        );

        // Callbacks answer every route: no microtask runs. The async mode answers from
        // tasks, whose polls are microtasks: at least one per request so far.
        let microtasks = text
            .lines()
            .find_map(|l| l.strip_prefix("evloop_callbacks_total{phase=\"microtask\"} "))
            .and_then(|v| v.parse::<u64>().ok());
        match mode {
            Mode::Callbacks => assert_eq!(microtasks, Some(0)),
            Mode::Async => assert!(microtasks.is_some_and(|n| n >= 25), "{microtasks:?}"),
        }

        // SIGTERM: graceful shutdown, the process exits by itself.
        let pid = example.child.id().to_string();
        let killed = Command::new("kill").args(["-TERM", &pid]).status();
        assert!(killed.is_ok_and(|s| s.success()));
        let status = example.child.wait().expect("wait");
        assert!(status.success(), "{status}");
        let _ = std::fs::remove_dir_all(root.parent().unwrap());
    });
}
