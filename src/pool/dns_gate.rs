//! The DNS gate: lets at most half the workers run DNS lookups at once.
//!
//! A resolver can block for seconds; libuv caps "slow I/O" at half its threads so file work always
//! finds a worker. We cannot make a worker wait on "a DNS job is queued *and* a slot is free" with
//! channel selects alone, so the gate keeps the two apart: a DNS job enters the workers' DNS queue
//! only together with a slot. Jobs beyond the free slots wait in the gate's backlog, and a worker
//! that finishes a DNS job forwards the oldest backlog job in the slot it just freed.
//!
//! Invariant: `running + in the DNS queue + free_slots == slots`, and the backlog is empty whenever
//! a slot is free. Every job a worker sees is therefore runnable (no worker idles while runnable
//! work is queued), DNS stays FIFO (backlog, then queue), and DNS resumes as soon as a slot frees.

use std::collections::VecDeque;

use crossbeam_channel::{SendError, Sender};

use super::Job;

/// The admission control for DNS jobs of one pool. Lives behind the pool's mutex.
pub(super) struct DnsGate {
    /// The workers' DNS queue; `None` once the pool is gone and the backlog has drained.
    ready: Option<Sender<Job>>,
    /// DNS jobs waiting for a slot, oldest first.
    backlog: VecDeque<Job>,
    free_slots: usize,
    closing: bool,
}

impl DnsGate {
    /// A gate with `slots` DNS slots feeding the workers' DNS queue `ready`.
    pub(super) fn new(slots: usize, ready: Sender<Job>) -> Self {
        Self {
            ready: Some(ready),
            backlog: VecDeque::new(),
            free_slots: slots,
            closing: false,
        }
    }

    /// Queues a DNS job: to the workers if a slot is free, else to the backlog. Gives the job back
    /// if no worker is left to run it.
    pub(super) fn admit(&mut self, job: Job) -> Result<(), Job> {
        if self.ready.is_none() {
            return Err(job);
        }
        if self.free_slots == 0 {
            self.backlog.push_back(job);
            return Ok(());
        }
        self.free_slots -= 1;
        self.forward(job)
    }

    /// Called by a worker that finished (or skipped) a DNS job: its slot goes to the oldest
    /// backlog job, or becomes free.
    pub(super) fn release(&mut self) {
        match self.backlog.pop_front() {
            // Only fails when every worker is gone, and then nobody is left to run it anyway.
            Some(job) => drop(self.forward(job)),
            None => self.free_slots += 1,
        }
        self.disconnect_if_drained();
    }

    /// The pool is gone: once the backlog drains, drop the DNS sender so idle workers exit.
    pub(super) fn close(&mut self) {
        self.closing = true;
        self.disconnect_if_drained();
    }

    fn forward(&self, job: Job) -> Result<(), Job> {
        match &self.ready {
            Some(ready) => ready.send(job).map_err(SendError::into_inner),
            None => Err(job),
        }
    }

    fn disconnect_if_drained(&mut self) {
        if self.closing && self.backlog.is_empty() {
            self.ready = None;
        }
    }

    #[cfg(test)]
    pub(super) fn backlog_len(&self) -> usize {
        self.backlog.len()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::AtomicU8;

    use crossbeam_channel::{Receiver, TryRecvError, unbounded};

    use super::*;
    use crate::pool::{CompletionSink, JobId, JobKind, Outcome, QUEUED};

    struct NoSink;
    impl CompletionSink for NoSink {
        fn complete(&self, _: JobId, _: Outcome) {}
    }

    fn dns_job(n: u64) -> Job {
        Job {
            id: JobId(n),
            kind: JobKind::Dns,
            state: Arc::new(AtomicU8::new(QUEUED)),
            work: Box::new(|| Box::new(())),
            sink: Arc::new(NoSink),
        }
    }

    fn ready_ids(queue: &Receiver<Job>) -> Vec<u64> {
        queue.try_iter().map(|job| job.id.0).collect()
    }

    #[test]
    fn admits_only_as_many_jobs_as_slots() {
        let (ready, queue) = unbounded();
        let mut gate = DnsGate::new(2, ready);
        for n in 0..5 {
            assert!(gate.admit(dns_job(n)).is_ok());
        }
        assert_eq!(ready_ids(&queue), [0, 1]);
        assert_eq!(gate.backlog_len(), 3);
    }

    #[test]
    fn release_forwards_the_oldest_backlog_job_then_frees_the_slot() {
        let (ready, queue) = unbounded();
        let mut gate = DnsGate::new(1, ready);
        for n in 0..3 {
            assert!(gate.admit(dns_job(n)).is_ok());
        }
        assert_eq!(ready_ids(&queue), [0]);
        gate.release();
        assert_eq!(ready_ids(&queue), [1]);
        gate.release();
        gate.release();
        assert_eq!(ready_ids(&queue), [2]);
        // The slot is free again, so the next job goes straight through.
        assert!(gate.admit(dns_job(3)).is_ok());
        assert_eq!(ready_ids(&queue), [3]);
    }

    #[test]
    fn close_disconnects_only_after_the_backlog_drains() {
        let (ready, queue) = unbounded();
        let mut gate = DnsGate::new(1, ready);
        assert!(gate.admit(dns_job(0)).is_ok());
        assert!(gate.admit(dns_job(1)).is_ok());
        gate.close();
        assert_eq!(ready_ids(&queue), [0]);
        gate.release();
        assert_eq!(ready_ids(&queue), [1]);
        assert_eq!(queue.try_recv().err(), Some(TryRecvError::Disconnected));
        assert!(gate.admit(dns_job(2)).is_err());
    }
}
