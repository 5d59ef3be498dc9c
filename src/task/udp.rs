//! UDP as futures: [`AsyncUdpSocket`].

use std::cell::Cell;
use std::collections::VecDeque;
use std::fmt;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

use crate::error::Result;
use crate::event_loop::Loop;
use crate::handle::Handle;
use crate::net::UdpSocket;
use crate::task::call::{Callback, callback, register};
use crate::task::shared::Shared;

/// Datagrams received ahead of `recv_from`, at most; receiving pauses when full.
const RECV_QUEUE: usize = 64;

/// A received datagram and its sender, or a receive error.
type Datagram = Result<(Vec<u8>, SocketAddr)>;

#[derive(Default)]
struct Inbox {
    queue: Cell<VecDeque<Datagram>>,
    len: Cell<usize>,
    receiving: Cell<bool>,
    waker: Cell<Option<Waker>>,
}

/// A UDP socket for `async` code: `send_to(...).await`, `recv_from().await`. Receiving runs
/// while a `recv_from` waits, reads ahead at most 64 datagrams, and stops when a waiting
/// `recv_from` is dropped. Dropping the socket closes it.
pub struct AsyncUdpSocket {
    socket: UdpSocket,
    inbox: Rc<Inbox>,
    shared: Rc<Shared>,
}

impl AsyncUdpSocket {
    /// Binds a socket to `addr` (see [`Loop::udp_bind`]).
    pub fn bind(lp: &mut Loop, addr: SocketAddr) -> Result<Self> {
        let socket = lp.udp_bind(addr)?;
        Ok(Self {
            socket,
            inbox: Rc::default(),
            shared: lp.task_shared(),
        })
    }

    /// The handle, for the callback API.
    pub fn handle(&self) -> UdpSocket {
        self.socket
    }

    /// Sends `buf` as one datagram to `addr`; completes when it was sent.
    #[track_caller]
    pub fn send_to(&self, buf: &[u8], addr: SocketAddr) -> Callback<Result<()>> {
        let (socket, data) = (self.socket, buf.to_vec());
        callback(move |lp, done| {
            let slot = Rc::new(Cell::new(Some(done)));
            let s2 = Rc::clone(&slot);
            if let Err(e) = socket.send_to(lp, &data, addr, move |_, _, r| {
                if let Some(d) = s2.take() {
                    d.complete(r);
                }
            }) && let Some(d) = slot.take()
            {
                d.complete(Err(e));
            }
        })
    }

    /// The next datagram and its sender. Dropped while waiting, it stops receiving.
    pub fn recv_from(&mut self) -> RecvFrom<'_> {
        RecvFrom {
            socket: self,
            done: false,
        }
    }

    fn start(&self) {
        if self.inbox.receiving.replace(true) {
            return;
        }
        let (inbox, socket) = (Rc::clone(&self.inbox), self.socket);
        self.shared
            .defer(std::panic::Location::caller(), move |lp| {
                if !inbox.receiving.get() {
                    return;
                }
                let i2 = Rc::clone(&inbox);
                let r = socket.recv_start(lp, move |lp, s, r| {
                    let mut q = i2.queue.take();
                    q.push_back(r.map(|(d, from)| (d.to_vec(), from)));
                    i2.len.set(q.len());
                    let full = q.len() >= RECV_QUEUE;
                    i2.queue.set(q);
                    if full {
                        i2.receiving.set(false);
                        let _ = s.recv_stop(lp);
                    }
                    if let Some(w) = i2.waker.take() {
                        w.wake();
                    }
                });
                if let Err(e) = r {
                    inbox.receiving.set(false);
                    let mut q = inbox.queue.take();
                    q.push_back(Err(e));
                    inbox.len.set(q.len());
                    inbox.queue.set(q);
                    if let Some(w) = inbox.waker.take() {
                        w.wake();
                    }
                }
            });
    }

    fn stop(&self) {
        if !self.inbox.receiving.replace(false) {
            return;
        }
        let socket = self.socket;
        self.shared
            .defer(std::panic::Location::caller(), move |lp| {
                let _ = socket.recv_stop(lp);
            });
    }
}

impl Drop for AsyncUdpSocket {
    fn drop(&mut self) {
        let socket = self.socket;
        self.shared
            .defer(std::panic::Location::caller(), move |lp| {
                let _ = socket.close(lp, |_| {});
            });
    }
}

impl fmt::Debug for AsyncUdpSocket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AsyncUdpSocket")
            .field("socket", &self.socket)
            .field("queued", &self.inbox.len.get())
            .finish()
    }
}

/// The future of [`AsyncUdpSocket::recv_from`].
#[must_use = "futures do nothing unless awaited"]
pub struct RecvFrom<'a> {
    socket: &'a mut AsyncUdpSocket,
    done: bool,
}

impl Future for RecvFrom<'_> {
    type Output = Result<(Vec<u8>, SocketAddr)>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let inbox = &this.socket.inbox;
        let mut q = inbox.queue.take();
        let next = q.pop_front();
        inbox.len.set(q.len());
        inbox.queue.set(q);
        if let Some(r) = next {
            this.done = true;
            return Poll::Ready(r);
        }
        register(&inbox.waker, cx);
        this.socket.start();
        Poll::Pending
    }
}

impl Drop for RecvFrom<'_> {
    fn drop(&mut self) {
        if !self.done {
            self.socket.inbox.waker.take();
            self.socket.stop();
        }
    }
}

impl fmt::Debug for RecvFrom<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RecvFrom")
    }
}
