//! `Responder::send_file` for small files (`ServerConfig::file_inline_bytes`): a body up to the
//! limit is read from the page cache when the handler answers and leaves with its head, on
//! both file paths (`sendfile` and the pool's chunks); larger ones, `HEAD`, empty files and a
//! file that changes between requests are as before, and a file that shrinks or fails between
//! its open and the answer cuts the response short as any file body does. Linux only: the
//! inline read needs `preadv2(RWF_NOWAIT)` (elsewhere every body takes the usual path, which
//! tests/http_sendfile.rs covers).
#![cfg(target_os = "linux")]
mod util;

use std::io::{BufReader, Read, Write};
use std::path::{Path, PathBuf};

use evloop::Loop;
use evloop::http::{Request, Responder, ServerConfig};
use util::http::{TestServer, connect, read_response, read_to_eof, serve};
use util::with_timeout;

/// Byte `i` of a test file is a hash of `i` (plus `salt`): a misplaced or stale byte shows.
fn pattern(len: usize, salt: u64) -> Vec<u8> {
    (0..len)
        .map(|i| (((i as u64) ^ salt).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 56) as u8)
        .collect()
}

fn dir_with(tag: &str, files: &[(&str, &[u8])]) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("evloop-small-files-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    for (name, bytes) in files {
        std::fs::write(dir.join(name), bytes).unwrap();
    }
    dir
}

/// `/NAME`: the file `dir/NAME` with its length at open time. `/cut/NAME`: the same, but the
/// file is emptied right after `send_file` returns, inside the handler, so only bytes read
/// when the handler answered can reach the client. `/shrink/NAME`: the file is emptied
/// between its open and `send_file`. `/dir`: the directory itself as a 10-byte body, whose
/// reads fail.
fn file_server(dir: &Path, sendfile: bool, inline: usize) -> TestServer {
    let mut config = ServerConfig::default();
    config.sendfile = sendfile;
    config.file_inline_bytes = inline;
    let dir = dir.to_owned();
    serve(config, move || {
        move |lp: &mut Loop, req: Request, res: Responder| {
            let path = req.path().to_owned();
            let ctype = [("Content-Type", "application/octet-stream")];
            if path == "/dir" {
                let file = std::fs::File::open(&dir).unwrap();
                return res.send_file(lp, 200, &ctype, file, 10);
            }
            let (mode, name) = match path.trim_start_matches('/').split_once('/') {
                Some((mode, name)) => (mode, name),
                None => ("", path.trim_start_matches('/')),
            };
            let file = std::fs::File::open(dir.join(name)).unwrap();
            let len = file.metadata().unwrap().len();
            let empty = || {
                std::fs::OpenOptions::new()
                    .write(true)
                    .open(dir.join(name))
                    .unwrap()
                    .set_len(0)
                    .unwrap()
            };
            if mode == "shrink" {
                empty();
            }
            res.send_file(lp, 200, &ctype, file, len);
            if mode == "cut" {
                empty();
            }
        }
    })
}

/// Whether files in `dir` can be read with `RWF_NOWAIT` (ext4, xfs, btrfs; not every file
/// system): where they cannot, every body takes the usual path and nothing is inlined.
fn nowait_reads(dir: &Path) -> bool {
    use std::os::fd::AsRawFd;
    let path = dir.join("probe");
    std::fs::write(&path, b"probe").unwrap();
    let file = std::fs::File::open(&path).unwrap();
    let mut buf = [0u8; 8];
    let iov = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    #[allow(unsafe_code)]
    // SAFETY: `iov` describes `buf`, alive and writable for the call; the fd is `file`'s.
    let n = unsafe { libc::preadv2(file.as_raw_fd(), &iov, 1, 0, libc::RWF_NOWAIT) };
    std::fs::remove_file(&path).unwrap();
    n == 5
}

fn request(method: &str, path: &str) -> String {
    format!("{method} {path} HTTP/1.1\r\nHost: t\r\n\r\n")
}

#[test]
fn small_bodies_up_to_the_limit_arrive_exact_beside_large_head_and_empty_ones_and_follow_changes() {
    with_timeout(60, || {
        const LIMIT: usize = 16 * 1024;
        let (small, at_limit, over) = (pattern(1024, 1), pattern(LIMIT, 2), pattern(LIMIT + 1, 3));
        let dir = dir_with(
            "exact",
            &[
                ("small", &small),
                ("limit", &at_limit),
                ("over", &over),
                ("empty", b""),
            ],
        );
        for sendfile in [true, false] {
            for inline in [LIMIT, 0] {
                let what = format!("sendfile {sendfile}, inline {inline}");
                std::fs::write(dir.join("small"), &small).unwrap();
                let server = file_server(&dir, sendfile, inline);
                let mut s = connect(server.addr);
                // Pipelined: every answer but the first is encoded while an earlier one is
                // still going out.
                let reqs = [
                    ("GET", "/small"),
                    ("HEAD", "/small"),
                    ("GET", "/limit"),
                    ("GET", "/over"),
                    ("GET", "/empty"),
                    ("GET", "/small"),
                ];
                let raw: String = reqs.iter().map(|(m, p)| request(m, p)).collect();
                s.write_all(raw.as_bytes()).unwrap();
                let mut r = BufReader::new(s.try_clone().unwrap());
                let wants: [&[u8]; 6] = [&small, &small, &at_limit, &over, b"", &small];
                for (i, ((method, _), want)) in reqs.iter().zip(wants).enumerate() {
                    let head_only = *method == "HEAD";
                    let resp = read_response(&mut r, head_only).unwrap();
                    assert_eq!(resp.status, 200, "response {i} ({what})");
                    let len = want.len().to_string();
                    assert_eq!(resp.header("content-length"), Some(&*len), "{i} ({what})");
                    let body: &[u8] = if head_only { b"" } else { want };
                    assert!(resp.body == body, "response {i}: wrong body ({what})");
                }
                // The file changes (new bytes, new length) between two requests on the
                // connection: the next answer is the new file.
                let changed = pattern(700, 4);
                std::fs::write(dir.join("small"), &changed).unwrap();
                s.write_all(request("GET", "/small").as_bytes()).unwrap();
                let resp = read_response(&mut r, false).unwrap();
                assert_eq!(resp.header("content-length"), Some("700"), "{what}");
                assert!(resp.body == changed, "the changed file ({what})");
                let stats = server.stats();
                assert_eq!((stats.requests, stats.file_bodies_cut), (7, 0), "{what}");
            }
        }
        std::fs::remove_dir_all(dir).unwrap();
    });
}

#[test]
fn a_small_body_is_read_when_the_handler_answers_and_a_large_one_as_the_socket_drains() {
    with_timeout(60, || {
        let (small, large) = (pattern(1024, 5), pattern(64 * 1024, 6));
        let dir = dir_with("cut", &[]);
        let nowait = nowait_reads(&dir);
        if !nowait {
            eprintln!(
                "{}: no RWF_NOWAIT reads here: nothing is inlined",
                dir.display()
            );
        }
        for sendfile in [true, false] {
            for (name, bytes, inline, whole) in [
                ("small", &small, 16 * 1024, true),
                // Off: the body is read later, from a file emptied by then.
                ("small", &small, 0, false),
                // Over the limit: the same.
                ("large", &large, 16 * 1024, false),
            ] {
                let what = format!("{name}, sendfile {sendfile}, inline {inline}");
                std::fs::write(dir.join(name), bytes).unwrap();
                let server = file_server(&dir, sendfile, inline);
                let raw =
                    format!("GET /cut/{name} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
                let got = util::http::exchange(server.addr, raw.as_bytes());
                let mut r = BufReader::new(&got[..]);
                let resp = read_response(&mut r, true).unwrap();
                let len = bytes.len().to_string();
                assert_eq!(resp.header("content-length"), Some(&*len), "{what}");
                let mut body = Vec::new();
                r.read_to_end(&mut body).unwrap();
                if whole && nowait {
                    assert!(body == **bytes, "{what}: {} bytes", body.len());
                    assert_eq!(server.stats().file_bodies_cut, 0, "{what}");
                } else {
                    // The client never gets the full length: the connection closed after what
                    // the file still had (nothing).
                    assert!(body.len() < bytes.len(), "{what}: {} bytes", body.len());
                }
            }
        }
        std::fs::remove_dir_all(dir).unwrap();
    });
}

#[test]
fn a_small_file_that_shrank_or_cannot_be_read_is_cut_short_and_the_connection_closes() {
    with_timeout(60, || {
        let small = pattern(1024, 7);
        let dir = dir_with("shrink", &[]);
        for sendfile in [true, false] {
            for target in ["/shrink/f", "/dir"] {
                let what = format!("{target}, sendfile {sendfile}");
                std::fs::write(dir.join("f"), &small).unwrap();
                let server = file_server(&dir, sendfile, 16 * 1024);
                let mut s = connect(server.addr);
                // A second request behind it: never answered, the client was cut off.
                let raw = request("GET", target) + &request("GET", "/f");
                s.write_all(raw.as_bytes()).unwrap();
                let got = read_to_eof(&mut s);
                let mut r = BufReader::new(&got[..]);
                let resp = read_response(&mut r, true).unwrap();
                assert_eq!(resp.status, 200, "{what}");
                let want = if target == "/dir" { 10 } else { small.len() };
                assert_eq!(
                    resp.header("content-length"),
                    Some(&*want.to_string()),
                    "{what}"
                );
                let mut rest = Vec::new();
                r.read_to_end(&mut rest).unwrap();
                assert!(
                    rest.is_empty(),
                    "{what}: {} bytes after the head",
                    rest.len()
                );
                if target != "/dir" {
                    assert_eq!(server.stats().file_bodies_cut, 1, "{what}");
                }
            }
        }
        std::fs::remove_dir_all(dir).unwrap();
    });
}
