//! The listener core shared by TCP and Unix listeners: batched accepts and the reserve-fd
//! answer to `EMFILE`.

use crate::sys::errno;
use std::fs::File;
use std::io;

use mio::Interest;
use socket2::SockAddr;

use super::IO_BATCH;
use super::socket::ListenSocket;
use crate::error::{Error, Result};
use crate::event_loop::{CallbackKind, Phase};
use crate::event_loop::{HandleData, HandleState, IoCx, IoRegistry, Loop, Never};
use crate::handle::{HandleId, HandleKind, HandleTable, Site};

pub(crate) type ConnectionCb = Box<dyn FnMut(&mut Loop, HandleId, Result<HandleId>)>;

/// What a listener handle holds in its slot.
pub(crate) struct ListenerState {
    /// `None` once closed.
    socket: Option<ListenSocket>,
    /// The handle kind of accepted streams.
    stream_kind: HandleKind,
    on_connection: Option<ConnectionCb>,
    /// A spare descriptor: closing it lets an accept succeed when the process is out of fds.
    reserve: Option<File>,
    readable: bool,
    queued: bool,
    /// The listener's address in `NetShared::local_names` (0: a wildcard or Unix address):
    /// every stream it accepts has it as its own local address.
    pub(crate) local_name: u16,
}

impl ListenerState {
    pub(crate) fn new(socket: ListenSocket, stream_kind: HandleKind) -> Self {
        Self {
            socket: Some(socket),
            stream_kind,
            on_connection: None,
            reserve: open_reserve(),
            readable: false,
            queued: false,
            local_name: 0,
        }
    }
}

fn open_reserve() -> Option<File> {
    File::open("/dev/null").ok()
}

fn listener_mut(handles: &mut HandleTable<HandleData>, id: HandleId) -> Result<&mut ListenerState> {
    match &mut handles.get_mut(id)?.data {
        HandleData::Listener(l) => Ok(l),
        _ => Err(Error::StaleHandle),
    }
}

/// A Unix-domain socket address's path (Windows builds have no Unix-domain sockets).
pub(crate) fn pathname(addr: &socket2::SockAddr) -> Option<&std::path::Path> {
    #[cfg(unix)]
    {
        addr.as_pathname()
    }
    #[cfg(windows)]
    {
        let _ = addr;
        None
    }
}

/// An accept error that belongs to the one waiting connection (interrupted, or reset or
/// aborted before it was taken), after which the next connection can still be accepted.
fn died_in_backlog(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::Interrupted
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::NotConnected
    )
}

fn is_out_of_fds(e: &io::Error) -> bool {
    errno::out_of_descriptors(e)
}

impl HandleState for Box<ListenerState> {
    type Event = Never;

    fn stop(lp: &mut Loop, id: HandleId, _kind: HandleKind) {
        lp.listener_stop(id);
    }

    fn ready(lp: &mut Loop, id: HandleId, _event: &mio::event::Event) {
        lp.listener_event(id);
    }

    fn pending(_lp: &mut Loop, _id: HandleId, never: Never) {
        match never {}
    }
}

impl Loop {
    /// Adds a listener handle (active from the start) and registers it for readability.
    pub(crate) fn listener_insert(
        &mut self,
        kind: HandleKind,
        mut state: ListenerState,
        cb: ConnectionCb,
        site: Site,
    ) -> Result<HandleId> {
        state.on_connection = Some(cb);
        let id = self
            .handles_mut()
            .insert(kind, site, true, HandleData::Listener(Box::new(state)));
        let IoCx { handles, io, .. } = self.io_cx();
        let l = listener_mut(handles, id)?;
        let registered = match &mut l.socket {
            Some(socket) => io
                .register(socket.source(), id, Interest::READABLE)
                .and_then(|()| {
                    socket
                        .registered()
                        .inspect_err(|_| io.deregister(socket.source()))
                }),
            None => Ok(()),
        };
        if let Err(e) = registered {
            self.handles_mut().remove(id);
            return Err(Error::Io(e));
        }
        Ok(id)
    }

    pub(crate) fn listener_event(&mut self, id: HandleId) {
        if let Ok(l) = listener_mut(self.handles_mut(), id) {
            l.readable = true;
            self.listener_accept_batch(id, Phase::Poll);
        }
    }

    /// Accepts up to [`IO_BATCH`] connections, handing each to the connection callback; more
    /// waiting connections are accepted next iteration (no new edge will say so).
    fn listener_accept_batch(&mut self, id: HandleId, phase: Phase) {
        for _ in 0..IO_BATCH {
            let IoCx { handles, io, .. } = self.io_cx();
            let Ok(entry) = handles.open_mut(id) else {
                return;
            };
            let site = entry.site;
            let HandleData::Listener(l) = &mut entry.data else {
                return;
            };
            let Some(socket) = &mut l.socket else { return };
            if !l.readable {
                return;
            }
            let stream_kind = l.stream_kind;
            let local_name = l.local_name;
            let conn = match socket.accept(io, id) {
                Ok(stream) => {
                    if l.reserve.is_none() {
                        l.reserve = open_reserve();
                    }
                    self.stream_insert(stream_kind, stream, true, site, local_name)
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    l.readable = false;
                    return;
                }
                // A connection that died in the backlog is that connection's failure, not the
                // listener's: skip it and accept the next (libuv does the same on both
                // platforms). Wine's `accept` reads the peer's address with `getpeername`
                // after the fact and so fails with `WSAENOTCONN` for a connection reset
                // while it waited; Windows itself may answer `WSAECONNRESET`.
                Err(e) if died_in_backlog(&e) => continue,
                Err(e) => {
                    let local = socket.shown();
                    if is_out_of_fds(&e) {
                        shed_backlog(l, io, id);
                    }
                    // Drained, or an error a retry would repeat: wait for the next edge.
                    l.readable = false;
                    Err(Error::named(e, "accept", local))
                }
            };
            self.listener_notify(id, site, phase, conn);
        }
        let Ok(entry) = self.handles_mut().get_mut(id) else {
            return;
        };
        let site = entry.site;
        if let HandleData::Listener(l) = &mut entry.data
            && l.readable
            && !l.queued
        {
            l.queued = true;
            self.defer(
                CallbackKind::Connection,
                site,
                Box::new(move |lp| {
                    if let Ok(l) = listener_mut(lp.handles_mut(), id) {
                        l.queued = false;
                        lp.listener_accept_batch(id, Phase::Pending);
                    }
                }),
            );
        }
    }

    /// Runs the connection callback (taken out of the slot while it runs).
    fn listener_notify(&mut self, id: HandleId, site: Site, phase: Phase, conn: Result<HandleId>) {
        let Ok(l) = listener_mut(self.handles_mut(), id) else {
            return;
        };
        let Some(cb) = l.on_connection.take() else {
            return;
        };
        self.invoke_restoring(
            phase,
            CallbackKind::Connection,
            site,
            cb,
            move |lp, cb| cb(lp, id, conn),
            move |lp, cb| {
                if let Ok(l) = listener_mut(lp.handles_mut(), id)
                    && l.socket.is_some()
                    && l.on_connection.is_none()
                {
                    l.on_connection = Some(cb);
                }
            },
        );
    }

    /// Close (at `close` time): deregister and drop the socket and the reserve fd.
    pub(crate) fn listener_stop(&mut self, id: HandleId) {
        let IoCx { handles, io, .. } = self.io_cx();
        let Ok(l) = listener_mut(handles, id) else {
            return;
        };
        l.on_connection = None;
        l.reserve = None;
        if let Some(mut socket) = l.socket.take() {
            io.deregister(socket.source());
        }
    }

    /// The listener's bound address.
    pub(crate) fn listener_sock_addr(&self, id: HandleId) -> Result<SockAddr> {
        let HandleData::Listener(l) = &self.handles().get(id)?.data else {
            return Err(Error::StaleHandle);
        };
        let socket = l.socket.as_ref().ok_or(Error::Closing)?;
        Ok(socket.sock_ref()?.local_addr()?)
    }
}

/// libuv's `EMFILE` trick: free the reserve fd, accept and drop every waiting connection (so
/// the peers see a close instead of hanging and the listener stops being readable), then take
/// the reserve back.
fn shed_backlog(l: &mut ListenerState, io: &mut IoRegistry, id: HandleId) {
    let Some(socket) = &mut l.socket else { return };
    if l.reserve.take().is_none() {
        return;
    }
    loop {
        match socket.accept(io, id) {
            Ok(stream) => drop(stream),
            Err(e) if died_in_backlog(&e) => {}
            Err(_) => break,
        }
    }
    l.reserve = open_reserve();
}
