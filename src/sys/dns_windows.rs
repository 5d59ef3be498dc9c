//! `GetAddrInfoW` and `GetNameInfoW` (Winsock): the system resolver on Windows, as libuv uses it.
//! Same shape as the Unix `sys::dns` (raw flags in, Rust addresses out), with Winsock's values
//! for the `AF_*`, `SOCK_*`, `AI_*`, `NI_*` and `EAI_*` constants.

use std::ffi::c_int;
use std::net::SocketAddr;
use std::sync::Once;
use std::{io, mem, ptr};

use socket2::SockAddr;
use windows_sys::Win32::Networking::WinSock as ws;

/// Address families (`ws2def.h`).
pub(crate) const AF_UNSPEC: c_int = ws::AF_UNSPEC as c_int;
pub(crate) const AF_INET: c_int = ws::AF_INET as c_int;
pub(crate) const AF_INET6: c_int = ws::AF_INET6 as c_int;
/// Socket types.
pub(crate) const SOCK_STREAM: c_int = ws::SOCK_STREAM;
pub(crate) const SOCK_DGRAM: c_int = ws::SOCK_DGRAM;
/// `GetAddrInfoW` flags.
pub(crate) const AI_PASSIVE: c_int = ws::AI_PASSIVE as c_int;
pub(crate) const AI_NUMERICHOST: c_int = ws::AI_NUMERICHOST as c_int;
pub(crate) const AI_NUMERICSERV: c_int = ws::AI_NUMERICSERV as c_int;
pub(crate) const AI_ADDRCONFIG: c_int = ws::AI_ADDRCONFIG as c_int;
pub(crate) const AI_V4MAPPED: c_int = ws::AI_V4MAPPED as c_int;
pub(crate) const AI_ALL: c_int = ws::AI_ALL as c_int;
/// `GetNameInfoW` flags.
pub(crate) const NI_NUMERICHOST: c_int = ws::NI_NUMERICHOST as c_int;
pub(crate) const NI_NUMERICSERV: c_int = ws::NI_NUMERICSERV as c_int;
pub(crate) const NI_NAMEREQD: c_int = ws::NI_NAMEREQD as c_int;
pub(crate) const NI_NOFQDN: c_int = ws::NI_NOFQDN as c_int;
pub(crate) const NI_DGRAM: c_int = ws::NI_DGRAM as c_int;
/// The `EAI_*` codes, which `ws2tcpip.h` defines as Winsock errors.
pub(crate) const EAI_AGAIN: c_int = ws::WSATRY_AGAIN;
pub(crate) const EAI_BADFLAGS: c_int = ws::WSAEINVAL;
pub(crate) const EAI_FAIL: c_int = ws::WSANO_RECOVERY;
pub(crate) const EAI_FAMILY: c_int = ws::WSAEAFNOSUPPORT;
pub(crate) const EAI_MEMORY: c_int = ws::WSA_NOT_ENOUGH_MEMORY;
pub(crate) const EAI_NONAME: c_int = ws::WSAHOST_NOT_FOUND;
pub(crate) const EAI_NODATA: c_int = ws::WSANO_DATA;
pub(crate) const EAI_SERVICE: c_int = ws::WSATYPE_NOT_FOUND;
pub(crate) const EAI_SOCKTYPE: c_int = ws::WSAESOCKTNOSUPPORT;

/// A failed resolver call: the `EAI_*` (Winsock) code. Windows has no `EAI_SYSTEM`, so
/// `system` is always `None`; the field keeps the Unix module's shape.
#[derive(Debug)]
pub(crate) struct GaiFailure {
    /// The code the call returned.
    pub(crate) code: c_int,
    /// Always `None` on Windows.
    pub(crate) system: Option<io::Error>,
}

impl GaiFailure {
    fn new(code: c_int) -> Self {
        Self { code, system: None }
    }
}

/// Winsock must be started before its resolver answers (`WSANOTINITIALISED` otherwise). std
/// starts it only when it makes a socket, and a lookup may come first. Started once, never
/// cleaned up, as std does.
fn start_winsock() {
    static START: Once = Once::new();
    START.call_once(|| {
        // SAFETY: `WSADATA` is plain data that WSAStartup fills; all-zero is a valid start.
        let mut data: ws::WSADATA = unsafe { mem::zeroed() };
        // SAFETY: `data` is a valid, writable WSADATA for the duration of the call. Version 2.2
        // is what std and mio ask for; a failure here shows as the lookup's own error.
        let _ = unsafe { ws::WSAStartup(0x0202, &raw mut data) };
    });
}

/// The list `GetAddrInfoW` allocated; freed when this guard drops, on every path.
struct AddrInfoList(*mut ws::ADDRINFOW);

impl Drop for AddrInfoList {
    fn drop(&mut self) {
        if !self.0.is_null() {
            // SAFETY: the pointer came from a successful GetAddrInfoW and is freed only here, once.
            unsafe { ws::FreeAddrInfoW(self.0) };
        }
    }
}

/// `text` as a NUL-terminated UTF-16 string (the caller has checked there is no NUL in it).
fn wide(text: &str) -> Vec<u16> {
    text.encode_utf16().chain(Some(0)).collect()
}

/// Calls `GetAddrInfoW` with the given hints (`AF_*`, `SOCK_*`, `AI_*`) and returns every
/// address in the resolver's order, duplicates included. At least one of `host` and `service`
/// must be given; neither may contain a NUL.
pub(crate) fn getaddrinfo(
    host: Option<&str>,
    service: Option<&str>,
    family: c_int,
    socktype: c_int,
    flags: c_int,
) -> Result<Vec<SocketAddr>, GaiFailure> {
    start_winsock();
    let (host, service) = (host.map(wide), service.map(wide));
    let hints = ws::ADDRINFOW {
        ai_flags: flags,
        ai_family: family,
        ai_socktype: socktype,
        ..ws::ADDRINFOW::default()
    };
    let mut list = AddrInfoList(ptr::null_mut());
    // SAFETY: `host` and `service` are null or NUL-terminated UTF-16 strings alive across the
    // call, `hints` is initialized (zero except the three hint fields), and `list.0` is a valid
    // place for the result pointer.
    let code = unsafe {
        ws::GetAddrInfoW(
            host.as_ref().map_or(ptr::null(), |h| h.as_ptr()),
            service.as_ref().map_or(ptr::null(), |s| s.as_ptr()),
            &raw const hints,
            &raw mut list.0,
        )
    };
    if code != 0 {
        return Err(GaiFailure::new(code));
    }
    let mut addrs = Vec::new();
    let mut entry = list.0;
    while !entry.is_null() {
        // SAFETY: `entry` is a node of the list GetAddrInfoW returned; `list` frees it later.
        let info = unsafe { &*entry };
        addrs.extend(socket_addr_from_raw(info.ai_addr, info.ai_addrlen));
        entry = info.ai_next;
    }
    Ok(addrs)
}

/// Calls `GetNameInfoW` for `addr` with `NI_*` flags and returns `(host, service)`.
pub(crate) fn getnameinfo(addr: &SocketAddr, flags: c_int) -> Result<(String, String), GaiFailure> {
    start_winsock();
    let raw = SockAddr::from(*addr);
    let mut host = [0u16; ws::NI_MAXHOST as usize];
    let mut service = [0u16; ws::NI_MAXSERV as usize];
    // SAFETY: `raw` holds a valid sockaddr of `raw.len()` bytes; each output buffer is writable
    // for the length (in UTF-16 units) passed with it; GetNameInfoW writes NUL-terminated
    // strings within those lengths.
    let code = unsafe {
        ws::GetNameInfoW(
            raw.as_ptr().cast::<ws::SOCKADDR>(),
            raw.len(),
            host.as_mut_ptr(),
            host.len() as u32,
            service.as_mut_ptr(),
            service.len() as u32,
            flags,
        )
    };
    if code != 0 {
        return Err(GaiFailure::new(code));
    }
    Ok((
        wide_buffer_to_string(&host),
        wide_buffer_to_string(&service),
    ))
}

/// The resolver's text for an `EAI_*` code. Fixed texts for the resolver's own codes (what
/// Windows' message table says; wine has no message table, and its `FormatMessageW` fails),
/// the system's message for any other code.
pub(crate) fn gai_message(code: c_int) -> String {
    let text = match code {
        EAI_NONAME => "No such host is known",
        EAI_NODATA => "The requested name is valid, but no data of the requested type was found",
        EAI_AGAIN => "A temporary failure in name resolution occurred",
        EAI_FAIL => "A non-recoverable failure in name resolution occurred",
        EAI_SERVICE => "The specified class was not found",
        EAI_FAMILY => "The address family is not supported",
        EAI_SOCKTYPE => "The socket type is not supported",
        EAI_BADFLAGS => "An invalid argument was supplied",
        EAI_MEMORY => "Not enough memory",
        _ => return io::Error::from_raw_os_error(code).to_string(),
    };
    text.to_owned()
}

fn wide_buffer_to_string(buffer: &[u16]) -> String {
    let end = buffer
        .iter()
        .position(|&unit| unit == 0)
        .unwrap_or(buffer.len());
    String::from_utf16_lossy(&buffer[..end])
}

/// Converts one `ai_addr` to a `SocketAddr`; `None` for null, oversized or non-IP addresses.
fn socket_addr_from_raw(addr: *const ws::SOCKADDR, len: usize) -> Option<SocketAddr> {
    if addr.is_null() {
        return None;
    }
    // SAFETY: `try_init` hands a zeroed, writable storage of `*capacity` bytes; we copy at most
    // that many bytes from `addr`, which points to `len` readable bytes per GetAddrInfoW.
    let copied = unsafe {
        SockAddr::try_init(|storage, capacity| {
            let capacity = usize::try_from(*capacity).unwrap_or(0);
            if len > capacity {
                return Err(io::Error::from(io::ErrorKind::InvalidData));
            }
            ptr::copy_nonoverlapping(addr.cast::<u8>(), storage.cast::<u8>(), len);
            Ok(())
        })
    };
    let (_, mut raw) = copied.ok()?;
    // SAFETY: the first `len` bytes of the storage were copied from a valid address above.
    unsafe { raw.set_length(i32::try_from(len).ok()?) };
    raw.as_socket()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn socket_addresses_come_back_from_raw() {
        for text in ["127.0.0.1:80", "[::1]:443"] {
            let addr: SocketAddr = text.parse().expect("an address");
            let raw = SockAddr::from(addr);
            let back = socket_addr_from_raw(raw.as_ptr().cast(), raw.len() as usize);
            assert_eq!(back, Some(addr));
        }
        assert_eq!(socket_addr_from_raw(ptr::null(), 16), None);
    }

    #[test]
    fn resolver_codes_have_texts() {
        assert_eq!(gai_message(EAI_NONAME), "No such host is known");
        assert!(!gai_message(12345).is_empty());
    }
}
