//! Datagram receive that tells a truncated datagram apart from one that fitted.
//!
//! `recvfrom(2)` silently cuts a datagram longer than the buffer; `recvmsg(2)` says so in
//! `msg_flags` (`MSG_TRUNC`), which socket2 exposes as [`socket2::RecvFlags::is_truncated`].

use std::io;
use std::mem::MaybeUninit;
use std::net::SocketAddr;
#[cfg(unix)]
use std::os::fd::{AsFd, AsRawFd};

use socket2::{MaybeUninitSlice, SockRef};

/// One received datagram: its length in the buffer, whether it was cut, and its source.
pub(crate) struct Datagram {
    pub(crate) len: usize,
    pub(crate) truncated: bool,
    pub(crate) from: SocketAddr,
}

/// Receives one datagram into `buf` with `recvmsg(2)` (`WSARecvFrom` on Windows, whose
/// `WSAEMSGSIZE` socket2 turns into the same truncation flag).
///
/// The call goes through mio's `try_io`: on Windows mio re-arms readiness only when an I/O
/// call made through it reports `WouldBlock`, and a bare socket2 call would never re-arm it
/// (on Unix `try_io` just calls the closure).
pub(crate) fn recv_from(sock: &mio::net::UdpSocket, buf: &mut [u8]) -> io::Result<Datagram> {
    sock.try_io(|| recv_from_raw(SockRef::from(sock), buf))
}

fn recv_from_raw(sock: SockRef<'_>, buf: &mut [u8]) -> io::Result<Datagram> {
    let mut bufs = [MaybeUninitSlice::new(as_uninit(buf))];
    let (len, flags, addr) = sock.recv_from_vectored(&mut bufs)?;
    let from = addr.as_socket().ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            "datagram from a non-IP address family",
        )
    })?;
    Ok(Datagram {
        len,
        truncated: flags.is_truncated(),
        from,
    })
}

/// Views an initialised byte buffer as possibly-uninitialised, as socket2's receive calls take.
fn as_uninit(buf: &mut [u8]) -> &mut [MaybeUninit<u8>] {
    // SAFETY: `MaybeUninit<u8>` has the same layout as `u8`, and every byte of `buf` is
    // initialised. The callee (the kernel via socket2) only ever writes initialised bytes into it,
    // so `buf` stays fully initialised when the borrow ends.
    unsafe { &mut *(std::ptr::from_mut::<[u8]>(buf) as *mut [MaybeUninit<u8>]) }
}

/// Dissolves a datagram socket's association (`connect(2)` with `AF_UNSPEC`), as libuv's
/// `uv_udp_connect(handle, NULL)` does.
#[cfg(unix)]
pub(crate) fn disconnect(sock: &mio::net::UdpSocket) -> io::Result<()> {
    let fd = sock.as_fd().as_raw_fd();
    // SAFETY: `sockaddr` is plain integers, for which all-zero bytes are a valid value.
    let mut addr: libc::sockaddr = unsafe { std::mem::zeroed() };
    addr.sa_family = libc::AF_UNSPEC as libc::sa_family_t;
    let len = std::mem::size_of::<libc::sockaddr>() as libc::socklen_t;
    // SAFETY: `fd` is open for the duration of the borrow of `sock`; `addr` is a valid
    // `sockaddr` of `len` bytes on the stack, only read by the kernel.
    match syscall!(unsafe { libc::connect(fd, &addr, len) }) {
        Ok(_) => Ok(()),
        // BSDs report this but dissolve the association anyway (libuv ignores it too).
        Err(e) if e.raw_os_error() == Some(super::errno::EAFNOSUPPORT) => Ok(()),
        Err(e) => Err(e),
    }
}

/// Dissolves a datagram socket's association: on Windows `connect` to the all-zero address of
/// the socket's family does it (there is no `AF_UNSPEC` connect), as libuv's Windows port does.
#[cfg(windows)]
pub(crate) fn disconnect(sock: &mio::net::UdpSocket) -> io::Result<()> {
    use std::net::{Ipv4Addr, Ipv6Addr};
    let any: SocketAddr = match sock.local_addr()? {
        SocketAddr::V4(_) => (Ipv4Addr::UNSPECIFIED, 0).into(),
        SocketAddr::V6(_) => (Ipv6Addr::UNSPECIFIED, 0).into(),
    };
    SockRef::from(sock).connect(&any.into())
}
