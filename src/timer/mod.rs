//! Timers: `set_timeout`, `set_interval`, clear, refresh, and the timer phase.

pub(crate) mod queue;

use std::panic::Location;
use std::time::Duration;

use crate::error::{Error, Result};
use crate::event_loop::{CallbackKind, Phase};
use crate::event_loop::{HandleData, HandleState, Loop, Never};
use crate::handle::{HandleId, HandleKind, handle_type};
use crate::timer::queue::TimerKey;

handle_type! {
    /// A timer started by [`Loop::set_timeout`] or [`Loop::set_interval`].
    ///
    /// A one-shot timer is released when its callback returns without re-arming it (by
    /// [`Timer::refresh`]); its id is stale from then on. A repeating timer lives until
    /// [`Timer::clear`] or [`crate::Handle::close`].
    Timer
}

type TimerCallback = Box<dyn FnMut(&mut Loop, Timer)>;

pub(crate) struct TimerData {
    cb: Option<TimerCallback>,
    /// The duration it was started with, in ns (re-used by `refresh`).
    timeout: u64,
    repeat: bool,
    /// Where it sits in the timer queue while armed.
    key: Option<TimerKey>,
}

fn ns(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

impl HandleState for TimerData {
    type Event = Never;

    fn stop(lp: &mut Loop, id: HandleId, _kind: HandleKind) {
        lp.timer_disarm(id);
    }

    fn pending(_lp: &mut Loop, _id: HandleId, never: Never) {
        match never {}
    }
}

/// # Timers
impl Loop {
    /// Calls `cb` once, `delay` after the loop's cached [`now`](Loop::now). 0 means the next
    /// timer phase. The callback receives its own [`Timer`] and may [`refresh`](Timer::refresh)
    /// it to run again.
    #[track_caller]
    pub fn set_timeout(
        &mut self,
        delay: Duration,
        cb: impl FnMut(&mut Self, Timer) + 'static,
    ) -> Timer {
        self.start_timer(delay, false, Box::new(cb), Location::caller())
    }

    /// Calls `cb` once, `delay` after [`now`](Loop::now), like [`set_timeout`](Loop::set_timeout)
    /// but with a `FnOnce`: the callback may consume what it captured (a responder, a stream
    /// to `end`...). The timer is released after the call; clear it with the returned id.
    #[track_caller]
    pub fn set_timeout_once(
        &mut self,
        delay: Duration,
        cb: impl FnOnce(&mut Self) + 'static,
    ) -> Timer {
        let mut cb = Some(cb);
        let once = move |lp: &mut Self, _: Timer| {
            if let Some(cb) = cb.take() {
                cb(lp);
            }
        };
        self.start_timer(delay, false, Box::new(once), Location::caller())
    }

    /// Calls `cb` every `period`, first `period` after [`now`](Loop::now). An interval that fell
    /// behind runs once and is rescheduled from the current time: missed periods are skipped,
    /// not made up. A zero period runs once per loop iteration.
    #[track_caller]
    pub fn set_interval(
        &mut self,
        period: Duration,
        cb: impl FnMut(&mut Self, Timer) + 'static,
    ) -> Timer {
        self.start_timer(period, true, Box::new(cb), Location::caller())
    }

    pub(crate) fn start_timer(
        &mut self,
        delay: Duration,
        repeat: bool,
        cb: TimerCallback,
        site: crate::handle::Site,
    ) -> Timer {
        let timeout = ns(delay);
        let data = TimerData {
            cb: Some(cb),
            timeout,
            repeat,
            key: None,
        };
        let id = self
            .handles_mut()
            .insert(HandleKind::Timer, site, true, HandleData::Timer(data));
        self.timer_arm(id);
        Timer(id)
    }

    fn timer_data(&mut self, id: HandleId) -> Result<&mut TimerData> {
        match &mut self.handles_mut().get_mut(id)?.data {
            HandleData::Timer(t) => Ok(t),
            _ => Err(Error::StaleHandle),
        }
    }

    /// The data of a timer that may be (re)started: live and not closing.
    fn timer_open(&mut self, id: HandleId) -> Result<&mut TimerData> {
        match &mut self.handles_mut().open_mut(id)?.data {
            HandleData::Timer(t) => Ok(t),
            _ => Err(Error::StaleHandle),
        }
    }

    /// (Re)queues the timer at `now + timeout`, with a new start order.
    fn timer_arm(&mut self, id: HandleId) {
        let now = self.clock().now();
        let Ok(t) = self.timer_data(id) else {
            return;
        };
        let due = now.saturating_add(t.timeout);
        let old = t.key.take();
        if let Some(key) = old {
            self.timers_mut().remove(key);
        }
        let key = self.timers_mut().insert(due, id);
        if let Ok(t) = self.timer_data(id) {
            t.key = Some(key);
        }
        self.handles_mut().set_active(id, true);
    }

    /// Takes the timer out of the queue (if queued) and marks it inactive.
    pub(crate) fn timer_disarm(&mut self, id: HandleId) {
        if let Ok(t) = self.timer_data(id)
            && let Some(key) = t.key.take()
        {
            self.timers_mut().remove(key);
        }
        self.handles_mut().set_active(id, false);
    }

    /// The timer phase: runs every timer due at the cached time that was queued before the
    /// phase began, in (due, start order). Timers (re)started by these callbacks wait for the
    /// next timer phase, even at 0 ms.
    pub(crate) fn run_timers(&mut self) {
        if self.timers_mut().is_empty() {
            return;
        }
        let now = self.clock().now();
        self.instruments_mut().timer_pass(now);
        let boundary = self.timers_mut().next_seq();
        while let Some(expired) = self.timers_mut().pop_due(now, boundary) {
            let id = expired.value;
            let (cb, repeat, site) = {
                let Ok(entry) = self.handles_mut().get_mut(id) else {
                    continue;
                };
                let site = entry.site;
                let HandleData::Timer(t) = &mut entry.data else {
                    continue;
                };
                t.key = None;
                (t.cb.take(), t.repeat, site)
            };
            if repeat {
                // Rescheduled from this pass's time before the callback runs (libuv `again`):
                // inside its own callback a repeating timer is still active.
                self.timer_arm(id);
            } else {
                self.handles_mut().set_active(id, false);
            }
            let Some(cb) = cb else { continue };
            self.counters_mut().timers_fired += 1;
            let (instruments, clock) = self.instruments_with_clock();
            instruments.record_timer_lateness(clock, expired.due, id);
            self.invoke_restoring(
                Phase::Timers,
                CallbackKind::Timer,
                site,
                cb,
                |lp, cb| cb(lp, Timer(id)),
                |lp, cb| lp.timer_after_callback(id, cb),
            );
        }
    }

    /// Puts the callback back, or releases a one-shot timer that was not re-armed.
    fn timer_after_callback(&mut self, id: HandleId, cb: TimerCallback) {
        let Ok(entry) = self.handles_mut().get_mut(id) else {
            return; // cleared or closed (and released) by its own callback
        };
        let (active, closing) = (entry.active, entry.closing);
        let HandleData::Timer(t) = &mut entry.data else {
            return;
        };
        if t.cb.is_none() {
            t.cb = Some(cb);
        }
        if !active && !closing && !t.repeat {
            self.handles_mut().remove(id);
            self.user_mut().handle_freed(id);
        }
    }
}

impl Timer {
    /// Stops the timer and releases it; its id goes stale. Idempotent: returns `true` if this
    /// call stopped a live timer, `false` if it had already fired, been cleared or closed.
    /// A timer cleared while other timers of the same pass run does not fire.
    pub fn clear(self, lp: &mut Loop) -> bool {
        match lp.handles().get(self.0) {
            Ok(entry) if !entry.closing => {}
            _ => return false,
        }
        lp.timer_disarm(self.0);
        lp.handles_mut().remove(self.0);
        lp.user_mut().handle_freed(self.0);
        true
    }

    /// Restarts the timer from the loop's cached time with its original duration (libuv
    /// `uv_timer_again`, Node `refresh()`). Works on an armed timer, and on a one-shot timer from
    /// inside its own callback (to run it again). A restarted timer gets a new start order.
    pub fn refresh(self, lp: &mut Loop) -> Result<()> {
        lp.handles_mut().open_mut(self.0)?;
        lp.timer_arm(self.0);
        Ok(())
    }

    /// Re-arms the timer with a new duration (libuv's `uv_timer_start` on an active timer): it
    /// runs `delay` after the loop's cached [`now`](Loop::now) and, if `repeat`, every `delay`
    /// after that — the shapes of [`Loop::set_timeout`] and [`Loop::set_interval`]. Works on an
    /// armed timer, a repeating one, and a one-shot timer inside its own callback; the
    /// restarted timer gets a new start order and keeps its callback.
    ///
    /// Errors: [`Error::StaleHandle`] for a one-shot timer that already fired (or was
    /// cleared), [`Error::Closing`] for a closing one.
    pub fn restart(self, lp: &mut Loop, delay: Duration, repeat: bool) -> Result<()> {
        let t = lp.timer_open(self.0)?;
        t.timeout = ns(delay);
        t.repeat = repeat;
        lp.timer_arm(self.0);
        Ok(())
    }

    /// [`restart`](Timer::restart) with a new callback. The old callback is dropped; if the
    /// timer restarts itself from its own callback, that call still finishes, and the new
    /// callback runs from the next firing on.
    pub fn restart_with(
        self,
        lp: &mut Loop,
        delay: Duration,
        repeat: bool,
        cb: impl FnMut(&mut Loop, Self) + 'static,
    ) -> Result<()> {
        lp.timer_open(self.0)?.cb = Some(Box::new(cb));
        self.restart(lp, delay, repeat)
    }

    /// Time until the timer is due (zero if overdue), or `None` if it is not armed.
    pub fn due_in(self, lp: &Loop) -> Result<Option<Duration>> {
        let entry = lp.handles().get(self.0)?;
        let HandleData::Timer(t) = &entry.data else {
            return Err(Error::StaleHandle);
        };
        Ok(t.key
            .and_then(|k| lp.timers().due(k))
            .map(|due| Duration::from_nanos(due.saturating_sub(lp.clock().now()))))
    }

    /// The duration the timer was started with.
    pub fn timeout(self, lp: &Loop) -> Result<Duration> {
        match &lp.handles().get(self.0)?.data {
            HandleData::Timer(t) => Ok(Duration::from_nanos(t.timeout)),
            _ => Err(Error::StaleHandle),
        }
    }
}
