//! Blocking name resolution: what the loop's DNS API runs on the pool (as `JobKind::Dns`).
//!
//! `getaddrinfo` and `getnameinfo` from the C library, so lookups honour `/etc/hosts`,
//! `nsswitch.conf` and `gai.conf` exactly as every other program on the machine (on Windows,
//! Winsock's `GetAddrInfoW` and `GetNameInfoW`, as libuv). Failures are `io::Error`s whose
//! payload is a [`DnsError`]: the resolver's own text (`gai_strerror`), the operation and the
//! query, e.g. `Name or service not known: getaddrinfo 'name.invalid.'`.

#[cfg(test)]
mod tests;

use std::error::Error;
#[cfg(unix)]
use std::ffi::CString;
use std::ffi::c_int;
use std::net::SocketAddr;
use std::ops::BitOr;
use std::{fmt, io};

use crate::sys::dns::{self as sys_dns, GaiFailure};
// The resolver's constants: the C library's, or Winsock's values of the same names.
#[cfg(unix)]
use libc::{
    AF_INET, AF_INET6, AF_UNSPEC, AI_ADDRCONFIG, AI_ALL, AI_NUMERICHOST, AI_NUMERICSERV,
    AI_PASSIVE, AI_V4MAPPED, EAI_BADFLAGS, EAI_FAMILY, EAI_MEMORY, EAI_NONAME, EAI_SERVICE,
    EAI_SOCKTYPE, NI_DGRAM, NI_NAMEREQD, NI_NOFQDN, NI_NUMERICHOST, NI_NUMERICSERV, SOCK_DGRAM,
    SOCK_STREAM,
};
// FreeBSD dropped the obsolete `EAI_NODATA` (its resolver answers `EAI_NONAME`).
#[cfg(all(unix, not(target_os = "freebsd")))]
use libc::EAI_NODATA;
#[cfg(windows)]
use sys_dns::{
    AF_INET, AF_INET6, AF_UNSPEC, AI_ADDRCONFIG, AI_ALL, AI_NUMERICHOST, AI_NUMERICSERV,
    AI_PASSIVE, AI_V4MAPPED, EAI_BADFLAGS, EAI_FAMILY, EAI_MEMORY, EAI_NODATA, EAI_NONAME,
    EAI_SERVICE, EAI_SOCKTYPE, NI_DGRAM, NI_NAMEREQD, NI_NOFQDN, NI_NUMERICHOST, NI_NUMERICSERV,
    SOCK_DGRAM, SOCK_STREAM,
};

/// Which address families a lookup may return.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum AddressFamily {
    /// IPv4 and IPv6 (`AF_UNSPEC`).
    #[default]
    Any,
    /// IPv4 only (`AF_INET`).
    V4,
    /// IPv6 only (`AF_INET6`).
    V6,
}

/// Which socket type the addresses are for; `Any` lets the resolver answer for every type.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SocketType {
    /// Any type (0); duplicates across types are removed from the answer.
    #[default]
    Any,
    /// TCP-like (`SOCK_STREAM`).
    Stream,
    /// UDP-like (`SOCK_DGRAM`).
    Dgram,
}

/// `AI_*` flags for [`dns::getaddrinfo`](crate::dns::getaddrinfo); combine with `|`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct AddrInfoFlags(c_int);

impl AddrInfoFlags {
    /// No flags.
    pub const NONE: Self = Self(0);
    /// Without a host, answer the wildcard address, for binding (`AI_PASSIVE`).
    pub const PASSIVE: Self = Self(AI_PASSIVE);
    /// The host must be a numeric address; never ask a resolver (`AI_NUMERICHOST`).
    pub const NUMERIC_HOST: Self = Self(AI_NUMERICHOST);
    /// The service must be a port number (`AI_NUMERICSERV`).
    pub const NUMERIC_SERV: Self = Self(AI_NUMERICSERV);
    /// Only families the machine has a non-loopback address for (`AI_ADDRCONFIG`).
    pub const ADDRCONFIG: Self = Self(AI_ADDRCONFIG);
    /// With `V6`, answer IPv4-mapped addresses when there are no IPv6 ones (`AI_V4MAPPED`).
    pub const V4MAPPED: Self = Self(AI_V4MAPPED);
    /// With `V4MAPPED`, answer both IPv6 and mapped IPv4 addresses (`AI_ALL`).
    pub const ALL: Self = Self(AI_ALL);

    /// Whether every flag of `other` is set here.
    pub fn contains(self, other: Self) -> bool {
        self.0 & other.0 == other.0
    }
}

impl BitOr for AddrInfoFlags {
    type Output = Self;

    fn bitor(self, other: Self) -> Self {
        Self(self.0 | other.0)
    }
}

/// What [`dns::getaddrinfo`](crate::dns::getaddrinfo) should answer. The default asks for every
/// family and socket type, with no flags.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Hints {
    /// Address families to answer.
    pub family: AddressFamily,
    /// Socket type the addresses are for.
    pub socktype: SocketType,
    /// `AI_*` flags.
    pub flags: AddrInfoFlags,
}

/// `NI_*` flags for [`dns::getnameinfo`](crate::dns::getnameinfo); combine with `|`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct NameInfoFlags(c_int);

impl NameInfoFlags {
    /// No flags: names where known, numbers otherwise.
    pub const NONE: Self = Self(0);
    /// Answer the host as a numeric address (`NI_NUMERICHOST`).
    pub const NUMERIC_HOST: Self = Self(NI_NUMERICHOST);
    /// Answer the service as a port number (`NI_NUMERICSERV`).
    pub const NUMERIC_SERV: Self = Self(NI_NUMERICSERV);
    /// Fail if the host has no name, rather than answering the number (`NI_NAMEREQD`).
    pub const NAME_REQUIRED: Self = Self(NI_NAMEREQD);
    /// Only the host part of a local name (`NI_NOFQDN`).
    pub const NO_FQDN: Self = Self(NI_NOFQDN);
    /// The service is a datagram service, for the few ports that differ (`NI_DGRAM`).
    pub const DGRAM: Self = Self(NI_DGRAM);
}

impl BitOr for NameInfoFlags {
    type Output = Self;

    fn bitor(self, other: Self) -> Self {
        Self(self.0 | other.0)
    }
}

/// The payload of a failed lookup's `io::Error`: the resolver's text, the operation and the
/// query; `err.get_ref()` and `downcast_ref::<DnsError>()` reach it.
#[derive(Debug)]
pub struct DnsError {
    op: &'static str,
    query: String,
    code: c_int,
    message: String,
    system: Option<io::Error>,
}

impl DnsError {
    /// The `EAI_*` code, e.g. to retry on `EAI_AGAIN`.
    pub fn gai_code(&self) -> c_int {
        self.code
    }

    /// The `errno` behind an `EAI_SYSTEM` failure (Windows has no `EAI_SYSTEM`: always `None`).
    pub fn raw_os_error(&self) -> Option<i32> {
        self.system.as_ref().and_then(io::Error::raw_os_error)
    }

    /// What was looked up: `host`, `host:service`, `:service`, or the address for `getnameinfo`.
    pub fn query(&self) -> &str {
        &self.query
    }
}

impl fmt::Display for DnsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {} '{}'", self.message, self.op, self.query)
    }
}

impl Error for DnsError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        self.system
            .as_ref()
            .map(|err| err as &(dyn Error + 'static))
    }
}

/// Resolves `host` and/or `service` (a name or a port) to socket addresses, in the resolver's
/// order with duplicates removed. Empty strings count as absent; both absent is `InvalidInput`
/// at once, without asking the resolver.
pub(crate) fn getaddrinfo(
    host: Option<&str>,
    service: Option<&str>,
    hints: Hints,
) -> io::Result<Vec<SocketAddr>> {
    let host = host.filter(|host| !host.is_empty());
    let service = service.filter(|service| !service.is_empty());
    let query = match (host, service) {
        (None, None) => return Err(no_query()),
        (Some(host), None) => host.to_owned(),
        (None, Some(service)) => format!(":{service}"),
        (Some(host), Some(service)) if host.contains(':') => format!("[{host}]:{service}"),
        (Some(host), Some(service)) => format!("{host}:{service}"),
    };
    if host.is_some_and(|h| h.contains('\0')) || service.is_some_and(|s| s.contains('\0')) {
        return Err(invalid_input(&format!(
            "getaddrinfo '{query}' contains a NUL byte"
        )));
    }
    let family = match hints.family {
        AddressFamily::Any => AF_UNSPEC,
        AddressFamily::V4 => AF_INET,
        AddressFamily::V6 => AF_INET6,
    };
    let socktype = match hints.socktype {
        SocketType::Any => 0,
        SocketType::Stream => SOCK_STREAM,
        SocketType::Dgram => SOCK_DGRAM,
    };
    #[cfg(unix)]
    let answer = {
        // No NUL inside (checked above), so these cannot fail.
        let to_c = |text: &str| CString::new(text).map_err(|_| invalid_input("a NUL byte"));
        let c_host = host.map(to_c).transpose()?;
        let c_service = service.map(to_c).transpose()?;
        sys_dns::getaddrinfo(
            c_host.as_deref(),
            c_service.as_deref(),
            family,
            socktype,
            hints.flags.0,
        )
    };
    #[cfg(windows)]
    let answer = sys_dns::getaddrinfo(host, service, family, socktype, hints.flags.0);
    let answer = answer.map_err(|failure| dns_error("getaddrinfo", query, failure))?;
    let mut addrs = Vec::with_capacity(answer.len());
    for addr in answer {
        if !addrs.contains(&addr) {
            addrs.push(addr);
        }
    }
    Ok(addrs)
}

/// The host name and service name of `addr` (reverse lookup), as `(host, service)`.
pub(crate) fn getnameinfo(addr: SocketAddr, flags: NameInfoFlags) -> io::Result<(String, String)> {
    sys_dns::getnameinfo(&addr, flags.0)
        .map_err(|failure| dns_error("getnameinfo", addr.to_string(), failure))
}

/// The error for a lookup with neither a host nor a service.
pub(crate) fn no_query() -> io::Error {
    invalid_input("getaddrinfo needs a host or a service")
}

fn invalid_input(message: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, message)
}

/// Wraps a resolver failure: the gai text (or the OS error for `EAI_SYSTEM`) plus the query.
fn dns_error(op: &'static str, query: String, failure: GaiFailure) -> io::Error {
    let GaiFailure { code, system } = failure;
    let (kind, message) = match &system {
        Some(err) => (err.kind(), err.to_string()),
        None => (gai_error_kind(code), sys_dns::gai_message(code)),
    };
    io::Error::new(
        kind,
        DnsError {
            op,
            query,
            code,
            message,
            system,
        },
    )
}

/// The closest `io::ErrorKind` for an `EAI_*` code; `gai_code()` has the exact one.
fn gai_error_kind(code: c_int) -> io::ErrorKind {
    match code {
        EAI_NONAME => io::ErrorKind::NotFound,
        #[cfg(not(target_os = "freebsd"))]
        EAI_NODATA => io::ErrorKind::NotFound,
        EAI_BADFLAGS | EAI_FAMILY | EAI_SOCKTYPE | EAI_SERVICE => io::ErrorKind::InvalidInput,
        EAI_MEMORY => io::ErrorKind::OutOfMemory,
        _ => io::ErrorKind::Other,
    }
}
