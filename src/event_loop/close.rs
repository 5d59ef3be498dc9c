//! Closing handles: stop at once, cancel pending requests, run close callbacks in the close
//! phase, then free the slot.

use std::panic::resume_unwind;

use crate::error::Result;
use crate::event_loop::{CallbackKind, Loop, LoopFn, Phase};
use crate::handle::{HandleId, Site};

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
        self.closing.push_back((id, on_close));
        Ok(())
    }

    /// The close phase: handles closed before it began get their close callbacks, in close order.
    pub(crate) fn run_closing(&mut self) {
        for _ in 0..self.closing.len() {
            let Some((id, on_close)) = self.closing.pop_front() else {
                break;
            };
            // Requests still pending on the handle complete (canceled) before its close
            // callback, while the handle still reads as closing. Every one runs even if
            // another panics; the first panic resumes after the close callback.
            let panicked = self.kind_cancel_requests(id);
            let Some(entry) = self.handles.remove(id) else {
                continue;
            };
            let site = entry.site;
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
