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

/// How long `end` waits for the peer's FIN after sending its own, before closing anyway.
pub(crate) const LINGER: Duration = Duration::from_secs(2);
pub(crate) type IdleCb = Box<dyn FnMut(&mut Loop, HandleId)>;

impl Loop {
    /// `end`: queue `buf` (if not empty), shut the write side once every queued byte is out,
    /// wait for the peer's FIN (at most [`LINGER`]), then close; `cb` runs in the close phase
    /// with the shutdown's result.
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
            cb: Box::new(move |lp, r| lp.stream_end_linger(id, r, cb, site)),
            site,
        };
        self.stream_shutdown(id, req)
    }

    /// The FIN is out (or the shutdown failed). Closing now could turn bytes the peer still
    /// sends into a reset that makes its kernel drop what we sent and it has not read yet, so
    /// the stream reads on, discarding, until the peer's FIN — or [`LINGER`] at most — and then
    /// closes; `cb` runs with the close.
    fn stream_end_linger(&mut self, id: HandleId, r: Result<()>, cb: EndCb, site: Site) {
        if !self.handles().get(id).is_ok_and(|e| !e.closing) {
            // Closed by someone else first: the shutdown was canceled; say so now (this
            // already runs in the close phase).
            return cb(self, r);
        }
        // Without a half-close (a named pipe) the peer sees EOF only at close, so there is no
        // FIN of its own to wait for: close now (the pipe keeps what it was handed).
        let half_closes = self
            .stream_socket(id)
            .is_ok_and(crate::net::socket::StreamSocket::half_closes);
        if r.is_err() || !half_closes {
            let closed = self.close_handle(id, Some(Box::new(move |lp| cb(lp, r))), site);
            debug_assert!(closed.is_ok(), "checked open above");
            return;
        }
        let linger = self.start_timer(
            LINGER,
            false,
            Box::new(move |lp, _| lp.stream_end_close(id)),
            site,
        );
        let _ = linger.unref(self);
        if let Ok(s) = stream_mut(self.handles_mut(), id) {
            s.extra_mut().ending = Some((cb, linger));
        }
        let discard: super::ReadCb = Box::new(|lp, id, ev| {
            if !matches!(ev, crate::net::ReadEvent::Data(_)) {
                lp.stream_end_close(id);
            }
        });
        if self.stream_read_start(id, discard, site).is_err() {
            self.stream_end_close(id);
        }
    }

    /// The peer's FIN came (or the linger ran out): close, running the end callback.
    fn stream_end_close(&mut self, id: HandleId) {
        let Ok(s) = stream_open(self.handles_mut(), id) else {
            return;
        };
        let Some((cb, linger)) = s.extra.as_mut().and_then(|e| e.ending.take()) else {
            return;
        };
        let _ = linger.clear(self);
        let site = self
            .handles()
            .get(id)
            .map_or(std::panic::Location::caller(), |e| e.site);
        let closed = self.close_handle(id, Some(Box::new(move |lp| cb(lp, Ok(())))), site);
        debug_assert!(closed.is_ok(), "checked open above");
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
