//! The response side of one connection: responses leave strictly in request order, whatever
//! order the handlers answer in. A response to a later request is encoded at once but held
//! back until every earlier response has been sent in full. Streamed bodies and responses given
//! up on are in `streaming.rs`, file bodies in `files.rs`.

use std::collections::VecDeque;
use std::sync::Arc;

use super::head_cache::HeadCache;
use super::output::Output;
use crate::http::proto::date::HTTP_DATE_LEN;
use crate::http::proto::response::{
    CONTINUE_100, ConnectionHeader, EncodeError, ResponseFraming, reason_phrase,
};
use crate::net::WriteBuf;

/// Header fields a response head is built from: names and values as bytes.
pub(crate) type Fields<'a> = [(&'a [u8], &'a [u8])];

/// What every response head needs besides the handler's fields.
#[derive(Debug, Clone, Copy)]
pub(crate) struct HeadContext<'a> {
    pub(crate) date: &'a [u8; HTTP_DATE_LEN],
    /// The `Server` value, if one is configured.
    pub(crate) server: Option<&'a [u8]>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// The handler has not answered yet.
    Waiting,
    /// The head is out; body parts follow. `chunked` frames them; `silent` drops them (HEAD,
    /// 204, 304).
    Streaming { chunked: bool, silent: bool },
    /// The response is complete.
    Done,
}

#[derive(Debug)]
struct Slot {
    head_only: bool,
    version_minor: u8,
    keep_alive: bool,
    phase: Phase,
    /// The connection closes after this response.
    close_after: bool,
    /// Bytes encoded while an earlier response was still unfinished (boxed on first use:
    /// most responses are at the front when they are answered, and a small slot is cheap to
    /// queue and pop).
    held: Option<Box<Output>>,
    /// A body streamed from a file, chunk by chunk (boxed: rare).
    file: Option<Box<FileBody>>,
}

/// A file body on its way out: the next chunk is read (on the pool) only once the slot is at
/// the front and the socket has taken the chunk before, so a download holds about one chunk of
/// memory whatever the file's size or the client's speed.
#[derive(Debug)]
struct FileBody {
    file: Arc<std::fs::File>,
    offset: u64,
    remaining: u64,
    /// A chunk read is on the pool.
    reading: bool,
}

/// The in-order response queue of one connection.
#[derive(Debug, Default)]
pub(crate) struct ResponseQueue {
    slots: VecDeque<Slot>,
    /// Sequence number of `slots[0]`; slots are numbered consecutively.
    front_seq: u64,
    /// Bytes released for the socket.
    out: Output,
    /// A response that closes the connection has been released: nothing more will be sent.
    closed: bool,
    /// The last response queued when the connection began draining says `Connection: close`.
    draining: bool,
    head_cache: HeadCache,
    /// Bytes in the slots' held outputs (kept as they change, so the high-water check is
    /// cheap on every dispatch).
    held_bytes: usize,
}

impl ResponseQueue {
    /// Adds a slot for a dispatched request and returns its sequence number.
    pub(crate) fn push_request(
        &mut self,
        head_only: bool,
        version_minor: u8,
        keep_alive: bool,
    ) -> u64 {
        self.push(Slot {
            head_only,
            version_minor,
            keep_alive,
            phase: Phase::Waiting,
            close_after: false,
            held: None,
            file: None,
        })
    }

    /// Queues a complete error response that closes the connection (a malformed request, a
    /// timeout): plain text, `Connection: close`.
    pub(crate) fn push_error(&mut self, status: u16, text: &str, ctx: HeadContext<'_>) {
        let seq = self.push(Slot {
            head_only: false,
            version_minor: 1,
            keep_alive: false,
            phase: Phase::Waiting,
            close_after: true,
            held: None,
            file: None,
        });
        let fields: &Fields<'_> = &[(b"Content-Type", b"text/plain; charset=utf-8")];
        let body = format!("{status} {}: {text}\n", reason_phrase(status));
        let sent = self.send(seq, status, fields, body.into(), ctx, true);
        debug_assert!(matches!(sent, Ok(true)));
    }

    fn push(&mut self, slot: Slot) -> u64 {
        self.slots.push_back(slot);
        self.front_seq + self.slots.len() as u64 - 1
    }

    /// Responses not yet complete and released.
    pub(crate) fn len(&self) -> usize {
        self.slots.len()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// Whether a response that closes the connection has been released.
    pub(crate) fn is_closed(&self) -> bool {
        self.closed
    }

    /// From now on the last queued response says `Connection: close`.
    pub(crate) fn set_draining(&mut self) {
        self.draining = true;
    }

    /// Sends `CONTINUE_100` now; only valid while no response is pending.
    pub(crate) fn push_continue(&mut self) {
        debug_assert!(self.slots.is_empty());
        self.out.push(CONTINUE_100.into());
    }

    /// Takes the bytes released for the socket.
    pub(crate) fn take_output(&mut self) -> Vec<WriteBuf> {
        self.out.take()
    }

    /// The released bytes if they all sit in the output's scratch buffer.
    pub(crate) fn output_scratch(&self) -> Option<&[u8]> {
        self.out.scratch_only()
    }

    /// The first `n` released bytes were sent straight from the scratch buffer.
    pub(crate) fn consume_output(&mut self, n: usize) {
        self.out.consume_scratch(n);
    }

    /// Response bytes encoded and not yet handed to the socket: released and held back.
    pub(crate) fn buffered_bytes(&self) -> usize {
        debug_assert_eq!(self.held_bytes, self.count_held(), "held bytes out of step");
        self.out.len() + self.held_bytes
    }

    /// The bytes in the slots' held outputs, counted.
    fn count_held(&self) -> usize {
        self.slots
            .iter()
            .filter_map(|slot| slot.held.as_ref())
            .map(|held| held.len())
            .sum()
    }

    /// Bytes held for slot `i` (0 for the front, whose bytes go straight out).
    fn held_len(&self, i: usize) -> usize {
        if i == 0 {
            0
        } else {
            self.slots[i].held.as_ref().map_or(0, |held| held.len())
        }
    }

    pub(crate) fn has_output(&self) -> bool {
        !self.out.is_empty()
    }

    /// Index of `seq` among the pending responses.
    fn index(&self, seq: u64) -> Option<usize> {
        let i = usize::try_from(seq.checked_sub(self.front_seq)?).ok()?;
        (i < self.slots.len()).then_some(i)
    }

    /// A complete response with a fixed-length body. `Ok(false)`: no such waiting request (the
    /// connection closed, or it was answered already); the body is dropped.
    #[inline(always)]
    pub(crate) fn send(
        &mut self,
        seq: u64,
        status: u16,
        fields: &Fields<'_>,
        body: WriteBuf,
        ctx: HeadContext<'_>,
        close: bool,
    ) -> Result<bool, EncodeError> {
        let Some(i) = self.waiting(seq, status)? else {
            return Ok(false);
        };
        let bodiless = status == 204 || status == 304;
        let framing = if bodiless {
            ResponseFraming::None
        } else {
            ResponseFraming::Length(body.as_slice().len() as u64)
        };
        let body = (!bodiless).then_some(body);
        let slot = self.write_head(i, status, fields, framing, ctx, close, body)?;
        slot.phase = Phase::Done;
        // Only the front finishing lets anything out (a later slot's bytes wait in it).
        if i == 0 {
            if slot.close_after {
                self.release();
            } else {
                // The usual case, the front answered in turn: its bytes are out already.
                self.slots.pop_front();
                self.front_seq += 1;
                if self
                    .slots
                    .front()
                    .is_some_and(|next| next.held.is_some() || next.phase == Phase::Done)
                {
                    self.release();
                }
            }
        }
        Ok(true)
    }

    /// Cuts a started response short: the connection closes after what was sent.
    fn abandon_started(&mut self, seq: u64) -> bool {
        let Some(i) = self.index(seq) else {
            return false;
        };
        let slot = &mut self.slots[i];
        slot.phase = Phase::Done;
        slot.close_after = true;
        self.release();
        true
    }

    /// The index of `seq` if it still waits for its head; a final status is required (an
    /// interim 1xx is the server's own business).
    fn waiting(&self, seq: u64, status: u16) -> Result<Option<usize>, EncodeError> {
        let Some(i) = self
            .index(seq)
            .filter(|&i| self.slots[i].phase == Phase::Waiting)
        else {
            return Ok(None);
        };
        if status < 200 {
            return Err(EncodeError::InvalidStatus);
        }
        Ok(Some(i))
    }

    /// Where bytes for slot `i` go: straight out for the front response, else held.
    fn sink(&mut self, i: usize) -> &mut Output {
        if i == 0 {
            &mut self.out
        } else {
            self.slots[i].held.get_or_insert_default()
        }
    }

    /// Writes slot `i`'s head, and `body` after it unless the request was `HEAD`, to where
    /// the slot's bytes go; returns the slot.
    #[expect(clippy::too_many_arguments, reason = "a head's inputs, passed on")]
    #[inline(always)]
    fn write_head(
        &mut self,
        i: usize,
        status: u16,
        fields: &Fields<'_>,
        framing: ResponseFraming,
        ctx: HeadContext<'_>,
        close: bool,
        body: Option<WriteBuf>,
    ) -> Result<&mut Slot, EncodeError> {
        let last = i + 1 == self.slots.len();
        let draining = self.draining;
        let held_bytes = &mut self.held_bytes;
        let cache = &mut self.head_cache;
        let slot = &mut self.slots[i];
        let close = close || !slot.keep_alive || (draining && last);
        let connection = if close {
            ConnectionHeader::Close
        } else if slot.version_minor == 0 {
            ConnectionHeader::KeepAlive
        } else {
            ConnectionHeader::Omit
        };
        // Encoded straight into the output (nothing is appended when it fails).
        let sink = if i == 0 {
            &mut self.out
        } else {
            slot.held.get_or_insert_default()
        };
        let before = sink.len();
        sink.with_scratch(|out| {
            let server = ctx.server;
            cache.write_head(out, status, server, fields, framing, connection, ctx.date)
        })?;
        if let Some(body) = body
            && !slot.head_only
        {
            sink.push(body);
        }
        if i != 0 {
            *held_bytes += sink.len() - before;
        }
        slot.close_after |= close;
        Ok(slot)
    }

    /// Releases finished responses from the front, and the held bytes of the next one.
    fn release(&mut self) {
        while let Some(front) = self.slots.front_mut() {
            if let Some(held) = &mut front.held {
                self.held_bytes -= held.len();
                self.out.append(held);
            }
            if front.phase != Phase::Done {
                return;
            }
            let close = front.close_after;
            self.slots.pop_front();
            self.front_seq += 1;
            if close {
                // Responses to later requests are never sent: the client was told we close.
                self.closed = true;
                self.front_seq += self.slots.len() as u64;
                self.slots.clear();
                self.held_bytes = 0;
                return;
            }
        }
    }
}

mod files;
mod streaming;

pub(crate) use files::{FileRead, InlineFile};
