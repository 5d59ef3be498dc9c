//! Files on the thread pool: every operation of libuv's `uv_fs_*` family that a program needs,
//! as a function that takes the loop first and calls back on the loop with an `io::Result`.
//!
//! ```
//! use evloop::{Loop, fs};
//!
//! # fn main() -> std::io::Result<()> {
//! let mut lp = Loop::new()?;
//! let path = std::env::temp_dir().join(format!("evloop-fs-doc-{}", std::process::id()));
//! let again = path.clone();
//! fs::write_file(&mut lp, &path, "hello", move |lp, written| {
//!     written.expect("write");
//!     // Paths are copied at the call, so a clone can go in while the original moves on.
//!     fs::read_file(lp, again.clone(), move |lp, contents| {
//!         assert_eq!(contents.expect("read"), b"hello");
//!         fs::unlink(lp, again, |_, removed| removed.expect("unlink"));
//!     });
//! });
//! lp.run()?; // returns once the last callback has run
//! # Ok(())
//! # }
//! ```
//!
//! **How they run.** Each call queues one job on the loop's thread pool (file jobs are never
//! held back by DNS lookups, which may take at most half the workers) and returns a [`Work`]
//! at once. The callback runs later on the loop, in the poll phase, followed by a microtask
//! drain — never inside the call, not even for an error found at once, which is delivered in
//! the pending phase. An operation in flight keeps the loop alive.
//!
//! **Errors** are `io::Error`s that keep the OS error's kind and name the operation and path:
//! `No such file or directory (os error 2): open '/tmp/x'`. Their payload is an [`FsError`]
//! (downcast it for the operation, target and errno, or use [`raw_os_error`]).
//!
//! **Canceling.** [`Loop::cancel`](crate::Loop::cancel) takes a request off the queue if no
//! worker has started it; its callback then gets an error of kind `Interrupted` that carries
//! [`Error::Canceled`](crate::Error::Canceled) (see
//! [`Error::from_io_ref`](crate::Error::from_io_ref)), the same error `queue_work` reports.
//!
//! **Open files** are [`File`] ids into a table on the loop; see there for how closing works.
//!
//! **Windows.** The same API on std's files and Windows handles, opened as libuv opens them
//! (shared for delete, so an open file can be renamed or unlinked). What only Unix has is absent
//! there at compile time, not a silent no-op: `chmod`, the `mode` of [`OpenFlags`] and
//! [`MkdirOptions`], `OpenFlags::custom_flags`, the Unix fields of [`Metadata`] (it has
//! `attributes` instead), [`FsTarget::Fd`] (errors name a `Handle`), `open_beneath` (it needs
//! `openat2` or `O_NOFOLLOW` per component) and `fs::event`. [`access`] checks existence and,
//! for `WRITE`, the read-only attribute, as libuv does.

#[cfg(unix)]
mod beneath;
mod error;
#[cfg(target_os = "linux")] // inotify; not ported to kqueue or Windows
pub mod event;
mod file;
mod flags;
mod metadata;
pub(crate) mod ops;
mod paths;

use std::io;

use crate::event_loop::CallbackKind;
use crate::event_loop::Loop;
use crate::handle::Site;
use crate::pool::JobKind;
use crate::pool::work::Work;

#[cfg(unix)]
pub use self::beneath::{open_beneath, open_beneath_cached, open_beneath_sync};
pub use self::error::{FsError, FsTarget, raw_os_error};
pub use self::file::File;
pub(crate) use self::file::FileTable;
pub use self::flags::{AccessMode, OpenFlags};
pub use self::metadata::{DirEntry, FileKind, Metadata};
#[cfg(unix)]
pub use self::paths::chmod;
pub use self::paths::{
    access, append, copy_file, exists, lstat, mkdir, mkdtemp, open, read_file, readdir, readlink,
    realpath, rename, rmdir, stat, symlink, unlink, write_file,
};

/// How [`mkdir`] creates a directory. The default is Node's: not recursive, mode `0o777`
/// (before the umask; Unix only).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct MkdirOptions {
    /// Create missing parents too, and succeed if the directory already exists.
    pub recursive: bool,
    /// Permission bits of the new directories, before the umask (Unix only).
    #[cfg(unix)]
    pub mode: u32,
}

#[allow(clippy::derivable_impls)] // on Windows, where `mode` is absent
impl Default for MkdirOptions {
    fn default() -> Self {
        Self {
            recursive: false,
            #[cfg(unix)]
            mode: 0o777,
        }
    }
}

impl MkdirOptions {
    /// The default options with `recursive` set (Node's `{ recursive: true }`).
    pub const RECURSIVE: Self = Self {
        recursive: true,
        #[cfg(unix)]
        mode: 0o777,
    };
}

/// Queues a blocking file operation as a file-class pool job; `cb` gets its result on the loop.
fn submit<T: Send + 'static>(
    lp: &mut Loop,
    site: Site,
    job: impl FnOnce() -> io::Result<T> + Send + 'static,
    cb: impl FnOnce(&mut Loop, io::Result<T>) + 'static,
) -> Work {
    lp.submit_io(JobKind::Fs, CallbackKind::Fs, site, job, cb)
}
