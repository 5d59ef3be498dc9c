//! [`FsPoll`]: change detection by stat polling (libuv `uv_fs_poll_t`, Node's `fs.watchFile`),
//! for file systems that send no events (NFS, FUSE, some containers' mounts).

use std::io;
use std::panic::Location;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::error::{Error, Result};
use crate::event_loop::{CallbackKind, Phase};
use crate::event_loop::{HandleData, HandleState, Loop, Never};
use crate::fs::Metadata;
use crate::handle::{Handle, HandleId, HandleKind, Site, handle_type};
use crate::timer::Timer;

handle_type! {
    /// A stat poller from [`Loop::fs_poll`]. Active until closed. Each poll is a `stat` on the
    /// thread pool, so a slow network file system never blocks the loop.
    FsPoll
}

type FsPollCb = Box<dyn FnMut(&mut Loop, FsPoll, Option<&Metadata>, &io::Result<Metadata>)>;

/// What a stat-poll handle holds.
pub(crate) struct FsPollState {
    path: PathBuf,
    interval: Duration,
    /// The last result: `None` before the first stat.
    prev: Option<io::Result<Metadata>>,
    timer: Option<Timer>,
    cb: Option<FsPollCb>,
}

impl HandleState for Box<FsPollState> {
    type Event = Never;

    fn stop(lp: &mut Loop, id: HandleId, _kind: HandleKind) {
        lp.fs_poll_stop(id);
    }

    fn pending(_lp: &mut Loop, _id: HandleId, never: Never) {
        match never {}
    }
}

/// Whether two stats differ in what a change means (not the access time, which reading
/// changes).
fn differs(a: &io::Result<Metadata>, b: &io::Result<Metadata>) -> bool {
    match (a, b) {
        (Ok(a), Ok(b)) => {
            (
                a.kind, a.mode, a.len, a.modified, a.changed, a.ino, a.dev, a.nlink, a.uid, a.gid,
            ) != (
                b.kind, b.mode, b.len, b.modified, b.changed, b.ino, b.dev, b.nlink, b.uid, b.gid,
            )
        }
        (Err(a), Err(b)) => a.kind() != b.kind(),
        _ => true,
    }
}

impl Loop {
    /// Polls `path` with `stat` every `interval`; `cb(lp, poller, previous, current)` runs when
    /// the result changes (size, times, mode, owner, inode, or a transition between existing
    /// and not). The first stat sets the baseline without a callback, as libuv's. `previous`
    /// is `None` when the previous stat failed.
    #[track_caller]
    pub fn fs_poll(
        &mut self,
        path: impl AsRef<Path>,
        interval: Duration,
        cb: impl FnMut(&mut Self, FsPoll, Option<&Metadata>, &io::Result<Metadata>) + 'static,
    ) -> FsPoll {
        let site = Location::caller();
        let state = FsPollState {
            path: path.as_ref().to_path_buf(),
            interval,
            prev: None,
            timer: None,
            cb: Some(Box::new(cb)),
        };
        let id = self.handles_mut().insert(
            HandleKind::FsPoll,
            site,
            true,
            HandleData::FsPoll(Box::new(state)),
        );
        self.fs_poll_stat(id, site);
        FsPoll(id)
    }

    fn fs_poll_state(&mut self, id: HandleId) -> Result<&mut FsPollState> {
        match &mut self.handles_mut().open_mut(id)?.data {
            HandleData::FsPoll(s) => Ok(s),
            _ => Err(Error::StaleHandle),
        }
    }

    fn fs_poll_stat(&mut self, id: HandleId, site: Site) {
        let Ok(state) = self.fs_poll_state(id) else {
            return;
        };
        let path = state.path.clone();
        crate::fs::stat(self, path, move |lp, result| {
            lp.fs_poll_result(id, site, result);
        });
    }

    fn fs_poll_result(&mut self, id: HandleId, site: Site, result: io::Result<Metadata>) {
        // Closed meanwhile: the result goes nowhere.
        let Ok(state) = self.fs_poll_state(id) else {
            return;
        };
        let prev = state.prev.replace(result);
        let interval = state.interval;
        let changed = prev
            .as_ref()
            .is_some_and(|p| state.prev.as_ref().is_some_and(|c| differs(p, c)));
        if changed && let Some(mut cb) = state.cb.take() {
            let prev_ok = prev.and_then(Result::ok);
            self.invoke(Phase::Poll, CallbackKind::FsEvent, site, |lp| {
                if let Ok(state) = lp.fs_poll_state(id)
                    && let Some(current) = state.prev.take()
                {
                    cb(lp, FsPoll(id), prev_ok.as_ref(), &current);
                    if let Ok(state) = lp.fs_poll_state(id) {
                        state.prev = Some(current);
                    }
                }
                if let Ok(state) = lp.fs_poll_state(id)
                    && state.cb.is_none()
                {
                    state.cb = Some(cb);
                }
            });
        }
        // Next poll after the interval (if still open).
        if self.fs_poll_state(id).is_err() {
            return;
        }
        let timer = self.start_timer(
            interval,
            false,
            Box::new(move |lp, _t| lp.fs_poll_stat(id, site)),
            site,
        );
        // The poller's own handle keeps the loop alive, not its timer.
        let _ = timer.unref(self);
        if let Ok(state) = self.fs_poll_state(id) {
            state.timer = Some(timer);
        }
    }

    /// Close: stop the timer; a stat in flight finds the handle gone.
    pub(crate) fn fs_poll_stop(&mut self, id: HandleId) {
        let timer = match &mut self.handles_mut().get_mut(id).map(|e| &mut e.data) {
            Ok(HandleData::FsPoll(s)) => s.timer.take(),
            _ => None,
        };
        if let Some(t) = timer {
            t.clear(self);
        }
    }
}

impl FsPoll {
    /// The polled path.
    pub fn path(self, lp: &Loop) -> Result<PathBuf> {
        match &lp.handles().get(self.0)?.data {
            HandleData::FsPoll(s) => Ok(s.path.clone()),
            _ => Err(Error::StaleHandle),
        }
    }
}
