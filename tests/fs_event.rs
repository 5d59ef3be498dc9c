//! File-system events: create, modify, rename and delete in a watched directory, a recursive
//! watch of a new subdirectory, a watched file, a removed directory ending the watch, and
//! stat polling.
// Linux only: evloop::fs_event watches through inotify; not ported to kqueue or Windows.
#![cfg(target_os = "linux")]
mod util;

use std::cell::RefCell;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::time::Duration;

use evloop::fs::event::{FsEvent, FsWatchOptions};
use evloop::{Handle, Loop};
use util::{Trace, assert_clean, with_timeout};

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("evloop-fsev-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn describe(ev: &FsEvent<'_>) -> String {
    match ev {
        FsEvent::Created(p) => format!("created {}", p.display()),
        FsEvent::Removed(p) => format!("removed {}", p.display()),
        FsEvent::Modified(p) => format!("modified {}", p.display()),
        FsEvent::MovedFrom(p) => format!("moved-from {}", p.display()),
        FsEvent::MovedTo(p) => format!("moved-to {}", p.display()),
        FsEvent::Overflow => "overflow".into(),
        FsEvent::Ended(e) => format!("ended {:?}", e.kind()),
        FsEvent::Error(e) => format!("error {e}"),
        _ => "other".into(),
    }
}

/// Runs `steps` one per 20 ms timer tick (so each step's events arrive before the next),
/// recording every event; closes the watcher after the last step (or when it ends).
fn record(path: &Path, options: FsWatchOptions, steps: Vec<Box<dyn FnOnce()>>) -> Vec<String> {
    let mut lp = Loop::new().unwrap();
    let trace = Trace::new();
    let t = trace.clone();
    let watcher = lp
        .fs_watch(path, options, move |lp, w, ev| {
            t.push(describe(&ev));
            if matches!(ev, FsEvent::Ended(_)) {
                assert!(!w.is_active(lp).unwrap(), "an ended watch is inactive");
                w.close(lp, |_| {}).unwrap();
            }
        })
        .unwrap();
    let steps = Rc::new(RefCell::new(steps.into_iter()));
    lp.set_interval(Duration::from_millis(20), move |lp, timer| {
        match steps.borrow_mut().next() {
            Some(step) => step(),
            None => {
                timer.close(lp, |_| {}).unwrap();
                if !watcher.is_closing(lp).unwrap_or(true) {
                    watcher.close(lp, |_| {}).unwrap();
                }
            }
        }
    });
    lp.run().unwrap();
    assert_clean(&lp);
    trace.take()
}

#[test]
fn create_modify_rename_and_delete_in_a_watched_directory() {
    with_timeout(20, || {
        let dir = temp_dir("basic");
        let d = dir.clone();
        let (d1, d2, d3) = (d.clone(), d.clone(), d.clone());
        let events = record(
            &dir,
            FsWatchOptions::default(),
            vec![
                Box::new(move || std::fs::write(d.join("a.txt"), "").unwrap()),
                Box::new(move || {
                    use std::io::Write;
                    let mut f = std::fs::OpenOptions::new()
                        .append(true)
                        .open(d1.join("a.txt"))
                        .unwrap();
                    f.write_all(b"more").unwrap();
                }),
                Box::new(move || std::fs::rename(d2.join("a.txt"), d2.join("b.txt")).unwrap()),
                Box::new(move || std::fs::remove_file(d3.join("b.txt")).unwrap()),
            ],
        );
        assert_eq!(
            events,
            [
                "created a.txt",
                "modified a.txt",
                "moved-from a.txt",
                "moved-to b.txt",
                "removed b.txt"
            ]
        );
        std::fs::remove_dir_all(&dir).unwrap();
    });
}

#[test]
fn a_recursive_watch_follows_a_new_subdirectory() {
    with_timeout(20, || {
        let dir = temp_dir("recursive");
        std::fs::create_dir(dir.join("old")).unwrap();
        let (d1, d2, d3) = (dir.clone(), dir.clone(), dir.clone());
        let events = record(
            &dir,
            FsWatchOptions { recursive: true },
            vec![
                // An existing subdirectory is watched from the start.
                Box::new(move || std::fs::write(d1.join("old/x"), "").unwrap()),
                // A new one, with a file made at once (possibly before its watch exists).
                Box::new(move || {
                    std::fs::create_dir(d2.join("new")).unwrap();
                    std::fs::write(d2.join("new/early"), "").unwrap();
                }),
                Box::new(move || std::fs::write(d3.join("new/late"), "1").unwrap()),
            ],
        );
        let mut tail = events[2..].to_vec();
        // "new/early" is seen either by the new watch or by the scan that adds it (or both);
        // never missed.
        tail.dedup();
        assert_eq!(events[..2], ["created old/x", "created new"], "{events:?}");
        assert!(
            tail.contains(&"created new/early".to_string()),
            "{events:?}"
        );
        assert!(tail.contains(&"created new/late".to_string()), "{events:?}");
        assert!(
            tail.contains(&"modified new/late".to_string()),
            "{events:?}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    });
}

#[test]
fn a_watch_on_a_removed_directory_ends_with_an_error_event() {
    with_timeout(20, || {
        let dir = temp_dir("removed");
        let d = dir.clone();
        let events = record(
            &dir,
            FsWatchOptions::default(),
            vec![Box::new(move || std::fs::remove_dir(&d).unwrap())],
        );
        assert_eq!(events, ["ended NotFound"]);
    });
}

#[test]
fn a_watched_file_reports_changes_by_its_name_and_ends_when_removed() {
    with_timeout(20, || {
        let dir = temp_dir("file");
        let file = dir.join("watched.log");
        std::fs::write(&file, "").unwrap();
        let (f1, f2) = (file.clone(), file.clone());
        let events = record(
            &file,
            FsWatchOptions::default(),
            vec![
                Box::new(move || std::fs::write(&f1, "x").unwrap()),
                Box::new(move || std::fs::remove_file(&f2).unwrap()),
            ],
        );
        // Writing truncates and writes (one or two modifications); removal drops the link
        // (metadata change), then the file is gone and the watch ends.
        let mut events = events;
        events.dedup();
        assert_eq!(
            events,
            [
                "modified watched.log",
                "removed watched.log",
                "ended NotFound"
            ]
        );
        std::fs::remove_dir_all(&dir).unwrap();
    });
}

#[test]
fn watching_a_missing_path_is_an_error_naming_it() {
    let mut lp = Loop::new().unwrap();
    let err = lp
        .fs_watch(
            "/no/such/evloop/dir",
            FsWatchOptions::default(),
            |_, _, _| {},
        )
        .expect_err("missing");
    assert_eq!(err.kind(), std::io::ErrorKind::NotFound);
    assert!(
        err.to_string()
            .starts_with("fs watch '/no/such/evloop/dir':"),
        "{err}"
    );
    assert_clean(&lp);
}

#[test]
fn stat_polling_reports_changes_and_disappearance() {
    with_timeout(20, || {
        let dir = temp_dir("poll");
        let file = dir.join("polled");
        std::fs::write(&file, "a").unwrap();
        let mut lp = Loop::new().unwrap();
        let trace = Trace::new();
        let t = trace.clone();
        let poller = lp.fs_poll(
            &file,
            Duration::from_millis(10),
            move |lp, p, prev, cur| match cur {
                Ok(m) => t.push(format!("len {:?} -> {}", prev.map(|p| p.len), m.len)),
                Err(e) => {
                    t.push(format!("gone {:?} {:?}", prev.map(|p| p.len), e.kind()));
                    p.close(lp, |_| {}).unwrap();
                }
            },
        );
        assert_eq!(lp.active_handles()[0].kind, evloop::HandleKind::FsPoll);
        let f = file.clone();
        let step = Rc::new(std::cell::Cell::new(0));
        lp.set_interval(Duration::from_millis(60), move |lp, timer| {
            step.set(step.get() + 1);
            match step.get() {
                1 => std::fs::write(&f, "abc").unwrap(),
                2 => std::fs::remove_file(&f).unwrap(),
                _ => timer.close(lp, |_| {}).unwrap(),
            }
        });
        lp.run().unwrap();
        assert!(poller.is_active(&lp).is_err(), "closed");
        assert_eq!(trace.take(), ["len Some(1) -> 3", "gone Some(3) NotFound"]);
        assert_clean(&lp);
        std::fs::remove_dir_all(&dir).unwrap();
    });
}

#[test]
fn a_queue_overflow_is_reported_never_silent() {
    with_timeout(30, || {
        let dir = temp_dir("overflow");
        let limit: usize = std::fs::read_to_string("/proc/sys/fs/inotify/max_queued_events")
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(16384);
        let mut lp = Loop::new().unwrap();
        let trace = Trace::new();
        let t = trace.clone();
        let watcher = lp
            .fs_watch(&dir, FsWatchOptions::default(), move |_, _, ev| {
                if matches!(ev, FsEvent::Overflow) {
                    t.push("overflow");
                }
            })
            .unwrap();
        // More events than the kernel queues, before the loop reads any. Two files written in
        // turn, so the kernel cannot merge neighbours.
        let (a, b) = (dir.join("a"), dir.join("b"));
        let mut fa = std::fs::File::create(&a).unwrap();
        let mut fb = std::fs::File::create(&b).unwrap();
        for _ in 0..limit / 2 + 100 {
            use std::io::Write;
            fa.write_all(b"x").unwrap();
            fb.write_all(b"y").unwrap();
        }
        // The writes took a while: start the timer from now, not from the loop's creation.
        lp.update_time();
        lp.set_timeout(Duration::from_millis(50), move |lp, _| {
            watcher.close(lp, |_| {}).unwrap();
        });
        lp.run().unwrap();
        assert_eq!(trace.take(), ["overflow"]);
        assert_clean(&lp);
        std::fs::remove_dir_all(&dir).unwrap();
    });
}

#[test]
fn a_recursive_watch_follows_a_renamed_subdirectory_under_its_new_name() {
    with_timeout(20, || {
        let dir = temp_dir("moved");
        std::fs::create_dir(dir.join("a")).unwrap();
        let (d1, d2) = (dir.clone(), dir.clone());
        let events = record(
            &dir,
            FsWatchOptions { recursive: true },
            vec![
                Box::new(move || std::fs::rename(d1.join("a"), d1.join("b")).unwrap()),
                Box::new(move || std::fs::write(d2.join("b/x"), "").unwrap()),
            ],
        );
        assert_eq!(events, ["moved-from a", "moved-to b", "created b/x"]);
        std::fs::remove_dir_all(&dir).unwrap();
    });
}
