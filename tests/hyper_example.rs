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
            eprintln!(
                "SKIPPED curl_gets_hello_over_http1_and_h2c_prior_knowledge: `curl` is not \
                 installed (.ci/run installs it)"
            );
            None
        }
    }
}

/// `curl -s -i <flag> http://addr<path>...` (one connection for all paths, if curl can reuse
/// it): every response, heads and bodies, as curl prints them.
fn curl(flag: &str, addr: SocketAddr, paths: &[&str]) -> String {
    let out = Command::new("curl")
        .args(["-s", "-i", "--max-time", "10", flag])
        .args(paths.iter().map(|p| format!("http://{addr}{p}")))
        .output()
        .unwrap();
    assert!(out.status.success(), "curl {flag} failed: {out:?}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `text` with the `date` header's line taken out (its value changes every second).
fn without_date(text: &str) -> String {
    text.split_inclusive("\r\n")
        .filter(|l| !l.to_ascii_lowercase().starts_with("date:"))
        .collect()
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

        // HTTP/1.1: two requests on one keep-alive connection, every byte but the date.
        let h1 = curl("--http1.1", addr, &["/", "/nope"]);
        assert_eq!(
            without_date(&h1),
            "HTTP/1.1 200 OK\r\n\
             content-type: text/plain; charset=utf-8\r\n\
             content-length: 13\r\n\
             \r\n\
             Hello, World!\
             HTTP/1.1 404 Not Found\r\n\
             content-type: text/plain; charset=utf-8\r\n\
             content-length: 10\r\n\
             \r\n\
             not found\n",
            "{h1}"
        );
        assert_eq!(h1.matches("\r\ndate: ").count(), 2, "{h1}");

        if !features.contains("HTTP2") {
            eprintln!(
                "SKIPPED (the h2c half of curl_gets_hello_over_http1_and_h2c_prior_knowledge): \
                 this curl has no HTTP/2 support:\n{features}"
            );
            return;
        }
        // HTTP/2 with prior knowledge (h2c), one connection per request: curl before 8.0
        // fails the reuse of a prior-knowledge connection on its own side (curl issue 10634;
        // Debian 12 has 7.88). Streams sharing a connection are tested in hyper_rt.
        let h2 = curl("--http2-prior-knowledge", addr, &["/"])
            + &curl("--http2-prior-knowledge", addr, &["/nope"]);
        assert_eq!(
            without_date(&h2),
            "HTTP/2 200 \r\n\
             content-type: text/plain; charset=utf-8\r\n\
             content-length: 13\r\n\
             \r\n\
             Hello, World!\
             HTTP/2 404 \r\n\
             content-type: text/plain; charset=utf-8\r\n\
             content-length: 10\r\n\
             \r\n\
             not found\n",
            "{h2}"
        );
        assert_eq!(h2.matches("\r\ndate: ").count(), 2, "{h2}");
    });
}
