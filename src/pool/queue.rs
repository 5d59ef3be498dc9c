//! The pool's job queue: one mutex and one condition variable, as libuv's `threadpool.c`.
//!
//! Three FIFO lists live under the lock: file work, CPU work (`queue_work`) and DNS lookups.
//! A resolver can block for seconds, so at most `dns_slots` lookups (half the workers, rounded
//! up) run at once. CPU jobs can hold a worker for as long as they like, so CPU work and
//! lookups together may hold at most `slow_slots` workers (all but one): file work always finds
//! a worker, however many `/work`-style jobs are queued (with a single worker nothing can be
//! held back). A worker takes the oldest runnable job: the oldest of the three heads, where a
//! CPU or DNS head counts only while its class has a free slot. So the pool is FIFO across
//! classes except that slow work waits for a slot, and no worker sleeps while runnable work is
//! queued: a worker that finishes a slow job looks for the next job itself.
//!
//! Why not channels: a worker would have to wait on "a general job, or a DNS job *and* a free
//! slot", which needs a select over two queues plus an admission gate; registering with two
//! channels on every wait cost more than the jobs themselves (stat takes ~1 µs).

use std::collections::VecDeque;
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};

use super::{Job, JobKind};

/// What the lock protects.
struct Lists {
    /// File work.
    general: VecDeque<(u64, Job)>,
    cpu: VecDeque<(u64, Job)>,
    dns: VecDeque<(u64, Job)>,
    /// Sequence number of the next job, for FIFO order across the two lists.
    next_seq: u64,
    dns_running: usize,
    /// CPU and DNS jobs running.
    slow_running: usize,
    /// Workers waiting on the condition variable that no one has signalled yet.
    idle: usize,
    /// Signals sent to idle workers that they have not yet woken up to.
    signals: usize,
    /// The pool is gone: workers drain what is queued, then exit.
    closed: bool,
}

impl Lists {
    /// Takes one idle worker off the idle count for a signal the caller sends; false if none is
    /// idle. Counting signalled workers as busy at once matters: std's `notify_one` always makes
    /// a futex call, and a burst of pushes would otherwise signal the same sleeper once per job
    /// (glibc's condition variable, which libuv uses, skips the call in that case).
    fn claim_idle_worker(&mut self) -> bool {
        if self.idle == 0 {
            return false;
        }
        self.idle -= 1;
        self.signals += 1;
        true
    }
}

/// The shared queue of one pool.
pub(super) struct JobQueue {
    lists: Mutex<Lists>,
    ready: Condvar,
    dns_slots: usize,
    /// Workers CPU and DNS jobs may hold together.
    slow_slots: usize,
}

impl JobQueue {
    /// A queue whose DNS jobs may occupy at most `dns_slots` workers at once, and CPU and DNS
    /// jobs no limit together.
    #[cfg(test)]
    pub(super) fn new(dns_slots: usize) -> Self {
        Self::with_slots(dns_slots, usize::MAX)
    }

    /// The queue of a pool of `workers`: lookups may hold half of them (rounded up), CPU work
    /// and lookups together all but one.
    pub(super) fn for_workers(workers: usize) -> Self {
        Self::with_slots(workers.div_ceil(2), workers.saturating_sub(1).max(1))
    }

    /// A queue whose DNS jobs may occupy at most `dns_slots` workers at once, and CPU and DNS
    /// jobs together at most `slow_slots`.
    pub(super) fn with_slots(dns_slots: usize, slow_slots: usize) -> Self {
        Self {
            lists: Mutex::new(Lists {
                general: VecDeque::new(),
                cpu: VecDeque::new(),
                dns: VecDeque::new(),
                next_seq: 0,
                dns_running: 0,
                slow_running: 0,
                idle: 0,
                signals: 0,
                closed: false,
            }),
            ready: Condvar::new(),
            dns_slots,
            slow_slots,
        }
    }

    fn lock(&self) -> MutexGuard<'_, Lists> {
        // Jobs never run under the lock, so it cannot be poisoned by one; recover anyway.
        self.lists.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Queues `job`; with `wake`, wakes an idle worker if the job can run now. Returns whether
    /// the job can run now (for a caller that wakes workers later, with [`wake`](Self::wake)).
    pub(super) fn push(&self, job: Job, wake: bool) -> bool {
        let mut lists = self.lock();
        let seq = lists.next_seq;
        lists.next_seq += 1;
        let slow_free = lists.slow_running < self.slow_slots;
        let runnable = match job.kind {
            JobKind::Dns => {
                lists.dns.push_back((seq, job));
                slow_free && lists.dns_running < self.dns_slots
            }
            JobKind::Cpu => {
                lists.cpu.push_back((seq, job));
                slow_free
            }
            JobKind::Fs => {
                lists.general.push_back((seq, job));
                true
            }
        };
        let wake = wake && runnable && lists.claim_idle_worker();
        drop(lists);
        if wake {
            self.ready.notify_one();
        }
        runnable
    }

    /// Wakes up to `jobs` idle workers, for jobs pushed without waking anyone.
    pub(super) fn wake(&self, jobs: usize) {
        let mut lists = self.lock();
        let mut woken = 0;
        while woken < jobs && lists.claim_idle_worker() {
            woken += 1;
        }
        drop(lists);
        for _ in 0..woken {
            self.ready.notify_one();
        }
    }

    /// The next job for a worker, waiting while nothing is runnable; `None` once the pool is
    /// closed and nothing runnable is left. A DNS job holds its slot until [`done`](Self::done).
    pub(super) fn next(&self) -> Option<Job> {
        let mut lists = self.lock();
        loop {
            if let Some(job) = self.pop_runnable(&mut lists) {
                return Some(job);
            }
            if lists.closed {
                // Lookups still queued wait for a slot; the workers holding the slots run them.
                return None;
            }
            lists.idle += 1;
            lists = self
                .ready
                .wait(lists)
                .unwrap_or_else(PoisonError::into_inner);
            if lists.signals > 0 {
                lists.signals -= 1;
            } else {
                lists.idle -= 1; // woken without a signal (spurious, or `close`)
            }
        }
    }

    /// A worker finished (or skipped) a job of `kind`: a CPU or DNS job gives its slot back.
    /// The same worker calls [`next`](Self::next) right after; an idle worker is woken too, in
    /// case that one takes an older file job while the waiting slow job could run beside it.
    pub(super) fn done(&self, kind: JobKind) {
        if kind == JobKind::Fs {
            return;
        }
        let mut lists = self.lock();
        lists.slow_running -= 1;
        if kind == JobKind::Dns {
            lists.dns_running -= 1;
        }
        let waiting = !lists.dns.is_empty() || !lists.cpu.is_empty();
        let wake = waiting && lists.claim_idle_worker();
        drop(lists);
        if wake {
            self.ready.notify_one();
        }
    }

    /// The pool is gone: wake every worker so each drains the queue and exits.
    pub(super) fn close(&self) {
        self.lock().closed = true;
        self.ready.notify_all();
    }

    fn pop_runnable(&self, lists: &mut Lists) -> Option<Job> {
        let slow_free = lists.slow_running < self.slow_slots;
        let dns_head = match lists.dns.front() {
            Some((seq, _)) if slow_free && lists.dns_running < self.dns_slots => Some(*seq),
            _ => None,
        };
        let cpu_head = match lists.cpu.front() {
            Some((seq, _)) if slow_free => Some(*seq),
            _ => None,
        };
        let general_head = lists.general.front().map(|(seq, _)| *seq);
        let oldest = [
            (general_head, JobKind::Fs),
            (cpu_head, JobKind::Cpu),
            (dns_head, JobKind::Dns),
        ]
        .into_iter()
        .filter_map(|(seq, kind)| seq.map(|seq| (seq, kind)))
        .min_by_key(|&(seq, _)| seq)?;
        let list = match oldest.1 {
            JobKind::Fs => &mut lists.general,
            JobKind::Cpu => {
                lists.slow_running += 1;
                &mut lists.cpu
            }
            JobKind::Dns => {
                lists.slow_running += 1;
                lists.dns_running += 1;
                &mut lists.dns
            }
        };
        list.pop_front().map(|(_, job)| job)
    }

    /// Workers waiting for a job that no one has signalled.
    #[cfg(test)]
    pub(super) fn idle_workers(&self) -> usize {
        self.lock().idle
    }

    #[cfg(test)]
    pub(super) fn dns_waiting(&self) -> usize {
        self.lock().dns.len()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::AtomicU8;

    use super::*;
    use crate::pool::{CompletionSink, JobId, Outcome, QUEUED};

    struct NoSink;
    impl CompletionSink for NoSink {
        fn complete(&self, _: JobId, _: Outcome) {}
    }

    /// Pushes a job of `kind` and returns its id.
    fn push(queue: &JobQueue, kind: JobKind) -> JobId {
        let id = JobId(Arc::new(AtomicU8::new(QUEUED)));
        queue.push(
            Job {
                id: id.clone(),
                kind,
                work: Box::new(|| Box::new(())),
                sink: Arc::new(NoSink),
            },
            true,
        );
        id
    }

    /// The id of the next job; only called when one is runnable (or the queue is closed).
    fn next(queue: &JobQueue) -> Option<JobId> {
        queue.next().map(|job| job.id)
    }

    #[test]
    fn jobs_come_out_in_submission_order_across_classes() {
        let queue = JobQueue::new(2);
        let ids = [JobKind::Fs, JobKind::Dns, JobKind::Cpu, JobKind::Dns].map(|k| push(&queue, k));
        for id in ids {
            assert_eq!(next(&queue), Some(id));
        }
    }

    #[test]
    fn lookups_beyond_the_slots_wait_and_general_jobs_pass_them() {
        let queue = JobQueue::new(1);
        let first = push(&queue, JobKind::Dns);
        let second = push(&queue, JobKind::Dns);
        let file = push(&queue, JobKind::Fs);
        assert_eq!(next(&queue), Some(first));
        assert_eq!(
            next(&queue),
            Some(file),
            "the file job passes the waiting lookup"
        );
        assert_eq!(queue.dns_waiting(), 1);
        queue.done(JobKind::Dns);
        assert_eq!(
            next(&queue),
            Some(second),
            "the freed slot goes to the lookup"
        );
        queue.done(JobKind::Fs); // not a DNS job: no slot to give back
        let third = push(&queue, JobKind::Dns);
        let later_file = push(&queue, JobKind::Fs);
        assert_eq!(next(&queue), Some(later_file));
        queue.done(JobKind::Dns);
        assert_eq!(next(&queue), Some(third));
    }

    #[test]
    fn cpu_work_leaves_a_worker_for_file_work() {
        // Three workers: CPU and DNS work together may hold two.
        let queue = JobQueue::for_workers(3);
        let cpu = [push(&queue, JobKind::Cpu), push(&queue, JobKind::Cpu)];
        let third_cpu = push(&queue, JobKind::Cpu);
        let lookup = push(&queue, JobKind::Dns);
        let file = push(&queue, JobKind::Fs);
        assert_eq!(next(&queue), Some(cpu[0].clone()));
        assert_eq!(next(&queue), Some(cpu[1].clone()));
        assert_eq!(
            next(&queue),
            Some(file),
            "the file job passes the queued CPU job and lookup"
        );
        queue.done(JobKind::Cpu);
        assert_eq!(next(&queue), Some(third_cpu), "a freed slot: oldest first");
        queue.done(JobKind::Cpu);
        assert_eq!(next(&queue), Some(lookup));
    }

    #[test]
    fn a_closed_queue_drains_then_ends() {
        let queue = JobQueue::new(1);
        let file = push(&queue, JobKind::Fs);
        queue.close();
        assert_eq!(next(&queue), Some(file));
        assert_eq!(next(&queue), None);
    }
}
