//! The only room with `unsafe`: thin wrappers over the libc calls std does not offer.
//!
//! Everything here takes and returns safe Rust types; callers never see a raw pointer. Each
//! `unsafe` block states why it holds in a `// SAFETY:` line, and `syscall!` turns the C
//! convention of returning `-1` and setting `errno` into `io::Result`. Errors are plain OS errors:
//! naming the path is the caller's job (see `fs_error`).

#[cfg(unix)]
pub(crate) mod dns;
#[cfg(windows)]
#[path = "dns_windows.rs"]
pub(crate) mod dns;

#[cfg(unix)]
use std::ffi::{CString, OsString};
#[cfg(unix)]
use std::io;
#[cfg(unix)]
use std::os::fd::{IntoRawFd, OwnedFd};
#[cfg(unix)]
use std::os::unix::ffi::{OsStrExt, OsStringExt};
#[cfg(unix)]
use std::path::{Path, PathBuf};

/// Evaluates a libc call (an `unsafe` block at the call site, with its own `SAFETY` line) and
/// turns a `-1` result into `Err(io::Error::last_os_error())`, as mio's macro of the same name.
#[cfg(unix)]
macro_rules! syscall {
    ($call:expr) => {{
        let result = $call;
        if result == -1 {
            Err(::std::io::Error::last_os_error())
        } else {
            Ok(result)
        }
    }};
}

#[cfg(unix)]
pub(crate) mod beneath;
#[cfg(windows)]
pub(crate) mod console;
mod dgram;
pub(crate) mod errno;
#[cfg(target_os = "linux")]
pub(crate) mod inotify;
pub(crate) mod loop_scope;
#[cfg(target_os = "linux")]
pub(crate) mod process;
#[cfg(target_os = "linux")]
pub(crate) mod read_nowait;
#[cfg(any(
    target_os = "linux",
    target_os = "freebsd",
    target_os = "macos",
    target_os = "ios"
))]
pub(crate) mod sendfile;
pub(crate) mod task_cell;
#[cfg(all(target_os = "linux", not(feature = "portable-fallbacks")))]
mod timerfd;
#[cfg(target_os = "linux")]
pub(crate) mod tty;
#[cfg(windows)]
pub(crate) mod windows;
#[cfg(all(target_os = "linux", not(feature = "portable-fallbacks")))]
pub(crate) use timerfd::DeadlineTimer;

pub(crate) use dgram::{disconnect, recv_from};

/// Whether a short stream read means the socket is drained, so the readiness cache can be
/// cleared without another read. True for epoll and kqueue, whose edge comes again with new
/// data. False for mio's Windows backend: it re-arms a socket only after a read through it has
/// returned `WouldBlock`, so clearing on a short read would stall the stream for good. The
/// `portable-fallbacks` feature takes the Windows way on every platform (one more read per
/// wake-up), so CI runs it on Linux.
pub(crate) const SHORT_READ_DRAINS: bool = cfg!(not(any(windows, feature = "portable-fallbacks")));

/// `clock_gettime(CLOCK_MONOTONIC)` in ns: the clock `Instant` reads on Linux, without
/// `Instant`'s `Duration` arithmetic, which cost more than the read itself on every iteration.
#[cfg(all(target_os = "linux", not(feature = "portable-fallbacks")))]
pub(crate) fn monotonic_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec on the stack for the duration of the call.
    let r = unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    // CLOCK_MONOTONIC with a valid pointer cannot fail (EINVAL and EFAULT are the only errors);
    // std's `Instant::now` makes the same assumption and panics otherwise.
    assert_eq!(r, 0, "clock_gettime(CLOCK_MONOTONIC) failed");
    (ts.tv_sec as u64)
        .wrapping_mul(1_000_000_000)
        .wrapping_add(ts.tv_nsec as u64)
}

#[cfg(unix)]
/// `path` as a C string, or `InvalidInput` if it contains a NUL byte (no C call could name it).
pub(crate) fn path_to_cstring(path: &Path) -> io::Result<CString> {
    bytes_to_cstring(path.as_os_str().as_bytes().to_vec())
}

#[cfg(unix)]
fn bytes_to_cstring(bytes: Vec<u8>) -> io::Result<CString> {
    CString::new(bytes).map_err(|_| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            "path contains an interior NUL byte",
        )
    })
}

#[cfg(unix)]
/// `access(2)`: checks `path` against `mode` (a combination of `libc::R_OK`, `W_OK`, `X_OK`, or
/// `F_OK` alone) with the real user and group ids, following symlinks.
pub(crate) fn access(path: &Path, mode: libc::c_int) -> io::Result<()> {
    let path = path_to_cstring(path)?;
    // SAFETY: `path` is a NUL-terminated string that lives across the call; `access` only reads it.
    syscall!(unsafe { libc::access(path.as_ptr(), mode) })?;
    Ok(())
}

#[cfg(unix)]
/// `close(2)`, reporting its error (dropping an `OwnedFd` ignores it). `EINTR` counts as closed:
/// on Linux the descriptor is released even then, and retrying could close a reused one.
pub(crate) fn close(fd: OwnedFd) -> io::Result<()> {
    let raw = fd.into_raw_fd();
    // SAFETY: `raw` came out of an `OwnedFd`, so we own it and nothing else closes it; it is
    // closed exactly once, here.
    match syscall!(unsafe { libc::close(raw) }) {
        Err(err) if err.kind() != io::ErrorKind::Interrupted => Err(err),
        _ => Ok(()),
    }
}

#[cfg(unix)]
/// `mkdtemp(3)`: creates a new directory named `prefix` followed by six random characters, mode
/// 0700, and returns its path. The kernel's `mkdir` makes the name unique, not a check-then-create.
pub(crate) fn mkdtemp(prefix: &Path) -> io::Result<PathBuf> {
    let mut template = prefix.as_os_str().as_bytes().to_vec();
    template.extend_from_slice(b"XXXXXX");
    let mut template = bytes_to_cstring(template)?.into_bytes_with_nul();
    // SAFETY: `template` is a writable NUL-terminated buffer ending in "XXXXXX" that outlives the
    // call; `mkdtemp` rewrites those six bytes in place and returns either the buffer or null.
    let created = unsafe { libc::mkdtemp(template.as_mut_ptr().cast::<libc::c_char>()) };
    if created.is_null() {
        return Err(io::Error::last_os_error());
    }
    template.pop(); // the NUL terminator
    Ok(PathBuf::from(OsString::from_vec(template)))
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    #[test]
    fn access_reports_the_os_error() {
        assert!(access(Path::new("/"), libc::R_OK | libc::X_OK).is_ok());
        let missing = access(Path::new("/no/such/evloop/path"), libc::F_OK);
        let err = missing.expect_err("a missing path");
        assert_eq!(err.raw_os_error(), Some(libc::ENOENT));
    }

    #[test]
    fn a_path_with_a_nul_byte_is_invalid_input() {
        let err = path_to_cstring(Path::new("a\0b")).expect_err("an interior NUL");
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
    }

    #[test]
    fn mkdtemp_creates_distinct_private_directories() {
        use std::os::unix::fs::PermissionsExt;
        let prefix = std::env::temp_dir().join("evloop-sys-test-");
        let first = mkdtemp(&prefix).expect("a temp dir");
        let second = mkdtemp(&prefix).expect("a temp dir");
        assert_ne!(first, second);
        assert!(
            first
                .to_string_lossy()
                .starts_with(&*prefix.to_string_lossy())
        );
        let mode = std::fs::metadata(&first)
            .expect("it exists")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o700);
        for dir in [first, second] {
            std::fs::remove_dir(dir).expect("cleanup");
        }
    }
}
