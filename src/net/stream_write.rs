//! The write side of the stream core: the try-write fast path, flushing the queue on the
//! writable edge, backpressure, shutdown, and delivering completions in the pending phase.

use std::io::{self, IoSlice};
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};

use super::stream::{Done, DrainCb, Request, ShutdownState, StreamState, stream_mut, stream_open};
use super::write_queue::WriteBuf;
use crate::error::{Error, Result};
use crate::event_loop::{Loop, Pending};
use crate::handle::{HandleId, Site};

/// Buffers per `sendmsg` (well under every platform's `IOV_MAX`).
const MAX_IOV: usize = 64;

impl StreamState {
    /// Fails every queued write and a requested shutdown with `err()`, in order.
    pub(crate) fn fail_with(&mut self, err: impl Fn() -> Error) {
        let done = &mut self.done;
        self.queue
            .clear(|req| done.push_back(Done::Write(req, Err(err()))));
        if matches!(self.shutdown, ShutdownState::Requested(_))
            && let ShutdownState::Requested(req) =
                std::mem::replace(&mut self.shutdown, ShutdownState::Done)
        {
            self.done.push_back(Done::Shutdown(req, Err(err())));
        }
    }

    /// Fails every queued write and a requested shutdown with a copy of `e`.
    pub(crate) fn fail_requests(&mut self, e: &io::Error) {
        self.fail_with(|| Error::Io(super::stream::copy_io_error(e)));
    }
}

impl Loop {
    /// Queues a write request and, if the socket is writable, sends at once: only the unwritten
    /// tail stays queued. Returns whether the queue is below the high-water mark.
    pub(crate) fn stream_write(
        &mut self,
        id: HandleId,
        bufs: impl IntoIterator<Item = WriteBuf>,
        req: Request,
    ) -> Result<bool> {
        let s = stream_open(&mut self.handles, id)?;
        if !matches!(s.shutdown, ShutdownState::Open) {
            return Err(Error::InvalidState("write after shutdown"));
        }
        s.queue.push(bufs, req);
        self.active_reqs += 1;
        self.stream_flush(id);
        let s = stream_mut(&mut self.handles, id)?;
        // Nothing queued is never backpressure, whatever the mark (a drain would never come).
        let below = s.queue.is_empty() || s.queue.bytes() < s.high_water;
        if !below {
            s.wants_drain = true;
        }
        Ok(below)
    }

    /// Requests a half-close once the queue is flushed.
    pub(crate) fn stream_shutdown(&mut self, id: HandleId, req: Request) -> Result<()> {
        let s = stream_open(&mut self.handles, id)?;
        if !matches!(s.shutdown, ShutdownState::Open) {
            return Err(Error::InvalidState("shutdown already requested"));
        }
        s.shutdown = ShutdownState::Requested(req);
        self.active_reqs += 1;
        self.stream_flush(id);
        Ok(())
    }

    pub(crate) fn stream_on_drain(&mut self, id: HandleId, cb: DrainCb, site: Site) -> Result<()> {
        let s = stream_open(&mut self.handles, id)?;
        s.drain_cb = Some(cb);
        s.drain_site = site;
        Ok(())
    }

    /// Sends queued bytes while the socket takes them. When the queue empties: the drain event
    /// (if a write reported backpressure) and a requested shutdown. A send error fails every
    /// queued request: a byte stream cannot skip a hole.
    pub(crate) fn stream_flush(&mut self, id: HandleId) {
        let Ok(s) = stream_mut(&mut self.handles, id) else {
            return;
        };
        if s.connect.is_some() {
            return;
        }
        let Some(socket) = &s.socket else { return };
        let from = s.done.len();
        let mut failed = None;
        while s.writable && !s.queue.is_empty() {
            let sent = {
                let mut iov = [IoSlice::new(&[]); MAX_IOV];
                let n = s.queue.slices(&mut iov);
                if iov[..n].iter().all(|b| b.is_empty()) {
                    Ok(0)
                } else {
                    match socket.send_vectored(&iov[..n]) {
                        Ok(0) => Err(io::ErrorKind::WouldBlock.into()),
                        other => other,
                    }
                }
            };
            match sent {
                Ok(n) => {
                    let done = &mut s.done;
                    s.queue
                        .advance(n, |req| done.push_back(Done::Write(req, Ok(()))));
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => s.writable = false,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    failed = Some(e);
                    break;
                }
            }
        }
        if let Some(e) = failed {
            s.fail_requests(&e);
        } else if s.queue.is_empty() {
            if s.wants_drain {
                s.wants_drain = false;
                s.done.push_back(Done::Drain(s.drain_site));
            }
            if matches!(s.shutdown, ShutdownState::Requested(_))
                && let ShutdownState::Requested(req) =
                    std::mem::replace(&mut s.shutdown, ShutdownState::Done)
            {
                let result = socket.shutdown_write().map_err(Error::Io);
                s.done.push_back(Done::Shutdown(req, result));
            }
        }
        self.stream_schedule_done(id, from);
    }

    /// Puts one pending-phase delivery on the queue for each completion from index `from` on.
    pub(crate) fn stream_schedule_done(&mut self, id: HandleId, from: usize) {
        let Self {
            handles, pending, ..
        } = self;
        let Ok(s) = stream_mut(handles, id) else {
            return;
        };
        for done in s.done.iter().skip(from) {
            let (kind, site) = done.meta();
            pending.push_back(Pending {
                run: Box::new(move |lp| lp.stream_deliver_front(id)),
                kind,
                site,
            });
        }
    }

    /// A pending-phase delivery: runs the stream's oldest completion. Completions already run
    /// by the close phase leave nothing to do.
    fn stream_deliver_front(&mut self, id: HandleId) {
        let Ok(s) = stream_mut(&mut self.handles, id) else {
            return;
        };
        if let Some(done) = s.done.pop_front() {
            self.stream_run_done(Some(id), done);
        }
    }

    /// Runs one completion's callback. The drain callback runs only on a live stream (`id`).
    pub(crate) fn stream_run_done(&mut self, id: Option<HandleId>, done: Done) {
        let (req, result) = match done {
            Done::Write(req, r) | Done::Shutdown(req, r) | Done::Connect(req, r) => (req, r),
            Done::Drain(_) => {
                if let Some(id) = id {
                    self.stream_run_drain(id);
                }
                return;
            }
        };
        self.active_reqs -= 1;
        (req.cb)(self, result);
    }

    fn stream_run_drain(&mut self, id: HandleId) {
        let Ok(s) = stream_mut(&mut self.handles, id) else {
            return;
        };
        let Some(mut cb) = s.drain_cb.take() else {
            return;
        };
        let outcome = catch_unwind(AssertUnwindSafe(|| cb(self, id)));
        if let Ok(s) = stream_mut(&mut self.handles, id)
            && s.drain_cb.is_none()
            && s.socket.is_some()
        {
            s.drain_cb = Some(cb);
        }
        if let Err(panic) = outcome {
            resume_unwind(panic);
        }
    }
}
