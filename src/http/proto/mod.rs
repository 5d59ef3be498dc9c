//! The sans-I/O protocol: request parsing (heads, chunked bodies, request lines, field syntax),
//! response serialisation and the cached `Date`. Nothing here touches a socket, a timer or the
//! loop; everything takes bytes and returns bytes or events.

pub mod date;
pub mod error;
pub mod head;
pub mod method;
pub mod parser;
pub mod response;

pub(crate) mod chunked;
pub(crate) mod raw_head;
pub(crate) mod request_line;
pub(crate) mod syntax;
