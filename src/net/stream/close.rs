//! Closing a stream: stop and deregister at `close` time; in the close phase, run its
//! finished and canceled requests before the close callback.

use std::collections::VecDeque;
use std::panic::{AssertUnwindSafe, catch_unwind};

use super::{Done, StreamEvent, stream_mut};
use crate::error::Error;
use crate::event_loop::{HandleEvent, IoCx, Loop, PanicPayload, Pending, Phase};
use crate::handle::HandleId;

impl Loop {
    /// Close, first half (at `close` time): stop reading, deregister and drop the socket. With
    /// `reset_on_close`, `SO_LINGER` 0 first, so the peer gets a RST.
    pub(crate) fn stream_stop(&mut self, id: HandleId) {
        let IoCx { handles, io, .. } = self.io_cx();
        let Ok(s) = stream_mut(handles, id) else {
            return;
        };
        s.stop_reading();
        let (mut idle, mut ending) = (None, None);
        #[cfg(windows)]
        let mut retry = None;
        if let Some(extra) = &mut s.extra {
            extra.drain_cb = None;
            idle = extra.idle.take();
            ending = extra.ending.take();
            #[cfg(windows)]
            {
                retry = extra.retry.take();
            }
        }
        if let Some(mut socket) = s.socket.take() {
            io.deregister(socket.source());
            if s.reset_on_close
                && let Ok(sock) = socket.sock_ref()
            {
                let _ = sock.set_linger(Some(std::time::Duration::ZERO));
            }
        }
        if let Some(timer) = idle {
            // Closed with the stream: an idle timeout never fires after close.
            let _ = crate::Handle::close(timer, self, |_| {});
        }
        #[cfg(windows)]
        if let Some(timer) = retry {
            // A named-pipe client still waiting for a free instance gives up with the stream
            // (the timer may have fired already: closing a stale id is a harmless error).
            let _ = crate::Handle::close(timer, self, |_| {});
        }
        if let Some((cb, linger)) = ending {
            // Closed while `end` waited for the peer's FIN: the FIN went out, so the end
            // callback still gets `Ok`, later (never inside `close`).
            let _ = crate::Handle::close(linger, self, |_| {});
            let site = self
                .handles()
                .get(id)
                .map_or(std::panic::Location::caller(), |e| e.site);
            self.defer(
                crate::CallbackKind::Shutdown,
                site,
                Box::new(move |lp| cb(lp, Ok(()))),
            );
        }
    }

    /// Moves the completions of `id` and of every other closing stream off the pending queue
    /// into `closing_done`, in one pass.
    fn take_closing_completions(&mut self, id: HandleId) {
        let closing: Vec<HandleId> = self.closing_ids().collect();
        let IoCx {
            handles,
            pending,
            net,
            ..
        } = self.io_cx();
        let closing_done = &mut net.closing_done;
        let mut ids = std::collections::HashSet::new();
        for of in std::iter::once(id).chain(closing) {
            if let Ok(s) = stream_mut(handles, of)
                && s.done_queued > 0
            {
                s.done_queued = 0;
                ids.insert(of);
            }
        }
        let mut kept = VecDeque::with_capacity(pending.len());
        for p in pending.drain(..) {
            match p {
                Pending::Handle {
                    id: of,
                    event: HandleEvent::Stream(StreamEvent::Done(done)),
                } if ids.contains(&of) => {
                    closing_done.entry(of).or_default().push(done);
                }
                other => kept.push_back(other),
            }
        }
        *pending = kept;
    }

    /// Close, second half (close phase, before the close callback): finished requests get
    /// their results, unfinished ones [`Error::Canceled`], in the order they were made.
    /// Each callback runs even if an earlier one panicked; the first panic is returned for the
    /// close phase to resume after the close callback (as `udp_cancel_sends`).
    pub(crate) fn stream_cancel_requests(&mut self, id: HandleId) -> Option<PanicPayload> {
        let Ok(s) = stream_mut(self.handles_mut(), id) else {
            return None;
        };
        if s.done_queued > 0 {
            self.take_closing_completions(id);
        }
        // Finished requests that were still on the pending queue run first, in their order.
        let closing_done = &mut self.net_mut().closing_done;
        let mut dones = if closing_done.is_empty() {
            Vec::new()
        } else {
            closing_done.remove(&id).unwrap_or_default()
        };
        let Ok(s) = stream_mut(self.handles_mut(), id) else {
            return None;
        };
        if let Some(req) = s.extra.as_mut().and_then(|e| e.connect.take_request()) {
            dones.push(Done::Connect(req, Err(Error::Canceled)));
        }
        s.fail_with(|| Error::Canceled, |done| dones.push(done));
        if dones.is_empty() {
            // The common close: nothing was left to run.
            return None;
        }
        let mut first_panic = None;
        for done in dones {
            let (kind, site) = done.meta();
            let call = catch_unwind(AssertUnwindSafe(|| {
                self.invoke(Phase::Close, kind, site, |lp| {
                    lp.stream_run_done(None, done)
                });
            }));
            if let Err(panic) = call {
                first_panic.get_or_insert(panic);
            }
        }
        first_panic
    }
}
