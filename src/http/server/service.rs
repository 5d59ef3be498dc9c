//! Per-connection I/O for the [`Server`](super::Server): feed the
//! [`Conn`](crate::http::conn::Conn) what the socket and the timer say, then carry out what it
//! asks — dispatch, write, read or not, one timer, half-close, close. `pump` is the only place
//! that does the carrying out, and it never runs inside itself, so a handler answering at once
//! just leaves work for the pump it runs in.

use std::io::IoSlice;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::rc::Rc;
use std::time::Instant;

use super::request::Request;
use super::responder::Responder;
use crate::Loop;
use crate::http::conn::Life;
use crate::http::server::{ConnId, Entry, Handler, HandlerPanic, Shared};

impl Shared {
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
        // The request whose handler is running, for the report if it panics.
        let mut running = 0;
        // A panicking handler costs its own connection only (500 and close); the other
        // connections on this loop go on being served. One `catch_unwind` covers the batch:
        // after a panic the connection dispatches nothing more (`on_handler_panic`), so
        // stopping the batch there is what a call per request would do too.
        let called = catch_unwind(AssertUnwindSafe(|| {
            self.run_handlers(lp, id, &mut guard, &mut running);
        }));
        if let Err(payload) = called {
            self.handler_panicked(lp, id, running, payload.as_ref());
        }
        drop(guard);
        self.do_io(lp, id);
    }

    /// Hands each request dispatched on `id` to the handler, recording its sequence number in
    /// `running` before the call.
    #[inline]
    fn run_handlers<'s>(
        self: &'s Rc<Self>,
        lp: &mut Loop,
        id: ConnId,
        guard: &mut Option<HandlerGuard<'s>>,
        running: &mut u64,
    ) {
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
                    return; // closed by a handler: `do_io` finds nothing to do
                };
                let Some(d) = e.conn.take_dispatch() else {
                    return;
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
                *running = seq;
                handler(lp, request, responder);
            }
        }
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
