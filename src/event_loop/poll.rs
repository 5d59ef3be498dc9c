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

impl Loop {
    /// The poll timeout in ns: `Some(0)` when something is ready to run, the time to the next
    /// timer, or `None` (block) when only I/O can make progress.
    pub(crate) fn poll_timeout(&self) -> Option<u64> {
        let blocked = !self.stop_flag
            && (self.handles.active_refd() > 0 || self.reqs.any() || self.remote.keeps_alive())
            && self.pending.is_empty()
            && !self.local.has_posts()
            && !self.watchers.has_idle()
            && self.immediates.live() == 0
            && self.closing.is_empty()
            && self.tasks.is_empty()
            && self.inbox.is_empty();
        if !blocked {
            return Some(0);
        }
        self.timers
            .next_due()
            .map(|due| due.saturating_sub(self.clock.now()))
    }

    /// The poll phase: wait for I/O (or the timeout), then dispatch events, pool completions
    /// and cross-thread posts.
    pub(crate) fn poll_io(&mut self, timeout_ns: Option<u64>) -> Result<()> {
        self.end_completions();
        if timeout_ns == Some(0) && !self.io.has_sources() {
            // Nothing but our own waker is registered: skip the syscall and look at the inbox
            // flag directly (libuv likewise skips epoll_wait with no fds).
            if self.remote.take_notified() || !self.inbox.is_empty() {
                self.run_inbox();
            }
            return Ok(());
        }
        let mut timeout = timeout_ns.map(|ns| Duration::from_nanos(ns).min(MAX_POLL_WAIT));
        // The timeout was computed from the cached clock, which is stale by however long the
        // callbacks since the last update ran. Measure it from the real time, so a timer that
        // fell due meanwhile is not waited for (it would otherwise run up to the timeout late).
        // The same clock read starts the idle-time measurement (utilization, lag monitor).
        let mut sleep_start = None;
        if timeout.is_none_or(|t| !t.is_zero()) {
            let now = self.clock.read();
            if let Some(t) = &mut timeout {
                let deadline = self.clock.now().saturating_add(t.as_nanos() as u64);
                *t = Duration::from_nanos(deadline.saturating_sub(now));
            }
            if timeout != Some(Duration::ZERO) {
                sleep_start = Some(now);
            }
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
        let mut events = self
            .events
            .take()
            .unwrap_or_else(|| Events::with_capacity(1024));
        let polled = self.io.wait(&mut events, timeout);
        self.update_time();
        if let Some(start) = sleep_start {
            self.instruments.slept(&self.clock, start);
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
                token => self.dispatch_io(HandleId::from_token(token.0), event),
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
                    self.invoke(Phase::Poll, CallbackKind::Post, site, run);
                }
                Message::Completion {
                    key,
                    serial,
                    outcome,
                } => self.complete_request(key, serial, outcome),
            }
        }
        self.end_completions();
    }
}
