//! [`open_beneath`]: a file under a root directory, opened so that nothing on the path can lead
//! out of the root, for servers of static files.

use std::io;
use std::os::fd::AsFd;
use std::panic::Location;
use std::path::Path;
use std::sync::Arc;

use super::error::at_path;
use crate::event_loop::Loop;
use crate::pool::work::Work;
use crate::sys::beneath::{self, Resolver};

/// Opens `path` for reading beneath the directory `root` on the thread pool (as a file job, never
/// starved by CPU work), and calls back with the file and its metadata (`fstat` of what was
/// opened, not of a name that may have changed since).
///
/// Confinement holds against a local process that swaps directories for symlinks while requests
/// run: the path is resolved relative to `root`'s descriptor with `openat2(RESOLVE_BENEATH |
/// RESOLVE_NO_SYMLINKS)` (Linux 5.6+), or one `O_NOFOLLOW` open per component where the kernel
/// lacks it. So a symlink anywhere on the path is refused, whatever it points at (`ELOOP`, or
/// `ENOTDIR` for one in a directory's place), and `path` must be relative and hold only plain
/// names (`InvalidInput` for `.`, `..` or a leading `/`). A FIFO opens without blocking; check
/// [`std::fs::Metadata::is_file`] before serving. Errors name the path.
///
/// ```no_run
/// use std::sync::Arc;
/// # fn main() -> std::io::Result<()> {
/// let mut lp = evloop::Loop::new()?;
/// let root = Arc::new(std::fs::File::open("public")?);
/// evloop::fs::open_beneath(&mut lp, &root, "css/site.css", |_, opened| match opened {
///     Ok((file, meta)) if meta.is_file() => println!("{} bytes", meta.len()),
///     Ok(_) => println!("not a file"),
///     Err(e) => println!("{e}"),
/// });
/// lp.run().map_err(std::io::Error::other)?;
/// # Ok(())
/// # }
/// ```
#[track_caller]
pub fn open_beneath(
    lp: &mut Loop,
    root: &Arc<std::fs::File>,
    path: impl AsRef<Path>,
    cb: impl FnOnce(&mut Loop, io::Result<(std::fs::File, std::fs::Metadata)>) + 'static,
) -> Work {
    let root = Arc::clone(root);
    let path = path.as_ref().to_path_buf();
    let job = move || {
        let file = open_beneath_sync(&root, &path)?;
        let meta = file.metadata().map_err(at_path("fstat", &path))?;
        Ok((file, meta))
    };
    super::submit(lp, Location::caller(), job, cb)
}

/// [`open_beneath`] on the calling thread, if it can be done without waiting for a disk or a
/// network: every component of the path must be in the kernel's lookup cache (`openat2` with
/// `RESOLVE_CACHED`, Linux 5.12+), so the lookup does no I/O and no revalidation, and the file
/// is then checked with `fstat` on the open descriptor. For a file server's hot path: try
/// this on the loop thread, and only when it says [`WouldBlock`](io::ErrorKind::WouldBlock)
/// open with [`open_beneath`] on the pool. A few microseconds for a file served before, against
/// a round trip through a worker thread (nginx opens every file synchronously).
///
/// `WouldBlock` (never anything slow) when the lookup would need more than the cache (a path
/// not looked up lately, a network file system's revalidation, a rename racing the lookup),
/// and always where the kernel cannot tell (other systems, Linux before 5.12). Confinement is
/// exactly [`open_beneath`]'s: a symlink anywhere on the path is refused (`ELOOP`), and only
/// plain names are accepted (`InvalidInput`). The final open and the `fstat` do no I/O on a
/// local file system; on a network one they may revalidate (as they do on the pool). Errors
/// name the path, except `WouldBlock` (it only says "use the pool", and costs no allocation).
///
/// ```no_run
/// use std::io::ErrorKind;
/// use std::sync::Arc;
/// # fn main() -> std::io::Result<()> {
/// let mut lp = evloop::Loop::new()?;
/// let root = Arc::new(std::fs::File::open("public")?);
/// let serve = |_: &mut evloop::Loop, opened: std::io::Result<(std::fs::File, std::fs::Metadata)>| {
///     // ... answer with the file, or the error
/// #   let _ = opened;
/// };
/// match evloop::fs::open_beneath_cached(&root, "index.html") {
///     Err(e) if e.kind() == ErrorKind::WouldBlock => {
///         evloop::fs::open_beneath(&mut lp, &root, "index.html", serve);
///     }
///     opened => serve(&mut lp, opened),
/// }
/// # Ok(())
/// # }
/// ```
pub fn open_beneath_cached(
    root: &std::fs::File,
    path: impl AsRef<Path>,
) -> io::Result<(std::fs::File, std::fs::Metadata)> {
    let path = path.as_ref();
    let file = match beneath::open_beneath_cached(root.as_fd(), path) {
        Ok(fd) => std::fs::File::from(fd),
        // Unnamed: the caller only learns to go to the pool.
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Err(e),
        Err(e) => return Err(at_path("open_beneath", path)(e)),
    };
    let meta = file.metadata().map_err(at_path("fstat", path))?;
    Ok((file, meta))
}

/// [`open_beneath`], blocking: for code already on a pool thread (a `queue_work` job).
pub fn open_beneath_sync(
    root: &std::fs::File,
    path: impl AsRef<Path>,
) -> io::Result<std::fs::File> {
    let path = path.as_ref();
    beneath::open_beneath(root.as_fd(), path, Resolver::Best)
        .map(std::fs::File::from)
        .map_err(at_path("open_beneath", path))
}
