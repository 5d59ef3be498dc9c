//! `examples/chat.rs` as a process, driven by three clients: nick and broadcast, the idle cut,
//! and the SIGINT goodbye to every client followed by exit 0.
// Unix only: runs examples/chat.rs, which says goodbye on SIGINT (Unix signals: absent on Windows).
#![cfg(unix)]
mod util;

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use util::with_timeout;

/// `target/<profile>/examples/chat`, (re)built first so a stale binary is never tested.
fn chat_binary() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let profile_dir = exe.parent().unwrap().parent().unwrap();
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut build = Command::new(cargo);
    build
        .args(["build", "--example", "chat"])
        .current_dir(env!("CARGO_MANIFEST_DIR"));
    if profile_dir.file_name().is_some_and(|n| n == "release") {
        build.arg("--release");
    }
    assert!(
        build.status().unwrap().success(),
        "cargo build --example chat failed"
    );
    profile_dir.join("examples").join("chat")
}

/// Kills the server if the test fails before it exits.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_chat(idle_secs: &str) -> (Server, SocketAddr) {
    let child = Command::new(chat_binary())
        .args(["--addr", "127.0.0.1:0", "--idle", idle_secs])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut server = Server(child);
    let mut lines = BufReader::new(server.0.stdout.take().unwrap()).lines();
    let first = lines.next().unwrap().unwrap();
    let addr = first
        .split_whitespace()
        .find_map(|w| w.parse().ok())
        .unwrap_or_else(|| panic!("no address in {first:?}"));
    (server, addr)
}

struct Client {
    writer: TcpStream,
    reader: BufReader<TcpStream>,
}

impl Client {
    fn connect(addr: SocketAddr) -> Self {
        let s = TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        Self {
            writer: s.try_clone().unwrap(),
            reader: BufReader::new(s),
        }
    }
    fn say(&mut self, line: &str) {
        self.writer
            .write_all(format!("{line}\n").as_bytes())
            .unwrap();
    }
    /// The next line, or `None` at EOF.
    fn line(&mut self) -> Option<String> {
        let mut l = String::new();
        match self.reader.read_line(&mut l).unwrap() {
            0 => None,
            _ => Some(l.trim_end().to_owned()),
        }
    }
    /// Every line up to EOF.
    fn rest(&mut self) -> Vec<String> {
        std::iter::from_fn(|| self.line()).collect()
    }
}

/// Connects three clients and checks that `/nick` and messages reach the two others only.
fn three_talking(addr: SocketAddr) -> [Client; 3] {
    let mut a = Client::connect(addr);
    let mut b = Client::connect(addr);
    let mut c = Client::connect(addr);
    // The server has accepted all three once each has been told of a nick change.
    a.say("/nick alice");
    for peer in [&mut b, &mut c] {
        let l = peer.line().unwrap();
        assert!(
            l.starts_with("* guest") && l.ends_with(" is now alice"),
            "{l}"
        );
    }
    a.say("hello all");
    assert_eq!(b.line().unwrap(), "alice: hello all");
    assert_eq!(c.line().unwrap(), "alice: hello all");
    b.say("/nick bob");
    assert_eq!(
        a.line().unwrap(),
        "* alice is now bob".replace("alice", &b_old(&mut c))
    );
    [a, b, c]
}

/// `c` saw bob's rename too; returns the old name it announced.
fn b_old(c: &mut Client) -> String {
    let l = c.line().unwrap();
    let old = l
        .strip_prefix("* ")
        .and_then(|r| r.strip_suffix(" is now bob"))
        .unwrap_or_else(|| panic!("{l}"));
    old.to_owned()
}

#[test]
fn chat_broadcasts_and_cuts_idle_clients() {
    with_timeout(60, || {
        let (mut server, addr) = start_chat("1");
        let [mut a, mut b, mut c] = three_talking(addr);
        let quiet_since = Instant::now();
        // Nobody talks any more: after a second of silence each client is cut, told why.
        // Before its own cut a client may hear of the others leaving (cut earlier), nothing else.
        for (name, client) in [("a", &mut a), ("b", &mut b), ("c", &mut c)] {
            let rest = client.rest();
            assert!(
                quiet_since.elapsed() >= Duration::from_millis(900),
                "{name} cut early"
            );
            assert_eq!(
                rest.last().map(String::as_str),
                Some("* idle, bye"),
                "{name}: {rest:?}"
            );
            let notices = &rest[..rest.len() - 1];
            assert!(
                notices.iter().all(|l| l.ends_with(" left")),
                "{name}: {rest:?}"
            );
        }
        // The server is still up: a new client talks to nobody and is cut in turn.
        let mut d = Client::connect(addr);
        d.say("anyone?");
        assert_eq!(d.rest(), ["* idle, bye"]);
        assert!(
            server.0.try_wait().unwrap().is_none(),
            "server still running"
        );
    });
}

#[test]
fn chat_says_goodbye_to_every_client_on_sigint_and_exits_0() {
    with_timeout(60, || {
        let (mut server, addr) = start_chat("60");
        let clients = three_talking(addr);
        let status = Command::new("kill")
            .args(["-INT", &server.0.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        for mut client in clients {
            // Every queued line, then the goodbye, then EOF; dropping the client closes it.
            assert_eq!(client.rest(), ["* server shutting down, goodbye"]);
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        let code = loop {
            if let Some(status) = server.0.try_wait().unwrap() {
                break status;
            }
            assert!(Instant::now() < deadline, "chat did not exit after SIGINT");
            std::thread::sleep(Duration::from_millis(10));
        };
        assert!(code.success(), "{code:?}");
    });
}
