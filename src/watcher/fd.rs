//! Raw file-descriptor watchers (libuv `uv_poll_t`): let other libraries' fds drive callbacks.

use std::os::fd::RawFd;
use std::panic::Location;

use mio::unix::SourceFd;

use crate::error::{Error, Result};
use crate::event_loop::{CallbackKind, Phase};
use crate::event_loop::{HandleData, HandleState, Loop, Never};
use crate::handle::{HandleId, HandleKind, handle_type};

handle_type! {
    /// Watches a file descriptor the loop does not own (libuv `uv_poll_t`), so a database
    /// driver, inotify or any other fd-based library can plug into the loop.
    ///
    /// **Level-triggered, as libuv's `uv_poll`.** The callback runs in the poll phase of every
    /// iteration in which the fd is ready for an interest it asked for, until it is no longer
    /// ready — whether or not the callback drained it. The user need not read until
    /// `WouldBlock`. mio registers fds edge-triggered, so this is emulated: after each callback
    /// the watcher re-arms its registration (`epoll_ctl(EPOLL_CTL_MOD)`), and the kernel
    /// re-checks readiness at once and reports the fd again in the *next* poll if it is still
    /// ready. So a callback runs at most once per iteration, an fd left ready keeps the poll
    /// from blocking (as in libuv: a watcher for `writable` on an empty socket buffer fires
    /// every iteration — stop it or narrow its interest when you have nothing to write), and a
    /// stopped or unref'd watcher holds nothing back.
    ///
    /// **Readiness.** The callback gets [`Readiness`]: what the fd is ready for, plus
    /// `hangup` (peer closed, or the write end of a pipe gone) and `error`. Hang-up and error
    /// are reported whatever the interest, as epoll does.
    ///
    /// **Ownership.** The watcher never closes the fd: [`Handle::close`] and
    /// [`Watcher::stop`] only deregister it, and the fd stays usable. Close (or stop) the
    /// watcher *before* closing the fd — the kernel drops a closed fd from epoll on its own, and
    /// a new fd reusing the number would not be watched. One fd may have one watcher per loop
    /// (epoll refuses a second registration with `EEXIST`), and must not be a socket the loop
    /// already watches.
    ///
    /// ```
    /// use std::io::{Read, Write};
    /// use std::os::fd::AsRawFd;
    /// use std::os::unix::net::UnixStream;
    /// use evloop::{Handle, Interest, Loop};
    ///
    /// # fn main() -> Result<(), evloop::Error> {
    /// let (mut a, mut b) = UnixStream::pair()?;
    /// a.set_nonblocking(true)?;
    /// let mut lp = Loop::new()?;
    /// let fd = a.as_raw_fd();
    /// lp.watch_fd(fd, Interest::READABLE, move |lp, watcher, ready| {
    ///     assert!(ready.readable);
    ///     let mut buf = [0; 16];
    ///     let n = a.read(&mut buf).unwrap();
    ///     assert_eq!(&buf[..n], b"ping");
    ///     watcher.close(lp, |_| {}).unwrap(); // deregisters; `a` is still open
    /// })?;
    /// b.write_all(b"ping")?;
    /// lp.run()?;
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// [`Handle::close`]: crate::Handle::close
    Watcher
}

/// What a [`Watcher`] waits for.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Interest {
    /// Data to read (or a peer's hang-up / EOF).
    pub readable: bool,
    /// Room to write.
    pub writable: bool,
}

impl Interest {
    /// Readable only.
    pub const READABLE: Self = Self {
        readable: true,
        writable: false,
    };
    /// Writable only.
    pub const WRITABLE: Self = Self {
        readable: false,
        writable: true,
    };
    /// Readable and writable.
    pub const BOTH: Self = Self {
        readable: true,
        writable: true,
    };

    fn to_mio(self) -> Result<mio::Interest> {
        match (self.readable, self.writable) {
            (true, true) => Ok(mio::Interest::READABLE | mio::Interest::WRITABLE),
            (true, false) => Ok(mio::Interest::READABLE),
            (false, true) => Ok(mio::Interest::WRITABLE),
            (false, false) => Err(Error::InvalidState(
                "empty interest: ask for readable, writable or both (or stop the watcher)",
            )),
        }
    }
}

/// What a [`Watcher`]'s fd is ready for, as passed to its callback.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct Readiness {
    /// Readable (only reported when the interest includes it).
    pub readable: bool,
    /// Writable (only reported when the interest includes it).
    pub writable: bool,
    /// The peer hung up: read side closed (EOF pending) or write side closed.
    pub hangup: bool,
    /// The fd has an error condition pending (`SO_ERROR` for sockets).
    pub error: bool,
}

type WatcherCallback = Box<dyn FnMut(&mut Loop, Watcher, Readiness)>;

pub(crate) struct FdWatcherData {
    fd: RawFd,
    interest: Interest,
    /// Whether `fd` is registered with the poller (the watcher is started).
    registered: bool,
    cb: Option<WatcherCallback>,
}

impl HandleState for FdWatcherData {
    type Event = Never;

    fn stop(lp: &mut Loop, id: HandleId, _kind: HandleKind) {
        lp.fd_watcher_stop(id);
    }

    fn ready(lp: &mut Loop, id: HandleId, event: &mio::event::Event) {
        lp.fd_watcher_ready(id, event);
    }

    fn pending(_lp: &mut Loop, _id: HandleId, never: Never) {
        match never {}
    }
}

/// # Handles: raw file-descriptor watchers
impl Loop {
    /// Watches `fd` for `interest`; `cb(lp, watcher, readiness)` runs in the poll phase while
    /// the fd is ready (level-triggered, see [`Watcher`]). The watcher starts active. The fd
    /// stays the caller's: the loop never closes it.
    ///
    /// Errors: an empty interest ([`Error::InvalidState`]); the OS refusing the registration
    /// ([`Error::Io`]: `EBADF` for a closed fd, `EPERM` for a regular file, `EEXIST` if the fd
    /// is already registered with this loop).
    #[track_caller]
    pub fn watch_fd(
        &mut self,
        fd: RawFd,
        interest: Interest,
        cb: impl FnMut(&mut Self, Watcher, Readiness) + 'static,
    ) -> Result<Watcher> {
        let site = Location::caller();
        interest.to_mio()?;
        let data = FdWatcherData {
            fd,
            interest,
            registered: false,
            cb: Some(Box::new(cb)),
        };
        let id = self.handles_mut().insert(
            HandleKind::Watcher,
            site,
            false,
            HandleData::FdWatcher(data),
        );
        if let Err(e) = self.fd_watcher_register(id) {
            self.handles_mut().remove(id);
            return Err(e);
        }
        Ok(Watcher(id))
    }

    fn fd_watcher_data(&mut self, id: HandleId) -> Result<&mut FdWatcherData> {
        match &mut self.handles_mut().get_mut(id)?.data {
            HandleData::FdWatcher(w) => Ok(w),
            _ => Err(Error::StaleHandle),
        }
    }

    /// Registers (or, when already registered, re-arms) the fd with its current interest.
    /// Re-arming makes the kernel re-check readiness now: that is the level-triggered emulation.
    fn fd_watcher_register(&mut self, id: HandleId) -> Result<()> {
        let w = self.fd_watcher_data(id)?;
        let (fd, interest, registered) = (w.fd, w.interest.to_mio()?, w.registered);
        if registered {
            self.io_mut().reregister(&mut SourceFd(&fd), id, interest)?;
        } else {
            self.io_mut().register(&mut SourceFd(&fd), id, interest)?;
            self.fd_watcher_data(id)?.registered = true;
            self.handles_mut().set_active(id, true);
        }
        Ok(())
    }

    /// Deregisters the fd (never closes it); used by `stop` and `close`.
    pub(crate) fn fd_watcher_stop(&mut self, id: HandleId) {
        let Ok(w) = self.fd_watcher_data(id) else {
            return;
        };
        if std::mem::take(&mut w.registered) {
            let fd = w.fd;
            // Fails only if the user already closed the fd, which removed it from epoll anyway.
            self.io_mut().deregister(&mut SourceFd(&fd));
        }
        self.handles_mut().set_active(id, false);
    }

    /// Poll-phase dispatch: run the callback, then re-arm so a still-ready fd is reported again
    /// in the next poll.
    pub(crate) fn fd_watcher_ready(&mut self, id: HandleId, event: &mio::event::Event) {
        let Ok(entry) = self.handles_mut().get_mut(id) else {
            return;
        };
        let site = entry.site;
        let HandleData::FdWatcher(w) = &mut entry.data else {
            return;
        };
        if !w.registered {
            return; // stopped earlier in this batch
        }
        let ready = Readiness {
            readable: w.interest.readable && event.is_readable(),
            writable: w.interest.writable && event.is_writable(),
            hangup: event.is_read_closed() || event.is_write_closed(),
            error: event.is_error(),
        };
        let Some(cb) = w.cb.take() else { return };
        self.invoke_restoring(
            Phase::Poll,
            CallbackKind::Watcher,
            site,
            cb,
            |lp, cb| cb(lp, Watcher(id), ready),
            // Runs even if the callback panicked, so the watcher keeps reporting afterwards.
            |lp, cb| {
                let Ok(entry) = lp.handles_mut().get_mut(id) else {
                    return; // closed and released
                };
                let closing = entry.closing;
                let HandleData::FdWatcher(w) = &mut entry.data else {
                    return;
                };
                if w.cb.is_none() {
                    w.cb = Some(cb);
                }
                if w.registered && !closing {
                    // A failed re-arm (the user closed the fd inside the callback) leaves the
                    // watcher silent, as libuv's would be; closing it is still the user's job.
                    let _ = lp.fd_watcher_register(id);
                }
            },
        );
    }
}

impl Watcher {
    /// The watched fd.
    pub fn fd(self, lp: &Loop) -> Result<RawFd> {
        match &lp.handles().get(self.0)?.data {
            HandleData::FdWatcher(w) => Ok(w.fd),
            _ => Err(Error::StaleHandle),
        }
    }

    /// The current interest.
    pub fn interest(self, lp: &Loop) -> Result<Interest> {
        match &lp.handles().get(self.0)?.data {
            HandleData::FdWatcher(w) => Ok(w.interest),
            _ => Err(Error::StaleHandle),
        }
    }

    /// Changes what the watcher waits for (libuv: `uv_poll_start` on a started handle). On an
    /// active watcher it takes effect at the next poll, with readiness re-checked; on a stopped
    /// one, at [`start`](Self::start). An empty interest is an error: use
    /// [`stop`](Self::stop) instead.
    pub fn set_interest(self, lp: &mut Loop, interest: Interest) -> Result<()> {
        interest.to_mio()?;
        lp.handles_mut().open_mut(self.0)?;
        let w = lp.fd_watcher_data(self.0)?;
        w.interest = interest;
        if w.registered {
            lp.fd_watcher_register(self.0)?;
        }
        Ok(())
    }

    /// Starts watching again after [`stop`](Self::stop); a fd that is already ready is
    /// reported in the next poll. Starting an active watcher does nothing.
    pub fn start(self, lp: &mut Loop) -> Result<()> {
        lp.handles_mut().open_mut(self.0)?;
        if lp.fd_watcher_data(self.0)?.registered {
            return Ok(());
        }
        lp.fd_watcher_register(self.0)
    }

    /// Stops watching: deregisters the fd (which stays open) and makes the watcher inactive.
    /// Stopping an inactive watcher does nothing.
    pub fn stop(self, lp: &mut Loop) -> Result<()> {
        lp.handles().get(self.0)?;
        lp.fd_watcher_stop(self.0);
        Ok(())
    }

    /// Replaces the callback (takes effect from the next call).
    pub fn set_callback(
        self,
        lp: &mut Loop,
        cb: impl FnMut(&mut Loop, Self, Readiness) + 'static,
    ) -> Result<()> {
        lp.handles_mut().open_mut(self.0)?;
        lp.fd_watcher_data(self.0)?.cb = Some(Box::new(cb));
        Ok(())
    }
}
