//! File segments in a stream's write queue: `write_file` queues a range of a file in order
//! with the buffers around it, and the flush sends it with `sendfile` (Linux, FreeBSD,
//! macOS) straight from the page cache into the socket, as the socket drains. Elsewhere, or
//! when the kernel refuses the pair of descriptors, the bytes are read into a small buffer and
//! sent (a copy, still on the loop thread, still bounded).
//!
//! One flush sends at most [`FLUSH_BUDGET`] bytes of file: a download as fast as loopback
//! would otherwise keep the loop in one stream's flush for as long as the socket keeps taking
//! bytes. Past the budget the flush yields, and goes on from the pending queue in the next
//! iteration (the socket stays writable, so no edge would come to wake it).

use std::fs::File;
use std::io;
use std::sync::Arc;

use super::write::writable_stream;
use super::{Request, StreamEvent, stream_mut};
use crate::error::Result;
use crate::event_loop::{HandleEvent, Loop};
use crate::handle::HandleId;
use crate::net::socket::StreamSocket;

/// File bytes one flush sends before it yields to the rest of the loop.
pub(crate) const FLUSH_BUDGET: usize = 2 << 20;

/// Bytes read per copy where `sendfile` cannot be used.
const COPY_CHUNK: usize = 64 * 1024;

/// A range of a file queued on a stream: `remaining` bytes from `offset`. The file is shared
/// (`Arc`), so one open file can be sent to many peers; it is closed when the last holder
/// drops it, the queue's once the segment is sent, failed or canceled.
#[derive(Debug)]
pub(crate) struct FileSegment {
    file: Arc<File>,
    offset: u64,
    remaining: u64,
    /// `sendfile` refused this file or socket: copy through a buffer instead.
    copy: bool,
}

impl FileSegment {
    pub(crate) fn new(file: Arc<File>, offset: u64, len: u64) -> Self {
        Self {
            file,
            offset,
            remaining: len,
            copy: false,
        }
    }

    /// Unsent bytes, as a queue length (saturating where `usize` is narrower).
    pub(crate) fn remaining_usize(&self) -> usize {
        usize::try_from(self.remaining).unwrap_or(usize::MAX)
    }

    /// `n` more bytes were sent.
    pub(crate) fn advance(&mut self, n: usize) {
        let n = n as u64;
        self.offset += n;
        self.remaining = self.remaining.saturating_sub(n);
    }

    /// Sends what the socket takes of this segment now, at most `budget` bytes. Returns the
    /// bytes sent (never `0`): a file that ends before the segment does is an
    /// `UnexpectedEof` error, never a short body passed off as complete.
    pub(crate) fn send(&mut self, socket: &StreamSocket, budget: usize) -> io::Result<usize> {
        let want = self.remaining_usize().min(budget);
        let sent = if self.copy {
            self.copy_some(socket, want)?
        } else {
            match zero_copy(&self.file, socket, self.offset, want) {
                Err(e) if unsupported(&e) => {
                    self.copy = true;
                    self.copy_some(socket, want)?
                }
                other => other?,
            }
        };
        if sent == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!(
                    "the file ended {} bytes before the length given to write_file",
                    self.remaining
                ),
            ));
        }
        Ok(sent)
    }

    /// The copying path: one read of at most [`COPY_CHUNK`] bytes, then one send. Bytes read
    /// but not taken by the socket are read again next time (the offset moves by bytes sent).
    fn copy_some(&self, socket: &StreamSocket, want: usize) -> io::Result<usize> {
        let mut buf = vec![0u8; want.min(COPY_CHUNK)];
        let n = read_at(&self.file, &mut buf, self.offset)?;
        if n == 0 {
            return Ok(0);
        }
        socket.send(&buf[..n])
    }
}

#[cfg(unix)]
fn read_at(file: &File, buf: &mut [u8], offset: u64) -> io::Result<usize> {
    std::os::unix::fs::FileExt::read_at(file, buf, offset)
}

#[cfg(windows)]
fn read_at(file: &File, buf: &mut [u8], offset: u64) -> io::Result<usize> {
    std::os::windows::fs::FileExt::seek_read(file, buf, offset)
}

#[cfg(any(
    target_os = "linux",
    target_os = "freebsd",
    target_os = "macos",
    target_os = "ios"
))]
fn zero_copy(file: &File, socket: &StreamSocket, offset: u64, len: usize) -> io::Result<usize> {
    use std::os::fd::AsFd;
    crate::sys::sendfile::sendfile(file.as_fd(), socket.as_fd(), offset, len)
}

#[cfg(not(any(
    target_os = "linux",
    target_os = "freebsd",
    target_os = "macos",
    target_os = "ios"
)))]
fn zero_copy(_: &File, _: &StreamSocket, _: u64, _: usize) -> io::Result<usize> {
    Err(io::ErrorKind::Unsupported.into())
}

#[cfg(any(
    target_os = "linux",
    target_os = "freebsd",
    target_os = "macos",
    target_os = "ios"
))]
fn unsupported(e: &io::Error) -> bool {
    crate::sys::sendfile::unsupported(e)
}

#[cfg(not(any(
    target_os = "linux",
    target_os = "freebsd",
    target_os = "macos",
    target_os = "ios"
)))]
fn unsupported(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::Unsupported
}

impl Loop {
    /// Queues `segment` after what the stream has queued, and flushes. Returns whether the
    /// queue (which counts the segment's unsent bytes) is below the high-water mark.
    pub(crate) fn stream_write_file(
        &mut self,
        id: HandleId,
        segment: FileSegment,
        req: Request,
    ) -> Result<bool> {
        let s = writable_stream(self.handles_mut(), id)?;
        if segment.remaining == 0 {
            // Nothing to send: an empty request keeps the completion in order.
            s.queue.push(Vec::new(), req);
        } else {
            s.queue.push_file(segment, req);
        }
        self.reqs_mut().begin();
        self.stream_flushed(id)
    }

    /// A flush used up its [`FLUSH_BUDGET`] with the socket still writable: go on in the
    /// next iteration's pending phase (once, however many flushes yield meanwhile).
    pub(crate) fn stream_flush_later(&mut self, id: HandleId) {
        let Ok(s) = stream_mut(self.handles_mut(), id) else {
            return;
        };
        if s.flush_queued {
            return;
        }
        s.flush_queued = true;
        self.push_pending(id, HandleEvent::Stream(StreamEvent::Flush));
    }

    /// A flush continuation from the pending queue.
    pub(crate) fn stream_flush_pending(&mut self, id: HandleId) {
        if let Ok(s) = stream_mut(self.handles_mut(), id) {
            s.flush_queued = false;
            self.stream_flush(id);
        }
    }
}
