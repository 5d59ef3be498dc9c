//! `examples/echo.rs` as a process: byte-exact echo for 100 concurrent clients, and a clean
//! exit on SIGTERM with connections open (Unix; on Windows the two loops share one listening
//! socket, and the test kills the server: its Ctrl-C shutdown needs a console event, which
//! wine cannot deliver).
//! Every test runs against both modes: callbacks, and `--async` (a task per connection).
mod util;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use util::with_timeout;

/// `target/<profile>/examples/echo`, next to this test's `deps/` directory, (re)built first so
/// a stale binary is never tested (`cargo test --test echo_example` alone does not build it).
/// On Windows (under wine) cargo cannot be run from the test: `.ci/run` builds the examples
/// for Windows before the tests, and a missing one fails here with that command.
#[cfg(windows)]
fn echo_binary() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let profile_dir = exe.parent().unwrap().parent().unwrap();
    let echo = profile_dir.join("examples").join("echo.exe");
    assert!(
        echo.exists(),
        "{} is missing: cargo build --examples --target x86_64-pc-windows-gnu",
        echo.display()
    );
    echo
}

#[cfg(unix)]
fn echo_binary() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let profile_dir = exe.parent().unwrap().parent().unwrap();
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut build = Command::new(cargo);
    build
        .args(["build", "--example", "echo"])
        .current_dir(env!("CARGO_MANIFEST_DIR"));
    if profile_dir.file_name().is_some_and(|n| n == "release") {
        build.arg("--release");
    }
    let status = build.status().unwrap();
    assert!(status.success(), "cargo build --example echo failed");
    profile_dir.join("examples").join("echo")
}

/// Kills the server if the test fails before it exits.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Sends 1 MiB of a client-specific pattern and checks the echo byte for byte.
fn echo_one_mib(addr: SocketAddr, seed: u8) {
    let data: Vec<u8> = (0..1 << 20)
        .map(|i: usize| (i % 253) as u8 ^ seed)
        .collect();
    let stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let mut writer = stream.try_clone().unwrap();
    let sent = data.clone();
    // Write and read at once: the server stops reading while its write queue is full.
    let w = std::thread::spawn(move || {
        writer.write_all(&sent).unwrap();
        writer.shutdown(std::net::Shutdown::Write).unwrap();
    });
    let mut got = Vec::with_capacity(data.len());
    let mut reader = stream;
    reader.read_to_end(&mut got).unwrap();
    w.join().unwrap();
    assert_eq!(got.len(), data.len(), "client {seed}");
    assert!(got == data, "client {seed}: echo differs");
}

#[test]
fn echo_serves_100_clients_byte_exact_and_exits_cleanly_on_sigterm() {
    serves_100_clients_and_exits_on_sigterm("2", Mode::Callbacks);
}

#[test]
fn async_echo_serves_100_clients_byte_exact_and_exits_cleanly_on_sigterm() {
    serves_100_clients_and_exits_on_sigterm("2", Mode::Async);
}

/// `--threads 1` runs the loop on the main thread and watches the signals from the loop.
#[test]
fn single_loop_echo_serves_100_clients_on_one_thread_and_exits_cleanly_on_sigterm() {
    serves_100_clients_and_exits_on_sigterm("1", Mode::Callbacks);
}

#[test]
fn async_single_loop_echo_serves_100_clients_on_one_thread_and_exits_cleanly_on_sigterm() {
    serves_100_clients_and_exits_on_sigterm("1", Mode::Async);
}

/// Which server the example runs.
#[derive(Clone, Copy, Debug)]
enum Mode {
    Callbacks,
    Async,
}

fn serves_100_clients_and_exits_on_sigterm(threads: &'static str, mode: Mode) {
    with_timeout(120, move || {
        #[cfg_attr(unix, allow(unused_mut))] // killed in place on Windows
        let (mut server, addr, lines) = start_echo(threads, mode);

        let clients: Vec<_> = (0..100u8)
            .map(|seed| std::thread::spawn(move || echo_one_mib(addr, seed)))
            .collect();
        for c in clients {
            c.join().unwrap();
        }

        // Idle connections stay open across the signal; the server must still exit.
        let mut idle: Vec<TcpStream> = (0..5).map(|_| TcpStream::connect(addr).unwrap()).collect();
        idle[0].write_all(b"last words").unwrap();
        let mut echoed = [0u8; 10];
        idle[0]
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        idle[0].read_exact(&mut echoed).unwrap();
        assert_eq!(&echoed, b"last words");
        // One loop on the main thread, no signal thread: the process has exactly one thread.
        #[cfg(target_os = "linux")]
        if threads == "1" {
            let tasks = std::fs::read_dir(format!("/proc/{}/task", server.0.id()))
                .unwrap()
                .count();
            assert_eq!(tasks, 1, "threads in a --threads 1 echo");
        }
        #[cfg(windows)]
        {
            // Wine cannot deliver the console event the graceful shutdown waits for.
            drop(lines);
            server.0.kill().unwrap();
            assert!(!server.0.wait().unwrap().success());
            for mut conn in idle {
                conn.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
                let mut buf = [0u8; 1];
                let _ = conn.read(&mut buf); // EOF or a reset: the server is gone either way
            }
        }
        #[cfg(unix)]
        stop_with_sigterm(server, lines, idle);
    });
}

/// Sends SIGTERM with `idle` connections open: the server exits 0, says it stopped, and
/// closes every connection with a FIN.
#[cfg(unix)]
fn stop_with_sigterm(mut server: Server, lines: Lines, idle: Vec<TcpStream>) {
    {
        let pid = server.0.id().to_string();
        assert!(
            Command::new("kill")
                .args(["-TERM", &pid])
                .status()
                .unwrap()
                .success()
        );
        let deadline = Instant::now() + Duration::from_secs(10);
        let status = loop {
            if let Some(status) = server.0.try_wait().unwrap() {
                break status;
            }
            assert!(Instant::now() < deadline, "echo did not exit after SIGTERM");
            std::thread::sleep(Duration::from_millis(20));
        };
        assert!(status.success(), "echo exited with {status}");
        let rest: Vec<String> = lines.map_while(Result::ok).collect();
        assert!(
            rest.iter().any(|l| l.contains("stopped on SIGTERM")),
            "{rest:?}"
        );
        for mut conn in idle {
            conn.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            let mut buf = [0u8; 1];
            assert_eq!(conn.read(&mut buf).unwrap(), 0, "connection not closed");
        }
    }
}

/// The example's stdout, line by line.
type Lines = std::io::Lines<BufReader<std::process::ChildStdout>>;

/// Starts the example on an ephemeral port; returns it with its address and the rest of its
/// stdout.
fn start_echo(threads: &str, mode: Mode) -> (Server, SocketAddr, Lines) {
    let mut cmd = Command::new(echo_binary());
    cmd.args(["--addr", "127.0.0.1:0", "--threads", threads]);
    if let Mode::Async = mode {
        cmd.arg("--async");
    }
    let child = cmd.stdout(Stdio::piped()).spawn().unwrap();
    let mut server = Server(child);
    let mut lines = BufReader::new(server.0.stdout.take().unwrap()).lines();
    let first = lines.next().unwrap().unwrap();
    let addr = first
        .split_whitespace()
        .find_map(|w| w.parse().ok())
        .unwrap_or_else(|| panic!("no address in {first:?}"));
    assert_eq!(
        first.contains(", async)"),
        matches!(mode, Mode::Async),
        "{mode:?} server said {first:?}"
    );
    (server, addr, lines)
}

#[test]
fn a_client_that_sends_without_reading_stalls_then_gets_every_byte_back() {
    stalls_then_gets_every_byte_back(Mode::Callbacks);
}

#[test]
fn async_a_client_that_sends_without_reading_stalls_then_gets_every_byte_back() {
    stalls_then_gets_every_byte_back(Mode::Async);
}

fn stalls_then_gets_every_byte_back(mode: Mode) {
    with_timeout(90, move || {
        let (_server, addr, _lines) = start_echo("1", mode);
        let limit = 64 << 20;
        let data: Vec<u8> = (0..limit).map(|i: usize| (i % 251) as u8).collect();
        let mut stream = TcpStream::connect(addr).unwrap();
        stream.set_nonblocking(true).unwrap();
        // Send without reading. Once the server's write queue is over its high-water mark it
        // stops reading, the kernel buffers fill, and our sends stall: a second without
        // progress, long before 64 MiB.
        let mut sent = 0;
        let mut stalled_since: Option<Instant> = None;
        let deadline = Instant::now() + Duration::from_secs(30);
        while sent < limit && Instant::now() < deadline {
            let end = (sent + (64 << 10)).min(limit);
            match stream.write(&data[sent..end]) {
                Ok(n) => {
                    sent += n;
                    stalled_since = None;
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    let since = *stalled_since.get_or_insert_with(Instant::now);
                    if since.elapsed() > Duration::from_secs(1) {
                        break;
                    }
                    std::thread::sleep(Duration::from_millis(10));
                }
                Err(e) => panic!("send: {e}"),
            }
        }
        assert!(
            stalled_since.is_some() && sent < limit,
            "the server kept reading: {sent} bytes taken without a stall"
        );
        // Reading again releases everything, byte-exact.
        stream.set_nonblocking(false).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .unwrap();
        let mut got = vec![0; sent];
        stream.read_exact(&mut got).unwrap();
        assert!(got == data[..sent], "echo differs");
        // And the connection is still served normally.
        stream.set_nonblocking(false).unwrap();
        stream.write_all(b"more").unwrap();
        let mut more = [0u8; 4];
        stream.read_exact(&mut more).unwrap();
        assert_eq!(&more, b"more");
    });
}
