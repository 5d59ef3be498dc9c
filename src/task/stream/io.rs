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
    /// A read callback is installed.
    pub(super) reading: Cell<bool>,
    pub(super) read_waker: Cell<Option<Waker>>,
    /// Bytes handed to `write` whose callback has not run.
    pub(super) in_flight: Cell<usize>,
    pub(super) write_err: Cell<Option<Error>>,
    pub(super) write_waker: Cell<Option<Waker>>,
    /// 0: open, 1: shutdown requested, 2: shutdown done.
    pub(super) shut: Cell<u8>,
    pub(super) shut_err: Cell<Option<Error>>,
    /// An emptied buffer kept for the next read-ahead: the vector of a chunk handed out by
    /// `read_chunk` and sent back whole (an echo, a proxy) saves an allocation per chunk.
    pub(super) spare: Cell<Vec<u8>>,
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

/// The largest vector kept as [`Io::spare`].
const SPARE_MAX: usize = 128 * 1024;

impl Io {
    /// Keeps `data`'s vector (sent, no longer needed) for the next read-ahead, if there is
    /// none kept and it is not too big.
    pub(super) fn recycle(&self, data: crate::net::WriteBuf) {
        if let Some(mut v) = data.into_vec()
            && v.capacity() <= SPARE_MAX
        {
            let old = self.spare.take();
            if old.capacity() == 0 {
                v.clear();
                self.spare.set(v);
            } else {
                self.spare.set(old);
            }
        }
    }

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
    let cb_io = Rc::clone(io);
    let started = stream.start_reading(lp, move |lp, s, ev| {
        let io = &cb_io;
        match ev {
            ReadEvent::Data(bytes) => {
                let mut b = io.buf.take();
                if b.capacity() == 0 {
                    b = io.spare.take();
                }
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
pub(super) fn try_send<S: StreamKind>(
    lp: &mut Loop,
    stream: S,
    io: &Io,
    bytes: &[u8],
) -> Result<usize> {
    if io.in_flight.get() != 0 || bytes.is_empty() {
        return Ok(0);
    }
    match stream.try_write_now(lp, bytes) {
        Ok(n) => Ok(n),
        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => Ok(0),
        Err(e) => Err(e),
    }
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
