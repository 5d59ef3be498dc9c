//! `examples/echo.rs` and `examples/http.rs` as processes, on every platform (Linux, and
//! Windows under wine): they listen with two loops on one port, serve, refuse bad command
//! lines and a port already taken, with the address in the message. (Graceful shutdown on
//! signals is tested in `echo_example.rs` and `http_example_hostile.rs`, Unix only.)
mod util;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use util::example;
use util::http::get;
use util::with_timeout;

#[test]
fn http_serves_its_routes_from_two_loops_on_one_port_in_both_modes() {
    with_timeout(120, || {
        for mode in [None, Some("--async")] {
            let mut args = vec!["--addr", "127.0.0.1:0", "--threads", "2"];
            args.extend(mode);
            let server = example::start("http", &args);
            let addr = server.addr;
            // Enough requests, each on its own connection, that both loops take some.
            for _ in 0..8 {
                let r = get(addr, "/");
                assert_eq!(r.status, 200);
                assert_eq!(r.text(), "Hello, World!");
            }
            let metrics = get(addr, "/metrics");
            assert_eq!(metrics.status, 200);
            assert!(metrics.text().contains("evloop_"), "{}", metrics.text());
            assert_eq!(get(addr, "/work?ms=20").status, 200);
            assert_eq!(get(addr, "/block?ms=abc").status, 400);
            // No --root: no files (and on Windows there can be none).
            assert_eq!(get(addr, "/files/x.txt").status, 404);
            assert_eq!(get(addr, "/nope").status, 404);
        }
    });
}

#[test]
fn echo_echoes_from_two_loops_on_one_port() {
    with_timeout(120, || {
        let server = example::start("echo", &["--addr", "127.0.0.1:0", "--threads", "2"]);
        let clients: Vec<_> = (0..16u8)
            .map(|seed| {
                let addr = server.addr;
                std::thread::spawn(move || {
                    let mut s = TcpStream::connect(addr).unwrap();
                    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
                    let msg = vec![seed; 64 << 10];
                    s.write_all(&msg).unwrap();
                    let mut got = vec![0; msg.len()];
                    s.read_exact(&mut got).unwrap();
                    assert!(got == msg, "client {seed}: echo differs");
                })
            })
            .collect();
        for c in clients {
            c.join().unwrap();
        }
    });
}

#[test]
fn a_taken_port_and_bad_arguments_get_clear_messages() {
    with_timeout(120, || {
        for name in ["http", "echo"] {
            let first = example::start(name, &["--addr", "127.0.0.1:0", "--threads", "2"]);
            let addr = first.addr.to_string();
            let (status, stderr) = example::run(name, &["--addr", &addr]);
            assert_eq!(status.code(), Some(1), "{name}: {stderr}");
            assert!(
                stderr.contains(&format!("cannot listen on {addr}")),
                "{name}: {stderr}"
            );
            let (status, stderr) = example::run(name, &["--threads", "0"]);
            assert_eq!(status.code(), Some(2), "{name}: {stderr}");
            assert!(stderr.contains("usage:"), "{name}: {stderr}");
        }
    });
}

/// Windows: `--root` is refused at start (static files need `fs::open_beneath`, Unix-only).
#[cfg(windows)]
#[test]
fn http_refuses_a_root_on_windows() {
    with_timeout(60, || {
        let dir = std::env::temp_dir();
        let (status, stderr) = example::run("http", &["--root", dir.to_str().unwrap()]);
        assert_eq!(status.code(), Some(2), "{stderr}");
        assert!(stderr.contains("open_beneath"), "{stderr}");
    });
}
