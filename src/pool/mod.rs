//! The worker pool that runs blocking work (user jobs, file operations, DNS) off the loop thread.
//!
//! One pool serves every loop in the process that asks for the same size: each job carries its own
//! [`CompletionSink`], so its outcome goes back to the loop that submitted it. Workers take jobs
//! in FIFO order from one mutex-guarded queue, as libuv's; DNS lookups may occupy at most half
//! the workers (rounded up), and CPU work (`queue_work`) and lookups together all but one, so
//! neither slow resolvers nor long jobs can starve file work (see `queue`).
//!
//! Cancel needs no shared table: a job's state lives in its [`JobId`], which the submitter keeps;
//! `cancel` and the worker race on one compare-and-swap of it.
//!
//! Lifetime: a process-wide registry holds only `Weak<Pool>`, so the pool lives exactly as long as
//! some loop holds its `Arc`. When the last `Arc` drops, the queue is closed; workers finish the
//! jobs already queued and exit. Workers never hold an `Arc<Pool>` themselves, and `Drop` never
//! blocks on them.

mod queue;
#[cfg(test)]
mod tests;
mod worker;

pub(crate) mod work;

use std::any::Any;
use std::io;
use std::sync::atomic::{AtomicU8, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::thread;

use self::queue::JobQueue;

/// The work a job runs on a pool thread; its boxed result travels back to the submitting loop.
pub(crate) type JobFn = Box<dyn FnOnce() -> Box<dyn Any + Send> + Send>;

/// The class of a job, which decides the queue it waits in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum JobKind {
    /// User work from `queue_work`.
    Cpu,
    /// A blocking file operation.
    #[cfg_attr(not(unix), allow(dead_code, reason = "evloop::fs is Unix-only so far"))]
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

/// Names one submitted job and holds its state (queued, running, canceled, finished): the
/// submitter keeps it to cancel the job. Equal ids are the same job.
#[derive(Clone, Debug)]
pub(crate) struct JobId(Arc<AtomicU8>);

impl PartialEq for JobId {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl Eq for JobId {}

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

/// A snapshot of a thread pool's counters, from [`Loop::pool_stats`](crate::Loop::pool_stats).
///
/// The counters are the whole pool's, which every loop asking the same pool size shares. Each
/// counter is exact; the set is not one atomic snapshot (a job may move from `queued` to
/// `running` between two reads).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct PoolStats {
    /// Jobs submitted and neither started nor canceled.
    pub queued: u64,
    /// Jobs running now.
    pub running: u64,
    /// Jobs that ran to an outcome (returned or panicked) since the pool started.
    pub completed: u64,
    /// Jobs canceled while queued since the pool started.
    pub canceled: u64,
    /// Worker threads.
    pub threads: usize,
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

/// A job in the queue.
struct Job {
    id: JobId,
    kind: JobKind,
    work: JobFn,
    sink: Arc<dyn CompletionSink>,
}

/// What the pool and its workers share.
struct PoolState {
    queue: JobQueue,
    queued: AtomicU64,
    running: AtomicU64,
    completed: AtomicU64,
    canceled: AtomicU64,
}

/// A fixed set of worker threads sharing one FIFO queue.
pub(crate) struct Pool {
    state: Arc<PoolState>,
    threads: usize,
    /// The number in the first worker's name (the tests find the workers by name).
    #[cfg_attr(not(test), allow(dead_code))]
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
        let state = Arc::new(PoolState {
            queue: JobQueue::for_workers(size),
            queued: AtomicU64::new(0),
            running: AtomicU64::new(0),
            completed: AtomicU64::new(0),
            canceled: AtomicU64::new(0),
        });
        let first_worker = NEXT_WORKER.fetch_add(size, Ordering::Relaxed);
        let pool = Self {
            state,
            threads: size,
            first_worker,
        };
        for number in first_worker..first_worker + size {
            let state = Arc::clone(&pool.state);
            // On failure `pool` drops here, which closes the queue for the workers already started.
            thread::Builder::new()
                .name(format!("evloop-pool-{number}"))
                .spawn(move || worker::run(&state))?;
        }
        Ok(pool)
    }

    /// Queues `job`; its outcome goes to `sink` from a worker thread, unless it is canceled first.
    pub(crate) fn submit(&self, kind: JobKind, job: JobFn, sink: Arc<dyn CompletionSink>) -> JobId {
        self.push(kind, job, sink, true).0
    }

    /// Queues `job` like [`submit`](Self::submit) but wakes no worker: the caller collects the
    /// jobs that could run (the `bool`) and hands their count to [`wake`](Self::wake) soon.
    pub(crate) fn submit_quietly(
        &self,
        kind: JobKind,
        job: JobFn,
        sink: Arc<dyn CompletionSink>,
    ) -> (JobId, bool) {
        self.push(kind, job, sink, false)
    }

    /// Wakes idle workers for up to `jobs` jobs queued by [`submit_quietly`](Self::submit_quietly).
    pub(crate) fn wake(&self, jobs: usize) {
        self.state.queue.wake(jobs);
    }

    fn push(
        &self,
        kind: JobKind,
        work: JobFn,
        sink: Arc<dyn CompletionSink>,
        wake: bool,
    ) -> (JobId, bool) {
        let id = JobId(Arc::new(AtomicU8::new(QUEUED)));
        self.state.queued.fetch_add(1, Ordering::Relaxed);
        let job = Job {
            id: id.clone(),
            kind,
            work,
            sink,
        };
        let runnable = self.state.queue.push(job, wake);
        (id, runnable)
    }

    /// Cancels job `id` if it is still queued. The worker that dequeues it skips it and does not
    /// call its sink: the loop delivers the cancel error itself, later, never inside this call.
    pub(crate) fn cancel(&self, id: &JobId) -> CancelResult {
        let state = &id.0;
        match state.compare_exchange(QUEUED, CANCELED, Ordering::AcqRel, Ordering::Acquire) {
            Ok(_) => {
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
            threads: self.threads(),
        }
    }

    /// The number of worker threads.
    pub(crate) fn threads(&self) -> usize {
        self.threads
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        // Workers drain what is queued, then exit; nobody waits for them.
        self.state.queue.close();
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
