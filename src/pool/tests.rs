//! Pool behaviour, observed through a test sink that forwards completions to a channel.

use std::sync::atomic::{AtomicBool, AtomicUsize};
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender, unbounded};

use super::*;

/// How long a test waits for something that should happen almost at once.
const WAIT: Duration = Duration::from_secs(10);

struct ChannelSink(Sender<(JobId, Outcome)>);

impl CompletionSink for ChannelSink {
    fn complete(&self, id: JobId, outcome: Outcome) {
        let _ = self.0.send((id, outcome));
    }
}

fn channel_sink() -> (Arc<dyn CompletionSink>, Receiver<(JobId, Outcome)>) {
    let (sender, receiver) = unbounded();
    (Arc::new(ChannelSink(sender)), receiver)
}

fn job<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> JobFn {
    Box::new(move || Box::new(work()))
}

fn next(done: &Receiver<(JobId, Outcome)>) -> (JobId, Outcome) {
    done.recv_timeout(WAIT).expect("a completion arrives")
}

fn value<T: Copy + 'static>(outcome: Outcome) -> T {
    match outcome {
        Outcome::Done(value) => *value.downcast::<T>().expect("the job's return type"),
        Outcome::Panicked(message) => panic!("job panicked: {message}"),
    }
}

fn wait_until(mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + WAIT;
    while !condition() {
        assert!(
            Instant::now() < deadline,
            "condition not met within {WAIT:?}"
        );
        thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn jobs_run_in_submission_order_on_one_thread() {
    let pool = Pool::start(1).expect("pool starts");
    let (sink, done) = channel_sink();
    let ids: Vec<JobId> = (0..50u32)
        .map(|n| pool.submit(JobKind::Fs, job(move || n), Arc::clone(&sink)))
        .collect();
    for (n, id) in (0..50u32).zip(&ids) {
        let (finished, outcome) = next(&done);
        assert_eq!(finished, *id);
        assert_eq!(value::<u32>(outcome), n);
    }
    let stats = PoolStats {
        queued: 0,
        running: 0,
        completed: 50,
        canceled: 0,
        threads: 1,
    };
    assert_eq!(pool.stats(), stats);
}

#[test]
fn a_panicking_job_is_reported_and_the_worker_lives_on() {
    let pool = Pool::start(1).expect("pool starts");
    let (sink, done) = channel_sink();
    pool.submit(
        JobKind::Cpu,
        job(|| -> u32 { panic!("static message") }),
        Arc::clone(&sink),
    );
    pool.submit(
        JobKind::Cpu,
        job(|| -> u32 { panic!("formatted {}", 42) }),
        Arc::clone(&sink),
    );
    for n in 0..100u32 {
        pool.submit(JobKind::Cpu, job(move || n), Arc::clone(&sink));
    }
    for expected in ["static message", "formatted 42"] {
        match next(&done).1 {
            Outcome::Panicked(message) => assert_eq!(message, expected),
            Outcome::Done(_) => panic!("expected a panic outcome"),
        }
    }
    for n in 0..100u32 {
        assert_eq!(value::<u32>(next(&done).1), n);
    }
    assert_eq!(pool.stats().completed, 102);
}

#[test]
fn queued_jobs_can_be_canceled_and_never_run() {
    let pool = Pool::start(4).expect("pool starts");
    let (sink, done) = channel_sink();
    let (started, release) = (Arc::new(Barrier::new(5)), Arc::new(Barrier::new(5)));
    for _ in 0..4 {
        let (started, release) = (Arc::clone(&started), Arc::clone(&release));
        let blocker = job(move || {
            started.wait();
            release.wait();
        });
        pool.submit(JobKind::Fs, blocker, Arc::clone(&sink));
    }
    started.wait();
    let ran = Arc::new(AtomicUsize::new(0));
    let queued: Vec<JobId> = (0..16)
        .map(|_| {
            let ran = Arc::clone(&ran);
            let work = job(move || ran.fetch_add(1, Ordering::SeqCst));
            pool.submit(JobKind::Cpu, work, Arc::clone(&sink))
        })
        .collect();
    assert_eq!(pool.stats().queued, 16);
    for id in &queued {
        assert_eq!(pool.cancel(id), CancelResult::Canceled);
    }
    for id in &queued {
        assert_eq!(
            pool.cancel(id),
            CancelResult::Finished,
            "a second cancel is a no-op"
        );
    }
    release.wait();
    // FIFO: the marker is dequeued after every canceled job.
    let marker = pool.submit(JobKind::Cpu, job(|| ()), Arc::clone(&sink));
    let finished: Vec<JobId> = (0..5).map(|_| next(&done).0).collect();
    assert!(finished.contains(&marker));
    assert!(
        done.recv_timeout(Duration::from_millis(100)).is_err(),
        "no sink call for canceled jobs"
    );
    assert_eq!(ran.load(Ordering::SeqCst), 0);
    let stats = PoolStats {
        queued: 0,
        running: 0,
        completed: 5,
        canceled: 16,
        threads: 4,
    };
    assert_eq!(pool.stats(), stats);
}

#[test]
fn a_running_job_is_busy_and_a_finished_one_is_finished() {
    let pool = Pool::start(1).expect("pool starts");
    let (sink, done) = channel_sink();
    let (started, release) = (Arc::new(Barrier::new(2)), Arc::new(Barrier::new(2)));
    let (job_started, job_release) = (Arc::clone(&started), Arc::clone(&release));
    let work = job(move || {
        job_started.wait();
        job_release.wait();
        7u32
    });
    let id = pool.submit(JobKind::Cpu, work, sink);
    started.wait();
    assert_eq!(pool.cancel(&id), CancelResult::Busy);
    assert_eq!(pool.stats().running, 1);
    release.wait();
    let (finished, outcome) = next(&done);
    assert_eq!((finished, value::<u32>(outcome)), (id.clone(), 7));
    assert_eq!(pool.cancel(&id), CancelResult::Finished);
}

#[test]
fn a_quiet_submission_waits_for_wake() {
    let pool = Pool::start(2).expect("pool starts");
    let (sink, done) = channel_sink();
    wait_until(|| pool.state.queue.idle_workers() == 2); // both asleep
    let (id, runnable) = pool.submit_quietly(JobKind::Fs, job(|| 5u32), Arc::clone(&sink));
    assert!(runnable);
    assert!(
        done.recv_timeout(Duration::from_millis(50)).is_err(),
        "no worker was woken"
    );
    assert_eq!(pool.stats().queued, 1);
    pool.wake(1);
    let (finished, outcome) = next(&done);
    assert_eq!((finished, value::<u32>(outcome)), (id, 5));
}

#[test]
fn a_blocked_lookup_leaves_the_other_worker_to_file_jobs() {
    let pool = Pool::start(2).expect("pool starts"); // one DNS slot
    let (sink, done) = channel_sink();
    let (started_tx, started_rx) = unbounded();
    let (release_tx, release_rx) = unbounded::<()>();
    let blocked_lookup = job(move || {
        let _ = started_tx.send(());
        let _ = release_rx.recv_timeout(WAIT);
    });
    let blocked = pool.submit(JobKind::Dns, blocked_lookup, Arc::clone(&sink));
    started_rx.recv_timeout(WAIT).expect("the lookup starts");
    let second_ran = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&second_ran);
    let second = pool.submit(
        JobKind::Dns,
        job(move || flag.store(true, Ordering::SeqCst)),
        Arc::clone(&sink),
    );
    let files: Vec<JobId> = (0..10u32)
        .map(|n| pool.submit(JobKind::Fs, job(move || n), Arc::clone(&sink)))
        .collect();
    for id in &files {
        assert_eq!(
            next(&done).0,
            *id,
            "file jobs run while the DNS slot is taken"
        );
    }
    assert!(
        !second_ran.load(Ordering::SeqCst),
        "the second lookup waits for the slot"
    );
    let _ = release_tx.send(());
    assert_eq!(next(&done).0, blocked);
    assert_eq!(next(&done).0, second, "DNS resumes when the slot frees");
}

#[test]
fn lookups_occupy_at_most_half_the_workers() {
    let pool = Pool::start(4).expect("pool starts");
    let (sink, done) = channel_sink();
    let (running, peak) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let lookups: Vec<JobId> = (0..8)
        .map(|_| {
            let (running, peak) = (Arc::clone(&running), Arc::clone(&peak));
            let lookup = job(move || {
                peak.fetch_max(running.fetch_add(1, Ordering::SeqCst) + 1, Ordering::SeqCst);
                thread::sleep(Duration::from_millis(20));
                running.fetch_sub(1, Ordering::SeqCst);
            });
            pool.submit(JobKind::Dns, lookup, Arc::clone(&sink))
        })
        .collect();
    let files: Vec<JobId> = (0..4)
        .map(|_| pool.submit(JobKind::Fs, job(|| ()), Arc::clone(&sink)))
        .collect();
    let order: Vec<JobId> = (0..12).map(|_| next(&done).0).collect();
    assert_eq!(peak.load(Ordering::SeqCst), 2);
    let last_file = order.iter().rposition(|id| files.contains(id));
    let last_lookup = order.iter().rposition(|id| lookups.contains(id));
    assert!(
        last_file < last_lookup,
        "file jobs did not wait for the DNS batch: {order:?}"
    );
}

#[test]
fn completions_return_to_the_submitting_sink() {
    let pool = Pool::shared(Some(6)).expect("pool starts");
    thread::scope(|scope| {
        for loop_number in 0..2u32 {
            let pool = Arc::clone(&pool);
            scope.spawn(move || {
                let (sink, done) = channel_sink();
                let ids: Vec<JobId> = (0..50)
                    .map(|_| pool.submit(JobKind::Cpu, job(move || loop_number), Arc::clone(&sink)))
                    .collect();
                for _ in 0..50 {
                    let (id, outcome) = next(&done);
                    assert!(ids.contains(&id));
                    assert_eq!(value::<u32>(outcome), loop_number);
                }
            });
        }
    });
}

#[test]
fn loops_asking_the_same_size_share_one_pool() {
    let three = Pool::shared(Some(3)).expect("pool starts");
    let three_again = Pool::shared(Some(3)).expect("pool starts");
    let five = Pool::shared(Some(5)).expect("pool starts");
    assert!(Arc::ptr_eq(&three, &three_again));
    assert!(!Arc::ptr_eq(&three, &five));
    assert_eq!((three.threads(), five.threads()), (3, 5));
}

/// Worker threads of this process whose name is one of `names` (names fit /proc's 15 bytes).
fn live_workers(names: &[String]) -> usize {
    let tasks = std::fs::read_dir("/proc/self/task").expect("/proc/self/task is readable");
    tasks
        .filter_map(|task| std::fs::read_to_string(task.ok()?.path().join("comm")).ok())
        .filter(|comm| names.iter().any(|name| name == comm.trim_end()))
        .count()
}

#[test]
#[cfg_attr(
    not(target_os = "linux"),
    ignore = "counts worker threads by name in Linux's /proc/self/task"
)]
fn workers_exit_after_the_last_arc_drops() {
    const SIZE: usize = 7; // no other test uses this size, so no other test shares the pool
    let pool = Pool::shared(Some(SIZE)).expect("pool starts");
    let first = pool.first_worker;
    let names: Vec<String> = (first..first + SIZE)
        .map(|n| format!("evloop-pool-{n}"))
        .collect();
    wait_until(|| live_workers(&names) == SIZE);
    let same = Pool::shared(Some(SIZE)).expect("pool starts");
    assert!(Arc::ptr_eq(&pool, &same));
    drop(same);
    drop(pool);
    wait_until(|| live_workers(&names) == 0);
    let fresh = Pool::shared(Some(SIZE)).expect("pool starts");
    assert_ne!(fresh.first_worker, first, "the registry kept only a Weak");
}

#[test]
fn pool_size_parsing_is_strict() {
    for (text, size) in [("1", 1), ("4", 4), ("007", 7), ("1024", 1024)] {
        assert_eq!(parse_pool_size(text).expect("a valid size"), size);
    }
    let invalid = [
        "",
        "abc",
        "0",
        "1025",
        " 4",
        "4 ",
        "-1",
        "+4",
        "4.0",
        "99999999999999999999999",
    ];
    for text in invalid {
        let err = parse_pool_size(text).expect_err("an invalid size");
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
        let message = err.to_string();
        assert!(message.contains("EVLOOP_THREADPOOL_SIZE"), "{message}");
        assert!(message.contains(&format!("{text:?}")), "{message}");
    }
}

#[test]
fn explicit_sizes_outside_the_range_are_rejected() {
    for size in [0, MAX_POOL_SIZE + 1] {
        let err = configured_size(Some(size)).expect_err("an invalid size");
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
        assert!(Pool::shared(Some(size)).is_err());
    }
    assert_eq!(
        configured_size(Some(MAX_POOL_SIZE)).expect("the largest size"),
        MAX_POOL_SIZE
    );
}
