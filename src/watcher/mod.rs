//! Handles that watch something and call back when it happens: a loop phase (idle, prepare,
//! check), a raw file descriptor (libuv's `uv_poll_t`), a signal, or a wake-up from another
//! thread (libuv's `uv_async_t`), or a typed message from another thread (`channel`). Each is a
//! handle kind registered in the loop's registry.

pub(crate) mod async_handle;
pub mod channel;
#[cfg(unix)]
pub(crate) mod fd;
pub(crate) mod loop_phase;
pub(crate) mod signal;

pub use async_handle::{AsyncHandle, Notifier, NotifyError};
#[cfg(unix)]
pub use fd::{Interest, Readiness, Watcher};
pub use loop_phase::{Check, Idle, Prepare};
pub use signal::Signal;
