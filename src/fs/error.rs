//! File-operation errors that name the operation and the path, and keep the OS error intact.
//!
//! `io::Error` has no room for a path, and `io::Error::new(kind, text)` would throw away the OS
//! code. So a failed operation returns an `io::Error` whose payload is an [`FsError`]: the
//! operation, what it was about ([`FsTarget`]) and the original OS error. What this keeps:
//! - `err.kind()` is the OS error's kind (`NotFound`, `PermissionDenied`, …);
//! - `err.to_string()` reads `No such file or directory (os error 2): open '/tmp/x'`;
//! - the errno stays queryable: [`raw_os_error`] (or `FsError::raw_os_error` after
//!   `err.get_ref()` + `downcast_ref::<FsError>()`), and `Error::source` chains to the OS error.
//!
//! The one thing it cannot keep is `err.raw_os_error()` itself, which is `None` for any payload
//! error; callers that want the errno use [`raw_os_error`] from this module instead.

use std::error::Error;
use std::fmt;
use std::io;
#[cfg(unix)]
use std::os::fd::{AsRawFd, RawFd};
#[cfg(windows)]
use std::os::windows::io::AsRawHandle;
use std::path::{Path, PathBuf};

/// What a failed file operation was about.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum FsTarget {
    /// One path: `open`, `stat`, `mkdir`…
    Path(PathBuf),
    /// A source and a destination: `rename`, `copyfile`, `symlink`.
    Pair {
        /// The path the operation reads or moves from (for `symlink`, the link's target text).
        from: PathBuf,
        /// The path the operation creates or moves to.
        to: PathBuf,
    },
    /// An open file, named by its descriptor: `read`, `fstat`, `fsync`…
    #[cfg(unix)]
    Fd(RawFd),
    /// An open file, named by its handle's value (Windows has handles where Unix has
    /// descriptors): `read`, `fstat`, `fsync`…
    #[cfg(windows)]
    Handle(usize),
}

impl fmt::Display for FsTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Path(path) => write!(f, "'{}'", path.display()),
            Self::Pair { from, to } => write!(f, "'{}' -> '{}'", from.display(), to.display()),
            #[cfg(unix)]
            Self::Fd(fd) => write!(f, "fd {fd}"),
            #[cfg(windows)]
            Self::Handle(handle) => write!(f, "handle {handle:#x}"),
        }
    }
}

/// The payload of a failed file operation's `io::Error`: the OS error, the operation, its target.
///
/// ```
/// # fn check(err: &std::io::Error) {
/// use evloop::fs::FsError;
/// if let Some(fs_err) = err.get_ref().and_then(|e| e.downcast_ref::<FsError>()) {
///     println!("{} failed on {}: errno {:?}", fs_err.op(), fs_err.target(), fs_err.raw_os_error());
/// }
/// # }
/// ```
#[derive(Debug)]
pub struct FsError {
    op: &'static str,
    target: FsTarget,
    source: io::Error,
}

impl FsError {
    /// The operation that failed, named as the system call or libuv request (`open`, `scandir`…).
    pub fn op(&self) -> &'static str {
        self.op
    }

    /// The path(s) or descriptor the operation was about.
    pub fn target(&self) -> &FsTarget {
        &self.target
    }

    /// The OS error code (`errno`) the operation failed with, if it came from the OS.
    pub fn raw_os_error(&self) -> Option<i32> {
        self.source.raw_os_error()
    }

    /// The kind of the underlying error.
    pub fn kind(&self) -> io::ErrorKind {
        self.source.kind()
    }
}

impl fmt::Display for FsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {} {}", self.source, self.op, self.target)
    }
}

impl Error for FsError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        Some(&self.source)
    }
}

/// Wraps `err` from operation `op` on `target`, keeping its kind and OS code (see the module docs).
pub(crate) fn annotate(op: &'static str, target: FsTarget, err: io::Error) -> io::Error {
    io::Error::new(
        err.kind(),
        FsError {
            op,
            target,
            source: err,
        },
    )
}

/// [`annotate`] with another kind than the OS error's: what Unix would report where Windows
/// reports something vaguer (a read of a directory: `IsADirectory`, not "invalid function").
/// The OS error stays the payload's source, so [`raw_os_error`] still finds its code.
#[cfg(windows)]
pub(crate) fn annotate_as(
    kind: io::ErrorKind,
    op: &'static str,
    target: FsTarget,
    err: io::Error,
) -> io::Error {
    io::Error::new(
        kind,
        FsError {
            op,
            target,
            source: err,
        },
    )
}

/// A closure for `map_err` that annotates an error about one path. The path is copied only if
/// the operation fails: a successful `stat` allocates nothing for its error path.
pub(crate) fn at_path<'a>(
    op: &'static str,
    path: &'a Path,
) -> impl FnOnce(io::Error) -> io::Error + 'a {
    move |err| annotate(op, FsTarget::Path(path.to_path_buf()), err)
}

/// A closure for `map_err` that annotates an error about a source and a destination path.
pub(crate) fn at_pair<'a>(
    op: &'static str,
    from: &'a Path,
    to: &'a Path,
) -> impl FnOnce(io::Error) -> io::Error + 'a {
    move |err| {
        let target = FsTarget::Pair {
            from: from.to_path_buf(),
            to: to.to_path_buf(),
        };
        annotate(op, target, err)
    }
}

/// A closure for `map_err` that annotates an error about an open file.
pub(crate) fn at_fd(
    op: &'static str,
    file: &std::fs::File,
) -> impl FnOnce(io::Error) -> io::Error + use<> {
    let target = file_target(file);
    move |err| annotate(op, target, err)
}

/// How an error names an open file: its descriptor, or on Windows its handle's value.
pub(crate) fn file_target(file: &std::fs::File) -> FsTarget {
    #[cfg(unix)]
    {
        FsTarget::Fd(file.as_raw_fd())
    }
    #[cfg(windows)]
    {
        FsTarget::Handle(file.as_raw_handle() as usize)
    }
}

/// The OS error code (`errno`) behind `err`, looking through evloop's payload errors
/// ([`FsError`], [`DnsError`](crate::dns::DnsError)) along the `source` chain. `err.raw_os_error()`
/// itself is `None` for those, since std only reports codes of errors it made.
pub fn raw_os_error(err: &io::Error) -> Option<i32> {
    let mut current: &(dyn Error + 'static) = err;
    loop {
        if let Some(code) = current
            .downcast_ref::<io::Error>()
            .and_then(io::Error::raw_os_error)
        {
            return Some(code);
        }
        current = current.source()?;
    }
}

// Unix only: the messages and codes are the C library's.
#[cfg(all(test, unix))]
mod tests {
    use super::*;

    fn enoent() -> io::Error {
        io::Error::from_raw_os_error(libc::ENOENT)
    }

    #[test]
    fn the_message_names_the_os_error_the_operation_and_the_path() {
        let err = annotate("open", FsTarget::Path("/tmp/x".into()), enoent());
        assert_eq!(
            err.to_string(),
            "No such file or directory (os error 2): open '/tmp/x'"
        );
        assert_eq!(err.kind(), io::ErrorKind::NotFound);
        assert_eq!(raw_os_error(&err), Some(libc::ENOENT));
        let payload = err
            .get_ref()
            .and_then(|e| e.downcast_ref::<FsError>())
            .expect("an FsError");
        assert_eq!(
            (payload.op(), payload.raw_os_error()),
            ("open", Some(libc::ENOENT))
        );
        assert_eq!(payload.target(), &FsTarget::Path("/tmp/x".into()));
        assert_eq!(payload.kind(), io::ErrorKind::NotFound);
    }

    #[test]
    fn pairs_and_descriptors_are_named_too() {
        let pair = FsTarget::Pair {
            from: "/a".into(),
            to: "/b".into(),
        };
        let err = annotate("rename", pair, enoent());
        assert!(err.to_string().ends_with(": rename '/a' -> '/b'"), "{err}");
        let err = annotate(
            "fstat",
            FsTarget::Fd(7),
            io::Error::from_raw_os_error(libc::EBADF),
        );
        assert!(
            err.to_string().ends_with("(os error 9): fstat fd 7"),
            "{err}"
        );
    }

    #[test]
    fn raw_os_error_sees_plain_errors_and_none_for_custom_ones() {
        assert_eq!(raw_os_error(&enoent()), Some(libc::ENOENT));
        let custom = io::Error::new(io::ErrorKind::InvalidInput, "bad");
        assert_eq!(raw_os_error(&custom), None);
        let wrapped = annotate("open", FsTarget::Path("/x".into()), custom);
        assert_eq!(
            (raw_os_error(&wrapped), wrapped.kind()),
            (None, io::ErrorKind::InvalidInput)
        );
    }
}
