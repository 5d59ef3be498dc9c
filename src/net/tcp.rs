//! TCP: [`TcpStream`], [`TcpListener`] and [`TcpListenOptions`].

use std::io;
use std::net::SocketAddr;
use std::panic::Location;
use std::sync::Arc;
use std::time::Duration;

use socket2::{Domain, SockAddr, Socket, TcpKeepalive, Type};

use super::listener::ListenerState;
use super::socket::{ListenSocket, StreamSocket, start_connect};
use super::stream::api::stream_ops;
use crate::error::{Error, Result};
use crate::event_loop::Loop;
use crate::handle::{HandleKind, handle_type};

handle_type! {
    /// A TCP connection: from [`Loop::tcp_connect`] or accepted by a [`TcpListener`].
    ///
    /// Reads are lent from the loop's 64 KiB buffer; writes take owned or `'static` bytes and
    /// complete exactly once, in the pending phase (or canceled at close). Writes never raise
    /// `SIGPIPE`.
    ///
    /// A client and an echo server on one loop: the client says hello, reads the echo, and
    /// closes; the server closes when it sees EOF. `run` returns once both are closed.
    ///
    /// ```
    /// use evloop::{Handle, Loop};
    /// use evloop::net::ReadEvent;
    ///
    /// # fn main() -> Result<(), evloop::Error> {
    /// let mut lp = Loop::new()?;
    /// let server = lp.tcp_listen("127.0.0.1:0".parse().unwrap(), |lp, server, conn| {
    ///     let Ok(stream) = conn else { return };
    ///     server.close(lp, |_| {}).expect("open listener"); // one client is enough
    ///     stream
    ///         .read_start(lp, |lp, stream, ev| match ev {
    ///             ReadEvent::Data(bytes) => {
    ///                 // `bytes` is lent from the loop's buffer: copy what you keep.
    ///                 let _ = stream.write(lp, bytes.to_vec(), |_, _| {});
    ///             }
    ///             ReadEvent::Eof | ReadEvent::Error(_) => {
    ///                 let _ = stream.close(lp, |_| {});
    ///             }
    ///         })
    ///         .expect("open stream");
    /// })?;
    /// let addr = server.local_addr(&lp)?;
    ///
    /// lp.tcp_connect(addr, |lp, stream, connected| {
    ///     if let Err(e) = connected {
    ///         eprintln!("connect: {e}"); // refused, unreachable...: the stream is still open
    ///         let _ = stream.close(lp, |_| {});
    ///         return;
    ///     }
    ///     // `'static` bytes are not copied; the callback runs later, in the pending phase.
    ///     let _ = stream.write(lp, b"hello", |_, written| assert!(written.is_ok()));
    ///     let _ = stream.read_start(lp, |lp, stream, ev| {
    ///         if let ReadEvent::Data(bytes) = ev {
    ///             println!("echo: {}", String::from_utf8_lossy(bytes));
    ///         }
    ///         let _ = stream.close(lp, |_| println!("client closed"));
    ///     });
    /// })?;
    /// lp.run()?;
    /// assert!(lp.active_handles().is_empty());
    /// # Ok(())
    /// # }
    /// ```
    TcpStream
}
stream_ops!(TcpStream);

handle_type! {
    /// A listening TCP socket: [`Loop::tcp_listen`] hands each accepted [`TcpStream`] (or an
    /// accept error) to its connection callback.
    ///
    /// Accepts run in batches of 32 per wake-up. When the process is out of file descriptors
    /// (`EMFILE`/`ENFILE`) the listener closes a reserve fd, accepts and drops the waiting
    /// connections, reopens the reserve, and reports the error to the callback: the loop does
    /// not spin, and serves again once descriptors are free.
    ///
    /// ```no_run
    /// use evloop::{Handle, Loop};
    /// use evloop::net::ReadEvent;
    ///
    /// # fn main() -> Result<(), evloop::Error> {
    /// let mut lp = Loop::new()?;
    /// let server = lp.tcp_listen("127.0.0.1:7000".parse().unwrap(), |lp, _server, conn| {
    ///     let Ok(stream) = conn else { return }; // e.g. EMFILE: already handled, just told
    ///     let _ = stream.read_start(lp, |lp, stream, ev| match ev {
    ///         ReadEvent::Data(bytes) => {
    ///             let _ = stream.write(lp, bytes.to_vec(), |_, _| {});
    ///         }
    ///         ReadEvent::Eof | ReadEvent::Error(_) => {
    ///             let _ = stream.close(lp, |_| {});
    ///         }
    ///     });
    /// })?;
    /// println!("echoing on {}", server.local_addr(&lp)?);
    /// lp.run()?;
    /// # Ok(())
    /// # }
    /// ```
    TcpListener
}

/// How [`Loop::tcp_listen_with`] sets up its socket. Start from [`TcpListenOptions::new`].
#[derive(Clone, Debug)]
pub struct TcpListenOptions {
    backlog: i32,
    reuse_address: bool,
    reuse_port: bool,
    only_v6: Option<bool>,
    shared: Option<Arc<std::net::TcpListener>>,
}

impl Default for TcpListenOptions {
    fn default() -> Self {
        Self::new()
    }
}

impl TcpListenOptions {
    /// Backlog 511 (Node's default), `SO_REUSEADDR` on (as libuv), `SO_REUSEPORT` off, and the
    /// OS default for `IPV6_V6ONLY`.
    pub fn new() -> Self {
        Self {
            backlog: 511,
            reuse_address: true,
            reuse_port: false,
            only_v6: None,
            shared: None,
        }
    }

    /// The accept backlog.
    pub fn backlog(mut self, backlog: i32) -> Self {
        self.backlog = backlog;
        self
    }

    /// `SO_REUSEADDR`: rebind a port with connections in `TIME_WAIT`. On Windows that is the
    /// default and `SO_REUSEADDR` means something else (binding a port another socket listens
    /// on), so the socket option is never set there and this setting has nothing to change.
    pub fn reuse_address(mut self, on: bool) -> Self {
        self.reuse_address = on;
        self
    }

    /// `SO_REUSEPORT`: several sockets (one per loop thread) share the port; the kernel
    /// balances connections between them. On Windows, which has no such option, listening with
    /// it on fails with an `Unsupported` error.
    pub fn reuse_port(mut self, on: bool) -> Self {
        self.reuse_port = on;
        self
    }

    /// `IPV6_V6ONLY` for an IPv6 address: `true` accepts IPv6 only, `false` IPv4-mapped too.
    /// `true` with an IPv4 address makes the listen fail with `InvalidInput` (libuv's
    /// `EINVAL`) rather than being ignored.
    pub fn only_v6(mut self, on: bool) -> Self {
        self.only_v6 = Some(on);
        self
    }

    /// Listens on a copy of `listener` (its socket duplicated, `try_clone`) instead of a new
    /// socket, so that several loops accept from one listening socket: the OS hands each
    /// connection to whichever loop accepts it first. This is how loops share a port where
    /// `SO_REUSEPORT` is missing (Windows); it works on Unix too. `addr` must be `listener`'s
    /// own address (else `InvalidInput`); the other options do not apply, the socket already
    /// listens. Its blocking mode is switched to non-blocking for every copy.
    pub fn shared(mut self, listener: &Arc<std::net::TcpListener>) -> Self {
        self.shared = Some(Arc::clone(listener));
        self
    }

    fn bind(&self, addr: SocketAddr) -> io::Result<Socket> {
        if let Some(listener) = &self.shared {
            let own = listener.local_addr()?;
            if own != addr {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!("a shared listener listens on {own}, not on {addr}"),
                ));
            }
            let copy = listener.try_clone()?;
            copy.set_nonblocking(true)?;
            return Ok(Socket::from(copy));
        }
        if self.only_v6 == Some(true) && addr.is_ipv4() {
            return Err(super::socket::only_v6_on_ipv4());
        }
        let socket = Socket::new(Domain::for_address(addr), Type::STREAM, None)?;
        // Windows' `SO_REUSEADDR` lets a second socket bind a port in use (port stealing);
        // rebinding over `TIME_WAIT`, what the option asks for, is Windows' default without
        // it. So it is never set there, as libuv does.
        #[cfg(unix)]
        socket.set_reuse_address(self.reuse_address)?;
        if self.reuse_port {
            crate::net::socket::set_reuse_port(&socket)?;
        }
        if let (Some(v6only), SocketAddr::V6(_)) = (self.only_v6, addr) {
            socket.set_only_v6(v6only)?;
        }
        socket.bind(&addr.into())?;
        socket.listen(self.backlog)?;
        socket.set_nonblocking(true)?;
        Ok(socket)
    }
}

/// # I/O: TCP
impl Loop {
    /// Connects to `addr` without blocking. `cb` runs once, in the pending phase, with `Ok` or
    /// the error (refused, unreachable, timed out...: an [`Error::Net`] naming the address,
    /// `connect 127.0.0.1:7000: Connection refused (os error 111)`); on error the stream stays
    /// open until you close it. For a host name, or several addresses tried in order, see
    /// [`TcpStream::connect`]. Writes made before the connect completes are queued and sent after it.
    ///
    /// Errors here only when no socket can be made (e.g. `EMFILE`).
    #[track_caller]
    pub fn tcp_connect(
        &mut self,
        addr: SocketAddr,
        cb: impl FnOnce(&mut Self, TcpStream, Result<()>) + 'static,
    ) -> Result<TcpStream> {
        let site = Location::caller();
        let (socket, early) =
            start_connect(&SockAddr::from(addr)).map_err(|e| Error::named(e, "connect", addr))?;
        let socket = StreamSocket::Tcp(mio::net::TcpStream::from_std(socket.into()));
        let id = self.stream_connect(
            HandleKind::TcpStream,
            socket,
            early,
            site,
            move |lp, id, r| {
                cb(
                    lp,
                    TcpStream(id),
                    r.map_err(|e| Error::named(e, "connect", addr)),
                )
            },
        )?;
        Ok(TcpStream(id))
    }

    /// Listens on `addr` with [`TcpListenOptions::new`]. `EADDRINUSE` is reported here, as an
    /// [`Error::Net`] naming the address (`listen 127.0.0.1:8080: Address already in use`).
    /// To listen on `"HOST:PORT"`, see [`TcpListener::bind`].
    #[track_caller]
    pub fn tcp_listen(
        &mut self,
        addr: SocketAddr,
        cb: impl FnMut(&mut Self, TcpListener, Result<TcpStream>) + 'static,
    ) -> Result<TcpListener> {
        self.tcp_listen_with(addr, &TcpListenOptions::new(), cb)
    }

    /// Listens on `addr` with `options`; `cb` gets each accepted stream, or an accept error.
    #[track_caller]
    pub fn tcp_listen_with(
        &mut self,
        addr: SocketAddr,
        options: &TcpListenOptions,
        mut cb: impl FnMut(&mut Self, TcpListener, Result<TcpStream>) + 'static,
    ) -> Result<TcpListener> {
        let site = Location::caller();
        let socket = options
            .bind(addr)
            .map_err(|e| Error::named(e, "listen", addr))?;
        let bound = socket.local_addr().ok().and_then(|a| a.as_socket());
        let socket = ListenSocket::Tcp(mio::net::TcpListener::from_std(socket.into()));
        let mut state = ListenerState::new(socket, HandleKind::TcpStream);
        if let Some(bound) = bound {
            state.local_name = self.net_mut().intern_local_name(bound);
        }
        let id = self.listener_insert(
            HandleKind::TcpListener,
            state,
            Box::new(move |lp, id, conn| cb(lp, TcpListener(id), conn.map(TcpStream))),
            site,
        )?;
        Ok(TcpListener(id))
    }
}

impl TcpListener {
    /// The bound address (with the real port when bound to port 0).
    pub fn local_addr(self, lp: &Loop) -> Result<SocketAddr> {
        inet(lp.listener_sock_addr(self.0)?)
    }
}

impl TcpStream {
    /// Turns Nagle's algorithm off (`true`) or on.
    pub fn set_nodelay(self, lp: &mut Loop, nodelay: bool) -> Result<()> {
        Ok(lp
            .stream_socket(self.0)?
            .sock_ref()
            .set_tcp_nodelay(nodelay)?)
    }

    /// Sets `TCP_NOTSENT_LOWAT` (Linux): the kernel keeps at most `bytes` not yet sent in the
    /// socket's buffer, and reports the socket writable only below that. Writes beyond it
    /// stay in this stream's write queue (counted by
    /// [`write_queue_size`](Self::write_queue_size), under its high-water mark) instead of
    /// the kernel's memory, and the segments leave from the loop's own writes rather than in
    /// bursts driven by the peer's acknowledgements. Bytes in flight are not limited, so the
    /// congestion window is not either. The kernel's default is unlimited
    /// (`net.ipv4.tcp_notsent_lowat`).
    #[cfg(target_os = "linux")]
    pub fn set_notsent_lowat(self, lp: &mut Loop, bytes: u32) -> Result<()> {
        Ok(lp
            .stream_socket(self.0)?
            .sock_ref()
            .set_tcp_notsent_lowat(bytes)?)
    }

    /// The socket's `TCP_NOTSENT_LOWAT` (Linux): see
    /// [`set_notsent_lowat`](Self::set_notsent_lowat).
    #[cfg(target_os = "linux")]
    pub fn notsent_lowat(self, lp: &Loop) -> Result<u32> {
        Ok(lp.stream_socket(self.0)?.sock_ref().tcp_notsent_lowat()?)
    }

    /// Turns TCP keepalive on, probing after `idle` without traffic, or off (`None`).
    pub fn set_keepalive(self, lp: &mut Loop, idle: Option<Duration>) -> Result<()> {
        let sock = lp.stream_socket(self.0)?.sock_ref();
        match idle {
            Some(idle) => sock.set_tcp_keepalive(&TcpKeepalive::new().with_time(idle))?,
            None => sock.set_keepalive(false)?,
        }
        Ok(())
    }

    /// The local address.
    pub fn local_addr(self, lp: &Loop) -> Result<SocketAddr> {
        inet(lp.stream_socket(self.0)?.sock_ref().local_addr()?)
    }

    /// The peer's address (`ENOTCONN` before the connect completes).
    pub fn peer_addr(self, lp: &Loop) -> Result<SocketAddr> {
        inet(lp.stream_socket(self.0)?.sock_ref().peer_addr()?)
    }

    /// Closes the connection with a RST instead of a FIN (`SO_LINGER` 0): unsent data is
    /// dropped. Queued writes are canceled as with [`close`](crate::Handle::close).
    ///
    /// Errors ([`on_close`](crate::Handle::close) is then dropped, never called): a stale or
    /// closing handle, or [`Error::InvalidState`] after [`shutdown`](TcpStream::shutdown) was
    /// asked for — the FIN is already on its way, so a RST would misstate what the peer sees
    /// (libuv's `EINVAL`); close it with [`close`](crate::Handle::close) instead.
    #[track_caller]
    pub fn close_reset(
        self,
        lp: &mut Loop,
        on_close: impl FnOnce(&mut Loop) + 'static,
    ) -> Result<()> {
        let s = super::stream::stream_open(lp.handles_mut(), self.0)?;
        if !s.shutdown_open() {
            return Err(Error::InvalidState("close_reset after shutdown"));
        }
        s.reset_on_close = true;
        lp.close_handle(self.0, Some(Box::new(on_close)), Location::caller())
    }
}

fn inet(addr: SockAddr) -> Result<SocketAddr> {
    addr.as_socket()
        .ok_or(Error::InvalidState("not an IP socket address"))
}
