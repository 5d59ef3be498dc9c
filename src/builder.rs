//! [`LoopBuilder`]: settings for a new [`Loop`].

use crate::event_loop::Loop;

/// Settings for a new [`Loop`]; start from [`Loop::builder`].
#[derive(Clone, Debug)]
pub struct LoopBuilder {
    pub(crate) event_capacity: usize,
    pub(crate) max_ticks_per_drain: usize,
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
        }
    }

    /// How many I/O events one poll call may return (minimum 1).
    pub fn event_capacity(mut self, n: usize) -> Self {
        self.event_capacity = n.max(1);
        self
    }

    /// Caps the next-ticks one drain runs. A next-tick that keeps queueing next-ticks starves
    /// the loop forever in Node; with a cap the rest wait for the next drain point (after the
    /// next callback, or the next iteration). Default: no cap, as Node.
    pub fn max_ticks_per_drain(mut self, n: usize) -> Self {
        self.max_ticks_per_drain = n.max(1);
        self
    }

    /// Creates the loop.
    pub fn build(&self) -> std::io::Result<Loop> {
        Loop::from_builder(self)
    }
}
