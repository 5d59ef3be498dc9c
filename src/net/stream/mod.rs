//! The stream core shared by TCP and Unix streams: registration, the readiness cache, bounded
//! reads, connect completion and what closing does. The write side is in `stream_write.rs`.

pub(crate) mod api;
mod write;
pub(crate) mod write_queue;

use std::collections::VecDeque;
use std::io;
use std::panic::{AssertUnwindSafe, catch_unwind};

use mio::Interest;

use self::api::ReadEvent;
use self::write_queue::WriteQueue;
use super::socket::StreamSocket;
use super::{DEFAULT_HIGH_WATER_MARK, IO_BATCH, READ_BUFFER_SIZE};
use crate::error::{Error, Result};
use crate::event_loop::{CallbackKind, Phase};
use crate::event_loop::{
    HandleData, HandleEvent, HandleState, IoCx, IoRegistry, Loop, PanicPayload, Pending,
};
use crate::handle::{HandleId, HandleKind, HandleTable, Site};

pub(crate) type ReadCb = Box<dyn FnMut(&mut Loop, HandleId, ReadEvent<'_>)>;
pub(crate) type DoneCb = Box<dyn FnOnce(&mut Loop, Result<()>)>;
pub(crate) type DrainCb = Box<dyn FnMut(&mut Loop, HandleId)>;

/// An in-flight request (write, shutdown, connect): its callback and where it was made. Counted
/// in `Loop::active_reqs` from creation until its callback runs.
pub(crate) struct Request {
    pub(crate) cb: DoneCb,
    pub(crate) site: Site,
}

/// A finished request (or a drain event) waiting for the pending phase. Completions go through
/// the stream, not straight into the pending queue, so that closing the stream can still run
/// them before its close callback.
pub(crate) enum Done {
    Write(Request, Result<()>),
    Shutdown(Request, Result<()>),
    Connect(Request, Result<()>),
    Drain(Site),
}

impl Done {
    pub(crate) fn meta(&self) -> (CallbackKind, Site) {
        match self {
            Self::Write(r, _) => (CallbackKind::Write, r.site),
            Self::Shutdown(r, _) => (CallbackKind::Shutdown, r.site),
            Self::Connect(r, _) => (CallbackKind::Connect, r.site),
            Self::Drain(site) => (CallbackKind::Drain, site),
        }
    }
}

pub(crate) enum ShutdownState {
    Open,
    Requested(Request),
    Done,
}

/// What few streams use, boxed so that an idle connection does not pay for it: a connect in
/// flight, a shutdown, a drain callback, a high-water mark other than the default.
pub(crate) struct StreamExtra {
    pub(crate) connect: Option<Request>,
    pub(crate) high_water: usize,
    pub(crate) drain_cb: Option<DrainCb>,
    pub(crate) drain_site: Site,
    pub(crate) shutdown: ShutdownState,
}

/// What a stream handle holds in its slot. Kept small (an idle connection is this, boxed, plus
/// its slot): completions do not wait here but on the loop's pending queue
/// ([`StreamEvent::Done`]), counted in `done_queued` so closing finds them.
pub(crate) struct StreamState {
    /// `None` once closed (deregistered and dropped at close time).
    pub(crate) socket: Option<StreamSocket>,
    /// Readiness cache: set by events, cleared when a syscall says `WouldBlock` or a read
    /// comes back short.
    pub(crate) readable: bool,
    pub(crate) writable: bool,
    /// The peer's FIN (or an error) was seen: a short read must not clear `readable`, since
    /// no new edge will announce the EOF that is still to be read.
    pub(crate) read_closed: bool,
    pub(crate) reading: bool,
    /// A read continuation is on the pending queue.
    pub(crate) read_queued: bool,
    /// A write reported backpressure: a drain event is due when the queue empties.
    pub(crate) wants_drain: bool,
    pub(crate) reset_on_close: bool,
    /// Registered for writability too. A connected stream starts with reads only, so one that
    /// never fills its send buffer never wakes the loop to say it is writable (libuv toggles
    /// the interest per write instead, one `epoll_ctl` each time).
    pub(crate) write_interest: bool,
    /// This stream's completions waiting on the loop's pending queue.
    pub(crate) done_queued: u32,
    pub(crate) read_cb: Option<ReadCb>,
    pub(crate) read_site: Site,
    pub(crate) queue: WriteQueue<Request>,
    pub(crate) extra: Option<Box<StreamExtra>>,
}

impl StreamState {
    /// The rarely used part, created on first use (`site` names the stream for a drain event
    /// until `on_drain` sets its own).
    pub(crate) fn extra_mut(&mut self) -> &mut StreamExtra {
        let site = self.read_site;
        self.extra.get_or_insert_with(|| {
            Box::new(StreamExtra {
                connect: None,
                high_water: DEFAULT_HIGH_WATER_MARK,
                drain_cb: None,
                drain_site: site,
                shutdown: ShutdownState::Open,
            })
        })
    }

    /// A send said `WouldBlock`: wait for the writable edge, registering for it first if the
    /// stream was registered for reads only (the re-registration reports the current state,
    /// so an edge is not missed). An error means no edge will come: the caller fails the queue.
    pub(crate) fn want_writable(&mut self, io: &IoRegistry, id: HandleId) -> io::Result<()> {
        self.writable = false;
        if self.write_interest {
            return Ok(());
        }
        if let Some(socket) = &mut self.socket {
            io.reregister(socket.source(), id, Interest::READABLE | Interest::WRITABLE)?;
            self.write_interest = true;
        }
        Ok(())
    }

    /// Drops everything the state owns (a closed stream's box kept for reuse).
    pub(crate) fn clear(&mut self) {
        self.socket = None;
        self.read_cb = None;
        self.queue = WriteQueue::default();
        self.extra = None;
    }

    /// Whether a connect is in flight.
    pub(crate) fn connecting(&self) -> bool {
        self.extra.as_ref().is_some_and(|e| e.connect.is_some())
    }

    /// Whether `shutdown` has not been asked for.
    pub(crate) fn shutdown_open(&self) -> bool {
        self.extra
            .as_ref()
            .is_none_or(|e| matches!(e.shutdown, ShutdownState::Open))
    }

    pub(crate) fn high_water(&self) -> usize {
        self.extra
            .as_ref()
            .map_or(DEFAULT_HIGH_WATER_MARK, |e| e.high_water)
    }

    /// Puts a completion on the loop's pending queue.
    pub(crate) fn complete(&mut self, pending: &mut VecDeque<Pending>, id: HandleId, done: Done) {
        self.done_queued += 1;
        pending.push_back(done_entry(id, done));
    }
}

/// A stream's typed pending-queue entry.
pub(crate) enum StreamEvent {
    /// A finished request, or a drain event.
    Done(Done),
    /// The next batch of reads.
    Read,
}

/// The pending-queue entry for a stream's completion.
#[inline]
pub(crate) fn done_entry(id: HandleId, done: Done) -> Pending {
    Pending::Handle {
        id,
        event: HandleEvent::Stream(StreamEvent::Done(done)),
    }
}

impl HandleState for Box<StreamState> {
    type Event = StreamEvent;

    fn stop(lp: &mut Loop, id: HandleId, _kind: HandleKind) {
        lp.stream_stop(id);
    }

    fn ready(lp: &mut Loop, id: HandleId, event: &mio::event::Event) {
        lp.stream_event(id, event);
    }

    fn pending(lp: &mut Loop, id: HandleId, event: StreamEvent) {
        match event {
            StreamEvent::Done(done) => lp.stream_deliver(id, done),
            StreamEvent::Read => lp.stream_read_pending(id),
        }
    }

    fn cancel_requests(lp: &mut Loop, id: HandleId) -> Option<PanicPayload> {
        lp.stream_cancel_requests(id)
    }

    fn freed(mut self, lp: &mut Loop) {
        let net = lp.net_mut();
        if net.spare_streams.len() < super::SPARE_STREAMS {
            // Keep the box, not what it owned.
            self.clear();
            net.spare_streams.push(self);
        }
    }
}

/// The stream state of `id`, closing or not.
pub(crate) fn stream_mut(
    handles: &mut HandleTable<HandleData>,
    id: HandleId,
) -> Result<&mut StreamState> {
    match &mut handles.get_mut(id)?.data {
        HandleData::Stream(s) => Ok(s),
        _ => Err(Error::StaleHandle),
    }
}

/// The stream state of `id` for an operation that starts something: closing is an error.
pub(crate) fn stream_open(
    handles: &mut HandleTable<HandleData>,
    id: HandleId,
) -> Result<&mut StreamState> {
    match &mut handles.open_mut(id)?.data {
        HandleData::Stream(s) => Ok(s),
        _ => Err(Error::StaleHandle),
    }
}

/// A copy of an OS error for the second and later requests failed by it.
pub(crate) fn copy_io_error(e: &io::Error) -> io::Error {
    match e.raw_os_error() {
        Some(code) => io::Error::from_raw_os_error(code),
        None => io::Error::new(e.kind(), e.to_string()),
    }
}

impl Loop {
    /// Adds a stream whose non-blocking connect was started (`early`: the error `connect(2)`
    /// returned at once, if any) and holds `cb` for the result. An early error is delivered in
    /// the pending phase, never inside the call.
    pub(crate) fn stream_connect(
        &mut self,
        kind: HandleKind,
        socket: StreamSocket,
        early: Option<io::Error>,
        site: Site,
        cb: impl FnOnce(&mut Self, HandleId, Result<()>) + 'static,
    ) -> Result<HandleId> {
        let id = self.stream_insert(kind, socket, false, site)?;
        let req = Request {
            cb: Box::new(move |lp, r| cb(lp, id, r)),
            site,
        };
        self.reqs_mut().begin();
        let IoCx {
            handles, pending, ..
        } = self.io_cx();
        let s = stream_mut(handles, id)?;
        match early {
            None => s.extra_mut().connect = Some(req),
            Some(e) => s.complete(pending, id, Done::Connect(req, Err(Error::Io(e)))),
        }
        Ok(id)
    }

    /// Adds a stream handle for `socket` and registers it (`READABLE | WRITABLE`, once).
    /// `connected` says whether the socket can be written at once.
    pub(crate) fn stream_insert(
        &mut self,
        kind: HandleKind,
        socket: StreamSocket,
        connected: bool,
        site: Site,
    ) -> Result<HandleId> {
        let state = StreamState {
            socket: Some(socket),
            readable: false,
            writable: connected,
            read_closed: false,
            reading: false,
            read_queued: false,
            wants_drain: false,
            reset_on_close: false,
            write_interest: !connected,
            done_queued: 0,
            read_cb: None,
            read_site: site,
            // Empty: a write the socket takes at once never touches the queue.
            queue: WriteQueue::default(),
            extra: None,
        };
        let boxed = match self.net_mut().spare_streams.pop() {
            Some(mut spare) => {
                *spare = state;
                spare
            }
            None => Box::new(state),
        };
        let id = self
            .handles_mut()
            .insert(kind, site, false, HandleData::Stream(boxed));
        let IoCx { handles, io, .. } = self.io_cx();
        let s = stream_mut(handles, id)?;
        let interest = if connected {
            Interest::READABLE
        } else {
            Interest::READABLE | Interest::WRITABLE
        };
        let registered = match &mut s.socket {
            Some(socket) => io.register(socket.source(), id, interest),
            None => Ok(()),
        };
        if let Err(e) = registered {
            self.handles_mut().remove(id);
            return Err(Error::Io(e));
        }
        Ok(id)
    }

    /// The socket of an open stream.
    pub(crate) fn stream_socket(&self, id: HandleId) -> Result<&StreamSocket> {
        let entry = self.handles().get(id)?;
        if entry.closing {
            return Err(Error::Closing);
        }
        match &entry.data {
            HandleData::Stream(s) => s.socket.as_ref().ok_or(Error::Closing),
            _ => Err(Error::StaleHandle),
        }
    }

    /// An I/O event for a stream: update the readiness cache, then finish a connect, read and
    /// flush as the cache allows.
    pub(crate) fn stream_event(&mut self, id: HandleId, event: &mio::event::Event) {
        let Ok(s) = stream_mut(self.handles_mut(), id) else {
            return;
        };
        if event.is_read_closed() || event.is_error() {
            s.read_closed = true;
        }
        if event.is_readable() || event.is_read_closed() || event.is_error() {
            s.readable = true;
        }
        let became_writable = event.is_writable() || event.is_write_closed() || event.is_error();
        if became_writable {
            s.writable = true;
        }
        let mut read = s.reading && s.readable;
        if s.connecting() {
            if !s.writable {
                return;
            }
            self.stream_finish_connect(id);
            read = stream_mut(self.handles_mut(), id).is_ok_and(|s| s.reading && s.readable);
        }
        if read {
            self.stream_read_batch(id, Phase::Poll);
        }
        // Writes made meanwhile (by the read callbacks, say) flushed themselves; only new
        // writability can move what is still queued.
        if became_writable {
            self.stream_flush(id);
        }
    }

    /// The writable edge of a connecting socket: did the connect succeed?
    fn stream_finish_connect(&mut self, id: HandleId) {
        let IoCx {
            handles, pending, ..
        } = self.io_cx();
        let Ok(s) = stream_mut(handles, id) else {
            return;
        };
        let Some(socket) = &s.socket else { return };
        let result = match socket.take_error() {
            Ok(Some(e)) | Err(e) => Err(e),
            Ok(None) => match socket.is_connected() {
                Ok(true) => Ok(()),
                Ok(false) => {
                    // A spurious edge: still connecting; the next edge will tell.
                    s.writable = false;
                    return;
                }
                Err(e) => Err(e),
            },
        };
        let Some(req) = s.extra.as_mut().and_then(|e| e.connect.take()) else {
            return;
        };
        match result {
            Ok(()) => s.complete(pending, id, Done::Connect(req, Ok(()))),
            Err(e) => {
                s.writable = false;
                let copy = copy_io_error(&e);
                s.complete(pending, id, Done::Connect(req, Err(Error::Io(e))));
                s.fail_requests(pending, id, &copy);
            }
        }
    }

    /// `read_start`: reads begin at the next readable edge, or in the pending phase if the
    /// stream is already known to be readable (never inside this call).
    pub(crate) fn stream_read_start(&mut self, id: HandleId, cb: ReadCb, site: Site) -> Result<()> {
        let s = stream_open(self.handles_mut(), id)?;
        s.read_cb = Some(cb);
        s.read_site = site;
        s.reading = true;
        let schedule = s.readable && !s.connecting();
        self.handles_mut().set_active(id, true);
        if schedule {
            self.stream_queue_read(id);
        }
        Ok(())
    }

    pub(crate) fn stream_read_stop(&mut self, id: HandleId) -> Result<()> {
        let s = stream_mut(self.handles_mut(), id)?;
        s.reading = false;
        s.read_cb = None;
        self.handles_mut().set_active(id, false);
        Ok(())
    }

    /// Puts a read continuation on the pending queue (once).
    fn stream_queue_read(&mut self, id: HandleId) {
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
            self.stream_read_batch(id, Phase::Pending);
        }
    }

    /// Reads up to [`IO_BATCH`] times into the loop's buffer, lending each chunk to the read
    /// callback; if the stream is still readable after that, continues next iteration (an
    /// edge-triggered poller will not report it again).
    fn stream_read_batch(&mut self, id: HandleId, phase: Phase) {
        let mut buf = std::mem::take(&mut self.net_mut().read_buf);
        buf.resize(READ_BUFFER_SIZE, 0);
        let mut budget_left = true;
        for round in 0..IO_BATCH {
            budget_left = round + 1 < IO_BATCH;
            let mut drained = false;
            let IoCx {
                handles, counters, ..
            } = self.io_cx();
            let Ok(entry) = handles.open_mut(id) else {
                break;
            };
            let HandleData::Stream(s) = &mut entry.data else {
                break;
            };
            if !s.reading || !s.readable {
                break;
            }
            let Some(socket) = &s.socket else { break };
            let (n, event) = match socket.read(&mut buf) {
                Ok(0) => (0, Ok(None)),
                Ok(n) => {
                    counters.bytes_read += n as u64;
                    if crate::sys::SHORT_READ_DRAINS && n < buf.len() && !s.read_closed {
                        // A short read drained the socket; new data brings a new edge.
                        s.readable = false;
                        drained = true;
                    }
                    (n, Ok(Some(())))
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    s.readable = false;
                    break;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => (0, Err(e)),
            };
            let stops = !matches!(event, Ok(Some(())));
            if stops {
                // EOF and errors stop reading (libuv); reading again after EOF reports it again.
                s.reading = false;
            }
            let Some(cb) = s.read_cb.take() else { break };
            let site = s.read_site;
            if stops {
                self.handles_mut().set_active(id, false);
            }
            let data = &buf[..n];
            self.invoke_restoring(
                phase,
                CallbackKind::Read,
                site,
                cb,
                move |lp, cb| {
                    let ev = match event {
                        Ok(Some(())) => ReadEvent::Data(data),
                        Ok(None) => ReadEvent::Eof,
                        Err(e) => ReadEvent::Error(Error::Io(e)),
                    };
                    cb(lp, id, ev);
                },
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

    /// Close, first half (at `close` time): stop reading, deregister and drop the socket. With
    /// `reset_on_close`, `SO_LINGER` 0 first, so the peer gets a RST.
    pub(crate) fn stream_stop(&mut self, id: HandleId) {
        let IoCx { handles, io, .. } = self.io_cx();
        let Ok(s) = stream_mut(handles, id) else {
            return;
        };
        s.reading = false;
        s.read_cb = None;
        if let Some(extra) = &mut s.extra {
            extra.drain_cb = None;
        }
        if let Some(mut socket) = s.socket.take() {
            io.deregister(socket.source());
            if s.reset_on_close {
                let _ = socket
                    .sock_ref()
                    .set_linger(Some(std::time::Duration::ZERO));
            }
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
        if let Some(req) = s.extra.as_mut().and_then(|e| e.connect.take()) {
            dones.push(Done::Connect(req, Err(Error::Canceled)));
        }
        s.fail_with(|| Error::Canceled, |done| dones.push(done));
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
