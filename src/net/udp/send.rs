//! The UDP send queue: try-send first, queue on `WouldBlock`, flush on writable, and deliver
//! every send callback exactly once (pending phase, or close phase when the socket closes).

use crate::sys::errno;
use std::collections::VecDeque;
use std::io;
use std::net::SocketAddr;
use std::panic::{AssertUnwindSafe, Location, catch_unwind};

use super::UdpSocket;
use crate::error::{Error, Result};
use crate::event_loop::{CallbackKind, Phase};
use crate::event_loop::{HandleData, IoCx, Loop, PanicPayload};
use crate::handle::{HandleId, Site};

/// Queued datagrams sent per writable event before yielding to the rest of the loop.
const SEND_BUDGET: usize = 64;

pub(super) type SendCallback = Box<dyn FnOnce(&mut Loop, UdpSocket, Result<()>)>;

/// A datagram the kernel would not take yet.
struct SendReq {
    buf: Vec<u8>,
    to: Option<SocketAddr>,
    cb: SendCallback,
    site: Site,
}

/// A finished send whose callback waits for the pending phase.
struct Done {
    cb: SendCallback,
    result: Result<()>,
    site: Site,
}

/// A socket's sends in flight, in order.
#[derive(Default)]
pub(super) struct SendQueue {
    /// Waiting for the socket to become writable.
    queued: VecDeque<SendReq>,
    /// Sent (or failed), callback not delivered yet.
    done: VecDeque<Done>,
    /// A flush is deferred to the pending phase (the budget ran out before `WouldBlock`).
    flush_queued: bool,
}

impl SendQueue {
    /// Whether any send's callback is still to come.
    pub(super) fn in_flight(&self) -> bool {
        !self.queued.is_empty() || !self.done.is_empty()
    }

    /// Whether datagrams wait for a writable socket.
    pub(super) fn has_queued(&self) -> bool {
        !self.queued.is_empty()
    }
}

impl Loop {
    /// Starts a send: try it now, queue it on `WouldBlock`. The callback always comes later.
    fn udp_send(
        &mut self,
        id: HandleId,
        buf: &[u8],
        to: Option<SocketAddr>,
        cb: SendCallback,
        site: Site,
    ) -> Result<()> {
        let IoCx { handles, reqs, .. } = self.io_cx();
        let HandleData::Udp(u) = &mut handles.open_mut(id)?.data else {
            return Err(Error::StaleHandle);
        };
        match (to.is_some(), u.connected) {
            // libuv's rules: a connected socket sends only to its peer, and vice versa.
            (true, true) => return Err(Error::Io(io::Error::from_raw_os_error(errno::EISCONN))),
            (false, false) => {
                return Err(Error::Io(io::Error::from_raw_os_error(errno::EDESTADDRREQ)));
            }
            _ => {}
        }
        let sock = u.sock.as_ref().ok_or(Error::Closing)?;
        reqs.begin();
        // Only an empty queue may try the syscall: a later datagram must not overtake.
        if u.sends.queued.is_empty() {
            match send_now(sock, buf, to) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                sent => {
                    if let Ok(n) = sent {
                        self.counters_mut().bytes_written += n as u64;
                    }
                    let result = sent.map(|_| ()).map_err(Error::Io);
                    self.udp_complete(id, cb, result, site);
                    return Ok(());
                }
            }
        }
        u.sends.queued.push_back(SendReq {
            buf: buf.to_vec(),
            to,
            cb,
            site,
        });
        self.udp_update_active(id);
        Ok(())
    }

    /// Records a finished send and defers its callback to the pending phase.
    fn udp_complete(&mut self, id: HandleId, cb: SendCallback, result: Result<()>, site: Site) {
        let Ok(u) = self.udp_data(id) else {
            return;
        };
        u.sends.done.push_back(Done { cb, result, site });
        self.udp_update_active(id);
        // One pending entry per completion, each delivering the oldest: FIFO order, and a
        // microtask drain after every callback. Entries for a socket closed meanwhile find it
        // stale (the close phase delivered its completions) and do nothing.
        self.defer(
            CallbackKind::UdpSend,
            site,
            Box::new(move |lp| {
                let Ok(u) = lp.udp_data(id) else {
                    return;
                };
                let Some(done) = u.sends.done.pop_front() else {
                    return;
                };
                lp.reqs_mut().end();
                lp.udp_update_active(id);
                (done.cb)(lp, UdpSocket(id), done.result);
            }),
        );
    }

    /// Sends queued datagrams in order until the kernel would block or the budget is spent.
    pub(super) fn udp_flush(&mut self, id: HandleId) {
        for _ in 0..SEND_BUDGET {
            let Ok(u) = self.udp_data(id) else {
                return;
            };
            let Some(sock) = u.sock.as_ref() else {
                return;
            };
            let Some(req) = u.sends.queued.pop_front() else {
                return;
            };
            match send_now(sock, &req.buf, req.to) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    u.sends.queued.push_front(req);
                    return; // the next writable edge resumes
                }
                sent => {
                    if let Ok(n) = sent {
                        self.counters_mut().bytes_written += n as u64;
                    }
                    let result = sent.map(|_| ()).map_err(Error::Io);
                    self.udp_complete(id, req.cb, result, req.site);
                }
            }
        }
        // Budget spent without `WouldBlock`: no new edge will come, so queue ourselves.
        let Ok(u) = self.udp_data(id) else {
            return;
        };
        let Some(front) = u.sends.queued.front() else {
            return;
        };
        if !u.sends.flush_queued {
            u.sends.flush_queued = true;
            let site = front.site;
            self.defer(
                CallbackKind::UdpSend,
                site,
                Box::new(move |lp| {
                    if let Ok(u) = lp.udp_data(id) {
                        u.sends.flush_queued = false;
                        lp.udp_flush(id);
                    }
                }),
            );
        }
    }

    /// Close phase, before the close callback: finished sends get their result, unsent ones
    /// [`Error::Canceled`], in send order. Each callback runs even if an earlier one panicked;
    /// the first panic is returned for the close phase to resume after the close callback.
    pub(crate) fn udp_cancel_sends(&mut self, id: HandleId) -> Option<PanicPayload> {
        let sends = std::mem::take(&mut self.udp_data(id).ok()?.sends);
        let SendQueue { queued, done, .. } = sends;
        self.reqs_mut().end_many(done.len() + queued.len());
        let finished = done.into_iter().map(|d| (d.cb, d.result, d.site));
        let canceled = (queued.into_iter()).map(|r| (r.cb, Err(Error::Canceled), r.site));
        let mut first_panic = None;
        for (cb, result, site) in finished.chain(canceled) {
            let call = catch_unwind(AssertUnwindSafe(|| {
                self.invoke(Phase::Close, CallbackKind::UdpSend, site, move |lp| {
                    cb(lp, UdpSocket(id), result);
                });
            }));
            if let Err(panic) = call {
                first_panic.get_or_insert(panic);
            }
        }
        first_panic
    }
}

/// One `sendto(2)` (or `send(2)` when connected), retried on `EINTR`.
fn send_now(sock: &mio::net::UdpSocket, buf: &[u8], to: Option<SocketAddr>) -> io::Result<usize> {
    loop {
        let sent = match to {
            Some(addr) => sock.send_to(buf, addr),
            None => sock.send(buf),
        };
        match sent {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            other => return other,
        }
    }
}

impl UdpSocket {
    /// Sends `buf` as one datagram to `addr`; `cb(lp, socket, result)` runs once it is sent
    /// (or failed, or was canceled by `close`), never inside this call. `buf` is copied only
    /// if the kernel cannot take it at once.
    ///
    /// Errors (the request was not started and `cb` will not run): a stale or closing handle,
    /// `EISCONN` on a connected socket (use [`send`](Self::send)).
    #[track_caller]
    pub fn send_to(
        self,
        lp: &mut Loop,
        buf: &[u8],
        addr: SocketAddr,
        cb: impl FnOnce(&mut Loop, Self, Result<()>) + 'static,
    ) -> Result<()> {
        lp.udp_send(self.0, buf, Some(addr), Box::new(cb), Location::caller())
    }

    /// Sends `buf` to the peer set by [`connect`](Self::connect); otherwise as
    /// [`send_to`](Self::send_to). `EDESTADDRREQ` if the socket is not connected.
    #[track_caller]
    pub fn send(
        self,
        lp: &mut Loop,
        buf: &[u8],
        cb: impl FnOnce(&mut Loop, Self, Result<()>) + 'static,
    ) -> Result<()> {
        lp.udp_send(self.0, buf, None, Box::new(cb), Location::caller())
    }

    /// Sends `buf` to `addr` now or not at all (libuv `uv_udp_try_send`): the bytes sent, or
    /// a `WouldBlock` error if the kernel would block or earlier sends are still queued.
    pub fn try_send_to(self, lp: &mut Loop, buf: &[u8], addr: SocketAddr) -> Result<usize> {
        let HandleData::Udp(u) = &lp.handles_mut().open_mut(self.0)?.data else {
            return Err(Error::StaleHandle);
        };
        if u.sends.has_queued() {
            return Err(Error::Io(io::ErrorKind::WouldBlock.into()));
        }
        let sock = u.sock.as_ref().ok_or(Error::Closing)?;
        Ok(send_now(sock, buf, Some(addr))?)
    }

    /// Datagrams queued because the kernel would block, not yet sent.
    pub fn send_queue_len(self, lp: &Loop) -> Result<usize> {
        match &lp.handles().get(self.0)?.data {
            HandleData::Udp(u) => Ok(u.sends.queued.len()),
            _ => Err(Error::StaleHandle),
        }
    }
}

#[cfg(test)]
mod tests {
    //! The queued-send paths. Loopback never makes `sendto(2)` block (the loopback device
    //! releases the send buffer inside the call), so these tests stand in for a kernel that did:
    //! they put a request at the head of the queue exactly as `udp_send` does on `WouldBlock`.

    use std::cell::RefCell;
    use std::rc::Rc;

    use super::*;
    use crate::Handle;

    type Log = Rc<RefCell<Vec<String>>>;

    fn logger(log: &Log, name: &'static str) -> SendCallback {
        let log = log.clone();
        Box::new(move |_, _, r: Result<()>| {
            let outcome = match r {
                Ok(()) => "ok".to_string(),
                Err(e) if e.is_canceled() => "canceled".to_string(),
                Err(e) => format!("error {e}"),
            };
            log.borrow_mut().push(format!("{name} {outcome}"));
        })
    }

    /// What `udp_send` does when the kernel says `WouldBlock`.
    fn queue_as_if_blocked(lp: &mut Loop, sock: UdpSocket, to: SocketAddr, cb: SendCallback) {
        lp.reqs_mut().begin();
        let u = lp.udp_data(sock.0).unwrap();
        u.sends.queued.push_back(SendReq {
            buf: b"blocked".to_vec(),
            to: Some(to),
            cb,
            site: Location::caller(),
        });
        lp.udp_update_active(sock.0);
    }

    #[test]
    fn close_cancels_queued_sends_before_the_close_callback() {
        let mut lp = Loop::new().unwrap();
        let sock = lp.udp_bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let to = sock.local_addr(&lp).unwrap();
        let log = Log::default();
        queue_as_if_blocked(&mut lp, sock, to, logger(&log, "send 0"));
        // Later sends queue behind it, in order, without trying the syscall.
        sock.send_to(&mut lp, b"1", to, logger(&log, "send 1"))
            .unwrap();
        assert_eq!(sock.send_queue_len(&lp).unwrap(), 2);
        assert!(matches!(
            sock.try_send_to(&mut lp, b"2", to),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock
        ));
        let l = log.clone();
        sock.close(&mut lp, move |_| l.borrow_mut().push("close".into()))
            .unwrap();
        assert!(log.borrow().is_empty(), "callbacks ran inside close");
        lp.run().unwrap();
        assert_eq!(
            *log.borrow(),
            ["send 0 canceled", "send 1 canceled", "close"]
        );
        assert!(lp.active_handles().is_empty());
        assert_eq!(lp.reqs().len(), 0);
        assert!(!lp.alive());
    }

    #[test]
    fn queued_sends_flush_in_order_on_writable() {
        let mut lp = Loop::new().unwrap();
        let sock = lp.udp_bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let to = sock.local_addr(&lp).unwrap();
        let log = Log::default();
        queue_as_if_blocked(&mut lp, sock, to, logger(&log, "send 0"));
        sock.send_to(&mut lp, b"1", to, logger(&log, "send 1"))
            .unwrap();
        let l = log.clone();
        sock.recv_start(&mut lp, move |lp, sock, d| {
            let (data, _) = d.unwrap();
            l.borrow_mut()
                .push(format!("recv {}", String::from_utf8_lossy(data)));
            if data == b"1" {
                sock.close(lp, |_| {}).unwrap();
            }
        })
        .unwrap();
        // The registration's first writable edge flushes the queue.
        lp.run().unwrap();
        let log = log.borrow();
        let sends: Vec<_> = log.iter().filter(|s| s.starts_with("send")).collect();
        let recvs: Vec<_> = log.iter().filter(|s| s.starts_with("recv")).collect();
        assert_eq!(sends, ["send 0 ok", "send 1 ok"]);
        assert_eq!(recvs, ["recv blocked", "recv 1"]);
        assert!(lp.active_handles().is_empty());
        assert_eq!(lp.reqs().len(), 0);
    }

    #[test]
    fn a_panicking_canceled_callback_does_not_lose_the_others() {
        let mut lp = Loop::new().unwrap();
        let sock = lp.udp_bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let to = sock.local_addr(&lp).unwrap();
        let log = Log::default();
        queue_as_if_blocked(&mut lp, sock, to, Box::new(|_, _, _| panic!("boom")));
        sock.send_to(&mut lp, b"1", to, logger(&log, "send 1"))
            .unwrap();
        let l = log.clone();
        sock.close(&mut lp, move |_| l.borrow_mut().push("close".into()))
            .unwrap();
        let run = catch_unwind(AssertUnwindSafe(|| lp.run()));
        assert!(run.is_err(), "the panic still unwinds out of run");
        assert_eq!(*log.borrow(), ["send 1 canceled", "close"]);
        lp.run().unwrap();
        assert!(lp.active_handles().is_empty());
        assert_eq!(lp.reqs().len(), 0);
        assert!(!lp.alive());
    }
}
