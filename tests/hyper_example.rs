//! `examples/hyper.rs` as a process (feature `hyper`): `curl --http1.1` and
//! `curl --http2-prior-knowledge` both get `Hello, World!` from one port.
#![cfg(feature = "hyper")]
mod util;

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

use util::with_timeout;

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `target/<profile>/examples/hyper`, (re)built first so a stale binary is never tested.
fn hyper_binary() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let profile_dir = exe.parent().unwrap().parent().unwrap();
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut build = Command::new(cargo);
    build
        .args(["build", "--features", "hyper", "--example", "hyper"])
        .current_dir(env!("CARGO_MANIFEST_DIR"));
    if profile_dir.file_name().is_some_and(|n| n == "release") {
        build.arg("--release");
    }
    assert!(
        build.status().unwrap().success(),
        "cargo build --example hyper failed"
    );
    profile_dir.join("examples").join("hyper")
}

/// curl's `-V` output, or `None` (and a loud skip) without curl.
fn curl_features() -> Option<String> {
    match Command::new("curl").arg("-V").output() {
        Ok(out) if out.status.success() => Some(String::from_utf8_lossy(&out.stdout).into_owned()),
        _ => {
            eprintln!("SKIPPED: curl is not installed");
            None
        }
    }
}

/// `curl -s -i <flag> http://addr<path>`: the whole response, head and body.
fn curl(flag: &str, addr: SocketAddr, path: &str) -> String {
    let out = Command::new("curl")
        .args(["-s", "-i", "--max-time", "10", flag])
        .arg(format!("http://{addr}{path}"))
        .output()
        .unwrap();
    assert!(out.status.success(), "curl {flag} failed: {out:?}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn curl_gets_hello_over_http1_and_h2c_prior_knowledge() {
    with_timeout(120, || {
        let Some(features) = curl_features() else {
            return;
        };
        let child = Command::new(hyper_binary())
            .args(["--addr", "127.0.0.1:0"])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut server = Server(child);
        let mut lines = BufReader::new(server.0.stdout.take().unwrap()).lines();
        let first = lines.next().unwrap().unwrap();
        let addr: SocketAddr = first
            .strip_prefix("listening on ")
            .and_then(|a| a.parse().ok())
            .unwrap_or_else(|| panic!("unexpected first line {first:?}"));

        let h1 = curl("--http1.1", addr, "/");
        assert!(h1.starts_with("HTTP/1.1 200"), "{h1}");
        assert!(h1.ends_with("\r\n\r\nHello, World!"), "{h1}");
        let missing = curl("--http1.1", addr, "/nope");
        assert!(missing.starts_with("HTTP/1.1 404"), "{missing}");

        if !features.contains("HTTP2") {
            eprintln!("SKIPPED (h2c half): this curl has no HTTP/2 support:\n{features}");
            return;
        }
        let h2 = curl("--http2-prior-knowledge", addr, "/");
        assert!(h2.starts_with("HTTP/2 200"), "{h2}");
        assert!(h2.ends_with("\r\n\r\nHello, World!"), "{h2}");
    });
}
