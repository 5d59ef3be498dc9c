//! The body of a pool thread: take the next job, run it, report it.

use std::any::Any;
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::Ordering;

use super::{CANCELED, FINISHED, Job, Outcome, PoolState, QUEUED, RUNNING};

/// Serves jobs until the pool is gone and nothing runnable is left in its queue.
pub(super) fn run(state: &PoolState) {
    while let Some(job) = state.queue.next() {
        let kind = job.kind;
        run_job(state, job);
        state.queue.done(kind);
    }
}

/// Runs one job unless it was canceled, catching a panic, and hands the outcome to its sink.
fn run_job(state: &PoolState, job: Job) {
    let Job { id, work, sink, .. } = job;
    if id
        .0
        .compare_exchange(QUEUED, RUNNING, Ordering::AcqRel, Ordering::Acquire)
        .is_err()
    {
        // Canceled while queued: `Pool::cancel` did the bookkeeping and the loop reports it.
        debug_assert_eq!(id.0.load(Ordering::Relaxed), CANCELED);
        return;
    }
    state.queued.fetch_sub(1, Ordering::Relaxed);
    state.running.fetch_add(1, Ordering::Relaxed);
    let outcome = match panic::catch_unwind(AssertUnwindSafe(work)) {
        Ok(value) => Outcome::Done(value),
        Err(payload) => Outcome::Panicked(panic_message(payload.as_ref())),
    };
    id.0.store(FINISHED, Ordering::Release);
    state.running.fetch_sub(1, Ordering::Relaxed);
    state.completed.fetch_add(1, Ordering::Relaxed);
    // The sink is the loop's code; if it panics, the worker must still live on for other loops.
    let _ = panic::catch_unwind(AssertUnwindSafe(|| sink.complete(id, outcome)));
}

/// The text of a panic payload: the `&str` or `String` that `panic!` carries, else a placeholder.
pub(super) fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(message) = payload.downcast_ref::<&str>() {
        (*message).to_owned()
    } else if let Some(message) = payload.downcast_ref::<String>() {
        message.clone()
    } else {
        "job panicked with a non-string payload".to_owned()
    }
}
