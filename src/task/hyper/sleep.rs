//! [`HyperTimer`]: hyper's sleeps on the loop's timers.
//!
//! hyper starts a sleep for every request it reads (the header-read timeout) and drops it as
//! soon as the head is in: a loop timer per sleep cost about a thousand instructions per
//! request (a handle, the timer heap's insert and removal). Sleeps whose deadlines come in
//! order — one timeout duration, as that one — instead share **one** loop timer per loop:
//! [`Sleeps`] keeps them in deadline order, a dropped sleep just leaves the queue, and the
//! timer, armed for the earliest live deadline, fires the due ones and re-arms itself for the
//! next (a dropped head is skipped then: the timer may fire early, never late). It is cleared
//! when the last live sleep goes, so it never keeps the loop alive by itself. A sleep whose
//! deadline is earlier than one already queued gets a loop timer of its own, as before.

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use slab::Slab;

use crate::event_loop::Loop;
use crate::sys::loop_scope;
use crate::task::shared::{Shared, current, shared_for};

/// hyper's timer: sleeps on the loop's timers, behind `Send + Sync` futures (hyper asks for
/// both). A sleep starts on its first poll, which must be inside a task of an evloop loop
/// (hyper polls it from the connection future); polled anywhere else it completes at once, so
/// a timeout fails fast instead of never firing.
#[derive(Clone, Copy, Debug, Default)]
pub struct HyperTimer;

impl hyper::rt::Timer for HyperTimer {
    fn sleep(&self, duration: Duration) -> Pin<Box<dyn hyper::rt::Sleep>> {
        Box::pin(HyperSleep::new(Instant::now() + duration))
    }

    fn sleep_until(&self, deadline: Instant) -> Pin<Box<dyn hyper::rt::Sleep>> {
        Box::pin(HyperSleep::new(deadline))
    }
}

/// What a sleep with a loop timer of its own shares with that timer's callback.
#[derive(Default)]
struct SleepState {
    fired: AtomicBool,
    waker: Mutex<Option<Waker>>,
    /// The loop timer, when it was started after a poll (the deferred path).
    timer: Mutex<Option<crate::Timer>>,
}

impl SleepState {
    fn fire(&self) {
        self.fired.store(true, Ordering::Release);
        let w = self
            .waker
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(w) = w {
            w.wake();
        }
    }
}

/// Where a sleep is.
enum How {
    /// Not polled yet.
    New,
    /// Fired (or polled outside a task of a loop, where it completes at once).
    Done,
    /// In its loop's [`Sleeps`] queue, at `key` (generation `gen_`): it fired once its entry
    /// is gone.
    Queued { id: u64, key: usize, gen_: u64 },
    /// A loop timer of its own (`timer`, or in `state` when it was started after the poll).
    Own {
        id: u64,
        state: Arc<SleepState>,
        timer: Option<crate::Timer>,
    },
}

/// The sleep [`HyperTimer`] hands out.
struct HyperSleep {
    deadline: Instant,
    how: How,
}

impl HyperSleep {
    fn new(deadline: Instant) -> Self {
        Self {
            deadline,
            how: How::New,
        }
    }

    /// The first poll, inside a task of loop `shared`.
    fn start(&self, shared: &Rc<Shared>, cx: &Context<'_>) -> How {
        let queued = shared
            .hyper_sleeps
            .borrow_mut()
            .push(self.deadline, cx.waker());
        let id = shared.loop_id;
        if let Some((key, gen_, unarmed)) = queued {
            if unarmed {
                sync(shared);
            }
            return How::Queued { id, key, gen_ };
        }
        // Earlier than a queued deadline: a timer of its own. A timer never fires inside
        // `set_timeout`, so the wake comes later, from the timer phase.
        let state = Arc::new(SleepState {
            waker: Mutex::new(Some(cx.waker().clone())),
            ..SleepState::default()
        });
        let deadline = self.deadline;
        match loop_scope::with_loop::<Loop, _>(id, |lp| start_own(lp, deadline, &state)) {
            Ok(t) => How::Own {
                id,
                state,
                timer: Some(t),
            },
            Err(_) => {
                let s = Arc::clone(&state);
                shared.defer(std::panic::Location::caller(), move |lp| {
                    let timer = start_own(lp, deadline, &s);
                    *s.timer.lock().unwrap_or_else(PoisonError::into_inner) = Some(timer);
                });
                How::Own {
                    id,
                    state,
                    timer: None,
                }
            }
        }
    }
}

/// Starts a loop timer of its own for a sleep until `deadline` that fires `state`.
fn start_own(lp: &mut Loop, deadline: Instant, state: &Arc<SleepState>) -> crate::Timer {
    let delay = deadline.saturating_duration_since(lp.now());
    let state = Arc::clone(state);
    lp.set_timeout(delay, move |_, _| state.fire())
}

impl Future for HyperSleep {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let ready = match &self.how {
            How::Done => true,
            How::New => match current() {
                Ok(shared) => {
                    let how = self.start(&shared, cx);
                    self.how = how;
                    false
                }
                Err(_) => true,
            },
            // Off its loop's thread (hyper does not do that) it completes at once.
            How::Queued { id, key, gen_ } => shared_for(*id)
                .is_none_or(|s| !s.hyper_sleeps.borrow_mut().wait(*key, *gen_, cx.waker())),
            How::Own { state, .. } => {
                let mut w = state.waker.lock().unwrap_or_else(PoisonError::into_inner);
                match &*w {
                    Some(old) if old.will_wake(cx.waker()) => {}
                    _ => *w = Some(cx.waker().clone()),
                }
                drop(w);
                state.fired.load(Ordering::Acquire)
            }
        };
        if ready {
            self.how = How::Done;
            return Poll::Ready(());
        }
        Poll::Pending
    }
}

impl hyper::rt::Sleep for HyperSleep {}

impl Drop for HyperSleep {
    fn drop(&mut self) {
        match std::mem::replace(&mut self.how, How::Done) {
            How::New | How::Done => {}
            How::Queued { id, key, gen_ } => {
                // Dropped on another thread (hyper does not do that): it fires harmlessly.
                if let Some(shared) = shared_for(id) {
                    let last = shared.hyper_sleeps.borrow_mut().remove(key, gen_);
                    if last {
                        sync(&shared);
                    }
                }
            }
            How::Own { id, state, timer } => {
                if state.fired.load(Ordering::Acquire) {
                    return;
                }
                // `clear` drops the timer's callback, never runs it.
                if let Some(t) = timer
                    && loop_scope::with_loop::<Loop, _>(id, |lp| t.clear(lp)).is_ok()
                {
                    return;
                }
                let Some(shared) = shared_for(id) else {
                    return; // another thread: the timer fires harmlessly
                };
                shared.defer(std::panic::Location::caller(), move |lp| {
                    let t = state
                        .timer
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .take();
                    if let Some(t) = t.or(timer) {
                        t.clear(lp);
                    }
                });
            }
        }
    }
}

/// A queued sleep.
struct Entry {
    gen_: u64,
    deadline: Instant,
    waker: Waker,
}

/// The in-order sleeps of one loop and the loop timer they share (see the module docs).
#[derive(Default)]
pub(crate) struct Sleeps {
    live: Slab<Entry>,
    /// Keys in deadline order; keys of dropped sleeps stay until they reach the front or the
    /// queue is compacted.
    order: VecDeque<(usize, u64)>,
    next_gen: u64,
    /// The latest deadline queued (a later sleep must not be earlier).
    last: Option<Instant>,
    /// The shared loop timer while it is armed.
    timer: Option<crate::Timer>,
}

/// What the loop timer needs, as [`Sleeps::wanted`] sees it.
enum Want {
    Nothing,
    Arm(Instant),
    Clear(crate::Timer),
}

impl Sleeps {
    /// Queues a sleep if its deadline is not earlier than the last one queued: its key and
    /// generation, and whether the shared timer must be armed.
    fn push(&mut self, deadline: Instant, waker: &Waker) -> Option<(usize, u64, bool)> {
        if self.last.is_some_and(|last| deadline < last) {
            return None;
        }
        self.last = Some(deadline);
        let gen_ = self.next_gen;
        self.next_gen += 1;
        let key = self.live.insert(Entry {
            gen_,
            deadline,
            waker: waker.clone(),
        });
        self.order.push_back((key, gen_));
        Some((key, gen_, self.timer.is_none()))
    }

    /// Takes a dropped sleep out; whether the shared timer must be cleared (none is left).
    fn remove(&mut self, key: usize, gen_: u64) -> bool {
        if self.live.get(key).is_some_and(|e| e.gen_ == gen_) {
            self.live.remove(key);
        }
        if self.live.is_empty() {
            self.order.clear();
            self.last = None;
        } else if self.order.len() > 2 * self.live.len() + 64 {
            // Bounded by the live sleeps, not by how many came and went.
            let live = &self.live;
            self.order
                .retain(|&(k, g)| live.get(k).is_some_and(|e| e.gen_ == g));
        }
        self.live.is_empty() && self.timer.is_some()
    }

    fn is_live(&self, (key, gen_): (usize, u64)) -> bool {
        self.live.get(key).is_some_and(|e| e.gen_ == gen_)
    }

    /// A queued sleep polled again: keeps `waker`; `false` if it fired (its entry is gone).
    fn wait(&mut self, key: usize, gen_: u64, waker: &Waker) -> bool {
        match self.live.get_mut(key) {
            Some(e) if e.gen_ == gen_ => {
                if !e.waker.will_wake(waker) {
                    e.waker = waker.clone();
                }
                true
            }
            _ => false,
        }
    }

    /// The earliest live deadline (dropped sleeps at the front leave the queue).
    fn head(&mut self) -> Option<Instant> {
        while let Some(&front) = self.order.front() {
            if let Some(e) = self.live.get(front.0).filter(|e| e.gen_ == front.1) {
                return Some(e.deadline);
            }
            self.order.pop_front();
        }
        None
    }

    /// What the loop timer needs to serve the queue.
    fn wanted(&mut self) -> Want {
        match (self.head(), self.timer) {
            (Some(head), None) => Want::Arm(head),
            (None, Some(t)) => Want::Clear(t),
            _ => Want::Nothing,
        }
    }

    /// Takes the sleeps due at `now` (in order) into `due`; the next live deadline, if any.
    fn take_due(&mut self, now: Instant, due: &mut Vec<Waker>) -> Option<Instant> {
        while let Some(&front) = self.order.front() {
            if !self.is_live(front) {
                self.order.pop_front();
                continue;
            }
            let e = &self.live[front.0];
            if e.deadline > now {
                return Some(e.deadline);
            }
            self.order.pop_front();
            due.push(self.live.remove(front.0).waker);
        }
        self.last = None;
        None
    }
}

/// Brings the shared loop timer in line with the queue: inline inside a poll, else right
/// after it (or as a microtask). Idempotent, so a late run cannot undo an earlier one.
fn sync(shared: &Rc<Shared>) {
    if matches!(shared.hyper_sleeps.borrow_mut().wanted(), Want::Nothing) {
        return;
    }
    if loop_scope::with_loop::<Loop, _>(shared.loop_id, |lp| sync_on(lp, shared)).is_err() {
        let s = Rc::clone(shared);
        shared.defer(std::panic::Location::caller(), move |lp| sync_on(lp, &s));
    }
}

fn sync_on(lp: &mut Loop, shared: &Rc<Shared>) {
    let want = shared.hyper_sleeps.borrow_mut().wanted();
    match want {
        Want::Nothing => {}
        Want::Clear(t) => {
            shared.hyper_sleeps.borrow_mut().timer = None;
            t.clear(lp);
        }
        Want::Arm(head) => {
            let delay = head.saturating_duration_since(lp.now());
            let s = Rc::clone(shared);
            let t = lp.set_timeout(delay, move |lp, t| fire_due(lp, &s, t));
            shared.hyper_sleeps.borrow_mut().timer = Some(t);
        }
    }
}

/// The shared timer fired: wakes the due sleeps and re-arms for the next one.
fn fire_due(lp: &mut Loop, shared: &Rc<Shared>, t: crate::Timer) {
    let now = lp.now();
    let mut due = Vec::new();
    let next = shared.hyper_sleeps.borrow_mut().take_due(now, &mut due);
    let rearmed = next.is_some_and(|next| {
        t.restart(lp, next.saturating_duration_since(now), false)
            .is_ok()
    });
    if !rearmed {
        // A one-shot timer not restarted in its callback is released.
        shared.hyper_sleeps.borrow_mut().timer = None;
    }
    if next.is_some() && !rearmed {
        sync_on(lp, shared);
    }
    for w in due {
        w.wake();
    }
}
