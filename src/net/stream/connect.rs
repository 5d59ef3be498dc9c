//! Connecting: the connect request, its completion on the writable edge, and what waits for
//! its callback (reads, queued writes) until it has run.

use std::io;

#[cfg(windows)]
use mio::Interest;

use super::{ConnectState, Done, Request, done_entry, stream_mut, stream_open};
use crate::error::{Error, Result};
use crate::event_loop::{IoCx, Loop};
use crate::handle::{HandleId, HandleKind, Site};
use crate::net::socket::StreamSocket;

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
        let id = self.stream_insert(kind, socket, false, site, 0)?;
        let req = Request {
            cb: Box::new(move |lp, r| cb(lp, id, r)),
            site,
        };
        self.reqs_mut().begin();
        let IoCx {
            handles, pending, ..
        } = self.io_cx();
        let s = stream_mut(handles, id)?;
        s.extra_mut().connect = ConnectState::Unreported;
        match early {
            None => s.extra_mut().connect = ConnectState::InFlight(req),
            Some(e) => s.complete(pending, id, Done::Connect(req, Err(Error::Io(e)))),
        }
        Ok(id)
    }

    /// The writable edge of a connecting socket: did the connect succeed?
    pub(super) fn stream_finish_connect(&mut self, id: HandleId) {
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
        let Some(req) = s.extra.as_mut().and_then(|e| e.connect.take_request()) else {
            return;
        };
        match result {
            Ok(()) => s.complete(pending, id, Done::Connect(req, Ok(()))),
            Err(e) => {
                s.writable = false;
                s.complete(pending, id, Done::Connect(req, Err(Error::Io(e))));
            }
        }
    }

    /// The connect's result is about to be reported. A failed connect stops reading before its
    /// callback runs, so no read callback follows it (libuv reports the connect and returns).
    pub(crate) fn stream_connect_reporting(&mut self, id: HandleId, ok: bool) {
        let Ok(s) = stream_mut(self.handles_mut(), id) else {
            return;
        };
        if let Some(extra) = &mut s.extra {
            extra.connect = ConnectState::Reported;
        }
        if !ok && s.reading {
            s.stop_reading();
            self.handles_mut().set_active(id, false);
        }
    }

    /// The connect callback has run. After success, what waited for it goes: queued writes are
    /// sent and a pending read is scheduled. After failure, queued writes and a requested
    /// shutdown are canceled (libuv's `ECANCELED`; the connect callback alone carries the
    /// error), and later writes are tried on the socket, so they fail with its error rather
    /// than wait for an edge that will not come.
    pub(crate) fn stream_connect_reported(&mut self, id: HandleId, ok: bool) {
        let IoCx {
            handles, pending, ..
        } = self.io_cx();
        let Ok(s) = stream_open(handles, id) else {
            return;
        };
        if ok {
            let read = s.reading && s.readable;
            self.stream_flush(id);
            if read {
                self.stream_queue_read(id);
            }
        } else {
            let mut n = 0;
            s.fail_with(
                || Error::Canceled,
                |done| {
                    n += 1;
                    pending.push_back(done_entry(id, done));
                },
            );
            s.done_queued += n;
            s.writable = true;
        }
    }
}

/// A connect whose socket comes later: a named-pipe client waiting for a free instance
/// (`net/named_pipe.rs`).
#[cfg(windows)]
impl Loop {
    /// Adds a connecting stream with no socket yet; `cb` waits for
    /// [`stream_connect_attach`](Self::stream_connect_attach) or
    /// [`stream_connect_failed`](Self::stream_connect_failed).
    pub(crate) fn stream_connect_unopened(
        &mut self,
        kind: HandleKind,
        site: Site,
        cb: impl FnOnce(&mut Self, HandleId, Result<()>) + 'static,
    ) -> Result<HandleId> {
        let id = self.stream_insert_opt(kind, None, false, site, 0)?;
        let req = Request {
            cb: Box::new(move |lp, r| cb(lp, id, r)),
            site,
        };
        self.reqs_mut().begin();
        stream_mut(self.handles_mut(), id)?.extra_mut().connect = ConnectState::InFlight(req);
        Ok(id)
    }

    /// Whether `id` is open and still waits for its socket.
    pub(crate) fn stream_connect_waiting(&mut self, id: HandleId) -> bool {
        stream_open(self.handles_mut(), id)
            .is_ok_and(|s| s.socket.is_none() && s.connect_in_flight())
    }

    /// Gives a waiting stream its socket and registers it: the connect completes on its
    /// writable edge, as any connect. A stream no longer waiting drops `socket`.
    pub(crate) fn stream_connect_attach(&mut self, id: HandleId, socket: StreamSocket) {
        if !self.stream_connect_waiting(id) {
            return;
        }
        let IoCx {
            handles,
            pending,
            io,
            ..
        } = self.io_cx();
        let Ok(s) = stream_mut(handles, id) else {
            return;
        };
        s.readable = socket.starts_readable();
        let socket = s.socket.insert(socket);
        if let Err(e) = io.register(socket.source(), id, Interest::READABLE | Interest::WRITABLE) {
            s.socket = None;
            if let Some(req) = s.extra.as_mut().and_then(|x| x.connect.take_request()) {
                s.complete(pending, id, Done::Connect(req, Err(Error::Io(e))));
            }
        }
    }

    /// Fails a waiting stream's connect with `e` (through the pending phase).
    pub(crate) fn stream_connect_failed(&mut self, id: HandleId, e: io::Error) {
        let IoCx {
            handles, pending, ..
        } = self.io_cx();
        let Ok(s) = stream_mut(handles, id) else {
            return;
        };
        if let Some(req) = s.extra.as_mut().and_then(|x| x.connect.take_request()) {
            s.complete(pending, id, Done::Connect(req, Err(Error::Io(e))));
        }
    }

    /// Keeps the timer of the next attempt to open the stream's socket, closed with the
    /// stream (the previous one has fired).
    pub(crate) fn stream_set_connect_retry(&mut self, id: HandleId, timer: crate::timer::Timer) {
        match stream_open(self.handles_mut(), id) {
            Ok(s) => s.extra_mut().retry = Some(timer),
            Err(_) => {
                let _ = crate::Handle::close(timer, self, |_| {});
            }
        }
    }
}
