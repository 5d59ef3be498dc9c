//! Connections coming and going for the [`Server`](super::Server): admission (the shutdown,
//! per-address and cap checks, with eviction of connections that never completed a request),
//! registration of a new connection, its close, and the shutdown drain.

use std::net::SocketAddr;
use std::rc::Rc;

use crate::http::conn::Conn;
use crate::http::server::{ConnId, Entry, Shared, State};
use crate::net::TcpStream;
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
            #[cfg(target_os = "linux")]
            if let Some(bytes) = self.cfg.notsent_lowat {
                let _ = stream.set_notsent_lowat(lp, bytes);
            }
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
