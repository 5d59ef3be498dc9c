//! UDP sockets: bind, send with completion callbacks, receive into the loop's buffer.

mod recv;
mod send;

use std::io;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::panic::Location;

use socket2::{Domain, Protocol, SockRef, Socket, Type};

use self::send::SendQueue;
use crate::error::{Error, Result};
use crate::event_loop::{HandleData, HandleState, Loop, Never, PanicPayload};
use crate::handle::{HandleId, HandleKind, Site, handle_type};

/// The largest datagram a receive delivers: the loop's read buffer, shared with streams, which
/// is larger than any UDP payload (65 507 bytes over IPv4, 65 527 over IPv6 without jumbograms).
const RECV_BUF_LEN: usize = super::READ_BUFFER_SIZE;
/// Datagrams received per readiness event before yielding to the rest of the loop.
const RECV_BUDGET: usize = 32;

handle_type! {
    /// A UDP socket from [`Loop::udp_bind`] (libuv `uv_udp_t`).
    ///
    /// **Sending.** [`send_to`](Self::send_to) (and [`send`](Self::send) once
    /// [`connect`](Self::connect)ed) tries the `sendto(2)` at once and copies the datagram into
    /// the socket's send queue only if the kernel would block; the queue is flushed in order
    /// when the socket becomes writable. Each send callback runs exactly once — with `Ok`, the OS
    /// error, or [`Error::Canceled`] if the socket is closed first — always from the pending
    /// phase (or the close phase for a closed socket, before its close callback), never inside
    /// the `send_to` call. In-flight sends keep the loop alive, like every request.
    ///
    /// **Receiving.** [`recv_start`](Self::recv_start) delivers each datagram as a `&[u8]`
    /// borrowed from one 64 KiB buffer owned by the loop (no allocation per datagram), with its
    /// source address. At most 32 datagrams are read per readiness event or pending round; the
    /// rest continue from the pending phase (its rounds after poll, then the next iteration's),
    /// so a flood cannot starve timers or other sockets. A datagram longer than the
    /// buffer (see [`set_max_datagram_len`](Self::set_max_datagram_len)) is **not** cut
    /// silently: the callback gets an `EMSGSIZE` error ([`Error::raw_os_error`]) and the
    /// datagram is dropped. Errors the kernel reports on receive (an ICMP "port unreachable"
    /// on a connected socket shows up as `ECONNREFUSED`) go to the callback; receiving goes on.
    ///
    /// **Liveness.** A socket is active while receiving or while sends are in flight; a bound
    /// socket doing neither does not keep the loop alive.
    ///
    /// ```
    /// use evloop::{Handle, Loop};
    ///
    /// # fn main() -> Result<(), evloop::Error> {
    /// let mut lp = Loop::new()?;
    /// let server = lp.udp_bind("127.0.0.1:0".parse().unwrap())?;
    /// let client = lp.udp_bind("127.0.0.1:0".parse().unwrap())?;
    /// let server_addr = server.local_addr(&lp)?;
    /// server.recv_start(&mut lp, move |lp, server, datagram| {
    ///     let (data, from) = datagram.expect("receive");
    ///     println!("{} bytes from {from}", data.len());
    ///     server.close(lp, |_| {}).unwrap();
    /// })?;
    /// client.send_to(&mut lp, b"hello", server_addr, |lp, client, sent| {
    ///     sent.expect("send");
    ///     client.close(lp, |_| {}).unwrap();
    /// })?;
    /// lp.run()?;
    /// # Ok(())
    /// # }
    /// ```
    UdpSocket
}

/// Socket options applied before [`Loop::udp_bind_with`] binds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct UdpBindOptions {
    reuse_address: bool,
    reuse_port: bool,
    only_v6: Option<bool>,
}

impl UdpBindOptions {
    /// No options: the OS defaults.
    pub fn new() -> Self {
        Self::default()
    }

    /// `SO_REUSEADDR`: on Linux, lets several sockets bind the same multicast group and port.
    pub fn reuse_address(mut self, on: bool) -> Self {
        self.reuse_address = on;
        self
    }

    /// `SO_REUSEPORT`: several sockets (e.g. one loop per core) share the port and the kernel
    /// spreads datagrams among them. On Windows, which has no such option, binding with it on
    /// fails with an `Unsupported` error.
    pub fn reuse_port(mut self, on: bool) -> Self {
        self.reuse_port = on;
        self
    }

    /// `IPV6_V6ONLY` for an IPv6 address: `true` refuses IPv4 traffic, `false` makes a `[::]`
    /// socket dual-stack (IPv4 peers appear as `::ffff:a.b.c.d`). `true` with an IPv4 address
    /// makes the bind fail with `InvalidInput` (libuv's `EINVAL`) rather than being ignored.
    pub fn only_v6(mut self, on: bool) -> Self {
        self.only_v6 = Some(on);
        self
    }
}

type RecvCallback = Box<dyn FnMut(&mut Loop, UdpSocket, Result<(&[u8], SocketAddr)>)>;

pub(crate) struct UdpData {
    /// `None` once closing: the fd is closed at `close`, the requests wait for the close phase.
    pub(super) sock: Option<mio::net::UdpSocket>,
    pub(super) connected: bool,
    /// Readiness cache (edge-triggered): set by a readable event, cleared on `WouldBlock`.
    readable: bool,
    receiving: bool,
    recv_cb: Option<RecvCallback>,
    recv_site: Site,
    read_queued: bool,
    max_datagram: usize,
    sends: SendQueue,
}

impl HandleState for Box<UdpData> {
    type Event = Never;

    fn stop(lp: &mut Loop, id: HandleId, _kind: HandleKind) {
        lp.udp_stop(id);
    }

    fn ready(lp: &mut Loop, id: HandleId, event: &mio::event::Event) {
        lp.udp_ready(id, event);
    }

    fn pending(_lp: &mut Loop, _id: HandleId, never: Never) {
        match never {}
    }

    fn cancel_requests(lp: &mut Loop, id: HandleId) -> Option<PanicPayload> {
        lp.udp_cancel_sends(id)
    }
}

/// # I/O: UDP
impl Loop {
    /// Binds a UDP socket to `addr` (port 0 picks a free port; see
    /// [`UdpSocket::local_addr`]). The socket starts inactive: it neither receives nor keeps
    /// the loop alive until [`UdpSocket::recv_start`] or a send.
    #[track_caller]
    pub fn udp_bind(&mut self, addr: SocketAddr) -> Result<UdpSocket> {
        self.udp_bind_with(addr, UdpBindOptions::new())
    }

    /// Like [`Loop::udp_bind`], with socket options set before binding.
    #[track_caller]
    pub fn udp_bind_with(&mut self, addr: SocketAddr, opts: UdpBindOptions) -> Result<UdpSocket> {
        let site = Location::caller();
        if opts.only_v6 == Some(true) && addr.is_ipv4() {
            return Err(Error::Io(super::socket::only_v6_on_ipv4()));
        }
        let socket = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
        socket.set_nonblocking(true)?;
        if opts.reuse_address {
            socket.set_reuse_address(true)?;
        }
        if opts.reuse_port {
            crate::net::socket::set_reuse_port(&socket)?;
        }
        if let (SocketAddr::V6(_), Some(on)) = (addr, opts.only_v6) {
            socket.set_only_v6(on)?;
        }
        socket
            .bind(&addr.into())
            .map_err(|e| crate::Error::named(e, "bind", addr))?;
        let mut sock = mio::net::UdpSocket::from_std(socket.into());
        let data = UdpData {
            sock: None,
            connected: false,
            readable: false,
            receiving: false,
            recv_cb: None,
            recv_site: site,
            read_queued: false,
            max_datagram: RECV_BUF_LEN,
            sends: SendQueue::default(),
        };
        let id = self.handles_mut().insert(
            HandleKind::Udp,
            site,
            false,
            HandleData::Udp(Box::new(data)),
        );
        // Registered once for both directions (DESIGN.md): no poller call per send or recv.
        let interest = mio::Interest::READABLE | mio::Interest::WRITABLE;
        if let Err(e) = self.io_mut().register(&mut sock, id, interest) {
            self.handles_mut().remove(id);
            return Err(Error::Io(e));
        }
        self.udp_data(id)?.sock = Some(sock);
        Ok(UdpSocket(id))
    }

    pub(super) fn udp_data(&mut self, id: HandleId) -> Result<&mut UdpData> {
        match &mut self.handles_mut().get_mut(id)?.data {
            HandleData::Udp(u) => Ok(u),
            _ => Err(Error::StaleHandle),
        }
    }

    /// Active while receiving or while sends are in flight; never once closing.
    pub(super) fn udp_update_active(&mut self, id: HandleId) {
        let Ok(entry) = self.handles().get(id) else {
            return;
        };
        let HandleData::Udp(u) = &entry.data else {
            return;
        };
        let active = !entry.closing && (u.receiving || u.sends.in_flight());
        self.handles_mut().set_active(id, active);
    }

    /// `close`'s kind-specific part: deregister and close the fd now; stop receiving. Queued
    /// sends stay for the close phase (`Loop::udp_cancel_sends`).
    pub(crate) fn udp_stop(&mut self, id: HandleId) {
        let Ok(u) = self.udp_data(id) else {
            return;
        };
        u.receiving = false;
        u.recv_cb = None;
        if let Some(mut sock) = u.sock.take() {
            self.io_mut().deregister(&mut sock);
        }
    }
}

impl UdpSocket {
    /// The socket, for option calls; an error once closing.
    fn with_sock<T>(
        self,
        lp: &Loop,
        f: impl FnOnce(&mio::net::UdpSocket) -> io::Result<T>,
    ) -> Result<T> {
        let entry = lp.handles().get(self.0)?;
        let HandleData::Udp(u) = &entry.data else {
            return Err(Error::StaleHandle);
        };
        let sock = u.sock.as_ref().ok_or(Error::Closing)?;
        Ok(f(sock)?)
    }

    /// Starts receiving: `cb(lp, socket, Ok((data, from)))` per datagram, `Err` for receive
    /// errors and truncated datagrams (see [`UdpSocket`]). `data` is lent from the loop's buffer
    /// for the call only. The first callback comes from the loop, never from this call.
    ///
    /// Errors: [`Error::InvalidState`] if already receiving.
    #[track_caller]
    pub fn recv_start(
        self,
        lp: &mut Loop,
        cb: impl FnMut(&mut Loop, Self, Result<(&[u8], SocketAddr)>) + 'static,
    ) -> Result<()> {
        let site = Location::caller();
        let HandleData::Udp(u) = &mut lp.handles_mut().open_mut(self.0)?.data else {
            return Err(Error::StaleHandle);
        };
        if u.receiving {
            return Err(Error::InvalidState("already receiving"));
        }
        u.receiving = true;
        u.recv_cb = Some(Box::new(cb));
        u.recv_site = site;
        let readable = u.readable;
        lp.udp_update_active(self.0);
        if readable {
            // Data that arrived before `recv_start` raised its edge already.
            lp.udp_queue_read(self.0);
        }
        Ok(())
    }

    /// Stops receiving; no receive callback runs after this call, even for datagrams already
    /// read in the current batch. Datagrams arriving meanwhile wait in the kernel's buffer.
    /// Stopping a socket that is not receiving does nothing.
    pub fn recv_stop(self, lp: &mut Loop) -> Result<()> {
        let u = lp.udp_data(self.0)?;
        u.receiving = false;
        u.recv_cb = None;
        lp.udp_update_active(self.0);
        Ok(())
    }

    /// Longest datagram accepted (default and maximum 65 536 bytes, the loop's buffer).
    /// Longer ones are reported as `EMSGSIZE` errors and dropped — as libuv reports
    /// `UV_UDP_PARTIAL` — rather than cut silently. Useful for protocols with a size limit.
    pub fn set_max_datagram_len(self, lp: &mut Loop, len: usize) -> Result<()> {
        if len == 0 {
            return Err(Error::InvalidState(
                "max datagram length must be at least 1",
            ));
        }
        lp.handles_mut().open_mut(self.0)?;
        lp.udp_data(self.0)?.max_datagram = len.min(RECV_BUF_LEN);
        Ok(())
    }

    /// Sets the default peer (`connect(2)`): only its datagrams are received, and
    /// [`send`](Self::send) goes to it. `EISCONN` if already connected.
    pub fn connect(self, lp: &mut Loop, addr: SocketAddr) -> Result<()> {
        let u = lp.udp_data(self.0)?;
        if u.connected {
            return Err(Error::Io(io::Error::from_raw_os_error(
                crate::sys::errno::EISCONN,
            )));
        }
        self.with_sock(lp, |s| s.connect(addr))?;
        lp.udp_data(self.0)?.connected = true;
        Ok(())
    }

    /// Dissolves the association made by [`connect`](Self::connect) (libuv
    /// `uv_udp_connect(handle, NULL)`): datagrams from anyone are received again and
    /// [`send_to`](Self::send_to) works again. `ENOTCONN` if not connected.
    ///
    /// On Linux a socket bound to port 0 also loses the port the kernel picked (the next send
    /// picks a new one), as with libuv; bind an explicit port to keep it.
    pub fn disconnect(self, lp: &mut Loop) -> Result<()> {
        if !lp.udp_data(self.0)?.connected {
            return Err(Error::Io(io::Error::from_raw_os_error(
                crate::sys::errno::ENOTCONN,
            )));
        }
        self.with_sock(lp, crate::sys::disconnect)?;
        lp.udp_data(self.0)?.connected = false;
        Ok(())
    }

    /// The bound address (with the port the OS picked for port 0).
    pub fn local_addr(self, lp: &Loop) -> Result<SocketAddr> {
        self.with_sock(lp, mio::net::UdpSocket::local_addr)
    }

    /// The connected peer; `ENOTCONN` if not connected.
    pub fn peer_addr(self, lp: &Loop) -> Result<SocketAddr> {
        self.with_sock(lp, mio::net::UdpSocket::peer_addr)
    }

    /// `SO_RCVBUF`: the kernel's receive buffer, in bytes. A full buffer drops datagrams, so
    /// raise it for bursts (Linux doubles the value and caps it at `net.core.rmem_max`).
    pub fn set_recv_buffer_size(self, lp: &mut Loop, bytes: usize) -> Result<()> {
        self.with_sock(lp, |s| SockRef::from(s).set_recv_buffer_size(bytes))
    }

    /// The kernel's receive buffer size, in bytes.
    pub fn recv_buffer_size(self, lp: &Loop) -> Result<usize> {
        self.with_sock(lp, |s| SockRef::from(s).recv_buffer_size())
    }

    /// `SO_SNDBUF`: the kernel's send buffer, in bytes.
    pub fn set_send_buffer_size(self, lp: &mut Loop, bytes: usize) -> Result<()> {
        self.with_sock(lp, |s| SockRef::from(s).set_send_buffer_size(bytes))
    }

    /// The kernel's send buffer size, in bytes.
    pub fn send_buffer_size(self, lp: &Loop) -> Result<usize> {
        self.with_sock(lp, |s| SockRef::from(s).send_buffer_size())
    }

    /// `SO_BROADCAST`: allow sending to broadcast addresses.
    pub fn set_broadcast(self, lp: &mut Loop, on: bool) -> Result<()> {
        self.with_sock(lp, |s| s.set_broadcast(on))
    }

    /// `IP_TTL`: the time-to-live of outgoing unicast datagrams.
    pub fn set_ttl(self, lp: &mut Loop, ttl: u32) -> Result<()> {
        self.with_sock(lp, |s| s.set_ttl(ttl))
    }

    /// Joins IPv4 multicast group `group` on the interface with address `interface`
    /// (`0.0.0.0`: the kernel picks one).
    pub fn join_multicast_v4(
        self,
        lp: &mut Loop,
        group: Ipv4Addr,
        interface: Ipv4Addr,
    ) -> Result<()> {
        self.with_sock(lp, |s| s.join_multicast_v4(&group, &interface))
    }

    /// Leaves an IPv4 multicast group joined with [`join_multicast_v4`](Self::join_multicast_v4).
    pub fn leave_multicast_v4(
        self,
        lp: &mut Loop,
        group: Ipv4Addr,
        interface: Ipv4Addr,
    ) -> Result<()> {
        self.with_sock(lp, |s| s.leave_multicast_v4(&group, &interface))
    }

    /// Joins IPv6 multicast group `group` on interface index `interface` (0: any).
    pub fn join_multicast_v6(self, lp: &mut Loop, group: Ipv6Addr, interface: u32) -> Result<()> {
        self.with_sock(lp, |s| s.join_multicast_v6(&group, interface))
    }

    /// Leaves an IPv6 multicast group joined with [`join_multicast_v6`](Self::join_multicast_v6).
    pub fn leave_multicast_v6(self, lp: &mut Loop, group: Ipv6Addr, interface: u32) -> Result<()> {
        self.with_sock(lp, |s| s.leave_multicast_v6(&group, interface))
    }

    /// `IP_MULTICAST_IF`: the interface (by address) outgoing IPv4 multicast leaves from.
    pub fn set_multicast_interface_v4(self, lp: &mut Loop, interface: Ipv4Addr) -> Result<()> {
        self.with_sock(lp, |s| SockRef::from(s).set_multicast_if_v4(&interface))
    }

    /// `IP_MULTICAST_TTL`: how many hops outgoing IPv4 multicast datagrams may travel (default 1).
    pub fn set_multicast_ttl_v4(self, lp: &mut Loop, ttl: u32) -> Result<()> {
        self.with_sock(lp, |s| s.set_multicast_ttl_v4(ttl))
    }

    /// `IP_MULTICAST_LOOP`: whether this host receives its own IPv4 multicast (default on).
    pub fn set_multicast_loop_v4(self, lp: &mut Loop, on: bool) -> Result<()> {
        self.with_sock(lp, |s| s.set_multicast_loop_v4(on))
    }

    /// `IPV6_MULTICAST_LOOP`: whether this host receives its own IPv6 multicast (default on).
    pub fn set_multicast_loop_v6(self, lp: &mut Loop, on: bool) -> Result<()> {
        self.with_sock(lp, |s| s.set_multicast_loop_v6(on))
    }
}
