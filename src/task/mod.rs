//! Futures on the loop: `async`/`await` beside the callbacks, with Node's promise semantics.
//!
//! [`Loop::spawn_local`](crate::Loop::spawn_local) runs a `'static` future (not `Send`) as a *task* of the
//! loop and returns a [`JoinHandle`]; [`Loop::block_on`](crate::Loop::block_on) runs the loop
//! until one future completes (for `main`).
//!
//! # The rules
//!
//! - **Wake-ups are microtasks.** A task woken on the loop thread is polled in the microtask
//!   drain that follows the current callback, in FIFO order with the microtasks queued so far,
//!   as a promise continuation is in Node. A freshly spawned task's first poll is queued the
//!   same way. Many wakes before the poll give one poll. A waker used on another thread posts
//!   the wake to the loop (coalesced too); it runs in the poll phase like any
//!   [`LoopSender`](crate::LoopSender) post, and the task is polled in the drain after it
//!   (unless a poll of the task started before the post arrived: that poll took the wake).
//! - **A task that wakes itself** (`yield_now`, an `await` on something already done that
//!   wakes at once) while its poll would be the queue's next entry is polled again at once,
//!   without the queue round trip: the order the queue would give, a few nanoseconds per
//!   `await`.
//! - **Liveness as in Node.** A pending task does not keep the loop alive; what it waits on
//!   (a timer, a socket, a pool job) does. `run` returns when nothing is alive even if tasks
//!   are pending; [`Loop::pending_tasks`](crate::Loop::pending_tasks) lists them with the
//!   `file:line` that spawned them.
//! - **Panics.** A panicking task resolves its handle to [`Error::Panicked`](crate::Error)
//!   with the panic message; the loop and every other task go on.
//! - **Cancellation by drop.** Dropping a future of this module cancels its operation (a
//!   dropped read stops reading, a dropped sleep clears its timer, a dropped pool job is taken
//!   off the queue if no worker started it). [`JoinHandle::abort`] drops a task's future at a
//!   safe point: in the microtask drain, never while it is being polled.
//! - **Lag attribution.** Each poll is a callback of kind
//!   [`CallbackKind::Task`](crate::CallbackKind::Task) named by the task's spawn site: slow
//!   polls are reported by the [slow-callback hook](crate::Loop::on_slow_callback) and the
//!   watchdog names a task stuck in a poll. A chain of polls of a task that keeps waking itself
//!   is one such run (timed as one, like a long synchronous callback); the counters still count
//!   each poll as a callback and a microtask.
//!
//! # How a future reaches the loop
//!
//! Callbacks get `&mut Loop`; a future's `poll` cannot (its signature is fixed). evloop keeps
//! no `RefCell` around the loop and uses no `unsafe` for this. Instead:
//!
//! - While the loop polls a task it sets a thread-local *current loop*: an `Rc` to the state
//!   the loop shares with its futures (its microtask queue and a queue of deferred
//!   operations). It never holds a pointer to the `Loop` itself.
//! - A future that needs the loop (to start a timer, a read, a pool job) takes that `Rc` on its
//!   first poll and *defers* a closure `FnOnce(&mut Loop)` to it. The loop runs deferred
//!   closures right after the poll returns, with `&mut Loop`, in order. The closure starts the
//!   callback-based operation, whose callback completes an `Rc` slot shared with the future and
//!   wakes its task ([`callback`] is this pattern, for any callback API).
//! - A future dropped outside a poll (an abort, the loop being dropped) defers its cancellation
//!   the same way; it then runs as a microtask.
//! - A future polled anywhere else (another executor, a callback calling `poll` by hand, a
//!   thread without a loop) finds no current loop and resolves to
//!   [`Error::InvalidState`](crate::Error::InvalidState) naming the problem — never undefined
//!   behaviour, never a panic.
//!
//! A task is one allocation: its future, its join slot and its waker's state. Wakers are
//! `Send + Sync` and reach only the waker's state (plain data and atomics): on the loop's
//! thread a wake finds the loop's microtask queue through a thread-local registry keyed by a
//! loop id (or, for the task being polled, a thread-local mark of that poll: no lookup); on
//! another thread it posts through the loop's cross-thread inbox. The loop thread's side of
//! the waker makes no atomic read-modify-write; a cross-thread wake sets its flag with a swap
//! and the loop takes it with one (`Acquire`), so the poll sees what the waker did. The future and
//! the join slot are dropped on the loop's thread when the task finishes (or is aborted, or
//! its loop dropped) and its handles are gone, even while a waker lives on elsewhere; the one
//! `unsafe` part of this (the waker's vtable and polling the future in place) is in
//! `sys::task_cell` with its safety argument.

mod block_on;
mod call;
#[cfg(feature = "hyper")]
pub mod hyper;
pub(crate) mod join;
#[cfg_attr(
    not(unix),
    allow(unused_imports, reason = "its Unix-domain half is Unix-only")
)]
mod listener;
pub(crate) mod runtime;
pub(crate) mod self_wake;
mod stream;
mod time;
mod udp;
mod waker;
#[cfg_attr(
    not(unix),
    allow(unused_imports, reason = "its lookups and signals are Unix-only")
)]
mod work;

pub use self::call::{
    Callback, Cancel, Completer, YieldNow, callback, spawn, with_loop, yield_now,
};
pub use self::join::{AbortHandle, JoinHandle};
pub use self::listener::{Accept, AsyncListener, AsyncTcpListener, tcp_connect};
#[cfg(unix)]
pub use self::listener::{AsyncUnixListener, unix_connect};
pub(crate) use self::runtime::Runtime;
pub use self::runtime::TaskInfo;
#[cfg(unix)]
pub use self::stream::AsyncUnixStream;
pub use self::stream::{AsyncStream, AsyncTcpStream, ReadFut, SendFut, StreamKind};
pub use self::time::{Interval, Sleep, interval, sleep};
pub use self::udp::{AsyncUdpSocket, RecvFrom};
pub use self::work::spawn_blocking;
#[cfg(unix)]
pub use self::work::{Signals, lookup};
