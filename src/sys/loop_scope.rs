//! How a future reaches its loop: the loop lends its `&mut Loop` for the duration of its own
//! poll of one of its tasks, and code running inside that poll borrows it back through
//! [`with_loop`] — one borrower at a time, on the loop's thread, never outside the poll.
//!
//! A future's `poll` cannot take `&mut Loop` (its signature is fixed), so the loop publishes a
//! raw pointer to itself in a thread-local while it polls a task ([`lend`]), and the future's
//! I/O code turns it back into `&mut Loop` for one closure ([`with_loop`]). This is the one
//! `unsafe` of the design; its argument:
//!
//! - **Exclusive.** [`lend`] takes the loop's `&mut` *by value* and keeps it borrowed until the
//!   poll (`f`) returns, so the poll's own caller cannot touch the loop meanwhile (the borrow
//!   checker refuses `f` capturing it). The pointer is derived from that `&mut`, and every
//!   `&mut` that [`with_loop`] makes from it is a reborrow of it, used while nothing else uses
//!   the loop. A bit makes the borrow non-reentrant: while a [`with_loop`] closure runs, a
//!   second one (from code the closure ends up calling) is refused, so two `&mut Loop` never
//!   live at once. A nested [`lend`] (the closure makes the loop poll a task, say) can only be
//!   given a `&mut` reborrowed from the one the closure holds (or a different loop): it
//!   publishes that, and restores the outer scope, busy bit included, when it returns.
//! - **No overlap with the future.** A task's future lives in its own allocation
//!   (`sys::task_cell`), not inside `Loop`, and is `'static`: the `&mut` the poll holds on the
//!   future and the `&mut Loop` are disjoint. What they share (the task's cell, a stream's
//!   read-ahead, wakers) is behind `Rc`/`Cell`/`RefCell`, whose checks still apply: the loop
//!   cannot reach the future being polled (its table holds no handle to it during the poll,
//!   and `TaskCell` refuses a second borrow of it), so an abort or a drop of that task issued
//!   from inside [`with_loop`] is recorded and carried out after the poll returns.
//! - **Scoped.** The pointer is published only while [`lend`] runs, and a guard restores the
//!   previous scope even if the poll panics. Outside that scope, on another thread (each
//!   thread has its own slot), or for another loop, [`with_loop`]
//!   returns a clear [`Error::InvalidState`] instead of a pointer: never undefined
//!   behaviour, never a panic.
//!
//! - **Like a callback.** The closure gets what any callback of the loop gets, `&mut Loop`,
//!   while the loop is in the same state as for a callback (the poll *is* one, of kind
//!   `Task`). The evloop APIs the futures call from there (`try_write`, `write`,
//!   `read_start`/`read_stop`, `close`, `set_timeout`, `Timer::clear`) never run a callback
//!   inside the call (callbacks run in their phases), and `run`/`block_on` refuse to run
//!   inside a callback, so no other task's poll and no user callback runs inside a borrow.
//!
//! The module is generic over the lent type (each type has its own thread-local slot, so a
//! pointer is only ever read back as the type it was made from) so that its tests run under
//! Miri without a real loop.

use std::cell::Cell;
use std::thread::LocalKey;

use crate::error::{Error, Result};
use crate::event_loop::Loop;

/// What [`with_loop`] answers outside the poll of a task (no loop lent on this thread).
pub(crate) const OUTSIDE: &str =
    "an evloop future used its loop outside the loop's poll of one of its tasks";
/// What [`with_loop`] answers inside another [`with_loop`].
pub(crate) const REENTRANT: &str =
    "re-entrant use of the loop from inside a future's own loop access";
/// What [`with_loop`] answers when the task being polled belongs to another loop.
pub(crate) const OTHER_LOOP: &str = "an evloop future was polled by a task of another loop";

/// A type that can be lent: each has its own thread-local slot, so a pointer is only ever
/// turned back into the type it was made from.
pub(crate) trait Lendable: 'static {
    /// This type's slot.
    fn slot() -> &'static LocalKey<Cell<Scope>>;
}

/// What is lent to the poll running on this thread: two words, since the loop sets and
/// restores it around every poll.
#[derive(Clone, Copy)]
pub(crate) struct Scope {
    /// The lent value (null: nothing lent), its lowest bit set while a [`with_loop`] closure
    /// runs (the `&mut` is out). Lendable types are aligned to at least 2, so the bit is free.
    ptr: *mut (),
    /// The loop's id (futures know the id of their loop).
    id: u64,
}

const NONE: Scope = Scope {
    ptr: std::ptr::null_mut(),
    id: 0,
};

const BUSY: usize = 1;

thread_local! {
    static LOOP: Cell<Scope> = const { Cell::new(NONE) };
}

impl Lendable for Loop {
    #[inline]
    fn slot() -> &'static LocalKey<Cell<Scope>> {
        &LOOP
    }
}

/// Puts `prev` back in `T`'s slot when dropped (the end of a [`lend`] or a [`with_loop`],
/// normal or by panic).
struct Restore<T: Lendable> {
    prev: Scope,
    _ty: std::marker::PhantomData<fn() -> T>,
}

impl<T: Lendable> Restore<T> {
    #[inline]
    fn new(prev: Scope) -> Self {
        Self {
            prev,
            _ty: std::marker::PhantomData,
        }
    }
}

impl<T: Lendable> Drop for Restore<T> {
    #[inline]
    fn drop(&mut self) {
        let _ = T::slot().try_with(|s| s.set(self.prev));
    }
}

/// Lends `value` (loop `id`) to code running inside `f`, through [`with_loop`]. `value` stays
/// mutably borrowed until `f` returns, so `f` cannot use it directly.
#[inline]
pub(crate) fn lend<T: Lendable, R>(value: &mut T, id: u64, f: impl FnOnce() -> R) -> R {
    const { assert!(std::mem::align_of::<T>() > BUSY) };
    let scope = Scope {
        ptr: std::ptr::from_mut(value).cast::<()>(),
        id,
    };
    let Ok(prev) = T::slot().try_with(|s| s.replace(scope)) else {
        // The thread is exiting (its thread-locals are gone): nothing is lent.
        return f();
    };
    let _restore = Restore::<T>::new(prev);
    f()
}

/// The id of the loop lent on this thread (0: none), busy or not: which loop's task is being
/// polled.
#[inline]
pub(crate) fn lent_id<T: Lendable>() -> u64 {
    T::slot().try_with(|s| s.get().id).unwrap_or(0)
}

/// Runs `f` with the `&mut` lent by the [`lend`] running on this thread for loop `id`.
///
/// Errors ([`Error::InvalidState`]): [`OUTSIDE`] when nothing is lent on this thread (not
/// inside a task's poll, or a thread without a loop); [`REENTRANT`] when called from inside
/// another `with_loop` closure; [`OTHER_LOOP`] when the loop lent is not loop `id`.
#[inline]
pub(crate) fn with_loop<T: Lendable, R>(id: u64, f: impl FnOnce(&mut T) -> R) -> Result<R> {
    borrow(Some(id), f)
}

/// As [`with_loop`], for whichever loop is lent (the caller does not know its id).
pub(crate) fn with_lent<T: Lendable, R>(f: impl FnOnce(&mut T) -> R) -> Result<R> {
    borrow(None, f)
}

#[inline]
fn borrow<T: Lendable, R>(id: Option<u64>, f: impl FnOnce(&mut T) -> R) -> Result<R> {
    let Ok(scope) = T::slot().try_with(Cell::get) else {
        return Err(Error::InvalidState(OUTSIDE));
    };
    if scope.ptr.is_null() {
        return Err(Error::InvalidState(OUTSIDE));
    }
    if scope.ptr.addr() & BUSY != 0 {
        return Err(Error::InvalidState(REENTRANT));
    }
    if id.is_some_and(|id| id != scope.id) {
        return Err(Error::InvalidState(OTHER_LOOP));
    }
    let busy = Scope {
        ptr: scope.ptr.map_addr(|a| a | BUSY),
        id: scope.id,
    };
    let _ = T::slot().try_with(|s| s.set(busy));
    let _restore = Restore::<T>::new(scope);
    // SAFETY: `scope.ptr` (non-null, busy bit clear) was made by `lend` from a `&mut T` (each
    // type has its own slot, so it is a `T`) that stays borrowed, unused by anything else,
    // until that `lend` returns; the slot holds it only until then (its guard restores the
    // previous scope), so the pointee is alive and no other reference to it is in use. The
    // busy bit (set just above, cleared by the guard when this function returns or unwinds)
    // refuses a second `with_loop` meanwhile, so this `&mut` is the only one made from the
    // pointer while it lives; a `lend` nested inside `f` can only be given a reborrow of it (or
    // another value) and restores this scope when it returns. The `&mut` does not escape `f`:
    // `R` is chosen by the caller, independent of its lifetime.
    let value = unsafe { &mut *scope.ptr.cast::<T>() };
    Ok(f(value))
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;
    use std::thread::LocalKey;

    use super::{
        Lendable, NONE, OTHER_LOOP, OUTSIDE, REENTRANT, Scope, lend, lent_id, with_lent, with_loop,
    };
    use crate::error::Error;

    #[derive(Debug, Default, PartialEq)]
    struct Fake {
        n: u32,
    }

    thread_local! {
        static FAKE: Cell<Scope> = const { Cell::new(NONE) };
    }

    impl Lendable for Fake {
        fn slot() -> &'static LocalKey<Cell<Scope>> {
            &FAKE
        }
    }

    fn message<R>(r: crate::Result<R>) -> &'static str {
        match r {
            Err(Error::InvalidState(m)) => m,
            Err(e) => panic!("unexpected error {e}"),
            Ok(_) => "ok",
        }
    }

    #[test]
    fn lends_for_the_scope_only() {
        let mut fake = Fake::default();
        assert_eq!(message(with_loop::<Fake, _>(1, |f| f.n += 1)), OUTSIDE);
        let got = lend(&mut fake, 1, || {
            with_loop::<Fake, _>(1, |f| {
                f.n += 1;
                f.n
            })
        });
        assert_eq!(got.ok(), Some(1));
        assert_eq!(fake.n, 1);
        assert_eq!(message(with_loop::<Fake, _>(1, |f| f.n += 1)), OUTSIDE);
        assert_eq!(lent_id::<Fake>(), 0);
        assert_eq!(fake.n, 1);
    }

    #[test]
    fn refuses_reentry_another_loop_and_another_type() {
        let mut fake = Fake::default();
        lend(&mut fake, 7, || {
            let inner = with_loop::<Fake, _>(7, |f| {
                f.n += 1;
                message(with_loop::<Fake, _>(7, |f| f.n += 100))
            });
            assert_eq!(inner.ok(), Some(REENTRANT));
            assert_eq!(message(with_loop::<Fake, _>(8, |f| f.n += 100)), OTHER_LOOP);
            assert_eq!(lent_id::<Fake>(), 7);
            // Another type's slot is empty: a pointer is never read as another type.
            assert_eq!(message(with_lent::<crate::Loop, _>(|_| ())), OUTSIDE);
            assert_eq!(with_lent::<Fake, _>(|f| f.n += 1000).ok(), Some(()));
            // Free again after the refused ones.
            assert_eq!(with_loop::<Fake, _>(7, |f| f.n += 1).ok(), Some(()));
        });
        assert_eq!(fake.n, 1002);
    }

    #[test]
    fn a_nested_lend_reborrows_and_restores_the_outer_scope() {
        let mut outer = Fake::default();
        lend(&mut outer, 1, || {
            let r = with_loop::<Fake, _>(1, |f| {
                // As the loop polling a task from inside a loop access: it lends a reborrow.
                lend(f, 1, || with_loop::<Fake, _>(1, |g| g.n += 10)).ok();
                f.n += 1;
                // Still busy in here after the inner lend returned.
                message(with_loop::<Fake, _>(1, |g| g.n += 100))
            });
            assert_eq!(r.ok(), Some(REENTRANT));
            let mut other = Fake::default();
            lend(&mut other, 2, || {
                assert_eq!(message(with_loop::<Fake, _>(1, |f| f.n += 100)), OTHER_LOOP);
                with_loop::<Fake, _>(2, |g| g.n += 5).ok();
            });
            assert_eq!(other.n, 5);
            with_loop::<Fake, _>(1, |f| f.n += 1000).ok();
        });
        assert_eq!(outer.n, 1011);
    }

    #[test]
    fn a_panic_inside_restores_the_scope() {
        let mut fake = Fake::default();
        lend(&mut fake, 3, || {
            let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                with_loop::<Fake, _>(3, |_| panic!("boom")).ok();
            }));
            assert!(caught.is_err());
            assert_eq!(with_loop::<Fake, _>(3, |f| f.n += 1).ok(), Some(()));
        });
        let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let mut again = Fake::default();
            lend(&mut again, 4, || panic!("boom"));
        }));
        assert!(caught.is_err());
        assert_eq!(message(with_loop::<Fake, _>(4, |f| f.n += 1)), OUTSIDE);
        assert_eq!(fake.n, 1);
    }

    #[test]
    fn another_thread_sees_nothing_lent() {
        let mut fake = Fake::default();
        lend(&mut fake, 5, || {
            let seen = std::thread::spawn(|| message(with_loop::<Fake, _>(5, |f| f.n += 1)))
                .join()
                .unwrap_or("thread panicked");
            assert_eq!(seen, OUTSIDE);
        });
        assert_eq!(fake.n, 0);
    }
}
