//! The OS error codes the portable code compares with: `errno` values on Unix, Winsock's
//! `WSAE*` codes on Windows (sockets there never report `errno` values, so comparing with a
//! `libc::E*` constant would silently never match). Callers match `raw_os_error()` against
//! these names and never spell a platform's constant themselves.

#[cfg(unix)]
mod codes {
    pub(crate) const EMSGSIZE: i32 = libc::EMSGSIZE;
    pub(crate) const EISCONN: i32 = libc::EISCONN;
    pub(crate) const ENOTCONN: i32 = libc::ENOTCONN;
    pub(crate) const EDESTADDRREQ: i32 = libc::EDESTADDRREQ;
    pub(crate) const EAFNOSUPPORT: i32 = libc::EAFNOSUPPORT;
}

#[cfg(windows)]
mod codes {
    use windows_sys::Win32::Networking::WinSock as ws;
    pub(crate) const EMSGSIZE: i32 = ws::WSAEMSGSIZE;
    pub(crate) const EISCONN: i32 = ws::WSAEISCONN;
    pub(crate) const ENOTCONN: i32 = ws::WSAENOTCONN;
    pub(crate) const EDESTADDRREQ: i32 = ws::WSAEDESTADDRREQ;
}

pub(crate) use codes::*;

/// Whether `err` says the process (`EMFILE`) or the system (`ENFILE`) ran out of descriptors;
/// Winsock has one code for both, `WSAEMFILE`.
pub(crate) fn out_of_descriptors(err: &std::io::Error) -> bool {
    #[cfg(unix)]
    {
        matches!(err.raw_os_error(), Some(libc::EMFILE | libc::ENFILE))
    }
    #[cfg(windows)]
    {
        err.raw_os_error() == Some(windows_sys::Win32::Networking::WinSock::WSAEMFILE)
    }
}

/// Whether `err`, from a non-blocking `connect`, means "still connecting" rather than failed.
/// Unix says `EINPROGRESS`; Winsock says `WSAEWOULDBLOCK` (and `WSAEINPROGRESS` only for a
/// blocking call in progress, which cannot happen here but means the same). On Unix `EAGAIN`
/// is *not* in progress: it is final (a Unix socket's full backlog, or no free local port).
pub(crate) fn connect_in_progress(err: &std::io::Error) -> bool {
    #[cfg(unix)]
    {
        err.raw_os_error() == Some(libc::EINPROGRESS)
    }
    #[cfg(windows)]
    {
        use windows_sys::Win32::Networking::WinSock as ws;
        matches!(
            err.raw_os_error(),
            Some(ws::WSAEWOULDBLOCK | ws::WSAEINPROGRESS)
        )
    }
}
