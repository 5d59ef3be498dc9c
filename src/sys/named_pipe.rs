//! Windows named pipes: creating a server instance and opening a client, as mio `NamedPipe`s
//! (mio drives their overlapped I/O on the loop's completion port).

use std::ffi::OsStr;
use std::fs::OpenOptions;
use std::io;
use std::os::windows::ffi::OsStrExt;
use std::os::windows::fs::OpenOptionsExt;
use std::os::windows::io::{FromRawHandle, IntoRawHandle, OwnedHandle, RawHandle};

use mio::windows::NamedPipe;
use windows_sys::Win32::Foundation::INVALID_HANDLE_VALUE;
use windows_sys::Win32::Storage::FileSystem::{
    FILE_FLAG_FIRST_PIPE_INSTANCE, FILE_FLAG_OVERLAPPED, PIPE_ACCESS_DUPLEX,
    SECURITY_IDENTIFICATION,
};
use windows_sys::Win32::System::Pipes::{
    CreateNamedPipeW, PIPE_READMODE_BYTE, PIPE_REJECT_REMOTE_CLIENTS, PIPE_TYPE_BYTE,
    PIPE_UNLIMITED_INSTANCES, PIPE_WAIT,
};

/// The pipe's buffer sizes, each way (libuv and mio ask for 64 KiB too).
const BUFFER_SIZE: u32 = 64 * 1024;

/// `name` as a NUL-terminated UTF-16 string, or `InvalidInput` if it holds a NUL.
pub(crate) fn wide_name(name: &OsStr) -> io::Result<Vec<u16>> {
    let wide: Vec<u16> = name.encode_wide().collect();
    if wide.contains(&0) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "pipe name contains a NUL character",
        ));
    }
    Ok(wide.into_iter().chain(Some(0)).collect())
}

/// A new server instance of the byte-mode pipe `name` (NUL-terminated UTF-16, from
/// [`wide_name`]), overlapped, any number of instances, local clients only. With `first`, the
/// call fails (`ERROR_ACCESS_DENIED`) if the name already has an instance: a second server on
/// a name in use is refused, as `EADDRINUSE` refuses a socket file that exists.
pub(crate) fn create_instance(name: &[u16], first: bool) -> io::Result<NamedPipe> {
    debug_assert_eq!(name.last(), Some(&0), "the name is NUL-terminated");
    let mut open_mode = PIPE_ACCESS_DUPLEX | FILE_FLAG_OVERLAPPED;
    if first {
        open_mode |= FILE_FLAG_FIRST_PIPE_INSTANCE;
    }
    // SAFETY: `name` is a NUL-terminated UTF-16 string that outlives the call (checked above
    // in debug builds, guaranteed by `wide_name`); a null security-attributes pointer asks
    // for the default descriptor, which the call allows. No other pointer is passed.
    let handle = unsafe {
        CreateNamedPipeW(
            name.as_ptr(),
            open_mode,
            PIPE_TYPE_BYTE | PIPE_READMODE_BYTE | PIPE_WAIT | PIPE_REJECT_REMOTE_CLIENTS,
            PIPE_UNLIMITED_INSTANCES,
            BUFFER_SIZE,
            BUFFER_SIZE,
            0,
            std::ptr::null(),
        )
    };
    if handle == INVALID_HANDLE_VALUE {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `CreateNamedPipeW` succeeded, so `handle` is a new, valid handle that nothing
    // else owns; the `OwnedHandle` takes it over (and closes it if anything below fails).
    let owned = unsafe { OwnedHandle::from_raw_handle(handle as RawHandle) };
    Ok(into_named_pipe(owned))
}

/// Opens the client end of the pipe `name` for overlapped reading and writing. The server may
/// act for the client only to identify it (`SECURITY_IDENTIFICATION`), never impersonate it.
/// A name with no free instance fails with `ERROR_PIPE_BUSY` (raw OS error 231).
pub(crate) fn open_client(name: &OsStr) -> io::Result<NamedPipe> {
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(FILE_FLAG_OVERLAPPED)
        .security_qos_flags(SECURITY_IDENTIFICATION)
        .open(name)?;
    Ok(into_named_pipe(OwnedHandle::from(file)))
}

/// Hands an owned pipe handle, opened with `FILE_FLAG_OVERLAPPED`, to mio.
fn into_named_pipe(handle: OwnedHandle) -> NamedPipe {
    // SAFETY: the handle is owned (so nothing else closes it) and is a pipe handle opened for
    // overlapped I/O, which is what `NamedPipe` requires; the `NamedPipe` now owns it and
    // closes it once dropped and its pending I/O has completed.
    unsafe { NamedPipe::from_raw_handle(handle.into_raw_handle()) }
}

/// The Win32 error a client open reports when every instance of the pipe is busy.
pub(crate) const ERROR_PIPE_BUSY: i32 = windows_sys::Win32::Foundation::ERROR_PIPE_BUSY as i32;
