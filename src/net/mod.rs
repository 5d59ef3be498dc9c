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
mod socket;
pub(crate) mod stream;
mod tcp;
pub(crate) mod udp;
#[cfg(unix)]
mod unix;

pub use addr::{Addrs, ToAddrs};
pub(crate) use listener::{ListenerState, pathname};
#[cfg(target_os = "linux")] // for pipes and ttys
pub(crate) use socket::StreamSocket;
pub use stream::api::ReadEvent;
pub use stream::write_queue::WriteBuf;
pub(crate) use stream::{Done, StreamState};
pub use tcp::{TcpListenOptions, TcpListener, TcpStream};
pub use udp::{UdpBindOptions, UdpSocket};
#[cfg(unix)]
pub use unix::{UnixListener, UnixStream};

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
}

/// How many closed streams' boxes a loop keeps for reuse (a few KiB).
pub(crate) const SPARE_STREAMS: usize = 64;
