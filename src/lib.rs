//! evloop: a libuv-style, single-threaded event loop (work in progress).
pub mod http;
