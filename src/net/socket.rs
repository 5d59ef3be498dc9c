//! The mio sources behind streams and listeners, as enums over TCP and Unix, with the few
//! syscalls the shared core needs (send without `SIGPIPE`, shutdown, connect, accept).

use crate::sys::errno;
use std::io::{self, IoSlice, Read};
use std::net::Shutdown;

use mio::event::Source;
use socket2::{Domain, SockAddr, SockRef, Socket, Type};

/// `send` flags: `MSG_NOSIGNAL` makes a write to a reset peer fail with `EPIPE` instead of
/// killing the process with `SIGPIPE` (std ignores SIGPIPE in binaries, but not for a library's
/// users, and libuv leaves it to the application).
/// FreeBSD has it too; macOS has `SO_NOSIGPIPE` instead (see `set_nosigpipe`); Windows has no
/// signals.
#[cfg(any(target_os = "linux", target_os = "android", target_os = "freebsd"))]
const SEND_FLAGS: libc::c_int = libc::MSG_NOSIGNAL;
#[cfg(not(any(target_os = "linux", target_os = "android", target_os = "freebsd")))]
const SEND_FLAGS: libc::c_int = 0;

/// A connected (or connecting) stream socket, or a pipe / terminal fd on the same core.
pub(crate) enum StreamSocket {
    Tcp(mio::net::TcpStream),
    #[cfg(unix)]
    Unix(mio::net::UnixStream),
    #[cfg(target_os = "linux")]
    Pipe(crate::process::pipe::PipeFd),
    /// A named pipe (Windows' stand-in for a Unix-domain stream): see `net/named_pipe.rs`.
    /// Boxed, so that it does not make every stream's slot larger (it holds its name too).
    #[cfg(windows)]
    NamedPipe(Box<super::named_pipe::PipeStream>),
}

impl StreamSocket {
    /// The socket, for socket options and addresses; a named pipe has none (`Unsupported`).
    pub(crate) fn sock_ref(&self) -> io::Result<SockRef<'_>> {
        match self {
            Self::Tcp(s) => Ok(SockRef::from(s)),
            #[cfg(unix)]
            Self::Unix(s) => Ok(SockRef::from(s)),
            // Socket options on a pipe fail with `ENOTSOCK`, which is the right answer.
            #[cfg(target_os = "linux")]
            Self::Pipe(p) => Ok(SockRef::from(p)),
            #[cfg(windows)]
            Self::NamedPipe(p) => Err(p.no_socket()),
        }
    }

    /// Whether reads may find data that came before any readiness event: a named pipe handed
    /// from its listener to its stream may have completed a read while it still answered to
    /// the listener's token, and mio announces a completed read only once.
    pub(crate) fn starts_readable(&self) -> bool {
        #[cfg(windows)]
        if let Self::NamedPipe(_) = self {
            return true;
        }
        false
    }

    /// Whether the write side can be shut on its own (a FIN the peer reads as EOF). A named
    /// pipe has no half-close: the peer sees EOF only when the handle closes.
    pub(crate) fn half_closes(&self) -> bool {
        #[cfg(windows)]
        if let Self::NamedPipe(_) = self {
            return false;
        }
        true
    }

    pub(crate) fn source(&mut self) -> &mut dyn Source {
        match self {
            Self::Tcp(s) => s,
            #[cfg(unix)]
            Self::Unix(s) => s,
            #[cfg(target_os = "linux")]
            Self::Pipe(p) => p,
            #[cfg(windows)]
            Self::NamedPipe(p) => p.source(),
        }
    }

    pub(crate) fn read(&self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Self::Tcp(s) => (&*s).read(buf),
            #[cfg(unix)]
            Self::Unix(s) => (&*s).read(buf),
            #[cfg(target_os = "linux")]
            Self::Pipe(p) => p.read(buf),
            #[cfg(windows)]
            Self::NamedPipe(p) => p.read(buf),
        }
    }

    /// Runs a socket2 call on the socket through mio's `try_io`: on Windows mio re-arms
    /// readiness only when a call made through it reports `WouldBlock`, so a bare socket2 send
    /// that would block would leave the stream waiting for a writable event that never comes.
    /// On Unix `try_io` just calls `f`.
    fn try_io<T>(&self, f: impl FnOnce(SockRef<'_>) -> io::Result<T>) -> io::Result<T> {
        match self {
            Self::Tcp(s) => s.try_io(|| f(SockRef::from(s))),
            #[cfg(unix)]
            Self::Unix(s) => s.try_io(|| f(SockRef::from(s))),
            #[cfg(target_os = "linux")]
            Self::Pipe(p) => f(SockRef::from(p)),
            #[cfg(windows)]
            Self::NamedPipe(p) => Err(p.no_socket()),
        }
    }

    /// Sends without raising `SIGPIPE`: `sendmsg` for several buffers, `send` for one.
    pub(crate) fn send_vectored(&self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        #[cfg(target_os = "linux")]
        if let Self::Pipe(p) = self {
            return p.write_vectored(bufs);
        }
        #[cfg(windows)]
        if let Self::NamedPipe(p) = self {
            return p.write_vectored(bufs);
        }
        self.try_io(|sock| match bufs {
            [one] => sock.send_with_flags(one, SEND_FLAGS),
            _ => sock.send_vectored_with_flags(bufs, SEND_FLAGS),
        })
    }

    /// Sends one buffer without raising `SIGPIPE`.
    pub(crate) fn send(&self, buf: &[u8]) -> io::Result<usize> {
        #[cfg(target_os = "linux")]
        if let Self::Pipe(p) = self {
            return p.write(buf);
        }
        #[cfg(windows)]
        if let Self::NamedPipe(p) = self {
            return p.write(buf);
        }
        self.try_io(|sock| sock.send_with_flags(buf, SEND_FLAGS))
    }

    pub(crate) fn shutdown_write(&self) -> io::Result<()> {
        #[cfg(target_os = "linux")]
        if let Self::Pipe(p) = self {
            return p.shutdown_write();
        }
        #[cfg(windows)]
        if let Self::NamedPipe(_) = self {
            // No half-close on a named pipe (see `half_closes`): the shutdown is complete once
            // every queued write has been handed to the pipe.
            return Ok(());
        }
        self.sock_ref()?.shutdown(Shutdown::Write)
    }

    pub(crate) fn take_error(&self) -> io::Result<Option<io::Error>> {
        #[cfg(target_os = "linux")]
        if let Self::Pipe(_) = self {
            return Ok(None);
        }
        #[cfg(windows)]
        if let Self::NamedPipe(p) = self {
            return p.take_error();
        }
        self.sock_ref()?.take_error()
    }

    /// The descriptor, borrowed (for `sendfile`).
    #[cfg(unix)]
    pub(crate) fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        use std::os::fd::AsFd;
        match self {
            Self::Tcp(s) => s.as_fd(),
            Self::Unix(s) => s.as_fd(),
            #[cfg(target_os = "linux")]
            Self::Pipe(p) => p.as_fd(),
        }
    }

    /// The descriptor (to hand a copy to a child process).
    #[cfg(target_os = "linux")]
    pub(crate) fn raw_fd(&self) -> std::os::fd::RawFd {
        use std::os::fd::AsRawFd;
        match self {
            Self::Tcp(s) => s.as_raw_fd(),
            Self::Unix(s) => s.as_raw_fd(),
            #[cfg(target_os = "linux")]
            Self::Pipe(p) => p.as_raw_fd(),
        }
    }

    /// `Ok(true)` once connected, `Ok(false)` while the connect is still in progress.
    pub(crate) fn is_connected(&self) -> io::Result<bool> {
        #[cfg(target_os = "linux")]
        if let Self::Pipe(_) = self {
            return Ok(true);
        }
        #[cfg(windows)]
        if let Self::NamedPipe(_) = self {
            // A client end is connected once opened.
            return Ok(true);
        }
        match self.sock_ref()?.peer_addr() {
            Ok(_) => Ok(true),
            Err(e) if e.raw_os_error() == Some(errno::ENOTCONN) => Ok(false),
            Err(e) => Err(e),
        }
    }
}

/// Creates a non-blocking stream socket and starts connecting it to `addr`. The second value
/// is an error the connect reported at once (refused, unreachable...): the socket is still
/// returned so the error can be reported through the connect callback, never synchronously.
pub(crate) fn start_connect(addr: &SockAddr) -> io::Result<(Socket, Option<io::Error>)> {
    let domain = Domain::from(i32::from(addr.family()));
    let socket = Socket::new(domain, Type::STREAM, None)?;
    socket.set_nonblocking(true)?;
    set_nosigpipe(&socket)?;
    let early = match socket.connect(addr) {
        Ok(()) => None,
        Err(e) if errno::connect_in_progress(&e) => None,
        // Anything else is final, `EAGAIN` included: for a Unix socket it means the listener's
        // backlog is full, for TCP that no local port is free (libuv reports both too).
        Err(e) => Some(e),
    };
    Ok((socket, early))
}

/// On Apple platforms there is no `MSG_NOSIGNAL`; the socket option does the same.
#[cfg(any(target_os = "macos", target_os = "ios"))]
pub(crate) fn set_nosigpipe(socket: &Socket) -> io::Result<()> {
    socket.set_nosigpipe(true)
}

#[cfg(not(any(target_os = "macos", target_os = "ios")))]
#[allow(clippy::unnecessary_wraps)]
pub(crate) fn set_nosigpipe(_socket: &Socket) -> io::Result<()> {
    Ok(())
}

/// A listening socket.
pub(crate) enum ListenSocket {
    Tcp(mio::net::TcpListener),
    #[cfg(unix)]
    Unix(mio::net::UnixListener),
    /// A named-pipe server: its one instance waiting for a client.
    #[cfg(windows)]
    NamedPipe(super::named_pipe::PipeServer),
}

impl ListenSocket {
    pub(crate) fn source(&mut self) -> &mut dyn Source {
        match self {
            Self::Tcp(s) => s,
            #[cfg(unix)]
            Self::Unix(s) => s,
            #[cfg(windows)]
            Self::NamedPipe(s) => s.source(),
        }
    }

    /// The socket, for its address; a named pipe has none (`Unsupported`).
    pub(crate) fn sock_ref(&self) -> io::Result<SockRef<'_>> {
        match self {
            Self::Tcp(s) => Ok(SockRef::from(s)),
            #[cfg(unix)]
            Self::Unix(s) => Ok(SockRef::from(s)),
            #[cfg(windows)]
            Self::NamedPipe(s) => Err(s.no_socket()),
        }
    }

    /// Called once the listener is registered: a named-pipe server starts waiting for its
    /// first client (its wait completes on the poller, so it needs the registration first).
    pub(crate) fn registered(&self) -> io::Result<()> {
        #[cfg(windows)]
        if let Self::NamedPipe(s) = self {
            return s.listen();
        }
        Ok(())
    }

    /// What an accept error names: the bound address, or the pipe's name.
    pub(crate) fn shown(&self) -> String {
        #[cfg(windows)]
        if let Self::NamedPipe(s) = self {
            return s.name().to_owned();
        }
        let addr = self.sock_ref().and_then(|s| s.local_addr()).ok();
        crate::error::show_addr(addr.as_ref())
    }

    /// Accepts one connection (non-blocking, close-on-exec). A named-pipe server hands out its
    /// connected instance and puts a new one, registered as the listener `id`, in its place.
    pub(crate) fn accept(
        &mut self,
        io: &mut crate::event_loop::IoRegistry,
        id: crate::handle::HandleId,
    ) -> io::Result<StreamSocket> {
        let socket = match self {
            Self::Tcp(l) => StreamSocket::Tcp(l.accept()?.0),
            #[cfg(unix)]
            Self::Unix(l) => StreamSocket::Unix(l.accept()?.0),
            #[cfg(windows)]
            Self::NamedPipe(s) => return s.accept(io, id),
        };
        let _ = (io, id);
        let sock = socket.sock_ref()?;
        set_nosigpipe(&sock)?;
        Ok(socket)
    }
}

/// `SO_REUSEPORT`. Windows has no such option (its `SO_REUSEADDR` lets another process steal
/// the port, which is not the same), so asking for it there fails with `Unsupported` rather
/// than being silently ignored.
pub(crate) fn set_reuse_port(socket: &Socket) -> io::Result<()> {
    #[cfg(unix)]
    {
        socket.set_reuse_port(true)
    }
    #[cfg(windows)]
    {
        let _ = socket;
        Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "SO_REUSEPORT does not exist on Windows: share one listener between loops instead",
        ))
    }
}

/// The error for `only_v6(true)` with an IPv4 address (libuv answers `EINVAL`).
pub(crate) fn only_v6_on_ipv4() -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidInput,
        "only_v6(true) needs an IPv6 address, got an IPv4 one",
    )
}
