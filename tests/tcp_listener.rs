//! TCP listeners: accept batches, EADDRINUSE, EMFILE (in a child process), SO_REUSEPORT.
// The EMFILE and SO_REUSEPORT tests and their imports are Unix only.
#![cfg_attr(windows, allow(unused_imports, dead_code))]
mod util;

use std::cell::RefCell;
use std::fs::File;
use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream as StdTcpStream};
use std::process::{Command, Stdio};
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use evloop::net::{ReadEvent, TcpListenOptions};
use evloop::{Handle, Loop};
use util::{Counter, assert_clean, with_timeout};

fn any_port() -> SocketAddr {
    "127.0.0.1:0".parse().unwrap()
}

#[test]
fn accepts_a_burst_larger_than_one_batch() {
    with_timeout(30, || {
        let mut lp = Loop::new().unwrap();
        let accepted = Counter::new();
        let a = accepted.clone();
        let server = lp
            .tcp_listen(any_port(), move |lp, server, conn| {
                conn.unwrap().close(lp, |_| {}).unwrap();
                if a.inc() == 100 {
                    server.close(lp, |_| {}).unwrap();
                }
            })
            .unwrap();
        let addr = server.local_addr(&lp).unwrap();
        let clients = std::thread::spawn(move || {
            (0..100)
                .map(|_| StdTcpStream::connect(addr).unwrap())
                .collect::<Vec<_>>()
        });
        lp.run().unwrap();
        drop(clients.join().unwrap());
        assert_eq!(accepted.get(), 100);
        assert_clean(&lp);
    });
}

#[test]
fn address_in_use_is_reported_at_listen_time() {
    with_timeout(10, || {
        let mut lp = Loop::new().unwrap();
        let first = lp.tcp_listen(any_port(), |_, _, _| {}).unwrap();
        let addr = first.local_addr(&lp).unwrap();
        let err = lp.tcp_listen(addr, |_, _, _| {}).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::AddrInUse, "{err}");
        first.close(&mut lp, |_| {}).unwrap();
        lp.run().unwrap();
        assert_clean(&lp);
    });
}

#[test]
fn ipv6_only_listener_when_the_host_has_ipv6() {
    with_timeout(10, || {
        let mut lp = Loop::new().unwrap();
        let opts = TcpListenOptions::new().only_v6(true).backlog(16);
        let Ok(server) = lp.tcp_listen_with("[::1]:0".parse().unwrap(), &opts, |lp, s, c| {
            c.unwrap().close(lp, |_| {}).unwrap();
            s.close(lp, |_| {}).unwrap();
        }) else {
            eprintln!("no IPv6 loopback here; skipped");
            return;
        };
        let addr = server.local_addr(&lp).unwrap();
        assert!(addr.is_ipv6());
        let client = std::thread::spawn(move || StdTcpStream::connect(addr).unwrap());
        lp.run().unwrap();
        drop(client.join().unwrap());
        assert_clean(&lp);
    });
}

#[cfg(target_os = "linux")] // Linux only: reads /proc/self/stat
/// Clock ticks of CPU (user + system) this process has used, from /proc/self/stat (opened
/// once, before the fds run out, and re-read from the start each time).
fn cpu_ticks(proc_stat: &File) -> u64 {
    use std::os::unix::fs::FileExt;
    let mut buf = [0u8; 1024];
    let n = proc_stat.read_at(&mut buf, 0).unwrap();
    let stat = String::from_utf8_lossy(&buf[..n]);
    let after_name = &stat[stat.rfind(')').unwrap() + 2..];
    let fields: Vec<&str> = after_name.split(' ').collect();
    fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()
}

#[cfg(target_os = "linux")]
const CHILD_ENV: &str = "EVLOOP_EMFILE_CHILD";

/// The child half of the EMFILE test: does nothing unless run by it (under `ulimit -n 64`).
#[test]
#[cfg(target_os = "linux")] // Linux only: the child runs under `ulimit -n` and reads /proc
fn emfile_child_scenario() {
    if std::env::var_os(CHILD_ENV).is_none() {
        return;
    }
    let mut lp = Loop::new().unwrap();
    let emfiles = Counter::new();
    let e = emfiles.clone();
    let server = lp
        .tcp_listen(any_port(), move |lp, server, conn| match conn {
            Err(err) => {
                assert_eq!(err.raw_os_error(), Some(libc::EMFILE), "{err}");
                // The error names the operation and the listener's address.
                assert!(err.to_string().starts_with("accept 127.0.0.1:"), "{err}");
                e.inc();
            }
            Ok(stream) => {
                stream
                    .read_start(lp, move |lp, stream, ev| match ev {
                        ReadEvent::Data(b) => {
                            stream.write(lp, b.to_vec(), |_, r| r.unwrap()).unwrap();
                        }
                        _ => {
                            stream.close(lp, |_| {}).unwrap();
                            server.close(lp, |_| {}).unwrap();
                        }
                    })
                    .unwrap();
            }
        })
        .unwrap();
    let port = server.local_addr(&lp).unwrap().port();
    let proc_stat = File::open("/proc/self/stat").unwrap();
    let mut hog = Vec::new();
    while let Ok(f) = File::open("/dev/null") {
        hog.push(f);
    }
    let hog = Rc::new(RefCell::new(hog));
    let start = cpu_ticks(&proc_stat);
    println!("ready {port}");
    std::io::stdout().flush().unwrap();
    lp.set_timeout(Duration::from_secs(1), move |_, _| {
        println!(
            "cpu {} emfile {}",
            cpu_ticks(&proc_stat) - start,
            emfiles.get()
        );
        hog.borrow_mut().clear();
        println!("freed");
        std::io::stdout().flush().unwrap();
    });
    lp.run().unwrap();
    assert_clean(&lp);
    println!("child done");
}

#[test]
#[cfg(target_os = "linux")] // Linux only: runs a child under `ulimit -n` and reads /proc
fn out_of_fds_the_listener_sheds_connections_without_spinning_and_recovers() {
    if std::env::var_os(CHILD_ENV).is_some() || !cfg!(target_os = "linux") {
        return;
    }
    with_timeout(60, || {
        let exe = std::env::current_exe().unwrap();
        let mut child = Command::new("sh")
            .arg("-c")
            .arg(r#"ulimit -n 64 && exec timeout 30 "$0" "$@""#)
            .arg(&exe)
            .args(["emfile_child_scenario", "--exact", "--nocapture"])
            .args(["--test-threads=1"])
            .env(CHILD_ENV, "1")
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let mut next_line = |prefix: &str| loop {
            let line = lines.next().expect("child output ended").unwrap();
            // libtest may print "test name ... " before the child's first line.
            if let Some(at) = line.find(prefix) {
                return line[at + prefix.len()..].to_owned();
            }
        };
        let port: u16 = next_line("ready ").parse().unwrap();
        let addr: SocketAddr = ([127, 0, 0, 1], port).into();

        // The child has no fd for this connection: it must be accepted and dropped, not left
        // hanging in the backlog.
        let mut shed = StdTcpStream::connect(addr).unwrap();
        shed.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut buf = [0u8; 16];
        let started = Instant::now();
        match shed.read(&mut buf) {
            Ok(0) => {}
            Err(e) if e.kind() == ErrorKind::ConnectionReset => {}
            other => panic!("shed connection: {other:?} after {:?}", started.elapsed()),
        }

        let report = next_line("cpu ");
        let mut parts = report.split(' ');
        let cpu: u64 = parts.next().unwrap().parse().unwrap();
        assert_eq!(parts.next(), Some("emfile"));
        let emfiles: usize = parts.next().unwrap().parse().unwrap();
        assert!(
            emfiles >= 1,
            "the listener callback never heard about EMFILE"
        );
        // 1 s of wall time; a spinning loop would burn ~100 ticks.
        assert!(cpu <= 30, "child used {cpu} CPU ticks in 1 s: spinning");
        next_line("freed");

        let mut client = StdTcpStream::connect(addr).unwrap();
        client
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        client.write_all(b"hello").unwrap();
        let mut got = [0u8; 5];
        client.read_exact(&mut got).unwrap();
        assert_eq!(&got, b"hello");
        drop(client);
        next_line("child done");
        assert!(child.wait().unwrap().success());
    });
}

#[test]
#[cfg(windows)]
fn reuse_port_is_unsupported_on_windows() {
    with_timeout(10, || {
        let mut lp = Loop::new().unwrap();
        let opts = TcpListenOptions::new().reuse_port(true);
        let err = lp
            .tcp_listen_with(any_port(), &opts, |_, _, _| {})
            .expect_err("no SO_REUSEPORT on Windows");
        assert_eq!(err.kind(), ErrorKind::Unsupported, "{err}");
        assert!(err.to_string().contains("SO_REUSEPORT"), "{err}");
        assert_clean(&lp);
    });
}

#[test]
#[cfg(unix)] // Windows has no SO_REUSEPORT: see reuse_port_is_unsupported_on_windows
fn reuse_port_spreads_connections_over_two_loops() {
    with_timeout(60, || {
        let counts: Vec<Arc<AtomicUsize>> = (0..2).map(|_| Arc::new(AtomicUsize::new(0))).collect();
        let (tx, rx) = std::sync::mpsc::channel();
        let mut threads = Vec::new();
        let mut addr: SocketAddr = any_port();
        let mut listeners = Vec::new();
        for count in &counts {
            let count = Arc::clone(count);
            let tx = tx.clone();
            threads.push(std::thread::spawn(move || {
                let mut lp = Loop::new().unwrap();
                let opts = TcpListenOptions::new().reuse_port(true);
                let server = lp
                    .tcp_listen_with(addr, &opts, move |lp, _, conn| {
                        conn.unwrap().close(lp, |_| {}).unwrap();
                        count.fetch_add(1, Ordering::SeqCst);
                    })
                    .unwrap();
                let bound = server.local_addr(&lp).unwrap();
                tx.send((bound, server, lp.weak_sender())).unwrap();
                lp.run().unwrap();
                assert_clean(&lp);
            }));
            let (bound, server, sender) = rx.recv().unwrap();
            addr = bound;
            listeners.push((server, sender));
        }
        let total = || {
            counts
                .iter()
                .map(|c| c.load(Ordering::SeqCst))
                .sum::<usize>()
        };
        let mut connected = 0;
        for _round in 0..10 {
            for _ in 0..20 {
                drop(StdTcpStream::connect(addr).unwrap());
                connected += 1;
            }
            let deadline = Instant::now() + Duration::from_secs(5);
            while total() < connected {
                assert!(
                    Instant::now() < deadline,
                    "accepted {} of {connected}",
                    total()
                );
                std::thread::sleep(Duration::from_millis(5));
            }
            if counts.iter().all(|c| c.load(Ordering::SeqCst) > 0) {
                break;
            }
        }
        let per_loop: Vec<usize> = counts.iter().map(|c| c.load(Ordering::SeqCst)).collect();
        assert!(
            per_loop.iter().all(|&n| n > 0),
            "one loop got nothing: {per_loop:?}"
        );
        for (server, sender) in listeners {
            sender
                .post(move |lp| server.close(lp, |_| {}).unwrap())
                .unwrap();
        }
        for t in threads {
            t.join().unwrap();
        }
    });
}
