//! The loop's side of reaping: the `SIGCHLD` fallback for children without a pidfd, and the
//! orphans — children whose handle was closed before they exited, reaped without a callback.

use std::os::fd::{AsRawFd, OwnedFd};

use mio::unix::SourceFd;
use mio::{Interest, Token};
use signal_hook_mio::v1_0::Signals;

use crate::error::Result;
use crate::event_loop::Loop;
use crate::event_loop::Phase;
use crate::handle::HandleId;
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

/// The id whose token is `token` (for the reaper's own sources, which are no handle's).
fn token_id(token: Token) -> HandleId {
    HandleId::from_token(token.0)
}

impl Loop {
    fn reaper(&mut self) -> &mut Reaper {
        self.processes_mut().0
    }

    /// Installs the `SIGCHLD` handler and registers its self-pipe (once per loop).
    pub(crate) fn reaper_sigchld(&mut self) -> Result<()> {
        let (reaper, io) = self.processes_mut();
        if reaper.sigchld.is_some() {
            return Ok(());
        }
        let mut signals = Signals::new([libc::SIGCHLD])?;
        io.set_loop_handler(SIGCHLD_TOKEN, Self::process_sigchld);
        io.register(&mut signals, token_id(SIGCHLD_TOKEN), Interest::READABLE)?;
        reaper.sigchld = Some(signals);
        Ok(())
    }

    /// Looks at the `SIGCHLD`-watched children once, in the pending phase (for a child that may
    /// have exited before the handler was there).
    pub(crate) fn process_scan_later(&mut self) {
        if self.reaper().scan_queued {
            return;
        }
        self.reaper().scan_queued = true;
        self.defer(
            crate::event_loop::CallbackKind::Exit,
            std::panic::Location::caller(),
            Box::new(|lp| {
                lp.reaper().scan_queued = false;
                lp.process_scan(Phase::Pending);
            }),
        );
    }

    /// A `SIGCHLD` arrived: drain the self-pipe, then `waitpid(pid, WNOHANG)` each child of
    /// this loop watched that way, and each orphan.
    pub(crate) fn process_sigchld(&mut self) {
        if let Some(signals) = &mut self.reaper().sigchld {
            for _ in signals.pending() {}
        }
        self.process_scan(Phase::Poll);
    }

    fn process_scan(&mut self, phase: Phase) {
        let watched = self.reaper().watched.clone();
        for id in watched {
            self.process_check(id, phase);
        }
        self.process_orphans();
    }

    /// Reaps the orphans that have ended.
    pub(crate) fn process_orphans(&mut self) {
        let (reaper, io) = self.processes_mut();
        reaper
            .orphans
            .retain_mut(|o| match sys::wait_nohang(o.pid) {
                Ok(None) => true,
                _ => {
                    if let Some(fd) = o.pidfd.take() {
                        io.deregister(&mut SourceFd(&fd.as_raw_fd()));
                    }
                    o.pid = 0;
                    false
                }
            });
    }

    /// Takes over a running child whose handle is closing. Its pidfd (if any) is still
    /// registered under the handle's token and counted; it moves to the orphans' token.
    pub(crate) fn reaper_adopt(&mut self, pid: libc::pid_t, pidfd: Option<OwnedFd>) {
        let (reaper, io) = self.processes_mut();
        let pidfd = match pidfd {
            Some(fd) => {
                io.set_loop_handler(ORPHAN_TOKEN, Self::process_orphans);
                let moved = io.reregister(
                    &mut SourceFd(&fd.as_raw_fd()),
                    token_id(ORPHAN_TOKEN),
                    Interest::READABLE,
                );
                if moved.is_err() {
                    // Unwatchable: let a thread wait for it instead.
                    io.deregister(&mut SourceFd(&fd.as_raw_fd()));
                    drop(fd);
                    reap_later(pid);
                    return;
                }
                Some(fd)
            }
            None => None,
        };
        reaper.orphans.push(Orphan { pid, pidfd });
        // It may have exited already (its event would have gone to the old token).
        self.process_orphans();
    }
}
