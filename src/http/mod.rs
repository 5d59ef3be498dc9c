//! An HTTP/1.1 server on evloop's TCP API, and the I/O-free parser and encoder under it.
//!
//! [`Server::listen`] calls a handler `FnMut(&mut Loop, Request, Responder)` for every request.
//! The [`Responder`] is a plain `'static` value: answer at once, or keep it and answer from a
//! timer, a thread-pool job or a file read. Responses leave in request order even when a
//! later pipelined request is answered first.
//!
//! ```
//! use std::time::Duration;
//! use evloop::Loop;
//! use evloop::http::{Server, ServerConfig};
//!
//! # fn main() -> Result<(), evloop::Error> {
//! let mut lp = Loop::new()?;
//! let server = Server::listen(
//!     &mut lp,
//!     "127.0.0.1:0".parse().unwrap(),
//!     ServerConfig::default(),
//!     |lp, req, res| match req.path() {
//!         "/" => res.send(lp, 200, &[("Content-Type", "text/plain")], "Hello, World!"),
//!         // Answer later: the responder outlives the handler call.
//!         "/slow" => {
//!             let mut res = Some(res);
//!             lp.set_timeout(Duration::from_millis(10), move |lp, _| {
//!                 if let Some(res) = res.take() {
//!                     res.send(lp, 200, &[("Content-Type", "text/plain")], "late");
//!                 }
//!             });
//!         }
//!         _ => res.send(lp, 404, &[("Content-Type", "text/plain")], "not found"),
//!     },
//! )?;
//! println!("listening on {}", server.local_addr());
//! // A real server runs until SIGINT; this one shuts itself down after 50 ms.
//! lp.set_timeout(Duration::from_millis(50), move |lp, _| {
//!     server.shutdown(lp, Duration::from_secs(5), |_| println!("stopped"));
//! });
//! lp.run()?; // returns once the server has shut down
//! # Ok(())
//! # }
//! ```
//!
//! # What the server does
//!
//! - **Connections**: keep-alive by default in HTTP/1.1, `Connection: close` honoured both
//!   ways, HTTP/1.0 closes unless it asked for keep-alive. Pipelined requests are dispatched
//!   as they arrive (up to [`ServerConfig::max_pipelined`] waiting, and none while the answers
//!   waiting for the socket are over [`ServerConfig::response_high_water`]) and answered
//!   strictly in order; a burst of pipelined answers goes out in one write.
//! - **Bodies**: `Content-Length` and chunked request bodies are read whole (up to
//!   [`ServerConfig::max_body_bytes`]) before the handler runs. `Expect: 100-continue` gets
//!   `100 Continue` as soon as the head is in (413 instead if the announced length is over
//!   the limit; 417 for other expectations). Responses have a fixed length
//!   ([`Responder::send`]), are streamed ([`Responder::start`], chunked for HTTP/1.1), or
//!   come from a file ([`Responder::send_file`]; open it with [`crate::fs::open_beneath_cached`]
//!   on the loop, or [`crate::fs::open_beneath`] on the pool): `sendfile` as the socket drains,
//!   or bounded chunks read on the pool, and a small body (up to
//!   [`ServerConfig::file_inline_bytes`], in the page cache) right behind its head in one
//!   `send`. `HEAD` answers carry the headers and no body.
//! - **Headers**: `Date` (formatted once a second), `Server` if configured.
//! - **Defences**: every limit and timeout of [`ServerConfig`] (a client that stops reading is
//!   closed after [`ServerConfig::send_timeout`]; at [`ServerConfig::max_connections`] the
//!   oldest connection without a complete request makes room for a new one); the RFC 9112
//!   smuggling defences of the [`parser`]; unknown methods get 501. Every malformed request gets
//!   its status with `Connection: close`, then the connection is half-closed, drained for a
//!   moment (so unread bytes do not turn the close into a reset that eats the answer) and
//!   closed. A handler that panics costs only its connection: 500, close, counted in
//!   [`ServerStats::handler_panics`] and reported with the handler's site to
//!   [`Server::on_handler_panic`].
//! - **Sockets**: `TCP_NODELAY`, and (Linux) `TCP_NOTSENT_LOWAT` of
//!   [`ServerConfig::notsent_lowat`], so the kernel holds little of a response not yet sent.
//! - **Timers**: one per connection, re-armed lazily, so requests never touch the timer queue.
//! - **Shutdown**: [`Server::shutdown`] stops accepting, answers the requests already received
//!   (the last with `Connection: close`), and half-closes every connection once its answers are
//!   out (never a reset); after the deadline it closes whatever is left. Pair it with
//!   [`Loop::cancel_queued_work`](crate::Loop::cancel_queued_work) for a process that must exit
//!   by a deadline.
//!
//! The connection logic is a state machine without I/O (`conn.rs`, with its own tests); the
//! server is the thin glue that feeds it socket events and carries out what it asks.
//!
//! # Reading requests
//!
//! Keep one growing buffer per connection. Call [`parser::Parser::parse`] with all the bytes you
//! have, drop [`parser::Parsed::consumed`] bytes from the front, act on the
//! [`parser::Event`], and repeat until it is [`parser::Event::NeedMore`]:
//!
//! ```
//! use evloop::http::parser::{Event, Parser};
//!
//! let mut parser = Parser::default();
//! let mut buf = b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\nhi".to_vec();
//! let mut body = Vec::new();
//! loop {
//!     let step = parser.parse(&buf).expect("valid request");
//!     match step.event {
//!         Event::Head(head) => assert_eq!(head.target, "/echo"),
//!         Event::Body(range) => body.extend_from_slice(&buf[range]),
//!         Event::End => break,
//!         // `NeedMore`: the whole request is in the buffer here, so it does not occur.
//!         _ => unreachable!(),
//!     }
//!     buf.drain(..step.consumed);
//! }
//! assert_eq!(body, b"hi");
//! ```
//!
//! Every [`error::HttpError`] carries the status to answer with; the connection must be closed
//! after that answer.
//!
//! ## Choices the parser makes
//!
//! - Framing is read strictly (RFC 9112 §6): `Transfer-Encoding` with `Content-Length`, in
//!   HTTP/1.0, with `chunked` missing, repeated or not last, or with an empty list element is 400;
//!   a coding before a final `chunked` (`gzip, chunked`) is 501, as nothing here can decode it.
//!   `Content-Length` lists must hold one repeated plain decimal (`5, 5`), else 400.
//! - The head may end its lines with a bare LF (RFC 9112 §2.2 allows it; httparse reads it),
//!   but a bare CR anywhere is 400. Chunked framing and trailers must use CRLF.
//! - A later HTTP/1 minor version (`HTTP/1.2`) is read as HTTP/1.1 (RFC 9110 §6.2); a
//!   well-formed but unsupported version (`HTTP/2.0`, `HTTP/3.1`, `HTTP/0.9`) is 505;
//!   a malformed one is 400.
//! - Empty leading lines before a request line are skipped (RFC 9112 §2.2).
//! - After a request that does not keep the connection alive, nothing more is parsed.
//!
//! # Writing responses
//!
//! [`response::write_head`] serialises a status line and headers with the framing chosen by the
//! caller, [`response::write_chunk`] and [`response::write_last_chunk`] frame a chunked body, and
//! [`date::DateCache`] keeps the `Date` value, formatted once a second.

mod conn;
mod proto;
mod server;

pub use proto::method::Method;
pub use proto::{date, error, head, method, parser, response};
pub use server::{
    HandlerPanic, IntoHeaders, Request, Responder, Response, ResponseWriter, Server, ServerConfig,
    ServerStats, percent_decode,
};
