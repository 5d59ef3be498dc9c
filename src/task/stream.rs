//! Streams as futures: [`AsyncStream`] (TCP or Unix) with `read`, `write_all`, `shutdown`, and
//! `futures-io`'s [`AsyncRead`]/[`AsyncWrite`].

use std::cell::Cell;
use std::fmt;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

use futures_io::{AsyncRead, AsyncWrite};

use crate::error::{Error, Result};
use crate::event_loop::Loop;
use crate::handle::Handle;
#[cfg(unix)]
use crate::net::UnixStream;
use crate::net::{ReadEvent, TcpStream, WriteBuf};
use crate::task::call::{Callback, callback, register};
use crate::task::runtime::Shared;

/// Bytes read ahead of the reader before reading pauses (backpressure on the peer).
const READ_HIGH_WATER: usize = 64 * 1024;
/// Bytes queued by `poll_write` before it asks the writer to wait.
const WRITE_HIGH_WATER: usize = 64 * 1024;

mod sealed {
    pub trait Sealed {}
}

/// A stream handle kind an [`AsyncStream`] can wrap: [`TcpStream`] or [`UnixStream`].
pub trait StreamKind: Handle + fmt::Debug + 'static + sealed::Sealed {
    #[doc(hidden)]
    fn start_reading(
        self,
        lp: &mut Loop,
        cb: impl FnMut(&mut Loop, Self, ReadEvent<'_>) + 'static,
    ) -> Result<()>;
    #[doc(hidden)]
    fn stop_reading(self, lp: &mut Loop) -> Result<()>;
    #[doc(hidden)]
    fn write_buf(
        self,
        lp: &mut Loop,
        buf: WriteBuf,
        cb: impl FnOnce(&mut Loop, Result<()>) + 'static,
    ) -> Result<bool>;
    #[doc(hidden)]
    fn shut_down(
        self,
        lp: &mut Loop,
        cb: impl FnOnce(&mut Loop, Result<()>) + 'static,
    ) -> Result<()>;
}

macro_rules! stream_kind {
    ($t:ty) => {
        impl sealed::Sealed for $t {}
        impl StreamKind for $t {
            fn start_reading(
                self,
                lp: &mut Loop,
                cb: impl FnMut(&mut Loop, Self, ReadEvent<'_>) + 'static,
            ) -> Result<()> {
                self.read_start(lp, cb)
            }
            fn stop_reading(self, lp: &mut Loop) -> Result<()> {
                self.read_stop(lp)
            }
            fn write_buf(
                self,
                lp: &mut Loop,
                buf: WriteBuf,
                cb: impl FnOnce(&mut Loop, Result<()>) + 'static,
            ) -> Result<bool> {
                self.write(lp, buf, cb)
            }
            fn shut_down(
                self,
                lp: &mut Loop,
                cb: impl FnOnce(&mut Loop, Result<()>) + 'static,
            ) -> Result<()> {
                self.shutdown(lp, cb)
            }
        }
    };
}
stream_kind!(TcpStream);
#[cfg(unix)]
stream_kind!(UnixStream);

/// What the stream's callbacks and its futures share.
#[derive(Default)]
struct Io {
    /// Read-ahead bytes, from `pos` on.
    buf: Cell<Vec<u8>>,
    pos: Cell<usize>,
    eof: Cell<bool>,
    read_err: Cell<Option<Error>>,
    /// A read callback is installed.
    reading: Cell<bool>,
    read_waker: Cell<Option<Waker>>,
    /// Bytes handed to `write` whose callback has not run.
    in_flight: Cell<usize>,
    write_err: Cell<Option<Error>>,
    write_waker: Cell<Option<Waker>>,
    /// 0: open, 1: shutdown requested, 2: shutdown done.
    shut: Cell<u8>,
    shut_err: Cell<Option<Error>>,
}

impl Io {
    fn buffered(&self) -> usize {
        let b = self.buf.take();
        let n = b.len() - self.pos.get();
        self.buf.set(b);
        n
    }

    fn wake_reader(&self) {
        if let Some(w) = self.read_waker.take() {
            w.wake();
        }
    }

    fn wake_writer(&self) {
        if let Some(w) = self.write_waker.take() {
            w.wake();
        }
    }

    /// Copies buffered bytes into `out`.
    fn copy_out(&self, out: &mut [u8]) -> usize {
        let mut b = self.buf.take();
        let pos = self.pos.get();
        let n = out.len().min(b.len() - pos);
        out[..n].copy_from_slice(&b[pos..pos + n]);
        if pos + n == b.len() {
            b.clear();
            self.pos.set(0);
        } else {
            self.pos.set(pos + n);
        }
        self.buf.set(b);
        n
    }
}

/// A TCP or Unix stream for `async` code: `read`, `write_all`, `shutdown`, and `futures-io`'s
/// [`AsyncRead`]/[`AsyncWrite`] (so the ecosystem's codecs and combinators accept it; tokio's
/// traits through `tokio-util`'s compat layer).
///
/// Reading reads ahead up to 64 KiB and then pauses until the reader catches up. A [`read`]
/// future dropped before it completes stops reading. A write is not undone by dropping its
/// future (its bytes may already be on the wire); close the stream to stop. Dropping the
/// stream closes its handle.
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
/// An [`AsyncStream`] over a Unix-domain socket.
#[cfg(unix)]
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

    /// Installs the read callback (right after the current poll).
    fn start_reading(&self) {
        if self.io.reading.get() || self.io.eof.get() || self.closed {
            return;
        }
        self.io.reading.set(true);
        let (io, stream) = (Rc::clone(&self.io), self.stream);
        self.shared
            .defer(std::panic::Location::caller(), move |lp| {
                if !io.reading.get() {
                    return; // stopped again before it started
                }
                let cb_io = Rc::clone(&io);
                let started = stream.start_reading(lp, move |lp, s, ev| {
                    let io = &cb_io;
                    match ev {
                        ReadEvent::Data(bytes) => {
                            let mut b = io.buf.take();
                            b.extend_from_slice(bytes);
                            let full = b.len() - io.pos.get() >= READ_HIGH_WATER;
                            io.buf.set(b);
                            if full {
                                io.reading.set(false);
                                let _ = s.stop_reading(lp);
                            }
                        }
                        ReadEvent::Eof => {
                            io.eof.set(true);
                            io.reading.set(false);
                        }
                        ReadEvent::Error(e) => {
                            io.read_err.set(Some(e));
                            io.reading.set(false);
                        }
                    }
                    io.wake_reader();
                });
                if let Err(e) = started {
                    io.read_err.set(Some(e));
                    io.reading.set(false);
                    io.wake_reader();
                }
            });
    }

    fn stop_reading(&self) {
        if !self.io.reading.replace(false) || self.closed {
            return;
        }
        let stream = self.stream;
        self.shared
            .defer(std::panic::Location::caller(), move |lp| {
                let _ = stream.stop_reading(lp);
            });
    }

    /// Hands `data` to the stream's write queue right after the current poll; its completion
    /// lowers the in-flight count and records an error for the next write or flush.
    fn queue_write(&self, data: WriteBuf) {
        let n = data.len();
        let io = &self.io;
        io.in_flight.set(io.in_flight.get() + n);
        let (io2, stream) = (Rc::clone(io), self.stream);
        self.shared
            .defer(std::panic::Location::caller(), move |lp| {
                let io3 = Rc::clone(&io2);
                let done = move |r: Result<()>| {
                    io3.in_flight.set(io3.in_flight.get() - n);
                    if let Err(e) = r
                        && !e.is_canceled()
                    {
                        io3.write_err.set(Some(e));
                    }
                    io3.wake_writer();
                };
                let done = Rc::new(Cell::new(Some(done)));
                let d2 = Rc::clone(&done);
                if let Err(e) = stream.write_buf(lp, data, move |_, r| {
                    if let Some(d) = d2.take() {
                        d(r);
                    }
                }) && let Some(d) = done.take()
                {
                    d(Err(e));
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

    /// Waits until at least `n` bytes are read ahead (or EOF) and returns a copy of the first
    /// `n` (fewer at EOF) without consuming them: to sniff a protocol before handing the
    /// stream on (HTTP/2's preface, say).
    pub async fn peek(&mut self, n: usize) -> Result<Vec<u8>> {
        let mut guard = StopOnDrop {
            stream: self,
            done: false,
        };
        let out = std::future::poll_fn(|cx| {
            let s = &*guard.stream;
            let have = s.io.buffered();
            if have >= n || s.io.eof.get() {
                let b = s.io.buf.take();
                let pos = s.io.pos.get();
                let copy = b[pos..pos + have.min(n)].to_vec();
                s.io.buf.set(b);
                return Poll::Ready(Ok(copy));
            }
            if let Some(e) = s.io.read_err.take() {
                return Poll::Ready(Err(e));
            }
            if s.closed {
                return Poll::Ready(Err(Error::Closing));
            }
            register(&s.io.read_waker, cx);
            s.start_reading();
            Poll::Pending
        })
        .await;
        guard.done = true;
        out
    }

    /// Takes the bytes read ahead and not yet read, without waiting (empty if none): what a
    /// server that stops reading still owes its peer.
    pub fn take_read_ahead(&mut self) -> Vec<u8> {
        let mut b = self.io.buf.take();
        let pos = self.io.pos.replace(0);
        b.drain(..pos);
        b
    }

    /// Takes every byte read ahead, at least one (no copy beyond the one from the loop's
    /// buffer); `None` at EOF. Dropped before it completes, it stops reading.
    pub async fn read_chunk(&mut self) -> Result<Option<Vec<u8>>> {
        let mut guard = StopOnDrop {
            stream: self,
            done: false,
        };
        let out = std::future::poll_fn(|cx| {
            let s = &*guard.stream;
            if s.io.buffered() > 0 {
                let mut b = s.io.buf.take();
                let pos = s.io.pos.replace(0);
                if pos > 0 {
                    b.drain(..pos);
                }
                if !s.io.reading.get() && !s.io.eof.get() {
                    s.start_reading();
                }
                return Poll::Ready(Ok(Some(b)));
            }
            if let Some(e) = s.io.read_err.take() {
                return Poll::Ready(Err(e));
            }
            if s.io.eof.get() {
                return Poll::Ready(Ok(None));
            }
            if s.closed {
                return Poll::Ready(Err(Error::Closing));
            }
            register(&s.io.read_waker, cx);
            s.start_reading();
            Poll::Pending
        })
        .await;
        guard.done = true;
        out
    }

    /// Like `poll_read`, handing the buffered bytes to `put` (at most `max`).
    #[cfg_attr(not(feature = "hyper"), allow(dead_code))]
    pub(crate) fn poll_read_with(
        &self,
        cx: &Context<'_>,
        max: usize,
        put: impl FnOnce(&[u8]),
    ) -> Poll<Result<()>> {
        if max == 0 {
            return Poll::Ready(Ok(()));
        }
        let have = self.io.buffered();
        if have > 0 {
            let mut b = self.io.buf.take();
            let pos = self.io.pos.get();
            let n = have.min(max);
            put(&b[pos..pos + n]);
            if pos + n == b.len() {
                b.clear();
                self.io.pos.set(0);
            } else {
                self.io.pos.set(pos + n);
            }
            self.io.buf.set(b);
            return Poll::Ready(Ok(()));
        }
        if let Some(e) = self.io.read_err.take() {
            return Poll::Ready(Err(e));
        }
        if self.io.eof.get() {
            return Poll::Ready(Ok(()));
        }
        if self.closed {
            return Poll::Ready(Err(Error::Closing));
        }
        register(&self.io.read_waker, cx);
        self.start_reading();
        Poll::Pending
    }

    fn poll_read_inner(&self, cx: &Context<'_>, out: &mut [u8]) -> Poll<Result<usize>> {
        if out.is_empty() {
            return Poll::Ready(Ok(0));
        }
        if self.io.buffered() > 0 {
            return Poll::Ready(Ok(self.io.copy_out(out)));
        }
        if let Some(e) = self.io.read_err.take() {
            return Poll::Ready(Err(e));
        }
        if self.io.eof.get() {
            return Poll::Ready(Ok(0));
        }
        if self.closed {
            return Poll::Ready(Err(Error::Closing));
        }
        register(&self.io.read_waker, cx);
        self.start_reading();
        Poll::Pending
    }

    /// Reads into `buf`: the bytes read, `0` at EOF. Dropped before it completes, it stops
    /// reading.
    pub fn read<'a>(&'a mut self, buf: &'a mut [u8]) -> ReadFut<'a, S> {
        ReadFut {
            stream: self,
            buf,
            done: false,
        }
    }

    /// Writes all of `data` and completes when its write callback ran (the bytes reached the
    /// kernel). Errors: the stream's write error, [`Error::Canceled`] if it was closed first.
    #[track_caller]
    pub fn write_all(&mut self, data: impl Into<WriteBuf>) -> Callback<Result<()>> {
        let (stream, data) = (self.stream, data.into());
        callback(move |lp, done| {
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
        callback(move |lp, done| {
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
        self.shared
            .defer(std::panic::Location::caller(), move |lp| {
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

/// Stops reading if a read is given up before it completes.
struct StopOnDrop<'a, S: StreamKind> {
    stream: &'a mut AsyncStream<S>,
    done: bool,
}

impl<S: StreamKind> Drop for StopOnDrop<'_, S> {
    fn drop(&mut self) {
        if !self.done {
            self.stream.io.read_waker.take();
            self.stream.stop_reading();
        }
    }
}

/// The future of [`AsyncStream::send`].
#[must_use = "futures do nothing unless awaited"]
pub struct SendFut<'a, S: StreamKind> {
    stream: &'a mut AsyncStream<S>,
    data: Option<WriteBuf>,
}

impl<S: StreamKind> Future for SendFut<'_, S> {
    type Output = Result<()>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<()>> {
        let this = self.get_mut();
        let s = &*this.stream;
        if let Some(e) = s.io.write_err.take() {
            return Poll::Ready(Err(e));
        }
        if s.closed || s.io.shut.get() != 0 {
            return Poll::Ready(Err(Error::InvalidState("write after close or shutdown")));
        }
        if s.io.in_flight.get() >= WRITE_HIGH_WATER {
            register(&s.io.write_waker, cx);
            return Poll::Pending;
        }
        if let Some(data) = this.data.take() {
            s.queue_write(data);
        }
        Poll::Ready(Ok(()))
    }
}

impl<S: StreamKind> fmt::Debug for SendFut<'_, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SendFut")
    }
}

/// The future of [`AsyncStream::read`].
#[must_use = "futures do nothing unless awaited"]
pub struct ReadFut<'a, S: StreamKind> {
    stream: &'a mut AsyncStream<S>,
    buf: &'a mut [u8],
    done: bool,
}

impl<S: StreamKind> Future for ReadFut<'_, S> {
    type Output = Result<usize>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<usize>> {
        let this = self.get_mut();
        let out = this.stream.poll_read_inner(cx, this.buf);
        if out.is_ready() {
            this.done = true;
        }
        out
    }
}

impl<S: StreamKind> Drop for ReadFut<'_, S> {
    fn drop(&mut self) {
        if !self.done {
            self.stream.io.read_waker.take();
            self.stream.stop_reading();
        }
    }
}

impl<S: StreamKind> fmt::Debug for ReadFut<'_, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReadFut")
            .field("len", &self.buf.len())
            .finish()
    }
}

impl<S: StreamKind> AsyncRead for AsyncStream<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        self.poll_read_inner(cx, buf).map_err(io::Error::from)
    }
}

impl<S: StreamKind> AsyncWrite for AsyncStream<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let io = &self.io;
        if let Some(e) = io.write_err.take() {
            return Poll::Ready(Err(e.into()));
        }
        if self.closed || io.shut.get() != 0 {
            return Poll::Ready(Err(
                Error::InvalidState("write after close or shutdown").into()
            ));
        }
        if io.in_flight.get() >= WRITE_HIGH_WATER {
            register(&io.write_waker, cx);
            return Poll::Pending;
        }
        let n = buf.len();
        self.queue_write(buf.to_vec().into());
        Poll::Ready(Ok(n))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let io = &self.io;
        if let Some(e) = io.write_err.take() {
            return Poll::Ready(Err(e.into()));
        }
        if io.in_flight.get() == 0 {
            return Poll::Ready(Ok(()));
        }
        register(&io.write_waker, cx);
        Poll::Pending
    }

    fn poll_close(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.io.shut.get() == 0 {
            if self.closed {
                return Poll::Ready(Ok(()));
            }
            self.io.shut.set(1);
            let (io, stream) = (Rc::clone(&self.io), self.stream);
            self.shared
                .defer(std::panic::Location::caller(), move |lp| {
                    let io2 = Rc::clone(&io);
                    let r = stream.shut_down(lp, move |_, r| {
                        io2.shut.set(2);
                        if let Err(e) = r {
                            io2.shut_err.set(Some(e));
                        }
                        io2.wake_writer();
                    });
                    if let Err(e) = r {
                        io.shut.set(2);
                        io.shut_err.set(Some(e));
                        io.wake_writer();
                    }
                });
        }
        if self.io.shut.get() == 2 {
            if let Some(e) = self.io.shut_err.take() {
                return Poll::Ready(Err(e.into()));
            }
            return Poll::Ready(Ok(()));
        }
        register(&self.io.write_waker, cx);
        let _ = &mut self;
        Poll::Pending
    }
}
