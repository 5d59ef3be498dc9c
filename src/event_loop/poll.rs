//! The poll phase (libuv's `uv__io_poll`): choose the timeout, wait in mio, then dispatch I/O
//! events, pool completions and cross-thread posts.

use std::time::Duration;

use mio::Events;

use crate::error::{Error, Result};
#[cfg(all(target_os = "linux", not(feature = "portable-fallbacks")))]
use crate::event_loop::TIMERFD_TOKEN;
use crate::event_loop::sender::Message;
use crate::event_loop::{CallbackKind, Phase};
use crate::event_loop::{Loop, WAKER_TOKEN};
use crate::handle::HandleId;

/// The longest single poll wait, so a loop with a far-away timer still wakes every ~24 days
/// and recomputes (as libuv clamps to `INT_MAX` ms).
const MAX_POLL_WAIT: Duration = Duration::from_millis(i32::MAX as u64);

/// How long the poll phase may wait.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum PollWait {
    /// Do not block.
    Zero,
    /// Until this loop time (ns since the clock's epoch): the earliest timer's due time.
    Until(u64),
    /// Until I/O or another thread wakes the loop.
    Forever,
}

impl Loop {
    /// How long poll may wait: not at all when something is ready to run, until the next
    /// timer's due time, or until I/O when only I/O can make progress. Reads no clock: the
    /// poll phase measures the wait from the real time.
    pub(crate) fn poll_timeout(&self) -> PollWait {
        let blocked = !self.stop_flag
            && (self.handles.active_refd() > 0 || self.reqs.any() || self.remote.keeps_alive())
            && self.pending.is_empty()
            && !self.local.has_posts()
            && !self.watchers.has_idle()
            && self.immediates.refd() == 0
            && self.closing.is_empty()
            && self.tasks.is_empty()
            && self.inbox.is_empty();
        if !blocked {
            return PollWait::Zero;
        }
        self.timers
            .next_due()
            .map_or(PollWait::Forever, PollWait::Until)
    }

    /// The poll phase: wait for I/O (or the timeout), then dispatch events, pool completions
    /// and cross-thread posts. Its end is a refresh point of the cached clock.
    pub(crate) fn poll_io(&mut self, wait: PollWait) -> Result<()> {
        self.end_completions();
        // A wait is measured from the real time, not from the cached clock (stale by however
        // long the callbacks since the last reading ran), so a timer that fell due meanwhile
        // is not waited for. The same reading starts the idle-time measurement (utilization,
        // lag monitor).
        let mut sleep_start = None;
        let timeout = match wait {
            PollWait::Zero => Some(Duration::ZERO),
            PollWait::Forever => {
                sleep_start = Some(self.clock.read());
                None
            }
            PollWait::Until(due) => {
                let now = self.clock.read();
                let left = due.saturating_sub(now);
                if left > 0 {
                    sleep_start = Some(now);
                }
                Some(Duration::from_nanos(left).min(MAX_POLL_WAIT))
            }
        };
        if timeout == Some(Duration::ZERO) && !self.io.has_sources() {
            // Nothing but our own waker is registered: skip the syscall and look at the inbox
            // flag directly (libuv likewise skips epoll_wait with no fds).
            self.clock.invalidate();
            if self.remote.take_notified() || !self.inbox.is_empty() {
                self.run_inbox();
            }
            return Ok(());
        }
        #[cfg(all(target_os = "linux", not(feature = "portable-fallbacks")))]
        let timeout = {
            // epoll_wait rounds up to whole milliseconds; a timerfd armed at the exact deadline
            // wakes us on time, so timers (and the lag monitor) are precise to microseconds.
            match (timeout, sleep_start) {
                (Some(t), Some(now)) => {
                    let deadline = self.clock.raw(now.saturating_add(t.as_nanos() as u64));
                    let now = self.clock.raw(now);
                    if self.deadline_timer.arm(deadline, now).map_err(Error::Io)? {
                        Some(t + Duration::from_millis(1))
                    } else {
                        sleep_start = None;
                        Some(Duration::ZERO)
                    }
                }
                (other, _) => other,
            }
        };
        if self.posts_ran && timeout != Some(Duration::ZERO) {
            self.posts_ran = false;
            yield_before_sleep();
        }
        let mut events = self
            .events
            .take()
            .unwrap_or_else(|| Events::with_capacity(1024));
        let polled = self.io.wait(&mut events, timeout);
        // A refresh point: the first reader after it takes the time, whatever the path (with
        // or without fds, blocking or not). The idle measurement reads the clock itself.
        self.clock.invalidate();
        if let Some(start) = sleep_start {
            self.instruments.slept(start, self.clock.read());
        }
        if let Err(e) = polled
            && e.kind() != std::io::ErrorKind::Interrupted
        {
            self.events = Some(events);
            return Err(Error::Io(e));
        }
        let mut inbox = false;
        for event in events.iter() {
            self.counters.events += 1;
            match event.token() {
                WAKER_TOKEN => inbox = true,
                #[cfg(all(target_os = "linux", not(feature = "portable-fallbacks")))]
                TIMERFD_TOKEN => self.deadline_timer.clear(),
                token => match self.io.loop_handler(token) {
                    Some(on_ready) => on_ready(self),
                    None => self.dispatch_io(HandleId::from_token(token.0), event),
                },
            }
        }
        self.events = Some(events);
        if self.remote.take_notified() || inbox || !self.inbox.is_empty() {
            self.run_inbox();
        }
        Ok(())
    }

    fn dispatch_io(&mut self, id: HandleId, event: &mio::event::Event) {
        // Events for closing or closed handles are dropped: their slots are not reused before
        // the close phase, and the generation in the token catches the rest.
        if let Ok(entry) = self.handles().get(id)
            && !entry.closing
        {
            let tag = entry.data.tag();
            self.kind_ready(tag, id, event);
        }
    }

    /// Runs the posts (and pool completions) that were in the inbox when the poll phase looked,
    /// in send order. Later ones wake the loop again.
    pub(crate) fn run_inbox(&mut self) {
        self.begin_completions();
        if self.inbox.is_empty() {
            self.remote.take_batch(&mut self.inbox);
        }
        while let Some(message) = self.inbox.pop_front() {
            match message {
                Message::Post { run, site } => {
                    self.counters.posts += 1;
                    self.posts_ran = true;
                    self.invoke(Phase::Poll, CallbackKind::Post, site, run);
                }
                Message::Completion {
                    key,
                    serial,
                    outcome,
                } => self.complete_request(key, serial, outcome),
                Message::Notify(id) => self.async_notified(id),
            }
        }
        self.end_completions();
    }
}

/// Called before the loop blocks after a poll phase that ran posts from other threads: gives the
/// CPU to a runnable thread first (`sched_yield`; returns at once if there is none).
///
/// Why: when a posting thread shares the loop's CPU, the loop otherwise sleeps right after each
/// batch, the next post's wake-up preempts the poster at once, and every batch is a few hundred
/// posts long, each costing two context switches, an eventfd write and an `epoll_wait`
/// (BENCHMARKS.md, "Hot paths back to the baseline (session 5)": 28 000-32 000 switches per
/// million posts against libuv's 50-300). Yielding lets the poster run on (its posts coalesce
/// into one wake-up) and the loop takes them in large batches: 50-220 switches per million.
/// The loop was about to sleep anyway, so nothing it has to do waits; I/O that arrives meanwhile
/// is seen by the wait that follows. With the poster on another CPU the yield is one cheap
/// syscall per batch of posts.
#[inline(never)]
fn yield_before_sleep() {
    std::thread::yield_now();
}
