//! Console control events as signals, libuv's `uv_signal` emulation on Windows: one
//! process-wide handler (`SetConsoleCtrlHandler`) turns Ctrl-C into `SIGINT`, Ctrl-Break into
//! `SIGBREAK` and the console window closing into `SIGHUP`, and hands each to every watcher of
//! that number.

use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock, PoisonError};

use windows_sys::Win32::System::Console::{
    CTRL_BREAK_EVENT, CTRL_C_EVENT, CTRL_CLOSE_EVENT, SetConsoleCtrlHandler,
};
use windows_sys::core::BOOL;

/// The console window is closing (libuv's number).
pub(crate) const SIGHUP: i32 = 1;
/// Ctrl-C (the C runtime's number).
pub(crate) const SIGINT: i32 = 2;
/// Ctrl-Break (the C runtime's number).
pub(crate) const SIGBREAK: i32 = 21;

/// What a watcher does with a delivery: post it to its loop (it must not block).
pub(crate) type Deliver = Box<dyn Fn() + Send>;

struct Entry {
    key: u64,
    signum: i32,
    deliver: Deliver,
}

static WATCHERS: Mutex<Vec<Entry>> = Mutex::new(Vec::new());
static NEXT_KEY: AtomicU64 = AtomicU64::new(0);
/// The result of installing the handler (once per process), as a raw OS error.
static INSTALLED: OnceLock<Result<(), i32>> = OnceLock::new();

/// A watcher in the process-wide table; dropping it removes the watcher.
pub(crate) struct Registration {
    key: u64,
}

impl Drop for Registration {
    fn drop(&mut self) {
        let mut watchers = WATCHERS.lock().unwrap_or_else(PoisonError::into_inner);
        watchers.retain(|entry| entry.key != self.key);
    }
}

/// Adds a watcher of `signum` (one of [`SIGINT`], [`SIGBREAK`], [`SIGHUP`]; the caller has
/// checked), installing the handler on first use.
pub(crate) fn watch(signum: i32, deliver: Deliver) -> io::Result<Registration> {
    let installed = INSTALLED.get_or_init(|| {
        // SAFETY: `handler` is a valid `extern "system"` function for the whole life of the
        // process (a plain function, never unloaded); adding it has no other precondition.
        let ok = unsafe { SetConsoleCtrlHandler(Some(handler), 1) };
        if ok == 0 {
            Err(io::Error::last_os_error().raw_os_error().unwrap_or(0))
        } else {
            Ok(())
        }
    });
    if let Err(code) = installed {
        return Err(io::Error::from_raw_os_error(*code));
    }
    let key = NEXT_KEY.fetch_add(1, Ordering::Relaxed);
    let mut watchers = WATCHERS.lock().unwrap_or_else(PoisonError::into_inner);
    watchers.push(Entry {
        key,
        signum,
        deliver,
    });
    Ok(Registration { key })
}

/// The signal number of a console control event, if it is one evloop reports.
fn signum_of(ctrl: u32) -> Option<i32> {
    match ctrl {
        CTRL_C_EVENT => Some(SIGINT),
        CTRL_BREAK_EVENT => Some(SIGBREAK),
        CTRL_CLOSE_EVENT => Some(SIGHUP),
        _ => None, // logoff and shutdown: services' events, not reported (as libuv)
    }
}

/// Hands the event to every watcher of its signal; whether any took it. What the OS's call of
/// the handler does, and what tests call in its place.
pub(crate) fn dispatch(ctrl: u32) -> bool {
    let Some(signum) = signum_of(ctrl) else {
        return false;
    };
    let watchers = WATCHERS.lock().unwrap_or_else(PoisonError::into_inner);
    let mut any = false;
    for entry in watchers.iter().filter(|entry| entry.signum == signum) {
        (entry.deliver)();
        any = true;
    }
    any
}

/// Sends a Ctrl-Break to the console process group `group` (a process started with
/// `CREATE_NEW_PROCESS_GROUP` leads the group numbered by its pid). Tests only: sent to group 0
/// it would reach every process on the console.
#[cfg(test)]
pub(crate) fn raise_ctrl_break(group: u32) -> io::Result<()> {
    // SAFETY: plain call with two integers; it has no memory preconditions.
    if unsafe {
        windows_sys::Win32::System::Console::GenerateConsoleCtrlEvent(CTRL_BREAK_EVENT, group)
    } == 0
    {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// The console control handler; Windows calls it on a thread of its own. Returning TRUE keeps
/// the default action (ending the process) from running; with no watcher it returns FALSE,
/// so Ctrl-C still ends a program that watches nothing.
extern "system" fn handler(ctrl: u32) -> BOOL {
    let taken = dispatch(ctrl);
    if taken && ctrl == CTRL_CLOSE_EVENT {
        // Windows ends the process as soon as this returns from a close event (and after a few
        // seconds in any case): as libuv, never return, so the loops get those seconds to run
        // their SIGHUP callbacks.
        loop {
            std::thread::park();
        }
    }
    BOOL::from(taken)
}
