//! `async` handlers: [`Server::listen_async`] runs each request's handler future as a task of
//! the loop and sends the [`Response`] it returns.

use std::future::Future;
use std::net::SocketAddr;

use super::{Request, Responder, Server, ServerConfig};
use crate::net::{TcpListenOptions, WriteBuf};
use crate::{Error, Loop, Result};

/// A complete answer, returned by an `async` handler of [`Server::listen_async`]: a status,
/// headers in order, and a body of bytes or of a file.
///
/// ```
/// use evloop::http::Response;
///
/// let not_found = Response::text(404, "not found\n").header("Cache-Control", "no-store");
/// assert_eq!(not_found.status(), 404);
/// ```
#[derive(Debug)]
#[must_use = "a Response does nothing until a handler returns it"]
pub struct Response {
    status: u16,
    headers: Vec<(String, String)>,
    body: Body,
}

enum Body {
    Bytes(WriteBuf),
    File(std::fs::File, u64),
}

impl std::fmt::Debug for Body {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Bytes(_) => f.write_str("Bytes"),
            Self::File(_, len) => write!(f, "File({len} bytes)"),
        }
    }
}

impl Response {
    /// A response with `body` (owned or `'static` bytes) and no headers yet; sent as by
    /// [`Responder::send`].
    pub fn new(status: u16, body: impl Into<WriteBuf>) -> Self {
        Self {
            status,
            headers: Vec::new(),
            body: Body::Bytes(body.into()),
        }
    }

    /// A `text/plain; charset=utf-8` response (as [`Responder::text`]).
    pub fn text(status: u16, body: impl Into<WriteBuf>) -> Self {
        Self::new(status, body).header("Content-Type", "text/plain; charset=utf-8")
    }

    /// A response whose body is the first `len` bytes of `file`, sent as
    /// [`Responder::send_file`] sends it (`sendfile` as the socket drains, or bounded chunks
    /// read on the pool), never held in memory whole.
    pub fn file(status: u16, file: std::fs::File, len: u64) -> Self {
        Self {
            status,
            headers: Vec::new(),
            body: Body::File(file, len),
        }
    }

    /// Adds a header (written in the order added; the rules of [`Responder::send`] apply).
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// The status code.
    pub fn status(&self) -> u16 {
        self.status
    }

    /// Answers the request of `res` with this response.
    pub fn send(self, lp: &mut Loop, res: Responder) {
        match self.body {
            Body::Bytes(body) => res.send(lp, self.status, &self.headers, body),
            Body::File(file, len) => res.send_file(lp, self.status, &self.headers, file, len),
        }
    }
}

impl Server {
    /// Listens on `addr` (with [`TcpListenOptions::new`]) and answers every request with the
    /// [`Response`] of `handler(request)`'s future, run as a task of the loop
    /// ([`Loop::spawn_local`]): await timers, pool jobs, file opens or other tasks in it.
    /// Responses still leave in request order per connection.
    ///
    /// A handler future that panics is treated as a panicking callback handler: its request
    /// gets 500, its connection is closed, the panic is counted in
    /// [`ServerStats::handler_panics`](super::ServerStats::handler_panics) and passed to
    /// [`on_handler_panic`](Self::on_handler_panic) (with this call's site). Slow polls of
    /// the request tasks are reported as tasks spawned in this module.
    ///
    /// ```
    /// use evloop::http::{Response, Server, ServerConfig};
    /// use evloop::{Loop, task};
    /// use std::time::Duration;
    ///
    /// # fn main() -> Result<(), evloop::Error> {
    /// let mut lp = Loop::new()?;
    /// let server = Server::listen_async(
    ///     &mut lp,
    ///     "127.0.0.1:0".parse().unwrap(),
    ///     ServerConfig::default(),
    ///     |req| async move {
    ///         match req.path() {
    ///             "/" => Response::text(200, "Hello, World!"),
    ///             "/slow" => match task::sleep(Duration::from_millis(10)).await {
    ///                 Ok(()) => Response::text(200, "late"),
    ///                 Err(e) => Response::text(500, e.to_string()),
    ///             },
    ///             _ => Response::text(404, "not found"),
    ///         }
    ///     },
    /// )?;
    /// lp.set_timeout(Duration::from_millis(50), move |lp, _| {
    ///     server.shutdown(lp, Duration::from_secs(5), |_| {});
    /// });
    /// lp.run()?;
    /// # Ok(())
    /// # }
    /// ```
    #[track_caller]
    pub fn listen_async<F, Fut>(
        lp: &mut Loop,
        addr: SocketAddr,
        config: ServerConfig,
        handler: F,
    ) -> Result<Self>
    where
        F: FnMut(Request) -> Fut + 'static,
        Fut: Future<Output = Response> + 'static,
    {
        Self::listen_async_with(lp, addr, &TcpListenOptions::new(), config, handler)
    }

    /// As [`listen_async`](Self::listen_async), with socket options (e.g. `SO_REUSEPORT` for
    /// one loop per core on a shared port).
    #[track_caller]
    pub fn listen_async_with<F, Fut>(
        lp: &mut Loop,
        addr: SocketAddr,
        options: &TcpListenOptions,
        config: ServerConfig,
        mut handler: F,
    ) -> Result<Self>
    where
        F: FnMut(Request) -> Fut + 'static,
        Fut: Future<Output = Response> + 'static,
    {
        Self::listen_with(lp, addr, options, config, move |lp, req, res| {
            let task = lp.spawn_local(handler(req));
            task.on_done(lp, move |lp, done| match done {
                Ok(response) => response.send(lp, res),
                Err(Error::Panicked(message)) => res.panicked(lp, message),
                // Not reached (`on_done` is not called for an aborted task, and nothing else
                // fails a task); answered rather than assumed.
                Err(e) => res.text(lp, 500, format!("{e}\n")),
            });
        })
    }
}
