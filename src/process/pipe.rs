//! Pipes (libuv `uv_pipe_t` over a pipe fd): a stream on any pipe (or socket) descriptor, on the
//! same core as TCP — lent reads, the write queue, backpressure, shutdown.

use std::fs::File;
use std::io::{self, IoSlice, Read, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::panic::Location;

use mio::event::Source;
use mio::unix::SourceFd;
use mio::{Interest, Registry, Token};

use crate::error::{Error, Result};
use crate::event_loop::Loop;
use crate::handle::{HandleKind, Site, handle_type};
use crate::net::StreamSocket;
use crate::net::stream::api::stream_ops;
use crate::sys::process as sys;

handle_type! {
    /// A stream over a pipe descriptor: a child's stdio ([`Loop::spawn`] with
    /// [`Stdio::Pipe`](crate::process::Stdio::Pipe)), the process's own stdin / stdout /
    /// stderr ([`Loop::pipe_stdio`]), a new pipe ([`Loop::pipe`]) or any fd you own
    /// ([`Loop::pipe_open`]). Reads, writes, backpressure and shutdown are
    /// [`TcpStream`](crate::net::TcpStream)'s.
    ///
    /// - **Shutdown** of a pipe's write end closes it once the queue is flushed (the reader
    ///   sees EOF); the handle keeps a placeholder fd until it is closed. On a socket fd it is
    ///   `shutdown(SHUT_WR)`.
    /// - **SIGPIPE**: a pipe write cannot pass `MSG_NOSIGNAL`, so the first pipe a loop opens
    ///   sets `SIGPIPE` to ignored if it still has its default action (as Node does; Rust
    ///   binaries ignore it already). A write to a pipe whose reader is gone then fails with
    ///   `EPIPE` (kind `BrokenPipe`). Children get the default action back.
    /// - Regular files and directories cannot be watched by epoll: [`Loop::pipe_open`] refuses
    ///   them with an `InvalidInput` error (read them with [`crate::fs`]).
    /// - Socket options (`set_send_buffer_size`...) fail with `ENOTSOCK` on a real pipe.
    Pipe
}
stream_ops!(Pipe);

/// A pipe descriptor as a mio source.
pub(crate) struct PipeFd {
    file: File,
    socket: bool,
    /// The descriptor was blocking before we took it (a dup of the process's stdio shares the
    /// open file description): make it blocking again when dropped, so the rest of the
    /// program's `println!` does not meet `EAGAIN`.
    restore_blocking: bool,
    /// A terminal whose mode evloop may have changed: restored when dropped.
    tty: bool,
}

impl PipeFd {
    pub(crate) fn new(fd: OwnedFd, restore_blocking: bool) -> io::Result<Self> {
        let raw = fd.as_raw_fd();
        match sys::file_type(raw) {
            Some(libc::S_IFREG | libc::S_IFDIR) => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    "a regular file or directory, which cannot be polled",
                ));
            }
            None => return Err(io::Error::last_os_error()),
            _ => {}
        }
        sys::set_nonblocking(raw, true)?;
        sys::ignore_sigpipe_if_default();
        Ok(Self {
            socket: sys::is_socket(raw),
            file: File::from(fd),
            restore_blocking,
            tty: false,
        })
    }

    pub(crate) fn mark_tty(&mut self) {
        self.tty = true;
    }

    pub(crate) fn read(&self, buf: &mut [u8]) -> io::Result<usize> {
        (&self.file).read(buf)
    }

    pub(crate) fn write(&self, buf: &[u8]) -> io::Result<usize> {
        (&self.file).write(buf)
    }

    pub(crate) fn write_vectored(&self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        (&self.file).write_vectored(bufs)
    }

    pub(crate) fn shutdown_write(&self) -> io::Result<()> {
        if self.socket {
            socket2::SockRef::from(&self.file).shutdown(std::net::Shutdown::Write)
        } else {
            sys::replace_with_devnull(self.file.as_raw_fd())
        }
    }
}

impl Drop for PipeFd {
    fn drop(&mut self) {
        if self.tty {
            crate::process::tty::forget(self.file.as_raw_fd());
        }
        if self.restore_blocking {
            let _ = sys::set_nonblocking(self.file.as_raw_fd(), false);
        }
    }
}

impl AsFd for PipeFd {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.file.as_fd()
    }
}

impl AsRawFd for PipeFd {
    fn as_raw_fd(&self) -> RawFd {
        self.file.as_raw_fd()
    }
}

impl Source for PipeFd {
    fn register(&mut self, r: &Registry, t: Token, i: Interest) -> io::Result<()> {
        SourceFd(&self.file.as_raw_fd()).register(r, t, i)
    }

    fn reregister(&mut self, r: &Registry, t: Token, i: Interest) -> io::Result<()> {
        SourceFd(&self.file.as_raw_fd()).reregister(r, t, i)
    }

    fn deregister(&mut self, r: &Registry) -> io::Result<()> {
        SourceFd(&self.file.as_raw_fd()).deregister(r)
    }
}

/// Which of the process's own standard streams [`Loop::pipe_stdio`] opens.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StdStream {
    /// Fd 0.
    Stdin,
    /// Fd 1.
    Stdout,
    /// Fd 2.
    Stderr,
}

impl Loop {
    /// A stream over `fd`, which the pipe now owns (closed with the handle). The fd is made
    /// non-blocking. Errors: a regular file or directory (`InvalidInput`), or the poller's.
    #[track_caller]
    pub fn pipe_open(&mut self, fd: OwnedFd) -> Result<Pipe> {
        let site = Location::caller();
        let raw = fd.as_raw_fd();
        let fd = PipeFd::new(fd, false)
            .map_err(|e| io::Error::new(e.kind(), format!("pipe: fd {raw}: {e}")))?;
        self.pipe_insert(fd, HandleKind::Pipe, site).map(Pipe)
    }

    /// A new pipe: `(read end, write end)`, both close-on-exec.
    #[track_caller]
    pub fn pipe(&mut self) -> Result<(Pipe, Pipe)> {
        let site = Location::caller();
        let (r, w) = sys::pipe_cloexec()?;
        let r = self.pipe_insert(PipeFd::new(r, false)?, HandleKind::Pipe, site)?;
        let w = match PipeFd::new(w, false)
            .map_err(Error::Io)
            .and_then(|w| self.pipe_insert(w, HandleKind::Pipe, site))
        {
            Ok(w) => w,
            Err(e) => {
                let _ = self.close_handle(r, None, site);
                return Err(e);
            }
        };
        Ok((Pipe(r), Pipe(w)))
    }

    /// A stream over a close-on-exec duplicate of the process's stdin, stdout or stderr. The
    /// shared file description is made non-blocking while the handle lives and blocking again
    /// when it closes (if it was). Fails with `InvalidInput` when the stream is a regular file
    /// (redirected from or to a file): use blocking writes for those.
    #[track_caller]
    pub fn pipe_stdio(&mut self, which: StdStream) -> Result<Pipe> {
        let site = Location::caller();
        let fd = match which {
            StdStream::Stdin => 0,
            StdStream::Stdout => 1,
            StdStream::Stderr => 2,
        };
        let was_blocking = !sys::is_nonblocking(fd)?;
        let dup = sys::dup_cloexec(fd)?;
        let pipe = PipeFd::new(dup, was_blocking).map_err(|e| {
            std::io::Error::new(e.kind(), format!("{which:?} (fd {fd}): {e}").to_lowercase())
        })?;
        self.pipe_insert(pipe, HandleKind::Pipe, site).map(Pipe)
    }

    pub(crate) fn pipe_insert(
        &mut self,
        fd: PipeFd,
        kind: HandleKind,
        site: Site,
    ) -> Result<crate::handle::HandleId> {
        self.stream_insert(kind, StreamSocket::Pipe(fd), true, site, 0)
    }
}

impl Pipe {
    /// The pipe's descriptor (still owned by the handle).
    pub fn raw_fd(self, lp: &Loop) -> Result<RawFd> {
        Ok(lp.stream_socket(self.0)?.raw_fd())
    }
}
