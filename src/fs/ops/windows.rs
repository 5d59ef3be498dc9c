//! What the blocking file operations do differently on Windows: std's calls on Windows handles,
//! opened and checked as libuv does (`src/win/fs.c`).

use std::collections::hash_map::RandomState;
use std::fs::{self, File, OpenOptions};
use std::hash::BuildHasher;
use std::io;
use std::os::windows::fs::{FileExt, OpenOptionsExt, symlink_dir, symlink_file};
use std::path::{Path, PathBuf};

use super::{mkdtemp_error, retry_interrupted};
use crate::fs::error::{FsTarget, annotate, annotate_as, at_fd, at_pair, at_path, file_target};
use crate::fs::flags::AccessMode;

/// `FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE`.
const SHARE_ALL: u32 = 0x1 | 0x2 | 0x4;
/// `FILE_FLAG_BACKUP_SEMANTICS`: lets `CreateFileW` open a directory.
const BACKUP_SEMANTICS: u32 = 0x0200_0000;
/// `ERROR_ACCESS_DENIED`.
const ACCESS_DENIED: i32 = 5;

/// Opens as libuv does: shared for reading, writing and deleting, so that an open file can be
/// renamed or unlinked as on Unix (std shares read and write only), and with backup semantics so
/// that a directory opens too (for `fstat`).
pub(crate) fn share_as_libuv(options: &mut OpenOptions) {
    options.share_mode(SHARE_ALL).custom_flags(BACKUP_SEMANTICS);
}

/// Reads up to `buf.len()` bytes at `offset` (`ReadFile` with an offset). The handle's own
/// position moves on Windows, but no evloop operation uses it: every read and write names its
/// offset. A short count is not an error; 0 means end of file.
pub(crate) fn read_at(file: &File, buf: &mut [u8], offset: u64) -> io::Result<usize> {
    retry_interrupted(|| file.seek_read(buf, offset))
        .map_err(|err| read_error(file, file_target(file), err))
}

/// Writes up to `buf.len()` bytes at `offset` (`WriteFile` with an offset); with append-only
/// access (`OpenFlags::APPEND`) Windows writes at the end whatever the offset, as Linux does.
pub(crate) fn write_at(file: &File, buf: &[u8], offset: u64) -> io::Result<usize> {
    retry_interrupted(|| file.seek_write(buf, offset)).map_err(at_fd("write", file))
}

/// A read error, named: on a directory handle with the kind Unix reports, `IsADirectory`
/// (Node's `EISDIR`; Windows says "invalid function"), the OS error kept as the source.
pub(crate) fn read_error(file: &File, target: FsTarget, err: io::Error) -> io::Error {
    let kind = if file.metadata().is_ok_and(|meta| meta.is_dir()) {
        io::ErrorKind::IsADirectory
    } else {
        err.kind()
    };
    annotate_as(kind, "read", target, err)
}

/// Creates a symlink at `link` whose contents are `target`. Windows has two kinds: as Node, a
/// directory link when `target` (relative to the link's directory) is a directory now, else a
/// file link. Creating one needs the privilege or developer mode; without it the error is
/// `PermissionDenied`.
pub(crate) fn symlink(target: &Path, link: &Path) -> io::Result<()> {
    let resolved = match link.parent() {
        Some(dir) if target.is_relative() => dir.join(target),
        _ => target.to_path_buf(),
    };
    let made = if resolved.is_dir() {
        symlink_dir(target, link)
    } else {
        symlink_file(target, link)
    };
    made.map_err(at_pair("symlink", target, link))
}

/// Checks `path` as libuv's `uv_fs_access` does on Windows: it must exist, and `WRITE` fails with
/// `PermissionDenied` on a file (not a directory) with the read-only attribute. Windows' ACLs are
/// not consulted (nor are they by libuv).
pub(crate) fn access(path: &Path, mode: AccessMode) -> io::Result<()> {
    let meta = fs::metadata(path).map_err(at_path("access", path))?;
    let wants_write = mode.bits() & AccessMode::WRITE.bits() != 0;
    if wants_write && meta.permissions().readonly() && !meta.is_dir() {
        let err = io::Error::from_raw_os_error(ACCESS_DENIED);
        return Err(annotate("access", FsTarget::Path(path.to_path_buf()), err));
    }
    Ok(())
}

/// Creates a new directory named `prefix` plus six random characters and returns its path
/// (libuv's `uv_fs_mkdtemp` on Windows: random names until `CreateDirectoryW` makes a new one).
/// The directory gets its parent's permissions (Windows has no mode 0700).
pub(crate) fn mkdtemp(prefix: &Path) -> io::Result<PathBuf> {
    const CHARS: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    const ATTEMPTS: u32 = 100;
    // std's hasher keys come from the OS's random source, once per thread, then count up.
    let random = RandomState::new();
    for attempt in 0..ATTEMPTS {
        let mut bits = random.hash_one(attempt);
        let mut name = prefix.as_os_str().to_owned();
        let suffix: String = (0..6)
            .map(|_| {
                let c = CHARS[(bits % CHARS.len() as u64) as usize];
                bits /= CHARS.len() as u64;
                char::from(c)
            })
            .collect();
        name.push(suffix);
        match fs::create_dir(&name) {
            Ok(()) => return Ok(name.into()),
            Err(err) if err.kind() == io::ErrorKind::AlreadyExists => {}
            Err(err) => return Err(mkdtemp_error(prefix, err)),
        }
    }
    let err = io::Error::new(
        io::ErrorKind::AlreadyExists,
        format!("{ATTEMPTS} random names were all taken"),
    );
    Err(mkdtemp_error(prefix, err))
}
