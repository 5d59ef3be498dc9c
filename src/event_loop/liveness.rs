//! The two counts that decide, with the handle table, whether `run` returns: requests in
//! flight and I/O sources registered with the poller. Each is owned by a type that changes it
//! only together with the thing it counts, so no other module can miscount it.

use std::io;

use mio::event::Source;
use mio::{Events, Interest, Poll, Registry, Token};

use crate::handle::HandleId;

/// Requests in flight (pool jobs, connects, writes, shutdowns, UDP sends): each keeps the loop
/// alive from the call that starts it until its callback is taken to run, even when its handle
/// is unref'd (libuv's `active_reqs`). Each request kind calls [`begin`](Self::begin) where it
/// creates a request and [`end`](Self::end) where it takes the request's callback out to run
/// it (or drops it): the count itself is changed nowhere else.
#[derive(Debug, Default)]
pub(crate) struct RequestCount {
    in_flight: usize,
}

impl RequestCount {
    /// Counts a new request.
    #[inline]
    pub(crate) fn begin(&mut self) {
        self.in_flight += 1;
    }

    /// One request's callback was taken to run, or the request was dropped.
    #[inline]
    pub(crate) fn end(&mut self) {
        self.end_many(1);
    }

    /// `n` requests ended at once (a closing handle's queue).
    #[inline]
    pub(crate) fn end_many(&mut self, n: usize) {
        debug_assert!(n <= self.in_flight, "more requests ended than began");
        self.in_flight -= n;
    }

    /// Whether any request is in flight.
    #[inline]
    pub(crate) fn any(&self) -> bool {
        self.in_flight > 0
    }

    /// How many requests are in flight.
    pub(crate) fn len(&self) -> usize {
        self.in_flight
    }
}

/// The poller, and how many handle sources are registered with it (the loop's own waker and
/// timer fd are not counted). A source is counted from a successful `register` until its
/// `deregister`, so the count cannot drift from what the poller holds.
/// What runs when a loop-owned source is ready.
pub(crate) type LoopHandler = fn(&mut crate::event_loop::Loop);

pub(crate) struct IoRegistry {
    poll: Poll,
    sources: usize,
    /// Tokens of sources that belong to a part of the loop rather than to one handle (the
    /// process reaper's `SIGCHLD` pipe and its orphans' pidfds), each with what runs when one
    /// is ready. The poll phase looks here before the handle table, so the core needs no
    /// knowledge of the parts that use it.
    loop_handlers: Vec<(Token, LoopHandler)>,
}

impl IoRegistry {
    pub(crate) fn new(poll: Poll) -> Self {
        Self {
            poll,
            sources: 0,
            loop_handlers: Vec::new(),
        }
    }

    /// Routes events for `token` to `on_ready` instead of the handle table (idempotent). The
    /// sources registered under it go through [`register`](Self::register) and are counted.
    #[cfg_attr(not(target_os = "linux"), allow(dead_code))] // the process reaper is Linux-only
    pub(crate) fn set_loop_handler(&mut self, token: Token, on_ready: LoopHandler) {
        if !self.loop_handlers.iter().any(|(t, _)| *t == token) {
            self.loop_handlers.push((token, on_ready));
        }
    }

    /// The handler for a loop-owned token, if `token` is one.
    #[inline]
    pub(super) fn loop_handler(&self, token: Token) -> Option<LoopHandler> {
        if self.loop_handlers.is_empty() {
            return None;
        }
        self.loop_handlers
            .iter()
            .find(|(t, _)| *t == token)
            .map(|(_, f)| *f)
    }

    /// The raw registry, for the loop's own sources (waker, timer fd), which are not counted.
    pub(super) fn loop_registry(&self) -> &Registry {
        self.poll.registry()
    }

    /// Registers a handle's source under the handle's token, counting it on success.
    pub(crate) fn register<S: Source + ?Sized>(
        &mut self,
        source: &mut S,
        id: HandleId,
        interest: Interest,
    ) -> io::Result<()> {
        self.poll
            .registry()
            .register(source, Token(id.to_token()), interest)?;
        self.sources += 1;
        Ok(())
    }

    /// Changes a registered source's interest (it stays counted).
    pub(crate) fn reregister<S: Source + ?Sized>(
        &self,
        source: &mut S,
        id: HandleId,
        interest: Interest,
    ) -> io::Result<()> {
        self.poll
            .registry()
            .reregister(source, Token(id.to_token()), interest)
    }

    /// Deregisters a source that [`register`](Self::register) counted. It stops counting even
    /// if the OS call fails: that fails only when the fd is already gone from the poller (the
    /// user closed it, say), and the handle no longer uses it either way.
    pub(crate) fn deregister<S: Source + ?Sized>(&mut self, source: &mut S) {
        let _ = self.poll.registry().deregister(source);
        self.sources -= 1;
    }

    /// Whether any handle source is registered (with none, a zero-timeout poll can be skipped).
    #[inline]
    pub(crate) fn has_sources(&self) -> bool {
        self.sources > 0
    }

    /// Waits for events (see [`Poll::poll`]).
    pub(super) fn wait(
        &mut self,
        events: &mut Events,
        timeout: Option<std::time::Duration>,
    ) -> io::Result<()> {
        self.poll.poll(events, timeout)
    }
}
