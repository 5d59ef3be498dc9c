//! Terminals (libuv `uv_tty_t`): a stream on a terminal, raw and normal modes that are always
//! restored, the window size and resize events.

use std::os::fd::RawFd;
use std::panic::Location;
use std::sync::{Mutex, Once};

use crate::error::{Error, Result};
use crate::event_loop::Loop;
use crate::handle::HandleKind;
use crate::net::stream::api::stream_ops;
use crate::process::pipe::PipeFd;
use crate::sys::process as fds;
use crate::sys::tty as sys;
use crate::watcher::signal::Signal;

handle_type! {
    /// A stream on a terminal ([`Loop::tty_open`]): reads, writes and backpressure as
    /// [`Pipe`](crate::process::Pipe), plus [`set_mode`](Tty::set_mode),
    /// [`window_size`](Tty::window_size) and [`on_resize`](Tty::on_resize).
    ///
    /// **The terminal's mode is always restored**: the mode it had before the first
    /// [`set_mode`](Tty::set_mode) comes back when the handle closes, when its loop is dropped
    /// (also while a panic unwinds), and from a panic hook installed with the first raw mode —
    /// so even a panic whose unwinding never reaches the loop (another thread, or
    /// `panic = "abort"`) leaves a usable shell. Call [`tty_reset_mode`] before
    /// `std::process::exit`, which runs no destructors.
    Tty
}
use crate::handle::handle_type;
stream_ops!(Tty);

/// A terminal mode for [`Tty::set_mode`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum TtyMode {
    /// The mode the terminal had before evloop changed it (line editing, echo, Ctrl-C).
    Normal,
    /// Raw input: every key as it is typed, no echo, no signals from Ctrl-C / Ctrl-Z (they
    /// arrive as bytes 3 and 26). Output still turns `\n` into CR LF.
    Raw,
}

/// The modes to restore: (fd, the mode before evloop touched it).
static SAVED: Mutex<Vec<(RawFd, sys::Termios)>> = Mutex::new(Vec::new());
static PANIC_HOOK: Once = Once::new();

/// Restores every terminal evloop put in raw mode to the mode it had before (libuv's
/// `uv_tty_reset_mode`). Safe to call at any time, any number of times; it does nothing if
/// no mode was changed. Call it before `std::process::exit`.
pub fn tty_reset_mode() {
    // `try_lock`: never deadlock if a panic struck while the list was being edited.
    if let Ok(saved) = SAVED.try_lock() {
        for (fd, mode) in saved.iter() {
            let _ = sys::set_mode(*fd, mode);
        }
    }
}

/// A terminal handle's fd is closing: restore its mode and forget it.
pub(crate) fn forget(fd: RawFd) {
    let mut saved = SAVED
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some(i) = saved.iter().position(|(f, _)| *f == fd) {
        let (_, mode) = saved.swap_remove(i);
        let _ = sys::set_mode(fd, &mode);
    }
}

impl Loop {
    /// A stream on the terminal at `fd` (e.g. 0 for stdin), through a close-on-exec duplicate
    /// (the shared file description is non-blocking while the handle lives, blocking again
    /// after, if it was). Fails with `InvalidInput` if `fd` is not a terminal.
    #[track_caller]
    pub fn tty_open(&mut self, fd: RawFd) -> Result<Tty> {
        let site = Location::caller();
        if !sys::isatty(fd) {
            return Err(Error::Io(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!("tty: fd {fd} is not a terminal"),
            )));
        }
        let was_blocking = !fds::is_nonblocking(fd)?;
        let dup = fds::dup_cloexec(fd)?;
        let mut pipe = PipeFd::new(dup, was_blocking)?;
        pipe.mark_tty();
        self.pipe_insert(pipe, HandleKind::Tty, site).map(Tty)
    }
}

impl Tty {
    fn fd(self, lp: &Loop) -> Result<RawFd> {
        Ok(lp.stream_socket(self.0)?.raw_fd())
    }

    /// Sets the terminal's mode. The first change saves the mode it had, which
    /// [`TtyMode::Normal`] and every restore (close, drop, panic) put back.
    pub fn set_mode(self, lp: &mut Loop, mode: TtyMode) -> Result<()> {
        let fd = self.fd(lp)?;
        let mut saved = SAVED
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let original = match saved.iter().find(|(f, _)| *f == fd) {
            Some((_, m)) => *m,
            None => {
                let m = sys::get_mode(fd)?;
                saved.push((fd, m));
                m
            }
        };
        drop(saved);
        match mode {
            TtyMode::Normal => sys::set_mode(fd, &original)?,
            TtyMode::Raw => {
                PANIC_HOOK.call_once(|| {
                    let previous = std::panic::take_hook();
                    std::panic::set_hook(Box::new(move |info| {
                        tty_reset_mode();
                        previous(info);
                    }));
                });
                sys::set_mode(fd, &original.raw())?;
            }
        }
        Ok(())
    }

    /// Whether the terminal is in line (canonical, echoing) mode right now.
    pub fn is_line_mode(self, lp: &Loop) -> Result<bool> {
        Ok(sys::get_mode(self.fd(lp)?)?.is_canonical())
    }

    /// The window size: (columns, rows).
    pub fn window_size(self, lp: &Loop) -> Result<(u16, u16)> {
        Ok(sys::window_size(self.fd(lp)?)?)
    }

    /// Calls `cb(lp, tty, columns, rows)` after each resize of the terminal (`SIGWINCH`). The
    /// returned [`Signal`] handle is the subscription: close it to stop, unref it so that it
    /// does not keep the loop alive.
    #[track_caller]
    pub fn on_resize(
        self,
        lp: &mut Loop,
        mut cb: impl FnMut(&mut Loop, Self, u16, u16) + 'static,
    ) -> Result<Signal> {
        lp.signal(libc::SIGWINCH, move |lp, _sig, _| {
            if let Ok((cols, rows)) = self.window_size(lp) {
                cb(lp, self, cols, rows);
            }
        })
    }
}
