//! `examples/watch.rs` end to end: a burst of writes reruns the command once (debounced), the
//! long-running child is killed and replaced, Ctrl-C exits with the child's status.
// Linux only: runs examples/watch.rs (processes and fs events, Linux-only so far).
#![cfg(target_os = "linux")]
mod util;

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use util::with_timeout;

/// `target/<profile>/examples/watch`, (re)built first so a stale binary is never tested.
fn watch_binary() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let profile_dir = exe.parent().unwrap().parent().unwrap();
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut build = Command::new(cargo);
    build
        .args(["build", "--example", "watch"])
        .current_dir(env!("CARGO_MANIFEST_DIR"));
    if profile_dir.file_name().is_some_and(|n| n == "release") {
        build.arg("--release");
    }
    assert!(
        build.status().unwrap().success(),
        "cargo build --example watch"
    );
    profile_dir.join("examples").join("watch")
}

/// Kills the watcher if the test fails before it exits.
struct Watch(Child);

impl Drop for Watch {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("evloop-watch-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Starts `watch --path dir -- sh -c script`, with its stdout lines arriving on a channel.
fn start(dir: &PathBuf, script: &str) -> (Watch, mpsc::Receiver<String>) {
    let mut child = Command::new(watch_binary())
        .args(["--path"])
        .arg(dir)
        .args([
            "--debounce",
            "300",
            "--grace",
            "1000",
            "--",
            "sh",
            "-c",
            script,
        ])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    (Watch(child), rx)
}

fn next_line(rx: &mpsc::Receiver<String>) -> String {
    rx.recv_timeout(Duration::from_secs(10))
        .expect("a line from the command")
}

fn alive(pid: i32) -> bool {
    // A zombie counts as gone: only its parent's wait is missing.
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| {
        s.rsplit_once(')')
            .is_some_and(|(_, r)| r.split_whitespace().next() != Some("Z"))
    })
}

fn wait_exit(watch: &mut Watch) -> std::process::ExitStatus {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(status) = watch.0.try_wait().unwrap() {
            return status;
        }
        assert!(Instant::now() < deadline, "watch did not exit");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_burst_of_writes_restarts_the_command_once_and_ctrl_c_exits_with_its_status() {
    with_timeout(60, || {
        let dir = temp_dir("restart");
        let (mut watch, rx) = start(&dir, "echo run $$; exec sleep 30");
        let first = next_line(&rx);
        let first_pid: i32 = first.strip_prefix("run ").unwrap().parse().unwrap();
        assert!(alive(first_pid));
        // A burst of changes within the debounce window.
        for i in 0..5 {
            std::fs::write(dir.join(format!("f{i}")), "x").unwrap();
            std::thread::sleep(Duration::from_millis(10));
        }
        let second = next_line(&rx);
        let second_pid: i32 = second.strip_prefix("run ").unwrap().parse().unwrap();
        assert_ne!(first_pid, second_pid);
        assert!(!alive(first_pid), "the long-running child was killed");
        // Once: no third run for the same burst.
        assert!(
            rx.recv_timeout(Duration::from_millis(600)).is_err(),
            "one rerun per burst"
        );
        // Ctrl-C: the child dies of SIGINT, the watcher exits with 128 + 2.
        // SAFETY: kill with a pid we spawned.
        assert_eq!(unsafe { libc::kill(watch.0.id() as i32, libc::SIGINT) }, 0);
        let status = wait_exit(&mut watch);
        assert_eq!(status.code(), Some(130));
        assert!(!alive(second_pid));
        std::fs::remove_dir_all(&dir).unwrap();
    });
}

#[test]
fn ctrl_c_exits_with_the_code_the_command_chose() {
    with_timeout(60, || {
        let dir = temp_dir("code");
        let (mut watch, rx) = start(
            &dir,
            "trap 'exit 7' INT; echo ready; while :; do sleep 0.05; done",
        );
        assert_eq!(next_line(&rx), "ready");
        // SAFETY: kill with a pid we spawned.
        assert_eq!(unsafe { libc::kill(watch.0.id() as i32, libc::SIGINT) }, 0);
        assert_eq!(wait_exit(&mut watch).code(), Some(7));
        std::fs::remove_dir_all(&dir).unwrap();
    });
}
