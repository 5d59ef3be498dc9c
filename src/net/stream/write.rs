//! The write side of the stream core: the try-write fast path, flushing the queue on the
//! writable edge, backpressure, shutdown, and delivering completions in the pending phase.

use std::collections::VecDeque;
use std::io::{self, IoSlice};
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::sync::Arc;

use super::write_queue::WriteBuf;
use super::{
    Done, DrainCb, Request, ShutdownState, StreamState, done_entry, stream_mut, stream_open,
};
use crate::error::{Error, Result};
use crate::event_loop::{CallbackKind, Phase};
use crate::event_loop::{HandleData, IoCx, Loop, Pending};
use crate::handle::{HandleId, HandleTable, Site};
use crate::net::{NetShared, StreamOp};

/// Buffers per `sendmsg` (well under every platform's `IOV_MAX`).
const MAX_IOV: usize = 64;

impl StreamState {
    /// Fails every queued write and a requested shutdown with `err()`, in order, handing each
    /// completion to `sink`.
    pub(crate) fn fail_with(&mut self, err: impl Fn() -> Error, mut sink: impl FnMut(Done)) {
        self.queue.clear(|req| sink(Done::Write(req, Err(err()))));
        if let Some(extra) = &mut self.extra
            && matches!(extra.shutdown, ShutdownState::Requested(_))
            && let ShutdownState::Requested(req) =
                std::mem::replace(&mut extra.shutdown, ShutdownState::Done)
        {
            sink(Done::Shutdown(req, Err(err())));
        }
    }

    /// Fails every queued write and a requested shutdown with a copy of `e`, through the
    /// pending queue.
    pub(crate) fn fail_requests(
        &mut self,
        pending: &mut VecDeque<Pending>,
        id: HandleId,
        e: &io::Error,
        net: &NetShared,
    ) {
        let nothing_queued = self.queue.is_empty()
            && !self
                .extra
                .as_ref()
                .is_some_and(|x| matches!(x.shutdown, ShutdownState::Requested(_)));
        if nothing_queued {
            return;
        }
        let mut n = 0;
        let name = self.error_name(StreamOp::Write, e.kind(), net);
        self.fail_with(
            || Error::named_by(super::copy_io_error(e), Arc::clone(&name)),
            |done| {
                n += 1;
                pending.push_back(done_entry(id, done));
            },
        );
        self.done_queued += n;
    }
}

/// Writing to an open stream with no socket and no connect under way: a named-pipe client
/// whose open failed (every other open stream has its socket; one still waiting for a free
/// instance queues its writes, as any connecting stream). Windows only: elsewhere every open
/// stream has its socket.
#[cfg(windows)]
#[cold]
fn not_connected() -> Error {
    Error::InvalidState("not connected: the named pipe could not be opened")
}

/// The state of an open stream that may still be written (no `shutdown` asked for).
pub(super) fn writable_stream(
    handles: &mut HandleTable<HandleData>,
    id: HandleId,
) -> Result<&mut StreamState> {
    let s = stream_open(handles, id)?;
    if !s.shutdown_open() {
        return Err(Error::InvalidState("write after shutdown"));
    }
    #[cfg(windows)]
    if s.socket.is_none() && !s.connecting() {
        return Err(not_connected());
    }
    Ok(s)
}

impl StreamState {
    /// Whether a write may go straight to the socket: nothing queued before it, the socket
    /// writable as far as we know, and no connect in progress.
    fn can_send_now(&self) -> bool {
        self.queue.is_empty() && self.writable && !self.connecting()
    }
}

impl Loop {
    /// Writes one buffer. The fast path: nothing queued and the socket writable, so the bytes
    /// go straight to `send` and, when it takes them all, the queue is never touched. Returns
    /// whether the queue is below the high-water mark.
    pub(crate) fn stream_write_one(
        &mut self,
        id: HandleId,
        buf: WriteBuf,
        req: Request,
    ) -> Result<bool> {
        let IoCx {
            handles,
            pending,
            counters,
            reqs,
            io,
            net,
        } = self.io_cx();
        let s = writable_stream(handles, id)?;
        reqs.begin();
        if !s.can_send_now() {
            s.queue.push([buf], req);
            return self.stream_flushed(id);
        }
        let Some(socket) = &s.socket else {
            s.queue.push([buf], req);
            return self.stream_flushed(id);
        };
        let sent = if buf.is_empty() {
            Ok(0)
        } else {
            socket.send(buf.as_slice())
        };
        match sent {
            Ok(n) if n == buf.len() => {
                counters.bytes_written += n as u64;
                s.complete(pending, id, Done::Write(req, Ok(())));
                return Ok(true);
            }
            Ok(n) => {
                counters.bytes_written += n as u64;
                s.queue.push_from(buf, n, req);
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                s.queue.push([buf], req);
                if let Err(e) = s.want_writable(io, id) {
                    s.fail_requests(pending, id, &e, net);
                    return Ok(true);
                }
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => s.queue.push([buf], req),
            Err(e) => {
                let name = s.error_name(StreamOp::Write, e.kind(), net);
                let err = Error::named_by(e, name);
                s.complete(pending, id, Done::Write(req, Err(err)));
                return Ok(true);
            }
        }
        self.stream_flushed(id)
    }

    /// `try_write`: sends what the socket takes now, without queueing; `WouldBlock` when
    /// nothing can go (the queue holds earlier bytes, the socket is full, or a connect or
    /// shutdown is under way).
    #[inline]
    pub(crate) fn stream_try_write(&mut self, id: HandleId, bufs: &[IoSlice<'_>]) -> Result<usize> {
        let IoCx {
            handles,
            counters,
            io,
            ..
        } = self.io_cx();
        let s = writable_stream(handles, id)?;
        if !s.can_send_now() {
            return Err(Error::Io(io::ErrorKind::WouldBlock.into()));
        }
        let Some(socket) = &s.socket else {
            return Err(Error::Closing);
        };
        if bufs.iter().all(|b| b.is_empty()) {
            return Ok(0);
        }
        loop {
            match socket.send_vectored(&bufs[..bufs.len().min(MAX_IOV)]) {
                Ok(n) => {
                    counters.bytes_written += n as u64;
                    return Ok(n);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    if e.kind() == io::ErrorKind::WouldBlock {
                        s.want_writable(io, id)?;
                    }
                    return Err(Error::Io(e));
                }
            }
        }
    }

    /// [`stream_try_write`](Self::stream_try_write) of one buffer, for the futures: the count
    /// sent, `0` when nothing can go now (the socket is full, earlier bytes are queued, a
    /// connect is under way) instead of a `WouldBlock` error.
    #[inline]
    pub(crate) fn stream_try_send(&mut self, id: HandleId, bytes: &[u8]) -> Result<usize> {
        let IoCx {
            handles,
            counters,
            io,
            ..
        } = self.io_cx();
        let s = writable_stream(handles, id)?;
        if !s.can_send_now() || bytes.is_empty() {
            return Ok(0);
        }
        let Some(socket) = &s.socket else {
            return Err(Error::Closing);
        };
        loop {
            match socket.send(bytes) {
                Ok(n) => {
                    counters.bytes_written += n as u64;
                    return Ok(n);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    s.want_writable(io, id)?;
                    return Ok(0);
                }
                Err(e) => return Err(Error::Io(e)),
            }
        }
    }

    /// Queues a write request of several buffers and, if the socket is writable, sends at
    /// once: only the unwritten tail stays queued. Returns whether the queue is below the
    /// high-water mark.
    pub(crate) fn stream_write(
        &mut self,
        id: HandleId,
        bufs: impl IntoIterator<Item = WriteBuf>,
        req: Request,
    ) -> Result<bool> {
        let s = writable_stream(self.handles_mut(), id)?;
        s.queue.push(bufs, req);
        self.reqs_mut().begin();
        self.stream_flushed(id)
    }

    /// Flushes what the socket takes, then says whether the queue is below the high-water
    /// mark (and if not, that a drain event is wanted).
    pub(super) fn stream_flushed(&mut self, id: HandleId) -> Result<bool> {
        self.stream_flush(id);
        let s = stream_mut(self.handles_mut(), id)?;
        // Nothing queued is never backpressure, whatever the mark (a drain would never come).
        let below = s.queue.is_empty() || s.queue.bytes() < s.high_water();
        if !below {
            s.wants_drain = true;
        }
        Ok(below)
    }

    /// Requests a half-close once the queue is flushed.
    pub(crate) fn stream_shutdown(&mut self, id: HandleId, req: Request) -> Result<()> {
        let s = stream_open(self.handles_mut(), id)?;
        if !s.shutdown_open() {
            return Err(Error::InvalidState("shutdown already requested"));
        }
        #[cfg(windows)]
        if s.socket.is_none() && !s.connecting() {
            return Err(not_connected());
        }
        s.extra_mut().shutdown = ShutdownState::Requested(req);
        self.reqs_mut().begin();
        self.stream_flush(id);
        Ok(())
    }

    pub(crate) fn stream_on_drain(&mut self, id: HandleId, cb: DrainCb, site: Site) -> Result<()> {
        let extra = stream_open(self.handles_mut(), id)?.extra_mut();
        extra.drain_cb = Some(cb);
        extra.drain_site = site;
        Ok(())
    }

    /// Sends queued bytes while the socket takes them. When the queue empties: the drain event
    /// (if a write reported backpressure) and a requested shutdown. A send error fails every
    /// queued request: a byte stream cannot skip a hole.
    pub(crate) fn stream_flush(&mut self, id: HandleId) {
        let IoCx {
            handles,
            pending,
            counters,
            io,
            net,
            ..
        } = self.io_cx();
        let Ok(s) = stream_mut(handles, id) else {
            return;
        };
        if s.queue.is_empty() && !s.wants_drain && s.shutdown_open() {
            return;
        }
        if s.connecting() {
            return;
        }
        if s.socket.is_none() {
            return;
        }
        let mut failed = None;
        let mut file_budget = super::sendfile::FLUSH_BUDGET;
        while s.writable && !s.queue.is_empty() {
            let Some(socket) = &s.socket else { break };
            let sent = if let Some(file) = s.queue.front_file() {
                if file_budget == 0 {
                    break; // yields: see `stream_flush_later` below
                }
                let sent = file.send(socket, file_budget);
                if let Ok(n) = sent {
                    file_budget = file_budget.saturating_sub(n);
                }
                sent
            } else {
                // One queued buffer is the common case (a write on an idle stream): fill a
                // one-slot array rather than zeroing 64 slots (1 KiB) per send.
                let mut one = [IoSlice::new(&[])];
                let mut many;
                let iov: &mut [IoSlice<'_>] = if s.queue.chunks() == 1 {
                    &mut one
                } else {
                    many = [IoSlice::new(&[]); MAX_IOV];
                    &mut many
                };
                let n = s.queue.slices(iov);
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
                    counters.bytes_written += n as u64;
                    let mut finished = 0;
                    s.queue.advance(n, |req| {
                        finished += 1;
                        pending.push_back(done_entry(id, Done::Write(req, Ok(()))));
                    });
                    s.done_queued += finished;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    if let Err(e) = s.want_writable(io, id) {
                        failed = Some(e);
                        break;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    failed = Some(e);
                    break;
                }
            }
        }
        if let Some(e) = failed {
            s.fail_requests(pending, id, &e, net);
        } else if file_budget == 0 && s.writable && !s.queue.is_empty() {
            self.stream_flush_later(id);
        } else if s.queue.is_empty() {
            if s.wants_drain {
                s.wants_drain = false;
                let site = s.extra.as_ref().map_or(s.read_site, |e| e.drain_site);
                s.done_queued += 1;
                pending.push_back(done_entry(id, Done::Drain(site)));
            }
            if let Some(socket) = &s.socket
                && let Some(extra) = &mut s.extra
                && matches!(extra.shutdown, ShutdownState::Requested(_))
                && let ShutdownState::Requested(req) =
                    std::mem::replace(&mut extra.shutdown, ShutdownState::Done)
            {
                let result = socket
                    .shutdown_write()
                    .map_err(|e| Error::named_sock(e, "shutdown", s.name()));
                s.done_queued += 1;
                pending.push_back(done_entry(id, Done::Shutdown(req, result)));
            }
        }
    }

    /// A completion from the pending queue.
    pub(crate) fn stream_deliver(&mut self, id: HandleId, done: Done) {
        if let Ok(s) = stream_mut(self.handles_mut(), id) {
            s.done_queued = s.done_queued.saturating_sub(1);
            // The idle timeout (rare) is looked at first, the completion's kind only then.
            if let Some(timer) = s.extra.as_ref().and_then(|e| e.idle)
                && matches!(done, Done::Write(_, Ok(())))
            {
                self.stream_idle_touch(timer);
            }
        }
        match done {
            // The per-write path: the request is taken apart here, so the completion is not
            // moved again into `stream_run_done` and matched a second time.
            Done::Write(req, result) => {
                self.invoke(Phase::Pending, CallbackKind::Write, req.site, |lp| {
                    lp.reqs_mut().end();
                    (req.cb)(lp, result);
                });
            }
            Done::Connect(_, ref r) => {
                let ok = r.is_ok();
                self.stream_deliver_connect(id, done, ok);
            }
            other => self.stream_deliver_other(id, other),
        }
    }

    /// A shutdown's completion or a drain event (once per stream, out of the per-write path).
    #[inline(never)]
    fn stream_deliver_other(&mut self, id: HandleId, done: Done) {
        let (kind, site) = done.meta();
        self.invoke(Phase::Pending, kind, site, |lp| {
            lp.stream_run_done(Some(id), done)
        });
    }

    /// A connect's completion: what waited for it is released around its callback (once per
    /// connection, kept out of the per-write path).
    #[inline(never)]
    fn stream_deliver_connect(&mut self, id: HandleId, done: Done, ok: bool) {
        self.stream_connect_reporting(id, ok);
        let (kind, site) = done.meta();
        self.invoke(Phase::Pending, kind, site, |lp| {
            lp.stream_run_done(Some(id), done)
        });
        self.stream_connect_reported(id, ok);
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
        self.reqs_mut().end();
        (req.cb)(self, result);
    }

    fn stream_run_drain(&mut self, id: HandleId) {
        let Ok(s) = stream_mut(self.handles_mut(), id) else {
            return;
        };
        let Some(mut cb) = s.extra.as_mut().and_then(|e| e.drain_cb.take()) else {
            return;
        };
        let outcome = catch_unwind(AssertUnwindSafe(|| cb(self, id)));
        if let Ok(s) = stream_mut(self.handles_mut(), id)
            && s.socket.is_some()
            && let Some(extra) = &mut s.extra
            && extra.drain_cb.is_none()
        {
            extra.drain_cb = Some(cb);
        }
        if let Err(panic) = outcome {
            resume_unwind(panic);
        }
    }
}
