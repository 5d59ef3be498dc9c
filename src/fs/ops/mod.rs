//! Blocking file operations: what the loop's file API runs on the pool.
//!
//! Plain functions over std (and `sys` where std has no call). They block, so the loop only ever
//! calls them from a pool job. On Windows they are std's calls on Windows handles (`windows.rs`
//! holds what differs); the Unix-only ones (`chmod`, modes) do not exist there. Every error keeps the OS error's kind and code and names the
//! operation and path, e.g. `No such file or directory (os error 2): open '/tmp/x'`; operations
//! are named after the system call or libuv request, as Node names them in its errors. See
//! `fs_error` for how the errno stays queryable.

// Unix only: they check modes and the C library's messages; tests/fs_ops.rs runs on both.
#[cfg(all(test, unix))]
mod tests;
#[cfg(windows)]
mod windows;

use std::fs::{self, DirBuilder, File, OpenOptions};
use std::io::{self, Read, Write};
#[cfg(unix)]
use std::os::fd::OwnedFd;
#[cfg(unix)]
use std::os::unix::fs::{DirBuilderExt, FileExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::fs::error::{FsTarget, annotate, at_fd, at_pair, at_path, file_target};
#[cfg(unix)]
use crate::fs::flags::AccessMode;
use crate::fs::flags::OpenFlags;
use crate::fs::metadata::{DirEntry, FileKind, Metadata};
#[cfg(unix)]
use crate::sys;
#[cfg(windows)]
pub(crate) use windows::{access, mkdtemp, read_at, symlink, write_at};

/// Opens `path` as `flags` say.
pub(crate) fn open(path: &Path, flags: OpenFlags) -> io::Result<File> {
    let mut options = OpenOptions::new();
    options
        .read(flags.read)
        .write(flags.write)
        .append(flags.append)
        .truncate(flags.truncate)
        .create(flags.create)
        .create_new(flags.create_new);
    #[cfg(unix)]
    options.mode(flags.mode).custom_flags(flags.custom_flags);
    #[cfg(windows)]
    windows::share_as_libuv(&mut options);
    options.open(path).map_err(at_path("open", path))
}

/// Reads up to `buf.len()` bytes at `offset` (`pread`), without moving the file position. One
/// call: a short count is not an error; 0 means end of file.
#[cfg(unix)]
pub(crate) fn read_at(file: &File, buf: &mut [u8], offset: u64) -> io::Result<usize> {
    retry_interrupted(|| file.read_at(buf, offset)).map_err(at_fd("read", file))
}

/// Writes up to `buf.len()` bytes at `offset` (`pwrite`); returns how many were written.
#[cfg(unix)]
pub(crate) fn write_at(file: &File, buf: &[u8], offset: u64) -> io::Result<usize> {
    retry_interrupted(|| file.write_at(buf, offset)).map_err(at_fd("write", file))
}

/// Reads `len` bytes at `offset`, fewer only at end of file (repeated `pread`s). The buffer grows
/// as data arrives, so a huge `len` on a small file costs only what is read.
pub(crate) fn read_up_to(file: &File, offset: u64, len: usize) -> io::Result<Vec<u8>> {
    const FIRST_CHUNK: usize = 64 * 1024;
    let mut buf = vec![0; len.min(FIRST_CHUNK)];
    let mut filled = 0;
    while filled < len {
        if filled == buf.len() {
            let grown = buf.len().saturating_mul(2).min(len);
            buf.resize(grown, 0);
        }
        let n = read_at(file, &mut buf[filled..], offset + filled as u64)?;
        if n == 0 {
            break;
        }
        filled += n;
    }
    buf.truncate(filled);
    Ok(buf)
}

/// Writes all of `data` at `offset` (repeated `pwrite`s); returns `data.len()`.
pub(crate) fn write_all_at(file: &File, data: &[u8], offset: u64) -> io::Result<usize> {
    let mut written = 0;
    while written < data.len() {
        match write_at(file, &data[written..], offset + written as u64)? {
            0 => {
                let err = io::Error::from(io::ErrorKind::WriteZero);
                return Err(annotate("write", file_target(file), err));
            }
            n => written += n,
        }
    }
    Ok(written)
}

/// Closes the loop's handle on an open file. If this was the last reference the descriptor is
/// closed here and a failure reported (`close(2)` can report a delayed write error, e.g. on
/// NFS); otherwise requests still running on the file hold it open, and the last of them
/// closes it when it ends.
pub(crate) fn close(file: Arc<File>) -> io::Result<()> {
    match Arc::try_unwrap(file) {
        Ok(file) => {
            let fail = at_fd("close", &file);
            #[cfg(unix)]
            let closed = sys::close(OwnedFd::from(file));
            #[cfg(windows)]
            let closed = crate::sys::windows::close_handle(file.into());
            closed.map_err(fail)
        }
        Err(_shared) => Ok(()),
    }
}

/// The whole contents of `path`.
pub(crate) fn read_file(path: &Path) -> io::Result<Vec<u8>> {
    let mut file = open(path, OpenFlags::READ)?;
    let mut contents = Vec::new();
    let read = file.read_to_end(&mut contents);
    #[cfg(unix)]
    read.map_err(at_path("read", path))?;
    #[cfg(windows)]
    read.map_err(|err| windows::read_error(&file, FsTarget::Path(path.to_path_buf()), err))?;
    Ok(contents)
}

/// Replaces the contents of `path` with `data`, creating it as `flags` say
/// ([`OpenFlags::WRITE`], perhaps with another mode) if missing.
pub(crate) fn write_file(path: &Path, data: &[u8], flags: OpenFlags) -> io::Result<()> {
    let mut file = open(path, flags)?;
    file.write_all(data).map_err(at_path("write", path))
}

/// Appends `data` to `path`, creating it as `flags` say ([`OpenFlags::APPEND`], perhaps with
/// another mode) if missing.
pub(crate) fn append(path: &Path, data: &[u8], flags: OpenFlags) -> io::Result<()> {
    let mut file = open(path, flags)?;
    file.write_all(data).map_err(at_path("write", path))
}

/// Metadata of `path`, following symlinks.
pub(crate) fn stat(path: &Path) -> io::Result<Metadata> {
    fs::metadata(path)
        .map(|meta| Metadata::from(&meta))
        .map_err(at_path("stat", path))
}

/// Metadata of `path` itself, not following a final symlink.
pub(crate) fn lstat(path: &Path) -> io::Result<Metadata> {
    fs::symlink_metadata(path)
        .map(|meta| Metadata::from(&meta))
        .map_err(at_path("lstat", path))
}

/// Metadata of an open file.
pub(crate) fn fstat(file: &File) -> io::Result<Metadata> {
    file.metadata()
        .map(|meta| Metadata::from(&meta))
        .map_err(at_fd("fstat", file))
}

/// The entries of directory `path`, sorted by name (libuv's scandir sorts too), without `.` and
/// `..`. An entry removed while we list is left out rather than failing the whole listing.
pub(crate) fn readdir(path: &Path) -> io::Result<Vec<DirEntry>> {
    let fail = |err| annotate("scandir", FsTarget::Path(path.to_path_buf()), err);
    let mut entries = Vec::new();
    for entry in fs::read_dir(path).map_err(fail)? {
        let entry = entry.map_err(fail)?;
        let kind = match entry.file_type() {
            Ok(file_type) => FileKind::from_file_type(file_type),
            Err(err) if err.kind() == io::ErrorKind::NotFound => continue,
            Err(err) => return Err(fail(err)),
        };
        entries.push(DirEntry {
            name: entry.file_name(),
            kind,
        });
    }
    entries.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(entries)
}

/// Creates directory `path` with `mode` (before the umask; Unix only). With `recursive`, creates
/// missing parents too and succeeds if the directory already exists (Node's
/// `{ recursive: true }`).
pub(crate) fn mkdir(path: &Path, #[cfg(unix)] mode: u32, recursive: bool) -> io::Result<()> {
    let mut builder = DirBuilder::new();
    builder.recursive(recursive);
    #[cfg(unix)]
    builder.mode(mode);
    builder.create(path).map_err(at_path("mkdir", path))
}

/// Removes the empty directory `path`.
pub(crate) fn rmdir(path: &Path) -> io::Result<()> {
    fs::remove_dir(path).map_err(at_path("rmdir", path))
}

/// Removes the file (or symlink) `path`.
pub(crate) fn unlink(path: &Path) -> io::Result<()> {
    fs::remove_file(path).map_err(at_path("unlink", path))
}

/// Renames `from` to `to`, replacing `to` if it exists (on the same file system).
pub(crate) fn rename(from: &Path, to: &Path) -> io::Result<()> {
    fs::rename(from, to).map_err(at_pair("rename", from, to))
}

/// Copies the contents and permissions of `from` to `to` (in the kernel where it can); returns
/// the number of bytes copied.
pub(crate) fn copy_file(from: &Path, to: &Path) -> io::Result<u64> {
    let copied = fs::copy(from, to).map_err(at_pair("copyfile", from, to))?;
    // std counts on Windows through `CopyFileExW`'s progress callback, which not every
    // implementation calls (wine's does not, and reports 0): the copy's length is the count.
    #[cfg(windows)]
    let copied = fs::metadata(to)
        .map_err(at_path("stat", to))?
        .len()
        .max(copied);
    Ok(copied)
}

/// Flushes the file's data and metadata to the device (`fsync`).
pub(crate) fn fsync(file: &File) -> io::Result<()> {
    file.sync_all().map_err(at_fd("fsync", file))
}

/// Flushes the file's data, and only the metadata needed to read it back (`fdatasync`).
pub(crate) fn fdatasync(file: &File) -> io::Result<()> {
    file.sync_data().map_err(at_fd("fdatasync", file))
}

/// Sets the file's length, cutting or zero-extending it (`ftruncate`).
pub(crate) fn ftruncate(file: &File, len: u64) -> io::Result<()> {
    file.set_len(len).map_err(at_fd("ftruncate", file))
}

/// Creates a symlink at `link` whose contents are `target` (not checked to exist).
#[cfg(unix)]
pub(crate) fn symlink(target: &Path, link: &Path) -> io::Result<()> {
    std::os::unix::fs::symlink(target, link).map_err(at_pair("symlink", target, link))
}

/// The contents of symlink `path`.
pub(crate) fn readlink(path: &Path) -> io::Result<PathBuf> {
    fs::read_link(path).map_err(at_path("readlink", path))
}

/// The absolute path of `path` with every symlink, `.` and `..` resolved (`realpath`).
pub(crate) fn realpath(path: &Path) -> io::Result<PathBuf> {
    fs::canonicalize(path).map_err(at_path("realpath", path))
}

/// Sets the permission bits of `path` (following symlinks).
#[cfg(unix)]
pub(crate) fn chmod(path: &Path, mode: u32) -> io::Result<()> {
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).map_err(at_path("chmod", path))
}

/// Checks that the caller may access `path` as `mode` asks (real ids, as `access(2)`).
#[cfg(unix)]
pub(crate) fn access(path: &Path, mode: AccessMode) -> io::Result<()> {
    sys::access(path, mode.bits()).map_err(at_path("access", path))
}

/// Whether `path` exists (following symlinks). `Ok(false)` only when it is known not to exist;
/// other failures, such as a permission error on a parent, are errors.
pub(crate) fn exists(path: &Path) -> io::Result<bool> {
    fs::exists(path).map_err(at_path("stat", path))
}

/// Creates a new directory named `prefix` plus six random characters, mode 0700, and returns its
/// path (`mkdtemp`). `prefix` is a path prefix, e.g. `/tmp/app-`.
#[cfg(unix)]
pub(crate) fn mkdtemp(prefix: &Path) -> io::Result<PathBuf> {
    sys::mkdtemp(prefix).map_err(|err| mkdtemp_error(prefix, err))
}

/// A `mkdtemp` error, naming the template (`prefix` + `XXXXXX`) as libuv does.
fn mkdtemp_error(prefix: &Path, err: io::Error) -> io::Error {
    let mut template = prefix.as_os_str().to_owned();
    template.push("XXXXXX");
    annotate("mkdtemp", FsTarget::Path(template.into()), err)
}

/// Runs `call` again while it fails with `Interrupted` (a signal arrived mid-call).
fn retry_interrupted<T>(mut call: impl FnMut() -> io::Result<T>) -> io::Result<T> {
    loop {
        match call() {
            Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
            result => return result,
        }
    }
}
