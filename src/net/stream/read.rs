//! The read side: `read_start`/`read_stop`, bounded batches of reads lent from the loop's
//! buffer, and the continuation through the pending phase.

use std::io;

use super::api::ReadEvent;
use super::{ReadCb, StreamEvent, stream_mut, stream_open};
use crate::error::{Error, Result};
use crate::event_loop::{CallbackKind, HandleData, HandleEvent, IoCx, Loop, Phase};
use crate::handle::{HandleId, Site};
use crate::net::{IO_BATCH, READ_BUFFER_SIZE, StreamOp};

impl Loop {
    /// `read_start`: reads begin at the next readable edge, or in the pending phase if the
    /// stream is already known to be readable (never inside this call).
    pub(crate) fn stream_read_start(&mut self, id: HandleId, cb: ReadCb, site: Site) -> Result<()> {
        let s = stream_open(self.handles_mut(), id)?;
        s.read_cb = Some(cb);
        s.read_site = site;
        s.reading = true;
        let schedule = s.readable && !s.connecting();
        self.handles_mut().set_active(id, true);
        if schedule {
            self.stream_queue_read(id);
        }
        Ok(())
    }

    pub(crate) fn stream_read_stop(&mut self, id: HandleId) -> Result<()> {
        let s = stream_mut(self.handles_mut(), id)?;
        s.reading = false;
        s.read_cb = None;
        self.handles_mut().set_active(id, false);
        Ok(())
    }

    /// Puts a read continuation on the pending queue (once).
    pub(super) fn stream_queue_read(&mut self, id: HandleId) {
        let Ok(s) = stream_mut(self.handles_mut(), id) else {
            return;
        };
        if s.read_queued {
            return;
        }
        s.read_queued = true;
        self.push_pending(id, HandleEvent::Stream(StreamEvent::Read));
    }

    /// A read continuation from the pending queue.
    pub(crate) fn stream_read_pending(&mut self, id: HandleId) {
        if let Ok(s) = stream_mut(self.handles_mut(), id) {
            s.read_queued = false;
            self.stream_read_batch(id, Phase::Pending);
        }
    }

    /// Reads up to [`IO_BATCH`] times into the loop's buffer, lending each chunk to the read
    /// callback; if the stream is still readable after that, continues next iteration (an
    /// edge-triggered poller will not report it again).
    pub(super) fn stream_read_batch(&mut self, id: HandleId, phase: Phase) {
        let mut buf = std::mem::take(&mut self.net_mut().read_buf);
        if buf.len() != READ_BUFFER_SIZE {
            // Once per loop: the buffer is put back at its full size after every batch.
            size_read_buf(&mut buf);
        }
        let mut budget_left = true;
        for round in 0..IO_BATCH {
            budget_left = round + 1 < IO_BATCH;
            let mut drained = false;
            let IoCx {
                handles,
                counters,
                net,
                ..
            } = self.io_cx();
            let Ok(entry) = handles.open_mut(id) else {
                break;
            };
            let HandleData::Stream(s) = &mut entry.data else {
                break;
            };
            if !s.reading || !s.readable || s.connecting() {
                break;
            }
            let Some(socket) = &s.socket else { break };
            let ev = match socket.read(&mut buf) {
                Ok(0) => ReadEvent::Eof,
                Ok(n) => {
                    counters.bytes_read += n as u64;
                    if crate::sys::SHORT_READ_DRAINS && n < buf.len() && !s.read_closed {
                        // A short read drained the socket; new data brings a new edge.
                        s.readable = false;
                        drained = true;
                    }
                    ReadEvent::Data(&buf[..n])
                }
                // One `kind()` per error (a function call, not a field read).
                Err(e) => match e.kind() {
                    io::ErrorKind::WouldBlock => {
                        s.readable = false;
                        break;
                    }
                    io::ErrorKind::Interrupted => continue,
                    kind => {
                        let name = s.error_name(StreamOp::Read, kind, net);
                        ReadEvent::Error(Error::named_by(e, name))
                    }
                },
            };
            let stops = !matches!(ev, ReadEvent::Data(_));
            if stops {
                // EOF and errors stop reading (libuv); reading again after EOF reports it again.
                s.reading = false;
            }
            let Some(cb) = s.read_cb.take() else { break };
            let site = s.read_site;
            let idle = s.extra.as_ref().and_then(|e| e.idle);
            if stops {
                self.handles_mut().set_active(id, false);
            }
            if let Some(timer) = idle
                && !stops
            {
                self.stream_idle_touch(timer);
            }
            self.invoke_restoring(
                phase,
                CallbackKind::Read,
                site,
                cb,
                move |lp, cb| cb(lp, id, ev),
                move |lp, cb| {
                    if let Ok(s) = stream_mut(lp.handles_mut(), id)
                        && s.reading
                        && s.read_cb.is_none()
                    {
                        s.read_cb = Some(cb);
                    }
                },
            );
            if drained {
                // Only an event sets `readable` again: nothing more to read this time.
                break;
            }
        }
        self.net_mut().read_buf = buf;
        if !budget_left
            && let Ok(s) = stream_mut(self.handles_mut(), id)
            && s.reading
            && s.readable
        {
            self.stream_queue_read(id);
        }
    }
}

/// Makes the loop's read buffer [`READ_BUFFER_SIZE`] bytes long (zeroed: it is lent out as a
/// `&mut [u8]`). Out of line: the first batch of a loop is the only one that needs it.
#[cold]
#[inline(never)]
fn size_read_buf(buf: &mut Vec<u8>) {
    buf.resize(READ_BUFFER_SIZE, 0);
}
