//! [`HandlerPanic`]: what a server reports when its handler panics.

use std::fmt;
use std::net::SocketAddr;

use crate::Site;

/// A panic of a [`Server`](super::Server)'s handler, caught by the server: the request got a
/// 500 (or was cut short) and its connection was closed; the other connections were not
/// touched. Counted in [`ServerStats::handler_panics`](super::ServerStats::handler_panics) and
/// passed to the hook of [`Server::on_handler_panic`](super::Server::on_handler_panic).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct HandlerPanic {
    /// The panic's message (`"<non-string payload>"` if it carried something else).
    pub message: String,
    /// Where the handler was registered (the caller of `Server::listen`).
    pub site: Site,
    /// The client whose request it was.
    pub peer: SocketAddr,
}

impl fmt::Display for HandlerPanic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "the HTTP handler registered at {} panicked on a request from {}: {}; answered 500 \
             and closed that connection",
            self.site, self.peer, self.message
        )
    }
}
