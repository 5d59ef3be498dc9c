//! The loop's side of reaping: the `SIGCHLD` fallback for children without a pidfd, and the
//! orphans — children whose handle was closed before they exited, reaped without a callback.

use std::os::fd::{AsRawFd, OwnedFd};

use mio::unix::SourceFd;
use mio::{Interest, Token};
use signal_hook_mio::v1_0::Signals;

use crate::error::Result;
use crate::event_loop::Loop;
use crate::handle::HandleId;
use crate::metrics::Phase;
use crate::sys::process as sys;

/// The `SIGCHLD` self-pipe's token.
pub(crate) const SIGCHLD_TOKEN: Token = Token(usize::MAX - 3);
/// Every orphan's pidfd shares this token: an event means "look at the orphans".
pub(crate) const ORPHAN_TOKEN: Token = Token(usize::MAX - 4);

/// A child whose handle closed before it exited.
struct Orphan {
    pid: libc::pid_t,
    /// Registered under [`ORPHAN_TOKEN`] (pidfd mode); `None` in `SIGCHLD` mode.
    pidfd: Option<OwnedFd>,
}

impl Drop for Orphan {
    fn drop(&mut self) {
        if self.pid > 0 {
            reap_later(self.pid);
        }
    }
}

/// Per-loop reaping state.
#[derive(Default)]
pub(crate) struct Reaper {
    /// Installed on the first child watched without a pidfd; kept for the loop's life.
    sigchld: Option<Signals>,
    /// Process handles whose child is watched through `SIGCHLD`.
    watched: Vec<HandleId>,
    orphans: Vec<Orphan>,
    /// A pending-phase scan is queued.
    scan_queued: bool,
    /// Children spawned by this loop (for tests and metrics).
    pub(crate) spawned: u64,
}

impl Reaper {
    pub(crate) fn watch(&mut self, id: HandleId) {
        self.watched.push(id);
    }

    pub(crate) fn unwatch(&mut self, id: HandleId) {
        self.watched.retain(|w| *w != id);
    }
}

/// Reaps `pid` off the loop: now if it has ended, else on a thread that waits for it (a
/// child still running when its loop is dropped must not become a zombie).
pub(crate) fn reap_later(pid: libc::pid_t) {
    if let Ok(None) = sys::wait_nohang(pid) {
        let _ = std::thread::Builder::new()
            .name("evloop-reaper".into())
            .spawn(move || sys::wait_blocking(pid));
    }
}

impl Loop {
    /// Installs the `SIGCHLD` handler and registers its self-pipe (once per loop).
    pub(crate) fn reaper_sigchld(&mut self) -> Result<()> {
        if self.processes.sigchld.is_some() {
            return Ok(());
        }
        let mut signals = Signals::new([libc::SIGCHLD])?;
        self.poll
            .registry()
            .register(&mut signals, SIGCHLD_TOKEN, Interest::READABLE)?;
        self.io_sources += 1;
        self.processes.sigchld = Some(signals);
        Ok(())
    }

    /// Looks at the `SIGCHLD`-watched children once, in the pending phase (for a child that may
    /// have exited before the handler was there).
    pub(crate) fn process_scan_later(&mut self) {
        if self.processes.scan_queued {
            return;
        }
        self.processes.scan_queued = true;
        self.defer(
            crate::metrics::CallbackKind::Exit,
            std::panic::Location::caller(),
            Box::new(|lp| {
                lp.processes.scan_queued = false;
                lp.process_scan(Phase::Pending);
            }),
        );
    }

    /// A `SIGCHLD` arrived: drain the self-pipe, then `waitpid(pid, WNOHANG)` each child of
    /// this loop watched that way, and each orphan.
    pub(crate) fn process_sigchld(&mut self) {
        if let Some(signals) = &mut self.processes.sigchld {
            for _ in signals.pending() {}
        }
        self.process_scan(Phase::Poll);
    }

    fn process_scan(&mut self, phase: Phase) {
        let watched = self.processes.watched.clone();
        for id in watched {
            self.process_check(id, phase);
        }
        self.process_orphans();
    }

    /// Reaps the orphans that have ended.
    pub(crate) fn process_orphans(&mut self) {
        let Self {
            processes, poll, ..
        } = self;
        let mut gone = 0;
        processes
            .orphans
            .retain_mut(|o| match sys::wait_nohang(o.pid) {
                Ok(None) => true,
                _ => {
                    if let Some(fd) = o.pidfd.take() {
                        let _ = poll.registry().deregister(&mut SourceFd(&fd.as_raw_fd()));
                        gone += 1;
                    }
                    o.pid = 0;
                    false
                }
            });
        self.io_sources -= gone;
    }

    /// Takes over a running child whose handle is closing.
    pub(crate) fn reaper_adopt(&mut self, pid: libc::pid_t, pidfd: Option<OwnedFd>) {
        let pidfd = match pidfd {
            Some(fd) => {
                // Same fd, new token: its exit now means "look at the orphans".
                let moved = self.poll.registry().reregister(
                    &mut SourceFd(&fd.as_raw_fd()),
                    ORPHAN_TOKEN,
                    Interest::READABLE,
                );
                if moved.is_err() {
                    self.io_sources -= 1;
                    // Unwatchable: let a thread wait for it instead.
                    drop(fd);
                    reap_later(pid);
                    return;
                }
                Some(fd)
            }
            None => None,
        };
        self.processes.orphans.push(Orphan { pid, pidfd });
        // It may have exited already (its event would have gone to the old token).
        self.process_orphans();
    }
}
