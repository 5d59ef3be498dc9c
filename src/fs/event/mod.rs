//! File-system events (libuv `uv_fs_event_t`, Node's `fs.watch`) through inotify, and stat
//! polling ([`FsPoll`], libuv `uv_fs_poll_t`) for file systems that send no events.
//!
//! An [`FsWatcher`] watches one file or one directory (its entries, and with
//! [`FsWatchOptions::recursive`] every directory below it, including ones created later). Each
//! change arrives as an [`FsEvent`] naming the path that changed, relative to the watched
//! directory (for a watched file: its file name). Nothing is dropped silently: when the
//! kernel's queue overflows the callback gets [`FsEvent::Overflow`] (rescan what you care
//! about), and when the watched path itself is removed, moved or unmounted the watch ends with
//! [`FsEvent::Ended`] carrying the error, after which the handle is inactive (close it).
//!
//! ```
//! use evloop::fs::event::{FsEvent, FsWatchOptions};
//! use evloop::{Handle, Loop};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let dir = std::env::temp_dir().join(format!("evloop-doc-watch-{}", std::process::id()));
//! std::fs::create_dir_all(&dir)?;
//! let mut lp = Loop::new()?;
//! lp.fs_watch(&dir, FsWatchOptions::default(), |lp, watcher, ev| {
//!     if let FsEvent::Created(path) = ev {
//!         assert_eq!(path, std::path::Path::new("new.txt"));
//!         watcher.close(lp, |_| {}).unwrap();
//!     }
//! })?;
//! let file = dir.join("new.txt");
//! lp.set_immediate(move |_| std::fs::write(file, "hi").unwrap());
//! lp.run()?;
//! # std::fs::remove_dir_all(&dir)?;
//! # Ok(())
//! # }
//! ```

mod poll;

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, Read};
use std::os::fd::AsRawFd;
use std::panic::Location;
use std::path::{Path, PathBuf};

use mio::Interest;
use mio::unix::SourceFd;

pub use poll::FsPoll;
pub(crate) use poll::FsPollState;

use crate::error::{Error, Result};
use crate::event_loop::{CallbackKind, Phase};
use crate::event_loop::{HandleData, HandleState, Loop, Never};
use crate::handle::{HandleId, HandleKind, handle_type};
use crate::sys::inotify as sys;

handle_type! {
    /// A file-system watch from [`Loop::fs_watch`]: active (keeping the loop alive) until
    /// closed or ended. See the [module docs](crate::fs::event).
    FsWatcher
}

/// What [`Loop::fs_watch`] watches.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FsWatchOptions {
    /// Watch every directory below a watched directory too, adding watches for directories
    /// created (or moved in) later. Entries created in a new directory before its watch was
    /// in place are reported as [`FsEvent::Created`] when the directory is found.
    pub recursive: bool,
}

/// One change seen by an [`FsWatcher`]. Paths are relative to the watched directory (for a
/// watched file, the file's name); they are lent for the duration of the callback.
#[derive(Debug)]
#[non_exhaustive]
pub enum FsEvent<'a> {
    /// An entry was created.
    Created(&'a Path),
    /// An entry was removed.
    Removed(&'a Path),
    /// An entry's contents or metadata changed.
    Modified(&'a Path),
    /// An entry was renamed away from this path.
    MovedFrom(&'a Path),
    /// An entry was renamed to this path.
    MovedTo(&'a Path),
    /// The kernel's event queue overflowed: events were lost. Rescan.
    Overflow,
    /// A directory found below a recursive watch could not be watched (the inotify watch
    /// limit, `fs.inotify.max_user_watches`, say): changes below it go unseen. The watch goes on.
    Error(Error),
    /// The watch ended: the watched path was removed, moved or unmounted, or reading the
    /// events failed. The handle is inactive from now on; close it.
    Ended(Error),
}

impl FsEvent<'_> {
    /// The path concerned, if the event has one.
    pub fn path(&self) -> Option<&Path> {
        match self {
            Self::Created(p)
            | Self::Removed(p)
            | Self::Modified(p)
            | Self::MovedFrom(p)
            | Self::MovedTo(p) => Some(p),
            Self::Overflow | Self::Error(_) | Self::Ended(_) => None,
        }
    }

    /// Whether Node would call it a `'rename'` (an entry appeared or disappeared) rather than
    /// a `'change'`.
    pub fn is_rename(&self) -> bool {
        matches!(
            self,
            Self::Created(_) | Self::Removed(_) | Self::MovedFrom(_) | Self::MovedTo(_)
        )
    }
}

/// An event decoded and owned, waiting for its callback.
enum Owned {
    Created(PathBuf),
    Removed(PathBuf),
    Modified(PathBuf),
    MovedFrom(PathBuf),
    MovedTo(PathBuf),
    Overflow,
    Error(io::Error),
    Ended(io::Error),
}

type FsEventCb = Box<dyn FnMut(&mut Loop, FsWatcher, FsEvent<'_>)>;

/// The events a directory watch asks for.
const DIR_MASK: u32 = sys::IN_CREATE
    | sys::IN_DELETE
    | sys::IN_MODIFY
    | sys::IN_ATTRIB
    | sys::IN_MOVED_FROM
    | sys::IN_MOVED_TO
    | sys::IN_DELETE_SELF
    | sys::IN_MOVE_SELF;
/// The events a file watch asks for.
const FILE_MASK: u32 = sys::IN_MODIFY | sys::IN_ATTRIB | sys::IN_DELETE_SELF | sys::IN_MOVE_SELF;
/// Reads per wake-up before the rest waits for the next iteration.
const READS_PER_WAKEUP: usize = 16;

impl HandleState for Box<FsWatchState> {
    type Event = Never;

    fn stop(lp: &mut Loop, id: HandleId, _kind: HandleKind) {
        lp.fs_watch_stop(id);
    }

    fn ready(lp: &mut Loop, id: HandleId, _event: &mio::event::Event) {
        lp.fs_watch_ready(id, Phase::Poll);
    }

    fn pending(_lp: &mut Loop, _id: HandleId, never: Never) {
        match never {}
    }
}

/// What an fs-watch handle holds.
pub(crate) struct FsWatchState {
    /// The inotify fd; `None` once the watch ended.
    fd: Option<File>,
    root: PathBuf,
    recursive: bool,
    /// The root's name, for a watched file's events.
    file_name: Option<PathBuf>,
    root_wd: i32,
    /// Watch descriptor to directory, relative to the root.
    dirs: HashMap<i32, PathBuf>,
    cb: Option<FsEventCb>,
    buf: Vec<u8>,
}

impl Loop {
    /// Watches `path` (a file or a directory); `cb` runs in the poll phase for each change.
    /// Errors name the path: `fs watch '/nope': No such file or directory`.
    #[track_caller]
    pub fn fs_watch(
        &mut self,
        path: impl AsRef<Path>,
        options: FsWatchOptions,
        cb: impl FnMut(&mut Self, FsWatcher, FsEvent<'_>) + 'static,
    ) -> Result<FsWatcher> {
        let site = Location::caller();
        let root = path.as_ref().to_path_buf();
        let named = |e: io::Error| {
            Error::Io(io::Error::new(
                e.kind(),
                format!("fs watch '{}': {e}", root.display()),
            ))
        };
        let meta = std::fs::metadata(&root).map_err(named)?;
        let fd = sys::init().map_err(named)?;
        let is_dir = meta.is_dir();
        let mask = if is_dir { DIR_MASK } else { FILE_MASK };
        let root_wd = sys::add_watch(&fd, &root, mask).map_err(named)?;
        let mut state = FsWatchState {
            fd: Some(File::from(fd)),
            root: root.clone(),
            recursive: options.recursive && is_dir,
            file_name: (!is_dir).then(|| root.file_name().map(PathBuf::from).unwrap_or_default()),
            root_wd,
            dirs: HashMap::new(),
            cb: Some(Box::new(cb)),
            buf: Vec::new(),
        };
        state.dirs.insert(root_wd, PathBuf::new());
        if state.recursive {
            // Existing subdirectories; nothing to report for them, but one that cannot be
            // watched fails the call.
            let mut found = Vec::new();
            state.watch_tree(Path::new(""), false, &mut found);
            if let Some(Owned::Error(e)) = found.into_iter().find(|e| matches!(e, Owned::Error(_)))
            {
                return Err(Error::Io(e));
            }
        }
        let raw = state.fd.as_ref().map(AsRawFd::as_raw_fd);
        let id = self.handles_mut().insert(
            HandleKind::FsEvent,
            site,
            true,
            HandleData::FsEvent(Box::new(state)),
        );
        if let Some(raw) = raw {
            let registered = self
                .io_mut()
                .register(&mut SourceFd(&raw), id, Interest::READABLE);
            if let Err(e) = registered {
                self.handles_mut().remove(id);
                return Err(named(e));
            }
        }
        Ok(FsWatcher(id))
    }

    fn fs_watch_state(&mut self, id: HandleId) -> Result<&mut FsWatchState> {
        match &mut self.handles_mut().get_mut(id)?.data {
            HandleData::FsEvent(s) => Ok(s),
            _ => Err(Error::StaleHandle),
        }
    }

    /// Poll-phase dispatch: read and deliver what inotify has.
    pub(crate) fn fs_watch_ready(&mut self, id: HandleId, phase: Phase) {
        let Ok(state) = self.fs_watch_state(id) else {
            return;
        };
        let (events, more) = state.read_events();
        let ended = events.iter().any(|e| matches!(e, Owned::Ended(_)));
        if ended {
            self.fs_watch_stop(id);
        }
        self.fs_watch_deliver(id, phase, events);
        if more {
            self.defer(
                CallbackKind::FsEvent,
                Location::caller(),
                Box::new(move |lp| lp.fs_watch_ready(id, Phase::Pending)),
            );
        }
    }

    fn fs_watch_deliver(&mut self, id: HandleId, phase: Phase, events: Vec<Owned>) {
        let Ok(entry) = self.handles().get(id) else {
            return;
        };
        let site = entry.site;
        for ev in events {
            let Ok(entry) = self.handles_mut().get_mut(id) else {
                return;
            };
            if entry.closing {
                return;
            }
            let HandleData::FsEvent(state) = &mut entry.data else {
                return;
            };
            let Some(cb) = state.cb.take() else { return };
            self.invoke_restoring(
                phase,
                CallbackKind::FsEvent,
                site,
                cb,
                move |lp, cb| {
                    let ev = match &ev {
                        Owned::Created(p) => FsEvent::Created(p),
                        Owned::Removed(p) => FsEvent::Removed(p),
                        Owned::Modified(p) => FsEvent::Modified(p),
                        Owned::MovedFrom(p) => FsEvent::MovedFrom(p),
                        Owned::MovedTo(p) => FsEvent::MovedTo(p),
                        Owned::Overflow => FsEvent::Overflow,
                        Owned::Error(e) => {
                            FsEvent::Error(Error::Io(crate::net::stream::copy_io_error(e)))
                        }
                        Owned::Ended(e) => {
                            FsEvent::Ended(Error::Io(crate::net::stream::copy_io_error(e)))
                        }
                    };
                    cb(lp, FsWatcher(id), ev);
                },
                move |lp, cb| {
                    if let Ok(state) = lp.fs_watch_state(id)
                        && state.cb.is_none()
                    {
                        state.cb = Some(cb);
                    }
                },
            );
        }
    }

    /// Stops watching (at close, or when the watch ended): deregister and close inotify.
    pub(crate) fn fs_watch_stop(&mut self, id: HandleId) {
        let Ok(state) = self.fs_watch_state(id) else {
            return;
        };
        if let Some(fd) = state.fd.take() {
            self.io_mut().deregister(&mut SourceFd(&fd.as_raw_fd()));
        }
        self.handles_mut().set_active(id, false);
    }
}

impl FsWatchState {
    /// Reads until `WouldBlock` (or the per-wake-up budget: then `more` is true).
    fn read_events(&mut self) -> (Vec<Owned>, bool) {
        let mut out = Vec::new();
        let mut buf = std::mem::take(&mut self.buf);
        buf.resize(16 * 1024, 0);
        let mut more = false;
        for round in 0..READS_PER_WAKEUP {
            let Some(fd) = &self.fd else { break };
            let n = match (&*fd).read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    out.push(Owned::Ended(e));
                    break;
                }
            };
            for raw in sys::decode(&buf[..n]) {
                self.translate(&raw, &mut out);
            }
            if out.iter().any(|e| matches!(e, Owned::Ended(_))) {
                break;
            }
            more = round + 1 == READS_PER_WAKEUP;
        }
        self.buf = buf;
        (out, more)
    }

    /// Turns one inotify record into events, keeping the directory map current.
    fn translate(&mut self, raw: &sys::RawEvent<'_>, out: &mut Vec<Owned>) {
        if raw.mask & sys::IN_Q_OVERFLOW != 0 {
            out.push(Owned::Overflow);
            return;
        }
        let Some(dir) = self.dirs.get(&raw.wd).cloned() else {
            return; // a watch already removed
        };
        let is_root = raw.wd == self.root_wd;
        if raw.mask & (sys::IN_DELETE_SELF | sys::IN_MOVE_SELF | sys::IN_UNMOUNT | sys::IN_IGNORED)
            != 0
        {
            if is_root {
                let what = if raw.mask & sys::IN_MOVE_SELF != 0 {
                    "the watched path was moved"
                } else if raw.mask & sys::IN_UNMOUNT != 0 {
                    "the watched path's file system was unmounted"
                } else {
                    "the watched path was removed"
                };
                if self.file_name.is_some() && raw.mask & sys::IN_DELETE_SELF != 0 {
                    // A watched file: its removal is an event about it, then the end.
                    out.push(Owned::Removed(self.rel(&dir, raw)));
                }
                out.push(Owned::Ended(io::Error::new(
                    io::ErrorKind::NotFound,
                    format!("fs watch '{}': {what}", self.root.display()),
                )));
                self.fd_end();
            } else if raw.mask & sys::IN_IGNORED != 0 {
                self.dirs.remove(&raw.wd);
            }
            return;
        }
        let path = self.rel(&dir, raw);
        let is_dir = raw.mask & sys::IN_ISDIR != 0;
        if raw.mask & sys::IN_CREATE != 0 {
            out.push(Owned::Created(path.clone()));
            if self.recursive && is_dir {
                self.watch_tree(&path, true, out);
            }
        } else if raw.mask & sys::IN_MOVED_TO != 0 {
            out.push(Owned::MovedTo(path.clone()));
            if self.recursive && is_dir {
                self.watch_tree(&path, true, out);
            }
        } else if raw.mask & sys::IN_DELETE != 0 {
            out.push(Owned::Removed(path));
        } else if raw.mask & sys::IN_MOVED_FROM != 0 {
            if self.recursive && is_dir {
                self.unwatch_below(&path);
            }
            out.push(Owned::MovedFrom(path));
        } else if raw.mask & (sys::IN_MODIFY | sys::IN_ATTRIB | sys::IN_CLOSE_WRITE) != 0 {
            out.push(Owned::Modified(path));
        }
    }

    /// The event's path relative to the root.
    fn rel(&self, dir: &Path, raw: &sys::RawEvent<'_>) -> PathBuf {
        match &self.file_name {
            Some(name) => name.clone(),
            None if raw.name.is_empty() => dir.to_path_buf(),
            None => dir.join(raw.name),
        }
    }

    /// Watches directory `rel` and every directory below it; with `report`, entries found
    /// (created before the watch was in place) are reported as created.
    fn watch_tree(&mut self, rel: &Path, report: bool, out: &mut Vec<Owned>) {
        let mut stack = vec![rel.to_path_buf()];
        while let Some(dir) = stack.pop() {
            let Some(fd) = &self.fd else { return };
            let abs = self.root.join(&dir);
            if !dir.as_os_str().is_empty() {
                match sys::add_watch(fd, &abs, DIR_MASK | libc::IN_ONLYDIR) {
                    Ok(wd) => {
                        self.dirs.insert(wd, dir.clone());
                    }
                    // Gone again already, or not a directory after all: its events will say.
                    Err(e) if matches!(e.raw_os_error(), Some(libc::ENOENT | libc::ENOTDIR)) => {
                        continue;
                    }
                    Err(e) => {
                        out.push(Owned::Error(io::Error::new(
                            e.kind(),
                            format!("fs watch '{}': {e}", abs.display()),
                        )));
                        continue;
                    }
                }
            }
            let Ok(entries) = std::fs::read_dir(&abs) else {
                continue;
            };
            let mut names: Vec<_> = entries.flatten().collect();
            names.sort_by_key(std::fs::DirEntry::file_name);
            for entry in names {
                let child = dir.join(entry.file_name());
                if report && !dir.as_os_str().is_empty() {
                    out.push(Owned::Created(child.clone()));
                }
                if entry.file_type().is_ok_and(|t| t.is_dir()) {
                    stack.push(child);
                }
            }
        }
    }

    /// Forgets the watches of `rel` and below (moved away: their events would name old paths).
    fn unwatch_below(&mut self, rel: &Path) {
        let gone: Vec<i32> = self
            .dirs
            .iter()
            .filter(|(_, d)| d.starts_with(rel))
            .map(|(wd, _)| *wd)
            .collect();
        for wd in gone {
            if let Some(fd) = &self.fd {
                let _ = sys::rm_watch(fd, wd);
            }
            self.dirs.remove(&wd);
        }
    }

    fn fd_end(&mut self) {
        self.dirs.clear();
    }
}

impl FsWatcher {
    /// The watched path, as given.
    pub fn path(self, lp: &Loop) -> Result<PathBuf> {
        match &lp.handles().get(self.0)?.data {
            HandleData::FsEvent(s) => Ok(s.root.clone()),
            _ => Err(Error::StaleHandle),
        }
    }
}
