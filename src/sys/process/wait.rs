//! Reaping and signalling one child: `pidfd_open`, `pidfd_send_signal`, `kill`, and `waitpid`
//! of one pid at a time (never `-1`, which would steal other code's children).

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::ptr;

/// `pidfd_open(2)`: a close-on-exec fd that becomes readable when `pid` exits. `ENOSYS` on
/// kernels before 5.3.
#[cfg(target_os = "linux")]
pub(crate) fn pidfd_open(pid: libc::pid_t) -> io::Result<OwnedFd> {
    // SAFETY: pidfd_open takes two integers and returns a new fd or -1.
    let fd = syscall!(unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) })?;
    // SAFETY: the kernel just returned this fd to us; nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

/// Sends `sig` through a pidfd, which names the process even if its pid was reused.
#[cfg(target_os = "linux")]
pub(crate) fn pidfd_send_signal(pidfd: &OwnedFd, sig: i32) -> io::Result<()> {
    // SAFETY: integers and a null siginfo pointer, which the call allows.
    syscall!(unsafe {
        libc::syscall(
            libc::SYS_pidfd_send_signal,
            pidfd.as_raw_fd(),
            sig,
            ptr::null::<libc::siginfo_t>(),
            0,
        )
    })?;
    Ok(())
}

/// `kill(2)`; a negative `pid` names a process group.
pub(crate) fn kill(pid: libc::pid_t, sig: i32) -> io::Result<()> {
    // SAFETY: kill takes two integers.
    syscall!(unsafe { libc::kill(pid, sig) })?;
    Ok(())
}

/// How a child ended, decoded from a `waitpid` status.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Ended {
    Code(i32),
    Signal(i32),
}

fn decode(status: libc::c_int) -> Option<Ended> {
    if libc::WIFEXITED(status) {
        Some(Ended::Code(libc::WEXITSTATUS(status)))
    } else if libc::WIFSIGNALED(status) {
        Some(Ended::Signal(libc::WTERMSIG(status)))
    } else {
        None
    }
}

/// `waitpid(pid, WNOHANG)`: `Ok(None)` while the child runs.
pub(crate) fn wait_nohang(pid: libc::pid_t) -> io::Result<Option<Ended>> {
    let mut status = 0;
    loop {
        // SAFETY: `status` is a valid c_int for waitpid to write.
        match syscall!(unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) }) {
            Ok(0) => return Ok(None),
            Ok(_) => return Ok(decode(status)),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

/// `waitpid(pid, 0)`: blocks until the child ends.
pub(crate) fn wait_blocking(pid: libc::pid_t) -> io::Result<Option<Ended>> {
    let mut status = 0;
    loop {
        // SAFETY: `status` is a valid c_int for waitpid to write.
        match syscall!(unsafe { libc::waitpid(pid, &mut status, 0) }) {
            Ok(_) => return Ok(decode(status)),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}
