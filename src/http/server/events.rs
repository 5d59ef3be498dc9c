//! What the socket, the pool and the responders tell a connection of the
//! [`Server`](super::Server): each callback feeds the [`Conn`] and marks the connection for the
//! pump (`service.rs`), which carries out what the connection then asks for.

use std::rc::Rc;

use crate::Loop;
use crate::http::conn::{Conn, Now};
use crate::http::proto::response::EncodeError;
use crate::http::server::{ConnId, Shared};
use crate::net::ReadEvent;

impl Shared {
    pub(super) fn on_read(self: &Rc<Self>, lp: &mut Loop, id: ConnId, ev: ReadEvent<'_>) {
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

    pub(super) fn on_written(self: &Rc<Self>, lp: &mut Loop, id: ConnId, ok: bool) {
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
}
