//! Per-connection I/O for the [`Server`](super::Server): feed the [`Conn`] what the socket and
//! the timer say, then carry out what it asks — dispatch, write, read or not, one timer,
//! half-close, close. `pump` is the only place that does the carrying out, and it never runs
//! inside itself, so a handler answering at once just leaves work for the pump it runs in.

use std::io::IoSlice;
use std::net::SocketAddr;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::rc::Rc;
use std::time::Instant;

use super::request::Request;
use super::responder::Responder;
use crate::http::conn::{Conn, Life, Now};
use crate::http::proto::response::EncodeError;
use crate::http::server::{ConnId, Entry, Handler, HandlerPanic, Shared, State};
use crate::net::{ReadEvent, TcpStream};
use crate::{Handle, Loop};

impl Shared {
    pub(crate) fn accept(self: Rc<Self>, lp: &mut Loop, stream: TcpStream) {
        let peer = stream
            .peer_addr(lp)
            .unwrap_or_else(|_| ([0, 0, 0, 0], 0).into());
        if !self.admit(lp, peer) {
            self.state.borrow_mut().stats.connections_rejected += 1;
            let _ = stream.close(lp, |_| {});
            return;
        }
        let id = {
            let mut st = self.state.borrow_mut();
            let _ = stream.set_nodelay(lp, true);
            let generation = st.take_gen();
            let key = st.conns.insert(Entry {
                generation,
                conn: Conn::new(Rc::clone(&self.cfg), lp.now()),
                stream,
                peer,
                timer: None,
                reading: false,
                shutdown_sent: false,
                queued: 0,
                drain_waiters: None,
            });
            let id = ConnId { key, generation };
            st.dirty.push(id);
            st.unproven.push_back(id);
            if st.unproven.len() > 2 * st.conns.len() + 64 {
                // Compaction keeps the list bounded by the open connections under churn.
                let State {
                    unproven, conns, ..
                } = &mut *st;
                unproven.retain(|id| {
                    conns
                        .get(id.key)
                        .is_some_and(|e| e.generation == id.generation && !e.conn.has_served())
                });
            }
            if self.cfg.max_connections_per_ip.is_some() {
                *st.per_ip.entry(peer.ip()).or_default() += 1;
            }
            id
        };
        let s = Rc::clone(&self);
        let _ = stream.on_drain(lp, move |lp, _| {
            let mut st = s.state.borrow_mut();
            let now = st.now(lp);
            let waiters = st.entry(id).and_then(|e| {
                e.conn.set_write_blocked(false);
                e.conn.on_send_progress(now.at);
                e.conn.resume(&now);
                e.drain_waiters.take()
            });
            drop(st);
            s.mark(lp, id);
            if let Some(waiters) = waiters {
                waiters(lp);
            }
        });
        self.pump(lp);
    }

    /// Whether a new connection from `peer` may open: not while shutting down, not over the
    /// per-address limit, and at `max_connections` only once the oldest connection that has
    /// not completed a request is evicted to make room (silent or slow connections cannot hold
    /// the cap against clients that send requests).
    fn admit(self: &Rc<Self>, lp: &mut Loop, peer: SocketAddr) -> bool {
        let mut st = self.state.borrow_mut();
        st.stats.connections_accepted += 1;
        if st.drain.is_some() {
            return false;
        }
        if let Some(limit) = self.cfg.max_connections_per_ip
            && st.per_ip.get(&peer.ip()).copied().unwrap_or(0) >= limit
        {
            return false;
        }
        if st.conns.len() < self.cfg.max_connections {
            return true;
        }
        while let Some(id) = st.unproven.pop_front() {
            let idle = st.entry(id).is_some_and(|e| !e.conn.has_served());
            if idle {
                st.stats.connections_evicted += 1;
                drop(st);
                self.close_conn(lp, id);
                return true;
            }
        }
        false
    }

    pub(crate) fn mark(self: &Rc<Self>, lp: &mut Loop, id: ConnId) {
        {
            let mut st = self.state.borrow_mut();
            // A handler answering a burst of pipelined requests marks its connection once
            // per answer: one servicing covers them all.
            if st.dirty.last() != Some(&id) {
                st.dirty.push(id);
            }
        }
        self.pump(lp);
    }

    /// Services every connection with something to do, until none has.
    pub(crate) fn pump(self: &Rc<Self>, lp: &mut Loop) {
        {
            let mut st = self.state.borrow_mut();
            if st.pumping {
                return;
            }
            st.pumping = true;
        }
        let _guard = PumpGuard(self);
        loop {
            self.take_abandoned(lp);
            let Some(id) = self.state.borrow_mut().dirty.pop() else {
                break;
            };
            self.service(lp, id);
        }
    }

    fn take_abandoned(self: &Rc<Self>, lp: &mut Loop) {
        if self.abandoned.borrow().is_empty() {
            return; // the usual case, checked without taking the list
        }
        let abandoned = std::mem::take(&mut *self.abandoned.borrow_mut());
        let mut st = self.state.borrow_mut();
        let now = st.now(lp);
        for (id, seq) in abandoned {
            if let Some(e) = st.entry(id) {
                e.conn.abandon(seq, &now);
                st.dirty.push(id);
            }
        }
    }

    /// Runs the handler for each dispatched request, then does the connection's I/O.
    fn service(self: &Rc<Self>, lp: &mut Loop, id: ConnId) {
        // The handler is taken out once for the connection's whole batch of requests (the
        // pump never runs inside itself, so nothing else calls it meanwhile).
        let mut guard: Option<HandlerGuard<'_>> = None;
        loop {
            // The request is built where the dispatch is taken: no tuple of it is moved around.
            let (request, seq) = {
                let mut guard = self.state.borrow_mut();
                let st = &mut *guard;
                // Until `do_io`: answers to this connection need no marking.
                st.servicing = Some(id);
                let Some(e) = st
                    .conns
                    .get_mut(id.key)
                    .filter(|e| e.generation == id.generation)
                else {
                    break; // closed by a handler: `do_io` finds nothing to do
                };
                let Some(d) = e.conn.take_dispatch() else {
                    break;
                };
                st.stats.requests += 1;
                (Request::new(d.head, e.peer), d.seq)
            };
            let responder = Responder::new(Rc::clone(self), id, seq);
            let guard = guard.get_or_insert_with(|| HandlerGuard {
                shared: self,
                handler: self.handler.borrow_mut().take(),
            });
            if let Some(handler) = guard.handler.as_mut() {
                // A panicking handler costs its own connection only (500 and close); the
                // other connections on this loop go on being served.
                let called = catch_unwind(AssertUnwindSafe(|| handler(lp, request, responder)));
                if let Err(payload) = called {
                    self.handler_panicked(lp, id, seq, payload.as_ref());
                }
            }
        }
        drop(guard);
        self.do_io(lp, id);
    }

    /// Counts and reports a handler's panic, and ends its connection with a 500.
    #[cold]
    pub(crate) fn handler_panicked(
        self: &Rc<Self>,
        lp: &mut Loop,
        id: ConnId,
        seq: u64,
        payload: &(dyn std::any::Any + Send),
    ) {
        let message = payload
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "<non-string payload>".to_owned());
        let mut st = self.state.borrow_mut();
        st.stats.handler_panics += 1;
        let now = st.now(lp);
        let peer = st.entry(id).map(|e| {
            e.conn.on_handler_panic(seq, &now);
            e.peer
        });
        drop(st);
        // Taken out while it runs: a hook that touches the server finds no hook, not a borrow.
        let hook = self.panic_hook.borrow_mut().take();
        if let (Some(mut hook), Some(peer)) = (hook, peer) {
            hook(&HandlerPanic {
                message,
                site: self.site,
                peer,
            });
            let mut slot = self.panic_hook.borrow_mut();
            if slot.is_none() {
                *slot = Some(hook);
            }
        }
    }

    fn do_io(self: &Rc<Self>, lp: &mut Loop, id: ConnId) {
        let mut st = self.state.borrow_mut();
        st.servicing = None;
        let now = lp.now();
        let Some(e) = st.entry(id) else { return };
        let stream = e.stream;
        // First straight from the connection's reusable buffer, for whatever the socket takes
        // now; only the rest (if any) is handed over as an owned, queued write.
        let mut written = e
            .conn
            .send_now(|bytes| stream.try_write(lp, &[IoSlice::new(bytes)]).ok())
            as u64;
        let out = e.conn.take_output(now);
        if !out.is_empty() {
            written += out.iter().map(|p| p.as_slice().len() as u64).sum::<u64>();
            let s = Rc::clone(self);
            let bufs = out;
            match stream.write_vectored(lp, bufs, move |lp, r| s.on_written(lp, id, r.is_ok())) {
                Ok(true) => {}
                Ok(false) => e.conn.set_write_blocked(true),
                Err(_) => e.conn.on_io_error(),
            }
        }
        // Before the snapshot below: a file body queued counts in the socket's queue.
        self.file_body_io(lp, e, id, now);
        if e.conn.is_sending() {
            // What the send timeout compares against: the socket has made progress when its
            // queue is shorter than this.
            e.queued = stream.write_queue_size(lp).unwrap_or(0);
        }
        if e.conn.life() == Life::ShutdownWrite && !e.shutdown_sent {
            e.shutdown_sent = true;
            let s = Rc::clone(self);
            let r = stream.shutdown(lp, move |lp, r| {
                if let Some(e) = s.state.borrow_mut().entry(id) {
                    match r {
                        Ok(()) => e.conn.on_shutdown_done(lp.now()),
                        Err(_) => e.conn.on_io_error(),
                    }
                }
                s.mark(lp, id);
            });
            if r.is_err() {
                e.conn.on_io_error();
            }
        }
        if e.conn.life() == Life::Close {
            st.stats.bytes_out += written;
            drop(st);
            return self.close_conn(lp, id);
        }
        let want = e.conn.wants_read();
        if want != e.reading {
            e.reading = want;
            if want {
                let s = Rc::clone(self);
                let _ = stream.read_start(lp, move |lp, _, ev| s.on_read(lp, id, ev));
            } else {
                let _ = stream.read_stop(lp);
            }
        }
        self.sync_timer(lp, e, id, now);
        st.stats.bytes_out += written;
    }

    /// Keeps the connection's one timer due no later than its deadline. A timer due earlier
    /// than needed is left alone: when it fires, the connection re-checks and the timer is
    /// re-armed for the rest, so requests never touch the timer queue.
    fn sync_timer(self: &Rc<Self>, lp: &mut Loop, e: &mut Entry, id: ConnId, now: Instant) {
        let Some(deadline) = e.conn.deadline() else {
            return;
        };
        if let Some((_, due)) = e.timer
            && due <= deadline
        {
            return;
        }
        if let Some((timer, _)) = e.timer.take() {
            timer.clear(lp);
        }
        let s = Rc::clone(self);
        let timer = lp.set_timeout(deadline.saturating_duration_since(now), move |lp, _| {
            let mut st = s.state.borrow_mut();
            let now = st.now(lp);
            let mut timed_out = false;
            if let Some(e) = st.entry(id) {
                e.timer = None;
                if e.conn.is_sending() {
                    let queued = e.stream.write_queue_size(lp).unwrap_or(0);
                    if queued < e.queued {
                        e.conn.on_send_progress(now.at);
                    }
                    e.queued = queued;
                }
                timed_out = e.conn.on_timer(&now);
            }
            st.stats.send_timeouts += u64::from(timed_out);
            drop(st);
            s.mark(lp, id);
        });
        e.timer = Some((timer, deadline));
    }

    fn on_read(self: &Rc<Self>, lp: &mut Loop, id: ConnId, ev: ReadEvent<'_>) {
        {
            let mut st = self.state.borrow_mut();
            let now = st.now(lp);
            if let ReadEvent::Data(bytes) = &ev {
                st.stats.bytes_in += bytes.len() as u64;
            }
            let Some(e) = st.entry(id) else { return };
            match ev {
                ReadEvent::Data(bytes) => e.conn.on_data(bytes, &now),
                ReadEvent::Eof => {
                    e.reading = false;
                    e.conn.on_eof();
                }
                ReadEvent::Error(_) => {
                    e.reading = false;
                    e.conn.on_io_error();
                }
            }
        }
        self.mark(lp, id);
    }

    fn on_written(self: &Rc<Self>, lp: &mut Loop, id: ConnId, ok: bool) {
        let mut st = self.state.borrow_mut();
        let now = st.now(lp);
        if let Some(e) = st.entry(id) {
            if ok {
                e.conn.on_write_done(now.at);
                e.conn.resume(&now);
            } else {
                e.conn.on_io_error();
            }
        }
        drop(st);
        self.mark(lp, id);
    }

    /// A response part from a responder or writer, applied by `part` to the connection.
    /// Returns whether the connection is open and not pushing back.
    pub(crate) fn respond(
        self: &Rc<Self>,
        lp: &mut Loop,
        id: ConnId,
        seq: u64,
        part: impl FnOnce(&mut Conn, &Now) -> Result<bool, EncodeError>,
    ) -> bool {
        let refused = {
            let mut guard = self.state.borrow_mut();
            // Disjoint borrows of the state: the clock's `Now` is lent, not copied.
            let st = &mut *guard;
            let now = st.clock.get(lp);
            let Some(e) = st
                .conns
                .get_mut(id.key)
                .filter(|e| e.generation == id.generation)
            else {
                return false;
            };
            let result = part(&mut e.conn, now);
            // An invalid response (a bad field, say) is answered 500 instead, and counted.
            let refused = result.is_err();
            if refused {
                e.conn.abandon(seq, now);
            }
            let open = !e.conn.is_write_blocked();
            // The usual case: a handler answering inside the pump that called it. Marking the
            // connection is all there is to do (the running pump services it; the connection
            // being serviced does its I/O right after its handlers, unmarked), and nothing
            // changes the connection before this call returns: one borrow does it all.
            if !refused && st.pumping {
                if st.servicing != Some(id) && st.dirty.last() != Some(&id) {
                    st.dirty.push(id);
                }
                return open;
            }
            refused
        };
        if refused {
            self.refused.set(self.refused.get() + 1);
        }
        self.mark(lp, id);
        let mut st = self.state.borrow_mut();
        st.entry(id).is_some_and(|e| !e.conn.is_write_blocked())
    }

    /// Runs `cb` once the connection's write queue drains (or it closes); later, never inside
    /// this call. At once-ish (the check phase) if it is not pushing back now.
    pub(crate) fn on_writer_drain(
        &self,
        lp: &mut Loop,
        id: ConnId,
        cb: Box<dyn FnOnce(&mut Loop)>,
    ) {
        let mut st = self.state.borrow_mut();
        match st.entry(id) {
            Some(e) if e.conn.is_write_blocked() => {
                e.drain_waiters = Some(match e.drain_waiters.take() {
                    None => cb,
                    Some(earlier) => Box::new(move |lp| {
                        earlier(lp);
                        cb(lp);
                    }),
                });
            }
            _ => {
                drop(st);
                lp.set_immediate(cb);
            }
        }
    }

    pub(crate) fn close_conn(self: &Rc<Self>, lp: &mut Loop, id: ConnId) {
        let mut st = self.state.borrow_mut();
        if st.entry(id).is_none() {
            return;
        }
        let e = st.conns.remove(id.key);
        if self.cfg.max_connections_per_ip.is_some()
            && let Some(n) = st.per_ip.get_mut(&e.peer.ip())
        {
            *n -= 1;
            if *n == 0 {
                st.per_ip.remove(&e.peer.ip());
            }
        }
        if let Some((timer, _)) = e.timer {
            timer.clear(lp);
        }
        // Writers waiting for a drain hear of the close instead (their writes now say
        // `false`), later, never inside this call.
        if let Some(waiters) = e.drain_waiters {
            lp.set_immediate(waiters);
        }
        if e.stream
            .close(lp, {
                let s = Rc::clone(self);
                move |lp| {
                    s.state.borrow_mut().closing -= 1;
                    s.check_drained(lp);
                }
            })
            .is_ok()
        {
            st.closing += 1;
        }
    }

    /// The shutdown deadline passed: close every connection left.
    pub(crate) fn force_close(self: &Rc<Self>, lp: &mut Loop) {
        let ids: Vec<ConnId> = {
            let mut st = self.state.borrow_mut();
            if let Some(drain) = &mut st.drain {
                drain.timer = None;
            }
            st.conns
                .iter()
                .map(|(key, e)| ConnId {
                    key,
                    generation: e.generation,
                })
                .collect()
        };
        for id in ids {
            self.close_conn(lp, id);
        }
        self.check_drained(lp);
    }

    /// Runs the shutdown callbacks once nothing is left open.
    pub(crate) fn check_drained(self: &Rc<Self>, lp: &mut Loop) {
        let callbacks = {
            let mut st = self.state.borrow_mut();
            if st.listener_open || !st.conns.is_empty() || st.closing > 0 {
                return;
            }
            let Some(drain) = st.drain.as_mut() else {
                return;
            };
            if let Some(timer) = drain.timer.take() {
                timer.clear(lp);
            }
            std::mem::take(&mut drain.callbacks)
        };
        for cb in callbacks {
            cb(lp);
        }
    }
}

/// Clears `pumping` even if a handler panics, so the server keeps serving afterwards.
struct PumpGuard<'a>(&'a Rc<Shared>);

impl Drop for PumpGuard<'_> {
    fn drop(&mut self) {
        if let Ok(mut st) = self.0.state.try_borrow_mut() {
            st.pumping = false;
            st.servicing = None;
        }
    }
}

/// Puts the handler back after it ran, even if it panicked.
struct HandlerGuard<'a> {
    shared: &'a Shared,
    handler: Option<Handler>,
}

impl Drop for HandlerGuard<'_> {
    fn drop(&mut self) {
        if let Some(handler) = self.handler.take()
            && let Ok(mut slot) = self.shared.handler.try_borrow_mut()
            && slot.is_none()
        {
            *slot = Some(handler);
        }
    }
}
