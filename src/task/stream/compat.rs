//! `futures-io`'s [`AsyncRead`] and [`AsyncWrite`] for [`AsyncStream`].

use std::io;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};

use futures_io::{AsyncRead, AsyncWrite};

use super::{AsyncStream, StreamKind, WRITE_HIGH_WATER};
use crate::error::Error;
use crate::task::call::register;

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
        // Inside a poll the socket takes the bytes at once (only an unsent tail is copied and
        // queued); elsewhere they are copied and queued right after.
        self.write_slice(buf)?;
        Poll::Ready(Ok(buf.len()))
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
            let stream = self.stream;
            // After the poll, in line with the stream's other deferred operations.
            self.defer(move |lp, io| {
                let io2 = Rc::clone(io);
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
