//! A `timerfd` armed at the loop's next deadline, so wake-ups are precise to microseconds
//! (epoll_wait's own timeout has millisecond granularity).

use mio::unix::SourceFd;
use mio::{Interest, Registry, Token};
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

pub(crate) struct DeadlineTimer {
    fd: OwnedFd,
    /// The deadline currently armed, to skip re-arming the same one every iteration.
    armed: Option<u64>,
}

impl DeadlineTimer {
    pub(crate) fn new(registry: &Registry, token: Token) -> io::Result<Self> {
        // SAFETY: plain syscall with constant flags; no pointers.
        let raw = syscall!(unsafe {
            libc::timerfd_create(
                libc::CLOCK_MONOTONIC,
                libc::TFD_NONBLOCK | libc::TFD_CLOEXEC,
            )
        })?;
        // SAFETY: `raw` is a freshly created fd that nothing else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        registry.register(&mut SourceFd(&fd.as_raw_fd()), token, Interest::READABLE)?;
        Ok(Self { fd, armed: None })
    }

    /// Arms the timer to fire at `deadline` (absolute `CLOCK_MONOTONIC` ns, see
    /// [`super::monotonic_ns`]; `now` is a reading of the same clock). Returns `false` when the
    /// deadline has already passed: then nothing is armed and the caller must not wait
    /// (epoll's own timeout would wake it up to 2 ms late).
    pub(crate) fn arm(&mut self, deadline: u64, now: u64) -> io::Result<bool> {
        if self.armed == Some(deadline) {
            return Ok(true);
        }
        if deadline <= now {
            self.armed = None;
            return Ok(false);
        }
        let spec = libc::itimerspec {
            it_interval: libc::timespec {
                tv_sec: 0,
                tv_nsec: 0,
            },
            it_value: libc::timespec {
                tv_sec: (deadline / 1_000_000_000) as libc::time_t,
                tv_nsec: (deadline % 1_000_000_000) as libc::c_long,
            },
        };
        // SAFETY: `fd` is our open timerfd; `spec` is a valid itimerspec on the stack and the
        // old-value pointer may be null.
        syscall!(unsafe {
            libc::timerfd_settime(
                self.fd.as_raw_fd(),
                libc::TFD_TIMER_ABSTIME,
                &spec,
                std::ptr::null_mut(),
            )
        })?;
        self.armed = Some(deadline);
        Ok(true)
    }

    /// Consumes the expiration count after the timer fired.
    pub(crate) fn clear(&mut self) {
        let mut buf = [0u8; 8];
        // SAFETY: reading at most 8 bytes into an 8-byte stack buffer from our own fd.
        let _ = syscall!(unsafe {
            libc::read(self.fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len())
        });
        self.armed = None;
    }
}
