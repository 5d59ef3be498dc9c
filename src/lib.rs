//! evloop: a libuv-style, single-threaded, callback-driven event loop on [mio].
//!
//! One thread runs a [`Loop`]. Handles (timers, watchers, sockets...) are typed `Copy` ids into
//! the loop; every callback receives `&mut Loop` first, so a callback may start timers, close
//! handles (its own included) or replace itself. Application state lives in the loop too
//! ([`Loop::insert_state`], [`Loop::state`], [`Loop::with_state`], per-handle
//! [`Handle::set_data`]), so callbacks share it through the `&mut Loop` they get: no
//! `Rc<RefCell<…>>` in your program, no borrow panics.
//!
//! A whole TCP server whose clients share state: it greets each client with the number of
//! clients so far, counts bytes in loop state, cuts a client idle for 30 s, and `end`s each
//! connection after its first line (here a client in the same loop says hello once).
//!
//! ```
//! use std::time::Duration;
//! use evloop::net::{ReadEvent, TcpListener, TcpStream};
//! use evloop::{Handle, Loop};
//!
//! #[derive(Default)]
//! struct Stats { clients: u32, bytes: usize }
//!
//! # fn main() -> Result<(), evloop::Error> {
//! let mut lp = Loop::new()?;
//! lp.insert_state(Stats::default());
//! let server = TcpListener::bind(&mut lp, "127.0.0.1:0", |lp, server, conn| {
//!     let Ok(client) = conn else { return };
//!     let stats = lp.state::<Stats>().expect("inserted above");
//!     stats.clients += 1;
//!     let greeting = format!("hello, client {}\n", stats.clients);
//!     let _ = client.write(lp, greeting, |_, _| {});
//!     let _ = client.set_idle_timeout(lp, Duration::from_secs(30), |lp, c| {
//!         let _ = c.end(lp, "idle, bye\n", |_, _| {});
//!     });
//!     let _ = client.read_start(lp, |lp, client, ev| match ev {
//!         ReadEvent::Data(bytes) => {
//!             lp.state::<Stats>().expect("inserted above").bytes += bytes.len();
//!             let _ = client.end(lp, "bye\n", |_, _| {}); // flush, FIN, close
//!         }
//!         ReadEvent::Eof | ReadEvent::Error(_) => drop(client.close(lp, |_| {})),
//!     });
//!     let _ = server.close(lp, |_| {}); // one client is enough for this example
//! })?;
//! let addr = server.local_addr(&lp)?;
//!
//! TcpStream::connect(&mut lp, addr, |lp, conn| {
//!     let Ok(stream) = conn else { return };
//!     let _ = stream.write(lp, b"hi\n", |_, _| {});
//!     let _ = stream.read_start(lp, |lp, stream, ev| {
//!         if !matches!(ev, ReadEvent::Data(_)) {
//!             let _ = stream.close(lp, |_| {});
//!         }
//!     });
//! })?;
//! lp.run()?; // returns when nothing keeps the loop alive
//! assert_eq!(lp.state::<Stats>().map(|s| (s.clients, s.bytes)), Some((1, 3)));
//! assert!(lp.active_handles().is_empty());
//! # Ok(())
//! # }
//! ```
//!
//! Other threads reach the loop through a typed [`channel`](Loop::channel) (with a bound for
//! backpressure) or a [`LoopSender`]; errors are one [`Error`] type (see *Errors* below).
//!
//! # The phase spec
//!
//! This is the contract `tests/` pins, sentence by sentence.
//!
//! **Iteration.** [`Loop::run`] (mode [`RunMode::Default`]) first updates the cached clock and
//! runs due timers once (only if the loop is alive and not stopped — a task drained as `run`
//! starts may stop it and skip the pass; liveness is not re-checked after this pass, so a loop
//! whose only handle was a 0 ms timer still makes one iteration).
//! Then, while the loop is alive and not stopped, each iteration runs:
//!
//! 1. **pending** — callbacks deferred by earlier work (write completions, connect errors,
//!    cancellations, re-queued readers);
//! 2. **idle** — idle watchers;
//! 3. **prepare** — prepare watchers;
//! 4. **poll** — wait for I/O (see *poll timeout*), then dispatch I/O events, thread-pool
//!    completions and cross-thread posts (in send order);
//! 5. **pending** again, up to 8 rounds, for callbacks produced during poll;
//! 6. **check** — immediates ([`Loop::set_immediate`]), then check watchers;
//! 7. **close** — close callbacks of handles closed before this phase began;
//! 8. the cached clock is refreshed, then **timers** — due timers in (due time, start order).
//!
//! **Microtasks.** After *every* callback (timer, I/O, immediate, watcher, completion, post,
//! close) the loop drains the next-tick queue ([`Loop::next_tick`]) and then the microtask queue
//! ([`Loop::queue_microtask`]), repeating until both are empty, as Node ≥ 11 does. Work queued
//! during a drain runs in that drain; a microtask's own microtasks run before the next-ticks it
//! queued. Tasks queued before `run` drain when `run` starts, before the first phase. The
//! builder's [tick cap](LoopBuilder::max_ticks_per_drain) bounds next-ticks only: a drain that
//! hits it leaves the remaining next-ticks for the next drain point but still runs the
//! microtasks queued so far.
//!
//! **Futures.** A [spawned](Loop::spawn_local) future is polled as a microtask: its first poll, and
//! each poll after a wake on the loop thread, is queued on the microtask queue at the moment of
//! the spawn or wake, FIFO with the closures queued there (a promise continuation in Node), and
//! runs in the drain that follows the current callback. Wakes before the poll coalesce into one
//! poll. A wake from another thread is a post (poll phase, send order), and the task is polled
//! in the drain after that post, unless a poll of the task starts before the post arrives (that
//! poll sees what the waker did; the post then polls nothing more). Operations a future starts
//! (a timer, a read, a pool job) begin right after the poll that asked for them; a future
//! dropped during a poll cancels its operation right after that poll. A task that wakes itself
//! during its poll when its queued poll would be the queue's next entry (the queue was empty
//! when the poll began and nothing was queued before the wake) is polled again at once, after
//! the operations that poll started, without the queue round trip: the same order. Such a chain
//! of polls is one task callback run for the slow-callback hook and the watchdog (each poll
//! still counts as one callback and one microtask); a task that never stops waking itself keeps
//! the drain going, as an `async` function awaiting in a loop does in Node. See [`task`].
//!
//! **Snapshots.** Each phase runs what was queued when it began: an immediate queued by an
//! immediate runs next iteration; a watcher started during its own phase's pass first runs in
//! the next pass and one stopped during the pass does not run; a timer started or restarted by
//! a timer callback waits for the next timer phase, even at 0 ms (no spin). Watchers of one
//! kind run most recently started first (libuv's order).
//!
//! **Timers.** Timers fire strictly by due time, then start order (restarting gives a new start
//! order). This follows libuv, not Node (which keeps one list per duration and can run a later
//! deadline first). [`Timer::restart`] re-arms a live timer with a new duration, repeat and
//! (with [`Timer::restart_with`]) callback, as libuv's `uv_timer_start` on an active timer.
//! A repeating timer is rescheduled from the pass's time *before* its callback runs and skips
//! missed periods. Clearing a timer that is due in the current pass but has not run yet prevents
//! its call. Huge timeouts saturate and never fire; a single poll wait is capped at ~24 days.
//! On Linux the poll wait is backed by a `timerfd`, so timers fire within microseconds of their
//! deadline rather than epoll's millisecond granularity. The wait is measured from the real
//! time, so a timer that fell due during a long callback runs right after it, without a wait.
//! Elsewhere (kqueue on macOS and the BSDs, IOCP on Windows, and Linux built with the
//! `portable-fallbacks` feature) there is no timerfd: the poller's own timeout is the wait.
//! kqueue takes it to the nanosecond; epoll and IOCP take whole milliseconds, and mio rounds a
//! fraction *up*, so a timer never fires early and a sub-millisecond remainder never becomes a
//! zero timeout polled in a spin. A wake-up that still comes before the deadline finds no timer
//! due and waits again for the rest; timers are then late by up to the platform's granularity.
//!
//! **Clock.** Timers start from the loop's *cached* clock ([`Loop::now`]), which the loop
//! refreshes at three points of every iteration: when poll returns, and when the timer phase
//! begins and ends. A refresh point only marks the cache stale; the first read after it
//! (starting a timer, [`Loop::now`], the timer phase) takes the time, and every read until the
//! next point sees that same time — the same rule whether or not any fd (even an unref'd one)
//! or other timer is registered, and an iteration that needs no time reads no clock. So timers
//! started in one stretch tie, and a callback that blocks after the time was taken starts later
//! timers early by the blocked time: call [`Loop::update_time`] first (libuv's rule).
//!
//! **Metrics.** Counters are always on; [`Loop::metrics`] snapshots them with utilization (as
//! Node's ELU), the [lag monitor](Loop::monitor_lag)'s histogram, every timer's lateness and,
//! while a [slow-callback hook](Loop::on_slow_callback) is set, callback durations per phase.
//! A [watchdog thread](Loop::start_watchdog) reports a callback that is still blocking the loop,
//! with the `file:line` that registered it. See [`metrics`].
//!
//! **Poll timeout.** Zero if the loop is stopping, or has pending callbacks, active idle
//! watchers, queued ref'd immediates, queued tasks or closing handles; otherwise until the earliest
//! timer, or unbounded when only I/O or another thread can make progress. [`RunMode::Once`]
//! blocks only if nothing was pending and no idle watcher was active when the iteration began;
//! [`RunMode::NoWait`] never blocks. Both run one iteration (so a repeating timer at most once).
//!
//! **Liveness.** The loop is alive while it has an active *ref'd* handle, an in-flight request,
//! a pending or closing callback, a queued ref'd immediate, a queued task or [local
//! post](LocalSender), or a ref'd [`LoopSender`] (see there). An [unref'd](Immediate::unref)
//! immediate (Node's `immediate.unref()`) neither keeps the loop alive nor makes poll
//! non-blocking; it runs in the check phase of an iteration something else brings about.
//! [`Handle::unref`] makes a handle stop counting; it keeps working while something
//! else keeps the loop alive. [`Loop::active_handles`] lists every live handle with the
//! `file:line` that created it. A pending future does not keep the loop alive by itself (a
//! promise that never settles does not keep Node running): what it waits on does; `run`
//! returns with futures still pending, and [`Loop::pending_tasks`] lists them with their spawn
//! sites.
//!
//! **Stop.** [`Loop::stop`] makes the current iteration's poll non-blocking and ends `run` at
//! the top of the next iteration (the rest of the current one still runs). It resets when `run`
//! returns; called before `run`, that `run` returns at once without running any callback.
//!
//! **Close.** [`Handle::close`] stops the handle at once and runs its close callback in the close
//! phase, once — never inside the `close` call. The close callbacks of one close phase run last
//! closed, first called (libuv pushes its closing list at the head), each followed by the task
//! drain; a handle closed during the close phase waits for the next one. Requests still
//! pending on the handle get their callbacks with [`Error::Canceled`] before the close callback. Slots are reused only after the
//! close phase, and ids carry a generation, so a stale id is an [`Error::StaleHandle`], never a
//! panic or another handle.
//!
//! **No synchronous callbacks.** No API calls a user callback from inside the call that
//! registered it: completions that finish at once, errors found at once and cancellations all
//! go through the pending queue or the close phase.
//!
//! **I/O handles.** Sockets are registered once for readable and writable (mio is
//! edge-triggered); a handle that stops reading before `WouldBlock` (a budget of 32 datagrams
//! per wake-up for [`UdpSocket`](net::UdpSocket)) continues from the pending phase, since no new edge would
//! come. Send completions run in the pending phase, never inside the call. A [`Watcher`] for a
//! raw fd is level-triggered like libuv's `uv_poll_t`: it re-arms after each callback and runs
//! at most once per iteration while the fd stays ready. [`Signal`] deliveries run in the poll
//! phase and coalesce between wake-ups.
//!
//! **Posts.** A [`LoopSender`] post from another thread runs in the poll phase, in send order;
//! a [`LocalSender`] post (loop thread, no `&mut Loop` needed, e.g. from a `Drop`) runs in the
//! next pending phase, in post order. Neither ever runs inside the `post` call. An
//! [`AsyncHandle`]'s callback runs in the poll phase, in order with the posts around it, once
//! for however many [`Notifier::send`]s came before the loop got to it (libuv's `uv_async_t`
//! rule); a send made after the call began brings one more call, and none runs after the
//! handle is closed. A [channel](Loop::channel)'s messages run its handler in the poll phase,
//! in send order per sender, every message that arrived before the wake-up in one batch (a
//! microtask drain after each message); the channel handle is active while a
//! [`Sender`](channel::Sender) exists or messages wait, and a handler that closes it gets no
//! more of the batch.
//!
//! **Thread pool.** [`Loop::queue_work`], the [`fs`] operations and [`dns`] lookups run on a
//! worker pool (4 threads unless [`LoopBuilder::threadpool_size`] or `EVLOOP_THREADPOOL_SIZE`
//! says otherwise) shared by every loop asking the same size; it starts on first use and its
//! threads exit with the last loop using it. Jobs start in submission order, except that DNS
//! lookups occupy at most half the workers, so file work always finds one. Completions run in
//! the poll phase; [`Loop::cancel`] takes a request off the queue until a worker starts it and
//! its callback then gets [`Error::Canceled`] in the pending phase — as does any error found
//! before a request reaches the pool. In-flight requests keep the loop alive.
//!
//! **Streams.** [`TcpStream`](net::TcpStream) and [`UnixStream`](net::UnixStream) read at most 32 times per wake-up and then
//! continue in the next iteration's pending phase (an edge-triggered poller will not report
//! them again). Read data is lent from one loop-owned 64 KiB buffer. EOF stops reading without
//! closing; reading again reports EOF again. Write, shutdown and connect callbacks run exactly
//! once, in the pending phase — or, if the stream is closed first, with [`Error::Canceled`] in
//! the close phase before the close callback. A stream's connect callback runs before any of
//! its read callbacks, even when the handshake and the peer's first bytes (or the refusal)
//! arrive in one poll; after a failed connect no read callback runs, and writes and a shutdown
//! queued behind it get [`Error::Canceled`] after the connect callback, which alone carries the
//! error (libuv's order). [`TcpStream::close_reset`](net::TcpStream::close_reset) after `shutdown` is
//! [`Error::InvalidState`], and `only_v6(true)` on an IPv4 address fails with `InvalidInput`
//! (libuv's `EINVAL` for both). Listeners accept at most 32 connections per
//! wake-up; a connection reset or aborted while it waited in the backlog is skipped, not
//! reported as the listener's error (libuv too). Writes never raise `SIGPIPE`: Linux and FreeBSD send with `MSG_NOSIGNAL`; macOS,
//! which lacks it, sets `SO_NOSIGPIPE` on every socket it creates or accepts; Windows has no
//! `SIGPIPE`. On Windows mio re-arms a socket only after an I/O call through it reported
//! `WouldBlock`: there, a short read does not end the batch (the stream reads until
//! `WouldBlock`), and every send goes through mio's `try_io`. On Windows
//! [`UnixStream`](net::UnixStream) and [`UnixListener`](net::UnixListener) are named pipes
//! (`\\.\pipe\NAME`) on the same core, with the same order of callbacks; what differs is
//! said on the types (no half-close: the peer sees EOF at close; a write completes once the
//! pipe has its bytes). [`Pipe`](process::Pipe) and
//! [`Tty`](process::Tty) are the same stream core over a
//! pipe or terminal fd (a pipe write cannot pass `MSG_NOSIGNAL`: the first pipe sets `SIGPIPE`
//! to ignored if it had its default action).
//!
//! **Processes and fs events.** A child's exit callback runs once, in the poll phase (the
//! pending phase where it was found by the `SIGCHLD` fallback's first look); an active
//! [`Process`](process::Process) keeps the loop alive until then, and becomes inactive, not
//! closed, after it. File-system events ([`fs::event`]) run in the poll phase, each in the
//! order the kernel reported it; an active watch keeps the loop alive. Every fd the loop opens
//! is close-on-exec.
//!
//! **Panics.** A panicking [spawned future](Loop::spawn_local) does not unwind: its
//! [`JoinHandle`](task::JoinHandle) resolves to [`Error::Panicked`] with the message. A
//! panicking callback unwinds out of `run`. The loop stays consistent (the callback is put
//! back; work not yet run stays queued) and `run` may be called again. With
//! [`Loop::on_uncaught_panic`] (opt-in, as Node's `uncaughtException`) the panic is reported
//! with the site where the callback was registered and the loop goes on instead. The HTTP
//! server always isolates its handler: a panic costs only its own connection (500, close).
//!
//! **Errors.** Calls and callbacks of the loop, its handles and sockets return [`Error`]. A
//! network failure is an [`Error::Net`] naming the operation and the address or path
//! (`listen 127.0.0.1:8080: Address already in use (os error 98)`); [`Error::kind`] and
//! [`Error::raw_os_error`] reach the OS error's kind and errno in every case. File ([`fs`])
//! and DNS ([`dns`]) callbacks receive `std::io::Error`s whose text names the path or the
//! query; an evloop condition inside one (a canceled request) is found with
//! [`Error::from_io_ref`], and `?` converts either way (`From` both directions).
//!
//! # Examples
//!
//! Each starts with the one command that runs it (`examples/` in the repository):
//!
//! - `examples/chat.rs` — a TCP chat server: broadcast with a shared buffer, `/nick`, idle
//!   cut, SIGINT goodbye; its state in the loop, in under 60 lines.
//! - `examples/echo.rs` — a TCP echo server, one loop per thread on `SO_REUSEPORT`, graceful
//!   shutdown.
//! - `examples/http/` — the HTTP server: text, `/metrics`, static files on the pool,
//!   `/block` vs `/work` to show lag and its cure; `--async` answers from `async` handlers.
//! - `examples/lag.rs` — live event-loop lag, utilization and the slowest callback's site.
//! - `examples/timers.rs` — timers, immediates and microtasks in their phase order.
//! - `examples/cat.rs` — stdin to stdout through the loop (pipes and TTYs as streams).
//! - `examples/watch.rs` — a small watchexec: reruns a command when files change (fs events,
//!   child processes).
//!
//! [mio]: https://docs.rs/mio

// All `unsafe` lives in `sys`; everywhere else it is a compile error.
#![deny(unsafe_code)]

pub mod dns;
mod error;
mod event_loop;
pub mod fs;
mod handle;
pub mod http;
pub mod metrics;
pub mod net;
mod pool;
#[cfg(target_os = "linux")] // clone(CLONE_VFORK), pidfds, pipe2; not ported yet
pub mod process;
pub mod signal {
    //! Signal numbers for [`Loop::signal`](crate::Loop::signal), so a program needs no other
    //! crate for them: `lp.signal(evloop::signal::SIGINT, ...)`. On Windows only the console
    //! events libuv emulates exist: `SIGINT` (Ctrl-C), `SIGBREAK` (Ctrl-Break) and `SIGHUP`
    //! (the console window closing).

    #[cfg(unix)]
    pub use libc::{
        SIGALRM, SIGCHLD, SIGHUP, SIGINT, SIGPIPE, SIGQUIT, SIGTERM, SIGUSR1, SIGUSR2, SIGWINCH,
    };
    /// The console window is closing (Windows).
    #[cfg(windows)]
    pub const SIGHUP: i32 = crate::sys::console::SIGHUP;
    /// Ctrl-C (Windows).
    #[cfg(windows)]
    pub const SIGINT: i32 = crate::sys::console::SIGINT;
    /// Ctrl-Break (Windows).
    #[cfg(windows)]
    pub const SIGBREAK: i32 = crate::sys::console::SIGBREAK;
}
#[allow(unsafe_code)]
mod sys;
pub mod task;
mod timer;
mod watcher;

pub use error::{Error, NetError, Result};
pub use event_loop::builder::LoopBuilder;
pub use event_loop::immediate::Immediate;
pub use event_loop::local::{LocalPostError, LocalSender};
pub use event_loop::sender::{LoopSender, PostError, PostFnBox};
pub use event_loop::uncaught::UncaughtPanic;
pub use event_loop::{CallbackKind, Loop, Phase, RunMode};
pub use handle::{Handle, HandleId, HandleInfo, HandleKind, Site};
pub use pool::work::{Work, WorkClass};
pub use timer::Timer;
pub use watcher::Signal;
pub use watcher::channel;
pub use watcher::{AsyncHandle, Check, Idle, Notifier, NotifyError, Prepare};
#[cfg(unix)]
pub use watcher::{Interest, Readiness, Watcher};
