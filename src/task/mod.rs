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
//! no `RefCell` around the loop. Instead the loop **lends itself to the poll of its task**:
//!
//! - While the loop polls a task, it publishes its `&mut Loop` (as a pointer, in a
//!   thread-local) for exactly the duration of that poll, and does not touch itself
//!   meanwhile. Code inside the poll borrows it back for one closure at a time:
//!   [`try_with_loop`] for your own code, and the futures of this module for their I/O. A
//!   stream's write goes to the socket right there (what the socket does not take is queued
//!   in order, as the callback API's `try_write` then `write`), so a write that fits completes
//!   in the same poll; a read reads the socket right there too, into the caller's buffer, and
//!   only an empty socket makes it wait (for the readable edge, at which the loop polls the
//!   waiting task straight away when nothing is queued before it, as the drain would);
//!   hyper's sleeps share one loop timer, armed and cleared inline.
//! - The borrow is refused with [`Error::InvalidState`](crate::Error::InvalidState), never
//!   undefined behaviour and never a panic, outside that scope (in a callback, on another
//!   thread, in a future polled by another executor), from inside another borrow (one
//!   `&mut Loop` at a time: a re-entrant use is an error), or for a future of another loop.
//!   The `unsafe` of this (turning the pointer back into `&mut Loop`) is in `sys::loop_scope`,
//!   with its safety argument: the lent `&mut` stays borrowed by the lending call until the
//!   poll returns; a task's future lives in its own allocation, not inside `Loop`, so the two
//!   `&mut` never overlap; what both reach (a stream's shared state, the task's cell) is behind
//!   `Cell`/`RefCell`; the loop's table holds no handle to the task being polled, so an abort
//!   issued inside the poll is carried out after it; and no evloop API called from there runs
//!   a callback inside the call (callbacks run in their phases).
//! - What cannot run inline (a future polled outside its task, a borrow refused because one is
//!   already out, a future dropped outside any poll) is *deferred*: a closure
//!   `FnOnce(&mut Loop)` run right after the current poll, in order, or as a microtask outside
//!   any. A stream keeps its operations in order across both ways: while one of its
//!   operations is deferred, the next ones are deferred behind it. [`with_loop`] and
//!   [`callback`] always take this way (their closure runs right after the poll, for any
//!   callback API: the callback completes an `Rc` slot shared with the future and wakes its
//!   task).
//! - A future of this module polled anywhere else that needs its loop's shared state (to start
//!   a timer, a pool job) finds none and resolves to
//!   [`Error::InvalidState`](crate::Error::InvalidState) naming the problem.
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
pub(crate) mod shared;
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
    Callback, Cancel, Completer, YieldNow, callback, spawn, try_with_loop, with_loop, yield_now,
};
pub use self::join::{AbortHandle, JoinHandle};
pub use self::listener::{Accept, AsyncListener, AsyncTcpListener, tcp_connect};
pub use self::listener::{AsyncUnixListener, unix_connect};
pub(crate) use self::runtime::Runtime;
pub use self::runtime::TaskInfo;
pub use self::stream::AsyncUnixStream;
pub use self::stream::{
    AsyncStream, AsyncTcpStream, ReadChunkFut, ReadFut, ReadableFut, SendFut, StreamKind,
};
pub use self::time::{Interval, Sleep, interval, sleep};
pub use self::udp::{AsyncUdpSocket, RecvFrom};
pub use self::work::spawn_blocking;
#[cfg(unix)]
pub use self::work::{Signals, lookup};
