//! Child processes (libuv `uv_spawn`, Node's `child_process`): [`Loop::spawn`] starts a
//! [`Command`] and returns a [`Child`]: the [`Process`] handle and the parent's ends of the
//! pipes asked for. The exit callback gets the [`ExitStatus`] — a code or the signal that
//! ended the child.
//!
//! **Reaping.** On Linux each child is watched through a pidfd registered with the poller: the
//! exit callback runs in the poll phase after `waitpid(pid, WNOHANG)` of that one pid. Where
//! `pidfd_open` fails (kernels before 5.3, or [`Command::use_pidfd`]`(false)`), the loop
//! installs a `SIGCHLD` handler before forking and, on each delivery, calls
//! `waitpid(pid, WNOHANG)` for each of *its own* children — never `waitpid(-1)`, so children
//! spawned by other code in the process are left to their owners. No zombie is left: a
//! process handle closed before its child exits hands the child to the loop, which reaps it
//! when it exits (without a callback); children still running when the loop is dropped are
//! reaped by a background thread.
//!
//! **Descriptors.** Every fd the loop opens is close-on-exec, so a child inherits only fds 0–2
//! (unless redirected) and what [`Command::stdio`] gives it. Signal dispositions are reset to
//! their defaults and the signal mask emptied in the child.
//!
//! **Errors** name the program: `spawn nosuch: not found (No such file or directory (os error
//! 2))`. Failures in the child before `exec` (a missing program, a bad working directory,
//! `setuid` refused) come back from `spawn` itself through a close-on-exec pipe, as in libuv:
//! no exit callback runs for a child that never ran, and the failed child is already reaped.
//!
//! ```
//! use evloop::net::ReadEvent;
//! use evloop::process::{Command, Stdio};
//! use evloop::{Handle, Loop};
//!
//! # fn main() -> Result<(), evloop::Error> {
//! let mut lp = Loop::new()?;
//! let mut cmd = Command::new("echo");
//! cmd.arg("hello").stdout(Stdio::Pipe);
//! let child = lp.spawn(&cmd, |lp, process, status| {
//!     assert!(status.success());
//!     process.close(lp, |_| {}).unwrap();
//! })?;
//! let mut out = Vec::new();
//! child.stdout().unwrap().read_start(&mut lp, move |lp, pipe, ev| match ev {
//!     ReadEvent::Data(bytes) => out.extend_from_slice(bytes),
//!     _ => {
//!         assert_eq!(out, b"hello\n");
//!         pipe.close(lp, |_| {}).unwrap();
//!     }
//! })?;
//! lp.run()?; // returns once the child has exited and its pipe reached EOF
//! # Ok(())
//! # }
//! ```

mod command;
mod exec;
pub(crate) mod pipe;
mod reaper;
pub(crate) mod tty;

use std::fmt;
use std::os::fd::{AsRawFd, OwnedFd};
use std::panic::Location;

use mio::Interest;
use mio::unix::SourceFd;

pub use command::{Command, SpawnError, Stdio};
pub use exec::{ExecKill, ExecOptions, Output};
pub use pipe::{Pipe, StdStream};
pub(crate) use reaper::Reaper;
pub use tty::{Tty, TtyMode, tty_reset_mode};

use crate::error::{Error, Result};
use crate::event_loop::{CallbackKind, Phase};
use crate::event_loop::{HandleData, HandleState, Loop, Never};
use crate::handle::{HandleId, HandleKind, Site, handle_type};
use crate::process::pipe::PipeFd;
use crate::sys::process::{self as sys, ChildFd, Ended};

handle_type! {
    /// A child process started by [`Loop::spawn`]. Active (keeping the loop alive) until the
    /// child exits and its exit callback has run; after that it stays open but inactive until
    /// you close it, as libuv's `uv_process_t`. Closing it before the child exits does not
    /// kill the child: the loop still reaps it, without a callback.
    Process
}

/// How a child ended: an exit code, or the signal that killed it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ExitStatus {
    code: Option<i32>,
    signal: Option<i32>,
}

impl ExitStatus {
    /// The exit code, if the child exited (rather than being killed).
    pub fn code(self) -> Option<i32> {
        self.code
    }

    /// The signal that killed the child, if one did.
    pub fn signal(self) -> Option<i32> {
        self.signal
    }

    /// Exited with code 0.
    pub fn success(self) -> bool {
        self.code == Some(0)
    }

    /// An exit with `code` (for comparisons in tests and callers).
    pub fn from_code(code: i32) -> Self {
        Self {
            code: Some(code),
            signal: None,
        }
    }

    /// Killed by `signal`.
    pub fn from_signal(signal: i32) -> Self {
        Self {
            code: None,
            signal: Some(signal),
        }
    }

    fn from_ended(ended: Option<Ended>) -> Self {
        match ended {
            Some(Ended::Code(c)) => Self::from_code(c),
            Some(Ended::Signal(s)) => Self::from_signal(s),
            None => Self {
                code: None,
                signal: None,
            },
        }
    }
}

impl fmt::Display for ExitStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.code, self.signal) {
            (Some(c), _) => write!(f, "exit code {c}"),
            (None, Some(s)) => write!(f, "killed by signal {s}"),
            (None, None) => f.write_str("exit status unknown (reaped elsewhere)"),
        }
    }
}

/// A spawned child: its [`Process`] handle and the parent's ends of the pipes asked for.
#[derive(Debug)]
pub struct Child {
    /// The process handle.
    pub process: Process,
    /// One entry per child fd: `Some(pipe)` where [`Stdio::Pipe`] was asked for.
    pub pipes: Vec<Option<Pipe>>,
}

impl Child {
    /// The pipe to the child's stdin, if [`Stdio::Pipe`] was asked for.
    pub fn stdin(&self) -> Option<Pipe> {
        self.pipes.first().copied().flatten()
    }

    /// The pipe from the child's stdout, if [`Stdio::Pipe`] was asked for.
    pub fn stdout(&self) -> Option<Pipe> {
        self.pipes.get(1).copied().flatten()
    }

    /// The pipe from the child's stderr, if [`Stdio::Pipe`] was asked for.
    pub fn stderr(&self) -> Option<Pipe> {
        self.pipes.get(2).copied().flatten()
    }
}

type ExitCb = Box<dyn FnOnce(&mut Loop, Process, ExitStatus)>;

#[cfg(test)]
thread_local! {
    /// Makes `pidfd_open` fail on this thread, as on a kernel without pidfds.
    static NO_PIDFD: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// `pidfd_open`, failing with `ENOSYS` where a test asks for a kernel without pidfds.
fn open_pidfd(pid: libc::pid_t) -> std::io::Result<OwnedFd> {
    #[cfg(test)]
    if NO_PIDFD.with(std::cell::Cell::get) {
        return Err(std::io::Error::from_raw_os_error(libc::ENOSYS));
    }
    sys::pidfd_open(pid)
}

/// What a process handle holds.
pub(crate) struct ProcessState {
    pid: libc::pid_t,
    /// Registered with the poller while the child runs (pidfd mode).
    pidfd: Option<OwnedFd>,
    exit_cb: Option<ExitCb>,
    status: Option<ExitStatus>,
}

impl Drop for ProcessState {
    fn drop(&mut self) {
        // Still running when the loop itself goes away: reap it elsewhere.
        if self.status.is_none() && self.pid > 0 {
            reaper::reap_later(self.pid);
        }
    }
}

impl HandleState for Box<ProcessState> {
    type Event = Never;

    fn stop(lp: &mut Loop, id: HandleId, _kind: HandleKind) {
        lp.process_stop(id);
    }

    fn ready(lp: &mut Loop, id: HandleId, _event: &mio::event::Event) {
        lp.process_ready(id);
    }

    fn pending(_lp: &mut Loop, _id: HandleId, never: Never) {
        match never {}
    }
}

/// A parent's pipe end waiting for the spawn to succeed.
struct ParentEnd {
    fd: usize,
    end: OwnedFd,
}

impl Loop {
    /// Spawns `cmd`; `on_exit` runs once, in the poll (or pending) phase, when the child ends.
    /// Returns at once with the [`Child`] (the exec has happened by then). Errors name the
    /// program and say what failed (see the [module docs](crate::process)); on error nothing
    /// is left open and no child is left behind.
    #[track_caller]
    pub fn spawn(
        &mut self,
        cmd: &Command,
        on_exit: impl FnOnce(&mut Self, Process, ExitStatus) + 'static,
    ) -> Result<Child> {
        let site = Location::caller();
        let named = |e: std::io::Error| -> Error {
            Error::Io(std::io::Error::new(
                e.kind(),
                format!("spawn {}: {e}", cmd.program.to_string_lossy()),
            ))
        };
        // Child ends live until the fork is done; parent ends become pipe handles after.
        let mut child_ends: Vec<OwnedFd> = Vec::new();
        let mut parent_ends: Vec<ParentEnd> = Vec::new();
        let mut stdio = Vec::with_capacity(cmd.stdio.len());
        for (fd, how) in cmd.stdio.iter().enumerate() {
            stdio.push(match *how {
                Stdio::Inherit => ChildFd::Inherit,
                Stdio::Ignore => ChildFd::Closed,
                Stdio::Fd(raw) => ChildFd::From(raw),
                Stdio::Stream(id) => ChildFd::From(self.stream_socket(id)?.raw_fd()),
                Stdio::Pipe => {
                    let (parent, child) = match fd {
                        0 => {
                            let (r, w) = sys::pipe_cloexec().map_err(named)?;
                            (w, r)
                        }
                        1 | 2 => sys::pipe_cloexec().map_err(named)?,
                        _ => {
                            let (a, b) = std::os::unix::net::UnixStream::pair().map_err(named)?;
                            (OwnedFd::from(a), OwnedFd::from(b))
                        }
                    };
                    let raw = child.as_raw_fd();
                    child_ends.push(child);
                    parent_ends.push(ParentEnd { fd, end: parent });
                    ChildFd::From(raw)
                }
            });
        }
        let plan = cmd.plan(stdio).map_err(named)?;
        if !cmd.use_pidfd {
            // Before the fork, so that an exit right after it is not missed.
            self.reaper_sigchld()?;
        }
        let pid = sys::spawn(&plan).map_err(|(stage, e)| Error::Io(cmd.error(stage, e)))?;
        drop(child_ends);
        let pidfd = if cmd.use_pidfd {
            match open_pidfd(pid) {
                Ok(fd) => Some(fd),
                Err(_) => {
                    // No pidfds here: the portable path. The child may have exited before the
                    // SIGCHLD handler existed, so look once in the pending phase too.
                    if let Err(e) = self.reaper_sigchld() {
                        let _ = sys::kill(pid, libc::SIGKILL);
                        let _ = sys::wait_blocking(pid);
                        return Err(e);
                    }
                    None
                }
            }
        } else {
            None
        };
        let watched_by_signal = pidfd.is_none();
        let state = ProcessState {
            pid,
            pidfd,
            exit_cb: Some(Box::new(on_exit)),
            status: None,
        };
        let id = self.handles_mut().insert(
            HandleKind::Process,
            site,
            true,
            HandleData::Process(Box::new(state)),
        );
        let registered = match self
            .process_state(id)
            .map(|s| s.pidfd.as_ref().map(|f| f.as_raw_fd()))
        {
            Ok(Some(raw)) => self
                .io_mut()
                .register(&mut SourceFd(&raw), id, Interest::READABLE),
            _ => Ok(()),
        };
        if let Err(e) = registered {
            // Never watched, never seen by the caller: end the child here and forget it.
            let _ = sys::kill(pid, libc::SIGKILL);
            let ended = sys::wait_blocking(pid).ok().flatten();
            if let Ok(state) = self.process_state(id) {
                state.pidfd = None;
                state.status = Some(ExitStatus::from_ended(ended));
            }
            self.handles_mut().remove(id);
            return Err(named(e));
        }
        if watched_by_signal {
            self.processes_mut().0.watch(id);
            self.process_scan_later();
        }
        let mut pipes: Vec<Option<Pipe>> = vec![None; cmd.stdio.len()];
        for ParentEnd { fd, end } in parent_ends {
            let made = PipeFd::new(end, false)
                .map_err(Error::Io)
                .and_then(|p| self.pipe_insert(p, HandleKind::Pipe, site));
            match made {
                Ok(p) => pipes[fd] = Some(Pipe(p)),
                Err(e) => {
                    for p in pipes.into_iter().flatten() {
                        let _ = self.close_handle(p.0, None, site);
                    }
                    let _ = self.process_kill(id, libc::SIGKILL);
                    let _ = self.close_handle(id, None, site);
                    return Err(e);
                }
            }
        }
        Ok(Child {
            process: Process(id),
            pipes,
        })
    }

    fn process_ref(&self, id: HandleId) -> Result<&ProcessState> {
        match &self.handles().get(id)?.data {
            HandleData::Process(p) => Ok(p),
            _ => Err(Error::StaleHandle),
        }
    }

    pub(crate) fn process_state(&mut self, id: HandleId) -> Result<&mut ProcessState> {
        match &mut self.handles_mut().get_mut(id)?.data {
            HandleData::Process(p) => Ok(p),
            _ => Err(Error::StaleHandle),
        }
    }

    /// Poll-phase dispatch: the child's pidfd became readable (it exited).
    pub(crate) fn process_ready(&mut self, id: HandleId) {
        self.process_check(id, Phase::Poll);
    }

    /// Reaps `id`'s child if it has ended and runs its exit callback.
    pub(crate) fn process_check(&mut self, id: HandleId, phase: Phase) {
        let Ok(state) = self.process_state(id) else {
            return;
        };
        if state.status.is_some() {
            return;
        }
        let ended = match sys::wait_nohang(state.pid) {
            Ok(None) => return,
            Ok(Some(ended)) => Some(ended),
            // ECHILD: someone else reaped it (a `waitpid(-1)` elsewhere in the process).
            Err(_) => None,
        };
        let status = ExitStatus::from_ended(ended);
        state.status = Some(status);
        let pidfd = state.pidfd.take();
        let cb = state.exit_cb.take();
        if let Some(fd) = pidfd {
            self.io_mut().deregister(&mut SourceFd(&fd.as_raw_fd()));
        }
        self.processes_mut().0.unwatch(id);
        self.handles_mut().set_active(id, false);
        let site: Site = match self.handles().get(id) {
            Ok(e) => e.site,
            Err(_) => return,
        };
        if let Some(cb) = cb {
            self.invoke(phase, CallbackKind::Exit, site, move |lp| {
                cb(lp, Process(id), status)
            });
        }
    }

    fn process_kill(&mut self, id: HandleId, sig: i32) -> Result<()> {
        let state = self.process_state(id)?;
        if state.status.is_some() {
            return Err(Error::Io(std::io::Error::from_raw_os_error(libc::ESRCH)));
        }
        match &state.pidfd {
            Some(fd) => sys::pidfd_send_signal(fd, sig)?,
            None => sys::kill(state.pid, sig)?,
        }
        Ok(())
    }

    /// Close, at `close` time: a child still running is handed to the loop's orphans.
    pub(crate) fn process_stop(&mut self, id: HandleId) {
        let Ok(state) = self.process_state(id) else {
            return;
        };
        if state.status.is_some() {
            return;
        }
        let pid = state.pid;
        // The handle no longer owns the child: its Drop must not reap it too.
        state.pid = 0;
        let pidfd = state.pidfd.take();
        state.exit_cb = None;
        self.processes_mut().0.unwatch(id);
        self.reaper_adopt(pid, pidfd);
    }
}

impl Process {
    /// The child's process id.
    pub fn pid(self, lp: &Loop) -> Result<u32> {
        let pid = lp.process_ref(self.0)?.pid;
        // Zero once closed before exit (the loop adopted the child).
        if pid <= 0 {
            return Err(Error::Closing);
        }
        Ok(pid as u32)
    }

    /// Sends `signal` (`libc::SIGTERM`...) to the child — through its pidfd where there is one,
    /// so a recycled pid can never be hit. After the exit callback it fails with `ESRCH`.
    pub fn kill(self, lp: &mut Loop, signal: i32) -> Result<()> {
        lp.handles_mut().open_mut(self.0)?;
        lp.process_kill(self.0, signal)
    }

    /// Sends `signal` to the child's process group (`kill(-pid)`): the child and every
    /// descendant that did not leave the group. Meant for [`Command::detached`] children,
    /// whose group id is their pid; for others it is `ESRCH` (there is no such group).
    pub fn kill_group(self, lp: &mut Loop, signal: i32) -> Result<()> {
        lp.handles_mut().open_mut(self.0)?;
        let pid = self.pid(lp)?;
        // The group may outlive the child itself: only a recycled group id could be wrong,
        // and a group id is not recycled while any member lives.
        sys::kill(-(pid as libc::pid_t), signal)?;
        Ok(())
    }

    /// How the child ended, once its exit callback has run (or is running).
    pub fn exit_status(self, lp: &Loop) -> Result<Option<ExitStatus>> {
        Ok(lp.process_ref(self.0)?.status)
    }
}

#[cfg(test)]
mod tests;
