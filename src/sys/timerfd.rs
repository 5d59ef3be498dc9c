//! A `timerfd` armed at the loop's next deadline, so wake-ups are precise to microseconds
//! (epoll_wait's own timeout has millisecond granularity).

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::time::Instant;

use mio::unix::SourceFd;
use mio::{Interest, Registry, Token};

pub(crate) struct DeadlineTimer {
    fd: OwnedFd,
    /// The deadline currently armed, to skip re-arming the same one every iteration.
    armed: Option<Instant>,
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

    /// Arms the timer to fire at `deadline` (CLOCK_MONOTONIC is what `Instant` reads on Linux).
    pub(crate) fn arm(&mut self, deadline: Instant) -> io::Result<()> {
        if self.armed == Some(deadline) {
            return Ok(());
        }
        let now = Instant::now();
        let rel = deadline.saturating_duration_since(now);
        if rel.is_zero() {
            self.armed = None;
            return Ok(());
        }
        // Relative arming avoids converting `Instant` to a raw timespec; the few ns between
        // `now` and the syscall only make the wake-up that much later.
        let spec = libc::itimerspec {
            it_interval: libc::timespec {
                tv_sec: 0,
                tv_nsec: 0,
            },
            it_value: libc::timespec {
                tv_sec: rel.as_secs() as libc::time_t,
                tv_nsec: libc::c_long::from(rel.subsec_nanos() as i32),
            },
        };
        // SAFETY: `fd` is our open timerfd; `spec` is a valid itimerspec on the stack and the
        // old-value pointer may be null.
        syscall!(unsafe {
            libc::timerfd_settime(self.fd.as_raw_fd(), 0, &spec, std::ptr::null_mut())
        })?;
        self.armed = Some(deadline);
        Ok(())
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
