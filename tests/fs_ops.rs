//! evloop::fs: round trips, large files, errors that name the path, file ids, cancel. On Unix
//! and on Windows (under wine in CI); the Unix-only parts (modes, FIFOs) are marked.
mod util;

use std::cell::RefCell;
use std::io;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::Arc;
#[cfg(unix)]
use std::sync::Barrier;

use evloop::fs::{self, FileKind, MkdirOptions, OpenFlags};
use evloop::{Error, Loop, Work};
use util::{Counter, assert_clean, with_timeout};

/// A callback for [`run_op`]: the result goes into the slot the test reads.
type Cb<T> = Box<dyn FnOnce(&mut Loop, io::Result<T>)>;

/// Starts one operation, runs the loop until it is done, and returns what its callback got.
fn run_op<T: 'static>(
    lp: &mut Loop,
    start: impl FnOnce(&mut Loop, Cb<T>) -> Work,
) -> io::Result<T> {
    let slot = Rc::new(RefCell::new(None));
    let s = slot.clone();
    start(
        lp,
        Box::new(move |_, result| *s.borrow_mut() = Some(result)),
    );
    lp.run().expect("run");
    let result = slot.borrow_mut().take();
    result.expect("the callback ran")
}

/// A fresh directory from `fs::mkdtemp`, removed (with its contents) on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(lp: &mut Loop) -> Self {
        let prefix = std::env::temp_dir().join("evloop-fs-ops-");
        Self(run_op(lp, |lp, cb| fs::mkdtemp(lp, prefix, cb)).expect("mkdtemp"))
    }

    fn join(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn pattern(len: usize) -> Vec<u8> {
    // Not all zeros, and a period (251, prime) that no power-of-two chunk size lines up with.
    (0..len).map(|i| (i % 251) as u8 ^ 0x5a).collect()
}

#[test]
fn write_read_append_stat_readdir_rename_unlink() {
    with_timeout(30, || {
        let mut lp = Loop::new().unwrap();
        let dir = TempDir::new(&mut lp);
        let (a, b) = (dir.join("a.txt"), dir.join("b.txt"));
        let p = a.clone();
        run_op(&mut lp, |lp, cb| fs::write_file(lp, p, "hello", cb)).unwrap();
        let p = a.clone();
        let read = run_op(&mut lp, |lp, cb| fs::read_file(lp, p, cb)).unwrap();
        assert_eq!(read, b"hello");
        let p = a.clone();
        run_op(&mut lp, |lp, cb| fs::append(lp, p, b", world".to_vec(), cb)).unwrap();
        let p = a.clone();
        let meta = run_op(&mut lp, |lp, cb| fs::stat(lp, p, cb)).unwrap();
        assert_eq!((meta.len, meta.kind), (12, FileKind::File));
        assert!(meta.is_file() && !meta.is_dir());
        let p = dir.0.clone();
        let entries = run_op(&mut lp, |lp, cb| fs::readdir(lp, p, cb)).unwrap();
        let names: Vec<_> = entries.iter().map(|e| (e.name.clone(), e.kind)).collect();
        assert_eq!(names, [("a.txt".into(), FileKind::File)]);
        let (from, to) = (a.clone(), b.clone());
        run_op(&mut lp, |lp, cb| fs::rename(lp, from, to, cb)).unwrap();
        let p = a;
        assert!(!run_op(&mut lp, |lp, cb| fs::exists(lp, p, cb)).unwrap());
        let p = b.clone();
        let read = run_op(&mut lp, |lp, cb| fs::read_file(lp, p, cb)).unwrap();
        assert_eq!(read, b"hello, world");
        let p = b.clone();
        run_op(&mut lp, |lp, cb| fs::unlink(lp, p, cb)).unwrap();
        let p = b;
        let err = run_op(&mut lp, |lp, cb| fs::stat(lp, p, cb)).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::NotFound);
        drop(dir);
        assert_clean(&lp);
    });
}

#[test]
fn directories_links_copies_modes_and_open_files() {
    with_timeout(30, || {
        let mut lp = Loop::new().unwrap();
        let dir = TempDir::new(&mut lp);
        let deep = dir.join("x/y/z");
        let p = deep.clone();
        let opts = MkdirOptions::RECURSIVE;
        run_op(&mut lp, |lp, cb| fs::mkdir(lp, p, opts, cb)).unwrap();
        let p = deep.clone();
        let opts = MkdirOptions::default();
        let err = run_op(&mut lp, |lp, cb| fs::mkdir(lp, p, opts, cb)).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::AlreadyExists);
        let p = deep;
        run_op(&mut lp, |lp, cb| fs::rmdir(lp, p, cb)).unwrap();

        let (file, copy) = (dir.join("f"), dir.join("copy"));
        let p = file.clone();
        let f = run_op(&mut lp, |lp, cb| fs::open(lp, p, OpenFlags::WRITE, cb)).unwrap();
        assert!(f.is_open(&lp));
        assert_eq!(
            run_op(&mut lp, |lp, cb| f.write(lp, 0, "abcdef", cb)).unwrap(),
            6
        );
        run_op(&mut lp, |lp, cb| f.ftruncate(lp, 4, cb)).unwrap();
        run_op(&mut lp, |lp, cb| f.fsync(lp, cb)).unwrap();
        assert_eq!(run_op(&mut lp, |lp, cb| f.fstat(lp, cb)).unwrap().len, 4);
        run_op(&mut lp, |lp, cb| f.close(lp, cb)).unwrap();
        assert!(!f.is_open(&lp));

        let (from, to) = (file.clone(), copy.clone());
        assert_eq!(
            run_op(&mut lp, |lp, cb| fs::copy_file(lp, from, to, cb)).unwrap(),
            4
        );
        #[cfg(unix)]
        {
            let p = copy.clone();
            run_op(&mut lp, |lp, cb| fs::chmod(lp, p, 0o600, cb)).unwrap();
            let p = copy.clone();
            let meta = run_op(&mut lp, |lp, cb| fs::stat(lp, p, cb)).unwrap();
            assert_eq!(meta.permissions(), 0o600);
        }
        let p = copy;
        let mode = fs::AccessMode::READ | fs::AccessMode::WRITE;
        run_op(&mut lp, |lp, cb| fs::access(lp, p, mode, cb)).unwrap();

        let p = dir.0.join("x").join("..").join("copy");
        let real = run_op(&mut lp, |lp, cb| fs::realpath(lp, p, cb)).unwrap();
        assert_eq!(real.file_name(), Some("copy".as_ref()));
        assert!(!real.iter().any(|part| part == ".."), "{}", real.display());

        let p = file;
        let f = run_op(&mut lp, |lp, cb| fs::open(lp, p, OpenFlags::READ, cb)).unwrap();
        let got = run_op(&mut lp, |lp, cb| f.read(lp, 1, 100, cb)).unwrap();
        assert_eq!(got, b"bcd", "a short read only at end of file");
        let past_end = run_op(&mut lp, |lp, cb| f.read(lp, 9, 10, cb)).unwrap();
        assert!(past_end.is_empty());
        run_op(&mut lp, |lp, cb| f.close(lp, cb)).unwrap();
        drop(dir);
        assert_clean(&lp);
    });
}

#[test]
#[cfg_attr(
    windows,
    ignore = "wine 8's CreateSymbolicLinkW is a stub: it reports success and creates nothing"
)]
fn symlinks_read_back_lstat_as_links_and_resolve() {
    with_timeout(30, || {
        let mut lp = Loop::new().unwrap();
        let dir = TempDir::new(&mut lp);
        let (file, link) = (dir.join("copy"), dir.join("link"));
        std::fs::write(&file, "x").unwrap();
        let (target, l) = (PathBuf::from("copy"), link.clone());
        run_op(&mut lp, |lp, cb| fs::symlink(lp, target, l, cb)).unwrap();
        let l = link.clone();
        assert_eq!(
            run_op(&mut lp, |lp, cb| fs::readlink(lp, l, cb)).unwrap(),
            Path::new("copy")
        );
        let l = link.clone();
        let meta = run_op(&mut lp, |lp, cb| fs::lstat(lp, l, cb)).unwrap();
        assert!(meta.is_symlink());
        let l = link.clone();
        let meta = run_op(&mut lp, |lp, cb| fs::stat(lp, l, cb)).unwrap();
        assert!(meta.is_file() && meta.len == 1);
        let l = link;
        let real = run_op(&mut lp, |lp, cb| fs::realpath(lp, l, cb)).unwrap();
        assert_eq!(real.file_name(), Some("copy".as_ref()));
        drop(dir);
        assert_clean(&lp);
    });
}

#[test]
fn a_64_mib_file_round_trips_byte_exact() {
    with_timeout(120, || {
        const CHUNK: usize = 4 << 20;
        const LEN: usize = 64 << 20;
        let mut lp = Loop::new().unwrap();
        let dir = TempDir::new(&mut lp);
        let path = dir.join("big");
        let data: Arc<Vec<u8>> = Arc::new(pattern(LEN));
        let p = path.clone();
        let file = run_op(&mut lp, |lp, cb| fs::open(lp, p, OpenFlags::WRITE, cb)).unwrap();
        // All 16 chunk writes in flight at once, each at its own offset.
        let written = Counter::new();
        for offset in (0..LEN).step_by(CHUNK) {
            let chunk = data[offset..offset + CHUNK].to_vec();
            let w = written.clone();
            file.write(&mut lp, offset as u64, chunk, move |_, n| {
                assert_eq!(n.expect("write"), CHUNK);
                w.inc();
            });
        }
        lp.run().unwrap();
        assert_eq!(written.get(), LEN / CHUNK);
        run_op(&mut lp, |lp, cb| file.close(lp, cb)).unwrap();
        let p = path.clone();
        let back = run_op(&mut lp, |lp, cb| fs::read_file(lp, p, cb)).unwrap();
        assert!(back == *data, "read_file differs from what was written");
        // And the other way: write_file, then read it back in chunks through a file id.
        let p = path.clone();
        let d = Arc::clone(&data);
        run_op(&mut lp, |lp, cb| fs::write_file(lp, p, ArcBytes(d), cb)).unwrap();
        let p = path;
        let file = run_op(&mut lp, |lp, cb| fs::open(lp, p, OpenFlags::READ, cb)).unwrap();
        for offset in (0..LEN).step_by(CHUNK) {
            let got = run_op(&mut lp, |lp, cb| file.read(lp, offset as u64, CHUNK, cb));
            assert!(
                got.unwrap() == data[offset..offset + CHUNK],
                "chunk at {offset}"
            );
        }
        run_op(&mut lp, |lp, cb| file.close(lp, cb)).unwrap();
        drop(dir);
        assert_clean(&lp);
    });
}

/// Shared bytes handed to `write_file` without a copy.
struct ArcBytes(Arc<Vec<u8>>);

impl AsRef<[u8]> for ArcBytes {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

#[test]
fn errors_keep_their_kind_and_name_the_path() {
    with_timeout(30, || {
        let mut lp = Loop::new().unwrap();
        let dir = TempDir::new(&mut lp);
        let missing = dir.join("missing");
        let p = missing.clone();
        let err = run_op(&mut lp, |lp, cb| fs::read_file(lp, p, cb)).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::NotFound);
        assert!(
            err.to_string().contains(&*missing.to_string_lossy()),
            "{err}"
        );
        let payload = err.get_ref().and_then(|e| e.downcast_ref::<fs::FsError>());
        let payload = payload.expect("an FsError payload");
        assert_eq!(payload.target(), &fs::FsTarget::Path(missing));
        // ENOENT, or Windows' ERROR_FILE_NOT_FOUND: both are 2.
        assert_eq!(fs::raw_os_error(&err), Some(2));

        let p = dir.0.clone();
        let err = run_op(&mut lp, |lp, cb| fs::read_file(lp, p, cb)).unwrap_err();
        #[cfg(unix)]
        assert_eq!(fs::raw_os_error(&err), Some(libc::EISDIR), "{err}");
        // On Windows the OS's own error stays in the source chain.
        #[cfg(windows)]
        assert!(fs::raw_os_error(&err).is_some(), "{err}");
        assert_eq!(err.kind(), io::ErrorKind::IsADirectory);
        assert!(err.to_string().contains(&*dir.0.to_string_lossy()), "{err}");
        drop(dir);
        assert_clean(&lp);
    });
}

#[test]
fn closing_a_file_id_twice_is_an_error_delivered_later() {
    with_timeout(30, || {
        let mut lp = Loop::new().unwrap();
        let dir = TempDir::new(&mut lp);
        let path = dir.join("f");
        std::fs::write(&path, "hello").unwrap();
        let f = run_op(&mut lp, |lp, cb| fs::open(lp, path, OpenFlags::READ, cb)).unwrap();
        let outcomes = Rc::new(RefCell::new(Vec::new()));
        for _ in 0..2 {
            let o = outcomes.clone();
            f.close(&mut lp, move |_, r| o.borrow_mut().push(r));
        }
        let o = outcomes.clone();
        f.read(&mut lp, 0, 10, move |_, r| o.borrow_mut().push(r.map(drop)));
        assert!(outcomes.borrow().is_empty(), "no callback inside the call");
        lp.run().unwrap();
        let outcomes = outcomes.borrow();
        assert_eq!(outcomes.len(), 3);
        let stale: Vec<bool> = outcomes
            .iter()
            .map(|r| match r {
                Ok(()) => false,
                Err(e) => matches!(Error::from_io_ref(e), Some(Error::StaleHandle)),
            })
            .collect();
        // The stale errors come from the pending phase, before the real close completes.
        assert_eq!(stale.iter().filter(|s| **s).count(), 2, "{outcomes:?}");
        assert!(
            outcomes.iter().any(Result::is_ok),
            "the first close succeeds"
        );
        assert_clean(&lp);
    });
}

#[test]
#[cfg(unix)] // blocks a file worker on a FIFO (mkfifo); cancel itself is platform-neutral
fn an_fs_op_queued_behind_a_saturated_pool_can_be_canceled() {
    with_timeout(30, || {
        const SIZE: usize = 3; // no other test in this binary uses this size
        let mut lp = Loop::builder().threadpool_size(SIZE).build().unwrap();
        let dir = TempDir::new(&mut lp);
        // CPU work may hold all workers but one (which stays free for file work), so the
        // pool is saturated with SIZE - 1 blocked jobs plus one file read blocked on a FIFO
        // that no one has opened for writing yet.
        let started = Arc::new(Barrier::new(SIZE));
        let release = Arc::new(Barrier::new(SIZE));
        for _ in 0..SIZE - 1 {
            let (s, r) = (started.clone(), release.clone());
            lp.queue_work(
                move || {
                    s.wait();
                    r.wait();
                },
                |_, r| r.unwrap(),
            );
        }
        let fifo = dir.join("fifo");
        let made = std::process::Command::new("mkfifo").arg(&fifo).status();
        assert!(made.is_ok_and(|s| s.success()), "mkfifo {}", fifo.display());
        let read = Rc::new(RefCell::new(None));
        let r = read.clone();
        fs::read_file(&mut lp, &fifo, move |_, got| *r.borrow_mut() = Some(got));
        started.wait(); // every CPU-class worker is blocked
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while lp.pool_stats().map_or(0, |s| s.running) < SIZE as u64 {
            assert!(
                std::time::Instant::now() < deadline,
                "the FIFO read never started"
            );
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        let outcome = Rc::new(RefCell::new(None));
        let o = outcome.clone();
        let req = fs::stat(&mut lp, "/etc/hostname", move |_, r| {
            *o.borrow_mut() = Some(r)
        });
        lp.cancel(req).unwrap();
        assert!(
            outcome.borrow().is_none(),
            "canceled later, not inside cancel()"
        );
        release.wait();
        std::fs::write(&fifo, b"unblocked").unwrap();
        lp.run().unwrap();
        assert_eq!(read.borrow_mut().take().unwrap().unwrap(), b"unblocked");
        let err = outcome.borrow_mut().take().unwrap().unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::Interrupted);
        assert!(err.to_string().contains("canceled"), "{err}");
        assert!(Error::from_io_ref(&err).is_some_and(Error::is_canceled));
        assert!(matches!(lp.cancel(req), Err(Error::StaleHandle)));
        let stats = lp.pool_stats().expect("the pool started");
        assert_eq!(stats.threads, SIZE);
        assert!(stats.canceled >= 1);
        assert_clean(&lp);
    });
}

#[test]
fn an_open_file_can_be_renamed_and_unlinked_and_still_read() {
    // Unix semantics; on Windows they hold because files are opened shared for delete.
    with_timeout(30, || {
        let mut lp = Loop::new().unwrap();
        let dir = TempDir::new(&mut lp);
        let (a, b) = (dir.join("a"), dir.join("b"));
        std::fs::write(&a, "still here").unwrap();
        let p = a.clone();
        let f = run_op(&mut lp, |lp, cb| fs::open(lp, p, OpenFlags::READ, cb)).unwrap();
        let (from, to) = (a, b.clone());
        run_op(&mut lp, |lp, cb| fs::rename(lp, from, to, cb)).unwrap();
        assert_eq!(
            run_op(&mut lp, |lp, cb| f.read(lp, 0, 5, cb)).unwrap(),
            b"still"
        );
        let p = b.clone();
        run_op(&mut lp, |lp, cb| fs::unlink(lp, p, cb)).unwrap();
        let got = run_op(&mut lp, |lp, cb| f.read(lp, 6, 100, cb)).unwrap();
        assert_eq!(got, b"here");
        run_op(&mut lp, |lp, cb| f.close(lp, cb)).unwrap();
        let p = b;
        assert!(!run_op(&mut lp, |lp, cb| fs::exists(lp, p, cb)).unwrap());
        drop(dir);
        assert_clean(&lp);
    });
}

#[test]
fn appending_writes_go_to_the_end_whatever_the_offset() {
    with_timeout(30, || {
        let mut lp = Loop::new().unwrap();
        let dir = TempDir::new(&mut lp);
        let path = dir.join("log");
        std::fs::write(&path, "one,").unwrap();
        let p = path.clone();
        let f = run_op(&mut lp, |lp, cb| fs::open(lp, p, OpenFlags::APPEND, cb)).unwrap();
        assert_eq!(
            run_op(&mut lp, |lp, cb| f.write(lp, 0, "two,", cb)).unwrap(),
            4
        );
        assert_eq!(
            run_op(&mut lp, |lp, cb| f.write(lp, 1, "three", cb)).unwrap(),
            5
        );
        run_op(&mut lp, |lp, cb| f.close(lp, cb)).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"one,two,three");
        drop(dir);
        assert_clean(&lp);
    });
}

#[test]
fn an_error_on_an_open_file_names_the_operation_and_the_file() {
    with_timeout(30, || {
        let mut lp = Loop::new().unwrap();
        let dir = TempDir::new(&mut lp);
        let p = dir.join("w");
        let flags = OpenFlags::WRITE.read(false);
        let f = run_op(&mut lp, |lp, cb| fs::open(lp, p, flags, cb)).unwrap();
        // Reading a file opened write-only: EBADF, or Windows' ERROR_ACCESS_DENIED.
        let err = run_op(&mut lp, |lp, cb| f.read(lp, 0, 10, cb)).unwrap_err();
        let payload = err.get_ref().and_then(|e| e.downcast_ref::<fs::FsError>());
        let payload = payload.expect("an FsError payload");
        assert_eq!(payload.op(), "read");
        #[cfg(unix)]
        {
            assert!(matches!(payload.target(), fs::FsTarget::Fd(fd) if *fd >= 0));
            assert_eq!(fs::raw_os_error(&err), Some(libc::EBADF));
            assert!(err.to_string().contains(": read fd "), "{err}");
        }
        #[cfg(windows)]
        {
            assert!(matches!(payload.target(), fs::FsTarget::Handle(h) if *h != 0));
            assert_eq!(fs::raw_os_error(&err), Some(5)); // ERROR_ACCESS_DENIED
            assert_eq!(err.kind(), io::ErrorKind::PermissionDenied);
            assert!(err.to_string().contains(": read handle 0x"), "{err}");
        }
        run_op(&mut lp, |lp, cb| f.close(lp, cb)).unwrap();
        drop(dir);
        assert_clean(&lp);
    });
}

/// Windows only: `access` checks the read-only attribute for `WRITE`, as libuv does, and
/// `stat` reports the attributes.
#[cfg(windows)]
#[test]
fn access_checks_the_read_only_attribute() {
    with_timeout(30, || {
        let mut lp = Loop::new().unwrap();
        let dir = TempDir::new(&mut lp);
        let path = dir.join("ro");
        std::fs::write(&path, "x").unwrap();
        let p = path.clone();
        let mode = fs::AccessMode::READ | fs::AccessMode::WRITE;
        run_op(&mut lp, |lp, cb| fs::access(lp, p, mode, cb)).unwrap();
        let mut perms = std::fs::metadata(&path).unwrap().permissions();
        perms.set_readonly(true);
        std::fs::set_permissions(&path, perms.clone()).unwrap();
        let p = path.clone();
        let meta = run_op(&mut lp, |lp, cb| fs::stat(lp, p, cb)).unwrap();
        assert!(meta.is_readonly() && meta.attributes & 0x1 != 0);
        let p = path.clone();
        run_op(&mut lp, |lp, cb| {
            fs::access(lp, p, fs::AccessMode::READ, cb)
        })
        .unwrap();
        let p = path.clone();
        let err = run_op(&mut lp, |lp, cb| fs::access(lp, p, mode, cb)).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::PermissionDenied);
        assert!(err.to_string().contains("access '"), "{err}");
        // The directory itself is never read-only for access, as libuv.
        let p = dir.0.clone();
        run_op(&mut lp, |lp, cb| fs::access(lp, p, mode, cb)).unwrap();
        #[allow(clippy::permissions_set_readonly_false)] // Windows only: clears the attribute
        perms.set_readonly(false);
        std::fs::set_permissions(&path, perms).unwrap();
        drop(dir);
        assert_clean(&lp);
    });
}
