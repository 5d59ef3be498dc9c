//! File operations named by path: each queues one file job and calls back with its result.

use std::io;
use std::panic::Location;
use std::path::{Path, PathBuf};

use super::{File, MkdirOptions, submit};
use crate::event_loop::Loop;
use crate::fs::flags::{AccessMode, OpenFlags};
use crate::fs::metadata::{DirEntry, Metadata};
use crate::fs::ops;
use crate::pool::work::Work;

/// Opens `path` as `flags` say and calls back with a [`File`] id (libuv `uv_fs_open`).
#[track_caller]
pub fn open(
    lp: &mut Loop,
    path: impl AsRef<Path>,
    flags: OpenFlags,
    cb: impl FnOnce(&mut Loop, io::Result<File>) + 'static,
) -> Work {
    let path = path.as_ref().to_path_buf();
    let job = move || ops::open(&path, flags);
    submit(lp, Location::caller(), job, move |lp, opened| {
        let opened = opened.map(|file| lp.files_mut().insert(file));
        cb(lp, opened);
    })
}

/// Reads the whole file at `path` (Node `fs.readFile`).
#[track_caller]
pub fn read_file(
    lp: &mut Loop,
    path: impl AsRef<Path>,
    cb: impl FnOnce(&mut Loop, io::Result<Vec<u8>>) + 'static,
) -> Work {
    let path = path.as_ref().to_path_buf();
    submit(lp, Location::caller(), move || ops::read_file(&path), cb)
}

/// Replaces the contents of `path` with `data`, creating the file (mode `0o666` before the
/// umask) if missing (Node `fs.writeFile`). `data` moves to the worker without a copy: a
/// `Vec<u8>`, `String`, `&'static str`, `Arc<[u8]>`…
#[track_caller]
pub fn write_file(
    lp: &mut Loop,
    path: impl AsRef<Path>,
    data: impl AsRef<[u8]> + Send + 'static,
    cb: impl FnOnce(&mut Loop, io::Result<()>) + 'static,
) -> Work {
    let path = path.as_ref().to_path_buf();
    // Mode 0o666 before the umask on Unix, as Node (OpenFlags::WRITE's mode).
    let job = move || ops::write_file(&path, data.as_ref(), OpenFlags::WRITE);
    submit(lp, Location::caller(), job, cb)
}

/// Appends `data` to `path`, creating the file if missing (Node `fs.appendFile`).
#[track_caller]
pub fn append(
    lp: &mut Loop,
    path: impl AsRef<Path>,
    data: impl AsRef<[u8]> + Send + 'static,
    cb: impl FnOnce(&mut Loop, io::Result<()>) + 'static,
) -> Work {
    let path = path.as_ref().to_path_buf();
    let job = move || ops::append(&path, data.as_ref(), OpenFlags::APPEND);
    submit(lp, Location::caller(), job, cb)
}

/// Metadata of `path`, following symlinks (libuv `uv_fs_stat`).
#[track_caller]
pub fn stat(
    lp: &mut Loop,
    path: impl AsRef<Path>,
    cb: impl FnOnce(&mut Loop, io::Result<Metadata>) + 'static,
) -> Work {
    let path = path.as_ref().to_path_buf();
    submit(lp, Location::caller(), move || ops::stat(&path), cb)
}

/// Metadata of `path` itself, not following a final symlink (libuv `uv_fs_lstat`).
#[track_caller]
pub fn lstat(
    lp: &mut Loop,
    path: impl AsRef<Path>,
    cb: impl FnOnce(&mut Loop, io::Result<Metadata>) + 'static,
) -> Work {
    let path = path.as_ref().to_path_buf();
    submit(lp, Location::caller(), move || ops::lstat(&path), cb)
}

/// The entries of directory `path`, sorted by name, without `.` and `..` (libuv
/// `uv_fs_scandir`).
#[track_caller]
pub fn readdir(
    lp: &mut Loop,
    path: impl AsRef<Path>,
    cb: impl FnOnce(&mut Loop, io::Result<Vec<DirEntry>>) + 'static,
) -> Work {
    let path = path.as_ref().to_path_buf();
    submit(lp, Location::caller(), move || ops::readdir(&path), cb)
}

/// Creates directory `path` as `options` say (libuv `uv_fs_mkdir`; recursive as Node).
#[track_caller]
pub fn mkdir(
    lp: &mut Loop,
    path: impl AsRef<Path>,
    options: MkdirOptions,
    cb: impl FnOnce(&mut Loop, io::Result<()>) + 'static,
) -> Work {
    let path = path.as_ref().to_path_buf();
    #[cfg(unix)]
    let job = move || ops::mkdir(&path, options.mode, options.recursive);
    #[cfg(windows)]
    let job = move || ops::mkdir(&path, options.recursive);
    submit(lp, Location::caller(), job, cb)
}

/// Removes the empty directory `path`.
#[track_caller]
pub fn rmdir(
    lp: &mut Loop,
    path: impl AsRef<Path>,
    cb: impl FnOnce(&mut Loop, io::Result<()>) + 'static,
) -> Work {
    let path = path.as_ref().to_path_buf();
    submit(lp, Location::caller(), move || ops::rmdir(&path), cb)
}

/// Removes the file or symlink `path`.
#[track_caller]
pub fn unlink(
    lp: &mut Loop,
    path: impl AsRef<Path>,
    cb: impl FnOnce(&mut Loop, io::Result<()>) + 'static,
) -> Work {
    let path = path.as_ref().to_path_buf();
    submit(lp, Location::caller(), move || ops::unlink(&path), cb)
}

/// Renames `from` to `to`, replacing `to` if it exists (within one file system).
#[track_caller]
pub fn rename(
    lp: &mut Loop,
    from: impl AsRef<Path>,
    to: impl AsRef<Path>,
    cb: impl FnOnce(&mut Loop, io::Result<()>) + 'static,
) -> Work {
    let (from, to) = (from.as_ref().to_path_buf(), to.as_ref().to_path_buf());
    submit(lp, Location::caller(), move || ops::rename(&from, &to), cb)
}

/// Copies the contents and permissions of `from` to `to`; calls back with the bytes copied.
#[track_caller]
pub fn copy_file(
    lp: &mut Loop,
    from: impl AsRef<Path>,
    to: impl AsRef<Path>,
    cb: impl FnOnce(&mut Loop, io::Result<u64>) + 'static,
) -> Work {
    let (from, to) = (from.as_ref().to_path_buf(), to.as_ref().to_path_buf());
    submit(
        lp,
        Location::caller(),
        move || ops::copy_file(&from, &to),
        cb,
    )
}

/// Creates a symlink at `link` whose contents are `target` (which need not exist). On Windows,
/// as Node, a directory link if `target` is a directory now, else a file link; creating one
/// needs the symlink privilege or developer mode (else `PermissionDenied`).
#[track_caller]
pub fn symlink(
    lp: &mut Loop,
    target: impl AsRef<Path>,
    link: impl AsRef<Path>,
    cb: impl FnOnce(&mut Loop, io::Result<()>) + 'static,
) -> Work {
    let (target, link) = (target.as_ref().to_path_buf(), link.as_ref().to_path_buf());
    submit(
        lp,
        Location::caller(),
        move || ops::symlink(&target, &link),
        cb,
    )
}

/// The contents of symlink `path`.
#[track_caller]
pub fn readlink(
    lp: &mut Loop,
    path: impl AsRef<Path>,
    cb: impl FnOnce(&mut Loop, io::Result<PathBuf>) + 'static,
) -> Work {
    let path = path.as_ref().to_path_buf();
    submit(lp, Location::caller(), move || ops::readlink(&path), cb)
}

/// The absolute path of `path` with every symlink, `.` and `..` resolved.
#[track_caller]
pub fn realpath(
    lp: &mut Loop,
    path: impl AsRef<Path>,
    cb: impl FnOnce(&mut Loop, io::Result<PathBuf>) + 'static,
) -> Work {
    let path = path.as_ref().to_path_buf();
    submit(lp, Location::caller(), move || ops::realpath(&path), cb)
}

/// Sets the permission bits of `path` (following symlinks). Unix only: Windows has no
/// permission bits (its read-only attribute is std's `set_permissions`).
#[cfg(unix)]
#[track_caller]
pub fn chmod(
    lp: &mut Loop,
    path: impl AsRef<Path>,
    mode: u32,
    cb: impl FnOnce(&mut Loop, io::Result<()>) + 'static,
) -> Work {
    let path = path.as_ref().to_path_buf();
    submit(lp, Location::caller(), move || ops::chmod(&path, mode), cb)
}

/// Checks that this process may access `path` as `mode` asks (`access(2)`, real ids; on
/// Windows as [`AccessMode`] says).
#[track_caller]
pub fn access(
    lp: &mut Loop,
    path: impl AsRef<Path>,
    mode: AccessMode,
    cb: impl FnOnce(&mut Loop, io::Result<()>) + 'static,
) -> Work {
    let path = path.as_ref().to_path_buf();
    submit(lp, Location::caller(), move || ops::access(&path, mode), cb)
}

/// Whether `path` exists (following symlinks). `Ok(false)` only when it is known not to exist;
/// other failures, such as a permission error on a parent, are errors.
#[track_caller]
pub fn exists(
    lp: &mut Loop,
    path: impl AsRef<Path>,
    cb: impl FnOnce(&mut Loop, io::Result<bool>) + 'static,
) -> Work {
    let path = path.as_ref().to_path_buf();
    submit(lp, Location::caller(), move || ops::exists(&path), cb)
}

/// Creates a new directory named `prefix` plus six random characters, mode `0o700`, and calls
/// back with its path. `prefix` is a path prefix, e.g. `/tmp/app-`. (On Windows the directory
/// gets its parent's permissions: there is no mode.)
#[track_caller]
pub fn mkdtemp(
    lp: &mut Loop,
    prefix: impl AsRef<Path>,
    cb: impl FnOnce(&mut Loop, io::Result<PathBuf>) + 'static,
) -> Work {
    let prefix = prefix.as_ref().to_path_buf();
    submit(lp, Location::caller(), move || ops::mkdtemp(&prefix), cb)
}
