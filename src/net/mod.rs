//! Sockets: TCP and Unix-domain streams and listeners over one shared stream core, and UDP.
//!
//! [`TcpStream`] and [`UnixStream`] are ids for the same machinery (the stream core, `net/stream/`): an
//! edge-triggered registration (`READABLE | WRITABLE` while connecting; a connected stream
//! registers `READABLE` and adds `WRITABLE` once, the first time a send would block, so a stream
//! that never fills its send buffer is never woken to hear it is writable), a readiness cache
//! cleared on `WouldBlock` or a short read, bounded reads per wake-up lent from one loop-owned
//! 64 KiB buffer, a write the socket takes whole sent straight from the caller's buffer, and an
//! in-order write queue flushed with vectored `sendmsg(MSG_NOSIGNAL)` so a write to a closed peer
//! is an error, never a `SIGPIPE`. Completions wait on the loop's pending queue as typed entries
//! (no closure per write) and closing a stream runs its waiting ones before its close callback. Listeners ([`TcpListener`], [`UnixListener`]) accept in
//! batches and survive fd exhaustion (`EMFILE`) with libuv's reserve-fd trick.

mod addr;
mod listener;
/// Windows' named pipes behind the Unix-domain API.
#[cfg(windows)]
mod named_pipe;
mod socket;
pub(crate) mod stream;
mod tcp;
pub(crate) mod udp;
mod unix;

pub use addr::{Addrs, ToAddrs};
pub(crate) use listener::{ListenerState, pathname};
#[cfg(target_os = "linux")] // for pipes and ttys
pub(crate) use socket::StreamSocket;
pub use stream::api::ReadEvent;
pub use stream::write_queue::WriteBuf;
pub(crate) use stream::{Done, StreamState, TryRead};
pub use tcp::{TcpListenOptions, TcpListener, TcpStream};
pub use udp::{UdpBindOptions, UdpSocket};
pub use unix::{UnixListener, UnixStream};

use std::sync::Arc;

use crate::error::{NetName, SockName};

/// Size of the loop-owned read buffer every stream read is lent from.
pub(crate) const READ_BUFFER_SIZE: usize = 64 * 1024;
/// Reads (or accepts) per wake-up before the handle is re-queued for the next iteration.
pub(crate) const IO_BATCH: usize = 32;
/// Default write-queue size above which `write` asks the caller to wait for `on_drain`.
pub(crate) const DEFAULT_HIGH_WATER_MARK: usize = 64 * 1024;

/// State the loop keeps for all its sockets.
#[derive(Default)]
pub(crate) struct NetShared {
    /// The one read buffer, taken off the loop while a read callback borrows it.
    pub(crate) read_buf: Vec<u8>,
    /// Boxes of closed streams, reused by the next accepted or connected ones: a server
    /// turning connections over pays no allocator round trip per connection.
    #[expect(
        clippy::vec_box,
        reason = "the boxes are what is reused: each goes back into a handle slot as it is"
    )]
    pub(crate) spare_streams: Vec<Box<StreamState>>,
    /// Completions of closing streams, taken off the pending queue in one pass for every
    /// closing stream at once (so a mass close is not quadratic), until each one's close
    /// phase runs them.
    pub(crate) closing_done: std::collections::HashMap<crate::handle::HandleId, Vec<Done>>,
    /// The local addresses of this loop's TCP listeners bound to a specific IP, interned:
    /// every stream such a listener accepts has that address as its own, so a reset stream's
    /// error is named from here (see `StreamState::local_name`) without a `getsockname` or an
    /// allocation per reset. Append-only and deduplicated (listeners come and go, their
    /// addresses repeat), at most `u16::MAX` entries; past that, streams are named by the
    /// syscall.
    pub(crate) local_names: Vec<LocalName>,
}

/// An interned listener address and the names its streams' read and write errors share.
pub(crate) struct LocalName {
    addr: std::net::SocketAddr,
    read: Arc<NetName>,
    write: Arc<NetName>,
}

/// The operation of a stream error named by its local address.
#[derive(Clone, Copy, Debug)]
pub(crate) enum StreamOp {
    Read,
    Write,
}

impl StreamOp {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Read => "read",
            Self::Write => "write",
        }
    }
}

impl NetShared {
    /// The 1-based index of `addr` in [`local_names`](Self::local_names), added if new, for a
    /// listener bound to it; 0 (unknown) for a wildcard address, whose streams each have their
    /// own, or when the table is full.
    pub(crate) fn intern_local_name(&mut self, addr: std::net::SocketAddr) -> u16 {
        if addr.ip().is_unspecified() {
            return 0;
        }
        let at = match self.local_names.iter().position(|a| a.addr == addr) {
            Some(at) => at,
            None if self.local_names.len() < usize::from(u16::MAX) => {
                let name = |op: StreamOp| NetName::sock(op.as_str(), Some(SockName::Ip(addr)));
                self.local_names.push(LocalName {
                    addr,
                    read: name(StreamOp::Read),
                    write: name(StreamOp::Write),
                });
                self.local_names.len() - 1
            }
            None => return 0,
        };
        u16::try_from(at + 1).unwrap_or(0)
    }

    /// The address a stream's `local_name` index stands for (`None` for 0).
    #[cfg(test)]
    pub(crate) fn local_name(&self, index: u16) -> Option<std::net::SocketAddr> {
        self.local_entry(index).map(|n| n.addr)
    }

    /// The shared name of an `op` error on a stream whose `local_name` is `index` (`None` for
    /// 0).
    pub(crate) fn local_error_name(&self, index: u16, op: StreamOp) -> Option<&Arc<NetName>> {
        let entry = self.local_entry(index)?;
        Some(match op {
            StreamOp::Read => &entry.read,
            StreamOp::Write => &entry.write,
        })
    }

    fn local_entry(&self, index: u16) -> Option<&LocalName> {
        let at = usize::from(index).checked_sub(1)?;
        self.local_names.get(at)
    }
}

/// How many closed streams' boxes a loop keeps for reuse (24 KiB at most): enough for a server
/// turning over a few hundred connections at once (one `malloc` and one `free` per connection
/// saved; 64 left a pound of 100 concurrent connections allocating for every third one).
pub(crate) const SPARE_STREAMS: usize = 256;

#[cfg(test)]
mod local_names {
    use super::NetShared;

    #[test]
    fn listener_addresses_are_interned_and_wildcards_are_not() {
        let mut net = NetShared::default();
        let a = "127.0.0.1:8000".parse().unwrap();
        let b = "[::1]:8000".parse().unwrap();
        assert_eq!(net.intern_local_name("0.0.0.0:8000".parse().unwrap()), 0);
        assert_eq!(net.intern_local_name("[::]:8000".parse().unwrap()), 0);
        let ia = net.intern_local_name(a);
        let ib = net.intern_local_name(b);
        assert_eq!((ia, ib), (1, 2));
        // A listener bound again to the same address shares its entry.
        assert_eq!(net.intern_local_name(a), 1);
        assert_eq!(net.local_names.len(), 2);
        assert_eq!(net.local_name(ia), Some(a));
        assert_eq!(net.local_name(ib), Some(b));
        assert_eq!(net.local_name(0), None);
        assert_eq!(net.local_name(3), None);
        // Their streams' errors share one name per operation.
        let read = net.local_error_name(ia, super::StreamOp::Read).unwrap();
        let write = net.local_error_name(ia, super::StreamOp::Write).unwrap();
        assert_eq!((read.op(), read.addr()), ("read", "127.0.0.1:8000"));
        assert_eq!((write.op(), write.addr()), ("write", "127.0.0.1:8000"));
        assert!(net.local_error_name(0, super::StreamOp::Read).is_none());
    }
}
