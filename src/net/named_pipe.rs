//! Windows named pipes behind the Unix-domain API: on Windows, [`Loop::unix_listen`] and
//! [`Loop::unix_connect`] take a pipe name (`\\.\pipe\NAME`) and give the same
//! [`UnixListener`] and [`UnixStream`] ids, on the same stream core (libuv's `uv_pipe_t` and
//! Node's `net` do the same: one API, a socket file on Unix, a named pipe on Windows).
//!
//! mio drives the overlapped I/O and turns it into readiness: a write is copied into mio's
//! buffer and handed to the pipe (so the write callback runs once the pipe has the bytes, not
//! once the peer read them) and the next write waits (`WouldBlock`) until that one is done; a
//! read takes bytes from mio's buffer, filled by an overlapped read. The stream core's Windows
//! path (read until `WouldBlock`) is what mio needs.
//!
//! Shutdown: a named pipe has no half-close, so `shutdown` completes once every queued write
//! has been handed to the pipe, and the peer sees EOF only when this end closes. (libuv waits
//! in a thread for the peer to have read everything, `FlushFileBuffers`, and then, once 50 ms
//! pass with no data coming in, closes the pipe and reports EOF; evloop closes only when told
//! to, and reports EOF only when the peer's end is closed.)
//!
//! A listener keeps one pipe instance waiting for a client (`ConnectNamedPipe`); when a client
//! comes, that instance becomes the accepted stream and a new instance takes its place (libuv
//! keeps four waiting; a client that finds none busy-waits below). A client opens the name;
//! when every instance is taken (`ERROR_PIPE_BUSY`) it tries again, 1 ms later and then at
//! doubling intervals up to 32 ms, for 30 s (libuv's `WaitNamedPipe` timeout), then fails.

use std::ffi::OsStr;
use std::io::{self, IoSlice, Read, Write};
use std::panic::Location;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use mio::event::Source;
use mio::windows::NamedPipe;

use super::listener::ListenerState;
use super::socket::{ListenSocket, StreamSocket};
use super::unix::{UnixListener, UnixStream};
use crate::error::{Error, Result};
use crate::event_loop::{IoRegistry, Loop};
use crate::handle::{Handle, HandleId, HandleKind, Site};
use crate::sys::named_pipe as sys;

/// How long a client waits for a free instance in all (libuv's `WaitNamedPipe` timeout).
const BUSY_TIMEOUT: Duration = Duration::from_secs(30);
/// The first retry after `ERROR_PIPE_BUSY`, doubled each time up to [`BUSY_RETRY_MAX`].
const BUSY_RETRY_FIRST: Duration = Duration::from_millis(1);
const BUSY_RETRY_MAX: Duration = Duration::from_millis(32);
/// Writes of several buffers are gathered into one pipe write up to this size (each pipe
/// write is a round trip through the completion port before the next may start).
const GATHER: usize = 64 * 1024;

/// A connected named pipe (either end) and its name, which its errors carry.
pub(crate) struct PipeStream {
    pipe: NamedPipe,
    name: Arc<str>,
}

impl PipeStream {
    pub(crate) fn source(&mut self) -> &mut dyn Source {
        &mut self.pipe
    }

    pub(crate) fn read(&self, buf: &mut [u8]) -> io::Result<usize> {
        (&self.pipe).read(buf)
    }

    pub(crate) fn write(&self, buf: &[u8]) -> io::Result<usize> {
        (&self.pipe).write(buf)
    }

    /// One pipe write: the first buffer if it is large, else the buffers gathered up to
    /// [`GATHER`] bytes (mio copies a write into its own buffer either way).
    pub(crate) fn write_vectored(&self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        let mut rest = bufs.iter().filter(|b| !b.is_empty());
        let Some(first) = rest.next() else {
            return Ok(0);
        };
        let total: usize = bufs.iter().map(|b| b.len()).sum();
        if first.len() >= GATHER || total == first.len() {
            return self.write(first);
        }
        let mut gathered = Vec::with_capacity(total.min(GATHER));
        gathered.extend_from_slice(first);
        for b in rest {
            let room = GATHER - gathered.len();
            if room == 0 {
                break;
            }
            gathered.extend_from_slice(&b[..b.len().min(room)]);
        }
        self.write(&gathered)
    }

    pub(crate) fn take_error(&self) -> io::Result<Option<io::Error>> {
        self.pipe.take_error()
    }

    pub(crate) fn name_arc(&self) -> Arc<str> {
        Arc::clone(&self.name)
    }

    pub(crate) fn no_socket(&self) -> io::Error {
        no_socket(&self.name)
    }
}

fn no_socket(name: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::Unsupported,
        format!("{name} is a named pipe: it has no socket options or socket addresses"),
    )
}

/// A named-pipe server: the name and the one instance waiting for a client, registered under
/// the listener's token.
pub(crate) struct PipeServer {
    name: Arc<str>,
    wide: Vec<u16>,
    instance: NamedPipe,
}

impl PipeServer {
    /// Creates the first instance of `name`: fails if the name is taken.
    fn bind(name: Arc<str>) -> io::Result<Self> {
        let wide = sys::wide_name(OsStr::new(&*name))?;
        let instance = sys::create_instance(&wide, true)?;
        Ok(Self {
            name,
            wide,
            instance,
        })
    }

    pub(crate) fn source(&mut self) -> &mut dyn Source {
        &mut self.instance
    }

    pub(crate) fn name(&self) -> &str {
        &self.name
    }

    pub(crate) fn no_socket(&self) -> io::Error {
        no_socket(&self.name)
    }

    /// Starts waiting for a client on the (registered) instance: `ConnectNamedPipe`, whose
    /// completion mio reports as an event on the listener.
    pub(crate) fn listen(&self) -> io::Result<()> {
        match self.instance.connect() {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Hands out the instance if a client has connected to it, after putting a new instance,
    /// registered as the listener `id` and listening, in its place. `WouldBlock` while no
    /// client has come.
    pub(crate) fn accept(&mut self, io: &mut IoRegistry, id: HandleId) -> io::Result<StreamSocket> {
        if let Some(e) = self.instance.take_error()? {
            // The wait for a client failed on this instance: start again on a new one, and
            // report it as a connection lost before it was accepted (the listener goes on).
            self.replace(io, id)?;
            return Err(io::Error::new(io::ErrorKind::ConnectionAborted, e));
        }
        // `ConnectNamedPipe` again: `ERROR_PIPE_CONNECTED` (mio: `Ok`) once a client is there,
        // `WouldBlock` while the first call is still waiting.
        match self.instance.connect() {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Err(e),
            Err(e) => {
                // This instance is unusable: listen on a new one instead.
                self.replace(io, id)?;
                return Err(io::Error::new(io::ErrorKind::ConnectionAborted, e));
            }
        }
        let pipe = self.replace(io, id)?;
        Ok(StreamSocket::NamedPipe(Box::new(PipeStream {
            pipe,
            name: Arc::clone(&self.name),
        })))
    }

    /// Puts a new listening instance in place of the current one, which is returned
    /// deregistered. On error nothing has changed.
    fn replace(&mut self, io: &mut IoRegistry, id: HandleId) -> io::Result<NamedPipe> {
        let mut next = sys::create_instance(&self.wide, false)?;
        io.register(&mut next, id, mio::Interest::READABLE)?;
        match next.connect() {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(e) => {
                io.deregister(&mut next);
                return Err(e);
            }
        }
        let mut old = std::mem::replace(&mut self.instance, next);
        io.deregister(&mut old);
        Ok(old)
    }
}

/// The pipe name in `path`: `\\.\pipe\NAME` (or `\\?\pipe\NAME`), as UTF-8.
fn pipe_name(path: &Path) -> io::Result<Arc<str>> {
    const PREFIX_LEN: usize = r"\\.\pipe\".len();
    let invalid = || {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            r"on Windows a local stream is a named pipe, named \\.\pipe\NAME",
        )
    };
    let name = path.to_str().ok_or_else(invalid)?;
    let prefix = name.get(..PREFIX_LEN).map(str::to_ascii_lowercase);
    let prefixed = matches!(prefix.as_deref(), Some(r"\\.\pipe\" | r"\\?\pipe\"));
    if !prefixed || name.len() == PREFIX_LEN {
        return Err(invalid());
    }
    Ok(Arc::from(name))
}

fn is_busy(e: &io::Error) -> bool {
    e.raw_os_error() == Some(sys::ERROR_PIPE_BUSY)
}

/// # I/O: named pipes (Windows)
impl Loop {
    /// Connects to the named pipe `path` (`\\.\pipe\NAME`), on Windows: see the Unix build's
    /// documentation of this method for the contract, and the `net` module for what a named
    /// pipe does differently. When every instance of the pipe is busy the open is tried again
    /// (1 ms, then doubling up to 32 ms) for 30 s, then fails with `ERROR_PIPE_BUSY`. A name
    /// not of the form `\\.\pipe\NAME` is an `InvalidInput` error here.
    #[track_caller]
    pub fn unix_connect(
        &mut self,
        path: impl AsRef<Path>,
        cb: impl FnOnce(&mut Self, UnixStream, Result<()>) + 'static,
    ) -> Result<UnixStream> {
        let site = Location::caller();
        let path = path.as_ref();
        let name = pipe_name(path).map_err(|e| Error::named(e, "connect", path.display()))?;
        let shown = Arc::clone(&name);
        let cb = move |lp: &mut Self, id, r: Result<()>| {
            cb(
                lp,
                UnixStream(id),
                r.map_err(|e| Error::named(e, "connect", &shown)),
            );
        };
        let id = match sys::open_client(OsStr::new(&*name)) {
            Ok(pipe) => {
                let socket = StreamSocket::NamedPipe(Box::new(PipeStream { pipe, name }));
                // Registered, mio reports the open pipe writable: the connect completes then.
                self.stream_connect(HandleKind::UnixStream, socket, None, site, cb)?
            }
            Err(e) => {
                let id = self.stream_connect_unopened(HandleKind::UnixStream, site, cb)?;
                if is_busy(&e) {
                    let deadline = Instant::now() + BUSY_TIMEOUT;
                    pipe_retry_later(self, id, name, BUSY_RETRY_FIRST, deadline, site);
                } else {
                    self.stream_connect_failed(id, e);
                }
                id
            }
        };
        Ok(UnixStream(id))
    }

    /// Listens on the named pipe `path` (`\\.\pipe\NAME`), on Windows: see the Unix build's
    /// documentation of this method for the contract. Fails (`PermissionDenied`,
    /// `ERROR_ACCESS_DENIED`) if the name already has a server, as `EADDRINUSE` does for a
    /// socket file; nothing is left behind on close. Only local clients are accepted
    /// (`PIPE_REJECT_REMOTE_CLIENTS`).
    #[track_caller]
    pub fn unix_listen(
        &mut self,
        path: impl AsRef<Path>,
        mut cb: impl FnMut(&mut Self, UnixListener, Result<UnixStream>) + 'static,
    ) -> Result<UnixListener> {
        let site = Location::caller();
        let path = path.as_ref();
        let server = pipe_name(path)
            .and_then(PipeServer::bind)
            .map_err(|e| Error::named(e, "listen", path.display()))?;
        let state = ListenerState::new(ListenSocket::NamedPipe(server), HandleKind::UnixStream);
        let id = self
            .listener_insert(
                HandleKind::UnixListener,
                state,
                Box::new(move |lp, id, conn| cb(lp, UnixListener(id), conn.map(UnixStream))),
                site,
            )
            .map_err(|e| Error::named(e, "listen", path.display()))?;
        Ok(UnixListener(id))
    }
}

/// Tries to open the pipe again after `delay`, while the stream `id` still waits for it.
fn pipe_retry_later(
    lp: &mut Loop,
    id: HandleId,
    name: Arc<str>,
    delay: Duration,
    deadline: Instant,
    site: Site,
) {
    let timer = lp.start_timer(
        delay,
        false,
        Box::new(move |lp, _| {
            if !lp.stream_connect_waiting(id) {
                return;
            }
            match sys::open_client(OsStr::new(&*name)) {
                Ok(pipe) => {
                    let socket = StreamSocket::NamedPipe(Box::new(PipeStream {
                        pipe,
                        name: Arc::clone(&name),
                    }));
                    lp.stream_connect_attach(id, socket);
                }
                Err(e) if is_busy(&e) && Instant::now() < deadline => {
                    let next = (delay * 2).min(BUSY_RETRY_MAX);
                    pipe_retry_later(lp, id, Arc::clone(&name), next, deadline, site);
                }
                Err(e) => lp.stream_connect_failed(id, e),
            }
        }),
        site,
    );
    // The connect request keeps the loop alive, not its retry timer (closed with the stream).
    let _ = timer.unref(lp);
    lp.stream_set_connect_retry(id, timer);
}
