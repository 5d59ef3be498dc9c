//! The parts of the response queue for answers that are not one complete response: streamed
//! bodies (`start`, `write`, `end`) and responses given up on (a dropped responder or writer, a
//! panicking handler).

use super::{Fields, HeadContext, Phase, ResponseQueue};
use crate::http::proto::response::{
    EncodeError, ResponseFraming, write_chunk_header, write_last_chunk,
};
use crate::net::WriteBuf;

impl ResponseQueue {
    /// Starts a streamed response: chunked for HTTP/1.1, close-delimited for HTTP/1.0.
    pub(crate) fn start(
        &mut self,
        seq: u64,
        status: u16,
        fields: &Fields<'_>,
        ctx: HeadContext<'_>,
        close: bool,
    ) -> Result<bool, EncodeError> {
        let Some(i) = self.waiting(seq, status)? else {
            return Ok(false);
        };
        let slot = &self.slots[i];
        let bodiless = status == 204 || status == 304;
        let chunked = slot.version_minor >= 1 && !bodiless;
        let framing = if chunked {
            ResponseFraming::Chunked
        } else {
            ResponseFraming::None
        };
        // Without chunked framing only the close can end the body.
        let close = close || (!chunked && !bodiless);
        let slot = self.write_head(i, status, fields, framing, ctx, close, None)?;
        slot.phase = Phase::Streaming {
            chunked,
            silent: slot.head_only || bodiless,
        };
        self.release();
        Ok(true)
    }

    /// A part of a streamed body. `false`: no such streaming response.
    pub(crate) fn write(&mut self, seq: u64, data: WriteBuf) -> bool {
        let Some(i) = self.index(seq) else {
            return false;
        };
        let Phase::Streaming { chunked, silent } = self.slots[i].phase else {
            return false;
        };
        let len = data.as_slice().len();
        if silent || len == 0 {
            return true;
        }
        let before = self.held_len(i);
        let sink = self.sink(i);
        if chunked {
            let mut line = Vec::with_capacity(18);
            write_chunk_header(&mut line, len);
            sink.push_bytes(&line);
            sink.push(data);
            sink.push_bytes(b"\r\n");
        } else {
            sink.push(data);
        }
        self.held_bytes += self.held_len(i) - before;
        self.release();
        true
    }

    /// Ends a streamed response. `false`: no such streaming response.
    pub(crate) fn end(&mut self, seq: u64) -> bool {
        let Some(i) = self.index(seq) else {
            return false;
        };
        let Phase::Streaming { chunked, silent } = self.slots[i].phase else {
            return false;
        };
        if chunked && !silent {
            let mut last = Vec::with_capacity(5);
            write_last_chunk(&mut last);
            let before = self.held_len(i);
            self.sink(i).push_bytes(&last);
            self.held_bytes += self.held_len(i) - before;
        }
        self.slots[i].phase = Phase::Done;
        self.release();
        true
    }

    /// The handler gave up on `seq` (dropped its responder or writer): a 500 if nothing was
    /// sent yet, otherwise the response is cut short and the connection closes after what was
    /// sent, which tells the client the body is incomplete. `false`: no such pending response.
    pub(crate) fn abandon(&mut self, seq: u64, ctx: HeadContext<'_>) -> bool {
        let Some(i) = self.index(seq) else {
            return false;
        };
        match self.slots[i].phase {
            Phase::Waiting => {
                let fields: &Fields<'_> = &[(b"Content-Type", b"text/plain; charset=utf-8")];
                let body = WriteBuf::from(b"500 Internal Server Error\n");
                matches!(self.send(seq, 500, fields, body, ctx, false), Ok(true))
            }
            Phase::Streaming { .. } => {
                let slot = &mut self.slots[i];
                slot.phase = Phase::Done;
                slot.close_after = true;
                self.release();
                true
            }
            Phase::Done => false,
        }
    }

    /// The handler of `seq` panicked: the connection closes after `seq`. Later requests were
    /// never dispatched and are dropped; `seq` itself gets a 500 with `Connection: close` if
    /// nothing was sent for it yet, else it is cut short (or, complete but held, closes the
    /// connection once it is out). Earlier responses still leave in order.
    pub(crate) fn fail_at(&mut self, seq: u64, ctx: HeadContext<'_>) {
        let Some(i) = self.index(seq) else {
            if seq < self.front_seq {
                // `seq` is out already: everything pending is a later request.
                self.front_seq += self.slots.len() as u64;
                self.slots.clear();
                self.held_bytes = 0;
            }
            return;
        };
        self.slots.truncate(i + 1);
        self.held_bytes = self.count_held();
        match self.slots[i].phase {
            Phase::Waiting => {
                let fields: &Fields<'_> = &[(b"Content-Type", b"text/plain; charset=utf-8")];
                let body = WriteBuf::from(b"500 Internal Server Error\n");
                let sent = self.send(seq, 500, fields, body, ctx, true);
                debug_assert!(matches!(sent, Ok(true)));
            }
            Phase::Streaming { .. } | Phase::Done => {
                let slot = &mut self.slots[i];
                slot.phase = Phase::Done;
                slot.close_after = true;
                self.release();
            }
        }
    }
}
