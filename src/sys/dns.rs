//! `getaddrinfo(3)` and `getnameinfo(3)` over libc: raw flags in, Rust addresses out.

use std::ffi::{CStr, c_int};
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::{io, mem, ptr};

/// A failed resolver call: the `EAI_*` code, and for `EAI_SYSTEM` the `errno` read right after.
#[derive(Debug)]
pub(crate) struct GaiFailure {
    /// The `EAI_*` code the call returned.
    pub(crate) code: c_int,
    /// The OS error behind `EAI_SYSTEM`; `None` for every other code.
    pub(crate) system: Option<io::Error>,
}

impl GaiFailure {
    fn new(code: c_int) -> Self {
        // errno is only meaningful for EAI_SYSTEM, and must be read before anything else runs.
        let system = (code == libc::EAI_SYSTEM).then(io::Error::last_os_error);
        Self { code, system }
    }
}

/// The list `getaddrinfo` allocated; freed when this guard drops, on every path.
struct AddrInfoList(*mut libc::addrinfo);

impl Drop for AddrInfoList {
    fn drop(&mut self) {
        if !self.0.is_null() {
            // SAFETY: the pointer came from a successful `getaddrinfo` and is freed only here, once.
            unsafe { libc::freeaddrinfo(self.0) };
        }
    }
}

/// Calls `getaddrinfo` with the given hints (`AF_*`, `SOCK_*`, `AI_*`) and returns every address in
/// the resolver's order, duplicates included. At least one of `host` and `service` must be given.
pub(crate) fn getaddrinfo(
    host: Option<&CStr>,
    service: Option<&CStr>,
    family: c_int,
    socktype: c_int,
    flags: c_int,
) -> Result<Vec<SocketAddr>, GaiFailure> {
    // SAFETY: `addrinfo` is plain data; all-zero is the "no hint" value getaddrinfo(3) asks for.
    let mut hints: libc::addrinfo = unsafe { mem::zeroed() };
    hints.ai_family = family;
    hints.ai_socktype = socktype;
    hints.ai_flags = flags;
    let mut list = AddrInfoList(ptr::null_mut());
    // SAFETY: `host` and `service` are null or NUL-terminated strings alive across the call, `hints`
    // is initialized, and `list.0` is a valid place for the result pointer.
    let code = unsafe {
        libc::getaddrinfo(
            host.map_or(ptr::null(), CStr::as_ptr),
            service.map_or(ptr::null(), CStr::as_ptr),
            ptr::from_ref(&hints),
            &raw mut list.0,
        )
    };
    if code != 0 {
        return Err(GaiFailure::new(code));
    }
    let mut addrs = Vec::new();
    let mut entry = list.0;
    while !entry.is_null() {
        // SAFETY: `entry` is a node of the list getaddrinfo returned; `list` frees it after the loop.
        let info = unsafe { &*entry };
        addrs.extend(socket_addr_from_raw(info.ai_addr, info.ai_addrlen));
        entry = info.ai_next;
    }
    Ok(addrs)
}

/// Calls `getnameinfo` for `addr` with `NI_*` flags and returns `(host, service)`.
pub(crate) fn getnameinfo(addr: &SocketAddr, flags: c_int) -> Result<(String, String), GaiFailure> {
    let (storage, len) = socket_addr_to_raw(addr);
    let mut host = [0u8; libc::NI_MAXHOST as usize];
    let mut service = [0u8; 32]; // NI_MAXSERV
    // SAFETY: `storage` holds a valid sockaddr of `len` bytes; each output buffer is writable for
    // the length passed with it; getnameinfo writes NUL-terminated strings within those lengths.
    let code = unsafe {
        libc::getnameinfo(
            ptr::from_ref(&storage).cast::<libc::sockaddr>(),
            len,
            host.as_mut_ptr().cast::<libc::c_char>(),
            libc::NI_MAXHOST,
            service.as_mut_ptr().cast::<libc::c_char>(),
            32,
            flags,
        )
    };
    if code != 0 {
        return Err(GaiFailure::new(code));
    }
    Ok((c_buffer_to_string(&host), c_buffer_to_string(&service)))
}

/// The resolver's text for an `EAI_*` code, e.g. "Name or service not known".
pub(crate) fn gai_message(code: c_int) -> String {
    // SAFETY: gai_strerror accepts any code and returns null or a static NUL-terminated string.
    let text = unsafe { libc::gai_strerror(code) };
    if text.is_null() {
        return format!("unknown resolver error {code}");
    }
    // SAFETY: non-null, NUL-terminated and static, per the call above; we copy it out at once.
    unsafe { CStr::from_ptr(text) }
        .to_string_lossy()
        .into_owned()
}

fn c_buffer_to_string(buffer: &[u8]) -> String {
    let text = CStr::from_bytes_until_nul(buffer).map_or(buffer, CStr::to_bytes);
    String::from_utf8_lossy(text).into_owned()
}

/// Converts one `ai_addr` to a `SocketAddr`; `None` for null, short, or non-IP addresses.
fn socket_addr_from_raw(addr: *const libc::sockaddr, len: libc::socklen_t) -> Option<SocketAddr> {
    let len = len as usize;
    if addr.is_null() || len < mem::size_of::<libc::sa_family_t>() {
        return None;
    }
    // SAFETY: `addr` points to at least `len` bytes, enough for the leading family field; read
    // unaligned because nothing promises more than byte alignment.
    let family = unsafe { ptr::read_unaligned(ptr::addr_of!((*addr).sa_family)) };
    match c_int::from(family) {
        libc::AF_INET if len >= mem::size_of::<libc::sockaddr_in>() => {
            // SAFETY: the family says `sockaddr_in` and `len` covers one.
            let raw = unsafe { ptr::read_unaligned(addr.cast::<libc::sockaddr_in>()) };
            let ip = Ipv4Addr::from(u32::from_be(raw.sin_addr.s_addr));
            Some(SocketAddr::V4(SocketAddrV4::new(
                ip,
                u16::from_be(raw.sin_port),
            )))
        }
        libc::AF_INET6 if len >= mem::size_of::<libc::sockaddr_in6>() => {
            // SAFETY: the family says `sockaddr_in6` and `len` covers one.
            let raw = unsafe { ptr::read_unaligned(addr.cast::<libc::sockaddr_in6>()) };
            let ip = Ipv6Addr::from(raw.sin6_addr.s6_addr);
            let port = u16::from_be(raw.sin6_port);
            Some(SocketAddr::V6(SocketAddrV6::new(
                ip,
                port,
                raw.sin6_flowinfo,
                raw.sin6_scope_id,
            )))
        }
        _ => None,
    }
}

/// Converts a `SocketAddr` to a `sockaddr_storage` and the length of the part in use.
fn socket_addr_to_raw(addr: &SocketAddr) -> (libc::sockaddr_storage, libc::socklen_t) {
    // SAFETY: `sockaddr_storage` is plain data; all-zero is a valid (unspecified) address.
    let mut storage: libc::sockaddr_storage = unsafe { mem::zeroed() };
    let len = match addr {
        SocketAddr::V4(v4) => {
            // SAFETY: plain data, all-zero is valid; we set every meaningful field below.
            let mut raw: libc::sockaddr_in = unsafe { mem::zeroed() };
            raw.sin_family = libc::AF_INET as libc::sa_family_t;
            raw.sin_port = v4.port().to_be();
            raw.sin_addr = libc::in_addr {
                s_addr: u32::from(*v4.ip()).to_be(),
            };
            // SAFETY: `sockaddr_storage` is larger than and aligned for every sockaddr type.
            unsafe { ptr::write(ptr::from_mut(&mut storage).cast::<libc::sockaddr_in>(), raw) };
            mem::size_of::<libc::sockaddr_in>()
        }
        SocketAddr::V6(v6) => {
            // SAFETY: plain data, all-zero is valid; we set every meaningful field below.
            let mut raw: libc::sockaddr_in6 = unsafe { mem::zeroed() };
            raw.sin6_family = libc::AF_INET6 as libc::sa_family_t;
            raw.sin6_port = v6.port().to_be();
            raw.sin6_flowinfo = v6.flowinfo();
            raw.sin6_addr = libc::in6_addr {
                s6_addr: v6.ip().octets(),
            };
            raw.sin6_scope_id = v6.scope_id();
            // SAFETY: `sockaddr_storage` is larger than and aligned for every sockaddr type.
            unsafe {
                ptr::write(
                    ptr::from_mut(&mut storage).cast::<libc::sockaddr_in6>(),
                    raw,
                )
            };
            mem::size_of::<libc::sockaddr_in6>()
        }
    };
    (storage, len as libc::socklen_t)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn socket_addresses_survive_the_round_trip_through_sockaddr() {
        let addrs: [SocketAddr; 2] = [
            "192.0.2.7:8080".parse().expect("v4"),
            SocketAddr::V6(SocketAddrV6::new(
                "2001:db8::1".parse().expect("v6"),
                443,
                5,
                9,
            )),
        ];
        for addr in addrs {
            let (storage, len) = socket_addr_to_raw(&addr);
            let back = socket_addr_from_raw(ptr::from_ref(&storage).cast(), len);
            assert_eq!(back, Some(addr));
        }
    }

    #[test]
    fn short_or_foreign_addresses_are_skipped() {
        let (storage, _) = socket_addr_to_raw(&"127.0.0.1:1".parse().expect("v4"));
        let raw = ptr::from_ref(&storage).cast::<libc::sockaddr>();
        assert_eq!(socket_addr_from_raw(raw, 4), None);
        assert_eq!(socket_addr_from_raw(ptr::null(), 16), None);
    }

    #[test]
    #[cfg(target_env = "gnu")]
    fn gai_message_names_the_failure() {
        assert_eq!(gai_message(libc::EAI_NONAME), "Name or service not known");
    }
}
