//! The bridge from callbacks to futures: [`callback`], [`with_loop`], [`spawn`] from a task.

use std::cell::Cell;
use std::fmt;
use std::future::Future;
use std::panic::Location;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

use crate::error::{Error, Result};
use crate::event_loop::Loop;
use crate::handle::Site;
use crate::task::join::{JoinHandle, new_task};
use crate::task::shared::{Shared, current};

/// How a [`callback`] future cancels its operation when it is dropped before completing.
pub trait Cancel: 'static {
    /// Cancels the operation (runs on the loop, right after the poll or drop that gave it up).
    fn cancel(self, lp: &mut Loop);
}

/// Nothing to cancel: the operation runs to its end and its result is dropped.
impl Cancel for () {
    fn cancel(self, _lp: &mut Loop) {}
}

/// A pool request (`queue_work`, `fs`, `dns`): taken off the queue if no worker started it.
impl Cancel for crate::Work {
    fn cancel(self, lp: &mut Loop) {
        let _ = lp.cancel(self);
    }
}

/// A timer: cleared.
impl Cancel for crate::Timer {
    fn cancel(self, lp: &mut Loop) {
        self.clear(lp);
    }
}

impl<C: Cancel> Cancel for Option<C> {
    fn cancel(self, lp: &mut Loop) {
        if let Some(c) = self {
            c.cancel(lp);
        }
    }
}

/// Any closure on the loop.
impl Cancel for Box<dyn FnOnce(&mut Loop)> {
    fn cancel(self, lp: &mut Loop) {
        self(lp);
    }
}

/// A one-shot result slot between a callback and the future awaiting it.
pub(crate) struct OpSlot<T> {
    value: Cell<Option<T>>,
    waker: Cell<Option<Waker>>,
    /// The completer was dropped without a value.
    abandoned: Cell<bool>,
    /// The future was dropped: the callback's value goes nowhere.
    gone: Cell<bool>,
}

impl<T> OpSlot<T> {
    pub(crate) fn new() -> Rc<Self> {
        Rc::new(Self {
            value: Cell::new(None),
            waker: Cell::new(None),
            abandoned: Cell::new(false),
            gone: Cell::new(false),
        })
    }

    pub(crate) fn set(&self, v: T) {
        if self.gone.get() {
            return;
        }
        self.value.set(Some(v));
        if let Some(w) = self.waker.take() {
            w.wake();
        }
    }

    /// The value, or remembers `cx`'s waker.
    pub(crate) fn poll_take(&self, cx: &Context<'_>) -> Poll<Result<T>> {
        if let Some(v) = self.value.take() {
            return Poll::Ready(Ok(v));
        }
        if self.abandoned.get() {
            return Poll::Ready(Err(Error::Canceled));
        }
        register(&self.waker, cx);
        Poll::Pending
    }
}

/// Stores `cx`'s waker in `slot`, keeping the old one if it would wake the same task.
#[inline(always)]
pub(crate) fn register(slot: &Cell<Option<Waker>>, cx: &Context<'_>) {
    match slot.take() {
        // (The slot is empty now: putting the waker back drops nothing.)
        Some(w) if w.will_wake(cx.waker()) => drop(slot.replace(Some(w))),
        old => replace_waker(slot, old, cx),
    }
}

/// [`register`]'s other path: a new waker (the old one, if any, is dropped).
#[cold]
#[inline(never)]
fn replace_waker(slot: &Cell<Option<Waker>>, old: Option<Waker>, cx: &Context<'_>) {
    drop(old);
    slot.set(Some(cx.waker().clone()));
}

/// Completes a [`callback`] future: hand it to the callback API's completion callback.
pub struct Completer<T> {
    slot: Option<Rc<OpSlot<T>>>,
}

impl<T> Completer<T> {
    /// Completes the future with `value` (wakes its task). A value given after the future was
    /// dropped is dropped.
    pub fn complete(mut self, value: T) {
        if let Some(slot) = self.slot.take() {
            slot.set(value);
        }
    }

    /// Whether the future is still waiting for the value (it was not dropped).
    pub fn is_wanted(&self) -> bool {
        self.slot.as_ref().is_some_and(|s| !s.gone.get())
    }
}

impl<T> Drop for Completer<T> {
    fn drop(&mut self) {
        if let Some(slot) = self.slot.take() {
            slot.abandoned.set(true);
            if let Some(w) = slot.waker.take() {
                w.wake();
            }
        }
    }
}

impl<T> fmt::Debug for Completer<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Completer")
            .field("wanted", &self.is_wanted())
            .finish()
    }
}

type StartFn<T, C> = Box<dyn FnOnce(&mut Loop, Completer<T>) -> C>;

enum CallState<T, C> {
    Unstarted(StartFn<T, C>),
    Started {
        shared: Rc<Shared>,
        cancel: Rc<Cell<Option<C>>>,
    },
    Done,
}

/// A future over a callback API: see [`callback`].
#[must_use = "futures do nothing unless awaited"]
pub struct Callback<T, C: Cancel = ()> {
    state: CallState<T, C>,
    slot: Rc<OpSlot<T>>,
    site: Site,
}

/// Turns any callback API into a future. `start(lp, done)` runs on the loop right after the
/// poll that first asks for it; it starts the operation, arranges for `done.complete(value)`
/// in the operation's callback, and returns how to cancel the operation ([`Cancel`]: `()`
/// for nothing, a [`Work`](crate::Work), a [`Timer`](crate::Timer), or a boxed closure).
///
/// The future resolves to `Ok(value)`; to [`Error::Canceled`] if the completer is dropped
/// without a value; to [`Error::InvalidState`] if it is polled outside a task of an evloop
/// loop. Dropped before completing, it cancels the operation.
///
/// ```
/// # #[cfg(unix)]
/// # fn main() -> Result<(), evloop::Error> {
/// use evloop::{Loop, fs, task};
///
/// let mut lp = Loop::new()?;
/// let len = lp.block_on(async {
///     // Any callback API: here `fs::read_file`; the `Work` it returns cancels it if dropped.
///     let bytes = task::callback(|lp, done| {
///         fs::read_file(lp, "Cargo.toml", move |_, r| done.complete(r))
///     })
///     .await??;
///     Ok::<_, evloop::Error>(bytes.len())
/// })??;
/// assert!(len > 0);
/// # Ok(())
/// # }
/// # #[cfg(not(unix))] // evloop::fs is Unix-only for now
/// # fn main() {}
/// ```
#[track_caller]
pub fn callback<T: 'static, C: Cancel>(
    start: impl FnOnce(&mut Loop, Completer<T>) -> C + 'static,
) -> Callback<T, C> {
    Callback {
        state: CallState::Unstarted(Box::new(start)),
        slot: OpSlot::new(),
        site: Location::caller(),
    }
}

impl<T: 'static, C: Cancel> Future for Callback<T, C> {
    type Output = Result<T>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<T>> {
        let this = self.get_mut();
        if let CallState::Unstarted(_) = this.state {
            let shared = match current() {
                Ok(s) => s,
                Err(e) => {
                    this.state = CallState::Done;
                    return Poll::Ready(Err(e));
                }
            };
            let CallState::Unstarted(start) = std::mem::replace(&mut this.state, CallState::Done)
            else {
                unreachable!("matched above")
            };
            let cancel = Rc::new(Cell::new(None));
            let keep = Rc::clone(&cancel);
            let completer = Completer {
                slot: Some(Rc::clone(&this.slot)),
            };
            let slot = Rc::clone(&this.slot);
            shared.defer(this.site, move |lp| {
                if slot.gone.get() {
                    return; // dropped in the poll that started it
                }
                keep.set(Some(start(lp, completer)));
            });
            this.state = CallState::Started { shared, cancel };
        }
        let out = this.slot.poll_take(cx);
        if out.is_ready() {
            this.state = CallState::Done;
        }
        out
    }
}

impl<T, C: Cancel> Drop for Callback<T, C> {
    fn drop(&mut self) {
        self.slot.gone.set(true);
        if let CallState::Started { shared, cancel } = &self.state {
            let cancel = Rc::clone(cancel);
            shared.defer(self.site, move |lp| {
                if let Some(c) = cancel.take() {
                    c.cancel(lp);
                }
            });
        }
    }
}

impl<T, C: Cancel> fmt::Debug for Callback<T, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Callback")
            .field("site", &self.site)
            .finish()
    }
}

/// Runs `f` with `&mut Loop` right after the current poll and resolves to its value: how
/// async code calls any synchronous loop API (start a handle, read a setting).
///
/// ```
/// use evloop::{Loop, task};
///
/// # fn main() -> Result<(), evloop::Error> {
/// let mut lp = Loop::new()?;
/// let handles = lp.block_on(async { task::with_loop(|lp| lp.active_handles().len()).await })??;
/// assert_eq!(handles, 0);
/// # Ok(())
/// # }
/// ```
#[track_caller]
pub fn with_loop<R: 'static>(f: impl FnOnce(&mut Loop) -> R + 'static) -> Callback<R, ()> {
    callback(move |lp, done| done.complete(f(lp)))
}

/// Runs `f` with `&mut Loop` *now*, inside the poll of the task that calls it, and returns its
/// value: how a future calls a synchronous loop API (start a handle, read a setting, try a
/// write) without waiting for [`with_loop`]'s turn after the poll. The loop is lent to its
/// task's poll for the poll's duration (see [the module docs](crate::task)).
///
/// Errors ([`Error::InvalidState`], never a panic): outside the poll of a task (in a callback,
/// on another thread, in a future polled by another executor), or from inside another
/// `try_with_loop` closure (one `&mut Loop` at a time; the evloop futures that reach the loop
/// this way fall back to doing it right after the poll instead).
///
/// ```
/// use evloop::{Loop, task};
///
/// # fn main() -> Result<(), evloop::Error> {
/// let mut lp = Loop::new()?;
/// let handles = lp.block_on(async { task::try_with_loop(|lp| lp.active_handles().len()) })??;
/// assert_eq!(handles, 0);
/// assert!(task::try_with_loop(|_| ()).is_err(), "not inside a task's poll");
/// # Ok(())
/// # }
/// ```
pub fn try_with_loop<R>(f: impl FnOnce(&mut Loop) -> R) -> Result<R> {
    crate::sys::loop_scope::with_lent::<Loop, R>(f)
}

/// Spawns `fut` on the loop whose task is running (see [`Loop::spawn_local`]): how async code
/// spawns. The task enters the loop right after the current poll.
///
/// Errors: [`Error::InvalidState`] outside a task of an evloop loop.
#[track_caller]
pub fn spawn<F>(fut: F) -> Result<JoinHandle<F::Output>>
where
    F: Future + 'static,
    F::Output: 'static,
{
    let site = Location::caller();
    let shared = current()?;
    let remote = shared.remote();
    let (run, waker, join) = new_task(Rc::clone(&shared), remote, site, fut);
    shared.defer(site, move |lp| lp.insert_task(run, waker, site));
    Ok(join)
}

/// Gives other microtasks a turn: the first poll wakes the task and returns `Pending`, so the
/// task is polled again at the back of the microtask queue (as `await null` in Node).
pub fn yield_now() -> YieldNow {
    YieldNow { yielded: false }
}

/// The future of [`yield_now`].
#[derive(Debug)]
#[must_use = "futures do nothing unless awaited"]
pub struct YieldNow {
    yielded: bool,
}

impl Future for YieldNow {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.yielded {
            return Poll::Ready(());
        }
        self.yielded = true;
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}
