//! The body of a pool thread: take the next job from either queue, run it, report it.

use std::any::Any;
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::Ordering;

use crossbeam_channel::{Receiver, Select};

use super::{CANCELED, FINISHED, Job, JobKind, Outcome, PoolState, QUEUED, RUNNING};

/// Serves jobs until both queues are disconnected and empty. `general_jobs` carries CPU and file
/// work; `dns_jobs` carries only DNS jobs that already hold a DNS slot (see `DnsGate`), so a job
/// on either queue is always runnable and a worker never idles while runnable work is queued.
pub(super) fn run(state: &PoolState, general_jobs: &Receiver<Job>, dns_jobs: &Receiver<Job>) {
    let mut select = Select::new();
    let general_index = select.recv(general_jobs);
    let dns_index = select.recv(dns_jobs);
    let mut open_queues = 2;
    while open_queues > 0 {
        let operation = select.select();
        let index = operation.index();
        let queue = if index == dns_index {
            dns_jobs
        } else {
            general_jobs
        };
        debug_assert!(index == general_index || index == dns_index);
        match operation.recv(queue) {
            Ok(job) => {
                let holds_dns_slot = job.kind == JobKind::Dns;
                run_job(state, job);
                if holds_dns_slot {
                    state.dns_gate().release();
                }
            }
            // Disconnected and drained: the pool is gone. Stop watching this queue.
            Err(_) => {
                select.remove(index);
                open_queues -= 1;
            }
        }
    }
}

/// Runs one job unless it was canceled, catching a panic, and hands the outcome to its sink.
fn run_job(state: &PoolState, job: Job) {
    let Job {
        id,
        state: job_state,
        work,
        sink,
        ..
    } = job;
    if job_state
        .compare_exchange(QUEUED, RUNNING, Ordering::AcqRel, Ordering::Acquire)
        .is_err()
    {
        // Canceled while queued: `Pool::cancel` did the bookkeeping and the loop reports it.
        debug_assert_eq!(job_state.load(Ordering::Relaxed), CANCELED);
        return;
    }
    state.queued.fetch_sub(1, Ordering::Relaxed);
    state.running.fetch_add(1, Ordering::Relaxed);
    let outcome = match panic::catch_unwind(AssertUnwindSafe(work)) {
        Ok(value) => Outcome::Done(value),
        Err(payload) => Outcome::Panicked(panic_message(payload.as_ref())),
    };
    job_state.store(FINISHED, Ordering::Release);
    state.jobs().remove(&id);
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
