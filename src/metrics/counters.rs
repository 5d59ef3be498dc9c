//! Always-on counters: plain integers bumped on the loop thread, never an atomic or a clock read.

use crate::event_loop::Phase;

/// The loop's counters. Every field only ever grows; snapshots subtract to get a window.
#[derive(Clone, Debug, Default)]
pub(crate) struct Counters {
    /// Loop iterations (one per poll phase).
    pub(crate) iterations: u64,
    /// Events returned by the poll syscall (the loop's own waker and timer fd included).
    pub(crate) events: u64,
    /// Callbacks run, per [`Phase`] index (next-ticks and microtasks count as `Microtask`).
    pub(crate) callbacks: [u64; Phase::COUNT],
    /// Next-ticks run (a subset of `callbacks[Microtask]`).
    pub(crate) next_ticks: u64,
    /// Microtasks run (the rest of `callbacks[Microtask]`).
    pub(crate) microtasks: u64,
    /// Timer callbacks run.
    pub(crate) timers_fired: u64,
    /// Cross-thread posts run.
    pub(crate) posts: u64,
    /// Task drains that found work (a drain runs after every callback, most find nothing).
    pub(crate) task_drains: u64,
    /// Bytes read from sockets and pipes. The stream and datagram code adds what each read
    /// returned, so the count is of bytes delivered to user callbacks.
    pub(crate) bytes_read: u64,
    /// Bytes written to sockets and pipes: what each write syscall accepted.
    pub(crate) bytes_written: u64,
    /// Thread-pool requests this loop submitted.
    pub(crate) pool_submitted: u64,
    /// Thread-pool requests whose callbacks ran (canceled ones excluded).
    pub(crate) pool_completed: u64,
}
