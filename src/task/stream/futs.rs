//! The named futures of [`AsyncStream`]: [`SendFut`] and [`ReadFut`], and the guard that stops
//! reading when a read is given up.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use super::{AsyncStream, StreamKind, WRITE_HIGH_WATER};
use crate::error::{Error, Result};
use crate::net::WriteBuf;
use crate::task::call::register;

/// Stops reading if a read is given up before it completes: every reading future holds one.
pub(super) struct StopOnDrop<'a, S: StreamKind> {
    pub(super) stream: &'a mut AsyncStream<S>,
    pub(super) done: bool,
}

impl<'a, S: StreamKind> StopOnDrop<'a, S> {
    pub(super) fn new(stream: &'a mut AsyncStream<S>) -> Self {
        Self {
            stream,
            done: false,
        }
    }

    /// Polls the read `f`; once it is ready, the read is complete and the drop stops nothing.
    #[inline]
    fn poll<T>(&mut self, f: impl FnOnce(&mut AsyncStream<S>) -> Poll<T>) -> Poll<T> {
        let out = f(self.stream);
        if out.is_ready() {
            self.done = true;
        }
        out
    }
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
    pub(super) stream: &'a mut AsyncStream<S>,
    pub(super) data: Option<WriteBuf>,
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
        match this.data.take() {
            Some(data) => Poll::Ready(s.queue_write(data)),
            None => Poll::Ready(Ok(())),
        }
    }
}

impl<S: StreamKind> fmt::Debug for SendFut<'_, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SendFut")
    }
}

/// The future of [`AsyncStream::read_chunk`].
#[must_use = "futures do nothing unless awaited"]
pub struct ReadChunkFut<'a, S: StreamKind> {
    pub(super) read: StopOnDrop<'a, S>,
}

impl<S: StreamKind> Future for ReadChunkFut<'_, S> {
    type Output = Result<Option<Vec<u8>>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.get_mut().read.poll(|s| s.poll_read_chunk(cx))
    }
}

impl<S: StreamKind> fmt::Debug for ReadChunkFut<'_, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ReadChunkFut")
    }
}

/// The future of [`AsyncStream::readable`].
#[must_use = "futures do nothing unless awaited"]
pub struct ReadableFut<'a, S: StreamKind> {
    pub(super) read: StopOnDrop<'a, S>,
}

impl<S: StreamKind> Future for ReadableFut<'_, S> {
    type Output = Result<()>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<()>> {
        self.get_mut().read.poll(|s| s.poll_readable(cx))
    }
}

impl<S: StreamKind> fmt::Debug for ReadableFut<'_, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ReadableFut")
    }
}

/// The future of [`AsyncStream::read`].
#[must_use = "futures do nothing unless awaited"]
pub struct ReadFut<'a, S: StreamKind> {
    pub(super) read: StopOnDrop<'a, S>,
    pub(super) buf: &'a mut [u8],
}

impl<S: StreamKind> Future for ReadFut<'_, S> {
    type Output = Result<usize>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<usize>> {
        let this = self.get_mut();
        let buf = &mut *this.buf;
        this.read.poll(|s| s.poll_read_inner(cx, buf))
    }
}

impl<S: StreamKind> fmt::Debug for ReadFut<'_, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReadFut")
            .field("len", &self.buf.len())
            .finish()
    }
}
