//! The receive side: readiness, bounded batches of datagrams into the loop's buffer, and the
//! continuation through the pending phase.

use std::io;

use super::{RECV_BUDGET, RECV_BUF_LEN, UdpSocket};
use crate::error::Error;
use crate::event_loop::{CallbackKind, HandleData, IoCx, Loop, Phase};
use crate::handle::HandleId;

impl Loop {
    /// Poll-phase dispatch: flush queued sends on writable, read on readable.
    pub(crate) fn udp_ready(&mut self, id: HandleId, event: &mio::event::Event) {
        let Ok(u) = self.udp_data(id) else {
            return;
        };
        // An error or hang-up is read (as the error) by the next receive or send.
        let trouble = event.is_error() || event.is_read_closed();
        if event.is_readable() || trouble {
            u.readable = true;
        }
        let read = u.readable && u.receiving;
        if (event.is_writable() || trouble) && u.sends.has_queued() {
            self.udp_flush(id);
        }
        if read {
            self.udp_read(id, Phase::Poll);
        }
    }

    /// Receives up to [`RECV_BUDGET`] datagrams, one callback each; continues from the pending
    /// phase if the socket may still be readable.
    pub(super) fn udp_read(&mut self, id: HandleId, phase: Phase) {
        for _ in 0..RECV_BUDGET {
            let IoCx {
                handles,
                counters,
                net,
                ..
            } = self.io_cx();
            let Ok(entry) = handles.get_mut(id) else {
                return;
            };
            if entry.closing {
                return;
            }
            let HandleData::Udp(u) = &mut entry.data else {
                return;
            };
            let (true, Some(sock)) = (u.receiving, u.sock.as_ref()) else {
                return;
            };
            let mut buf = std::mem::take(&mut net.read_buf);
            buf.resize(RECV_BUF_LEN, 0);
            let received = loop {
                match crate::sys::recv_from(sock, &mut buf[..u.max_datagram]) {
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    other => break other,
                }
            };
            let result = match received {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    u.readable = false;
                    net.read_buf = buf;
                    return;
                }
                Err(e) => Err(Error::Io(e)),
                Ok(d) if d.truncated => Err(Error::Io(io::Error::from_raw_os_error(
                    crate::sys::errno::EMSGSIZE,
                ))),
                Ok(d) => {
                    counters.bytes_read += d.len as u64;
                    Ok((d.len, d.from))
                }
            };
            let Some(cb) = u.recv_cb.take() else {
                self.net_mut().read_buf = buf;
                return;
            };
            let site = u.recv_site;
            self.invoke_restoring(
                phase,
                CallbackKind::UdpRecv,
                site,
                (cb, buf, false),
                move |lp, (cb, buf, returned)| {
                    let datagram = result.map(|(len, from)| (&buf[..len], from));
                    cb(lp, UdpSocket(id), datagram);
                    *returned = true;
                },
                |lp, (cb, buf, returned)| {
                    lp.net_mut().read_buf = buf;
                    // Put back unless the callback stopped receiving or installed a new one.
                    if let Ok(u) = lp.udp_data(id)
                        && u.receiving
                        && u.recv_cb.is_none()
                    {
                        u.recv_cb = Some(cb);
                    }
                    if !returned {
                        // It panicked: the rest of the batch continues after the next `run`.
                        lp.udp_queue_read(id);
                    }
                },
            );
        }
        // Budget spent and no `WouldBlock` seen: no new edge will come, so queue ourselves.
        self.udp_queue_read(id);
    }

    pub(super) fn udp_queue_read(&mut self, id: HandleId) {
        let Ok(u) = self.udp_data(id) else {
            return;
        };
        if u.read_queued {
            return;
        }
        u.read_queued = true;
        let site = u.recv_site;
        self.defer(
            CallbackKind::UdpRecv,
            site,
            Box::new(move |lp| {
                let Ok(u) = lp.udp_data(id) else {
                    return;
                };
                u.read_queued = false;
                if u.readable && u.receiving {
                    lp.udp_read(id, Phase::Pending);
                }
            }),
        );
    }
}
