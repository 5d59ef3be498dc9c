//! Requests to the thread pool: `queue_work`, cancel, and delivering completions on the loop.

use std::any::Any;
use std::io;
use std::panic::Location;
use std::sync::Arc;

use slab::Slab;

use crate::error::{Error, Result};
use crate::event_loop::Loop;
use crate::event_loop::sender::{Message, Remote};
use crate::event_loop::{CallbackKind, Phase};
use crate::handle::Site;
use crate::pool::{CancelResult, CompletionSink, JobFn, JobId, JobKind, Outcome, Pool, PoolStats};

/// Which workers a pool job may occupy; see [`Loop::queue_work_in`].
///
/// With a pool of `n` workers (`n` > 1): slow-I/O jobs (and DNS lookups) hold at most half of them,
/// rounded up; CPU and slow-I/O jobs together hold at most `n - 1`; fast-I/O jobs (and file
/// operations) may use every worker. So no amount of slow or long work can keep a file operation
/// from starting. Within a class, jobs start in submission order. With one worker every class
/// shares it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum WorkClass {
    /// Computation, the class of [`Loop::queue_work`]: long jobs that keep a worker busy.
    Cpu,
    /// Short blocking calls that finish quickly whatever happens (the class of `evloop::fs`).
    FastIo,
    /// Blocking calls that may wait on something slow and unbounded: a resolver, a remote
    /// service (the class of `evloop::dns`).
    SlowIo,
}

/// An in-flight thread-pool request (from [`Loop::queue_work`], a file operation or a DNS
/// lookup). Pass it to [`Loop::cancel`]. Stale once its callback has run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Work {
    key: u32,
    serial: u32,
}

/// What a finished job hands to its loop-side callback: the job's value, boxed, or the error.
pub(crate) type DoneFn = Box<dyn FnOnce(&mut Loop, Result<Box<dyn Any + Send>>)>;

struct Request {
    serial: u32,
    /// `None` once canceled (its callback is then queued on the pending phase).
    job: Option<JobId>,
    done: Option<DoneFn>,
    kind: CallbackKind,
    site: Site,
}

/// The loop's table of in-flight pool requests and its pool (started on first use).
#[derive(Default)]
pub(crate) struct Requests {
    slab: Slab<Request>,
    next_serial: u32,
    pool: Option<Arc<Pool>>,
    /// Set while the poll phase runs a batch of completions (see `begin_completions`).
    in_completions: bool,
    /// Whether a job submitted during this batch already woke a worker.
    woke_in_batch: bool,
    /// Jobs submitted during this batch that could run but woke no worker yet.
    held_wakes: usize,
}

/// Routes one job's outcome back to the loop that submitted it, tagged with its request key.
struct CompletionRoute {
    remote: Arc<Remote>,
    key: u32,
    serial: u32,
}

impl CompletionSink for CompletionRoute {
    fn complete(&self, _id: JobId, outcome: Outcome) {
        // If the loop is gone the outcome has nowhere to go; dropping it is all that is left.
        let _ = self.remote.send(Message::Completion {
            key: self.key,
            serial: self.serial,
            outcome,
        });
    }
}

/// # Thread pool
impl Loop {
    /// Runs `work` on the thread pool and then `done` on this loop (in the poll phase) with its
    /// value. A panic inside `work` is caught and delivered to `done` as [`Error::Panicked`];
    /// the worker lives on. In-flight work keeps the loop alive. The pool starts on first use
    /// (4 threads by default; see [`LoopBuilder::threadpool_size`](crate::LoopBuilder)).
    ///
    /// This is CPU work: with DNS lookups it may hold at most all workers but one (with more
    /// than one worker), so file operations are never starved by long jobs; the rest waits in
    /// the queue, which is unbounded: bound your own in-flight jobs if clients can add them.
    ///
    /// ```
    /// # fn main() -> Result<(), evloop::Error> {
    /// let mut lp = evloop::Loop::new()?;
    /// lp.queue_work(
    ///     || (1..=20u64).product::<u64>(),
    ///     |_, result| assert_eq!(result.unwrap(), 2_432_902_008_176_640_000),
    /// );
    /// lp.run()?;
    /// # Ok(())
    /// # }
    /// ```
    #[track_caller]
    pub fn queue_work<T: Send + 'static>(
        &mut self,
        work: impl FnOnce() -> T + Send + 'static,
        done: impl FnOnce(&mut Self, Result<T>) + 'static,
    ) -> Work {
        self.submit_job(
            JobKind::Cpu,
            CallbackKind::Work,
            Location::caller(),
            Box::new(move || Box::new(work()) as Box<dyn Any + Send>),
            typed_done(done),
        )
    }

    /// Cancels a pool request that has not started yet. On success its callback runs later (in
    /// the pending phase, never inside this call) with [`Error::Canceled`]. A request already
    /// running cannot be canceled: [`Error::Busy`], and its callback gets the value as usual.
    /// A request whose callback already ran is [`Error::StaleHandle`].
    pub fn cancel(&mut self, req: Work) -> Result<()> {
        let requests = self.pool_requests();
        let request = match requests.slab.get(req.key as usize) {
            Some(r) if r.serial == req.serial => r,
            _ => return Err(Error::StaleHandle),
        };
        let (Some(job), Some(pool)) = (request.job.as_ref(), requests.pool.as_ref()) else {
            return Err(Error::StaleHandle);
        };
        match pool.cancel(job) {
            CancelResult::Canceled => {
                self.fail_request(req.key, Error::Canceled);
                Ok(())
            }
            CancelResult::Busy => Err(Error::Busy),
            // Finished: its completion is in the inbox and will run as usual.
            CancelResult::Finished => Err(Error::Busy),
        }
    }

    /// Cancels every pool request of this loop that has not started yet (work, file operations,
    /// lookups), as [`cancel`](Self::cancel) does one: each callback runs later with
    /// [`Error::Canceled`]. Returns how many were canceled. Requests already running finish as
    /// usual. For a shutdown with a deadline: jobs queued for connections that are gone no
    /// longer keep the loop (and the process) alive.
    pub fn cancel_queued_work(&mut self) -> usize {
        let Some(pool) = self.pool_requests().pool.clone() else {
            return 0;
        };
        let queued: Vec<u32> = self
            .pool_requests()
            .slab
            .iter()
            .filter(|(_, r)| {
                r.job
                    .as_ref()
                    .is_some_and(|job| pool.cancel(job) == CancelResult::Canceled)
            })
            .map(|(key, _)| key as u32)
            .collect();
        for &key in &queued {
            self.fail_request(key, Error::Canceled);
        }
        queued.len()
    }

    /// Submits a type-erased job; `done` runs on the loop with its outcome. Used by
    /// `queue_work`, the file operations and DNS.
    pub(crate) fn submit_job(
        &mut self,
        kind: JobKind,
        cb_kind: CallbackKind,
        site: Site,
        job: JobFn,
        done: DoneFn,
    ) -> Work {
        let req = self.insert_request(cb_kind, site, done);
        let (key, serial) = (req.key, req.serial);
        self.counters_mut().pool_submitted += 1;
        let pool = match self.pool_requests_mut().pool.clone() {
            Some(pool) => pool,
            None => match Pool::shared(self.pool_size()) {
                Ok(pool) => {
                    self.pool_requests_mut().pool = Some(Arc::clone(&pool));
                    pool
                }
                Err(e) => {
                    self.fail_request(key, Error::Io(e));
                    return req;
                }
            },
        };
        let route = Arc::new(CompletionRoute {
            remote: Arc::clone(self.remote()),
            key,
            serial,
        });
        let requests = &mut self.pool_requests_mut();
        let id = if requests.in_completions && requests.woke_in_batch {
            let (id, runnable) = pool.submit_quietly(kind, job, route);
            requests.held_wakes += usize::from(runnable);
            id
        } else {
            requests.woke_in_batch = requests.in_completions;
            pool.submit(kind, job, route)
        };
        if let Some(r) = self.pool_requests_mut().slab.get_mut(key as usize) {
            r.job = Some(id);
        }
        req
    }

    /// A request that fails before it reaches the pool (bad arguments, a stale file id): `done`
    /// gets `error` in the pending phase, never inside the call. The returned id is already
    /// stale, so canceling it is [`Error::StaleHandle`].
    #[cfg_attr(
        not(unix),
        allow(dead_code, reason = "for fs and dns, Unix-only so far")
    )]
    pub(crate) fn reject_job(
        &mut self,
        cb_kind: CallbackKind,
        site: Site,
        done: DoneFn,
        error: Error,
    ) -> Work {
        let req = self.insert_request(cb_kind, site, done);
        self.fail_request(req.key, error);
        req
    }

    /// [`submit_job`](Self::submit_job) for a blocking operation returning `io::Result`: the
    /// callback gets that result, or the loop's error (canceled, panicked) as an `io::Error`.
    #[cfg_attr(
        not(unix),
        allow(dead_code, reason = "for fs and dns, Unix-only so far")
    )]
    pub(crate) fn submit_io<T: Send + 'static>(
        &mut self,
        kind: JobKind,
        cb_kind: CallbackKind,
        site: Site,
        job: impl FnOnce() -> io::Result<T> + Send + 'static,
        cb: impl FnOnce(&mut Self, io::Result<T>) + 'static,
    ) -> Work {
        let job: JobFn = Box::new(move || Box::new(job()) as Box<dyn Any + Send>);
        self.submit_job(kind, cb_kind, site, job, io_done(cb))
    }

    /// [`reject_job`](Self::reject_job) for a callback that takes `io::Result`.
    #[cfg_attr(
        not(unix),
        allow(dead_code, reason = "for fs and dns, Unix-only so far")
    )]
    pub(crate) fn reject_io<T: 'static>(
        &mut self,
        cb_kind: CallbackKind,
        site: Site,
        cb: impl FnOnce(&mut Self, io::Result<T>) + 'static,
        error: io::Error,
    ) -> Work {
        self.reject_job(cb_kind, site, io_done(cb), Error::Io(error))
    }

    /// The counters of the thread pool this loop uses, or `None` before its first pool request
    /// (the pool starts on first use). The pool is shared by every loop asking the same size,
    /// so the counts are the pool's, not this loop's.
    pub fn pool_stats(&self) -> Option<PoolStats> {
        self.pool_requests().pool.as_ref().map(|pool| pool.stats())
    }

    /// Runs `work` on the thread pool in the given [`WorkClass`], then `done` on this loop, as
    /// [`queue_work`](Self::queue_work) does (which is this with [`WorkClass::Cpu`]).
    ///
    /// The class decides which workers the job may hold while it runs, as libuv's internal
    /// `UV__WORK_CPU`, `UV__WORK_FAST_IO` and `UV__WORK_SLOW_IO` do: a job that blocks on
    /// something slow and unbounded (a remote service, a resolver) belongs in
    /// [`WorkClass::SlowIo`], so that however many there are, file operations always find a
    /// worker.
    ///
    /// ```
    /// # fn main() -> Result<(), evloop::Error> {
    /// use evloop::WorkClass;
    /// let mut lp = evloop::Loop::new()?;
    /// // A blocking call to a slow service: it may take at most half of the workers.
    /// lp.queue_work_in(
    ///     WorkClass::SlowIo,
    ///     || std::net::ToSocketAddrs::to_socket_addrs("127.0.0.1:80").map(|a| a.count()),
    ///     |_, result| assert_eq!(result.unwrap().unwrap(), 1),
    /// );
    /// lp.run()?;
    /// # Ok(())
    /// # }
    /// ```
    #[track_caller]
    pub fn queue_work_in<T: Send + 'static>(
        &mut self,
        class: WorkClass,
        work: impl FnOnce() -> T + Send + 'static,
        done: impl FnOnce(&mut Self, Result<T>) + 'static,
    ) -> Work {
        let kind = match class {
            WorkClass::Cpu => JobKind::Cpu,
            WorkClass::FastIo => JobKind::Fs,
            WorkClass::SlowIo => JobKind::Dns,
        };
        self.submit_job(
            kind,
            CallbackKind::Work,
            Location::caller(),
            Box::new(move || Box::new(work()) as Box<dyn Any + Send>),
            typed_done(done),
        )
    }

    /// Adds a request to the table; it keeps the loop alive until it completes or fails.
    fn insert_request(&mut self, cb_kind: CallbackKind, site: Site, done: DoneFn) -> Work {
        let serial = self.pool_requests_mut().next_serial;
        self.pool_requests_mut().next_serial = serial.wrapping_add(1);
        let entry = self.pool_requests_mut().slab.vacant_entry();
        let key = entry.key() as u32;
        entry.insert(Request {
            serial,
            job: None,
            done: Some(done),
            kind: cb_kind,
            site,
        });
        self.reqs_mut().begin();
        Work { key, serial }
    }

    /// The poll phase starts running a batch of completions. A completion callback often submits
    /// the next request (a chain of reads, a stat per directory entry). Waking a worker for each
    /// would, on a busy or single CPU, let one worker run each job as it comes and sleep again,
    /// a context switch per job; libuv pays the same. So in a batch the first submission wakes a
    /// worker at once (work starts as soon as possible) and the rest wake workers together when
    /// the batch ends, a few microseconds later.
    pub(crate) fn begin_completions(&mut self) {
        self.pool_requests_mut().in_completions = true;
        self.pool_requests_mut().woke_in_batch = false;
    }

    /// The batch of completions ended (or the loop is about to block): wake workers for the jobs
    /// submitted during it. Also called before every poll, so jobs held by a batch that a
    /// panicking callback cut short are never left waiting while workers sleep.
    #[inline]
    pub(crate) fn end_completions(&mut self) {
        let requests = &mut self.pool_requests_mut();
        requests.in_completions = false;
        if requests.held_wakes > 0 {
            self.wake_held();
        }
    }

    /// Wakes workers for the jobs held by a batch of completions (out of line: most poll
    /// phases hold none).
    #[inline(never)]
    fn wake_held(&mut self) {
        let requests = &mut self.pool_requests_mut();
        let held = std::mem::take(&mut requests.held_wakes);
        if let Some(pool) = requests.pool.as_ref() {
            pool.wake(held);
        }
    }

    /// A completion arrived from the pool (poll phase).
    pub(crate) fn complete_request(&mut self, key: u32, serial: u32, outcome: Outcome) {
        let result = match outcome {
            Outcome::Done(value) => Ok(value),
            Outcome::Panicked(message) => Err(Error::Panicked(message)),
        };
        self.finish_request(key, serial, result);
    }

    /// Takes a request that will not complete (canceled, or the pool could not start) off the
    /// table and queues its callback with `error` on the pending phase: never inside the call
    /// that caused it. The pending queue keeps the loop alive until it runs.
    fn fail_request(&mut self, key: u32, error: Error) {
        let mut request = self.pool_requests_mut().slab.remove(key as usize);
        self.reqs_mut().end();
        if let Some(done) = request.done.take() {
            self.defer(
                request.kind,
                request.site,
                Box::new(move |lp| done(lp, Err(error))),
            );
        }
    }

    fn finish_request(&mut self, key: u32, serial: u32, result: Result<Box<dyn Any + Send>>) {
        let request = match self.pool_requests_mut().slab.get(key as usize) {
            Some(r) if r.serial == serial => r,
            _ => return,
        };
        let (kind, site) = (request.kind, request.site);
        let mut request = self.pool_requests_mut().slab.remove(key as usize);
        self.reqs_mut().end();
        self.counters_mut().pool_completed += 1;
        if let Some(done) = request.done.take() {
            self.invoke(Phase::Poll, kind, site, move |lp| done(lp, result));
        }
    }
}

/// Wraps a typed `done` so it takes the boxed value and downcasts it.
pub(crate) fn typed_done<T: 'static>(done: impl FnOnce(&mut Loop, Result<T>) + 'static) -> DoneFn {
    Box::new(move |lp, result| {
        let result = result.and_then(|value| {
            value
                .downcast::<T>()
                .map(|b| *b)
                .map_err(|_| Error::InvalidState("pool job returned a value of an unexpected type"))
        });
        done(lp, result);
    })
}

/// Wraps a callback taking `io::Result<T>` for a job whose value is an `io::Result<T>`: the loop's
/// own errors (canceled: kind `Interrupted`; panicked) arrive as `io::Error`s carrying the
/// [`Error`], which [`Error::from_io_ref`] recovers.
#[cfg_attr(
    not(unix),
    allow(dead_code, reason = "for fs and dns, Unix-only so far")
)]
pub(crate) fn io_done<T: 'static>(cb: impl FnOnce(&mut Loop, io::Result<T>) + 'static) -> DoneFn {
    typed_done(move |lp, result: Result<io::Result<T>>| {
        let result = match result {
            Ok(result) => result,
            Err(error) => Err(io::Error::from(error)),
        };
        cb(lp, result);
    })
}
