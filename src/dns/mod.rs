//! Name resolution on the thread pool: the C library's `getaddrinfo` and `getnameinfo`, so
//! lookups honour `/etc/hosts`, `nsswitch.conf` and `gai.conf` like every other program. On
//! Windows the same API runs Winsock's `GetAddrInfoW` and `GetNameInfoW` (as libuv does), with
//! Winsock's codes behind [`DnsError::gai_code`].
//!
//! ```
//! use evloop::{Loop, dns};
//!
//! # fn main() -> std::io::Result<()> {
//! let mut lp = Loop::new()?;
//! let hints = dns::Hints { socktype: dns::SocketType::Stream, ..dns::Hints::default() };
//! dns::getaddrinfo(&mut lp, "localhost", "80", hints, |_, addrs| {
//!     let addrs = addrs.expect("localhost resolves");
//!     assert!(addrs.iter().all(|addr| addr.ip().is_loopback() && addr.port() == 80));
//! });
//! lp.run()?;
//! # Ok(())
//! # }
//! ```
//!
//! **How they run.** Each lookup is one DNS-class pool job. A resolver may block for seconds,
//! so DNS jobs occupy at most half the pool's workers (rounded up), as in libuv: file work
//! always finds a worker. The callback runs on the loop in the poll phase; errors found before
//! asking the resolver (no host and no service) arrive in the pending phase — never inside the
//! call. [`Loop::cancel`](crate::Loop::cancel) takes a lookup off the queue before a worker
//! starts it; its callback then gets an `Interrupted` error carrying
//! [`Error::Canceled`](crate::Error::Canceled).
//!
//! **Errors** are `io::Error`s with the resolver's own text and the query, e.g.
//! `Name or service not known: getaddrinfo 'name.invalid.'`; their payload is a [`DnsError`]
//! with the `EAI_*` code. Their kind is the same on every platform: `NotFound` for a name that
//! does not resolve, `InvalidInput` for bad flags, family, socket type or service.

pub(crate) mod ops;

use std::io;
use std::net::SocketAddr;
use std::panic::Location;

use crate::event_loop::CallbackKind;
use crate::event_loop::Loop;
use crate::pool::JobKind;
use crate::pool::work::Work;

pub use self::ops::{AddrInfoFlags, AddressFamily, DnsError, Hints, NameInfoFlags, SocketType};

/// Resolves `host` and `service` (a service name such as `"http"` or a port such as `"8080"`)
/// to socket addresses, in the resolver's order with duplicates removed. An empty string means
/// "absent": an empty host with [`AddrInfoFlags::PASSIVE`] answers the wildcard address, an
/// empty service answers port 0. Both empty is an `InvalidInput` error (delivered later, like
/// every error). libuv `uv_getaddrinfo`; Node `dns.lookup`.
#[track_caller]
pub fn getaddrinfo(
    lp: &mut Loop,
    host: &str,
    service: &str,
    hints: Hints,
    cb: impl FnOnce(&mut Loop, io::Result<Vec<SocketAddr>>) + 'static,
) -> Work {
    let site = Location::caller();
    if host.is_empty() && service.is_empty() {
        return lp.reject_io(CallbackKind::Dns, site, cb, ops::no_query());
    }
    let (host, service) = (host.to_owned(), service.to_owned());
    let job = move || ops::getaddrinfo(Some(&host), Some(&service), hints);
    lp.submit_io(JobKind::Dns, CallbackKind::Dns, site, job, cb)
}

/// The host name and service name of `addr`, as `(host, service)` (reverse lookup). Without
/// [`NameInfoFlags::NAME_REQUIRED`], an address with no name answers its numeric form. libuv
/// `uv_getnameinfo`; Node `dns.lookupService`.
#[track_caller]
pub fn getnameinfo(
    lp: &mut Loop,
    addr: SocketAddr,
    flags: NameInfoFlags,
    cb: impl FnOnce(&mut Loop, io::Result<(String, String)>) + 'static,
) -> Work {
    let job = move || ops::getnameinfo(addr, flags);
    lp.submit_io(JobKind::Dns, CallbackKind::Dns, Location::caller(), job, cb)
}
