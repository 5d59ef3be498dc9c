//! Closing handles: stop at once, cancel pending requests, run close callbacks in the close
//! phase, then free the slot.

use std::panic::resume_unwind;

use crate::error::Result;
use crate::event_loop::{HandleData, Loop, LoopFn, PanicPayload};
use crate::handle::{HandleId, Site};
use crate::metrics::{CallbackKind, Phase};

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
        self.stop_handle(id, kind);
        self.handles.set_active(id, false);
        self.closing.push_back((id, on_close));
        Ok(())
    }

    /// Kind-specific part of closing: take it out of every queue and the poller.
    fn stop_handle(&mut self, id: HandleId, kind: crate::handle::HandleKind) {
        use crate::handle::HandleKind as K;
        match kind {
            K::Timer => self.timer_disarm(id),
            K::Idle | K::Prepare | K::Check => self.watchers.remove(kind, id),
            K::Udp => self.udp_stop(id),
            K::Signal => self.signal_stop(id),
            K::Watcher => self.fd_watcher_stop(id),
            K::TcpStream | K::UnixStream => self.stream_stop(id),
            K::TcpListener | K::UnixListener => self.listener_stop(id),
        }
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
            let panicked = self.cancel_requests(id);
            let Some(entry) = self.handles.remove(id) else {
                continue;
            };
            if let HandleData::Stream(mut spare) = entry.data
                && self.net.spare_streams.len() < crate::net::SPARE_STREAMS
            {
                // Keep the box, not what it owned.
                spare.clear();
                self.net.spare_streams.push(spare);
            }
            if let Some(cb) = on_close {
                self.invoke(Phase::Close, CallbackKind::Close, entry.site, cb);
            }
            if let Some(panic) = panicked {
                resume_unwind(panic);
            }
        }
    }

    /// Close-phase hook: a closed handle's requests get their callbacks (finished ones with their
    /// result, unfinished ones with [`Error::Canceled`]) before its close callback. A panic in
    /// one of them is held until the rest and the close callback have run.
    fn cancel_requests(&mut self, id: HandleId) -> Option<PanicPayload> {
        match self.handles.get(id).ok()?.data {
            HandleData::Stream(_) => self.stream_cancel_requests(id),
            HandleData::Udp(_) => self.udp_cancel_sends(id),
            _ => None,
        }
    }
}
