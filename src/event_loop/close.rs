//! Closing handles: stop at once, cancel pending requests, run close callbacks in the close
//! phase, then free the slot.

use std::panic::resume_unwind;

use crate::error::Result;
use crate::event_loop::{CallbackKind, Loop, LoopFn, Phase};
use crate::handle::{HandleId, Site};

/// Handles waiting for their close callback, with that callback.
///
/// libuv pushes a closing handle at the head of its list and runs the list from the head, so the
/// close callbacks of one close phase run last closed, first called; handles closed during the
/// phase wait for the next one. `queued` collects `close` calls; the close phase moves them to
/// `running` and pops from its end. A panic leaves the rest in `running` for the next phase.
#[derive(Default)]
pub(crate) struct CloseQueue {
    queued: Vec<(HandleId, Option<LoopFn>)>,
    running: Vec<(HandleId, Option<LoopFn>)>,
}

impl CloseQueue {
    pub(crate) fn is_empty(&self) -> bool {
        self.queued.is_empty() && self.running.is_empty()
    }

    /// Every handle waiting for its close callback.
    pub(crate) fn ids(&self) -> impl Iterator<Item = HandleId> + '_ {
        self.running.iter().chain(&self.queued).map(|(id, _)| *id)
    }

    fn push(&mut self, id: HandleId, on_close: Option<LoopFn>) {
        self.queued.push((id, on_close));
    }

    /// The close phase begins: what was closed before it runs in this phase.
    fn begin_phase(&mut self) {
        if self.running.is_empty() {
            std::mem::swap(&mut self.queued, &mut self.running);
        } else {
            // Left by a panic: the newer closes run first, as they would have.
            self.running.append(&mut self.queued);
        }
    }
}

impl Loop {
    /// Starts closing `id`: stops it now, runs `on_close` in the close phase.
    pub(crate) fn close_handle(
        &mut self,
        id: HandleId,
        on_close: Option<LoopFn>,
        _site: Site,
    ) -> Result<()> {
        let entry = self.handles.open_mut(id)?;
        entry.closing = true;
        let kind = entry.kind;
        self.kind_stop(id, kind);
        self.handles.set_active(id, false);
        self.closing.push(id, on_close);
        Ok(())
    }

    /// The close phase: handles closed before it began get their close callbacks, the last
    /// closed first (libuv's order).
    pub(crate) fn run_closing(&mut self) {
        if self.closing.is_empty() {
            return;
        }
        self.closing.begin_phase();
        while let Some((id, on_close)) = self.closing.running.pop() {
            // Requests still pending on the handle complete (canceled) before its close
            // callback, while the handle still reads as closing. Every one runs even if
            // another panics; the first panic resumes after the close callback.
            let panicked = self.kind_cancel_requests(id);
            let Some(entry) = self.handles.remove(id) else {
                continue;
            };
            let site = entry.site;
            self.user.handle_freed(id);
            self.kind_freed(entry.data);
            if let Some(cb) = on_close {
                self.invoke(Phase::Close, CallbackKind::Close, site, cb);
            }
            if let Some(panic) = panicked {
                resume_unwind(panic);
            }
        }
    }
}
