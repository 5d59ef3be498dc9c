//! What `stat` and `readdir` report about a file, as plain owned values that cross threads.

use std::ffi::OsString;
use std::fs;
#[cfg(unix)]
use std::os::unix::fs::MetadataExt;
#[cfg(windows)]
use std::os::windows::fs::MetadataExt;
#[cfg(unix)]
use std::time::Duration;
use std::time::SystemTime;

/// The type of a file, as far as evloop's file API distinguishes them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum FileKind {
    /// A regular file.
    File,
    /// A directory.
    Dir,
    /// A symbolic link (only from `lstat` and `readdir`; `stat` follows links).
    Symlink,
    /// A device, FIFO or socket.
    Other,
}

impl FileKind {
    /// The kind of a `std::fs::FileType`.
    pub(crate) fn from_file_type(file_type: fs::FileType) -> Self {
        if file_type.is_file() {
            Self::File
        } else if file_type.is_dir() {
            Self::Dir
        } else if file_type.is_symlink() {
            Self::Symlink
        } else {
            Self::Other
        }
    }
}

/// The result of [`fs::stat`](crate::fs::stat), [`fs::lstat`](crate::fs::lstat) and
/// [`File::fstat`](crate::fs::File::fstat) (libuv's `uv_stat_t`).
///
/// On Windows only what std reports there exists: the kind, length, times and the file
/// attributes; the Unix fields (mode, owner, inode, device, links, blocks, `st_ctime`) are
/// absent at compile time rather than filled with made-up values.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Metadata {
    /// The file type.
    pub kind: FileKind,
    /// `st_mode`: the type bits and the permission bits (`mode & 0o7777`). Unix only.
    #[cfg(unix)]
    pub mode: u32,
    /// The size in bytes (`st_size`): the file's length, a symlink's target length.
    pub len: u64,
    /// The space allocated, in 512-byte blocks (`st_blocks`); smaller than `len` for sparse
    /// files. Unix only.
    #[cfg(unix)]
    pub blocks: u64,
    /// The preferred I/O block size (`st_blksize`). Unix only.
    #[cfg(unix)]
    pub block_size: u64,
    /// Last access (`st_atime`).
    pub accessed: SystemTime,
    /// Last modification of the contents (`st_mtime`).
    pub modified: SystemTime,
    /// Last status change: contents, mode, owner, links (`st_ctime`). Unix only.
    #[cfg(unix)]
    pub changed: SystemTime,
    /// Creation time, where the file system and kernel report it (`statx` birth time; always
    /// on Windows).
    pub created: Option<SystemTime>,
    /// The device holding the file (`st_dev`). Unix only.
    #[cfg(unix)]
    pub dev: u64,
    /// The inode number (`st_ino`). Unix only.
    #[cfg(unix)]
    pub ino: u64,
    /// The number of hard links (`st_nlink`). Unix only.
    #[cfg(unix)]
    pub nlink: u64,
    /// The owner's user id. Unix only.
    #[cfg(unix)]
    pub uid: u32,
    /// The owner's group id. Unix only.
    #[cfg(unix)]
    pub gid: u32,
    /// The device id, for device files (`st_rdev`). Unix only.
    #[cfg(unix)]
    pub rdev: u64,
    /// The file's attributes (`FILE_ATTRIBUTE_*`: read-only `0x1`, hidden `0x2`, directory
    /// `0x10`, reparse point `0x400`...). Windows only.
    #[cfg(windows)]
    pub attributes: u32,
}

impl Metadata {
    /// The permission bits, `mode & 0o7777` (what `chmod` sets). Unix only.
    #[cfg(unix)]
    pub fn permissions(&self) -> u32 {
        self.mode & 0o7777
    }

    /// Whether this is a regular file.
    pub fn is_file(&self) -> bool {
        self.kind == FileKind::File
    }

    /// Whether this is a directory.
    pub fn is_dir(&self) -> bool {
        self.kind == FileKind::Dir
    }

    /// Whether this is a symbolic link (only `lstat` reports links).
    pub fn is_symlink(&self) -> bool {
        self.kind == FileKind::Symlink
    }

    /// Whether the file has the read-only attribute (what [`fs::access`](crate::fs::access)
    /// checks for `WRITE`). Windows only.
    #[cfg(windows)]
    pub fn is_readonly(&self) -> bool {
        self.attributes & READONLY_ATTRIBUTE != 0
    }
}

/// `FILE_ATTRIBUTE_READONLY`.
#[cfg(windows)]
pub(crate) const READONLY_ATTRIBUTE: u32 = 0x1;

#[cfg(unix)]
impl From<&fs::Metadata> for Metadata {
    fn from(meta: &fs::Metadata) -> Self {
        Self {
            kind: FileKind::from_file_type(meta.file_type()),
            mode: meta.mode(),
            len: meta.size(),
            blocks: meta.blocks(),
            block_size: meta.blksize(),
            accessed: system_time(meta.atime(), meta.atime_nsec()),
            modified: system_time(meta.mtime(), meta.mtime_nsec()),
            changed: system_time(meta.ctime(), meta.ctime_nsec()),
            created: meta.created().ok(),
            dev: meta.dev(),
            ino: meta.ino(),
            nlink: meta.nlink(),
            uid: meta.uid(),
            gid: meta.gid(),
            rdev: meta.rdev(),
        }
    }
}

#[cfg(windows)]
impl From<&fs::Metadata> for Metadata {
    fn from(meta: &fs::Metadata) -> Self {
        // std reads all three times from the same FILETIMEs on Windows; they cannot be missing.
        let time = |t: std::io::Result<SystemTime>| t.unwrap_or(SystemTime::UNIX_EPOCH);
        Self {
            kind: FileKind::from_file_type(meta.file_type()),
            len: meta.len(),
            accessed: time(meta.accessed()),
            modified: time(meta.modified()),
            created: meta.created().ok(),
            attributes: meta.file_attributes(),
        }
    }
}

/// One entry of a directory listing from [`fs::readdir`](crate::fs::readdir).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct DirEntry {
    /// The entry's file name (not a path; never `.` or `..`).
    pub name: OsString,
    /// The entry's type, without following a symlink.
    pub kind: FileKind,
}

/// A `stat` timestamp (seconds and nanoseconds since the epoch, either side of it) as `SystemTime`.
#[cfg(unix)]
fn system_time(secs: i64, nanos: i64) -> SystemTime {
    // The kernel keeps nanos in 0..1e9 even before 1970, so only the seconds carry the sign.
    let nanos = Duration::from_nanos(nanos.clamp(0, 999_999_999).unsigned_abs());
    let whole = Duration::from_secs(secs.unsigned_abs());
    let at_second = if secs >= 0 {
        SystemTime::UNIX_EPOCH.checked_add(whole)
    } else {
        SystemTime::UNIX_EPOCH.checked_sub(whole)
    };
    at_second
        .and_then(|t| t.checked_add(nanos))
        .unwrap_or(SystemTime::UNIX_EPOCH)
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    #[test]
    fn timestamps_convert_on_both_sides_of_the_epoch() {
        let after = SystemTime::UNIX_EPOCH + Duration::new(1_700_000_000, 5);
        assert_eq!(system_time(1_700_000_000, 5), after);
        let before = SystemTime::UNIX_EPOCH - Duration::from_secs(2) + Duration::from_nanos(250);
        assert_eq!(system_time(-2, 250), before);
        assert_eq!(system_time(0, 0), SystemTime::UNIX_EPOCH);
    }

    #[test]
    fn metadata_matches_std_for_a_directory() {
        let meta = fs::metadata("/").expect("/ exists");
        let ours = Metadata::from(&meta);
        assert_eq!(ours.kind, FileKind::Dir);
        assert_eq!(
            (ours.ino, ours.dev, ours.len),
            (meta.ino(), meta.dev(), meta.len())
        );
        assert_eq!(Some(ours.modified), meta.modified().ok());
        assert_eq!(ours.permissions(), meta.mode() & 0o7777);
    }

    #[test]
    fn devices_are_other() {
        let null = fs::metadata("/dev/null").expect("/dev/null exists");
        assert_eq!(FileKind::from_file_type(null.file_type()), FileKind::Other);
    }
}
