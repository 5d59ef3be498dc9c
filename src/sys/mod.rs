//! The only room with `unsafe`: thin wrappers over the libc calls std and mio do not cover.
//! Every block says why it holds.

mod dgram;
#[cfg(target_os = "linux")]
mod timerfd;
#[cfg(target_os = "linux")]
pub(crate) use timerfd::DeadlineTimer;

pub(crate) use dgram::{disconnect, recv_from};

/// Calls a libc function, turning `-1` into `io::Error::last_os_error()`.
macro_rules! syscall {
    ($fn:ident ( $($arg:expr),* $(,)? )) => {{
        // SAFETY: the caller of `syscall!` states why the arguments are valid for `$fn`.
        #[allow(unused_unsafe)]
        let res = unsafe { libc::$fn($($arg),*) };
        if res == -1 {
            Err(std::io::Error::last_os_error())
        } else {
            Ok(res)
        }
    }};
}
pub(crate) use syscall;
