//! One server connection as a state machine without I/O (quinn-proto style).
//!
//! Inputs: bytes read, end of input, a fired timer, the handler's response parts, write and
//! shutdown completions, and "drain" for a graceful shutdown. Outputs, read by the glue after
//! every input: requests to dispatch ([`Conn::take_dispatch`]), bytes to write
//! ([`Conn::take_output`]), whether to read ([`Conn::wants_read`]), the one deadline to arm a
//! timer for ([`Conn::deadline`]) and what to do with the socket ([`Conn::life`]). Response
//! ordering lives in [`ResponseQueue`].

use std::collections::VecDeque;
use std::rc::Rc;
use std::time::{Duration, Instant};

use self::pipeline::{FileRead, ResponseQueue};
use crate::http::proto::date::HTTP_DATE_LEN;
use crate::http::proto::head::BodyFraming;
use crate::http::proto::method::Method;
use crate::http::proto::parser::{Parser, RawEvent};
use crate::http::proto::raw_head::RawHead;
use crate::http::server::config::ServerConfig;
use crate::net::WriteBuf;
use respond::context;

/// The clock readings an input needs: the loop time for deadlines, the `Date` value for any
/// response the input produces.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Now {
    pub(crate) at: Instant,
    pub(crate) date: [u8; HTTP_DATE_LEN],
}

/// A complete request for the handler.
#[derive(Debug)]
pub(crate) struct Dispatch {
    pub(crate) seq: u64,
    /// The head, carrying the body.
    pub(crate) head: RawHead,
}

/// What the glue should do with the socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Life {
    Open,
    /// Half-close once the written bytes are flushed, then report [`Conn::on_shutdown_done`].
    ShutdownWrite,
    /// Half-closed; reading and discarding until EOF or the linger deadline.
    Lingering(Instant),
    /// Close the socket now.
    Close,
}

/// A request whose head is in and whose body is arriving.
#[derive(Debug)]
struct Incoming {
    head: RawHead,
    body: Vec<u8>,
    since: Instant,
}

/// A deadline counts as reached this close to it, so a timer that fires a hair early by
/// rounding does not re-arm for microseconds.
const SLACK: Duration = Duration::from_millis(1);

/// One server connection.
#[derive(Debug)]
pub(crate) struct Conn {
    cfg: Rc<ServerConfig>,
    parser: Parser,
    /// Bytes read and not yet consumed by the parser.
    inbuf: Vec<u8>,
    incoming: Option<Incoming>,
    /// When the first byte of the next request head arrived.
    head_since: Option<Instant>,
    dispatches: VecDeque<Dispatch>,
    queue: ResponseQueue,
    /// Requests are still read from the input (false after an error, a closing request, a
    /// timeout or a drain).
    parsing: bool,
    /// Parsing waits for responses: `max_pipelined` are pending.
    pipeline_full: bool,
    /// A request waits for `100 Continue` until earlier responses are out.
    continue_pending: bool,
    /// Since when nothing is pending (the accept, or the end of the last response).
    idle_since: Instant,
    served: u64,
    eof: bool,
    write_blocked: bool,
    writes_in_flight: usize,
    /// While bytes are queued for the socket: since when it has taken none (the send timeout).
    send_since: Option<Instant>,
    /// The server is shutting down (see [`drain`](Self::drain)).
    draining: bool,
    life: Life,
}

impl Conn {
    pub(crate) fn new(cfg: Rc<ServerConfig>, now: Instant) -> Self {
        Self {
            parser: Parser::new(cfg.limits()),
            cfg,
            inbuf: Vec::new(),
            incoming: None,
            head_since: None,
            dispatches: VecDeque::new(),
            queue: ResponseQueue::default(),
            parsing: true,
            pipeline_full: false,
            continue_pending: false,
            idle_since: now,
            served: 0,
            eof: false,
            write_blocked: false,
            writes_in_flight: 0,
            send_since: None,
            draining: false,
            life: Life::Open,
        }
    }

    // ---- outputs ----

    /// The next request for the handler; none while the responses waiting for the socket are
    /// over [`ServerConfig::response_high_water`] (the rest wait until they drain, so a burst
    /// of pipelined requests cannot make the server hold a response per request at once).
    pub(crate) fn take_dispatch(&mut self) -> Option<Dispatch> {
        if self.output_high() {
            return None;
        }
        self.dispatches.pop_front()
    }

    /// Whether the responses waiting for the socket are at the high-water mark: the socket's
    /// own queue is over its mark, or what is encoded here is over the server's.
    fn output_high(&self) -> bool {
        self.write_blocked || self.queue.buffered_bytes() >= self.cfg.response_high_water
    }

    /// Requests held back by [`take_dispatch`](Self::take_dispatch) or parsing paused by the
    /// high-water mark may go on: call after the socket took bytes.
    pub(crate) fn resume(&mut self, now: &Now) {
        if self.output_high() {
            return;
        }
        if self.parsing && !self.inbuf.is_empty() && self.incoming.is_none() {
            self.process(now);
        }
        self.update();
    }

    /// The next chunk of a file body to read on the pool, if one is due now: the front
    /// response streams a file, no read of it is under way, and the socket has room.
    pub(crate) fn take_file_read(&mut self) -> Option<FileRead> {
        if self.write_blocked || matches!(self.life, Life::Close | Life::Lingering(_)) {
            return None;
        }
        self.queue.next_file_read(self.cfg.file_chunk_bytes)
    }

    /// The rest of the front response's file body, whole, to hand to the socket's
    /// `write_file` (the `sendfile` path), if one is due: the front response streams a file
    /// and no send of it is under way. Counts as a write in flight (the send timeout watches
    /// it) until [`on_file_sent`](Self::on_file_sent).
    pub(crate) fn take_file_send(&mut self, now: Instant) -> Option<FileRead> {
        if matches!(self.life, Life::Close | Life::Lingering(_)) {
            return None;
        }
        let send = self.queue.next_file_read(usize::MAX)?;
        self.writes_in_flight += 1;
        self.send_since.get_or_insert(now);
        Some(send)
    }

    /// The socket took the `len` bytes of file body handed out for `seq` (`ok`), or the send
    /// failed: the file ended early or the socket failed, and the connection closes.
    pub(crate) fn on_file_sent(&mut self, seq: u64, len: u64, ok: bool, now: &Now) {
        self.writes_in_flight = self.writes_in_flight.saturating_sub(1);
        self.on_send_progress(now.at);
        if self.queue.file_sent(seq, ok.then_some(len)) {
            self.after_response(now);
        }
        if !ok {
            self.on_io_error();
        }
    }

    /// A file chunk read for response `seq` came back.
    pub(crate) fn on_file_chunk(&mut self, seq: u64, read: std::io::Result<Vec<u8>>, now: &Now) {
        if self.queue.file_chunk(seq, read) {
            self.after_response(now);
        }
    }

    /// Offers the bytes to write now to `send` when they are all in the reusable output buffer
    /// (no copy, no allocation); `send` returns how many the socket took at once, or `None`.
    /// What it took is done with: nothing is in flight for it. Returns the bytes sent.
    pub(crate) fn send_now(&mut self, send: impl FnOnce(&[u8]) -> Option<usize>) -> usize {
        let Some(bytes) = self.queue.output_scratch() else {
            return 0;
        };
        let Some(n) = send(bytes) else { return 0 };
        self.queue.consume_output(n);
        if !self.queue.has_output() {
            self.update();
        }
        n
    }

    /// Bytes to write now. A non-empty result counts as one write in flight until
    /// [`on_write_done`](Self::on_write_done).
    pub(crate) fn take_output(&mut self, now: Instant) -> Vec<WriteBuf> {
        let out = self.queue.take_output();
        if !out.is_empty() {
            self.writes_in_flight += 1;
            self.send_since.get_or_insert(now);
        }
        out
    }

    /// Whether a complete request has arrived on this connection.
    pub(crate) fn has_served(&self) -> bool {
        self.served > 0
    }

    pub(crate) fn life(&self) -> Life {
        self.life
    }

    pub(crate) fn wants_read(&self) -> bool {
        match self.life {
            Life::Open => !self.eof && !self.pipeline_full && !self.output_high(),
            Life::ShutdownWrite | Life::Lingering(_) => !self.eof,
            Life::Close => false,
        }
    }

    /// The one deadline this connection has now, if any.
    pub(crate) fn deadline(&self) -> Option<Instant> {
        let sending = self.send_since.map(|since| since + self.cfg.send_timeout);
        match (self.receive_deadline(), sending) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// The deadline of the receiving side (and of lingering).
    fn receive_deadline(&self) -> Option<Instant> {
        match self.life {
            Life::Lingering(since) => Some(since + self.cfg.linger_timeout),
            Life::ShutdownWrite | Life::Close => None,
            Life::Open if self.pipeline_full || self.write_blocked => None,
            Life::Open => {
                if let Some(incoming) = &self.incoming {
                    Some(incoming.since + self.cfg.body_timeout)
                } else if let Some(since) = self.head_since {
                    Some(since + self.cfg.header_timeout)
                } else if self.is_idle() {
                    let limit = if self.served == 0 {
                        self.cfg.header_timeout
                    } else {
                        self.cfg.idle_timeout
                    };
                    Some(self.idle_since + limit)
                } else {
                    None
                }
            }
        }
    }

    fn is_idle(&self) -> bool {
        self.queue.is_empty() && self.dispatches.is_empty() && self.incoming.is_none()
    }

    // ---- inputs ----

    pub(crate) fn on_data(&mut self, bytes: &[u8], now: &Now) {
        if self.life != Life::Open || !self.parsing || self.eof {
            return; // after the last request, or while lingering: discarded
        }
        self.inbuf.extend_from_slice(bytes);
        self.process(now);
        self.update();
    }

    /// The peer closed its side: requests already complete are still answered.
    pub(crate) fn on_eof(&mut self) {
        self.eof = true;
        match self.life {
            Life::Lingering(_) => self.life = Life::Close,
            Life::Open => {
                self.incoming = None;
                self.head_since = None;
                self.update();
            }
            Life::ShutdownWrite | Life::Close => {}
        }
    }

    /// A read or write failed: the connection is gone.
    pub(crate) fn on_io_error(&mut self) {
        self.life = Life::Close;
    }

    /// The connection's timer fired. Returns `true` when this closed it for the send timeout.
    pub(crate) fn on_timer(&mut self, now: &Now) -> bool {
        let send_stalled = self
            .send_since
            .is_some_and(|since| now.at + SLACK >= since + self.cfg.send_timeout);
        if send_stalled && self.life != Life::Close {
            // The client takes nothing: nothing more can reach it, so no answer either.
            self.life = Life::Close;
            return true;
        }
        self.on_receive_timer(now);
        false
    }

    fn on_receive_timer(&mut self, now: &Now) {
        let Some(deadline) = self.receive_deadline() else {
            return;
        };
        if now.at + SLACK < deadline {
            return;
        }
        match self.life {
            Life::Lingering(_) => self.life = Life::Close,
            Life::Open if self.incoming.is_some() || self.head_since.is_some() => {
                self.fail(408, "request not received in time", now);
            }
            Life::Open => self.parsing = false, // idle too long: close quietly
            Life::ShutdownWrite | Life::Close => {}
        }
        self.update();
    }

    pub(crate) fn on_write_done(&mut self, now: Instant) {
        self.writes_in_flight = self.writes_in_flight.saturating_sub(1);
        self.on_send_progress(now);
        self.update();
    }

    /// The socket took some of the queued bytes: the send timeout starts again (or ends,
    /// with nothing left in flight).
    pub(crate) fn on_send_progress(&mut self, now: Instant) {
        self.send_since = (self.writes_in_flight > 0).then_some(now);
    }

    /// Whether bytes are queued for the socket (so its progress is worth watching).
    pub(crate) fn is_sending(&self) -> bool {
        self.send_since.is_some()
    }

    pub(crate) fn set_write_blocked(&mut self, blocked: bool) {
        self.write_blocked = blocked;
    }

    pub(crate) fn on_shutdown_done(&mut self, now: Instant) {
        if self.life == Life::ShutdownWrite {
            self.life = if self.eof {
                Life::Close
            } else {
                Life::Lingering(now)
            };
        }
    }

    /// Graceful shutdown, first step: the last response queued from now on says `Connection:
    /// close`, and requests already received (in the input buffer, or read before
    /// [`settle_drain`](Self::settle_drain)) are still dispatched and answered.
    pub(crate) fn drain(&mut self, now: &Now) {
        self.draining = true;
        self.queue.set_draining();
        if self.life == Life::Open && self.parsing && !self.inbuf.is_empty() {
            self.process(now);
        }
    }

    /// Graceful shutdown, second step (once the reads under way have been taken in): read
    /// no further requests, drop a request still arriving, and close once the answers are out:
    /// with a half-close and a linger, never a reset, so no answer is lost to one.
    pub(crate) fn settle_drain(&mut self) {
        self.parsing = false;
        self.pipeline_full = false;
        self.incoming = None;
        self.head_since = None;
        self.continue_pending = false;
        self.inbuf = Vec::new();
        self.update();
    }

    // ---- internals ----

    /// Parses what the input holds, as far as the pipeline limit allows.
    fn process(&mut self, now: &Now) {
        let mut start = 0;
        while self.parsing {
            self.pipeline_full = self.queue.len() >= self.cfg.max_pipelined;
            if self.pipeline_full {
                break;
            }
            let (consumed, event) = match self.parser.parse_raw(&self.inbuf[start..]) {
                Ok(step) => step,
                Err(e) => {
                    self.fail(e.status(), e.reason(), now);
                    break;
                }
            };
            let at = start;
            start += consumed;
            match event {
                RawEvent::NeedMore => break,
                RawEvent::Request(head) => self.on_head(head, true, now),
                RawEvent::Head(head) => self.on_head(head, false, now),
                RawEvent::Body(range) => {
                    if let Some(incoming) = &mut self.incoming {
                        let range = at + range.start..at + range.end;
                        incoming.body.extend_from_slice(&self.inbuf[range]);
                    }
                }
                RawEvent::End => self.dispatch(),
            }
        }
        if start > 0 {
            self.inbuf.drain(..start.min(self.inbuf.len()));
        }
        let head_arriving = self.parsing
            && !self.pipeline_full
            && self.incoming.is_none()
            && !self.inbuf.is_empty();
        if !head_arriving {
            self.head_since = None;
        } else if self.head_since.is_none() {
            self.head_since = Some(now.at);
        }
    }

    /// A head arrived; `complete` when it is a whole request without a body (the parser has
    /// already moved on to the next one).
    #[inline]
    fn on_head(&mut self, head: RawHead, complete: bool, now: &Now) {
        let meta = head.meta();
        if !self.cfg.allow_unknown_methods && matches!(meta.method, Method::Other(_)) {
            return self.fail(501, "method not implemented", now);
        }
        let unknown_expectation =
            meta.version_minor >= 1 && !meta.expect_continue && meta.has_expect;
        if unknown_expectation {
            return self.fail(417, "only 100-continue is supported", now);
        }
        // The usual request, without a body: complete now, dispatched without waiting as an
        // `Incoming`.
        if complete {
            self.head_since = None;
            return self.push_dispatch(head, Vec::new());
        }
        let has_body = match meta.framing {
            BodyFraming::Length(n) => n > 0,
            BodyFraming::Chunked => true,
            _ => false,
        };
        if meta.expect_continue && has_body {
            if self.queue.is_empty() && self.dispatches.is_empty() {
                self.queue.push_continue();
            } else {
                self.continue_pending = true;
            }
        }
        let capacity = match meta.framing {
            BodyFraming::Length(n) => usize::try_from(n).unwrap_or(0).min(64 * 1024),
            _ => 0,
        };
        self.head_since = None;
        self.incoming = Some(Incoming {
            head,
            body: Vec::with_capacity(capacity),
            since: now.at,
        });
    }

    fn dispatch(&mut self) {
        let Some(Incoming { head, body, .. }) = self.incoming.take() else {
            return;
        };
        self.push_dispatch(head, body);
    }

    #[inline]
    fn push_dispatch(&mut self, mut head: RawHead, body: Vec<u8>) {
        self.continue_pending = false;
        self.served += 1;
        let meta = head.meta();
        if !meta.keep_alive {
            self.parsing = false;
        }
        let head_only = matches!(meta.method, Method::Head);
        let seq = self
            .queue
            .push_request(head_only, meta.version_minor, meta.keep_alive);
        if !body.is_empty() {
            head.set_body(body);
        }
        self.dispatches.push_back(Dispatch { seq, head });
    }

    /// Answers `status` after the pending responses, then closes; reads no more requests.
    fn fail(&mut self, status: u16, text: &str, now: &Now) {
        self.parsing = false;
        self.pipeline_full = false;
        self.incoming = None;
        self.head_since = None;
        self.continue_pending = false;
        self.inbuf = Vec::new();
        let cfg = Rc::clone(&self.cfg);
        self.queue.push_error(status, text, context(&cfg, now));
    }

    /// Moves to the next life stage once nothing more can happen on the open connection.
    fn update(&mut self) {
        if self.life != Life::Open {
            return;
        }
        let finished = self.queue.is_closed()
            || (self.queue.is_empty()
                && self.dispatches.is_empty()
                && !self.pipeline_full
                && (!self.parsing || self.eof));
        if !finished {
            return;
        }
        // After a closing response, requests behind it will never be answered: do not run
        // their handlers.
        self.dispatches.clear();
        self.parsing = false;
        // A drained connection may have a request on its way that nobody reads: closing
        // with it unread would send a reset, so it half-closes and lingers instead.
        let quiet = self.writes_in_flight == 0 && !self.queue.has_output();
        self.life = if quiet && (self.eof || !self.draining) {
            Life::Close
        } else {
            Life::ShutdownWrite
        };
    }
}

pub(crate) mod head_cache;
pub(crate) mod output;
pub(crate) mod pipeline;
mod respond;

#[cfg(test)]
mod tests;
