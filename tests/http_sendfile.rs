//! `Responder::send_file` under faults, on both of its paths (`sendfile` driven by the
//! socket's writability, and chunks read on the pool): exact bytes, empty files, a file that
//! shrinks while it is sent, a client that leaves or never reads, pipelining behind a file,
//! and a graceful shutdown in the middle of one. Unix only (the fd counts read `/proc`, and
//! the files are opened as a server would).
#![cfg(unix)]
mod util;

use std::io::{BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use evloop::Loop;
use evloop::http::{Request, Responder, ServerConfig};
use util::http::{TestServer, connect, read_response, read_to_eof, serve};
use util::with_timeout;

/// The tests count the process's open fds, so they run one at a time.
static SERIAL: Mutex<()> = Mutex::new(());

/// Byte `i` of a test file is a hash of `i`: a misplaced or lost range shows.
fn pattern(len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| ((i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 56) as u8)
        .collect()
}

/// FNV-1a, to compare multi-MiB bodies in one line of a failure message.
fn fnv(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// A fresh directory holding `files` (name, bytes).
fn dir_with(files: &[(&str, &[u8])]) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "evloop-http-sendfile-{}-{:?}",
        std::process::id(),
        std::thread::current().id()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    for (name, bytes) in files {
        std::fs::write(dir.join(name), bytes).unwrap();
    }
    dir
}

/// A server answering `/NAME` with the file `dir/NAME` (its length at open time) and
/// `/hello` with text.
fn file_server(dir: &Path, sendfile: bool, tweak: impl FnOnce(&mut ServerConfig)) -> TestServer {
    let mut config = ServerConfig::default();
    config.sendfile = sendfile;
    tweak(&mut config);
    let dir = dir.to_owned();
    serve(config, move || {
        move |lp: &mut Loop, req: Request, res: Responder| {
            if req.path() == "/hello" {
                return res.text(lp, 200, "hello\n");
            }
            let path = dir.join(req.path().trim_start_matches('/'));
            match std::fs::File::open(&path) {
                Ok(file) => {
                    let len = file.metadata().unwrap().len();
                    let ctype = [("Content-Type", "application/octet-stream")];
                    res.send_file(lp, 200, &ctype, file, len);
                }
                Err(_) => res.text(lp, 404, "no such file\n"),
            }
        }
    })
}

/// Open fds of this process.
#[cfg(target_os = "linux")]
fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

fn wait_until(secs: u64, what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// The head of a response (up to the empty line) and the body bytes read with it.
fn read_head(s: &mut std::net::TcpStream) -> (String, Vec<u8>) {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let n = s.read(&mut buf).unwrap();
        assert!(
            n > 0,
            "EOF inside the head: {:?}",
            String::from_utf8_lossy(&got)
        );
        got.extend_from_slice(&buf[..n]);
        if let Some(end) = got.windows(4).position(|w| w == b"\r\n\r\n") {
            let body = got.split_off(end + 4);
            return (String::from_utf8(got).unwrap(), body);
        }
    }
}

#[test]
fn a_multi_mib_file_and_an_empty_one_arrive_exact_with_pipelined_requests_in_order() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    with_timeout(60, || {
        let big = pattern((9 << 20) + 123);
        let dir = dir_with(&[("big", &big), ("empty", b"")]);
        for sendfile in [true, false] {
            let server = file_server(&dir, sendfile, |_| {});
            let mut s = connect(server.addr);
            // One write: the file response is followed by three more, answered in order.
            let reqs = ["/big", "/empty", "/hello", "/big"]
                .map(|p| format!("GET {p} HTTP/1.1\r\nHost: t\r\n\r\n"))
                .concat();
            s.write_all(reqs.as_bytes()).unwrap();
            let mut r = BufReader::new(s);
            for (i, want) in [&big[..], b"", b"hello\n", &big[..]].iter().enumerate() {
                let resp = read_response(&mut r, false).unwrap();
                assert_eq!(resp.status, 200, "response {i} (sendfile {sendfile})");
                let len = want.len().to_string();
                assert_eq!(resp.header("content-length"), Some(&*len), "response {i}");
                assert_eq!(
                    (resp.body.len(), fnv(&resp.body)),
                    (want.len(), fnv(want)),
                    "response {i} (sendfile {sendfile})"
                );
            }
            let stats = server.stats();
            assert_eq!((stats.requests, stats.file_bodies_cut), (4, 0));
        }
        std::fs::remove_dir_all(dir).unwrap();
    });
}

#[test]
fn a_file_that_shrinks_while_sent_closes_the_connection_and_is_counted() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    with_timeout(60, || {
        const LEN: usize = 32 << 20;
        let dir = dir_with(&[("f", &pattern(LEN))]);
        for sendfile in [true, false] {
            std::fs::write(dir.join("f"), pattern(LEN)).unwrap();
            let server = file_server(&dir, sendfile, |_| {});
            let mut s = connect(server.addr);
            s.write_all(b"GET /f HTTP/1.1\r\nHost: t\r\n\r\n").unwrap();
            let (head, mut body) = read_head(&mut s);
            let want = format!("content-length: {LEN}\r\n");
            assert!(head.to_ascii_lowercase().contains(&want), "{head}");
            // The file shrinks to 1 MiB while the body is on its way.
            std::fs::OpenOptions::new()
                .write(true)
                .open(dir.join("f"))
                .unwrap()
                .set_len(1 << 20)
                .unwrap();
            // Never a hang, never the full length: the server closes after what it had.
            body.extend(read_to_eof(&mut s));
            assert!(
                body.len() < LEN,
                "sendfile {sendfile}: {} bytes",
                body.len()
            );
            // What the file still holds came intact. (Bytes past the cut that were already in
            // the socket when the file shrank are not checked: `sendfile` sends from the page
            // cache by reference, so they are whatever those pages held when sent.)
            let kept = body.len().min(1 << 20);
            let first_wrong = body[..kept]
                .iter()
                .zip(pattern(kept))
                .position(|(a, b)| *a != b);
            assert_eq!(
                first_wrong,
                None,
                "sendfile {sendfile}: of {} bytes, the first not the file's",
                body.len()
            );
            wait_until(10, "the connection to close", || {
                server.stats().connections_open == 0
            });
            assert_eq!(server.stats().file_bodies_cut, 1, "sendfile {sendfile}");
        }
        std::fs::remove_dir_all(dir).unwrap();
    });
}

#[cfg(target_os = "linux")]
#[test]
fn clients_leaving_midway_or_never_reading_leak_no_fd() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    with_timeout(60, || {
        let dir = dir_with(&[("f", &pattern(64 << 20))]);
        for sendfile in [true, false] {
            let server = file_server(&dir, sendfile, |c| {
                c.send_timeout = Duration::from_millis(300);
            });
            // A request served once, so that lazily opened fds (the pool's) exist before the
            // count.
            assert_eq!(util::http::get(server.addr, "/hello").status, 200);
            wait_until(10, "the first connection to close", || {
                server.stats().connections_open == 0
            });
            let before = open_fds();
            // Five clients read a little of the file and leave.
            for _ in 0..5 {
                let mut s = connect(server.addr);
                s.write_all(b"GET /f HTTP/1.1\r\nHost: t\r\n\r\n").unwrap();
                let (head, _) = read_head(&mut s);
                assert!(head.starts_with("HTTP/1.1 200"), "{head}");
                let mut some = vec![0u8; 100 << 10];
                s.read_exact(&mut some).unwrap();
            }
            // One never reads: the send timeout closes it.
            let mut idle = connect(server.addr);
            idle.write_all(b"GET /f HTTP/1.1\r\nHost: t\r\n\r\n")
                .unwrap();
            wait_until(10, "the send timeout", || server.stats().send_timeouts == 1);
            wait_until(10, "every connection to close", || {
                server.stats().connections_open == 0
            });
            let got = read_to_eof(&mut idle);
            assert!(
                got.len() < 64 << 20,
                "{} bytes reached the idle client",
                got.len()
            );
            drop(idle);
            // The sockets and the six opened files are all closed.
            wait_until(10, "the fds to close", || open_fds() <= before);
            assert_eq!(open_fds(), before, "sendfile {sendfile}");
            assert_eq!(server.stats().file_bodies_cut, 0);
        }
        std::fs::remove_dir_all(dir).unwrap();
    });
}

#[test]
fn a_shutdown_during_a_file_response_lets_it_finish_then_closes() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    with_timeout(60, || {
        const LEN: usize = 24 << 20;
        let file = pattern(LEN);
        let dir = dir_with(&[("f", &file)]);
        for sendfile in [true, false] {
            let server = file_server(&dir, sendfile, |_| {});
            let mut s = connect(server.addr);
            s.write_all(b"GET /f HTTP/1.1\r\nHost: t\r\n\r\n").unwrap();
            let (_, mut body) = read_head(&mut s);
            server.shutdown(Duration::from_secs(20));
            // The answer under way completes, then the server half-closes: EOF, not a reset.
            let mut buf = vec![0u8; 1 << 16];
            loop {
                match s.read(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => body.extend_from_slice(&buf[..n]),
                    Err(e) => panic!("sendfile {sendfile}: {e} after {} bytes", body.len()),
                }
            }
            assert_eq!(
                (body.len(), fnv(&body)),
                (LEN, fnv(&file)),
                "sendfile {sendfile}"
            );
            drop(s);
            server.join();
        }
        std::fs::remove_dir_all(dir).unwrap();
    });
}
