//! Windows calls std does not offer: closing a handle with its error reported.

use std::io;
use std::os::windows::io::{IntoRawHandle, OwnedHandle};

use windows_sys::Win32::Foundation::CloseHandle;

/// `CloseHandle`, reporting its error (dropping an `OwnedHandle` ignores it), as `sys::close`
/// reports `close(2)`'s on Unix.
pub(crate) fn close_handle(handle: OwnedHandle) -> io::Result<()> {
    let raw = handle.into_raw_handle();
    // SAFETY: `raw` came out of an `OwnedHandle`, so we own it and nothing else closes it; it is
    // closed exactly once, here.
    if unsafe { CloseHandle(raw) } == 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}
