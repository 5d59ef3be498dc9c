//! The state a stream's callbacks and its futures share: read-ahead, write accounting,
//! shutdown, and the wakers; and the loop-side calls that fill and drain it (arming the read
//! callback, the inline try-send, queueing an unsent tail).

use std::cell::Cell;
use std::rc::Rc;
use std::task::Waker;

use super::{READ_HIGH_WATER, StreamKind};
use crate::error::{Error, Result};
use crate::event_loop::Loop;
use crate::net::{ReadEvent, WriteBuf};

/// What the stream's callbacks and its futures share.
#[derive(Default)]
pub(super) struct Io {
    /// Read-ahead bytes, from `pos` on.
    pub(super) buf: Cell<Vec<u8>>,
    pub(super) pos: Cell<usize>,
    pub(super) eof: Cell<bool>,
    pub(super) read_err: Cell<Option<Error>>,
    /// The read-ahead's callback is installed (the loop reads into `buf`).
    pub(super) reading: Cell<bool>,
    /// The readiness notifier is installed (see `read.rs`): reads happen in the poll.
    pub(super) notify: Cell<bool>,
    /// Readiness mode: the loop's edge count ([`Shared::edges`]) when a read last found the
    /// socket drained (`None`: it may have more). While it is current, a read waits without
    /// asking the loop.
    ///
    /// [`Shared::edges`]: crate::task::shared::Shared::edges
    pub(super) drained_at: Cell<Option<u64>>,
    /// The watcher task the stream core holds for this stream (what the last read that found
    /// it drained recorded there).
    pub(super) watcher: Cell<Option<crate::event_loop::tasks::TaskRef>>,
    /// Readiness-mode reads in a row that found data (see `read::READ_STREAK`).
    pub(super) streak: Cell<u8>,
    pub(super) read_waker: Cell<Option<Waker>>,
    /// Bytes handed to `write` whose callback has not run.
    pub(super) in_flight: Cell<usize>,
    pub(super) write_err: Cell<Option<Error>>,
    pub(super) write_waker: Cell<Option<Waker>>,
    /// 0: open, 1: shutdown requested, 2: shutdown done.
    pub(super) shut: Cell<u8>,
    pub(super) shut_err: Cell<Option<Error>>,
    /// Operations of this stream deferred to after the poll (or to a microtask) and not run
    /// yet: while there are any, later ones are deferred too, so none overtakes another.
    pub(super) deferred: Cell<usize>,
}

/// A deferred operation's place in line: counted in [`Io::deferred`] from its making until
/// it runs (or is dropped unrun, with the loop).
pub(super) struct Turn(Rc<Io>);

impl Turn {
    pub(super) fn new(io: &Rc<Io>) -> Self {
        io.deferred.set(io.deferred.get() + 1);
        Self(Rc::clone(io))
    }

    /// The operation runs now: it leaves the line, and gets the stream's state.
    pub(super) fn done(self) -> Rc<Io> {
        Rc::clone(&self.0)
    }
}

impl Drop for Turn {
    fn drop(&mut self) {
        self.0.deferred.set(self.0.deferred.get().saturating_sub(1));
    }
}

impl Io {
    pub(super) fn buffered(&self) -> usize {
        let b = self.buf.take();
        let n = b.len() - self.pos.get();
        self.buf.set(b);
        n
    }

    pub(super) fn wake_reader(&self) {
        // By reference, the waker kept: the reader's next poll finds it registered already
        // (`register` keeps a waker that will wake the same task), so a read that is waited
        // for round after round costs no clone and no drop of it.
        let w = self.read_waker.take();
        if let Some(w) = &w {
            w.wake_by_ref();
        }
        self.read_waker.set(w);
    }

    pub(super) fn wake_writer(&self) {
        if let Some(w) = self.write_waker.take() {
            w.wake();
        }
    }

    /// A write of `n` bytes completed with `r`: lowers the in-flight count, records an error
    /// for the next write or flush, wakes the writer.
    pub(super) fn write_done(&self, n: usize, r: Result<()>) {
        self.in_flight.set(self.in_flight.get() - n);
        if let Err(e) = r
            && !e.is_canceled()
        {
            self.write_err.set(Some(e));
        }
        self.wake_writer();
    }

    /// Copies buffered bytes into `out`.
    pub(super) fn copy_out(&self, out: &mut [u8]) -> usize {
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

/// Installs the read callback that fills the read-ahead and wakes the reader (never runs
/// inside this call: see `read_start`).
pub(super) fn arm_reading<S: StreamKind>(lp: &mut Loop, stream: S, io: &Rc<Io>) {
    // Replaces the readiness notifier, if there was one.
    io.notify.set(false);
    let cb_io = Rc::clone(io);
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
}

/// Sends what the socket takes of `bytes` now (libuv's `uv_try_write`, no callback), if
/// nothing of this stream is in flight before them: the count sent (0 when the socket is
/// full or earlier bytes are queued). Errors: the socket's (a reset peer), a closing handle.
#[inline]
pub(super) fn try_send<S: StreamKind>(
    lp: &mut Loop,
    stream: S,
    io: &Io,
    bytes: &[u8],
) -> Result<usize> {
    if io.in_flight.get() != 0 || bytes.is_empty() {
        return Ok(0);
    }
    lp.stream_try_send(stream.id(), bytes)
}

/// Queues `rest` behind everything written before it; its completion lowers the in-flight
/// count (and records an error for the next write or flush). Errors: the stream refused it
/// (closing, shut down).
pub(super) fn queue_rest<S: StreamKind>(
    lp: &mut Loop,
    stream: S,
    io: &Rc<Io>,
    rest: WriteBuf,
) -> Result<()> {
    let n = rest.len();
    if n == 0 {
        return Ok(());
    }
    io.in_flight.set(io.in_flight.get() + n);
    let cb_io = Rc::clone(io);
    // Refused, the callback was dropped without running: undo its count.
    if let Err(e) = stream.write_buf(lp, rest, move |_, r| cb_io.write_done(n, r)) {
        io.in_flight.set(io.in_flight.get() - n);
        return Err(e);
    }
    Ok(())
}
