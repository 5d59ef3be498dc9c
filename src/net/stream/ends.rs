//! Stream conveniences built on the core: `end` (write, flush, then close) and the idle
//! timeout (Node's `socket.end(data)` and `socket.setTimeout`).

use std::time::Duration;

use super::{Request, stream_mut, stream_open};
use crate::error::Result;
use crate::event_loop::Loop;
use crate::handle::{Handle, HandleId, Site};
use crate::net::WriteBuf;
use crate::timer::Timer;

pub(crate) type EndCb = Box<dyn FnOnce(&mut Loop, Result<()>)>;
pub(crate) type IdleCb = Box<dyn FnMut(&mut Loop, HandleId)>;

impl Loop {
    /// `end`: queue `buf` (if not empty), shut the write side once every queued byte is out,
    /// then close; `cb` runs in the close phase with the shutdown's result.
    pub(crate) fn stream_end(
        &mut self,
        id: HandleId,
        buf: WriteBuf,
        cb: EndCb,
        site: Site,
    ) -> Result<()> {
        stream_open(self.handles_mut(), id)?;
        if !buf.is_empty() {
            let req = Request {
                cb: Box::new(|_, _| {}),
                site,
            };
            self.stream_write_one(id, buf, req)?;
        }
        let req = Request {
            cb: Box::new(move |lp, r| {
                if lp.handles().get(id).is_ok_and(|e| !e.closing) {
                    let closed = lp.close_handle(id, Some(Box::new(move |lp| cb(lp, r))), site);
                    debug_assert!(closed.is_ok(), "checked open above");
                } else {
                    // Closed by someone else first: the shutdown was canceled; say so now
                    // (this already runs in the close phase).
                    cb(lp, r);
                }
            }),
            site,
        };
        self.stream_shutdown(id, req)
    }

    /// `set_idle_timeout`: (re)places the stream's idle timer; zero removes it.
    pub(crate) fn stream_set_idle_timeout(
        &mut self,
        id: HandleId,
        timeout: Duration,
        mut cb: IdleCb,
        site: Site,
    ) -> Result<()> {
        let old = stream_open(self.handles_mut(), id)?.extra_mut().idle.take();
        if let Some(old) = old {
            let _ = old.close(self, |_| {});
        }
        if timeout.is_zero() {
            return Ok(());
        }
        let timer = self.start_timer(
            timeout,
            true,
            Box::new(move |lp, timer| {
                // Fires once per idle period: parked until activity re-arms it. A repeating
                // timer that is not armed stays allocated (a one-shot one would be released).
                lp.timer_disarm(timer.0);
                cb(lp, id);
            }),
            site,
        );
        // The timer never keeps the loop alive on its own: the stream does, if anything.
        let _ = timer.unref(self);
        if let Ok(s) = stream_mut(self.handles_mut(), id) {
            s.extra_mut().idle = Some(timer);
        }
        Ok(())
    }

    /// Activity on a stream with an idle timeout: restart its idle period.
    pub(crate) fn stream_idle_touch(&mut self, timer: Timer) {
        let _ = timer.refresh(self);
    }
}
