//! The read side of [`AsyncStream`]: readiness-mode reads. Inside its task's poll, a future
//! reads the socket itself, into the caller's buffer (or lent from the loop's), and waits for
//! the readable edge only when the socket has nothing: no callback and no read-ahead per read,
//! as a poll-based runtime reads.
//!
//! The edge reaches the reader in one of two ways. If the reader waits with its own task's
//! waker (not a combinator's), the stream core records that task (`stream_try_read`'s watcher)
//! and, at the edge, polls it straight away when nothing is queued before it
//! (`Loop::poll_reader_task`): the same order as waking it, without the wake. Otherwise a
//! notifier installed once per stream (`Loop::stream_watch_readable`) wakes the registered
//! waker. A read that drained the socket, with no edge reported since ([`Shared::edges`]),
//! knows without asking the loop that there is nothing to read.
//!
//! Outside a poll (no loop lent), or while an earlier operation of the stream is still
//! deferred, reads take the read-ahead path instead (`AsyncStream::wait_readable`): the loop
//! reads into the stream's read-ahead (up to 64 KiB) and wakes the reader.

use std::rc::Rc;
use std::task::{Context, Poll};

use super::futs::{ReadChunkFut, ReadFut, ReadableFut, StopOnDrop};
use super::io::Io;
use super::{AsyncStream, StreamKind};
use crate::error::{Error, Result};
use crate::event_loop::Loop;
use crate::event_loop::tasks::TaskRef;
use crate::net::TryRead;
use crate::task::call::register;
use crate::task::shared::Shared;

/// Reads in a row that found data before the reader yields to the loop (the next read waits
/// for the pending phase): a peer that keeps the socket full cannot starve the loop through a
/// task that reads in a loop (the callback API's bounded batch, for futures).
pub(super) const READ_STREAK: u8 = 32;

impl<S: StreamKind> AsyncStream<S> {
    /// One readiness-mode read, inside the poll: `read` reads (`Loop::stream_try_read` into the
    /// caller's buffer, or `stream_try_read_lent`; or only looks, for `readable`: then `probe`
    /// is set and a look is not counted as a read). `Ready(Ok(Some(_)))`: data;
    /// `Ready(Ok(None))`: EOF (recorded); `Pending`: nothing to read, the notifier installed
    /// and, given a context, the waker registered. `None`: not possible here (outside a poll,
    /// an operation of this stream still deferred): the caller takes the read-ahead path.
    ///
    /// Without a context (`try_read`), the reader is taken to wait with its task's own waker
    /// (`readable` corrects that if not), and the run of reads is not bounded here (nothing
    /// waits: `readable` bounds it).
    pub(super) fn read_now<T>(
        &self,
        cx: Option<&Context<'_>>,
        probe: bool,
        read: impl FnOnce(&mut Loop, S, Option<TaskRef>) -> Result<TryRead<T>>,
    ) -> Option<Poll<Result<Option<T>>>> {
        let (stream, io) = (self.stream, &self.io);
        // Polled by its task with the task's own waker: the loop may poll that task at the
        // readable edge instead of waking it (see `Loop::stream_notify_readable`).
        let polled = self.shared.polled.get();
        let watcher = match cx {
            Some(cx) => polled.filter(|p| p.owns(cx.waker())),
            None => polled,
        }
        .map(|p| p.task);
        let edges = self.shared.edges.get();
        if io.notify.get()
            && io.drained_at.get() == Some(edges)
            && watcher.is_some()
            && io.watcher.get() == watcher
        {
            // Drained by the last read, no edge since, and the loop polls this task at the
            // next one: nothing to ask the loop. (Waiting, the reader yields: its streak ends.)
            io.streak.set(0);
            if let Some(cx) = cx {
                register(&io.read_waker, cx);
            }
            return Some(Poll::Pending);
        }
        // What was read goes straight into `data`, and the closure returns only the outcome's
        // kind: a read's whole outcome returned through `inline` was copied piecewise and read
        // back whole, a store-forwarding stall on every read.
        let mut data = None;
        let got = self.inline(|lp| -> Result<TryRead<()>> {
            if io.reading.get() {
                // The read-ahead was armed (a poll outside a task, say) and is used up: back
                // to reading here.
                io.reading.set(false);
                let _ = stream.stop_reading(lp);
            }
            let streak = io.streak.get();
            if streak >= READ_STREAK && cx.is_some() {
                // Yield: the pending phase reports the stream readable again.
                io.streak.set(0);
                io.drained_at.set(None);
                watch(lp, stream, io, &self.shared)?;
                lp.stream_set_watcher(stream.id(), watcher);
                io.watcher.set(watcher);
                lp.stream_queue_read(stream.id());
                return Ok(TryRead::NotReady);
            }
            match read(lp, stream, watcher) {
                Ok(TryRead::NotReady) => {
                    io.streak.set(0);
                    io.watcher.set(watcher);
                    io.drained_at.set(Some(edges));
                    watch(lp, stream, io, &self.shared)?;
                    Ok(TryRead::NotReady)
                }
                Ok(TryRead::Data(t, more)) => {
                    if !probe {
                        io.streak.set(streak.saturating_add(1));
                        io.drained_at.set((!more).then_some(edges));
                    }
                    data = Some(t);
                    Ok(TryRead::Data((), more))
                }
                Ok(TryRead::Eof) => {
                    // EOF stops reading (the notifier is gone with it).
                    io.notify.set(false);
                    Ok(TryRead::Eof)
                }
                Err(e) => {
                    io.notify.set(false);
                    Err(e)
                }
            }
        })?;
        Some(match got {
            Ok(TryRead::Data((), _)) => Poll::Ready(Ok(data)),
            Ok(TryRead::Eof) => {
                io.eof.set(true);
                Poll::Ready(Ok(None))
            }
            Ok(TryRead::NotReady) => {
                if let Some(cx) = cx {
                    register(&io.read_waker, cx);
                }
                Poll::Pending
            }
            Err(e) => Poll::Ready(Err(e)),
        })
    }

    /// Completes when a [`try_read`](Self::try_read) may find something: bytes, EOF or an
    /// error (it may still find nothing: then wait again). Dropped before it completes, it
    /// stops reading.
    pub fn readable(&mut self) -> ReadableFut<'_, S> {
        ReadableFut {
            read: StopOnDrop::new(self),
        }
    }

    /// [`readable`](Self::readable) as a poll, for a hand-written future (tokio's
    /// `poll_read_ready`): `Ready(Ok(()))` when a [`try_read`](Self::try_read) may find
    /// something, `Pending` with `cx`'s waker registered to be woken at the next readable edge.
    /// Unlike a [`ReadableFut`] dropped before it completes, nothing undoes a `Pending` here:
    /// the stream keeps watching for the edge (until it is dropped, reaches EOF, or a dropped
    /// read future stops reading), so the waker registered last may get a wake after the
    /// caller moved on, which its task must take as spurious. Errors as `readable`'s.
    ///
    /// The echo example polls it beside its stop flag in one `poll_fn`, instead of racing two
    /// futures on every read.
    pub fn poll_readable(&mut self, cx: &mut Context<'_>) -> Poll<Result<()>> {
        let io = &self.io;
        if io.buffered() > 0 || io.eof.get() {
            return Poll::Ready(Ok(()));
        }
        if let Some(e) = io.read_err.take() {
            // Left for `try_read` to return.
            io.read_err.set(Some(e));
            return Poll::Ready(Ok(()));
        }
        if self.closed {
            return Poll::Ready(Err(Error::Closing));
        }
        // Reported to this task before: nothing to ask the loop. Drained with no edge since:
        // wait. Else the socket may have something (an edge came, or the last read did not
        // drain it): `try_read` will tell, and finding nothing, records the drain.
        let watcher = (self.shared.polled.get())
            .filter(|p| p.owns(cx.waker()))
            .map(|p| p.task);
        if io.notify.get() && watcher.is_some() && io.watcher.get() == watcher {
            if io.drained_at.get() == Some(self.shared.edges.get()) {
                io.streak.set(0);
                register(&io.read_waker, cx);
                return Poll::Pending;
            }
            if io.streak.get() < READ_STREAK {
                return Poll::Ready(Ok(()));
            }
        }
        let look = |lp: &mut Loop, st: S, w| {
            Ok(match lp.stream_readable(st.id(), w)? {
                true => TryRead::Data((), true),
                false => TryRead::NotReady,
            })
        };
        match self.read_now(Some(cx), true, look) {
            Some(p) => p.map_ok(|_| ()),
            None => self.wait_readable(cx),
        }
    }

    /// Reads what the socket has now into `buf`, without waiting: `Ok(Some(n))`, the bytes
    /// read (`Some(0)`: EOF, or an empty `buf`); `Ok(None)`: nothing now, await
    /// [`readable`](Self::readable). Inside its task's poll it reads the socket itself; from
    /// anywhere else it finds only what `readable` had the loop read ahead. Errors: the
    /// socket's (a reset peer), [`Error::Closing`].
    ///
    /// With [`readable`](Self::readable) and [`try_send`](Self::try_send), a server reads into
    /// one buffer that every connection shares (tokio's `readable`/`try_read` idiom): no
    /// buffer per waiting connection.
    pub fn try_read(&mut self, buf: &mut [u8]) -> Result<Option<usize>> {
        if buf.is_empty() {
            return Ok(Some(0));
        }
        if self.io.buffered() > 0 {
            return Ok(Some(self.io.copy_out(buf)));
        }
        if let Some(e) = self.io.read_err.take() {
            return Err(e);
        }
        if self.io.eof.get() {
            return Ok(Some(0));
        }
        if self.closed {
            return Err(Error::Closing);
        }
        let direct = |lp: &mut Loop, st: S, w| lp.stream_try_read(st.id(), buf, w);
        match self.read_now(None, false, direct) {
            Some(Poll::Ready(Ok(n))) => Ok(Some(n.unwrap_or(0))),
            Some(Poll::Ready(Err(e))) => Err(e),
            Some(Poll::Pending) | None => Ok(None),
        }
    }
}

/// Installs the readiness notifier, once per stream: on each readable edge it wakes the
/// registered reader (kept registered: a reader that waits round after round costs no clone).
#[inline]
fn watch<S: StreamKind>(lp: &mut Loop, stream: S, io: &Rc<Io>, shared: &Rc<Shared>) -> Result<()> {
    if io.notify.get() {
        return Ok(());
    }
    install(lp, stream, io, shared)
}

#[inline(never)]
fn install<S: StreamKind>(
    lp: &mut Loop,
    stream: S,
    io: &Rc<Io>,
    shared: &Rc<Shared>,
) -> Result<()> {
    let cb_io = Rc::clone(io);
    let cb_shared = Rc::clone(shared);
    lp.stream_watch_readable(
        stream.id(),
        Box::new(move |_, _, _| {
            // The loop had its turn: the reader may read a full streak again.
            cb_io.streak.set(0);
            cb_shared.edges.set(cb_shared.edges.get().wrapping_add(1));
            cb_io.wake_reader();
        }),
        std::panic::Location::caller(),
    )?;
    io.notify.set(true);
    Ok(())
}

/// The read side of [`AsyncStream`]: the reading futures and what they share.
impl<S: StreamKind> AsyncStream<S> {
    /// Waits until at least `n` bytes are read ahead (or EOF) and returns a copy of the first
    /// `n` (fewer at EOF) without consuming them: to sniff a protocol before handing the
    /// stream on (HTTP/2's preface, say).
    pub async fn peek(&mut self, n: usize) -> Result<Vec<u8>> {
        let mut guard = StopOnDrop::new(self);
        let out = std::future::poll_fn(|cx| {
            let s = &*guard.stream;
            loop {
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
                // Appends what the socket has to the read-ahead, then looks again.
                let io = &s.io;
                let append = |lp: &mut Loop, st: S, w| {
                    lp.stream_try_read_lent(st.id(), usize::MAX, w, |bytes| {
                        let mut b = io.buf.take();
                        b.extend_from_slice(bytes);
                        io.buf.set(b);
                    })
                };
                match s.read_now(Some(cx), false, append) {
                    Some(Poll::Ready(Ok(_))) => {}
                    Some(Poll::Ready(Err(e))) => return Poll::Ready(Err(e)),
                    Some(Poll::Pending) => return Poll::Pending,
                    None => return s.wait_readable(cx),
                }
            }
        })
        .await;
        guard.done = true;
        out
    }

    /// Takes the bytes read ahead and not yet read, without waiting (empty if none: reads
    /// inside a poll read nothing ahead; [`peek`](Self::peek) and reads polled outside a task
    /// do): what a server that stops reading still owes its peer.
    pub fn take_read_ahead(&mut self) -> Vec<u8> {
        let mut b = self.io.buf.take();
        let pos = self.io.pos.replace(0);
        b.drain(..pos);
        b
    }

    /// The bytes the socket has (up to 64 KiB, at least one; what was read ahead first, if
    /// anything was), in a vector of their own: one copy from the loop's buffer, into a vector
    /// the loop reuses once a chunk sent whole with [`send`](Self::send) gives it back (an echo,
    /// a proxy). `None` at EOF. Dropped before it completes, it stops reading.
    pub fn read_chunk(&mut self) -> ReadChunkFut<'_, S> {
        ReadChunkFut {
            read: StopOnDrop::new(self),
        }
    }

    /// [`read_chunk`](Self::read_chunk)'s poll.
    pub(super) fn poll_read_chunk(&self, cx: &Context<'_>) -> Poll<Result<Option<Vec<u8>>>> {
        if self.io.buffered() > 0 {
            let mut b = self.io.buf.take();
            let pos = self.io.pos.replace(0);
            if pos > 0 {
                b.drain(..pos);
            }
            return Poll::Ready(Ok(Some(b)));
        }
        if let Some(e) = self.io.read_err.take() {
            return Poll::Ready(Err(e));
        }
        if self.io.eof.get() {
            return Poll::Ready(Ok(None));
        }
        if self.closed {
            return Poll::Ready(Err(Error::Closing));
        }
        let lent = |lp: &mut Loop, st: S, w| {
            lp.stream_try_read_lent(st.id(), usize::MAX, w, |bytes| {
                let mut v = self.shared.take_chunk();
                v.extend_from_slice(bytes);
                v
            })
        };
        self.read_now(Some(cx), false, lent)
            .unwrap_or_else(|| self.wait_readable(cx))
    }

    /// Nothing read ahead: arms reading (inline inside a poll, where a refusal is answered at
    /// once) and waits for the read callback's wake. Never `Ready(Ok)`.
    pub(super) fn wait_readable<T>(&self, cx: &Context<'_>) -> Poll<Result<T>> {
        register(&self.io.read_waker, cx);
        self.start_reading();
        if let Some(e) = self.io.read_err.take() {
            self.io.read_waker.take();
            return Poll::Ready(Err(e));
        }
        Poll::Pending
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
        let lent = |lp: &mut Loop, st: S, w| lp.stream_try_read_lent(st.id(), max, w, put);
        match self.read_now(Some(cx), false, lent) {
            Some(p) => p.map_ok(|_| ()),
            None => self.wait_readable(cx),
        }
    }

    pub(super) fn poll_read_inner(&self, cx: &Context<'_>, out: &mut [u8]) -> Poll<Result<usize>> {
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
        let direct = |lp: &mut Loop, st: S, w| lp.stream_try_read(st.id(), out, w);
        match self.read_now(Some(cx), false, direct) {
            Some(p) => p.map_ok(|n| n.unwrap_or(0)),
            None => self.wait_readable(cx),
        }
    }

    /// Reads into `buf`: the bytes read, `0` at EOF. Dropped before it completes, it stops
    /// reading.
    pub fn read<'a>(&'a mut self, buf: &'a mut [u8]) -> ReadFut<'a, S> {
        ReadFut {
            read: StopOnDrop::new(self),
            buf,
        }
    }
}
