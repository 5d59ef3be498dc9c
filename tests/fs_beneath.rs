//! evloop::fs::open_beneath: confinement to a root that holds while a local process swaps a
//! directory under the root for a symlink out of it, as fast as it can.
// Unix only: the root-relative open is Unix-only (openat2 / O_NOFOLLOW walk).
#![cfg(unix)]
mod util;

use std::io::Read;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use evloop::Loop;
use util::with_timeout;

const SECRET: &str = "OUTSIDE-SECRET";

/// base/{root/{real/f, link -> ../outside}, outside/f}: `root/d` is swapped between the two.
fn tree(tag: &str) -> std::path::PathBuf {
    let base = std::env::temp_dir().join(format!("evloop-beneath-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&base);
    std::fs::create_dir_all(base.join("root/real")).unwrap();
    std::fs::create_dir_all(base.join("outside")).unwrap();
    std::fs::write(base.join("root/real/f"), "inside").unwrap();
    std::fs::write(base.join("outside/f"), SECRET).unwrap();
    std::os::unix::fs::symlink("../outside", base.join("root/link")).unwrap();
    base
}

/// Swaps `root/d` between the real directory and the symlink until `stop`.
fn swapper(root: &Path, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<u64> {
    let root = root.to_path_buf();
    std::thread::spawn(move || {
        let (d, real, link) = (root.join("d"), root.join("real"), root.join("link"));
        let mut swaps = 0;
        while !stop.load(Ordering::Relaxed) {
            for from in [&real, &link] {
                if std::fs::rename(from, &d).is_ok() {
                    let _ = std::fs::rename(&d, from);
                    swaps += 1;
                }
            }
        }
        swaps
    })
}

#[test]
fn the_symlink_swap_race_leaks_nothing_in_100_000_opens() {
    with_timeout(120, || {
        let base = tree("race");
        let root_dir = std::fs::File::open(base.join("root")).unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let swaps = swapper(&base.join("root"), Arc::clone(&stop));
        let (mut inside, mut refused) = (0u32, 0u32);
        let started = Instant::now();
        for i in 0..100_000 {
            match evloop::fs::open_beneath_sync(&root_dir, "d/f") {
                Ok(mut file) => {
                    let mut text = String::new();
                    file.read_to_string(&mut text).unwrap();
                    assert_ne!(text, SECRET, "open {i} leaked the outside file");
                    assert_eq!(text, "inside");
                    inside += 1;
                }
                Err(_) => refused += 1,
            }
        }
        stop.store(true, Ordering::Relaxed);
        let swaps = swaps.join().unwrap();
        eprintln!(
            "100 000 opens in {:?}: {inside} inside, {refused} refused, {swaps} swaps",
            started.elapsed()
        );
        assert!(swaps > 1000, "the race barely ran ({swaps} swaps)");
        assert!(
            inside > 0 && refused > 0,
            "{inside} inside, {refused} refused"
        );
        let _ = std::fs::remove_dir_all(base);
    });
}

#[test]
fn open_beneath_on_the_loop_gives_the_file_and_its_metadata_and_names_the_path() {
    with_timeout(30, || {
        let base = tree("loop");
        let root = Arc::new(std::fs::File::open(base.join("root")).unwrap());
        let mut lp = Loop::new().unwrap();
        let got = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
        for path in ["real/f", "link/f", "../outside/f", "real/missing"] {
            let g = got.clone();
            evloop::fs::open_beneath(&mut lp, &root, path, move |_, r| {
                g.borrow_mut().push((path, r.map(|(_, meta)| meta.len())));
            });
        }
        lp.run().unwrap();
        let got = got.borrow();
        assert_eq!(got.len(), 4);
        for (path, r) in got.iter() {
            match *path {
                "real/f" => assert_eq!(r.as_ref().ok(), Some(&6)),
                "real/missing" => {
                    let e = r.as_ref().unwrap_err();
                    assert_eq!(e.kind(), std::io::ErrorKind::NotFound);
                    assert!(e.to_string().contains("real/missing"), "{e}");
                }
                "../outside/f" => {
                    let e = r.as_ref().unwrap_err();
                    assert_eq!(e.kind(), std::io::ErrorKind::InvalidInput, "{e}");
                }
                _ => {
                    let e = r.as_ref().unwrap_err();
                    assert_eq!(
                        evloop::fs::raw_os_error(e),
                        Some(libc::ELOOP),
                        "{path}: {e}"
                    );
                }
            }
        }
        util::assert_clean(&lp);
        let _ = std::fs::remove_dir_all(base);
    });
}

/// Whether the kernel has `openat2`'s `RESOLVE_CACHED` (Linux 5.12+): where it lacks it,
/// `open_beneath_cached` must say `WouldBlock` to everything.
fn kernel_has_resolve_cached() -> bool {
    if !cfg!(target_os = "linux") {
        return false;
    }
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap();
    let mut nums = release
        .trim()
        .split(|c: char| !c.is_ascii_digit())
        .map(|n| n.parse::<u32>().unwrap_or(0));
    let (major, minor) = (nums.next().unwrap_or(0), nums.next().unwrap_or(0));
    (major, minor) >= (5, 12)
}

#[test]
fn open_beneath_cached_opens_a_cached_path_at_once_and_refuses_what_open_beneath_refuses() {
    with_timeout(30, || {
        let base = tree("cached");
        let root = std::fs::File::open(base.join("root")).unwrap();
        // Looked up once, so every component is in the kernel's cache.
        assert!(evloop::fs::open_beneath_sync(&root, "real/f").is_ok());
        let would_block = |e: &std::io::Error| e.kind() == std::io::ErrorKind::WouldBlock;
        match evloop::fs::open_beneath_cached(&root, "real/f") {
            Ok((mut file, meta)) => {
                assert!(meta.is_file());
                assert_eq!(meta.len(), 6);
                let mut text = String::new();
                file.read_to_string(&mut text).unwrap();
                assert_eq!(text, "inside");
            }
            Err(e) => assert!(
                would_block(&e) && !kernel_has_resolve_cached(),
                "a cached path on a kernel with RESOLVE_CACHED: {e}"
            ),
        }
        // Plain names only, whatever the cache holds.
        let e = evloop::fs::open_beneath_cached(&root, "../outside/f").unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::InvalidInput, "{e}");
        // A symlink on the path: refused (or left to the pool, which refuses it).
        let _ = evloop::fs::open_beneath_sync(&root, "link/f");
        let e = evloop::fs::open_beneath_cached(&root, "link/f").unwrap_err();
        assert!(
            would_block(&e) || evloop::fs::raw_os_error(&e) == Some(libc::ELOOP),
            "{e}"
        );
        if kernel_has_resolve_cached() {
            assert_eq!(evloop::fs::raw_os_error(&e), Some(libc::ELOOP), "{e}");
            assert!(e.to_string().contains("link/f"), "names the path: {e}");
        }
        // A missing file: not found once its absence is cached, never anything slow.
        let _ = evloop::fs::open_beneath_sync(&root, "real/missing");
        let e = evloop::fs::open_beneath_cached(&root, "real/missing").unwrap_err();
        assert!(
            would_block(&e) || e.kind() == std::io::ErrorKind::NotFound,
            "{e}"
        );
        let _ = std::fs::remove_dir_all(base);
    });
}

#[test]
fn open_beneath_cached_leaks_nothing_in_100_000_opens_during_the_symlink_swap_race() {
    with_timeout(120, || {
        let base = tree("cached-race");
        let root_dir = std::fs::File::open(base.join("root")).unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let swaps = swapper(&base.join("root"), Arc::clone(&stop));
        let (mut inside, mut refused, mut later) = (0u32, 0u32, 0u32);
        for i in 0..100_000 {
            match evloop::fs::open_beneath_cached(&root_dir, "d/f") {
                Ok((mut file, _)) => {
                    let mut text = String::new();
                    file.read_to_string(&mut text).unwrap();
                    assert_ne!(text, SECRET, "open {i} leaked the outside file");
                    assert_eq!(text, "inside");
                    inside += 1;
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => later += 1,
                Err(_) => refused += 1,
            }
        }
        stop.store(true, Ordering::Relaxed);
        let swaps = swaps.join().unwrap();
        eprintln!("{inside} inside, {refused} refused, {later} left to the pool, {swaps} swaps");
        assert!(swaps > 1000, "the race barely ran ({swaps} swaps)");
        if kernel_has_resolve_cached() {
            assert!(
                inside > 0 && refused > 0,
                "{inside} inside, {refused} refused"
            );
        } else {
            assert_eq!(later, 100_000, "no cached opens without RESOLVE_CACHED");
        }
        let _ = std::fs::remove_dir_all(base);
    });
}
