//! Child processes: exit statuses, spawn errors, stdio pipes, kill, detached groups, fd
//! inheritance, the SIGCHLD fallback and the exec helper.
// Linux only: evloop::process (clone, pidfds) is Linux-only so far.
#![cfg(target_os = "linux")]
mod util;

use std::cell::RefCell;
use std::collections::BTreeSet;
use std::io::ErrorKind;
use std::rc::Rc;
use std::time::Duration;

use evloop::net::ReadEvent;
use evloop::process::Pipe;
use evloop::process::{Command, ExecKill, ExecOptions, ExitStatus, Stdio};
use evloop::{Handle, Loop};
use util::{Counter, Trace, assert_clean, with_timeout};

/// Runs `cmd` with default stdio and returns the exit status seen by the one exit callback.
fn status_of(cmd: &Command) -> ExitStatus {
    let mut lp = Loop::new().unwrap();
    let seen = Rc::new(RefCell::new(Vec::new()));
    let s = Rc::clone(&seen);
    let child = lp
        .spawn(cmd, move |lp, p, status| {
            s.borrow_mut().push(status);
            assert!(!p.is_active(lp).unwrap(), "inactive once exited");
            assert_eq!(p.exit_status(lp).unwrap(), Some(status));
            p.close(lp, |_| {}).unwrap();
        })
        .unwrap();
    assert!(child.pipes.iter().all(Option::is_none));
    assert!(child.process.is_active(&lp).unwrap());
    lp.run().unwrap();
    assert_clean(&lp);
    let seen = seen.borrow();
    assert_eq!(seen.len(), 1, "one exit callback");
    seen[0]
}

#[test]
fn true_false_and_a_code_exit_exactly() {
    with_timeout(20, || {
        assert_eq!(status_of(&Command::new("true")), ExitStatus::from_code(0));
        assert!(status_of(&Command::new("true")).success());
        assert_eq!(status_of(&Command::new("false")), ExitStatus::from_code(1));
        let mut sh = Command::new("sh");
        sh.args(["-c", "exit 42"]);
        assert_eq!(status_of(&sh), ExitStatus::from_code(42));
        assert_eq!(status_of(&sh).to_string(), "exit code 42");
    });
}

#[test]
fn a_child_killed_by_a_signal_reports_the_signal() {
    with_timeout(20, || {
        let mut sh = Command::new("sh");
        sh.args(["-c", "kill -9 $$"]);
        let status = status_of(&sh);
        assert_eq!(status, ExitStatus::from_signal(libc::SIGKILL));
        assert_eq!(status.code(), None);
        assert_eq!(status.to_string(), "killed by signal 9");

        // kill() from the parent.
        let mut lp = Loop::new().unwrap();
        let seen = Rc::new(RefCell::new(None));
        let s = Rc::clone(&seen);
        let child = lp
            .spawn(Command::new("sleep").arg("30"), move |lp, p, status| {
                *s.borrow_mut() = Some(status);
                // After the exit, kill is ESRCH.
                let err = p.kill(lp, libc::SIGTERM).expect_err("already reaped");
                assert_eq!(err.raw_os_error(), Some(libc::ESRCH));
                p.close(lp, |_| {}).unwrap();
            })
            .unwrap();
        assert!(child.process.pid(&lp).unwrap() > 1);
        child.process.kill(&mut lp, libc::SIGTERM).unwrap();
        lp.run().unwrap();
        assert_eq!(*seen.borrow(), Some(ExitStatus::from_signal(libc::SIGTERM)));
        assert_clean(&lp);
    });
}

#[test]
fn a_missing_program_is_an_error_naming_it_with_nothing_left_behind() {
    with_timeout(20, || {
        let mut lp = Loop::new().unwrap();
        let cmd = Command::new("nosuch-evloop-program");
        let err = lp
            .spawn(&cmd, |_, _, _| panic!("no exit callback"))
            .expect_err("missing");
        assert_eq!(err.kind(), ErrorKind::NotFound);
        let text = err.to_string();
        assert!(
            text.starts_with("spawn nosuch-evloop-program: not found"),
            "{text}"
        );
        let io = std::io::Error::from(err);
        let spawn_err = io
            .get_ref()
            .and_then(|e| e.downcast_ref::<evloop::process::SpawnError>())
            .expect("a SpawnError payload");
        assert_eq!(spawn_err.stage(), "exec");
        assert_eq!(spawn_err.raw_os_error(), Some(libc::ENOENT));

        // A path that is not executable: permission denied, named too.
        let plain = std::env::temp_dir().join(format!("evloop-noexec-{}", std::process::id()));
        std::fs::write(&plain, "not a program").unwrap();
        let err = lp
            .spawn(&Command::new(&plain), |_, _, _| panic!("no exit"))
            .expect_err("not executable");
        std::fs::remove_file(&plain).unwrap();
        assert_eq!(err.kind(), ErrorKind::PermissionDenied);
        assert!(
            err.to_string()
                .starts_with(&format!("spawn {}:", plain.display())),
            "{err}"
        );

        // A bad working directory names the directory.
        let err = lp
            .spawn(Command::new("true").cwd("/no/such/dir"), |_, _, _| {
                panic!("no exit")
            })
            .expect_err("bad cwd");
        assert!(
            err.to_string()
                .starts_with("spawn true: chdir '/no/such/dir':"),
            "{err}"
        );
        // A bad fd to hand over fails in the child, named as a stdio failure.
        let err = lp
            .spawn(
                Command::new("true").stdio(1, Stdio::Fd(987_654)),
                |_, _, _| panic!("no exit"),
            )
            .expect_err("bad fd");
        assert!(err.to_string().starts_with("spawn true: stdio:"), "{err}");
        // Pipes asked for are closed again; the failed children were reaped.
        let err = lp
            .spawn(
                Command::new("nosuch-evloop-program")
                    .stdin(Stdio::Pipe)
                    .stdout(Stdio::Pipe),
                |_, _, _| panic!("no exit"),
            )
            .expect_err("missing");
        assert_eq!(err.kind(), ErrorKind::NotFound);
        lp.run().unwrap();
        assert_clean(&lp);
    });
}

#[test]
fn args_env_and_cwd_reach_the_child() {
    with_timeout(20, || {
        let mut lp = Loop::new().unwrap();
        let mut cmd = Command::new("sh");
        cmd.args([
            "-c",
            "echo \"$A|$B|$PWD|$1|${HOME-unset}\"",
            "sh",
            "arg one",
        ])
        .env_clear()
        .env("A", "x")
        .env("B", "y")
        .env_remove("B")
        .cwd("/tmp");
        let out = Rc::new(RefCell::new(None));
        let o = Rc::clone(&out);
        lp.exec_file(&cmd, ExecOptions::default(), move |_, r| {
            *o.borrow_mut() = Some(r.unwrap());
        })
        .unwrap();
        lp.run().unwrap();
        let out = out.borrow_mut().take().unwrap();
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            "x||/tmp|arg one|unset\n"
        );
        assert!(out.status.success());
        assert_clean(&lp);
    });
}

#[test]
fn uid_and_gid_apply_or_fail_with_a_named_error() {
    with_timeout(20, || {
        let mut lp = Loop::new().unwrap();
        let mut cmd = Command::new("sh");
        cmd.args(["-c", "id -u; id -g"]).uid(65534).gid(65534);
        let out = Rc::new(RefCell::new(None));
        let o = Rc::clone(&out);
        let spawned = lp.exec_file(&cmd, ExecOptions::default(), move |_, r| {
            *o.borrow_mut() = Some(r.unwrap());
        });
        // SAFETY: geteuid has no preconditions.
        let root = unsafe { libc::geteuid() } == 0;
        if root {
            spawned.unwrap();
            lp.run().unwrap();
            let out = out.borrow_mut().take().unwrap();
            assert_eq!(String::from_utf8_lossy(&out.stdout), "65534\n65534\n");
        } else {
            let err = spawned.expect_err("unprivileged");
            assert_eq!(err.kind(), ErrorKind::PermissionDenied);
            assert!(err.to_string().starts_with("spawn sh: setgid:"), "{err}");
        }
        assert_clean(&lp);
    });
}

/// A deterministic byte pattern, so 64 MiB can be checked without keeping a copy.
fn pattern(at: usize) -> u8 {
    (at.wrapping_mul(31) ^ (at >> 13)) as u8
}

/// Writes `total` pattern bytes to `pipe` in 256 KiB chunks, honouring backpressure, then
/// shuts it down.
fn feed(lp: &mut Loop, pipe: Pipe, total: usize) {
    let sent = Rc::new(std::cell::Cell::new(0usize));
    fn pump(lp: &mut Loop, pipe: Pipe, sent: Rc<std::cell::Cell<usize>>, total: usize) {
        while sent.get() < total {
            let start = sent.get();
            let end = (start + 256 * 1024).min(total);
            let chunk: Vec<u8> = (start..end).map(pattern).collect();
            sent.set(end);
            if !pipe.write(lp, chunk, |_, r| r.unwrap()).unwrap() {
                let s = Rc::clone(&sent);
                pipe.on_drain(lp, move |lp, pipe| pump(lp, pipe, Rc::clone(&s), total))
                    .unwrap();
                return;
            }
        }
        pipe.shutdown(lp, move |lp, r| {
            r.unwrap();
            pipe.close(lp, |_| {}).unwrap();
        })
        .unwrap();
    }
    pump(lp, pipe, sent, total);
}

/// Reads `pipe` to EOF checking the pattern; records the byte count and EOF in `trace`.
fn check_pattern(lp: &mut Loop, pipe: Pipe, name: &'static str, trace: Trace) {
    let mut at = 0usize;
    pipe.read_start(lp, move |lp, pipe, ev| match ev {
        ReadEvent::Data(bytes) => {
            for &b in bytes {
                assert_eq!(b, pattern(at), "{name}: byte {at} differs");
                at += 1;
            }
        }
        ReadEvent::Eof => {
            trace.push(format!("{name} eof {at}"));
            pipe.close(lp, |_| {}).unwrap();
        }
        ReadEvent::Error(e) => panic!("{name}: {e}"),
    })
    .unwrap();
}

#[test]
fn sixty_four_mib_each_way_through_cat_byte_exact() {
    with_timeout(120, || {
        const TOTAL: usize = 64 * 1024 * 1024;
        let mut lp = Loop::new().unwrap();
        let trace = Trace::new();
        // stdin -> cat -> stdout, and stdin -> cat -> stderr.
        for (name, script) in [("stdout", "exec cat"), ("stderr", "exec cat >&2")] {
            let t = trace.clone();
            let child = lp
                .spawn(
                    Command::new("sh")
                        .args(["-c", script])
                        .stdin(Stdio::Pipe)
                        .stdout(Stdio::Pipe)
                        .stderr(Stdio::Pipe),
                    move |lp, p, status| {
                        t.push(format!("{name} exit {status}"));
                        p.close(lp, |_| {}).unwrap();
                    },
                )
                .unwrap();
            feed(&mut lp, child.stdin().unwrap(), TOTAL);
            let (data, other) = if name == "stdout" {
                (child.stdout().unwrap(), child.stderr().unwrap())
            } else {
                (child.stderr().unwrap(), child.stdout().unwrap())
            };
            check_pattern(&mut lp, data, name, trace.clone());
            check_pattern(&mut lp, other, "other", trace.clone());
        }
        lp.run().unwrap();
        let mut got = trace.take();
        got.sort();
        assert_eq!(
            got,
            [
                "other eof 0".to_string(),
                "other eof 0".to_string(),
                format!("stderr eof {TOTAL}"),
                "stderr exit exit code 0".to_string(),
                format!("stdout eof {TOTAL}"),
                "stdout exit exit code 0".to_string(),
            ]
        );
        assert_clean(&lp);
    });
}

/// Collects `pipe` to EOF, logging "eof" then the bytes into `trace`.
fn collect(lp: &mut Loop, pipe: Pipe, trace: Trace) {
    let mut got = Vec::new();
    pipe.read_start(lp, move |lp, pipe, ev| match ev {
        ReadEvent::Data(b) => got.extend_from_slice(b),
        ReadEvent::Eof => {
            trace.push(format!("eof {}", String::from_utf8_lossy(&got)));
            pipe.close(lp, |_| {}).unwrap();
        }
        ReadEvent::Error(e) => panic!("read: {e}"),
    })
    .unwrap();
}

#[test]
fn stdout_closing_after_or_before_the_exit_gives_every_byte_and_one_exit() {
    with_timeout(20, || {
        for (script, order) in [
            // A grandchild keeps stdout open after the child exits.
            (
                "printf A; (sleep 0.3; printf B) & exit 0",
                ["exit exit code 0", "eof AB"],
            ),
            // The child closes stdout, then exits later.
            (
                "printf AB; exec 1>&-; sleep 0.3; exit 0",
                ["eof AB", "exit exit code 0"],
            ),
        ] {
            let mut lp = Loop::new().unwrap();
            let trace = Trace::new();
            let t = trace.clone();
            let child = lp
                .spawn(
                    Command::new("sh").args(["-c", script]).stdout(Stdio::Pipe),
                    move |lp, p, status| {
                        t.push(format!("exit {status}"));
                        p.close(lp, |_| {}).unwrap();
                    },
                )
                .unwrap();
            collect(&mut lp, child.stdout().unwrap(), trace.clone());
            lp.run().unwrap();
            assert_eq!(trace.take(), order, "script {script}");
            assert_clean(&lp);
        }
    });
}

fn session_of(pid: u32) -> Option<u32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = stat.rsplit_once(')')?.1;
    // state ppid pgrp session
    rest.split_whitespace().nth(3)?.parse().ok()
}

#[test]
fn kill_group_ends_a_detached_child_and_its_descendants() {
    with_timeout(20, || {
        let mut lp = Loop::new().unwrap();
        let seen = Rc::new(RefCell::new(None));
        let s = Rc::clone(&seen);
        let child = lp
            .spawn(
                Command::new("sh")
                    .args(["-c", "sleep 30 & sleep 30 & echo ready; wait"])
                    .stdout(Stdio::Pipe)
                    .detached(true),
                move |lp, p, status| {
                    *s.borrow_mut() = Some(status);
                    p.close(lp, |_| {}).unwrap();
                },
            )
            .unwrap();
        let pid = child.process.pid(&lp).unwrap();
        let process = child.process;
        child
            .stdout()
            .unwrap()
            .read_start(&mut lp, move |lp, pipe, ev| {
                if let ReadEvent::Data(b) = ev {
                    assert_eq!(b, b"ready\n");
                    // A new session led by the child.
                    assert_eq!(session_of(pid), Some(pid));
                    process.kill_group(lp, libc::SIGKILL).unwrap();
                }
                if matches!(ev, ReadEvent::Eof) {
                    pipe.close(lp, |_| {}).unwrap();
                }
            })
            .unwrap();
        lp.run().unwrap();
        assert_eq!(*seen.borrow(), Some(ExitStatus::from_signal(libc::SIGKILL)));
        assert_clean(&lp);
        // The sleeps were in the group too (EOF above needed them dead, since they held
        // stdout): nothing of the group is left running. Members may linger as zombies until
        // init reaps them, which is not ours to wait for.
        // A killed process closes its fds (the EOF) a moment before it turns zombie: give the
        // kernel a bounded moment to finish the deaths before reading their states.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while !group_members(pid).iter().all(|state| state == "Z")
            && std::time::Instant::now() < deadline
        {
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        assert!(
            group_members(pid).iter().all(|state| state == "Z"),
            "{:?}",
            group_members(pid)
        );
    });
}

/// The states of the processes in group `pgid`.
fn group_members(pgid: u32) -> Vec<String> {
    let mut states = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        let Some(rest) = stat.rsplit_once(')').map(|(_, r)| r) else {
            continue;
        };
        let f: Vec<&str> = rest.split_whitespace().collect();
        if f.get(2).and_then(|g| g.parse::<u32>().ok()) == Some(pgid) {
            states.push(f[0].to_string());
        }
    }
    states
}

/// This process's fds that a child would inherit (no close-on-exec flag).
fn inheritable_fds() -> BTreeSet<u32> {
    std::fs::read_dir("/proc/self/fd")
        .unwrap()
        .flatten()
        .filter_map(|e| e.file_name().to_string_lossy().parse::<u32>().ok())
        .filter(|&fd| {
            // SAFETY: F_GETFD on any integer only reads flags; a closed fd gives -1.
            let flags = unsafe { libc::fcntl(fd as i32, libc::F_GETFD) };
            flags != -1 && flags & libc::FD_CLOEXEC == 0
        })
        .collect()
}

fn fd_set(text: &str) -> BTreeSet<u32> {
    text.split_whitespace()
        .map(|s| s.parse().unwrap())
        .collect()
}

#[test]
fn a_child_inherits_no_loop_fd_it_was_not_given() {
    with_timeout(20, || {
        let before = inheritable_fds();
        let mut lp = Loop::new().unwrap();
        // Open one of everything.
        let _listener = lp
            .tcp_listen("127.0.0.1:0".parse().unwrap(), |_, _, _| {})
            .unwrap();
        let (a, b) = lp.unix_pair().unwrap();
        let (r, w) = lp.pipe().unwrap();
        let sig = lp.signal(libc::SIGUSR2, |_, _, _| {}).unwrap();
        let timer = lp.set_timeout(Duration::from_secs(60), |_, _| {});
        let udp = lp.udp_bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let fs_watch = lp
            .fs_watch(
                std::env::temp_dir(),
                evloop::fs::event::FsWatchOptions::default(),
                |_, _, _| {},
            )
            .unwrap();
        let listener = _listener;
        let out = Rc::new(RefCell::new(Vec::new()));
        let done = {
            let out = Rc::clone(&out);
            Rc::new(
                move |lp: &mut Loop, which: usize, res: evloop::Result<evloop::process::Output>| {
                    out.borrow_mut().push((which, res.unwrap()));
                    if out.borrow().len() == 2 {
                        listener.close(lp, |_| {}).unwrap();
                        a.close(lp, |_| {}).unwrap();
                        b.close(lp, |_| {}).unwrap();
                        r.close(lp, |_| {}).unwrap();
                        w.close(lp, |_| {}).unwrap();
                        sig.close(lp, |_| {}).unwrap();
                        timer.close(lp, |_| {}).unwrap();
                        udp.close(lp, |_| {}).unwrap();
                        fs_watch.close(lp, |_| {}).unwrap();
                    }
                },
            )
        };
        // A process watched through SIGCHLD too, so that self-pipe exists.
        let mut ls = Command::new("ls");
        ls.arg("/proc/self/fd").use_pidfd(false);
        let d = Rc::clone(&done);
        lp.exec_file(&ls, ExecOptions::default(), move |lp, res| d(lp, 0, res))
            .unwrap();
        // And one given fd 3 on purpose: only that one more.
        let mut ls3 = Command::new("ls");
        ls3.arg("/proc/self/fd").stdio(3, Stdio::stream(w));
        let d = Rc::clone(&done);
        lp.exec_file(&ls3, ExecOptions::default(), move |lp, res| d(lp, 1, res))
            .unwrap();
        // Every fd the loop opened is close-on-exec.
        assert_eq!(inheritable_fds(), before);
        lp.run().unwrap();
        assert_clean(&lp);
        let mut out = out.borrow().clone();
        out.sort_by_key(|(which, _)| *which);
        let out: Vec<_> = out.into_iter().map(|(_, o)| o).collect();
        assert_eq!(out.len(), 2);
        // The child has what this process had open without close-on-exec before the loop
        // (the test harness's own), fds 0-2, what it was given, and the directory `ls` opens.
        let mut expected = before;
        expected.extend([0, 1, 2]);
        let listed = fd_set(&String::from_utf8_lossy(&out[0].stdout));
        assert!(listed.is_superset(&expected), "{listed:?} vs {expected:?}");
        assert_eq!(
            listed.len(),
            expected.len() + 1,
            "{listed:?} vs {expected:?}"
        );
        expected.insert(3);
        let listed = fd_set(&String::from_utf8_lossy(&out[1].stdout));
        assert!(listed.is_superset(&expected), "{listed:?} vs {expected:?}");
        assert_eq!(
            listed.len(),
            expected.len() + 1,
            "{listed:?} vs {expected:?}"
        );
    });
}

fn exec(cmd: &Command, opts: ExecOptions) -> evloop::process::Output {
    let mut lp = Loop::new().unwrap();
    let out = Rc::new(RefCell::new(None));
    let o = Rc::clone(&out);
    let calls = Counter::new();
    let c = calls.clone();
    lp.exec_file(cmd, opts, move |_, r| {
        c.inc();
        *o.borrow_mut() = Some(r.unwrap());
    })
    .unwrap();
    lp.run().unwrap();
    assert_eq!(calls.get(), 1, "one completion");
    assert_clean(&lp);
    out.borrow_mut().take().unwrap()
}

#[test]
fn exec_file_collects_stdout_stderr_and_status() {
    with_timeout(20, || {
        let out = exec(
            Command::new("sh").args(["-c", "echo out; echo err >&2; exit 3"]),
            ExecOptions::default(),
        );
        assert_eq!(out.stdout, b"out\n");
        assert_eq!(out.stderr, b"err\n");
        assert_eq!(out.status, ExitStatus::from_code(3));
        assert_eq!(out.killed, None);
    });
}

#[test]
fn exec_file_kills_at_the_output_cap_and_after_the_timeout() {
    with_timeout(20, || {
        let out = exec(
            Command::new("sh").args(["-c", "while :; do echo yyyyyyyy; done"]),
            ExecOptions {
                max_output: 1000,
                ..ExecOptions::default()
            },
        );
        assert_eq!(out.killed, Some(ExecKill::MaxOutput));
        assert_eq!(out.stdout.len(), 1000);
        assert!(out.stdout.starts_with(b"yyyyyyyy\n"));
        // SIGTERM, or SIGPIPE if it wrote to the closed pipe first.
        let sig = out.status.signal();
        assert!(
            sig == Some(libc::SIGTERM) || sig == Some(libc::SIGPIPE),
            "{sig:?}"
        );

        let started = std::time::Instant::now();
        let out = exec(
            Command::new("sleep").arg("30"),
            ExecOptions {
                timeout: Some(Duration::from_millis(100)),
                kill_signal: libc::SIGKILL,
                ..ExecOptions::default()
            },
        );
        assert_eq!(out.killed, Some(ExecKill::Timeout));
        assert_eq!(out.status, ExitStatus::from_signal(libc::SIGKILL));
        assert!(started.elapsed() < Duration::from_secs(10));
    });
}

#[test]
fn the_sigchld_fallback_reaps_with_exact_statuses() {
    with_timeout(20, || {
        let mut t = Command::new("true");
        t.use_pidfd(false);
        assert_eq!(status_of(&t), ExitStatus::from_code(0));
        let mut f = Command::new("false");
        f.use_pidfd(false);
        assert_eq!(status_of(&f), ExitStatus::from_code(1));
        let mut k = Command::new("sh");
        k.args(["-c", "kill -TERM $$"]).use_pidfd(false);
        assert_eq!(status_of(&k), ExitStatus::from_signal(libc::SIGTERM));
        // Many at once on one loop, each with its own status.
        let mut lp = Loop::new().unwrap();
        let seen = Rc::new(RefCell::new(Vec::new()));
        let mut pids = Vec::new();
        for code in 0..20 {
            let s = Rc::clone(&seen);
            let mut cmd = Command::new("sh");
            cmd.args(["-c", &format!("exit {code}")]).use_pidfd(false);
            let child = lp
                .spawn(&cmd, move |lp, p, status| {
                    s.borrow_mut().push((code, status));
                    p.close(lp, |_| {}).unwrap();
                })
                .unwrap();
            pids.push(child.process.pid(&lp).unwrap());
        }
        lp.run().unwrap();
        let mut seen = seen.borrow().clone();
        seen.sort_by_key(|(c, _)| *c);
        assert_eq!(seen.len(), 20);
        for (code, status) in seen {
            assert_eq!(status, ExitStatus::from_code(code));
        }
        assert_clean(&lp);
        for pid in pids {
            assert!(!is_our_child(pid), "{pid} reaped");
        }
    });
}

/// Whether `pid` is still a child of ours (running or zombie).
fn is_our_child(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
        stat.rsplit_once(')').is_some_and(|(_, rest)| {
            rest.split_whitespace().nth(1) == Some(&std::process::id().to_string())
        })
    })
}

#[test]
fn a_process_closed_before_its_exit_is_still_reaped() {
    with_timeout(20, || {
        for use_pidfd in [true, false] {
            let mut lp = Loop::new().unwrap();
            let child = lp
                .spawn(
                    Command::new("sleep").arg("0.1").use_pidfd(use_pidfd),
                    |_, _, _| panic!("a closed process gets no exit callback"),
                )
                .unwrap();
            let pid = child.process.pid(&lp).unwrap();
            let closed = Counter::new();
            let c = closed.clone();
            child
                .process
                .close(&mut lp, move |_| {
                    c.inc();
                })
                .unwrap();
            // Something else keeps the loop running past the child's exit.
            lp.set_timeout(Duration::from_millis(400), |_, _| {});
            lp.run().unwrap();
            assert_eq!(closed.get(), 1);
            assert!(!is_our_child(pid), "pid {pid} reaped (pidfd: {use_pidfd})");
            assert_clean(&lp);
        }
        // Dropping the loop with a child still running: reaped off the loop.
        let mut lp = Loop::new().unwrap();
        let child = lp
            .spawn(Command::new("sleep").arg("0.1"), |_, _, _| {})
            .unwrap();
        let pid = child.process.pid(&lp).unwrap();
        drop(lp);
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while is_our_child(pid) && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        assert!(
            !is_our_child(pid),
            "pid {pid} reaped after the loop was dropped"
        );
    });
}

#[test]
fn an_unrefd_process_does_not_keep_the_loop_alive() {
    with_timeout(20, || {
        let mut lp = Loop::new().unwrap();
        let child = lp
            .spawn(Command::new("sleep").arg("30"), |_, _, _| {
                panic!("not waited for")
            })
            .unwrap();
        child.process.unref(&mut lp).unwrap();
        assert!(!lp.alive());
        lp.run().unwrap();
        let info = lp.active_handles();
        assert_eq!(info.len(), 1);
        assert_eq!(info[0].kind, evloop::HandleKind::Process);
        assert!(info[0].active && !info[0].refd);
        // The site that spawned it, for "why is my loop still running?".
        assert!(
            info[0].site.file().ends_with("process_spawn.rs"),
            "{}",
            info[0]
        );
        child.process.kill(&mut lp, libc::SIGKILL).unwrap();
        child.process.close(&mut lp, |_| {}).unwrap();
        lp.run().unwrap();
        assert_clean(&lp);
    });
}

#[test]
fn stdio_fd_and_stream_hand_an_existing_descriptor_to_the_child() {
    with_timeout(20, || {
        let mut lp = Loop::new().unwrap();
        let (r, w) = lp.pipe().unwrap();
        let trace = Trace::new();
        collect(&mut lp, r, trace.clone());
        let wfd = w.raw_fd(&lp).unwrap();
        let t = trace.clone();
        lp.spawn(
            Command::new("sh")
                .args(["-c", "printf fd; printf three >&3"])
                .stdout(Stdio::Fd(wfd))
                .stdio(3, Stdio::stream(w)),
            move |lp, p, status| {
                t.push(format!("exit {status}"));
                p.close(lp, |_| {}).unwrap();
                w.close(lp, |_| {}).unwrap();
            },
        )
        .unwrap();
        lp.run().unwrap();
        assert_eq!(trace.take(), ["exit exit code 0", "eof fdthree"]);
        assert_clean(&lp);
    });
}

/// `target/<profile>/examples/<name>`, (re)built first so a stale binary is never tested.
fn example_binary(name: &str) -> std::path::PathBuf {
    let exe = std::env::current_exe().unwrap();
    let profile_dir = exe.parent().unwrap().parent().unwrap();
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut build = std::process::Command::new(cargo);
    build
        .args(["build", "--example", name])
        .current_dir(env!("CARGO_MANIFEST_DIR"));
    if profile_dir.file_name().is_some_and(|n| n == "release") {
        build.arg("--release");
    }
    assert!(
        build.status().unwrap().success(),
        "cargo build --example {name}"
    );
    profile_dir.join("examples").join(name)
}

#[test]
fn the_cat_example_copies_64_mib_through_its_own_stdio_pipes() {
    let cat = example_binary("cat");
    with_timeout(120, move || {
        const TOTAL: usize = 64 * 1024 * 1024;
        let mut lp = Loop::new().unwrap();
        let trace = Trace::new();
        let t = trace.clone();
        let child = lp
            .spawn(
                Command::new(&cat).stdin(Stdio::Pipe).stdout(Stdio::Pipe),
                move |lp, p, status| {
                    t.push(format!("exit {status}"));
                    p.close(lp, |_| {}).unwrap();
                },
            )
            .unwrap();
        feed(&mut lp, child.stdin().unwrap(), TOTAL);
        check_pattern(&mut lp, child.stdout().unwrap(), "stdout", trace.clone());
        lp.run().unwrap();
        let mut got = trace.take();
        got.sort();
        assert_eq!(
            got,
            [
                "exit exit code 0".to_string(),
                format!("stdout eof {TOTAL}")
            ]
        );
        assert_clean(&lp);
    });
}

#[test]
fn a_pipe_on_fd_3_goes_both_ways() {
    with_timeout(20, || {
        let mut lp = Loop::new().unwrap();
        let trace = Trace::new();
        let t = trace.clone();
        let child = lp
            .spawn(
                Command::new("sh")
                    .args(["-c", "read line <&3; echo \"got $line\" >&3"])
                    .stdio(3, Stdio::Pipe),
                move |lp, p, status| {
                    t.push(format!("exit {status}"));
                    p.close(lp, |_| {}).unwrap();
                },
            )
            .unwrap();
        assert_eq!(child.pipes.len(), 4);
        assert!(child.stdin().is_none() && child.stdout().is_none());
        let three = child.pipes[3].unwrap();
        three.write(&mut lp, b"ping\n", |_, r| r.unwrap()).unwrap();
        collect(&mut lp, three, trace.clone());
        lp.run().unwrap();
        let mut got = trace.take();
        got.sort();
        assert_eq!(got, ["eof got ping\n", "exit exit code 0"]);
        assert_clean(&lp);
    });
}
