//! The worker pool that runs blocking work (user jobs, file operations, DNS) off the loop thread.
//!
//! One pool serves every loop in the process that asks for the same size: each job carries its own
//! [`CompletionSink`], so its outcome goes back to the loop that submitted it. Workers take jobs
//! from `crossbeam-channel` queues in FIFO order within a class. DNS lookups may occupy at most
//! half the workers (rounded up), as in libuv, so slow resolvers cannot starve file work; the
//! `dns_gate` module explains the mechanism.
//!
//! Lifetime: a process-wide registry holds only `Weak<Pool>`, so the pool lives exactly as long as
//! some loop holds its `Arc`. When the last `Arc` drops, the queue senders drop; workers finish the
//! jobs already queued and exit. Workers never hold an `Arc<Pool>` themselves, and `Drop` never
//! blocks on them.

mod dns_gate;
#[cfg(test)]
mod tests;
mod worker;

use std::any::Any;
use std::collections::HashMap;
use std::io;
use std::sync::atomic::{AtomicU8, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};
use std::thread;

use crossbeam_channel::{SendError, Sender, unbounded};

use self::dns_gate::DnsGate;

/// The work a job runs on a pool thread; its boxed result travels back to the submitting loop.
pub(crate) type JobFn = Box<dyn FnOnce() -> Box<dyn Any + Send> + Send>;

/// The class of a job, which decides the queue it waits in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum JobKind {
    /// User work from `queue_work`.
    Cpu,
    /// A blocking file operation.
    Fs,
    /// A resolver call; limited to half the workers.
    Dns,
}

/// How a job ended.
#[derive(Debug)]
pub(crate) enum Outcome {
    /// The job returned this value.
    Done(Box<dyn Any + Send>),
    /// The job panicked with this message; the worker survived.
    Panicked(String),
}

/// Where a worker delivers a finished job: implemented by the loop, which pushes `(id, outcome)` on
/// its completion channel and wakes itself (coalesced). Called on a worker thread.
pub(crate) trait CompletionSink: Send + Sync + 'static {
    /// Hands over the outcome of job `id`. Never called for a canceled job.
    fn complete(&self, id: JobId, outcome: Outcome);
}

/// Names one submitted job within its pool.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) struct JobId(u64);

/// The answer of [`Pool::cancel`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum CancelResult {
    /// The job was still queued; it will never run and its sink will never be called. The loop
    /// delivers the cancel error itself, later (never inside `cancel`).
    Canceled,
    /// The job is running; it will complete normally.
    Busy,
    /// The job is no longer known: it completed, or was canceled already.
    Finished,
}

/// A snapshot of the pool's counters (relaxed atomics: each is exact, the set is not atomic).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct PoolStats {
    /// Jobs submitted and neither started nor canceled.
    pub(crate) queued: u64,
    /// Jobs running now.
    pub(crate) running: u64,
    /// Jobs that ran to an outcome (returned or panicked).
    pub(crate) completed: u64,
    /// Jobs canceled while queued.
    pub(crate) canceled: u64,
    /// Worker threads.
    pub(crate) threads: usize,
}

/// The name of the environment variable that sets the pool size when the loop does not.
pub(crate) const POOL_SIZE_VAR: &str = "EVLOOP_THREADPOOL_SIZE";
/// Threads in a pool when neither the loop nor the environment chooses, as libuv.
pub(crate) const DEFAULT_POOL_SIZE: usize = 4;
/// The largest pool we start, as libuv's `MAX_THREADPOOL_SIZE`.
pub(crate) const MAX_POOL_SIZE: usize = 1024;

/// Pools by size. Weak, so the registry never keeps a pool (or its threads) alive.
static REGISTRY: Mutex<Vec<(usize, Weak<Pool>)>> = Mutex::new(Vec::new());
/// Numbers worker threads across the process, so every worker name is unique.
static NEXT_WORKER: AtomicUsize = AtomicUsize::new(0);

/// Job states; a queued job moves to exactly one of running (worker) or canceled (`cancel`).
const QUEUED: u8 = 0;
const RUNNING: u8 = 1;
const CANCELED: u8 = 2;
const FINISHED: u8 = 3;

/// A job in a queue.
struct Job {
    id: JobId,
    kind: JobKind,
    state: Arc<AtomicU8>,
    work: JobFn,
    sink: Arc<dyn CompletionSink>,
}

/// What the pool and its workers share. Holds no sender of the general queue, so dropping the
/// `Pool` disconnects the workers.
struct PoolState {
    /// Jobs that may still be canceled or are running, by id.
    jobs: Mutex<HashMap<JobId, Arc<AtomicU8>>>,
    dns_gate: Mutex<DnsGate>,
    queued: AtomicU64,
    running: AtomicU64,
    completed: AtomicU64,
    canceled: AtomicU64,
}

impl PoolState {
    fn jobs(&self) -> MutexGuard<'_, HashMap<JobId, Arc<AtomicU8>>> {
        // A panic never happens while these locks are held (jobs run outside them); recover anyway.
        self.jobs.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn dns_gate(&self) -> MutexGuard<'_, DnsGate> {
        self.dns_gate.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A fixed set of worker threads with a FIFO queue per job class.
pub(crate) struct Pool {
    state: Arc<PoolState>,
    general: Sender<Job>,
    next_id: AtomicU64,
    threads: usize,
    first_worker: usize,
}

impl Pool {
    /// The process-wide pool of `size` threads (`None`: `EVLOOP_THREADPOOL_SIZE`, else 4), started
    /// now if no loop holds one of that size. The loop calls this on its first pool request, so a
    /// program that never uses the pool starts no threads (libuv starts its pool on first use).
    ///
    /// Policy: pools are keyed by size. Loops asking the same size share one pool; a loop asking a
    /// different size than a running pool gets its own pool of that size, running beside the
    /// other. Every loop gets exactly the parallelism it asked for; the cost is more threads.
    pub(crate) fn shared(size: Option<usize>) -> io::Result<Arc<Self>> {
        let size = configured_size(size)?;
        let mut registry = REGISTRY.lock().unwrap_or_else(PoisonError::into_inner);
        registry.retain(|(_, pool)| pool.strong_count() > 0);
        let running = registry.iter().find(|(s, _)| *s == size);
        if let Some(pool) = running.and_then(|(_, pool)| pool.upgrade()) {
            return Ok(pool);
        }
        let pool = Arc::new(Self::start(size)?);
        registry.push((size, Arc::downgrade(&pool)));
        Ok(pool)
    }

    /// Starts a private pool of `size` (already validated) threads, outside the registry.
    fn start(size: usize) -> io::Result<Self> {
        let (general, general_jobs) = unbounded();
        let (dns_ready, dns_jobs) = unbounded();
        let state = Arc::new(PoolState {
            jobs: Mutex::new(HashMap::new()),
            dns_gate: Mutex::new(DnsGate::new(size.div_ceil(2), dns_ready)),
            queued: AtomicU64::new(0),
            running: AtomicU64::new(0),
            completed: AtomicU64::new(0),
            canceled: AtomicU64::new(0),
        });
        let first_worker = NEXT_WORKER.fetch_add(size, Ordering::Relaxed);
        let pool = Self {
            state,
            general,
            next_id: AtomicU64::new(0),
            threads: size,
            first_worker,
        };
        for number in first_worker..first_worker + size {
            let (state, general_jobs, dns_jobs) = (
                Arc::clone(&pool.state),
                general_jobs.clone(),
                dns_jobs.clone(),
            );
            // On failure `pool` drops here, which disconnects the workers already started.
            thread::Builder::new()
                .name(format!("evloop-pool-{number}"))
                .spawn(move || worker::run(&state, &general_jobs, &dns_jobs))?;
        }
        Ok(pool)
    }

    /// Queues `job`; its outcome goes to `sink` from a worker thread, unless it is canceled first.
    pub(crate) fn submit(&self, kind: JobKind, job: JobFn, sink: Arc<dyn CompletionSink>) -> JobId {
        let id = JobId(self.next_id.fetch_add(1, Ordering::Relaxed));
        let state = Arc::new(AtomicU8::new(QUEUED));
        self.state.jobs().insert(id, Arc::clone(&state));
        self.state.queued.fetch_add(1, Ordering::Relaxed);
        let job = Job {
            id,
            kind,
            state,
            work: job,
            sink,
        };
        let queued = match kind {
            JobKind::Dns => self.state.dns_gate().admit(job),
            JobKind::Cpu | JobKind::Fs => self.general.send(job).map_err(SendError::into_inner),
        };
        // Workers only exit once this pool is dropped, so this is unreachable in practice; if it
        // ever happens the loop still hears about the job instead of waiting for it forever.
        if let Err(job) = queued {
            self.state.jobs().remove(&id);
            self.state.queued.fetch_sub(1, Ordering::Relaxed);
            job.sink.complete(
                id,
                Outcome::Panicked("evloop pool has no workers".to_owned()),
            );
        }
        id
    }

    /// Cancels job `id` if it is still queued. The worker that dequeues it skips it and does not
    /// call its sink: the loop delivers the cancel error itself, later, never inside this call.
    pub(crate) fn cancel(&self, id: JobId) -> CancelResult {
        let Some(state) = self.state.jobs().get(&id).cloned() else {
            return CancelResult::Finished;
        };
        match state.compare_exchange(QUEUED, CANCELED, Ordering::AcqRel, Ordering::Acquire) {
            Ok(_) => {
                self.state.jobs().remove(&id);
                self.state.queued.fetch_sub(1, Ordering::Relaxed);
                self.state.canceled.fetch_add(1, Ordering::Relaxed);
                CancelResult::Canceled
            }
            Err(RUNNING) => CancelResult::Busy,
            Err(_) => CancelResult::Finished,
        }
    }

    /// The pool's counters now.
    pub(crate) fn stats(&self) -> PoolStats {
        PoolStats {
            queued: self.state.queued.load(Ordering::Relaxed),
            running: self.state.running.load(Ordering::Relaxed),
            completed: self.state.completed.load(Ordering::Relaxed),
            canceled: self.state.canceled.load(Ordering::Relaxed),
            threads: self.threads,
        }
    }

    /// The number of worker threads.
    pub(crate) fn threads(&self) -> usize {
        self.threads
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        // The general sender drops with `self`; the DNS sender drops once its backlog has drained.
        self.state.dns_gate().close();
    }
}

/// The pool size to use: `explicit` if given, else `EVLOOP_THREADPOOL_SIZE`, else 4. An explicit
/// size wins over the environment. Invalid values are errors, never silently replaced by a default;
/// the loop builder may call this early to report them at build time.
pub(crate) fn configured_size(explicit: Option<usize>) -> io::Result<usize> {
    if let Some(size) = explicit {
        if !(1..=MAX_POOL_SIZE).contains(&size) {
            let message = format!("thread pool size {size} is outside 1..={MAX_POOL_SIZE}");
            return Err(io::Error::new(io::ErrorKind::InvalidInput, message));
        }
        return Ok(size);
    }
    match std::env::var_os(POOL_SIZE_VAR) {
        None => Ok(DEFAULT_POOL_SIZE),
        Some(value) => parse_pool_size(&value.to_string_lossy()),
    }
}

/// Parses the value of `EVLOOP_THREADPOOL_SIZE` strictly: ASCII digits only, 1..=1024.
pub(crate) fn parse_pool_size(value: &str) -> io::Result<usize> {
    let size = Some(value)
        .filter(|v| !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|v| v.parse::<usize>().ok())
        .filter(|size| (1..=MAX_POOL_SIZE).contains(size));
    size.ok_or_else(|| {
        let message = format!(
            "{POOL_SIZE_VAR}={value:?} is not a thread count (expected a whole number 1..={MAX_POOL_SIZE})"
        );
        io::Error::new(io::ErrorKind::InvalidInput, message)
    })
}
