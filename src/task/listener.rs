//! Listening and connecting as futures: [`AsyncListener`], [`tcp_connect`], [`unix_connect`].

use std::cell::Cell;
use std::collections::VecDeque;
use std::fmt;
use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

use crate::error::Result;
use crate::event_loop::Loop;
use crate::handle::Handle;
use crate::net::{TcpListener, TcpStream};
use crate::net::{UnixListener, UnixStream};
use crate::task::call::{Completer, callback, register};
use crate::task::shared::{Shared, current};
use crate::task::stream::{AsyncStream, StreamKind};

/// Accepted connections waiting for `accept`, at most: further ones are closed at once (a
/// program that stops accepting must not grow a queue without bound).
const ACCEPT_QUEUE: usize = 1024;

struct Backlog<S> {
    queue: Cell<VecDeque<Result<S>>>,
    waker: Cell<Option<Waker>>,
    /// Connections closed because the queue was full.
    dropped: Cell<u64>,
}

/// A listener for `async` code: `accept().await` gives each connection as an [`AsyncStream`].
/// Dropping it closes the listener and the connections accepted but not yet taken.
pub struct AsyncListener<L: Handle + 'static, S: StreamKind> {
    listener: L,
    backlog: Rc<Backlog<S>>,
    shared: Rc<Shared>,
}

/// A TCP [`AsyncListener`].
pub type AsyncTcpListener = AsyncListener<TcpListener, TcpStream>;
/// A Unix-domain [`AsyncListener`].
pub type AsyncUnixListener = AsyncListener<UnixListener, UnixStream>;

impl<S> Default for Backlog<S> {
    fn default() -> Self {
        Self {
            queue: Cell::default(),
            waker: Cell::default(),
            dropped: Cell::default(),
        }
    }
}

fn on_conn<S: StreamKind>(backlog: &Backlog<S>, lp: &mut Loop, conn: Result<S>) {
    let mut q = backlog.queue.take();
    if q.len() >= ACCEPT_QUEUE {
        backlog.queue.set(q);
        backlog.dropped.set(backlog.dropped.get() + 1);
        if let Ok(s) = conn {
            let _ = s.close(lp, |_| {});
        }
        return;
    }
    q.push_back(conn);
    backlog.queue.set(q);
    if let Some(w) = backlog.waker.take() {
        w.wake();
    }
}

impl AsyncTcpListener {
    /// Listens on `addr` (see [`Loop::tcp_listen`]).
    pub fn tcp(lp: &mut Loop, addr: SocketAddr) -> Result<Self> {
        Self::tcp_with(lp, addr, &crate::net::TcpListenOptions::new())
    }

    /// Listens on `addr` with `options` (see [`Loop::tcp_listen_with`]).
    pub fn tcp_with(
        lp: &mut Loop,
        addr: SocketAddr,
        options: &crate::net::TcpListenOptions,
    ) -> Result<Self> {
        let backlog: Rc<Backlog<TcpStream>> = Rc::default();
        let b = Rc::clone(&backlog);
        let listener =
            lp.tcp_listen_with(addr, options, move |lp, _, conn| on_conn(&b, lp, conn))?;
        Ok(Self {
            listener,
            backlog,
            shared: lp.task_shared(),
        })
    }

    /// The bound address.
    pub fn local_addr(&self, lp: &Loop) -> Result<SocketAddr> {
        self.listener.local_addr(lp)
    }
}

impl AsyncUnixListener {
    /// Listens on a new socket file at `path` (see [`Loop::unix_listen`]; on Windows a named
    /// pipe, `\\.\pipe\NAME`).
    pub fn unix(lp: &mut Loop, path: impl AsRef<std::path::Path>) -> Result<Self> {
        let backlog: Rc<Backlog<UnixStream>> = Rc::default();
        let b = Rc::clone(&backlog);
        let listener = lp.unix_listen(path, move |lp, _, conn| on_conn(&b, lp, conn))?;
        Ok(Self {
            listener,
            backlog,
            shared: lp.task_shared(),
        })
    }
}

impl<L: Handle + 'static, S: StreamKind> AsyncListener<L, S> {
    /// The listener handle, for the callback API.
    pub fn handle(&self) -> L {
        self.listener
    }

    /// The next connection (or accept error, e.g. `EMFILE`, after which accepting goes on).
    pub fn accept(&mut self) -> Accept<'_, L, S> {
        Accept { listener: self }
    }

    /// Connections closed unaccepted because 1024 were already waiting.
    pub fn overflowed(&self) -> u64 {
        self.backlog.dropped.get()
    }
}

impl<L: Handle + 'static, S: StreamKind> Drop for AsyncListener<L, S> {
    fn drop(&mut self) {
        let (listener, waiting) = (self.listener, self.backlog.queue.take());
        self.shared
            .defer(std::panic::Location::caller(), move |lp| {
                let _ = listener.close(lp, |_| {});
                for s in waiting.into_iter().flatten() {
                    let _ = s.close(lp, |_| {});
                }
            });
    }
}

impl<L: Handle + fmt::Debug + 'static, S: StreamKind> fmt::Debug for AsyncListener<L, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AsyncListener")
            .field("listener", &self.listener)
            .finish()
    }
}

/// The future of [`AsyncListener::accept`]. Dropping it leaves later connections queued.
#[must_use = "futures do nothing unless awaited"]
pub struct Accept<'a, L: Handle + 'static, S: StreamKind> {
    listener: &'a mut AsyncListener<L, S>,
}

impl<L: Handle + 'static, S: StreamKind> Future for Accept<'_, L, S> {
    type Output = Result<AsyncStream<S>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let l = &self.listener;
        let mut q = l.backlog.queue.take();
        let next = q.pop_front();
        l.backlog.queue.set(q);
        match next {
            Some(Ok(s)) => Poll::Ready(Ok(AsyncStream::with_shared(Rc::clone(&l.shared), s))),
            Some(Err(e)) => Poll::Ready(Err(e)),
            None => {
                register(&l.backlog.waker, cx);
                Poll::Pending
            }
        }
    }
}

impl<L: Handle + 'static, S: StreamKind> fmt::Debug for Accept<'_, L, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Accept")
    }
}

/// Closes the connecting stream if the connect future is dropped before it completes.
struct CloseOnCancel<S: StreamKind>(Option<S>);

impl<S: StreamKind> crate::task::Cancel for CloseOnCancel<S> {
    fn cancel(self, lp: &mut Loop) {
        if let Some(s) = self.0 {
            let _ = s.close(lp, |_| {});
        }
    }
}

/// Connects to `addr`. On error the stream is closed. Dropped before it completes, it
/// closes the connecting stream (its connect callback then gets `Canceled`, unseen).
pub async fn tcp_connect(addr: SocketAddr) -> Result<crate::task::AsyncTcpStream> {
    let shared = current()?;
    let s = callback(move |lp, done| {
        let slot = Rc::new(Cell::new(Some(done)));
        let s2 = Rc::clone(&slot);
        let r = lp.tcp_connect(addr, move |lp, s, r| connected(s2.take(), lp, s, r));
        started(r, &slot)
    })
    .await??;
    Ok(AsyncStream::with_shared(shared, s))
}

/// Connects to the Unix socket at `path` (on Windows the named pipe `\\.\pipe\NAME`); as
/// [`tcp_connect`].
pub async fn unix_connect(path: impl Into<PathBuf>) -> Result<crate::task::AsyncUnixStream> {
    let shared = current()?;
    let path = path.into();
    let s = callback(move |lp, done| {
        let slot = Rc::new(Cell::new(Some(done)));
        let s2 = Rc::clone(&slot);
        let r = lp.unix_connect(&path, move |lp, s, r| connected(s2.take(), lp, s, r));
        started(r, &slot)
    })
    .await??;
    Ok(AsyncStream::with_shared(shared, s))
}

type ConnectSlot<S> = Cell<Option<Completer<Result<S>>>>;

/// The connect callback: hands the stream over, or closes it (error, or nobody waiting).
fn connected<S: StreamKind>(
    done: Option<Completer<Result<S>>>,
    lp: &mut Loop,
    s: S,
    r: Result<()>,
) {
    match (done, r) {
        (Some(d), Ok(())) if d.is_wanted() => d.complete(Ok(s)),
        (d, r) => {
            let _ = s.close(lp, |_| {});
            if let (Some(d), Err(e)) = (d, r) {
                d.complete(Err(e));
            }
        }
    }
}

/// A connect that could not start (no socket) fails the future with its error; a started
/// one is canceled by closing its stream.
fn started<S: StreamKind>(r: Result<S>, slot: &ConnectSlot<S>) -> CloseOnCancel<S> {
    match r {
        Ok(s) => CloseOnCancel(Some(s)),
        Err(e) => {
            if let Some(d) = slot.take() {
                d.complete(Err(e));
            }
            CloseOnCancel(None)
        }
    }
}
