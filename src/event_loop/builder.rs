//! [`LoopBuilder`]: settings for a new [`Loop`].

use crate::event_loop::Loop;

/// Settings for a new [`Loop`]; start from [`Loop::builder`].
#[derive(Clone, Debug)]
pub struct LoopBuilder {
    pub(crate) event_capacity: usize,
    pub(crate) max_ticks_per_drain: usize,
    pub(crate) threadpool_size: Option<usize>,
}

impl Default for LoopBuilder {
    fn default() -> Self {
        Self::new()
    }
}

impl LoopBuilder {
    /// Default settings: 1024 events per poll, no cap on next-ticks per drain.
    pub fn new() -> Self {
        Self {
            event_capacity: 1024,
            max_ticks_per_drain: usize::MAX,
            threadpool_size: None,
        }
    }

    /// How many I/O events one poll call may return (minimum 1).
    pub fn event_capacity(mut self, n: usize) -> Self {
        self.event_capacity = n.max(1);
        self
    }

    /// Caps the next-ticks one drain runs. A next-tick that keeps queueing next-ticks starves
    /// the loop forever in Node; with a cap the rest wait for the next drain point (after the
    /// next callback, or the next iteration). The cap bounds the next-tick queue only: when it
    /// is hit, the microtasks queued so far (and those they queue) still run in that drain, so
    /// the cap never moves a microtask behind a later callback. Default: no cap, as Node.
    pub fn max_ticks_per_drain(mut self, n: usize) -> Self {
        self.max_ticks_per_drain = n.max(1);
        self
    }

    /// Threads in the pool that runs [`Loop::queue_work`], file and DNS jobs (1..=1024). Without
    /// it, `EVLOOP_THREADPOOL_SIZE` decides, else 4. Loops asking the same size share one pool;
    /// a different size gets its own. The threads start on the loop's first pool request and
    /// exit when the last loop using them is dropped.
    pub fn threadpool_size(mut self, threads: usize) -> Self {
        self.threadpool_size = Some(threads);
        self
    }

    /// Creates the loop. Fails with `InvalidInput` if the pool size (from
    /// [`threadpool_size`](Self::threadpool_size) or `EVLOOP_THREADPOOL_SIZE`) is not 1..=1024:
    /// a bad value is an error, never a silent default.
    pub fn build(&self) -> std::io::Result<Loop> {
        crate::pool::configured_size(self.threadpool_size)?;
        Loop::from_builder(self)
    }
}
