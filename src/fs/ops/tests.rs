//! File operations against a fresh temporary directory per test.

use std::ffi::OsString;
use std::time::{Duration, SystemTime};

use super::*;
use crate::fs::error::{FsError, raw_os_error};

/// `write_file` creating with `mode` (shadows the glob import).
fn write_file(path: &Path, data: &[u8], mode: u32) -> io::Result<()> {
    super::write_file(path, data, OpenFlags::WRITE.with_mode(mode))
}

/// `append` creating with `mode` (shadows the glob import).
fn append(path: &Path, data: &[u8], mode: u32) -> io::Result<()> {
    super::append(path, data, OpenFlags::APPEND.with_mode(mode))
}

/// A directory made by our own `mkdtemp`, removed with its contents when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> Self {
        Self(mkdtemp(&std::env::temp_dir().join("evloop-fs-test-")).expect("a temp dir"))
    }

    fn join(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

fn os_code(result: io::Result<impl std::fmt::Debug>) -> Option<i32> {
    raw_os_error(&result.expect_err("the operation fails"))
}

#[test]
fn a_failed_open_names_the_path_and_keeps_the_os_error() {
    let dir = TempDir::new();
    let missing = dir.join("missing");
    let err = open(&missing, OpenFlags::READ).expect_err("no such file");
    let expected = format!(
        "No such file or directory (os error 2): open '{}'",
        missing.display()
    );
    assert_eq!(err.to_string(), expected);
    assert_eq!(err.kind(), io::ErrorKind::NotFound);
    assert_eq!(raw_os_error(&err), Some(libc::ENOENT));
    let payload = err
        .get_ref()
        .and_then(|e| e.downcast_ref::<FsError>())
        .expect("an FsError");
    assert_eq!(payload.target(), &FsTarget::Path(missing));
}

#[test]
fn files_are_written_appended_and_read_back() {
    let dir = TempDir::new();
    let path = dir.join("notes");
    write_file(&path, b"hello", 0o600).expect("write");
    append(&path, b", world", 0o600).expect("append");
    assert_eq!(read_file(&path).expect("read"), b"hello, world");
    write_file(&path, b"new", 0o600).expect("overwrite");
    assert_eq!(read_file(&path).expect("read"), b"new");
    assert_eq!(stat(&path).expect("stat").permissions(), 0o600);
}

#[test]
fn positional_reads_and_writes_leave_the_rest_alone() {
    let dir = TempDir::new();
    let path = dir.join("data");
    write_file(&path, b"0123456789", 0o644).expect("write");
    let file = open(
        &path,
        OpenFlags {
            read: true,
            write: true,
            ..OpenFlags::READ
        },
    )
    .expect("open");
    assert_eq!(write_at(&file, b"ab", 3).expect("pwrite"), 2);
    let mut buf = [0u8; 4];
    assert_eq!(read_at(&file, &mut buf, 2).expect("pread"), 4);
    assert_eq!(&buf, b"2ab5");
    assert_eq!(
        read_at(&file, &mut buf, 100).expect("pread past the end"),
        0
    );
    ftruncate(&file, 4).expect("ftruncate");
    fsync(&file).expect("fsync");
    fdatasync(&file).expect("fdatasync");
    assert_eq!(read_file(&path).expect("read"), b"012a");
    let exclusive = OpenFlags {
        create_new: true,
        ..OpenFlags::WRITE
    };
    assert_eq!(os_code(open(&path, exclusive)), Some(libc::EEXIST));
}

#[test]
fn stat_lstat_and_fstat_describe_files_dirs_and_links() {
    let dir = TempDir::new();
    let (file_path, link) = (dir.join("file"), dir.join("link"));
    write_file(&file_path, b"twelve bytes", 0o640).expect("write");
    symlink(Path::new("file"), &link).expect("symlink");
    let meta = stat(&file_path).expect("stat");
    assert_eq!(
        (meta.kind, meta.len, meta.permissions(), meta.nlink),
        (FileKind::File, 12, 0o640, 1)
    );
    let age = SystemTime::now()
        .duration_since(meta.modified)
        .unwrap_or(Duration::ZERO);
    assert!(age < Duration::from_secs(60), "mtime is recent");
    assert!(meta.changed >= meta.modified - Duration::from_secs(1));
    let file = open(&file_path, OpenFlags::READ).expect("open");
    assert_eq!(
        fstat(&file).expect("fstat"),
        stat(&file_path).expect("stat")
    );
    assert_eq!(stat(&link).expect("stat follows").ino, meta.ino);
    let link_meta = lstat(&link).expect("lstat");
    assert_eq!((link_meta.kind, link_meta.len), (FileKind::Symlink, 4));
    assert_eq!(stat(&dir.0).expect("stat dir").kind, FileKind::Dir);
    assert_eq!(readlink(&link).expect("readlink"), Path::new("file"));
    assert_eq!(
        realpath(&link).expect("realpath"),
        realpath(&file_path).expect("realpath")
    );
    assert_eq!(os_code(readlink(&file_path)), Some(libc::EINVAL));
}

#[test]
fn readdir_lists_names_and_kinds_sorted() {
    let dir = TempDir::new();
    write_file(&dir.join("b-file"), b"", 0o644).expect("write");
    mkdir(&dir.join("a-dir"), 0o755, false).expect("mkdir");
    symlink(Path::new("b-file"), &dir.join("c-link")).expect("symlink");
    let listing: Vec<(OsString, FileKind)> = readdir(&dir.0)
        .expect("readdir")
        .into_iter()
        .map(|e| (e.name, e.kind))
        .collect();
    let expected = [
        ("a-dir", FileKind::Dir),
        ("b-file", FileKind::File),
        ("c-link", FileKind::Symlink),
    ];
    let expected: Vec<(OsString, FileKind)> = expected
        .into_iter()
        .map(|(name, kind)| (name.into(), kind))
        .collect();
    assert_eq!(listing, expected);
    assert_eq!(os_code(readdir(&dir.join("b-file"))), Some(libc::ENOTDIR));
}

#[test]
fn directories_are_made_recursively_and_removed_only_when_empty() {
    let dir = TempDir::new();
    let deep = dir.join("a/b/c");
    assert_eq!(os_code(mkdir(&deep, 0o755, false)), Some(libc::ENOENT));
    mkdir(&deep, 0o750, true).expect("mkdir -p");
    mkdir(&deep, 0o750, true).expect("mkdir -p is idempotent");
    assert_eq!(os_code(mkdir(&deep, 0o750, false)), Some(libc::EEXIST));
    assert_eq!(stat(&deep).expect("stat").kind, FileKind::Dir);
    let err = rmdir(&dir.join("a")).expect_err("not empty");
    assert_eq!(err.kind(), io::ErrorKind::DirectoryNotEmpty);
    rmdir(&deep).expect("rmdir");
    assert!(!exists(&deep).expect("exists"));
}

#[test]
fn rename_copy_and_unlink_move_files_around() {
    let dir = TempDir::new();
    let (first, second, copy) = (dir.join("first"), dir.join("second"), dir.join("copy"));
    write_file(&first, b"payload", 0o604).expect("write");
    rename(&first, &second).expect("rename");
    assert!(!exists(&first).expect("exists"));
    assert_eq!(copy_file(&second, &copy).expect("copy"), 7);
    assert_eq!(read_file(&copy).expect("read"), b"payload");
    assert_eq!(stat(&copy).expect("stat").permissions(), 0o604);
    unlink(&second).expect("unlink");
    let err = rename(&second, &first).expect_err("source is gone");
    let names_both = format!("rename '{}' -> '{}'", second.display(), first.display());
    assert!(err.to_string().ends_with(&names_both), "{err}");
    assert_eq!(raw_os_error(&err), Some(libc::ENOENT));
}

#[test]
fn chmod_access_and_exists_agree() {
    let dir = TempDir::new();
    let path = dir.join("script");
    write_file(&path, b"#!/bin/sh\n", 0o644).expect("write");
    access(&path, AccessMode::EXISTS).expect("exists");
    access(&path, AccessMode::READ | AccessMode::WRITE).expect("read and write");
    // Even root needs an execute bit to execute.
    assert_eq!(
        os_code(access(&path, AccessMode::EXECUTE)),
        Some(libc::EACCES)
    );
    chmod(&path, 0o755).expect("chmod");
    access(&path, AccessMode::EXECUTE).expect("executable now");
    assert_eq!(stat(&path).expect("stat").permissions(), 0o755);
    assert!(exists(&path).expect("exists"));
    assert_eq!(
        os_code(access(&dir.join("nope"), AccessMode::EXISTS)),
        Some(libc::ENOENT)
    );
    assert_eq!(os_code(chmod(&dir.join("nope"), 0o600)), Some(libc::ENOENT));
}

#[test]
fn mkdtemp_failures_name_the_template() {
    let err = mkdtemp(Path::new("/no/such/evloop/dir/x-")).expect_err("parent missing");
    assert!(
        err.to_string()
            .ends_with("mkdtemp '/no/such/evloop/dir/x-XXXXXX'"),
        "{err}"
    );
    assert_eq!(raw_os_error(&err), Some(libc::ENOENT));
}
