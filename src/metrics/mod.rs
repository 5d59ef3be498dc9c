//! Loop metrics: what users need to answer "how late do my callbacks run, how busy is my loop,
//! and which callback blocked it" without a profiler.
//!
//! - **Counters** are always on: plain integers bumped on the loop thread (iterations, poll
//!   events, callbacks per phase, next-ticks and microtasks, timers fired, posts...).
//! - **Utilization** (Node's ELU): time blocked in the poll syscall is idle, the rest since the
//!   loop started running is active.
//! - **Lag**: [`Loop::monitor_lag`](crate::Loop::monitor_lag) samples how late a timer runs, in
//!   an HDR histogram; the lateness of every user timer is recorded too, for free.
//! - **Slow callbacks**: [`Loop::on_slow_callback`](crate::Loop::on_slow_callback) reports every
//!   callback that ran longer than a threshold, with the `file:line` that registered it.
//! - **Watchdog**: [`Loop::start_watchdog`](crate::Loop::start_watchdog) runs a thread that
//!   reports a callback that is *still* blocking the loop — infinite loops, deadlocks.
//!
//! Everything is read through one snapshot, [`Loop::metrics`](crate::Loop::metrics), which
//! prints as a table and exports as Prometheus text.

mod callbacks;
mod counters;
mod histogram;
mod instruments;
mod lag;
mod prometheus;
mod snapshot;
mod watchdog;

pub use crate::pool::PoolStats;
pub use callbacks::SlowCallback;
pub(crate) use counters::Counters;
pub use histogram::LatencyHistogram;
pub(crate) use instruments::Instruments;
pub use lag::LagMonitor;
pub use snapshot::Metrics;
pub use watchdog::Stall;
