//! A stream's birth and its events: adding a stream handle (registered with the poller) and
//! what an I/O event does to it (the readiness cache, then connect, read and flush).

use mio::Interest;

use super::write_queue::WriteQueue;
use super::{StreamState, stream_mut};
use crate::error::{Error, Result};
use crate::event_loop::{HandleData, IoCx, Loop, Phase};
use crate::handle::{HandleId, HandleKind, Site};
use crate::net::socket::StreamSocket;

impl Loop {
    /// Adds a stream handle for `socket` and registers it (`READABLE | WRITABLE`, once).
    /// `connected` says whether the socket can be written at once.
    #[inline]
    pub(crate) fn stream_insert(
        &mut self,
        kind: HandleKind,
        socket: StreamSocket,
        connected: bool,
        site: Site,
        local_name: u16,
    ) -> Result<HandleId> {
        self.stream_insert_opt(kind, Some(socket), connected, site, local_name)
    }

    /// [`stream_insert`](Self::stream_insert), or with no socket yet (`None`): a named-pipe
    /// client still waiting for a free instance, whose pipe comes later.
    pub(crate) fn stream_insert_opt(
        &mut self,
        kind: HandleKind,
        socket: Option<StreamSocket>,
        connected: bool,
        site: Site,
        local_name: u16,
    ) -> Result<HandleId> {
        let readable = socket.as_ref().is_some_and(StreamSocket::starts_readable);
        let state = StreamState {
            socket,
            readable,
            writable: connected,
            read_closed: false,
            reading: false,
            notify: false,
            read_queued: false,
            flush_queued: false,
            wants_drain: false,
            reset_on_close: false,
            write_interest: !connected,
            done_queued: 0,
            local_name,
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
        if s.connect_in_flight() {
            if s.writable {
                // Reads wait for the connect callback (pending phase), even when the data
                // came in the same wake-up as the handshake.
                self.stream_finish_connect(id);
            }
            return;
        }
        if s.reading && s.readable && !s.connecting() {
            if s.notify {
                self.stream_notify_readable(id, Phase::Poll);
            } else {
                self.stream_read_batch(id, Phase::Poll);
            }
        }
        // Writes made meanwhile (by the read callbacks, say) flushed themselves; only new
        // writability can move what is still queued.
        if became_writable {
            self.stream_flush(id);
        }
    }
}
