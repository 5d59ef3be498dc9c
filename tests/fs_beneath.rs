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
