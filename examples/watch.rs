//! `cargo run --example watch -- --path src -- cargo test -q` — a small watchexec / nodemon:
//! runs the command, lets its output stream live (it writes straight to this terminal, so
//! colours stay on), and when a file under a watched path changes, stops the running command's
//! process group (SIGTERM, then SIGKILL after a grace period) and starts it again — once per
//! burst of changes (debounced). Ctrl-C (or SIGTERM) stops the command and exits with its
//! status (128 + signal if a signal ended it); the command gets the same signal first.
//!
//! Options: `--path DIR` (repeatable, default `.`), `--debounce MS` (default 100),
//! `--grace MS` (default 2000). Changes under `target/` and `.git/` are ignored.

#[cfg(target_os = "linux")]
use std::cell::RefCell;
#[cfg(target_os = "linux")]
use std::ffi::OsString;
#[cfg(target_os = "linux")]
use std::path::{Component, Path, PathBuf};
#[cfg(target_os = "linux")]
use std::process::ExitCode;
#[cfg(target_os = "linux")]
use std::rc::Rc;
#[cfg(target_os = "linux")]
use std::time::Duration;

#[cfg(target_os = "linux")]
use evloop::fs::event::{FsEvent, FsWatchOptions, FsWatcher};
#[cfg(target_os = "linux")]
use evloop::process::Process;
#[cfg(target_os = "linux")]
use evloop::process::{Command, ExitStatus};
#[cfg(target_os = "linux")]
use evloop::{Handle, Loop, Signal, Timer};

#[cfg(target_os = "linux")]
struct Args {
    paths: Vec<PathBuf>,
    debounce: Duration,
    grace: Duration,
    command: Vec<OsString>,
}

#[cfg(target_os = "linux")]
fn parse_args() -> Result<Args, String> {
    let mut args = std::env::args_os().skip(1);
    let mut out = Args {
        paths: Vec::new(),
        debounce: Duration::from_millis(100),
        grace: Duration::from_millis(2000),
        command: Vec::new(),
    };
    let ms = |v: Option<OsString>, what: &str| -> Result<Duration, String> {
        v.and_then(|v| v.to_str()?.parse().ok())
            .map(Duration::from_millis)
            .ok_or_else(|| format!("{what} needs a number of milliseconds"))
    };
    while let Some(arg) = args.next() {
        match arg.to_str() {
            Some("--path") => out
                .paths
                .push(args.next().ok_or("--path needs a directory")?.into()),
            Some("--debounce") => out.debounce = ms(args.next(), "--debounce")?,
            Some("--grace") => out.grace = ms(args.next(), "--grace")?,
            Some("--") => {
                out.command = args.collect();
                break;
            }
            _ => return Err(format!("unknown argument {arg:?}")),
        }
    }
    if out.command.is_empty() {
        return Err(
            "usage: watch [--path DIR]... [--debounce MS] [--grace MS] -- COMMAND [ARG]...".into(),
        );
    }
    if out.paths.is_empty() {
        out.paths.push(".".into());
    }
    Ok(out)
}

#[cfg(target_os = "linux")]
/// What the watcher is doing.
struct State {
    command: Command,
    grace: Duration,
    debounce: Duration,
    child: Option<Process>,
    /// A kill is under way; this timer escalates it to SIGKILL.
    kill_timer: Option<Timer>,
    /// The debounce timer of the current burst of changes.
    debounce_timer: Option<Timer>,
    /// Start the command again when the running one has exited.
    restart: bool,
    /// Ctrl-C: exit once the child is gone.
    quitting: bool,
    last: Option<ExitStatus>,
    watchers: Vec<FsWatcher>,
    signals: Vec<Signal>,
}

#[cfg(target_os = "linux")]
type Shared = Rc<RefCell<State>>;

#[cfg(target_os = "linux")]
fn note(msg: impl std::fmt::Display) {
    eprintln!("[watch] {msg}");
}

#[cfg(target_os = "linux")]
fn start(lp: &mut Loop, st: &Shared) {
    let command = st.borrow().command.clone();
    let st2 = Rc::clone(st);
    match lp.spawn(&command, move |lp, p, status| exited(lp, &st2, p, status)) {
        Ok(child) => st.borrow_mut().child = Some(child.process),
        Err(e) => {
            note(e);
            st.borrow_mut().last = Some(ExitStatus::from_code(127));
            if st.borrow().quitting {
                shut_down(lp, st);
            }
        }
    }
}

#[cfg(target_os = "linux")]
fn exited(lp: &mut Loop, st: &Shared, p: Process, status: ExitStatus) {
    let _ = p.close(lp, |_| {});
    let (restart, quitting) = {
        let mut s = st.borrow_mut();
        s.child = None;
        s.last = Some(status);
        if let Some(t) = s.kill_timer.take() {
            t.clear(lp);
        }
        (std::mem::take(&mut s.restart), s.quitting)
    };
    if quitting {
        shut_down(lp, st);
    } else if restart {
        note("restarting");
        start(lp, st);
    } else {
        note(format_args!("{status}; waiting for changes"));
    }
}

#[cfg(target_os = "linux")]
/// Stops the running child's group: `first` now, SIGKILL after the grace period.
fn stop_child(lp: &mut Loop, st: &Shared, first: i32) {
    let (child, grace, killing) = {
        let s = st.borrow();
        (s.child, s.grace, s.kill_timer.is_some())
    };
    let Some(child) = child else { return };
    if killing {
        return;
    }
    let _ = child.kill_group(lp, first);
    let timer = lp.set_timeout(grace, move |lp, _| {
        let _ = child.kill_group(lp, libc::SIGKILL);
    });
    st.borrow_mut().kill_timer = Some(timer);
}

#[cfg(target_os = "linux")]
fn changed(lp: &mut Loop, st: &Shared) {
    let (old, debounce) = {
        let mut s = st.borrow_mut();
        (s.debounce_timer.take(), s.debounce)
    };
    if let Some(t) = old {
        t.clear(lp);
    }
    let st2 = Rc::clone(st);
    let timer = lp.set_timeout(debounce, move |lp, _| {
        st2.borrow_mut().debounce_timer = None;
        if st2.borrow().quitting {
            return;
        }
        if st2.borrow().child.is_some() {
            st2.borrow_mut().restart = true;
            stop_child(lp, &st2, libc::SIGTERM);
        } else {
            note("change seen; running again");
            start(lp, &st2);
        }
    });
    st.borrow_mut().debounce_timer = Some(timer);
}

#[cfg(target_os = "linux")]
fn ignored(path: &Path) -> bool {
    path.components()
        .any(|c| matches!(c, Component::Normal(n) if n == "target" || n == ".git"))
}

#[cfg(target_os = "linux")]
fn shut_down(lp: &mut Loop, st: &Shared) {
    let (watchers, signals, timers) = {
        let mut s = st.borrow_mut();
        (
            std::mem::take(&mut s.watchers),
            std::mem::take(&mut s.signals),
            [s.debounce_timer.take(), s.kill_timer.take()],
        )
    };
    for w in watchers {
        let _ = w.close(lp, |_| {});
    }
    for s in signals {
        let _ = s.close(lp, |_| {});
    }
    for t in timers.into_iter().flatten() {
        t.clear(lp);
    }
}

#[cfg(target_os = "linux")]
fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    let mut lp = match Loop::new() {
        Ok(lp) => lp,
        Err(e) => {
            eprintln!("watch: {e}");
            return ExitCode::from(1);
        }
    };
    let mut command = Command::new(&args.command[0]);
    // Its own process group, so that a restart stops everything it started.
    command.args(&args.command[1..]).detached(true);
    let st: Shared = Rc::new(RefCell::new(State {
        command,
        grace: args.grace,
        debounce: args.debounce,
        child: None,
        kill_timer: None,
        debounce_timer: None,
        restart: false,
        quitting: false,
        last: None,
        watchers: Vec::new(),
        signals: Vec::new(),
    }));
    for path in &args.paths {
        let st2 = Rc::clone(&st);
        let watched = lp.fs_watch(
            path,
            FsWatchOptions { recursive: true },
            move |lp, _, ev| match ev {
                FsEvent::Ended(e) => note(e),
                FsEvent::Overflow => changed(lp, &st2),
                ev => {
                    if ev.path().is_some_and(|p| !ignored(p)) {
                        changed(lp, &st2);
                    }
                }
            },
        );
        match watched {
            Ok(w) => st.borrow_mut().watchers.push(w),
            Err(e) => {
                eprintln!("watch: {e}");
                return ExitCode::from(1);
            }
        }
    }
    for signum in [libc::SIGINT, libc::SIGTERM] {
        let st2 = Rc::clone(&st);
        let sig = lp.signal(signum, move |lp, _, signum| {
            st2.borrow_mut().quitting = true;
            if st2.borrow().child.is_some() {
                // The child has its own group, out of the terminal's reach: pass Ctrl-C on.
                stop_child(lp, &st2, signum);
            } else {
                shut_down(lp, &st2);
            }
        });
        match sig {
            Ok(s) => st.borrow_mut().signals.push(s),
            Err(e) => {
                eprintln!("watch: {e}");
                return ExitCode::from(1);
            }
        }
    }
    start(&mut lp, &st);
    if let Err(e) = lp.run() {
        eprintln!("watch: {e}");
        return ExitCode::from(1);
    }
    let last = st.borrow().last;
    match last {
        Some(s) => match (s.code(), s.signal()) {
            (Some(c), _) => ExitCode::from(c as u8),
            (None, Some(sig)) => ExitCode::from(128 + sig as u8),
            _ => ExitCode::from(1),
        },
        None => ExitCode::SUCCESS,
    }
}

#[cfg(not(target_os = "linux"))]
fn main() {
    eprintln!(
        "watch: Linux only (evloop's processes and fs events are not ported to this platform)"
    );
    std::process::exit(1);
}
