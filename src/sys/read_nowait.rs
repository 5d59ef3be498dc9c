//! Reading a file only from the page cache: `preadv2` with `RWF_NOWAIT` (Linux 4.14+), which
//! answers `EAGAIN` instead of waiting for a disk. What an event loop's thread may do with a
//! file it would otherwise have to read on a pool thread.

use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, Ordering};

/// Cleared once the kernel is found without `preadv2`, so later calls say `WouldBlock` at once
/// instead of making a syscall that fails.
static NOWAIT: AtomicBool = AtomicBool::new(true);

/// Reads into `buf` from `offset` what the page cache holds, without waiting for I/O. Returns
/// the bytes read (fewer than asked when only part is cached, `0` at the end of the file), or
/// `WouldBlock` when nothing could be read without waiting (or the kernel cannot promise not
/// to wait for this file).
pub(crate) fn read_at_nowait(file: &File, buf: &mut [u8], offset: u64) -> io::Result<usize> {
    if !NOWAIT.load(Ordering::Relaxed) {
        return Err(io::ErrorKind::WouldBlock.into());
    }
    let off = libc::off_t::try_from(offset)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "file offset too large"))?;
    let iov = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    loop {
        // SAFETY: `iov` describes `buf`, writable and alive for the call; one iovec is passed;
        // the file descriptor is borrowed from `file`, open for the call.
        let r = unsafe { libc::preadv2(file.as_raw_fd(), &iov, 1, off, libc::RWF_NOWAIT) };
        match syscall!(r) {
            Ok(n) => return Ok(n as usize),
            Err(e) if e.raw_os_error() == Some(libc::EINTR) => {}
            // No preadv2 at all (a seccomp filter, an old libc's emulation): never ask again.
            Err(e) if e.raw_os_error() == Some(libc::ENOSYS) => {
                NOWAIT.store(false, Ordering::Relaxed);
                return Err(io::ErrorKind::WouldBlock.into());
            }
            // This file cannot promise not to wait (EOPNOTSUPP: a kernel before 4.14, a file
            // system or file kind without the support, such as a directory), or refuses the
            // call: per file, so only this read goes the slow way.
            Err(e) if matches!(e.raw_os_error(), Some(libc::EOPNOTSUPP | libc::EINVAL)) => {
                return Err(io::ErrorKind::WouldBlock.into());
            }
            Err(e) => return Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    #[test]
    fn reads_a_cached_file_and_zero_at_its_end() {
        let dir =
            crate::sys::mkdtemp(&std::env::temp_dir().join("evloop-nowait-")).expect("a temp dir");
        let path = dir.join("f");
        std::fs::File::create(&path)
            .and_then(|mut f| f.write_all(b"0123456789"))
            .expect("write the file");
        let file = File::open(&path).expect("open it");
        let mut buf = [0u8; 16];
        // Just written, so in the page cache; a kernel or file system without RWF_NOWAIT
        // says WouldBlock, never anything else.
        let supported = match read_at_nowait(&file, &mut buf, 3) {
            Ok(n) => {
                assert_eq!(&buf[..n], b"3456789");
                assert_eq!(read_at_nowait(&file, &mut buf, 10).expect("at EOF"), 0);
                true
            }
            Err(e) => {
                assert_eq!(e.kind(), io::ErrorKind::WouldBlock, "{e}");
                false
            }
        };
        // A directory cannot promise anything: WouldBlock for it, and the next file is read
        // as before (one file's refusal is not the kernel's).
        let d = File::open(&dir).expect("open the directory");
        let e = read_at_nowait(&d, &mut buf, 0).expect_err("a directory");
        assert_eq!(e.kind(), io::ErrorKind::WouldBlock, "{e}");
        if supported {
            let n = read_at_nowait(&file, &mut buf, 0).expect("the file after the directory");
            assert_eq!(&buf[..n], b"0123456789");
        }
        std::fs::remove_dir_all(dir).expect("cleanup");
    }
}
