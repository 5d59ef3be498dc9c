//! The read side: `read_start`/`read_stop`, bounded batches of reads lent from the loop's
//! buffer, and the continuation through the pending phase; and the readiness mode the futures
//! use (`watch_readable`: the loop reports the readable edge and reads nothing; the reader reads
//! with `try_read` into its own buffer, inside its poll).

use std::io;

use super::api::ReadEvent;
use super::{ReadCb, StreamEvent, stream_mut, stream_open};
use crate::error::{Error, Result};
use crate::event_loop::tasks::TaskRef;
use crate::event_loop::{CallbackKind, HandleData, HandleEvent, IoCx, Loop, Phase};
use crate::handle::{HandleId, Site};
use crate::net::{IO_BATCH, READ_BUFFER_SIZE, StreamOp};

impl Loop {
    /// `read_start`: reads begin at the next readable edge, or in the pending phase if the
    /// stream is already known to be readable (never inside this call).
    pub(crate) fn stream_read_start(&mut self, id: HandleId, cb: ReadCb, site: Site) -> Result<()> {
        self.stream_reader(id, cb, site, false)
    }

    /// Readiness mode: `cb` is called (with an empty [`ReadEvent::Data`], which no read ever
    /// produces) on every readable edge, or in the pending phase if the stream is readable
    /// already, and the loop reads nothing: the reader reads with
    /// [`stream_try_read`](Self::stream_try_read). It counts as reading (the handle is active)
    /// until `read_stop`, close, or a `try_read` that meets EOF or an error.
    pub(crate) fn stream_watch_readable(
        &mut self,
        id: HandleId,
        cb: ReadCb,
        site: Site,
    ) -> Result<()> {
        self.stream_reader(id, cb, site, true)
    }

    fn stream_reader(&mut self, id: HandleId, cb: ReadCb, site: Site, notify: bool) -> Result<()> {
        let s = stream_open(self.handles_mut(), id)?;
        s.read_cb = Some(cb);
        s.read_site = site;
        s.reading = true;
        s.notify = notify;
        let schedule = s.readable && !s.connecting();
        self.handles_mut().set_active(id, true);
        if schedule {
            self.stream_queue_read(id);
        }
        Ok(())
    }

    pub(crate) fn stream_read_stop(&mut self, id: HandleId) -> Result<()> {
        let s = stream_mut(self.handles_mut(), id)?;
        s.stop_reading();
        self.handles_mut().set_active(id, false);
        Ok(())
    }

    /// Puts a read continuation on the pending queue (once).
    pub(crate) fn stream_queue_read(&mut self, id: HandleId) {
        let Ok(s) = stream_mut(self.handles_mut(), id) else {
            return;
        };
        if s.read_queued {
            return;
        }
        s.read_queued = true;
        self.push_pending(id, HandleEvent::Stream(StreamEvent::Read));
    }

    /// A read continuation from the pending queue.
    pub(crate) fn stream_read_pending(&mut self, id: HandleId) {
        if let Ok(s) = stream_mut(self.handles_mut(), id) {
            s.read_queued = false;
            if s.notify {
                self.stream_notify_readable(id, Phase::Pending);
            } else {
                self.stream_read_batch(id, Phase::Pending);
            }
        }
    }

    /// Readiness mode: the task to poll at the stream's next readable report (`None`: call the
    /// notifier instead). Harmless on a stale handle.
    pub(crate) fn stream_set_watcher(&mut self, id: HandleId, watcher: Option<TaskRef>) {
        if let Ok(s) = stream_mut(self.handles_mut(), id) {
            s.set_watcher(watcher);
        }
    }

    /// Readiness mode, the stream readable: calls the watcher (it reads, or not, later).
    pub(super) fn stream_notify_readable(&mut self, id: HandleId, phase: Phase) {
        let Ok(s) = stream_open(self.handles_mut(), id) else {
            return;
        };
        if !s.reading || !s.readable || s.connecting() {
            return;
        }
        let watcher = s.extra.as_ref().and_then(|e| e.watcher);
        if let Some(r) = watcher
            && self.tasks_idle()
        {
            // The reader is a task of this loop and nothing is queued: the notifier would wake
            // it, and the drain after the notifier would poll it first and alone. Poll it now.
            self.poll_reader_task(r);
            return;
        }
        let Ok(s) = stream_open(self.handles_mut(), id) else {
            return;
        };
        let Some(cb) = s.read_cb.take() else { return };
        let site = s.read_site;
        self.invoke_restoring(
            phase,
            CallbackKind::Read,
            site,
            cb,
            move |lp, cb| cb(lp, id, ReadEvent::Data(&[])),
            move |lp, cb| {
                if let Ok(s) = stream_mut(lp.handles_mut(), id)
                    && s.reading
                    && s.read_cb.is_none()
                {
                    s.read_cb = Some(cb);
                }
            },
        );
    }

    /// One read into `buf` now, if the readiness cache says the socket may have data: the
    /// count read (and whether more may follow), EOF, or [`TryRead::NotReady`] (wait for the
    /// readable edge: the cache was clear, or the socket said `WouldBlock`, or a short read
    /// drained it). EOF and errors stop reading, as they do for a read callback. Counted as
    /// bytes read; activity for the idle timeout. `watcher`: the task reading, if it is a task
    /// of this loop waiting with its own waker, recorded on `NotReady` so that the readable
    /// edge polls it directly. Errors: the read's, named; a stale or closing handle.
    pub(crate) fn stream_try_read(
        &mut self,
        id: HandleId,
        buf: &mut [u8],
        watcher: Option<TaskRef>,
    ) -> Result<TryRead<usize>> {
        self.stream_try_read_into(id, ReadInto::Caller(buf), watcher)
    }

    /// Whether a readiness-mode read may find something now (the readiness cache); if not,
    /// `watcher` is recorded as by [`stream_try_read`](Self::stream_try_read). Errors: a stale
    /// or closing handle.
    pub(crate) fn stream_readable(
        &mut self,
        id: HandleId,
        watcher: Option<TaskRef>,
    ) -> Result<bool> {
        Ok(read_target(self.handles_mut(), id, watcher)?.is_some())
    }

    /// [`stream_try_read`](Self::stream_try_read) into the loop's read buffer (at most `max`
    /// bytes), lending what it read to `f` (which must not use the loop).
    pub(crate) fn stream_try_read_lent<T>(
        &mut self,
        id: HandleId,
        max: usize,
        watcher: Option<TaskRef>,
        f: impl FnOnce(&[u8]) -> T,
    ) -> Result<TryRead<T>> {
        Ok(
            match self.stream_try_read_into(id, ReadInto::Loop(max), watcher)? {
                TryRead::Data(n, more) => TryRead::Data(f(&self.net_mut().read_buf[..n]), more),
                TryRead::Eof => TryRead::Eof,
                TryRead::NotReady => TryRead::NotReady,
            },
        )
    }

    /// The readiness-mode read both of those make.
    #[inline]
    fn stream_try_read_into(
        &mut self,
        id: HandleId,
        into: ReadInto<'_>,
        watcher: Option<TaskRef>,
    ) -> Result<TryRead<usize>> {
        let IoCx {
            handles,
            counters,
            net,
            ..
        } = self.io_cx();
        let Some(s) = read_target(handles, id, watcher)? else {
            return Ok(TryRead::NotReady);
        };
        let got = match into {
            ReadInto::Caller(buf) => read_once(s, buf),
            ReadInto::Loop(max) => {
                if net.read_buf.len() != READ_BUFFER_SIZE {
                    size_read_buf(&mut net.read_buf);
                }
                read_once(s, &mut net.read_buf[..max.min(READ_BUFFER_SIZE)])
            }
        };
        let (out, idle) = settle(s, got, watcher, net, counters);
        self.stream_read_settled(id, &out, idle);
        out
    }

    /// After a readiness-mode read: activity for the idle timer; EOF and errors make the handle
    /// inactive (reading stopped).
    #[inline]
    fn stream_read_settled(
        &mut self,
        id: HandleId,
        out: &Result<TryRead<usize>>,
        idle: Option<crate::timer::Timer>,
    ) {
        match out {
            Ok(TryRead::Data(..)) => {
                if let Some(timer) = idle {
                    self.stream_idle_touch(timer);
                }
            }
            Ok(TryRead::NotReady) => {}
            Ok(TryRead::Eof) | Err(_) => self.handles_mut().set_active(id, false),
        }
    }

    /// Reads up to [`IO_BATCH`] times into the loop's buffer, lending each chunk to the read
    /// callback; if the stream is still readable after that, continues next iteration (an
    /// edge-triggered poller will not report it again).
    pub(super) fn stream_read_batch(&mut self, id: HandleId, phase: Phase) {
        let mut buf = std::mem::take(&mut self.net_mut().read_buf);
        if buf.len() != READ_BUFFER_SIZE {
            // Once per loop: the buffer is put back at its full size after every batch.
            size_read_buf(&mut buf);
        }
        let mut budget_left = true;
        for round in 0..IO_BATCH {
            budget_left = round + 1 < IO_BATCH;
            let mut drained = false;
            let IoCx {
                handles,
                counters,
                net,
                ..
            } = self.io_cx();
            let Ok(entry) = handles.open_mut(id) else {
                break;
            };
            let HandleData::Stream(s) = &mut entry.data else {
                break;
            };
            if !s.reading || !s.readable || s.connecting() {
                break;
            }
            let Some(socket) = &s.socket else { break };
            let ev = match socket.read(&mut buf) {
                Ok(0) => ReadEvent::Eof,
                Ok(n) => {
                    counters.bytes_read += n as u64;
                    if crate::sys::SHORT_READ_DRAINS && n < buf.len() && !s.read_closed {
                        // A short read drained the socket; new data brings a new edge.
                        s.readable = false;
                        drained = true;
                    }
                    ReadEvent::Data(&buf[..n])
                }
                // One `kind()` per error (a function call, not a field read).
                Err(e) => match e.kind() {
                    io::ErrorKind::WouldBlock => {
                        s.readable = false;
                        break;
                    }
                    io::ErrorKind::Interrupted => continue,
                    kind => {
                        let name = s.error_name(StreamOp::Read, kind, net);
                        ReadEvent::Error(Error::named_by(e, name))
                    }
                },
            };
            let stops = !matches!(ev, ReadEvent::Data(_));
            if stops {
                // EOF and errors stop reading (libuv); reading again after EOF reports it again.
                s.reading = false;
            }
            let Some(cb) = s.read_cb.take() else { break };
            let site = s.read_site;
            let idle = s.extra.as_ref().and_then(|e| e.idle);
            if stops {
                self.handles_mut().set_active(id, false);
            }
            if let Some(timer) = idle
                && !stops
            {
                self.stream_idle_touch(timer);
            }
            self.invoke_restoring(
                phase,
                CallbackKind::Read,
                site,
                cb,
                move |lp, cb| cb(lp, id, ev),
                move |lp, cb| {
                    if let Ok(s) = stream_mut(lp.handles_mut(), id)
                        && s.reading
                        && s.read_cb.is_none()
                    {
                        s.read_cb = Some(cb);
                    }
                },
            );
            if drained {
                // Only an event sets `readable` again: nothing more to read this time.
                break;
            }
        }
        self.net_mut().read_buf = buf;
        if !budget_left
            && let Ok(s) = stream_mut(self.handles_mut(), id)
            && s.reading
            && s.readable
        {
            self.stream_queue_read(id);
        }
    }
}

/// Where a readiness-mode read puts the bytes.
enum ReadInto<'a> {
    /// The caller's buffer.
    Caller(&'a mut [u8]),
    /// The loop's read buffer, at most this many bytes.
    Loop(usize),
}

/// The stream a readiness-mode read reads: `None` if the readiness cache says there is nothing
/// to read (the watcher recorded). Errors: a stale or closing handle.
#[inline]
fn read_target(
    handles: &mut crate::handle::HandleTable<HandleData>,
    id: HandleId,
    watcher: Option<TaskRef>,
) -> Result<Option<&mut super::StreamState>> {
    let entry = handles.open_mut(id)?;
    let HandleData::Stream(s) = &mut entry.data else {
        return Err(Error::StaleHandle);
    };
    if !s.readable || s.connecting() {
        s.set_watcher(watcher);
        return Ok(None);
    }
    Ok(Some(s))
}

/// One read of `s`'s socket into `buf` (retried on `EINTR`): the count and whether the socket
/// may have more, EOF, or `NotReady` (`WouldBlock`); the readiness cache updated.
#[inline]
fn read_once(s: &mut super::StreamState, buf: &mut [u8]) -> io::Result<TryRead<usize>> {
    let Some(socket) = &s.socket else {
        return Err(io::ErrorKind::NotConnected.into());
    };
    if buf.is_empty() {
        return Ok(TryRead::NotReady);
    }
    loop {
        return match socket.read(buf) {
            Ok(0) => Ok(TryRead::Eof),
            Ok(n) => {
                if crate::sys::SHORT_READ_DRAINS && n < buf.len() && !s.read_closed {
                    // A short read drained the socket; new data brings a new edge.
                    s.readable = false;
                }
                Ok(TryRead::Data(n, s.readable))
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                s.readable = false;
                Ok(TryRead::NotReady)
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => Err(e),
        };
    }
}

/// What a readiness-mode read comes to: bytes counted, the watcher recorded when the socket
/// turned out empty, reading stopped at EOF or on an error (named); and the idle timer to
/// touch.
#[inline]
fn settle(
    s: &mut super::StreamState,
    got: io::Result<TryRead<usize>>,
    watcher: Option<TaskRef>,
    net: &crate::net::NetShared,
    counters: &mut crate::metrics::Counters,
) -> (Result<TryRead<usize>>, Option<crate::timer::Timer>) {
    match got {
        Ok(TryRead::Data(n, more)) => {
            counters.bytes_read += n as u64;
            let idle = s.extra.as_ref().and_then(|e| e.idle);
            (Ok(TryRead::Data(n, more)), idle)
        }
        Ok(TryRead::NotReady) => {
            s.set_watcher(watcher);
            (Ok(TryRead::NotReady), None)
        }
        Ok(TryRead::Eof) => {
            s.stop_reading();
            (Ok(TryRead::Eof), None)
        }
        Err(e) => {
            let name = s.error_name(StreamOp::Read, e.kind(), net);
            s.stop_reading();
            (Err(Error::named_by(e, name)), None)
        }
    }
}

/// What a readiness-mode read ([`Loop::stream_try_read`]) found.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum TryRead<T> {
    /// Bytes read (or what the caller made of them), and whether the socket may have more
    /// (`false`: the read drained it; the next read waits for the readable edge).
    Data(T, bool),
    /// The peer closed its write side; reading has stopped.
    Eof,
    /// Nothing to read until the next readable edge.
    NotReady,
}

/// Makes the loop's read buffer [`READ_BUFFER_SIZE`] bytes long (zeroed: it is lent out as a
/// `&mut [u8]`). Out of line: the first batch of a loop is the only one that needs it.
#[cold]
#[inline(never)]
fn size_read_buf(buf: &mut Vec<u8>) {
    buf.resize(READ_BUFFER_SIZE, 0);
}
