//! Opening a path beneath a directory so that no component can lead out of it, whatever a
//! local process does to the tree meanwhile: `openat2` with `RESOLVE_BENEATH |
//! RESOLVE_NO_SYMLINKS` where the kernel has it (Linux 5.6+), otherwise a walk that opens one
//! component at a time relative to the last with `O_NOFOLLOW`. Either way a symlink anywhere on
//! the path is refused (`ELOOP`), so checking a name and then opening it (a race) never happens.

use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path};
#[cfg(target_os = "linux")]
use std::sync::atomic::{AtomicBool, Ordering};

/// Cleared once `openat2` is found missing (or filtered), so later opens go straight to the walk.
#[cfg(target_os = "linux")]
static OPENAT2: AtomicBool = AtomicBool::new(true);

/// How a path is resolved beneath the root.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Resolver {
    /// `openat2` if the kernel has it, else the walk.
    Best,
    /// The `O_NOFOLLOW` walk, always (for tests of the fallback).
    #[cfg_attr(not(test), allow(dead_code))]
    Walk,
}

/// Opens `rel` for reading beneath the directory `root`. `rel` must be relative and hold only
/// plain names (no `.`, `..` or root): anything else is `InvalidInput`. A symlink anywhere on
/// the path is refused: `ELOOP` (`ENOTDIR` from the walk for one in a directory's place).
pub(crate) fn open_beneath(
    root: BorrowedFd<'_>,
    rel: &Path,
    resolver: Resolver,
) -> io::Result<OwnedFd> {
    let names = check_plain(rel)?;
    // openat2 is Linux's; other kernels always walk.
    #[cfg(target_os = "linux")]
    if resolver == Resolver::Best && OPENAT2.load(Ordering::Relaxed) {
        let whole = CString::new(rel.as_os_str().as_bytes())?;
        match openat2(root, &whole) {
            Err(e) if matches!(e.raw_os_error(), Some(libc::ENOSYS | libc::EPERM)) => {
                // No openat2 (before 5.6), or a seccomp filter that refuses it.
                OPENAT2.store(false, Ordering::Relaxed);
            }
            result => return result,
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = resolver;
    walk(root, &names)
}

/// Cleared once `openat2` has refused `RESOLVE_CACHED` (Linux 5.6 to 5.11 know `openat2` but
/// not that flag), so later cached opens say `WouldBlock` at once.
#[cfg(target_os = "linux")]
static CACHED: AtomicBool = AtomicBool::new(true);

/// Opens `rel` beneath `root` as [`open_beneath`] does with [`Resolver::Best`], but only if
/// every component of the path is in the kernel's lookup cache (`openat2` with
/// `RESOLVE_CACHED`, Linux 5.12+): the lookup then does no I/O and no revalidation, so the call
/// is cheap enough for an event loop's thread. `WouldBlock` when the lookup would need more
/// (a cold dentry, a network file system's revalidation, a rename racing the lookup), and
/// always where the kernel lacks the flag or `openat2`: the caller then opens on a thread.
/// Confinement is the same: a symlink anywhere on the path is refused (`ELOOP`).
pub(crate) fn open_beneath_cached(root: BorrowedFd<'_>, rel: &Path) -> io::Result<OwnedFd> {
    check_plain(rel)?;
    #[cfg(target_os = "linux")]
    if OPENAT2.load(Ordering::Relaxed) && CACHED.load(Ordering::Relaxed) {
        let whole = CString::new(rel.as_os_str().as_bytes())?;
        let resolve = RESOLVE_CONFINED | libc::RESOLVE_CACHED;
        match openat2_once(root, &whole, resolve) {
            // EINVAL: a kernel with openat2 but not RESOLVE_CACHED (the path itself was
            // checked above, and the other flags are known to every openat2).
            Err(e) if e.raw_os_error() == Some(libc::EINVAL) => {
                CACHED.store(false, Ordering::Relaxed);
            }
            Err(e) if matches!(e.raw_os_error(), Some(libc::ENOSYS | libc::EPERM)) => {
                OPENAT2.store(false, Ordering::Relaxed);
            }
            Err(e) if e.raw_os_error() == Some(libc::EINTR) => {}
            // EAGAIN: not all in the cache (or a rename raced the lookup).
            result => return result,
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = root;
    Err(io::ErrorKind::WouldBlock.into())
}

/// `rel` as its plain names, or `InvalidInput` for anything but plain names.
fn check_plain(rel: &Path) -> io::Result<Vec<CString>> {
    let mut names = Vec::new();
    for component in rel.components() {
        match component {
            Component::Normal(name) => names.push(CString::new(name.as_bytes())?),
            _ => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    "the path must be relative and hold only plain names (no `.`, `..`, `/`)",
                ));
            }
        }
    }
    if names.is_empty() {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, "empty path"));
    }
    Ok(names)
}

/// The flags of every final open: read-only, no symlink, never blocking on a FIFO.
const FINAL_FLAGS: libc::c_int =
    libc::O_RDONLY | libc::O_CLOEXEC | libc::O_NOFOLLOW | libc::O_NONBLOCK;

/// `struct open_how` of `linux/openat2.h` (libc's is `non_exhaustive`, so not constructible).
#[cfg(target_os = "linux")]
#[repr(C)]
struct OpenHow {
    flags: u64,
    mode: u64,
    resolve: u64,
}

/// What confines every `openat2`: beneath the root, no symlink, no magic link.
#[cfg(target_os = "linux")]
const RESOLVE_CONFINED: u64 =
    libc::RESOLVE_BENEATH | libc::RESOLVE_NO_SYMLINKS | libc::RESOLVE_NO_MAGICLINKS;

#[cfg(target_os = "linux")]
fn openat2(root: BorrowedFd<'_>, path: &CString) -> io::Result<OwnedFd> {
    loop {
        match openat2_once(root, path, RESOLVE_CONFINED) {
            // RESOLVE_BENEATH|NO_SYMLINKS may answer EAGAIN when a rename raced the lookup.
            Err(e) if matches!(e.raw_os_error(), Some(libc::EAGAIN | libc::EINTR)) => {}
            result => return result,
        }
    }
}

/// One `openat2` of `path` beneath `root` with the final flags and `resolve`.
#[cfg(target_os = "linux")]
fn openat2_once(root: BorrowedFd<'_>, path: &CString, resolve: u64) -> io::Result<OwnedFd> {
    let how = OpenHow {
        flags: FINAL_FLAGS as u64,
        mode: 0,
        resolve,
    };
    // SAFETY: `path` is a NUL-terminated string and `how` a valid `open_how` of the size
    // passed, both alive for the call; `root` is an open descriptor we only borrow.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_openat2,
            root.as_raw_fd(),
            path.as_ptr(),
            &how as *const OpenHow,
            std::mem::size_of::<OpenHow>(),
        )
    };
    // SAFETY: the kernel returned a new descriptor that nothing else owns.
    syscall!(fd).map(|fd| unsafe { OwnedFd::from_raw_fd(fd as libc::c_int) })
}

/// One `openat` per component, each relative to the directory opened before it and with
/// `O_NOFOLLOW`: a component that is a symlink (swapped in at any moment) fails the open
/// instead of being followed.
fn walk(root: BorrowedFd<'_>, names: &[CString]) -> io::Result<OwnedFd> {
    let (last, dirs) = names.split_last().expect("checked non-empty");
    let mut held: Option<OwnedFd> = None;
    for name in dirs {
        let at = held.as_ref().map_or(root.as_raw_fd(), AsRawFd::as_raw_fd);
        let flags = libc::O_RDONLY | libc::O_DIRECTORY | libc::O_NOFOLLOW | libc::O_CLOEXEC;
        held = Some(openat(at, name, flags)?);
    }
    let at = held.as_ref().map_or(root.as_raw_fd(), AsRawFd::as_raw_fd);
    openat(at, last, FINAL_FLAGS)
}

fn openat(dir: libc::c_int, name: &CString, flags: libc::c_int) -> io::Result<OwnedFd> {
    loop {
        // SAFETY: `name` is NUL-terminated and alive for the call; `dir` is an open
        // descriptor (the caller's root, or one this walk owns) for the call's duration.
        match syscall!(unsafe { libc::openat(dir, name.as_ptr(), flags) }) {
            // SAFETY: the kernel returned a new descriptor that nothing else owns.
            Ok(fd) => return Ok(unsafe { OwnedFd::from_raw_fd(fd) }),
            Err(e) if e.raw_os_error() == Some(libc::EINTR) => {}
            Err(e) => return Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::fs::File;
    use std::io::Read;
    use std::os::fd::AsFd;
    use std::os::unix::fs::symlink;

    use super::*;

    fn read(root: &File, rel: &str, resolver: Resolver) -> io::Result<String> {
        let fd = open_beneath(root.as_fd(), Path::new(rel), resolver)?;
        let mut text = String::new();
        File::from(fd).read_to_string(&mut text)?;
        Ok(text)
    }

    #[test]
    fn plain_paths_open_and_symlinks_and_dot_segments_never_do() {
        let base = std::env::temp_dir().join(format!("evloop-beneath-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&base);
        let root_path = base.join("root");
        std::fs::create_dir_all(root_path.join("sub")).unwrap();
        std::fs::write(base.join("secret"), "SECRET").unwrap();
        std::fs::write(root_path.join("sub/a.txt"), "a").unwrap();
        symlink(base.join("secret"), root_path.join("link")).unwrap();
        symlink(&base, root_path.join("up")).unwrap();
        symlink("sub", root_path.join("inner")).unwrap();
        let root = File::open(&root_path).unwrap();
        for resolver in [Resolver::Best, Resolver::Walk] {
            assert_eq!(read(&root, "sub/a.txt", resolver).unwrap(), "a");
            for bad in ["link", "up/secret", "inner/a.txt"] {
                let err = read(&root, bad, resolver).unwrap_err();
                // The walk's `O_DIRECTORY | O_NOFOLLOW` open of a symlink says ENOTDIR.
                let code = err.raw_os_error();
                assert!(
                    code == Some(libc::ELOOP)
                        || (resolver == Resolver::Walk && code == Some(libc::ENOTDIR)),
                    "{bad} {resolver:?}: {err}"
                );
            }
            for bad in [
                "../secret",
                "sub/../../secret",
                "./sub/a.txt",
                "/etc/passwd",
                "",
            ] {
                let err = read(&root, bad, resolver).unwrap_err();
                assert_eq!(
                    err.kind(),
                    io::ErrorKind::InvalidInput,
                    "{bad:?} {resolver:?}"
                );
            }
            let err = read(&root, "sub/missing", resolver).unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::NotFound);
        }
        let _ = std::fs::remove_dir_all(&base);
    }

    #[test]
    fn the_walk_leaks_nothing_while_a_directory_is_swapped_for_a_symlink() {
        use std::sync::Arc;
        let base = std::env::temp_dir().join(format!("evloop-walk-race-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&base);
        std::fs::create_dir_all(base.join("root/real")).unwrap();
        std::fs::create_dir_all(base.join("outside")).unwrap();
        std::fs::write(base.join("root/real/f"), "inside").unwrap();
        std::fs::write(base.join("outside/f"), "SECRET").unwrap();
        symlink("../outside", base.join("root/link")).unwrap();
        let root = File::open(base.join("root")).unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let swapper = {
            let (stop, dir) = (Arc::clone(&stop), base.join("root"));
            std::thread::spawn(move || {
                let mut swaps = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    for from in ["real", "link"] {
                        if std::fs::rename(dir.join(from), dir.join("d")).is_ok() {
                            let _ = std::fs::rename(dir.join("d"), dir.join(from));
                            swaps += 1;
                        }
                    }
                }
                swaps
            })
        };
        let mut inside = 0;
        for i in 0..100_000 {
            if let Ok(text) = read(&root, "d/f", Resolver::Walk) {
                assert_eq!(text, "inside", "open {i} leaked");
                inside += 1;
            }
        }
        stop.store(true, Ordering::Relaxed);
        let swaps = swapper.join().unwrap();
        assert!(swaps > 1000 && inside > 0, "{swaps} swaps, {inside} inside");
        let _ = std::fs::remove_dir_all(&base);
    }
}
