//! The parts of the response queue for file bodies: a complete response whose body is read
//! from a file, inline behind its head when small and cached, else in chunks as the socket
//! takes them (read on the pool, or handed to `sendfile`).

use std::sync::Arc;

use super::{Fields, FileBody, HeadContext, Phase, ResponseQueue};
use crate::http::proto::response::{EncodeError, ResponseFraming};

/// A chunk of a file body to read: `len` bytes at `offset`, for response `seq`.
#[derive(Debug)]
pub(crate) struct FileRead {
    pub(crate) seq: u64,
    pub(crate) file: Arc<std::fs::File>,
    pub(crate) offset: u64,
    pub(crate) len: usize,
}

/// How a small file body may be read at once into the response buffer (see
/// [`ResponseQueue::send_file`]): bodies up to `max` bytes, with `read`, which fills the
/// buffer from the file's start without waiting for a disk (or fails: the body then goes the
/// usual way). The reading is the server's business; the queue only asks.
#[derive(Debug, Clone, Copy)]
#[cfg_attr(
    not(target_os = "linux"),
    allow(
        dead_code,
        reason = "built only where reads can refuse to wait (Linux)"
    )
)]
pub(crate) struct InlineFile {
    pub(crate) max: usize,
    pub(crate) read: fn(&std::fs::File, &mut [u8]) -> std::io::Result<usize>,
}

impl ResponseQueue {
    /// A complete response whose `len`-byte body is read from `file` (from its start) in
    /// chunks, as the socket takes them (see [`next_file_read`](Self::next_file_read)); or,
    /// when `inline` allows it and its read gets the whole body at once, right behind the
    /// head, as [`send`](Self::send) would.
    #[expect(clippy::too_many_arguments, reason = "a head's inputs, passed on")]
    pub(crate) fn send_file(
        &mut self,
        seq: u64,
        status: u16,
        fields: &Fields<'_>,
        file: std::fs::File,
        len: u64,
        ctx: HeadContext<'_>,
        close: bool,
        inline: Option<InlineFile>,
    ) -> Result<bool, EncodeError> {
        let Some(i) = self.waiting(seq, status)? else {
            return Ok(false);
        };
        let bodiless = status == 204 || status == 304;
        let framing = if bodiless {
            ResponseFraming::None
        } else {
            ResponseFraming::Length(len)
        };
        let slot = self.write_head(i, status, fields, framing, ctx, close, None)?;
        let body_due = !(slot.head_only || bodiless || len == 0);
        let inlined = body_due
            && inline.is_some_and(|inline| {
                len <= inline.max as u64 && self.read_inline(i, &file, len as usize, inline.read)
            });
        let slot = &mut self.slots[i];
        if !body_due || inlined {
            slot.phase = Phase::Done;
        } else {
            slot.phase = Phase::Streaming {
                chunked: false,
                silent: false,
            };
            slot.file = Some(Box::new(FileBody {
                file: Arc::new(file),
                offset: 0,
                remaining: len,
                reading: false,
            }));
        }
        self.release();
        Ok(true)
    }

    /// Reads the whole `len`-byte body of slot `i` from `file` with `read`, behind its head;
    /// `false` (and nothing appended) when the read fails or falls short.
    fn read_inline(
        &mut self,
        i: usize,
        file: &std::fs::File,
        len: usize,
        read: fn(&std::fs::File, &mut [u8]) -> std::io::Result<usize>,
    ) -> bool {
        let sink = self.sink(i);
        let before = sink.len();
        let read_all = sink.with_scratch(|out| {
            let start = out.len();
            out.resize(start + len, 0);
            let ok = matches!(read(file, &mut out[start..]), Ok(n) if n == len);
            if !ok {
                out.truncate(start);
            }
            ok
        });
        if i != 0 {
            self.held_bytes += self.sink(i).len() - before;
        }
        read_all
    }

    /// The next chunk (at most `chunk` bytes) of the front response's file body to read, if it
    /// has one and no read is under way; it then counts as under way until
    /// [`file_chunk`](Self::file_chunk).
    pub(crate) fn next_file_read(&mut self, chunk: usize) -> Option<FileRead> {
        let seq = self.front_seq;
        let body = self.slots.front_mut()?.file.as_mut()?;
        if body.reading || body.remaining == 0 {
            return None;
        }
        body.reading = true;
        let len = usize::try_from(body.remaining)
            .unwrap_or(usize::MAX)
            .min(chunk.max(1));
        Some(FileRead {
            seq,
            file: Arc::clone(&body.file),
            offset: body.offset,
            len,
        })
    }

    /// A chunk read for `seq` came back. Bytes go out and the body moves on (and ends when
    /// complete); a failed read, or a file that ended early, cuts the response short (the
    /// connection closes: the client sees an incomplete body). `false`: no such read.
    pub(crate) fn file_chunk(&mut self, seq: u64, read: std::io::Result<Vec<u8>>) -> bool {
        let Some(i) = self.index(seq) else {
            return false;
        };
        let Some(body) = self.slots[i].file.as_mut().filter(|b| b.reading) else {
            return false;
        };
        body.reading = false;
        let data = match read {
            Ok(data) if !data.is_empty() && data.len() as u64 <= body.remaining => data,
            _ => {
                self.slots[i].file = None;
                return self.abandon_started(seq);
            }
        };
        body.offset += data.len() as u64;
        body.remaining -= data.len() as u64;
        let done = body.remaining == 0;
        self.write(seq, data.into());
        if done {
            if let Some(i) = self.index(seq) {
                self.slots[i].file = None;
            }
            self.end(seq);
        }
        true
    }

    /// The socket took `sent` bytes of the file body of `seq` handed out whole by
    /// [`next_file_read`](Self::next_file_read) (the `sendfile` path), or failed (`None`: the
    /// file ended early, or the send failed), which cuts the response short. The body ends
    /// when complete; `false`: no such send.
    pub(crate) fn file_sent(&mut self, seq: u64, sent: Option<u64>) -> bool {
        let Some(i) = self.index(seq) else {
            return false;
        };
        let Some(body) = self.slots[i].file.as_mut().filter(|b| b.reading) else {
            return false;
        };
        body.reading = false;
        let Some(sent) = sent.filter(|&n| n > 0 && n <= body.remaining) else {
            self.slots[i].file = None;
            return self.abandon_started(seq);
        };
        body.offset += sent;
        body.remaining -= sent;
        if body.remaining == 0 {
            self.slots[i].file = None;
            self.end(seq);
        }
        true
    }
}
