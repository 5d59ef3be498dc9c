//! Helpers shared by the integration tests.
#![allow(dead_code, unreachable_pub)]

pub mod example;
pub mod http;
pub mod net;
pub mod task;

/// The OS error codes sockets report: `errno` values on Unix, Winsock's `WSAE*` codes on
/// Windows (where `libc::E*` are the C runtime's unrelated numbers).
#[allow(unused_imports)]
pub mod errno {
    #[cfg(unix)]
    pub use libc::{EDESTADDRREQ, EISCONN, EMSGSIZE, ENOTCONN};
    #[cfg(windows)]
    pub use windows_sys::Win32::Networking::WinSock::{
        WSAEDESTADDRREQ as EDESTADDRREQ, WSAEISCONN as EISCONN, WSAEMSGSIZE as EMSGSIZE,
        WSAENOTCONN as ENOTCONN,
    };
}

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::mpsc;
use std::time::Duration;

/// Runs `f` on its own thread and fails the test if it takes longer than `secs`.
pub fn with_timeout<F: FnOnce() + Send + 'static>(secs: u64, f: F) {
    let (tx, rx) = mpsc::channel();
    let handle = std::thread::spawn(move || {
        f();
        let _ = tx.send(());
    });
    match rx.recv_timeout(Duration::from_secs(secs)) {
        Ok(()) => handle.join().expect("test thread panicked"),
        Err(mpsc::RecvTimeoutError::Disconnected) => {
            if let Err(panic) = handle.join() {
                std::panic::resume_unwind(panic);
            }
        }
        Err(mpsc::RecvTimeoutError::Timeout) => panic!("test timed out after {secs} s"),
    }
}

/// A shared event log that callbacks append to.
#[derive(Clone, Default)]
pub struct Trace(Rc<RefCell<Vec<String>>>);

impl Trace {
    pub fn new() -> Self {
        Self::default()
    }
    pub fn push(&self, s: impl Into<String>) {
        self.0.borrow_mut().push(s.into());
    }
    pub fn take(&self) -> Vec<String> {
        std::mem::take(&mut *self.0.borrow_mut())
    }
    pub fn get(&self) -> Vec<String> {
        self.0.borrow().clone()
    }
    pub fn len(&self) -> usize {
        self.0.borrow().len()
    }
}

/// A shared counter.
#[derive(Clone, Default)]
pub struct Counter(Rc<std::cell::Cell<usize>>);

impl Counter {
    pub fn new() -> Self {
        Self::default()
    }
    pub fn inc(&self) -> usize {
        self.0.set(self.0.get() + 1);
        self.0.get()
    }
    pub fn get(&self) -> usize {
        self.0.get()
    }
}

/// Asserts the loop ended clean: no live handles.
pub fn assert_clean(lp: &evloop::Loop) {
    let live = lp.active_handles();
    assert!(live.is_empty(), "handles left: {live:#?}");
    assert!(!lp.alive(), "loop still alive: {lp:?}");
}
