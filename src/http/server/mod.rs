//! [`Server`]: the thin glue between [`Conn`] state machines and evloop's TCP streams and
//! timers. Per-connection I/O is in `service.rs`.

mod async_handler;
pub(crate) mod config;
mod file_body;
mod handler_panic;
mod headers;
pub(crate) mod request;
pub(crate) mod responder;
mod service;

pub use async_handler::Response;
pub use config::ServerConfig;
pub use handler_panic::HandlerPanic;
pub use headers::IntoHeaders;
pub use request::{Request, percent_decode};
pub use responder::{Responder, ResponseWriter};

use std::cell::{Cell, OnceCell, RefCell};
use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::rc::{Rc, Weak};
use std::time::{Duration, Instant, SystemTime};

use slab::Slab;

use crate::http::conn::{Conn, Now};
use crate::http::proto::date::{DateCache, HTTP_DATE_LEN};
use crate::net::{TcpListenOptions, TcpListener, TcpStream};
use crate::{Handle, LocalSender, Loop, Result, Timer};

/// The hook of [`Server::on_handler_panic`].
pub(crate) type PanicHook = Box<dyn FnMut(&HandlerPanic)>;
pub(crate) type Handler = Box<dyn FnMut(&mut Loop, Request, Responder)>;
type DoneCb = Box<dyn FnOnce(&mut Loop)>;

/// A connection's slab key and generation: stale once the connection is gone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ConnId {
    pub(crate) key: usize,
    pub(crate) generation: u64,
}

/// Counters of one server.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ServerStats {
    /// Connections accepted (including those closed at once for being over the limit).
    pub connections_accepted: u64,
    /// Connections closed at once: `max_connections` were open and none could be evicted, or
    /// the client's address had `max_connections_per_ip` open, or the server was shutting
    /// down.
    pub connections_rejected: u64,
    /// Connections closed at the cap to make room for a new one, because they had not sent a
    /// complete request (oldest first).
    pub connections_evicted: u64,
    /// Connections open now.
    pub connections_open: u64,
    /// Requests dispatched to the handler.
    pub requests: u64,
    /// Bytes read from clients.
    pub bytes_in: u64,
    /// Bytes handed to the sockets for clients.
    pub bytes_out: u64,
    /// [`Responder`]s dropped without an answer: each request got a 500 instead.
    pub responders_dropped: u64,
    /// Responses refused as invalid (a bad header name or value, say): each request got a
    /// 500 instead.
    pub responses_refused: u64,
    /// Handler calls that panicked. Each was answered 500 (or cut short) and its connection
    /// closed; the other connections were not touched.
    pub handler_panics: u64,
    /// Connections closed because the client took no bytes for
    /// [`ServerConfig::send_timeout`].
    pub send_timeouts: u64,
    /// File bodies cut short: the file ended before the length given to
    /// [`Responder::send_file`] (it shrank while being sent) or could not be read. The client
    /// got the head and what the file had, then the connection closed (its `Content-Length`
    /// tells it the body is incomplete).
    pub file_bodies_cut: u64,
}

pub(crate) struct Entry {
    pub(crate) generation: u64,
    pub(crate) conn: Conn,
    pub(crate) stream: TcpStream,
    pub(crate) peer: SocketAddr,
    /// The connection's one timer and when it is due.
    pub(crate) timer: Option<(Timer, Instant)>,
    pub(crate) reading: bool,
    pub(crate) shutdown_sent: bool,
    /// The socket's write queue when last looked at, while bytes are queued (send progress).
    pub(crate) queued: usize,
    /// [`ResponseWriter::on_drain`] callbacks waiting for the write queue to drain, chained
    /// into one closure in registration order.
    pub(crate) drain_waiters: Option<DrainWaiter>,
}

/// A [`ResponseWriter::on_drain`] callback, waiting.
pub(crate) type DrainWaiter = Box<dyn FnOnce(&mut crate::Loop)>;

pub(crate) struct State {
    pub(crate) listener: Option<TcpListener>,
    pub(crate) listener_open: bool,
    pub(crate) conns: Slab<Entry>,
    next_gen: u64,
    /// The clock readings handed to connections.
    pub(crate) clock: NowCache,
    pub(crate) stats: ServerStats,
    /// Connections with something to do, serviced by `pump`.
    pub(crate) dirty: Vec<ConnId>,
    pub(crate) pumping: bool,
    /// The connection whose handlers are running now: its I/O is done right after them, so
    /// an answer to it needs no marking.
    pub(crate) servicing: Option<ConnId>,
    /// Connections closed whose close callback has not run yet.
    pub(crate) closing: usize,
    pub(crate) drain: Option<Drain>,
    /// Connections in accept order that had not completed a request when last looked at: the
    /// candidates for eviction at the cap, oldest first (stale entries are skipped, and the
    /// list is compacted when it outgrows the open connections).
    pub(crate) unproven: VecDeque<ConnId>,
    /// Open connections per client address, when `max_connections_per_ip` is set.
    pub(crate) per_ip: HashMap<IpAddr, usize>,
}

pub(crate) struct Drain {
    pub(crate) callbacks: Vec<DoneCb>,
    pub(crate) timer: Option<Timer>,
}

impl State {
    pub(crate) fn entry(&mut self, id: ConnId) -> Option<&mut Entry> {
        self.conns
            .get_mut(id.key)
            .filter(|e| e.generation == id.generation)
    }

    pub(crate) fn take_gen(&mut self) -> u64 {
        self.next_gen += 1;
        self.next_gen
    }

    pub(crate) fn now(&mut self, lp: &Loop) -> Now {
        *self.clock.get(lp)
    }
}

/// The [`Now`] of the loop's cached clock, made once per clock reading.
#[derive(Debug)]
pub(crate) struct NowCache {
    date: DateCache,
    /// Wall time at a loop time: the `Date` follows the loop's cached clock, so a response
    /// costs no clock read; re-anchored on the wall clock at most once a second.
    wall_anchor: Option<(Instant, SystemTime)>,
    /// The last [`Now`] handed out: the loop time stands still within a callback.
    last: Now,
    /// The loop clock reading `last` was made for (`u64::MAX`, which the clock never reads,
    /// before the first).
    last_ns: u64,
}

impl NowCache {
    fn new() -> Self {
        Self {
            date: DateCache::new(),
            wall_anchor: None,
            last: Now {
                at: Instant::now(),
                date: [0; HTTP_DATE_LEN],
            },
            last_ns: u64::MAX,
        }
    }

    #[inline]
    pub(crate) fn get(&mut self, lp: &Loop) -> &Now {
        // Compare the loop's cached clock as plain ns first: turning it into an `Instant` costs
        // more than the rest of this call when the time has not moved.
        let ns = lp.now_ns();
        if self.last_ns != ns {
            self.refresh(lp, ns);
        }
        &self.last
    }

    #[cold]
    fn refresh(&mut self, lp: &Loop, ns: u64) {
        self.last_ns = ns;
        let at = lp.now();
        let wall = match self.wall_anchor {
            Some((then, wall)) if at.saturating_duration_since(then) < Duration::from_secs(1) => {
                wall + at.saturating_duration_since(then)
            }
            _ => {
                let wall = SystemTime::now();
                self.wall_anchor = Some((at, wall));
                wall
            }
        };
        let mut date = [0u8; HTTP_DATE_LEN];
        date.copy_from_slice(self.date.get(wall));
        self.last = Now { at, date };
    }
}

/// What the server's callbacks and its responders share.
pub(crate) struct Shared {
    pub(crate) cfg: Rc<ServerConfig>,
    pub(crate) state: RefCell<State>,
    pub(crate) handler: RefCell<Option<Handler>>,
    /// Responders dropped unanswered: (connection, request, nothing sent yet).
    pub(crate) abandoned: RefCell<Vec<(ConnId, u64)>>,
    /// Where the handler was registered (`Server::listen`'s caller), for panic reports.
    pub(crate) site: &'static std::panic::Location<'static>,
    /// Schedules a pump when a responder is dropped outside the server's own callbacks.
    local: LocalSender,
    /// The server itself, for that pump.
    me: Weak<Self>,
    /// Responders dropped without an answer (each answered 500 instead).
    dropped_unanswered: Cell<u64>,
    /// Responses the connection refused as invalid (each answered 500 instead).
    refused: Cell<u64>,
    /// Told about every handler panic, if set.
    pub(crate) panic_hook: RefCell<Option<PanicHook>>,
    local_addr: SocketAddr,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared")
            .field("local_addr", &self.local_addr)
            .finish_non_exhaustive()
    }
}

impl Shared {
    /// Records an unanswered request (from a `Drop`, without the loop) and makes sure the
    /// server gets to answer it.
    pub(crate) fn abandon_later(&self, id: ConnId, seq: u64, unanswered: bool) {
        if unanswered {
            self.dropped_unanswered
                .set(self.dropped_unanswered.get() + 1);
        }
        self.abandoned.borrow_mut().push((id, seq));
        let pumping = self.state.try_borrow().map_or(true, |s| s.pumping);
        if !pumping {
            let me = Weak::clone(&self.me);
            let _ = self.local.post(move |lp| {
                if let Some(shared) = me.upgrade() {
                    shared.pump(lp);
                }
            });
        }
    }

    pub(crate) fn is_open(&self, id: ConnId) -> bool {
        self.state.borrow_mut().entry(id).is_some()
    }
}

/// How long a graceful shutdown keeps reading requests that were already on their way: a
/// request sent just before the shutdown may still sit in the kernel, not yet readable.
const SETTLE: Duration = Duration::from_millis(20);

/// An HTTP/1.1 server on one loop. See the [module docs](super) for an example.
///
/// Cloning gives another handle to the same server. The server keeps running while its
/// listener or connections are open, whether or not a `Server` value is kept.
#[derive(Debug, Clone)]
pub struct Server {
    shared: Rc<Shared>,
}

impl Server {
    /// Listens on `addr` (with [`TcpListenOptions::new`]) and calls `handler` for every
    /// request, in arrival order per connection.
    #[track_caller]
    pub fn listen(
        lp: &mut Loop,
        addr: SocketAddr,
        config: ServerConfig,
        handler: impl FnMut(&mut Loop, Request, Responder) + 'static,
    ) -> Result<Self> {
        Self::listen_with(lp, addr, &TcpListenOptions::new(), config, handler)
    }

    /// As [`listen`](Self::listen), with socket options (e.g. `SO_REUSEPORT` for one loop per
    /// core on a shared port).
    #[track_caller]
    pub fn listen_with(
        lp: &mut Loop,
        addr: SocketAddr,
        options: &TcpListenOptions,
        config: ServerConfig,
        handler: impl FnMut(&mut Loop, Request, Responder) + 'static,
    ) -> Result<Self> {
        // The listener's callback owns the server while the listener is open (the loop owns
        // the callback); connections and responders own it too.
        let site = std::panic::Location::caller();
        let slot: Rc<OnceCell<Rc<Shared>>> = Rc::new(OnceCell::new());
        let found = Rc::clone(&slot);
        let listener = lp.tcp_listen_with(addr, options, move |lp, _, conn| {
            if let (Some(shared), Ok(stream)) = (found.get(), conn) {
                Rc::clone(shared).accept(lp, stream);
            }
        })?;
        let local_addr = listener.local_addr(lp)?;
        let shared = Rc::new_cyclic(|me| Shared {
            cfg: Rc::new(config),
            state: RefCell::new(State {
                listener: Some(listener),
                listener_open: true,
                conns: Slab::new(),
                next_gen: 0,
                clock: NowCache::new(),
                stats: ServerStats::default(),
                dirty: Vec::new(),
                pumping: false,
                servicing: None,
                closing: 0,
                drain: None,
                unproven: VecDeque::new(),
                per_ip: HashMap::new(),
            }),
            handler: RefCell::new(Some(Box::new(handler))),
            abandoned: RefCell::new(Vec::new()),
            local: lp.local_sender(),
            me: Weak::clone(me),
            dropped_unanswered: Cell::new(0),
            refused: Cell::new(0),
            panic_hook: RefCell::new(None),
            site,
            local_addr,
        });
        let _ = slot.set(Rc::clone(&shared));
        Ok(Self { shared })
    }

    /// The bound address (with the real port when bound to port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.shared.local_addr
    }

    /// Calls `hook` with every panic of the handler, after the server has answered it (500)
    /// and closed its connection. Without a hook a panic is only counted
    /// ([`ServerStats::handler_panics`]; Rust's panic hook prints the panic itself, as for any
    /// panic). The library never prints.
    pub fn on_handler_panic(&self, hook: impl FnMut(&HandlerPanic) + 'static) {
        *self.shared.panic_hook.borrow_mut() = Some(Box::new(hook));
    }

    /// The server's counters.
    pub fn stats(&self) -> ServerStats {
        let st = self.shared.state.borrow();
        let mut stats = st.stats;
        stats.connections_open = st.conns.len() as u64;
        stats.responders_dropped = self.shared.dropped_unanswered.get();
        stats.responses_refused = self.shared.refused.get();
        stats
    }

    /// Shuts down gracefully: closes the listener (new connections are refused); answers the
    /// requests already received, including those that arrive within 20 ms (they were on their
    /// way), the last of each connection with `Connection: close`; then half-closes every
    /// connection once its answers are out and lingers to read what the client still sends,
    /// so no close turns into a reset that would destroy an answer. After `deadline` it closes
    /// whatever is left.
    /// `cb` runs (never inside this call) once the listener and every connection are closed;
    /// then the server holds nothing that keeps the loop alive.
    pub fn shutdown(
        &self,
        lp: &mut Loop,
        deadline: Duration,
        cb: impl FnOnce(&mut Loop) + 'static,
    ) {
        let shared = &self.shared;
        let mut ids: Vec<ConnId> = {
            let mut st = shared.state.borrow_mut();
            if let Some(drain) = &mut st.drain {
                drain.callbacks.push(Box::new(cb));
                return;
            }
            if let Some(listener) = st.listener.take() {
                let s = Rc::clone(shared);
                let closed = listener.close(lp, move |lp| {
                    s.state.borrow_mut().listener_open = false;
                    s.check_drained(lp);
                });
                if closed.is_err() {
                    st.listener_open = false;
                }
            }
            let s = Rc::clone(shared);
            let timer = lp.set_timeout(deadline, move |lp, _| s.force_close(lp));
            st.drain = Some(Drain {
                callbacks: vec![Box::new(cb)],
                timer: Some(timer),
            });
            st.conns
                .iter()
                .map(|(key, e)| ConnId {
                    key,
                    generation: e.generation,
                })
                .collect()
        };
        for id in &ids {
            let mut st = shared.state.borrow_mut();
            let now = st.now(lp);
            if let Some(e) = st.entry(*id) {
                e.conn.drain(&now);
            }
            st.dirty.push(*id);
        }
        shared.pump(lp);
        // Requests already on their way when the shutdown began (in the socket buffers, or
        // still in the kernel's loopback queue) are read and answered for a moment; then
        // reading ends.
        let s = Rc::clone(shared);
        lp.set_timeout(SETTLE.min(deadline), move |lp, _| {
            for id in std::mem::take(&mut ids) {
                if let Some(e) = s.state.borrow_mut().entry(id) {
                    e.conn.settle_drain();
                }
                s.state.borrow_mut().dirty.push(id);
            }
            s.pump(lp);
            s.check_drained(lp);
        });
    }
}
