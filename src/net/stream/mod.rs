//! The stream core shared by TCP and Unix streams: registration, the readiness cache, bounded
//! reads, connect completion and what closing does. The write side is in `stream_write.rs`.

pub(crate) mod api;
mod close;
mod connect;
mod ends;
mod events;
mod read;
pub(crate) mod sendfile;
mod write;
pub(crate) mod write_queue;

pub(crate) use self::read::TryRead;

use std::collections::VecDeque;
use std::io;

use mio::Interest;

use self::api::ReadEvent;
use self::write_queue::WriteQueue;
use super::socket::StreamSocket;
use super::{DEFAULT_HIGH_WATER_MARK, NetShared};
use std::sync::Arc;

use super::StreamOp;
use crate::error::{Error, NetName, Result, SockName};
use crate::event_loop::CallbackKind;
use crate::event_loop::{
    HandleData, HandleEvent, HandleState, IoRegistry, Loop, PanicPayload, Pending,
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

/// Where a stream's connect stands. Until its callback has run, the stream neither reads nor
/// sends (libuv reports the connect before it reads).
pub(crate) enum ConnectState {
    /// In flight: the result is not known yet.
    InFlight(Request),
    /// The result is known and its completion queued; the callback has not run yet.
    Unreported,
    /// No connect, or its callback has run.
    Reported,
}

impl ConnectState {
    /// Takes the in-flight request, leaving the connect unreported.
    pub(crate) fn take_request(&mut self) -> Option<Request> {
        match std::mem::replace(self, Self::Unreported) {
            Self::InFlight(req) => Some(req),
            other => {
                *self = other;
                None
            }
        }
    }
}

/// What few streams use, boxed so that an idle connection does not pay for it: a connect in
/// flight, a shutdown, a drain callback, a high-water mark other than the default.
pub(crate) struct StreamExtra {
    pub(crate) connect: ConnectState,
    pub(crate) high_water: usize,
    pub(crate) drain_cb: Option<DrainCb>,
    pub(crate) drain_site: Site,
    pub(crate) shutdown: ShutdownState,
    /// The idle-timeout timer (`set_idle_timeout`): re-armed by activity, closed with the stream.
    pub(crate) idle: Option<crate::timer::Timer>,
    /// `end` sent the FIN and waits for the peer's (discarding what it still sends): the
    /// end callback, and the timer that closes anyway after [`ends::LINGER`].
    pub(crate) ending: Option<(ends::EndCb, crate::timer::Timer)>,
    /// A named-pipe client's next attempt to open a busy pipe: closed with the stream.
    #[cfg(windows)]
    pub(crate) retry: Option<crate::timer::Timer>,
    /// Readiness mode: the task whose read found the socket empty (`stream_try_read`), polled
    /// at the readable edge straight away when nothing is queued (see
    /// `Loop::stream_notify_readable`). Cleared by a read that finds data.
    pub(crate) watcher: Option<crate::event_loop::tasks::TaskRef>,
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
    /// Readiness mode (`watch_readable`): `read_cb` is called on the readable edge and the
    /// loop reads nothing (see `read.rs`).
    pub(crate) notify: bool,
    /// A read continuation is on the pending queue.
    pub(crate) read_queued: bool,
    /// A flush continuation is on the pending queue (a file segment used up a flush's budget).
    pub(crate) flush_queued: bool,
    /// A write reported backpressure: a drain event is due when the queue empties.
    pub(crate) wants_drain: bool,
    pub(crate) reset_on_close: bool,
    /// Registered for writability too. A connected stream starts with reads only, so one that
    /// never fills its send buffer never wakes the loop to say it is writable (libuv toggles
    /// the interest per write instead, one `epoll_ctl` each time).
    pub(crate) write_interest: bool,
    /// This stream's completions waiting on the loop's pending queue.
    pub(crate) done_queued: u32,
    /// Its local address as an index into `NetShared::local_names` (0: not known without a
    /// syscall): set for streams accepted by a listener bound to a specific IP.
    pub(crate) local_name: u16,
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
                connect: ConnectState::Reported,
                high_water: DEFAULT_HIGH_WATER_MARK,
                drain_cb: None,
                drain_site: site,
                shutdown: ShutdownState::Open,
                idle: None,
                ending: None,
                #[cfg(windows)]
                retry: None,
                watcher: None,
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

    /// Stops reading, in either mode (the caller makes the handle inactive).
    pub(crate) fn stop_reading(&mut self) {
        self.reading = false;
        self.notify = false;
        self.read_cb = None;
        if let Some(extra) = &mut self.extra {
            extra.watcher = None;
        }
    }

    /// Readiness mode: records the task to poll at the next readable edge (`None`: wake the
    /// notifier's waker instead).
    #[inline]
    pub(crate) fn set_watcher(&mut self, watcher: Option<crate::event_loop::tasks::TaskRef>) {
        match (&mut self.extra, watcher) {
            (Some(extra), w) => extra.watcher = w,
            (None, None) => {}
            (None, w) => self.extra_mut().watcher = w,
        }
    }

    /// Drops everything the state owns (a closed stream's box kept for reuse).
    pub(crate) fn clear(&mut self) {
        self.socket = None;
        self.read_cb = None;
        self.queue = WriteQueue::default();
        self.extra = None;
    }

    /// The address the stream's errors name: the peer's, else the local one, else a socket
    /// file's path. (Formatted only if the error is read: see `Error::named_sock`.)
    pub(crate) fn name(&self) -> Option<SockName> {
        match self.socket.as_ref()? {
            StreamSocket::Tcp(s) => s
                .peer_addr()
                .or_else(|_| s.local_addr())
                .ok()
                .map(SockName::Ip),
            #[cfg(windows)]
            StreamSocket::NamedPipe(p) => Some(SockName::Pipe(p.name_arc())),
            #[cfg(unix)]
            other => {
                let s = other.sock_ref().ok()?;
                s.peer_addr()
                    .ok()
                    .filter(|a| a.as_socket().is_some() || super::listener::pathname(a).is_some())
                    .or_else(|| s.local_addr().ok())
                    .map(SockName::from)
            }
        }
    }

    /// The name of an `op` error of kind `kind`: [`name`](Self::name), except that a TCP
    /// connection that failed with a reset, an abort or a timeout is closed in the kernel,
    /// which then answers `getpeername` with `ENOTCONN`: its name is the local address, which an
    /// accepted stream shares with its listener (a name kept in `net`, shared by every such
    /// error: no syscall and no allocation), or else is asked for at once (one syscall per
    /// reset instead of two). Out of line: errors are not the data path.
    #[cold]
    #[inline(never)]
    pub(crate) fn error_name(
        &self,
        op: StreamOp,
        kind: io::ErrorKind,
        net: &NetShared,
    ) -> Arc<NetName> {
        use io::ErrorKind::{
            BrokenPipe, ConnectionAborted, ConnectionReset, HostUnreachable, NetworkUnreachable,
            TimedOut,
        };
        let sock = match &self.socket {
            Some(StreamSocket::Tcp(s))
                if matches!(
                    kind,
                    ConnectionReset
                        | ConnectionAborted
                        | TimedOut
                        | BrokenPipe
                        | HostUnreachable
                        | NetworkUnreachable
                ) =>
            {
                // An accepted stream's address is its listener's: no syscall per reset.
                if let Some(name) = net.local_error_name(self.local_name, op) {
                    return Arc::clone(name);
                }
                s.local_addr().ok().map(SockName::Ip)
            }
            _ => self.name(),
        };
        NetName::sock(op.as_str(), sock)
    }

    /// Whether a connect is in flight or its callback has not run yet: the stream neither
    /// reads nor sends until then.
    pub(crate) fn connecting(&self) -> bool {
        self.extra
            .as_ref()
            .is_some_and(|e| !matches!(e.connect, ConnectState::Reported))
    }

    /// Whether a connect is in flight (its result not known yet).
    pub(crate) fn connect_in_flight(&self) -> bool {
        self.extra
            .as_ref()
            .is_some_and(|e| matches!(e.connect, ConnectState::InFlight(_)))
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
    /// The rest of a flush that yielded (see `sendfile::FLUSH_BUDGET`).
    Flush,
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
            StreamEvent::Flush => lp.stream_flush_pending(id),
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
