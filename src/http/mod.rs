//! HTTP/1.1 without I/O: a request parser and a response encoder.
//!
//! Everything here is a plain state machine or a plain function over bytes, in the quinn-proto
//! manner: no sockets, no clock, no loop. The server on evloop's TCP API feeds what it reads into
//! a [`parser::Parser`] and writes what [`response`] produces; the current time reaches
//! [`date::DateCache`] as a `SystemTime` argument.
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
//! - A well-formed but unsupported version (`HTTP/2.0`, `HTTP/3.1`, also `HTTP/1.2`) is 505;
//!   a malformed one is 400.
//! - Empty leading lines before a request line are skipped (RFC 9112 §2.2).
//! - After a request that does not keep the connection alive, nothing more is parsed.
//!
//! # Writing responses
//!
//! [`response::write_head`] serialises a status line and headers with the framing chosen by the
//! caller, [`response::write_chunk`] and [`response::write_last_chunk`] frame a chunked body, and
//! [`date::DateCache`] keeps the `Date` value, formatted once a second.

pub mod date;
pub mod error;
pub mod head;
pub mod method;
pub mod parser;
pub mod response;

mod body;
mod chunked;
mod config;
mod conn;
mod pipeline;
mod request_line;
mod syntax;

pub use body::Body;
pub use config::ServerConfig;
