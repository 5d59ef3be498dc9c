//! Idle, prepare and check watchers: one shared pattern for the three libuv loop watchers.

use std::panic::Location;

use crate::error::{Error, Result};
use crate::event_loop::{CallbackKind, Phase};
use crate::event_loop::{HandleData, HandleState, Loop, Never};
use crate::handle::{HandleId, HandleKind, Site, handle_type};

handle_type! {
    /// An idle watcher: runs once per iteration before prepare; while active, poll does not block.
    Idle
}
handle_type! {
    /// A prepare watcher: runs once per iteration right before poll.
    Prepare
}
handle_type! {
    /// A check watcher: runs once per iteration right after poll, after the immediates.
    Check
}

type WatcherCallback = Box<dyn FnMut(&mut Loop, HandleId)>;

pub(crate) struct WatcherData {
    cb: Option<WatcherCallback>,
}

/// The started watchers of each kind, most recently started first (libuv's order).
#[derive(Default)]
pub(crate) struct WatcherLists {
    idle: Vec<HandleId>,
    prepare: Vec<HandleId>,
    check: Vec<HandleId>,
    /// Reused snapshot buffer: a pass runs the watchers started when it began.
    scratch: Vec<HandleId>,
}

impl WatcherLists {
    pub(crate) fn has_idle(&self) -> bool {
        !self.idle.is_empty()
    }

    fn list(&mut self, kind: HandleKind) -> &mut Vec<HandleId> {
        match kind {
            HandleKind::Idle => &mut self.idle,
            HandleKind::Prepare => &mut self.prepare,
            _ => &mut self.check,
        }
    }

    fn add(&mut self, kind: HandleKind, id: HandleId) {
        self.list(kind).insert(0, id);
    }

    pub(crate) fn remove(&mut self, kind: HandleKind, id: HandleId) {
        self.list(kind).retain(|w| *w != id);
    }
}

impl HandleState for WatcherData {
    type Event = Never;

    fn stop(lp: &mut Loop, id: HandleId, kind: HandleKind) {
        lp.watchers_mut().remove(kind, id);
    }

    fn pending(_lp: &mut Loop, _id: HandleId, never: Never) {
        match never {}
    }
}

/// # Handles: idle, prepare and check watchers
impl Loop {
    /// Starts an idle watcher. While any idle watcher is active the loop does not block in poll.
    #[track_caller]
    pub fn add_idle(&mut self, mut cb: impl FnMut(&mut Self, Idle) + 'static) -> Idle {
        Idle(self.add_watcher(
            HandleKind::Idle,
            Box::new(move |lp, id| cb(lp, Idle(id))),
            Location::caller(),
        ))
    }

    /// Starts a prepare watcher.
    #[track_caller]
    pub fn add_prepare(&mut self, mut cb: impl FnMut(&mut Self, Prepare) + 'static) -> Prepare {
        Prepare(self.add_watcher(
            HandleKind::Prepare,
            Box::new(move |lp, id| cb(lp, Prepare(id))),
            Location::caller(),
        ))
    }

    /// Starts a check watcher.
    #[track_caller]
    pub fn add_check(&mut self, mut cb: impl FnMut(&mut Self, Check) + 'static) -> Check {
        Check(self.add_watcher(
            HandleKind::Check,
            Box::new(move |lp, id| cb(lp, Check(id))),
            Location::caller(),
        ))
    }

    fn add_watcher(&mut self, kind: HandleKind, cb: WatcherCallback, site: Site) -> HandleId {
        let data = HandleData::Watcher(WatcherData { cb: Some(cb) });
        let id = self.handles_mut().insert(kind, site, true, data);
        self.watchers_mut().add(kind, id);
        id
    }

    fn watcher_start(&mut self, id: HandleId) -> Result<()> {
        let entry = self.handles_mut().open_mut(id)?;
        if !entry.active {
            let kind = entry.kind;
            self.watchers_mut().add(kind, id);
            self.handles_mut().set_active(id, true);
        }
        Ok(())
    }

    fn watcher_stop(&mut self, id: HandleId) -> Result<()> {
        let entry = self.handles().get(id)?;
        if entry.active {
            let kind = entry.kind;
            self.watchers_mut().remove(kind, id);
            self.handles_mut().set_active(id, false);
        }
        Ok(())
    }

    /// One pass over the watchers of `phase`'s kind that were active when the pass began.
    /// Inlined down to the emptiness check: most loops have no watchers at all.
    #[inline]
    pub(crate) fn run_watchers(&mut self, phase: Phase) {
        let kind = match phase {
            Phase::Idle => HandleKind::Idle,
            Phase::Prepare => HandleKind::Prepare,
            _ => HandleKind::Check,
        };
        if !self.watchers_mut().list(kind).is_empty() {
            self.run_watcher_pass(phase, kind);
        }
    }

    #[inline(never)]
    fn run_watcher_pass(&mut self, phase: Phase, kind: HandleKind) {
        let cb_kind = match kind {
            HandleKind::Idle => CallbackKind::Idle,
            HandleKind::Prepare => CallbackKind::Prepare,
            _ => CallbackKind::Check,
        };
        let mut snapshot = std::mem::take(&mut self.watchers_mut().scratch);
        snapshot.clear();
        snapshot.extend_from_slice(self.watchers_mut().list(kind));
        for &id in &snapshot {
            // Stopped or closed by an earlier callback of this pass: skip.
            let Ok(entry) = self.handles_mut().get_mut(id) else {
                continue;
            };
            if !entry.active {
                continue;
            }
            let site = entry.site;
            let HandleData::Watcher(w) = &mut entry.data else {
                continue;
            };
            let Some(cb) = w.cb.take() else { continue };
            self.invoke_restoring(
                phase,
                cb_kind,
                site,
                cb,
                |lp, cb| cb(lp, id),
                |lp, cb| {
                    if let Ok(entry) = lp.handles_mut().get_mut(id)
                        && let HandleData::Watcher(w) = &mut entry.data
                        && w.cb.is_none()
                    {
                        w.cb = Some(cb);
                    }
                },
            );
        }
        self.watchers_mut().scratch = snapshot;
    }
}

macro_rules! watcher_ops {
    ($($name:ident),*) => {$(
        impl $name {
            /// Starts the watcher again after [`stop`](Self::stop); it runs from the next pass.
            /// Starting an active watcher does nothing.
            pub fn start(self, lp: &mut Loop) -> Result<()> {
                lp.watcher_start(self.0)
            }

            /// Stops the watcher; it does not run again until started. Stopping an inactive
            /// watcher does nothing.
            pub fn stop(self, lp: &mut Loop) -> Result<()> {
                lp.watcher_stop(self.0)
            }

            /// Replaces the callback (takes effect from the next call).
            pub fn set_callback(
                self,
                lp: &mut Loop,
                mut cb: impl FnMut(&mut Loop, Self) + 'static,
            ) -> Result<()> {
                let entry = lp.handles_mut().open_mut(self.0)?;
                let HandleData::Watcher(w) = &mut entry.data else {
                    return Err(Error::StaleHandle);
                };
                w.cb = Some(Box::new(move |lp, id| cb(lp, Self(id))));
                Ok(())
            }
        }
    )*};
}
watcher_ops!(Idle, Prepare, Check);
