//! hyper 1.x on evloop (cargo feature `hyper`): [`HyperExecutor`], [`HyperTimer`], and
//! `hyper::rt::Read`/`Write` for [`AsyncStream`].
//!
//! ```no_run
//! use std::convert::Infallible;
//! use evloop::{Loop, task};
//! use evloop::task::hyper::{HyperExecutor, HyperTimer};
//!
//! # fn main() -> Result<(), evloop::Error> {
//! let mut lp = Loop::new()?;
//! let mut listener = task::AsyncTcpListener::tcp(&mut lp, "127.0.0.1:8080".parse().unwrap())?;
//! lp.block_on(async move {
//!     while let Ok(stream) = listener.accept().await {
//!         let service = hyper::service::service_fn(|_req| async {
//!             Ok::<_, Infallible>(hyper::Response::new("Hello, World!".to_owned()))
//!         });
//!         let conn = hyper::server::conn::http1::Builder::new()
//!             .timer(HyperTimer)
//!             .serve_connection(stream, service);
//!         task::spawn(conn).map(|j| j.detach()).ok();
//!     }
//! })?;
//! # let _ = HyperExecutor::new(&lp);
//! # Ok(())
//! # }
//! ```

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use crate::event_loop::Loop;
use crate::task::AsyncStream;
use crate::task::shared::current;
use crate::task::stream::StreamKind;

mod sleep;

pub use self::sleep::HyperTimer;
pub(crate) use self::sleep::Sleeps;

/// hyper's executor: spawns hyper's background futures (HTTP/2 streams and connection
/// drivers) as tasks of the loop. From a task's poll they are spawned at once; from anywhere
/// else on the loop's thread they are spawned by a [`LocalSender`](crate::LocalSender) post.
#[derive(Clone, Debug)]
pub struct HyperExecutor {
    local: crate::LocalSender,
}

impl HyperExecutor {
    /// An executor for loop `lp`.
    pub fn new(lp: &Loop) -> Self {
        Self {
            local: lp.local_sender(),
        }
    }
}

impl<F: Future + 'static> hyper::rt::Executor<F> for HyperExecutor {
    fn execute(&self, fut: F) {
        let fut = async move {
            fut.await;
        };
        if current().is_ok() {
            if let Ok(join) = crate::task::spawn(fut) {
                join.detach();
            }
            return;
        }
        // Not inside a poll: spawn from the next pending phase (fails only once the loop is
        // gone, and then the future has nowhere to run).
        let _ = self.local.post(move |lp| lp.spawn_local(fut).detach());
    }
}

impl<S: StreamKind> hyper::rt::Read for AsyncStream<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        mut buf: hyper::rt::ReadBufCursor<'_>,
    ) -> Poll<io::Result<()>> {
        let max = buf.remaining();
        self.poll_read_with(cx, max, |bytes| buf.put_slice(bytes))
            .map_err(io::Error::from)
    }
}

impl<S: StreamKind> hyper::rt::Write for AsyncStream<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        futures_io::AsyncWrite::poll_write(self, cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        futures_io::AsyncWrite::poll_flush(self, cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        futures_io::AsyncWrite::poll_close(self, cx)
    }
}
