//! `sendfile`: bytes of a file into a socket (or, on Linux, any fd) without a copy through
//! user space. Three kernels, three signatures; each wrapper returns the bytes sent, and `0`
//! only when `offset` is at or past the end of the file.
//!
//! The socket is non-blocking, so the call returns `WouldBlock` once the socket buffer is full.
//! FreeBSD and macOS report `EAGAIN` (or `EINTR`) *after* a partial send, with the count in an
//! out-parameter: that count is what was sent, and is returned as a success.

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd};

/// Linux caps one call at this many bytes (`MAX_RW_COUNT`); asking for more is the same as
/// asking for this.
const MAX_ONE_CALL: usize = 0x7fff_f000;

/// The file offset as the C type, or `InvalidInput` when it does not fit (a 32-bit `off_t`).
fn c_offset(offset: u64) -> io::Result<libc::off_t> {
    libc::off_t::try_from(offset).map_err(|_| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            "file offset too large for sendfile",
        )
    })
}

#[cfg(target_os = "linux")]
static IGNORE_SIGPIPE: std::sync::Once = std::sync::Once::new();

/// Sends up to `len` bytes of `file` from `offset` into `out`; returns how many were sent.
#[cfg(target_os = "linux")]
pub(crate) fn sendfile(
    file: BorrowedFd<'_>,
    out: BorrowedFd<'_>,
    offset: u64,
    len: usize,
) -> io::Result<usize> {
    let mut off = c_offset(offset)?;
    let count = len.min(MAX_ONE_CALL);
    // `sendfile` has no `MSG_NOSIGNAL`: a peer gone would raise `SIGPIPE`. As for pipes, make
    // it ignored if it still has its default action (Rust binaries ignore it already).
    IGNORE_SIGPIPE.call_once(crate::sys::process::ignore_sigpipe_if_default);
    let (out, file) = (out.as_raw_fd(), file.as_raw_fd());
    // SAFETY: both fds are borrowed, so they stay open for the call; `off` is a valid, writable
    // off_t on the stack that the kernel updates (the file's own offset is left alone).
    let n = syscall!(unsafe { libc::sendfile(out, file, &mut off, count) })?;
    Ok(n as usize)
}

/// Sends up to `len` bytes of `file` from `offset` into the socket `out`; returns how many were
/// sent.
#[cfg(target_os = "freebsd")]
pub(crate) fn sendfile(
    file: BorrowedFd<'_>,
    out: BorrowedFd<'_>,
    offset: u64,
    len: usize,
) -> io::Result<usize> {
    let off = c_offset(offset)?;
    // `nbytes == 0` means "to the end of the file" on FreeBSD: never ask for that by accident.
    if len == 0 {
        return Ok(0);
    }
    let mut sent: libc::off_t = 0;
    // SAFETY: both fds are borrowed, so they stay open for the call; `hdtr` may be null; `sent`
    // is a valid, writable off_t on the stack.
    let r = syscall!(unsafe {
        libc::sendfile(
            file.as_raw_fd(),
            out.as_raw_fd(),
            off,
            len.min(MAX_ONE_CALL),
            std::ptr::null_mut(),
            &mut sent,
            0,
        )
    });
    partial(r, sent)
}

/// Sends up to `len` bytes of `file` from `offset` into the socket `out`; returns how many were
/// sent.
#[cfg(any(target_os = "macos", target_os = "ios"))]
pub(crate) fn sendfile(
    file: BorrowedFd<'_>,
    out: BorrowedFd<'_>,
    offset: u64,
    len: usize,
) -> io::Result<usize> {
    let off = c_offset(offset)?;
    // `*len == 0` means "to the end of the file" on macOS: never ask for that by accident.
    if len == 0 {
        return Ok(0);
    }
    // In: the bytes to send; out: the bytes sent.
    let mut count = libc::off_t::try_from(len.min(MAX_ONE_CALL)).unwrap_or(libc::off_t::MAX);
    // SAFETY: both fds are borrowed, so they stay open for the call; `hdtr` may be null;
    // `count` is a valid, writable off_t on the stack.
    let r = syscall!(unsafe {
        libc::sendfile(
            file.as_raw_fd(),
            out.as_raw_fd(),
            off,
            &mut count,
            std::ptr::null_mut(),
            0,
        )
    });
    partial(r, count)
}

/// The BSD convention: a partial send is reported as `EAGAIN`/`EINTR` with the count set.
#[cfg(any(target_os = "freebsd", target_os = "macos", target_os = "ios"))]
fn partial(r: io::Result<libc::c_int>, sent: libc::off_t) -> io::Result<usize> {
    let sent = usize::try_from(sent).unwrap_or(0);
    match r {
        Ok(_) => Ok(sent),
        Err(e)
            if sent > 0
                && matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
                ) =>
        {
            Ok(sent)
        }
        Err(e) => Err(e),
    }
}

/// Whether `e` says this file and descriptor pair cannot be used with `sendfile` at all (a
/// file system without the support, a socket type the kernel refuses), so the bytes must be
/// copied instead.
pub(crate) fn unsupported(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::Unsupported
        || matches!(
            e.raw_os_error(),
            Some(libc::EINVAL | libc::ENOSYS | libc::EOPNOTSUPP | libc::ENOTSOCK)
        )
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};
    use std::os::fd::AsFd;
    use std::os::unix::net::UnixStream;

    use super::*;

    fn temp_file(bytes: &[u8]) -> (std::path::PathBuf, std::fs::File) {
        let dir = crate::sys::mkdtemp(&std::env::temp_dir().join("evloop-sendfile-"))
            .expect("a temp dir");
        let path = dir.join("f");
        std::fs::File::create(&path)
            .and_then(|mut f| f.write_all(bytes))
            .expect("write the file");
        let f = std::fs::File::open(&path).expect("open it");
        (dir, f)
    }

    #[test]
    fn sends_the_asked_range_and_zero_at_the_end() {
        let (dir, file) = temp_file(b"0123456789");
        let (a, mut b) = UnixStream::pair().expect("a socket pair");
        match sendfile(file.as_fd(), a.as_fd(), 3, 4) {
            Ok(n) => {
                assert_eq!(n, 4);
                let mut got = [0u8; 4];
                b.read_exact(&mut got).expect("read");
                assert_eq!(&got, b"3456");
                assert_eq!(sendfile(file.as_fd(), a.as_fd(), 10, 4).expect("at EOF"), 0);
                assert_eq!(
                    sendfile(file.as_fd(), a.as_fd(), 99, 4).expect("past EOF"),
                    0
                );
            }
            // macOS refuses Unix-domain sockets: the caller copies instead.
            Err(e) => assert!(unsupported(&e), "{e}"),
        }
        std::fs::remove_dir_all(dir).expect("cleanup");
    }

    #[test]
    fn a_full_non_blocking_socket_says_would_block() {
        let (dir, file) = temp_file(&vec![7u8; 1 << 20]);
        let (a, _b) = UnixStream::pair().expect("a socket pair");
        a.set_nonblocking(true).expect("non-blocking");
        let mut offset = 0u64;
        let err = loop {
            match sendfile(file.as_fd(), a.as_fd(), offset, 1 << 20) {
                Ok(0) => panic!("the socket never filled"),
                Ok(n) => offset += n as u64,
                Err(e) => break e,
            }
            assert!(offset < 1 << 20, "1 MiB never fits a socket pair's buffer");
        };
        assert!(
            err.kind() == io::ErrorKind::WouldBlock || unsupported(&err),
            "{err}"
        );
        std::fs::remove_dir_all(dir).expect("cleanup");
    }

    #[test]
    fn a_socket_as_the_file_is_an_error() {
        let (a, b) = UnixStream::pair().expect("a socket pair");
        let err = sendfile(b.as_fd(), a.as_fd(), 0, 4).expect_err("not a file");
        // Linux: no seeking on a socket; the BSDs: not a regular file.
        let espipe = err.raw_os_error() == Some(libc::ESPIPE);
        assert!(espipe || unsupported(&err), "{err}");
    }
}
