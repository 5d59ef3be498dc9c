//! The stream operations [`crate::net::TcpStream`] and [`crate::net::UnixStream`] share, written once
//! as a macro over the shared core, and [`ReadEvent`].

use crate::error::Error;

/// What a read callback receives.
#[derive(Debug)]
pub enum ReadEvent<'a> {
    /// Bytes read, lent from the loop's read buffer for the duration of the call: copy what
    /// you keep.
    Data(&'a [u8]),
    /// The peer closed its write side. Reading stops (the handle stays open: you may still
    /// write, then close it); reading again reports EOF again.
    Eof,
    /// The read failed (a reset peer: [`std::io::ErrorKind::ConnectionReset`]). Reading stops.
    Error(Error),
}

/// Declares the shared stream operations on a typed stream id.
macro_rules! stream_ops {
    ($name:ident) => {
        impl $name {
            /// Starts reading: `cb` gets each chunk read, then [`ReadEvent::Eof`](crate::net::ReadEvent::Eof) or
            /// [`ReadEvent::Error`](crate::net::ReadEvent::Error) (after which reading stops). Up to 32 reads run per
            /// wake-up; the rest continue next iteration. Calling it while reading replaces the
            /// callback. If the stream is already readable the first read runs in the pending
            /// phase, never inside this call.
            #[track_caller]
            pub fn read_start(
                self,
                lp: &mut $crate::Loop,
                mut cb: impl FnMut(&mut $crate::Loop, Self, $crate::net::ReadEvent<'_>) + 'static,
            ) -> $crate::Result<()> {
                lp.stream_read_start(
                    self.0,
                    Box::new(move |lp, id, ev| cb(lp, Self(id), ev)),
                    std::panic::Location::caller(),
                )
            }

            /// Stops reading (drops the read callback). Harmless when not reading.
            pub fn read_stop(self, lp: &mut $crate::Loop) -> $crate::Result<()> {
                lp.stream_read_stop(self.0)
            }

            /// Writes `buf` (owned or `'static` bytes, never copied). The bytes go out at once
            /// if the socket takes them; the rest waits in an in-order queue flushed on the
            /// writable edge. `cb` runs exactly once, in the pending phase (or the close phase,
            /// with [`Error::Canceled`](crate::Error::Canceled), if the stream is closed
            /// first) — never inside this call.
            ///
            /// Returns `Ok(false)` when the queue is at or above the high-water mark (as
            /// Node's `write()`): stop writing until [`on_drain`](Self::on_drain) fires.
            /// Errors (the callback is then dropped, never called): a stale or closing handle,
            /// or [`Error::InvalidState`](crate::Error::InvalidState) after `shutdown`.
            #[track_caller]
            pub fn write(
                self,
                lp: &mut $crate::Loop,
                buf: impl Into<$crate::net::WriteBuf>,
                cb: impl FnOnce(&mut $crate::Loop, $crate::Result<()>) + 'static,
            ) -> $crate::Result<bool> {
                let req = $crate::net::stream::Request {
                    cb: Box::new(cb),
                    site: std::panic::Location::caller(),
                };
                lp.stream_write_one(self.0, buf.into(), req)
            }

            /// Writes several buffers as one request (one `sendmsg` when the socket takes them
            /// all); `cb` runs once when the last byte is written. Otherwise as
            /// [`write`](Self::write).
            #[track_caller]
            pub fn write_vectored<B: Into<$crate::net::WriteBuf>>(
                self,
                lp: &mut $crate::Loop,
                bufs: impl IntoIterator<Item = B>,
                cb: impl FnOnce(&mut $crate::Loop, $crate::Result<()>) + 'static,
            ) -> $crate::Result<bool> {
                let req = $crate::net::stream::Request {
                    cb: Box::new(cb),
                    site: std::panic::Location::caller(),
                };
                lp.stream_write(self.0, bufs.into_iter().map(Into::into), req)
            }

            /// Writes `len` bytes of `file` from `offset`, in order with the writes around it,
            /// without reading the file into memory: on Linux, FreeBSD and macOS the kernel's
            /// `sendfile` moves the bytes from the page cache to the socket as the socket
            /// drains (at most 2 MiB per loop iteration and stream, so one fast download does
            /// not hold up the other streams). Elsewhere (Windows), or when the kernel refuses
            /// this file or descriptor (macOS and a Unix socket, a file system without the
            /// support), the bytes are read and sent 64 KiB at a time instead. The file's own
            /// offset is not used or moved; the file is closed when the last `Arc` to it drops
            /// (the stream's, once this write completes, fails or is canceled), so one open
            /// file can be sent to several streams at once.
            ///
            /// The reads happen on the loop thread: a file not in the page cache stalls the
            /// loop while the disk is read (as nginx's `sendfile` does). Read cold files on the
            /// pool ([`crate::fs`]) and [`write`](Self::write) the bytes instead.
            ///
            /// With `sendfile` the bytes leave the page cache by reference, as the socket
            /// takes them: a file changed while it is being sent sends what it holds by then,
            /// and a tail cut off by a truncation may already be in the socket (as whatever
            /// those pages held) before the write fails.
            ///
            /// The unsent bytes count in [`write_queue_size`](Self::write_queue_size) and
            /// against the high-water mark (the return value is as for
            /// [`write`](Self::write)). A file that ends before `offset + len` fails this write
            /// (and every write queued after it, as any send error does) with an
            /// [`Error::Io`](crate::Error::Io) of kind
            /// [`UnexpectedEof`](std::io::ErrorKind::UnexpectedEof) once what it had is sent:
            /// the peer got a short range, so close the stream (a write made after the failure
            /// would follow the hole). `cb` and errors as for
            /// [`write`](Self::write).
            #[track_caller]
            pub fn write_file(
                self,
                lp: &mut $crate::Loop,
                file: impl Into<std::sync::Arc<std::fs::File>>,
                offset: u64,
                len: u64,
                cb: impl FnOnce(&mut $crate::Loop, $crate::Result<()>) + 'static,
            ) -> $crate::Result<bool> {
                let req = $crate::net::stream::Request {
                    cb: Box::new(cb),
                    site: std::panic::Location::caller(),
                };
                let segment =
                    $crate::net::stream::sendfile::FileSegment::new(file.into(), offset, len);
                lp.stream_write_file(self.0, segment, req)
            }

            /// Sends as much of `bufs` as the socket takes at once, without queueing anything
            /// and without a callback (libuv's `uv_try_write`): returns the number of bytes
            /// sent, which may be fewer than given. Bytes stay the caller's, so a reused buffer
            /// costs no copy; queue the unsent rest with [`write`](Self::write).
            ///
            /// Fails with an [`Error::Io`](crate::Error::Io) of kind
            /// [`WouldBlock`](std::io::ErrorKind::WouldBlock) when nothing can be sent now:
            /// earlier writes are still queued (sending would reorder the stream), the socket's
            /// buffer is full, or a connect is in progress. Other errors are the socket's
            /// (a reset peer), [`Error::InvalidState`](crate::Error::InvalidState) after
            /// `shutdown`, or a stale or closing handle.
            #[inline]
            pub fn try_write(
                self,
                lp: &mut $crate::Loop,
                bufs: &[std::io::IoSlice<'_>],
            ) -> $crate::Result<usize> {
                lp.stream_try_write(self.0, bufs)
            }

            /// Bytes queued and not yet handed to the kernel.
            pub fn write_queue_size(self, lp: &mut $crate::Loop) -> $crate::Result<usize> {
                Ok($crate::net::stream::stream_mut(lp.handles_mut(), self.0)?
                    .queue
                    .bytes())
            }

            /// Sets the queue size at which [`write`](Self::write) returns `false`
            /// (default 64 KiB).
            pub fn set_high_water_mark(
                self,
                lp: &mut $crate::Loop,
                bytes: usize,
            ) -> $crate::Result<()> {
                $crate::net::stream::stream_open(lp.handles_mut(), self.0)?
                    .extra_mut()
                    .high_water = bytes;
                Ok(())
            }

            /// Sets the callback run (in the pending phase) when the write queue empties after
            /// a [`write`](Self::write) returned `false`.
            #[track_caller]
            pub fn on_drain(
                self,
                lp: &mut $crate::Loop,
                mut cb: impl FnMut(&mut $crate::Loop, Self) + 'static,
            ) -> $crate::Result<()> {
                lp.stream_on_drain(
                    self.0,
                    Box::new(move |lp, id| cb(lp, Self(id))),
                    std::panic::Location::caller(),
                )
            }

            /// Half-closes the stream (shuts its write side) once every queued write is
            /// flushed; `cb` runs after every earlier write callback. Later writes, and a second
            /// `shutdown`, are [`Error::InvalidState`](crate::Error::InvalidState). Reading
            /// goes on until the peer closes too.
            #[track_caller]
            pub fn shutdown(
                self,
                lp: &mut $crate::Loop,
                cb: impl FnOnce(&mut $crate::Loop, $crate::Result<()>) + 'static,
            ) -> $crate::Result<()> {
                let req = $crate::net::stream::Request {
                    cb: Box::new(cb),
                    site: std::panic::Location::caller(),
                };
                lp.stream_shutdown(self.0, req)
            }

            /// Writes `buf` (may be empty), then closes the stream once every queued byte has
            /// left: the write side is shut (the peer reads everything, then EOF) and the
            /// handle closed. `cb` runs after the last byte left, in the close phase, with the
            /// shutdown's result (Node's `socket.end(data)`). The read callback is dropped at
            /// once; after the FIN the stream reads on, discarding, until the peer's own FIN
            /// (2 s at most), so bytes the peer still sends cannot turn the close into a reset
            /// that loses the end of what was written. Errors as [`write`](Self::write) and
            /// [`shutdown`](Self::shutdown).
            #[track_caller]
            pub fn end(
                self,
                lp: &mut $crate::Loop,
                buf: impl Into<$crate::net::WriteBuf>,
                cb: impl FnOnce(&mut $crate::Loop, $crate::Result<()>) + 'static,
            ) -> $crate::Result<()> {
                let site = std::panic::Location::caller();
                lp.stream_read_stop(self.0)?;
                lp.stream_end(self.0, buf.into(), Box::new(cb), site)
            }

            /// Calls `cb` once when the stream has seen no activity (no data read, no write
            /// completed) for `timeout` (Node's `socket.setTimeout`). Activity re-arms it,
            /// after it fired too; closing the stream clears it, so it never fires after
            /// `close`. It does not keep the loop alive. A zero `timeout`, or calling this
            /// again, removes the earlier one. The stream stays open: close it in `cb` if
            /// that is what the timeout means. The timeout is an unref'd
            /// [`Timer`](crate::Timer) of the stream's, listed by
            /// [`active_handles`](crate::Loop::active_handles).
            #[track_caller]
            pub fn set_idle_timeout(
                self,
                lp: &mut $crate::Loop,
                timeout: std::time::Duration,
                mut cb: impl FnMut(&mut $crate::Loop, Self) + 'static,
            ) -> $crate::Result<()> {
                lp.stream_set_idle_timeout(
                    self.0,
                    timeout,
                    Box::new(move |lp, id| cb(lp, Self(id))),
                    std::panic::Location::caller(),
                )
            }

            /// Sets the kernel send buffer size (`SO_SNDBUF`).
            pub fn set_send_buffer_size(
                self,
                lp: &mut $crate::Loop,
                bytes: usize,
            ) -> $crate::Result<()> {
                lp.stream_socket(self.0)?
                    .sock_ref()?
                    .set_send_buffer_size(bytes)?;
                Ok(())
            }

            /// Sets the kernel receive buffer size (`SO_RCVBUF`).
            pub fn set_recv_buffer_size(
                self,
                lp: &mut $crate::Loop,
                bytes: usize,
            ) -> $crate::Result<()> {
                lp.stream_socket(self.0)?
                    .sock_ref()?
                    .set_recv_buffer_size(bytes)?;
                Ok(())
            }
        }
    };
}
pub(crate) use stream_ops;
