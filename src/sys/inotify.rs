//! inotify: the fd, adding and removing watches, and decoding the event records it reads.

use std::ffi::OsStr;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

pub(crate) use libc::{
    IN_ATTRIB, IN_CLOSE_WRITE, IN_CREATE, IN_DELETE, IN_DELETE_SELF, IN_IGNORED, IN_ISDIR,
    IN_MODIFY, IN_MOVE_SELF, IN_MOVED_FROM, IN_MOVED_TO, IN_Q_OVERFLOW, IN_UNMOUNT,
};

/// `inotify_init1(IN_NONBLOCK | IN_CLOEXEC)`.
pub(crate) fn init() -> io::Result<OwnedFd> {
    // SAFETY: inotify_init1 takes flags and returns a new fd or -1.
    let fd = syscall!(unsafe { libc::inotify_init1(libc::IN_NONBLOCK | libc::IN_CLOEXEC) })?;
    // SAFETY: the fd was just created and only we own it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// `inotify_add_watch`: the watch descriptor for `path`.
pub(crate) fn add_watch(fd: &impl AsRawFd, path: &Path, mask: u32) -> io::Result<i32> {
    let path = super::path_to_cstring(path)?;
    // SAFETY: `path` is NUL-terminated and outlives the call, which only reads it.
    syscall!(unsafe { libc::inotify_add_watch(fd.as_raw_fd(), path.as_ptr(), mask) })
}

/// `inotify_rm_watch`.
pub(crate) fn rm_watch(fd: &impl AsRawFd, wd: i32) -> io::Result<()> {
    // SAFETY: two integers.
    syscall!(unsafe { libc::inotify_rm_watch(fd.as_raw_fd(), wd) })?;
    Ok(())
}

/// One decoded `struct inotify_event`.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct RawEvent<'a> {
    pub(crate) wd: i32,
    pub(crate) mask: u32,
    pub(crate) cookie: u32,
    /// The entry's name inside a watched directory (empty for the watched path itself).
    pub(crate) name: &'a OsStr,
}

/// Decodes the records of one `read` of an inotify fd (a truncated tail is dropped; the kernel
/// never returns one).
pub(crate) fn decode(mut buf: &[u8]) -> Vec<RawEvent<'_>> {
    const HEAD: usize = 16;
    let mut out = Vec::new();
    while buf.len() >= HEAD {
        let word = |i: usize| [buf[i], buf[i + 1], buf[i + 2], buf[i + 3]];
        let wd = i32::from_ne_bytes(word(0));
        let mask = u32::from_ne_bytes(word(4));
        let cookie = u32::from_ne_bytes(word(8));
        let len = u32::from_ne_bytes(word(12)) as usize;
        let Some(name) = buf.get(HEAD..HEAD + len) else {
            break;
        };
        // The name is NUL-padded to an alignment boundary.
        let end = name.iter().position(|b| *b == 0).unwrap_or(name.len());
        out.push(RawEvent {
            wd,
            mask,
            cookie,
            name: OsStr::from_bytes(&name[..end]),
        });
        buf = &buf[HEAD + len..];
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(wd: i32, mask: u32, name: &[u8], pad: usize) -> Vec<u8> {
        let mut v = Vec::new();
        v.extend_from_slice(&wd.to_ne_bytes());
        v.extend_from_slice(&mask.to_ne_bytes());
        v.extend_from_slice(&7u32.to_ne_bytes());
        v.extend_from_slice(&((name.len() + pad) as u32).to_ne_bytes());
        v.extend_from_slice(name);
        v.extend(std::iter::repeat_n(0, pad));
        v
    }

    #[test]
    fn records_decode_with_padded_names_and_a_short_tail_is_dropped() {
        let mut buf = record(1, IN_CREATE, b"abc", 5);
        buf.extend(record(2, IN_DELETE_SELF, b"", 0));
        buf.extend_from_slice(&[1, 2, 3]);
        let events = decode(&buf);
        assert_eq!(events.len(), 2);
        assert_eq!(events[0].wd, 1);
        assert_eq!(events[0].name, "abc");
        assert_eq!(events[0].cookie, 7);
        assert_eq!(events[1].mask, IN_DELETE_SELF);
        assert_eq!(events[1].name, "");
        // A record whose name runs past the end is dropped.
        let mut cut = record(3, IN_CREATE, b"long-name", 0);
        cut.truncate(20);
        assert!(decode(&cut).is_empty());
    }
}
