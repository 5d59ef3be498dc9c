//! Streams as futures: [`AsyncStream`] (TCP or Unix) with `read`, `write_all`, `shutdown`, and
//! `futures-io`'s [`AsyncRead`](futures_io::AsyncRead)/[`AsyncWrite`](futures_io::AsyncWrite).

use std::cell::Cell;
use std::fmt;
use std::rc::Rc;
use std::task::Poll;

use crate::error::Result;
use crate::event_loop::Loop;
use crate::net::UnixStream;
use crate::net::{TcpStream, WriteBuf};
use crate::sys::loop_scope;
use crate::task::call::{Callback, callback, register};
use crate::task::shared::Shared;

mod compat;
mod futs;
mod io;
mod kind;
mod read;

pub use self::futs::{ReadChunkFut, ReadFut, ReadableFut, SendFut};
use self::io::{Io, Turn, arm_reading, queue_rest, try_send};
pub use self::kind::StreamKind;

/// Bytes read ahead of the reader (outside a poll: see [`AsyncStream`]) before reading pauses
/// (backpressure on the peer).
const READ_HIGH_WATER: usize = 64 * 1024;
/// Bytes queued by `poll_write` before it asks the writer to wait.
const WRITE_HIGH_WATER: usize = 64 * 1024;

/// A TCP or Unix stream for `async` code: `read`, `write_all`, `shutdown`, and `futures-io`'s
/// [`AsyncRead`](futures_io::AsyncRead)/[`AsyncWrite`](futures_io::AsyncWrite) (so the
/// ecosystem's codecs and combinators accept it; tokio's traits through `tokio-util`'s compat
/// layer).
///
/// Inside its task's poll, a read reads the socket itself, into your buffer (or, for
/// [`read_chunk`](Self::read_chunk), the loop's, then one copy into the chunk), and waits for
/// the readable edge only when the socket is empty: nothing is read ahead of the reader, so a
/// slow reader leaves the peer's bytes in the kernel (backpressure), and a reader that always
/// finds data still yields to the loop after a bounded run of reads. (A read polled outside
/// its task, or behind a deferred operation of the same stream, has the loop read ahead for
/// it instead, up to 64 KiB.) A [`read`] future dropped before it completes stops reading.
/// A write is not undone by dropping its future (its bytes may already be on the wire);
/// close the stream to stop. Dropping the stream closes its handle.
///
/// [`read`]: Self::read
pub struct AsyncStream<S: StreamKind> {
    stream: S,
    io: Rc<Io>,
    shared: Rc<Shared>,
    closed: bool,
}

/// An [`AsyncStream`] over TCP.
pub type AsyncTcpStream = AsyncStream<TcpStream>;
/// An [`AsyncStream`] over a Unix-domain socket (a named pipe on Windows).
pub type AsyncUnixStream = AsyncStream<UnixStream>;

impl<S: StreamKind> AsyncStream<S> {
    /// Wraps a stream of loop `lp` (one accepted in a callback, say). It must not be reading.
    pub fn new(lp: &mut Loop, stream: S) -> Self {
        Self::with_shared(lp.task_shared(), stream)
    }

    pub(crate) fn with_shared(shared: Rc<Shared>, stream: S) -> Self {
        Self {
            stream,
            io: Rc::default(),
            shared,
            closed: false,
        }
    }

    /// The handle, for the callback API (`local_addr`, `set_nodelay`...).
    pub fn handle(&self) -> S {
        self.stream
    }

    /// Runs `f` on the loop now, inside the poll of the task this future belongs to (see
    /// `sys::loop_scope`), unless an operation of this stream is still deferred (it must run
    /// first: the stream's operations keep their order). `None`: not possible now.
    #[inline]
    fn inline<R>(&self, f: impl FnOnce(&mut Loop) -> R) -> Option<R> {
        if self.io.deferred.get() != 0 {
            return None;
        }
        // `f`'s value is written where it is returned from: moved out of a `Result` into an
        // `Option` instead, a large `R` (a read's outcome) was copied piecewise and read back
        // whole, a store-forwarding stall on every read.
        let mut out = None;
        loop_scope::with_loop::<Loop, ()>(self.shared.loop_id, |lp| out = Some(f(lp))).ok()?;
        out
    }

    /// Runs `f` on the loop later: right after the current poll, or as a microtask outside
    /// any (a future polled by hand, a drop outside a poll). Counted, so that later operations
    /// of this stream wait their turn instead of overtaking it inline.
    #[track_caller]
    fn defer(&self, f: impl FnOnce(&mut Loop, &Rc<Io>) + 'static) {
        let turn = Turn::new(&self.io);
        self.shared
            .defer(std::panic::Location::caller(), move |lp| {
                let io = turn.done();
                f(lp, &io);
            });
    }

    /// Installs the read callback: at once inside a poll, else right after it.
    fn start_reading(&self) {
        if self.io.reading.get() || self.io.eof.get() || self.closed {
            return;
        }
        self.io.reading.set(true);
        let stream = self.stream;
        if self
            .inline(|lp| arm_reading(lp, stream, &self.io))
            .is_some()
        {
            return;
        }
        let io = Rc::clone(&self.io);
        self.defer(move |lp, _| {
            if io.reading.get() {
                arm_reading(lp, stream, &io);
            } // else stopped again before it started
        });
    }

    /// Stops the read-ahead or the readiness notifier, whichever is installed.
    fn stop_reading(&self) {
        let notify = self.io.notify.replace(false);
        if !(self.io.reading.replace(false) || notify) || self.closed {
            return;
        }
        let stream = self.stream;
        if self.inline(|lp| stream.stop_reading(lp)).is_some() {
            return;
        }
        self.defer(move |lp, _| {
            let _ = stream.stop_reading(lp);
        });
    }

    /// Hands `data` to the stream: inside a poll, what the socket takes goes at once (no
    /// callback) and only the rest is queued; else the whole of it is queued right after the
    /// poll. A queued write's completion lowers the in-flight count and records an error for
    /// the next write or flush. Errors: a send error met inline (the stream is broken).
    fn queue_write(&self, data: WriteBuf) -> Result<()> {
        let stream = self.stream;
        let mut data = Some(data);
        let inline = self.inline(|lp| {
            let Some(data) = data.take() else {
                return Ok(());
            };
            let sent = try_send(lp, stream, &self.io, data.as_slice())?;
            if sent == data.len() {
                self.shared.recycle_chunk(data);
                return Ok(());
            }
            let rest = if sent == 0 {
                data
            } else {
                data.as_slice()[sent..].to_vec().into()
            };
            queue_rest(lp, stream, &self.io, rest)
        });
        match (inline, data) {
            (Some(r), _) => r,
            (None, Some(data)) => {
                self.defer_write(data);
                Ok(())
            }
            (None, None) => Ok(()),
        }
    }

    /// As [`queue_write`](Self::queue_write) for borrowed bytes (`poll_write`): copied only
    /// if they cannot all go at once.
    fn write_slice(&self, bytes: &[u8]) -> Result<()> {
        let stream = self.stream;
        if let Some(r) = self.inline(|lp| {
            let sent = try_send(lp, stream, &self.io, bytes)?;
            if sent == bytes.len() {
                return Ok(());
            }
            queue_rest(lp, stream, &self.io, bytes[sent..].to_vec().into())
        }) {
            return r;
        }
        self.defer_write(bytes.to_vec().into());
        Ok(())
    }

    /// Queues all of `data` right after the current poll.
    fn defer_write(&self, data: WriteBuf) {
        let n = data.len();
        self.io.in_flight.set(self.io.in_flight.get() + n);
        let stream = self.stream;
        self.defer(move |lp, io| {
            io.in_flight.set(io.in_flight.get() - n);
            // Nobody waits for this write: a refusal shows up on the next write or flush.
            if let Err(e) = queue_rest(lp, stream, io, data) {
                io.write_done(0, Err(e));
            }
        });
    }

    /// Queues `data` for writing without waiting for it to be written (Node's `write()`):
    /// completes at once while less than 64 KiB is in flight, else once the queue drains
    /// below that. A write error shows up on the next `send` or [`flush`](Self::flush).
    pub fn send(&mut self, data: impl Into<WriteBuf>) -> SendFut<'_, S> {
        SendFut {
            stream: self,
            data: Some(data.into()),
        }
    }

    /// Sends `bytes` without waiting (Node's `write()` for borrowed bytes): inside its task's
    /// poll, what the socket takes goes at once and only the rest is copied and queued
    /// (elsewhere all of it is copied and queued right after the poll). `Ok(true)` while less
    /// than 64 KiB is in flight; `Ok(false)` at or above that: await [`flush`](Self::flush)
    /// before sending more. Errors: an earlier write's error, a send error met now (the
    /// stream is broken), [`Error::InvalidState`](crate::Error::InvalidState) after `close`
    /// or `shutdown`.
    ///
    /// With [`readable`](Self::readable) and [`try_read`](Self::try_read), a server reads
    /// into one buffer that every connection shares and answers from it: no buffer per
    /// connection and no copy of its own.
    pub fn try_send(&mut self, bytes: &[u8]) -> Result<bool> {
        if let Some(e) = self.io.write_err.take() {
            return Err(e);
        }
        if self.closed || self.io.shut.get() != 0 {
            return Err(crate::Error::InvalidState("write after close or shutdown"));
        }
        self.write_slice(bytes)?;
        Ok(self.io.in_flight.get() < WRITE_HIGH_WATER)
    }

    /// Completes when every byte queued by [`send`](Self::send) or `poll_write` was written.
    pub async fn flush(&mut self) -> Result<()> {
        std::future::poll_fn(|cx| {
            let io = &self.io;
            if let Some(e) = io.write_err.take() {
                return Poll::Ready(Err(e));
            }
            if io.in_flight.get() == 0 {
                return Poll::Ready(Ok(()));
            }
            register(&io.write_waker, cx);
            Poll::Pending
        })
        .await
    }

    /// Writes all of `data` and completes when its write callback ran (the bytes reached the
    /// kernel). Errors: the stream's write error, [`Error::Canceled`](crate::Error::Canceled) if it was closed first.
    #[track_caller]
    pub fn write_all(&mut self, data: impl Into<WriteBuf>) -> Callback<Result<()>> {
        let (stream, data) = (self.stream, data.into());
        // Its start runs after the poll: until then the stream's other operations are deferred
        // too (behind it), so they cannot overtake it.
        let turn = Turn::new(&self.io);
        callback(move |lp, done| {
            drop(turn);
            // The completer moves into the callback; if `write` refuses, it has dropped it.
            let slot = Rc::new(Cell::new(Some(done)));
            let s2 = Rc::clone(&slot);
            if let Err(e) = stream.write_buf(lp, data, move |_, r| {
                if let Some(d) = s2.take() {
                    d.complete(r);
                }
            }) && let Some(d) = slot.take()
            {
                d.complete(Err(e));
            }
        })
    }

    /// Half-closes the stream once earlier writes are flushed (see the callback API's
    /// `shutdown`).
    #[track_caller]
    pub fn shutdown(&mut self) -> Callback<Result<()>> {
        let (stream, io) = (self.stream, Rc::clone(&self.io));
        self.io.shut.set(1);
        // In line as `write_all`'s start: a close that follows waits for it.
        let turn = Turn::new(&self.io);
        callback(move |lp, done| {
            drop(turn);
            let slot = Rc::new(Cell::new(Some(done)));
            let s2 = Rc::clone(&slot);
            if let Err(e) = stream.shut_down(lp, move |_, r| {
                io.shut.set(2);
                if let Some(d) = s2.take() {
                    d.complete(r);
                }
            }) && let Some(d) = slot.take()
            {
                d.complete(Err(e));
            }
        })
    }

    /// Closes the stream now (its pending writes are canceled). Dropping it does the same.
    pub fn close(mut self) {
        self.close_now();
    }

    fn close_now(&mut self) {
        if self.closed {
            return;
        }
        self.closed = true;
        let stream = self.stream;
        if self
            .inline(|lp| {
                let _ = stream.close(lp, |_| {});
            })
            .is_some()
        {
            return;
        }
        self.defer(move |lp, _| {
            let _ = stream.close(lp, |_| {});
        });
    }
}

impl<S: StreamKind> Drop for AsyncStream<S> {
    fn drop(&mut self) {
        self.close_now();
    }
}

impl<S: StreamKind> fmt::Debug for AsyncStream<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AsyncStream")
            .field("stream", &self.stream)
            .field("buffered", &self.io.buffered())
            .field("eof", &self.io.eof.get())
            .finish()
    }
}
