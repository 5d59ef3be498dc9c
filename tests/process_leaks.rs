//! 10 000 sequential spawns on one loop leak no fd and leave no zombie. Alone in its binary:
//! counting `/proc/self/fd` needs no other test opening fds meanwhile.
// Linux only: evloop::process (clone, pidfds) is Linux-only so far.
#![cfg(target_os = "linux")]
mod util;

use std::cell::Cell;
use std::rc::Rc;

use evloop::net::ReadEvent;
use evloop::process::{Command, ExitStatus, Stdio};
use evloop::{Handle, Loop};
use util::{assert_clean, with_timeout};

const SPAWNS: usize = 10_000;

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

/// Children of this process, running or zombie.
fn children() -> Vec<(u32, String)> {
    let me = std::process::id().to_string();
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        let Some((_, rest)) = stat.rsplit_once(')') else {
            continue;
        };
        let f: Vec<&str> = rest.split_whitespace().collect();
        if f.get(1) == Some(&me.as_str()) {
            let pid = entry.file_name().to_string_lossy().parse().unwrap_or(0);
            found.push((pid, f[0].to_string()));
        }
    }
    found
}

/// Spawns the next child from the previous one's exit callback. Every 100th child has a
/// stdout pipe read to EOF, every 1000th spawn is of a missing program (an error, reaped at
/// once), every 500th is watched through SIGCHLD.
fn next(lp: &mut Loop, n: Rc<Cell<usize>>) {
    loop {
        let i = n.get();
        if i == SPAWNS {
            return;
        }
        n.set(i + 1);
        if i % 1000 == 999 {
            let err = lp
                .spawn(&Command::new("nosuch-evloop-leak"), |_, _, _| {
                    panic!("no exit")
                })
                .expect_err("missing program");
            assert_eq!(err.kind(), std::io::ErrorKind::NotFound);
            continue;
        }
        let mut cmd = Command::new("true");
        if i.is_multiple_of(100) {
            cmd.stdout(Stdio::Pipe).stdin(Stdio::Pipe);
        }
        cmd.use_pidfd(i % 500 != 1);
        let n2 = Rc::clone(&n);
        let child = lp
            .spawn(&cmd, move |lp, p, status| {
                assert_eq!(status, ExitStatus::from_code(0));
                p.close(lp, |_| {}).unwrap();
                next(lp, n2);
            })
            .unwrap();
        if let Some(stdin) = child.stdin() {
            stdin.close(lp, |_| {}).unwrap();
        }
        if let Some(out) = child.stdout() {
            out.read_start(lp, |lp, pipe, ev| {
                assert!(matches!(ev, ReadEvent::Eof), "`true` writes nothing");
                pipe.close(lp, |_| {}).unwrap();
            })
            .unwrap();
        }
        return;
    }
}

#[test]
fn ten_thousand_sequential_spawns_leak_no_fd_and_leave_no_zombie() {
    with_timeout(300, || {
        let mut lp = Loop::new().unwrap();
        // One warm-up spawn, so lazily created loop fds (the SIGCHLD pipe) exist already.
        let mut warm = Command::new("true");
        warm.use_pidfd(false);
        lp.spawn(&warm, |lp, p, _| p.close(lp, |_| {}).unwrap())
            .unwrap();
        lp.run().unwrap();
        let before = open_fds();
        let n = Rc::new(Cell::new(0));
        next(&mut lp, Rc::clone(&n));
        lp.run().unwrap();
        assert_eq!(n.get(), SPAWNS);
        assert_eq!(open_fds(), before, "fds leaked");
        assert_clean(&lp);
        let kids = children();
        assert!(kids.is_empty(), "children left: {kids:?}");
    });
}
