//! The request parser: a push state machine over one growing input buffer.
//!
//! The head is read with httparse, but only ever on *complete lines*, and only on the first
//! [`Limits::max_head_bytes`] bytes of the buffer. With both rules every verdict (a head, an error,
//! or "need more") depends only on the bytes received, never on how they were split into reads:
//! httparse gives the same answer for a prefix of complete lines as for the whole head whenever
//! the prefix already decides it. Two limits must trigger before a line ends and are checked as
//! bytes arrive: the header section size (the window is full and holds no complete head) and the
//! request-target length (`LineScan`). Work per call is proportional to the new bytes, plus one
//! httparse pass when a new line has ended after the request-target, which can happen at most
//! once per header field line before a limit stops the request.

use super::chunked::{ChunkStep, ChunkedDecoder};
use super::error::HttpError;
use super::head::{BodyFraming, Derived, RequestHead};
use super::method::Method;
use super::raw_head::RawHead;
use super::request_line::{LineScan, version_error};
use std::mem::MaybeUninit;
use std::ops::Range;

/// Limits that protect the server from oversized or endless requests. Exceeding one is an
/// [`HttpError`] with the status noted on the field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Limits {
    /// Bytes of a request head: request line, header fields and the empty line (431). Also the
    /// limit for a chunked body's trailer section. Default 16 KiB.
    pub max_head_bytes: usize,
    /// Header field lines in one head (431). Default 100.
    pub max_headers: usize,
    /// Bytes of the request-target (414). Default 8 KiB.
    pub max_target_bytes: usize,
    /// Bytes of a body: the `Content-Length`, or the running sum of chunk sizes (413).
    /// Default 1 MiB.
    pub max_body_bytes: u64,
    /// Bytes of one chunk-size line, extensions included (400). Default 4 KiB.
    pub max_chunk_line_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_head_bytes: 16 * 1024,
            max_headers: 100,
            max_target_bytes: 8 * 1024,
            max_body_bytes: 1024 * 1024,
            max_chunk_line_bytes: 4 * 1024,
        }
    }
}

/// What one [`Parser::parse`] call found.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// The input ends inside a message: read more, append it, call again.
    NeedMore,
    /// A complete request head. [`Event::Body`] events (if it has a body) and [`Event::End`]
    /// follow.
    Head(RequestHead),
    /// Body bytes (chunked framing removed): this range of the buffer passed to `parse`.
    Body(Range<usize>),
    /// The current request is complete; the next call starts on the next request.
    End,
}

/// The result of a successful [`Parser::parse`] call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parsed {
    /// How many bytes at the front of the buffer are used up. Remove them before the next call,
    /// whatever the event (after taking the data out of a [`Event::Body`] range).
    pub consumed: usize,
    /// What was found.
    pub event: Event,
}

/// An HTTP/1.1 request parser for one connection.
///
/// Each request yields [`Event::Head`], then zero or more [`Event::Body`], then [`Event::End`];
/// pipelined requests follow one another in the same buffer. Contract: pass the bytes not yet
/// consumed, oldest first, with newly read bytes appended; the buffer may grow between calls but
/// must not lose unconsumed bytes.
///
/// After a request that does not keep the connection alive ([`RequestHead::keep_alive`] false)
/// the parser reads nothing more (RFC 9112 §9.6): it consumes whatever follows and returns
/// [`Event::NeedMore`]. After an error it returns the same error on every call.
#[derive(Debug, Clone)]
pub struct Parser {
    limits: Limits,
    state: State,
}

#[derive(Debug, Clone)]
enum State {
    Head(HeadScan),
    Length {
        remaining: u64,
        keep_alive: bool,
    },
    Chunked {
        decoder: ChunkedDecoder,
        keep_alive: bool,
    },
    Closed,
    Failed(HttpError),
}

impl Default for Parser {
    fn default() -> Self {
        Self::new(Limits::default())
    }
}

impl Parser {
    /// A parser waiting for the first request, enforcing `limits`.
    pub fn new(limits: Limits) -> Self {
        Self {
            limits,
            state: State::Head(HeadScan::new()),
        }
    }

    /// The limits this parser enforces.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Whether the parser is between requests: no byte of a next request has been consumed and
    /// no body is pending. (Unconsumed bytes of a head may still sit in the caller's buffer.)
    pub fn is_between_requests(&self) -> bool {
        matches!(self.state, State::Head(_))
    }

    /// Reads as far as the next event in `buf`. Every error means: answer with
    /// [`HttpError::status`], then close the connection.
    pub fn parse(&mut self, buf: &[u8]) -> Result<Parsed, HttpError> {
        let (consumed, event) = self.checked_step(buf, false)?;
        let event = match event {
            RawEvent::NeedMore => Event::NeedMore,
            // `Request` is only produced for `parse_raw`.
            RawEvent::Head(head) | RawEvent::Request(head) => Event::Head(head.to_head()),
            RawEvent::Body(range) => Event::Body(range),
            RawEvent::End => Event::End,
        };
        Ok(Parsed { consumed, event })
    }

    /// As [`parse`](Self::parse), with the head kept as its bytes and a request without a
    /// body reported as one [`RawEvent::Request`] (its head and its end): what the server
    /// uses, saving it a parser round per request.
    pub(crate) fn parse_raw(&mut self, buf: &[u8]) -> Result<(usize, RawEvent), HttpError> {
        self.checked_step(buf, true)
    }

    #[inline]
    fn checked_step(&mut self, buf: &[u8], whole: bool) -> Result<(usize, RawEvent), HttpError> {
        let result = self.step(buf, whole);
        if let Err(e) = result {
            self.state = State::Failed(e);
        }
        result
    }

    #[inline]
    fn step(&mut self, buf: &[u8], whole: bool) -> Result<(usize, RawEvent), HttpError> {
        let (consumed, event) = match &mut self.state {
            State::Failed(e) => return Err(*e),
            State::Closed => (buf.len(), RawEvent::NeedMore),
            State::Head(scan) => {
                // The usual case first: a whole head in the first bytes seen. The scan is then
                // still fresh, and stays so for the next request if this one has no body.
                let whole_head = scan
                    .is_fresh()
                    .then(|| HeadScan::whole_head(buf, &self.limits))
                    .flatten();
                let (found, untouched) = match whole_head {
                    Some(done) => (Some(done), true),
                    None => (scan.step(buf, &self.limits)?, false),
                };
                match found {
                    None => (0, RawEvent::NeedMore),
                    Some((n, head)) => (n, self.start_message(head, whole, untouched)),
                }
            }
            State::Length {
                remaining: 0,
                keep_alive,
            } => {
                let keep_alive = *keep_alive;
                self.end_message(keep_alive);
                (0, RawEvent::End)
            }
            State::Length { remaining, .. } => {
                let n = (*remaining).min(buf.len() as u64);
                *remaining -= n;
                match n as usize {
                    0 => (0, RawEvent::NeedMore),
                    n => (n, RawEvent::Body(0..n)),
                }
            }
            State::Chunked {
                decoder,
                keep_alive,
            } => {
                let keep_alive = *keep_alive;
                match decoder.decode(buf, &self.limits)? {
                    (n, ChunkStep::Data(range)) => (n, RawEvent::Body(range)),
                    (n, ChunkStep::NeedMore) => (n, RawEvent::NeedMore),
                    (n, ChunkStep::End) => {
                        self.end_message(keep_alive);
                        (n, RawEvent::End)
                    }
                }
            }
        };
        Ok((consumed, event))
    }

    /// Moves on from a complete head to its body. With `whole`, a head without a body is its
    /// whole message: the parser moves to the next one at once (writing nothing when the scan
    /// is `untouched`, i.e. still fresh) and reports [`RawEvent::Request`].
    #[inline]
    fn start_message(&mut self, head: RawHead, whole: bool, untouched: bool) -> RawEvent {
        let meta = head.meta();
        let keep_alive = meta.keep_alive;
        let remaining = match meta.framing {
            BodyFraming::Chunked => {
                self.state = State::Chunked {
                    decoder: ChunkedDecoder::new(),
                    keep_alive,
                };
                return RawEvent::Head(head);
            }
            BodyFraming::Length(n) => n,
            BodyFraming::None => 0,
        };
        if whole && remaining == 0 {
            if !(keep_alive && untouched) {
                self.end_message(keep_alive);
            }
            return RawEvent::Request(head);
        }
        self.state = State::Length {
            remaining,
            keep_alive,
        };
        RawEvent::Head(head)
    }

    fn end_message(&mut self, keep_alive: bool) {
        self.state = if keep_alive {
            State::Head(HeadScan::new())
        } else {
            State::Closed
        };
    }
}

/// Progress through the head of the next request; offsets are from the start of the buffer.
#[derive(Debug, Clone)]
struct HeadScan {
    /// Bytes already looked at (never more than the head limit).
    scanned: usize,
    /// End of the last complete line among them.
    lines_end: usize,
    /// `lines_end` at the last httparse pass: no new line, no new pass.
    parsed_end: usize,
    line: LineScan,
}

impl HeadScan {
    fn new() -> Self {
        Self {
            scanned: 0,
            lines_end: 0,
            parsed_end: 0,
            line: LineScan::START,
        }
    }

    /// Nothing of the next head looked at yet.
    #[inline]
    fn is_fresh(&self) -> bool {
        self.scanned == 0
    }

    /// The head and its length once complete, `None` while more bytes are needed.
    fn step(&mut self, buf: &[u8], limits: &Limits) -> Result<Option<(usize, RawHead)>, HttpError> {
        let window = &buf[..buf.len().min(limits.max_head_bytes)];
        if self.scanned > window.len() {
            // The caller broke the contract and dropped bytes; start over rather than misread.
            *self = Self::new();
        }
        let new = &window[self.scanned..];
        self.line.advance(new, limits.max_target_bytes)?;
        if let Some(i) = new.iter().rposition(|&b| b == b'\n') {
            self.lines_end = self.scanned + i + 1;
        }
        self.scanned = window.len();
        // Until the target has ended, the only complete lines are valid empty ones and httparse
        // could only answer "partial": skipping it keeps a flood of empty lines linear.
        if self.line == LineScan::Done && self.lines_end > self.parsed_end {
            self.parsed_end = self.lines_end;
            if let Some(done) = parse_lines(&window[..self.lines_end], limits)? {
                return Ok(Some(done));
            }
        }
        if buf.len() > limits.max_head_bytes {
            return Err(HttpError::header_too_large(
                "request head exceeds the limit",
            ));
        }
        Ok(None)
    }
}

impl HeadScan {
    /// The usual case, a whole head in the first bytes seen, in one httparse pass and without
    /// the line scan: a head httparse completes has a well-formed request line, whose target
    /// is exactly what the scan would measure, so `parse_into`'s length check gives the scan's
    /// verdict. Anything else (a partial head, an error, whose verdict may depend on the scan
    /// running first) returns `None`, and the step goes on as if this was not tried: at most
    /// one extra pass per head.
    #[inline]
    fn whole_head(buf: &[u8], limits: &Limits) -> Option<(usize, RawHead)> {
        let window = &buf[..buf.len().min(limits.max_head_bytes)];
        let end = window.iter().rposition(|&b| b == b'\n')? + 1;
        parse_lines(&window[..end], limits).ok().flatten()
    }
}

/// Header slots on the stack: a head with more fields than this (and a limit that allows
/// them) gets its slots from the heap.
const STACK_FIELDS: usize = 32;

/// One httparse pass over complete lines.
#[inline(always)]
fn parse_lines(lines: &[u8], limits: &Limits) -> Result<Option<(usize, RawHead)>, HttpError> {
    // A field line takes at least 3 bytes ("a:\n"), so this many slots never run out before the
    // configured count does; it also keeps a huge `max_headers` from allocating anything.
    let slots = limits.max_headers.min(lines.len() / 2 + 1);
    // Most heads fit the stack slots (the buffer may hold a burst of pipelined requests, so
    // `slots` says little); only one with more fields than that is read again with them all.
    let mut fields = [const { MaybeUninit::uninit() }; STACK_FIELDS];
    match parse_into(lines, limits, &mut fields[..slots.min(STACK_FIELDS)]) {
        Err(e) if slots > STACK_FIELDS && e == HttpError::header_too_large(TOO_MANY) => {
            let mut fields = vec![MaybeUninit::uninit(); slots];
            parse_into(lines, limits, &mut fields)
        }
        result => result,
    }
}

const TOO_MANY: &str = "too many header fields";

fn parse_into<'b>(
    lines: &'b [u8],
    limits: &Limits,
    slots: &mut [MaybeUninit<httparse::Header<'b>>],
) -> Result<Option<(usize, RawHead)>, HttpError> {
    let mut request = httparse::Request::new(&mut []);
    let len = match request.parse_with_uninit_headers(lines, slots) {
        Ok(httparse::Status::Partial) => return Ok(None),
        Ok(httparse::Status::Complete(len)) => len,
        Err(httparse::Error::TooManyHeaders) => {
            return Err(HttpError::header_too_large(TOO_MANY));
        }
        Err(httparse::Error::Version) => return later_minor(lines, limits, slots.len()),
        Err(_) => return Err(HttpError::bad_request("malformed request head")),
    };
    let (Some(method), Some(target), Some(minor)) = (request.method, request.path, request.version)
    else {
        return Err(HttpError::bad_request("malformed request line"));
    };
    // Already checked by the line scan unless the head came whole (`HeadScan::whole_head`).
    if target.len() > limits.max_target_bytes {
        return Err(HttpError::target_too_long());
    }
    let method = Method::from_token(method);
    let derived = Derived::check(
        &method,
        target,
        minor,
        request.headers,
        limits.max_body_bytes,
    )?;
    let head = RawHead::new(
        &lines[..len],
        method,
        target,
        minor,
        request.headers,
        derived,
    );
    Ok(Some((len, head)))
}

/// A request line of `HTTP/1.x` with `x` above 1 is read as `HTTP/1.1` (RFC 9110 §6.2: a
/// server answers with the highest minor version it supports within the request's major
/// version), from a copy of the head with the version's minor digit replaced; any other
/// version httparse refused is [`version_error`]'s.
#[cold]
fn later_minor(
    lines: &[u8],
    limits: &Limits,
    slots: usize,
) -> Result<Option<(usize, RawHead)>, HttpError> {
    let error = version_error(lines);
    if error != HttpError::version_not_supported() {
        return Err(error);
    }
    let start = lines
        .iter()
        .position(|&b| b != b'\r' && b != b'\n')
        .unwrap_or(0);
    let line_end = lines[start..]
        .iter()
        .position(|&b| b == b'\n')
        .map_or(lines.len(), |i| start + i);
    let line = &lines[start..line_end];
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let minor_at = match line.len().checked_sub(8) {
        Some(v) if line[v..].starts_with(b"HTTP/1.") && line[v + 7] > b'1' => start + v + 7,
        _ => return Err(error),
    };
    let mut copy = lines.to_vec();
    copy[minor_at] = b'1';
    let mut fields = vec![MaybeUninit::uninit(); slots.max(1)];
    parse_into(&copy, limits, &mut fields)
}

/// [`Event`] with the head kept as its bytes.
#[derive(Debug)]
pub(crate) enum RawEvent {
    NeedMore,
    Head(RawHead),
    /// A request without a body, complete: its head and its end in one event.
    Request(RawHead),
    Body(Range<usize>),
    End,
}

#[cfg(test)]
mod tests;
