//! The small fd helpers pipes and child stdio need: close-on-exec pipes and dups, `/dev/null`,
//! non-blocking mode, what kind of file an fd is, and `SIGPIPE`.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::ptr;

/// `pipe2(O_CLOEXEC)`: (read end, write end), both blocking.
pub(crate) fn pipe_cloexec() -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [-1 as RawFd; 2];
    // SAFETY: `fds` has room for the two fds pipe2 writes.
    syscall!(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) })?;
    // SAFETY: pipe2 succeeded, so both fds are new and ours alone.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

pub(super) fn open_devnull() -> io::Result<OwnedFd> {
    let path = c"/dev/null";
    // SAFETY: `path` is a NUL-terminated static string.
    let fd = syscall!(unsafe { libc::open(path.as_ptr(), libc::O_RDWR | libc::O_CLOEXEC) })?;
    // SAFETY: open returned a new fd that only we own.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Sets or clears `O_NONBLOCK` (on the open file description, shared with any dup).
pub(crate) fn set_nonblocking(fd: RawFd, on: bool) -> io::Result<()> {
    // SAFETY: fcntl on an integer fd; an invalid fd is EBADF.
    let flags = syscall!(unsafe { libc::fcntl(fd, libc::F_GETFL) })?;
    let want = if on {
        flags | libc::O_NONBLOCK
    } else {
        flags & !libc::O_NONBLOCK
    };
    if want != flags {
        // SAFETY: as above.
        syscall!(unsafe { libc::fcntl(fd, libc::F_SETFL, want) })?;
    }
    Ok(())
}

/// Whether `O_NONBLOCK` is set on `fd`.
pub(crate) fn is_nonblocking(fd: RawFd) -> io::Result<bool> {
    // SAFETY: fcntl on an integer fd; an invalid fd is EBADF.
    let flags = syscall!(unsafe { libc::fcntl(fd, libc::F_GETFL) })?;
    Ok(flags & libc::O_NONBLOCK != 0)
}

/// A close-on-exec duplicate of `fd` (numbered 3 or above, so it never lands on stdio).
pub(crate) fn dup_cloexec(fd: RawFd) -> io::Result<OwnedFd> {
    // SAFETY: fcntl on an integer fd; an invalid fd is EBADF.
    let new = syscall!(unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 3) })?;
    // SAFETY: F_DUPFD_CLOEXEC returned a new fd that only we own.
    Ok(unsafe { OwnedFd::from_raw_fd(new) })
}

/// Whether `fd` is a socket (so `shutdown(2)` applies).
pub(crate) fn is_socket(fd: RawFd) -> bool {
    file_type(fd) == Some(libc::S_IFSOCK)
}

/// The `S_IFMT` bits of `fd`'s `fstat`.
pub(crate) fn file_type(fd: RawFd) -> Option<libc::mode_t> {
    // SAFETY: all-zero is a valid `stat` value, overwritten by fstat.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: `st` is a valid, writable stat buffer.
    let r = unsafe { libc::fstat(fd, &mut st) };
    (r == 0).then_some(st.st_mode & libc::S_IFMT)
}

/// Ends writing on a pipe fd without giving up its number: `/dev/null` is put in its place
/// (`dup3`), so the pipe's write end closes (its reader sees EOF) while the handle keeps a
/// valid fd until it is closed.
pub(crate) fn replace_with_devnull(fd: RawFd) -> io::Result<()> {
    let null = open_devnull()?;
    // SAFETY: dup3 on two integer fds; `fd` is owned by the caller's handle, which keeps it.
    syscall!(unsafe { libc::dup3(null.as_raw_fd(), fd, libc::O_CLOEXEC) })?;
    Ok(())
}

/// Makes `SIGPIPE` ignored if it has its default action (as Node does), so that a write to a
/// pipe whose reader is gone fails with `EPIPE` instead of killing the process. A handler or
/// an explicit ignore the application installed is left alone. Children get the default back.
pub(crate) fn ignore_sigpipe_if_default() {
    // SAFETY: all-zero is a valid sigaction value to be overwritten.
    let mut old: libc::sigaction = unsafe { std::mem::zeroed() };
    // SAFETY: a null new action only queries the current one into `old`.
    if unsafe { libc::sigaction(libc::SIGPIPE, ptr::null(), &mut old) } == 0
        && old.sa_sigaction == libc::SIG_DFL
    {
        // SAFETY: SIG_IGN is a valid disposition for SIGPIPE.
        unsafe { libc::signal(libc::SIGPIPE, libc::SIG_IGN) };
    }
}
