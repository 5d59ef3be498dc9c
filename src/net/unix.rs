//! Unix-domain stream sockets: [`UnixStream`] and [`UnixListener`], the TCP API on paths. On
//! Windows the same ids and calls are named pipes (`net/named_pipe.rs`).

#[cfg(unix)]
use std::os::unix::net::SocketAddr;
#[cfg(unix)]
use std::panic::Location;
#[cfg(unix)]
use std::path::Path;

#[cfg(unix)]
use socket2::{Domain, SockAddr, Socket, Type};

#[cfg(unix)]
use super::listener::ListenerState;
#[cfg(unix)]
use super::socket::{ListenSocket, StreamSocket, start_connect};
use super::stream::api::stream_ops;
#[cfg(unix)]
use crate::error::{Error, Result};
#[cfg(unix)]
use crate::event_loop::Loop;
#[cfg(unix)]
use crate::handle::HandleKind;
use crate::handle::handle_type;

handle_type! {
    /// A Unix-domain stream: from [`Loop::unix_connect`](crate::Loop::unix_connect),
    /// [`Loop::unix_pair`](crate::Loop::unix_pair) (Unix only), or accepted by a
    /// [`UnixListener`]. Same reads, writes, backpressure and shutdown as
    /// [`TcpStream`](crate::net::TcpStream).
    ///
    /// **On Windows it is a named pipe** (`\\.\pipe\NAME`, as in libuv and Node), with
    /// these differences: a write's callback runs once the pipe has taken its bytes (mio
    /// copies them into its buffer and hands them to the pipe; the next write waits until
    /// that one is done), not once the peer read them; `shutdown` completes once every queued
    /// write has been handed to the pipe, but a named pipe has no half-close, so the peer sees
    /// EOF only when this end is closed (and [`end`](Self::end) closes right after its
    /// shutdown instead of waiting for the peer's EOF); socket options and addresses
    /// (`set_send_buffer_size`, `local_addr`...) do not exist (`Unsupported`, or not
    /// compiled). Errors name the pipe. Closing gives the pipe back to mio, which closes its
    /// handle once the pipe's pending read and write have completed (seen at the loop's next
    /// poll): the peer sees EOF then, after every byte handed to the pipe.
    UnixStream
}
stream_ops!(UnixStream);

handle_type! {
    /// A listening Unix-domain socket bound to a path
    /// ([`Loop::unix_listen`](crate::Loop::unix_listen)). The socket file is not removed on
    /// close; remove it yourself.
    ///
    /// **On Windows it is a named-pipe server**: one pipe instance waits for a client; each
    /// client gets its own instance, and a new one is made for the next client as each is
    /// accepted. Nothing is left behind on close.
    UnixListener
}

#[cfg(unix)]
/// # I/O: Unix-domain sockets
impl Loop {
    /// Connects to the socket at `path` without blocking; `cb` runs once, in the pending phase,
    /// with `Ok` or the error (no such file, refused...: an [`Error::Net`] naming the path).
    /// On error the stream stays open until
    /// you close it.
    ///
    /// On Windows `path` is a named pipe's name, `\\.\pipe\NAME` (anything else is an
    /// `InvalidInput` error here); when every instance of the pipe is busy the open is tried
    /// again for up to 30 s (libuv waits as long), then fails with `ERROR_PIPE_BUSY`.
    #[track_caller]
    pub fn unix_connect(
        &mut self,
        path: impl AsRef<Path>,
        cb: impl FnOnce(&mut Self, UnixStream, Result<()>) + 'static,
    ) -> Result<UnixStream> {
        let site = Location::caller();
        let shown = path.as_ref().display().to_string();
        let named = |e| Error::named(e, "connect", &shown);
        let (socket, early) =
            start_connect(&SockAddr::unix(path.as_ref()).map_err(named)?).map_err(named)?;
        let socket = StreamSocket::Unix(mio::net::UnixStream::from_std(socket.into()));
        let id = self.stream_connect(
            HandleKind::UnixStream,
            socket,
            early,
            site,
            move |lp, id, r| {
                cb(
                    lp,
                    UnixStream(id),
                    r.map_err(|e| Error::named(e, "connect", shown)),
                )
            },
        )?;
        Ok(UnixStream(id))
    }

    /// A connected pair of Unix streams (`socketpair`), e.g. for tests or talking to a child.
    #[track_caller]
    pub fn unix_pair(&mut self) -> Result<(UnixStream, UnixStream)> {
        let site = Location::caller();
        let (a, b) = mio::net::UnixStream::pair()?;
        let a = self.stream_insert(HandleKind::UnixStream, StreamSocket::Unix(a), true, site, 0)?;
        match self.stream_insert(HandleKind::UnixStream, StreamSocket::Unix(b), true, site, 0) {
            Ok(b) => Ok((UnixStream(a), UnixStream(b))),
            Err(e) => {
                // Do not leak the first half: close it at once, with no callback.
                let _ = self.close_handle(a, None, site);
                Err(e)
            }
        }
    }

    /// Listens on a new socket file at `path` (backlog 511); `cb` gets each accepted stream,
    /// or an accept error. Fails with `EADDRINUSE` if the file exists.
    ///
    /// On Windows `path` is a named pipe's name, `\\.\pipe\NAME`: see [`UnixListener`].
    /// A name that already has a server fails with `PermissionDenied` (`ERROR_ACCESS_DENIED`).
    #[track_caller]
    pub fn unix_listen(
        &mut self,
        path: impl AsRef<Path>,
        mut cb: impl FnMut(&mut Self, UnixListener, Result<UnixStream>) + 'static,
    ) -> Result<UnixListener> {
        let site = Location::caller();
        let path = path.as_ref();
        let named = |e| Error::named(e, "listen", path.display());
        let socket = Socket::new(Domain::UNIX, Type::STREAM, None).map_err(named)?;
        socket
            .bind(&SockAddr::unix(path).map_err(named)?)
            .map_err(named)?;
        socket.listen(511).map_err(named)?;
        socket.set_nonblocking(true).map_err(named)?;
        let socket = ListenSocket::Unix(mio::net::UnixListener::from_std(socket.into()));
        let state = ListenerState::new(socket, HandleKind::UnixStream);
        let id = self.listener_insert(
            HandleKind::UnixListener,
            state,
            Box::new(move |lp, id, conn| cb(lp, UnixListener(id), conn.map(UnixStream))),
            site,
        )?;
        Ok(UnixListener(id))
    }
}

#[cfg(unix)]
impl UnixListener {
    /// The bound address.
    pub fn local_addr(self, lp: &Loop) -> Result<SocketAddr> {
        unix_addr(lp.listener_sock_addr(self.0)?)
    }
}

#[cfg(unix)]
impl UnixStream {
    /// The local address (unnamed for a client or a pair).
    pub fn local_addr(self, lp: &Loop) -> Result<SocketAddr> {
        unix_addr(lp.stream_socket(self.0)?.sock_ref()?.local_addr()?)
    }

    /// The peer's address.
    pub fn peer_addr(self, lp: &Loop) -> Result<SocketAddr> {
        unix_addr(lp.stream_socket(self.0)?.sock_ref()?.peer_addr()?)
    }
}

#[cfg(unix)]
fn unix_addr(addr: SockAddr) -> Result<SocketAddr> {
    // Unnamed and abstract addresses come back unnamed.
    Ok(SocketAddr::from_pathname(
        addr.as_pathname().unwrap_or(Path::new("")),
    )?)
}
