//! The storage of a spawned task: its future, its join slot and its waker state in **one**
//! allocation, with a `RawWaker` that points straight at it.
//!
//! `std` would need three allocations for a task: `Pin<Box<F>>` for the future, an `Rc` for
//! the join slot the `JoinHandle` shares, and an `Arc<impl Wake>` for the waker (which must be
//! `Send + Sync`, so it cannot share an allocation with the `!Send` future through safe code).
//! [`TaskCell`] is one `Arc` allocation holding:
//!
//! - `wake: W`, the waker's state (`Send + Sync`: the only part another thread touches);
//! - the header `H` (the join slot) and the future `F`, both `!Send`, reachable only through
//!   [`LocalTask`] handles, which are `!Send` themselves, so only the thread that made the task
//!   ever touches them;
//! - `locals`, the count of `LocalTask` handles. When the last one goes, `H` and `F` are dropped
//!   there and then (on the task's thread), while the allocation may live on as long as a
//!   waker does — on any thread, holding only `wake`.
//!
//! The `unsafe` here: the waker's vtable (an `Arc` turned into a raw pointer and back), and the
//! pin projection that polls the future in place.

use std::cell::{Cell, Ref, RefCell};
use std::future::Future;
use std::marker::PhantomData;
use std::mem::ManuallyDrop;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, RawWaker, RawWakerVTable, Waker};

/// What a task's waker does; `Send + Sync` because wakers go to any thread.
pub(crate) trait TaskWake: Send + Sync + 'static {
    /// Wakes the task (from any thread). `task` is the task's identity: the address of its
    /// allocation (a waker's data pointer, [`Waker::data`]).
    fn wake(&self, task: usize);
}

/// A proof of being inside this module: [`Owned`]'s methods take one, so only this module
/// can call them.
pub(crate) struct Private(());

/// The part of a task's allocation [`LocalTask`] manages, type-erased (so a `LocalTask` of a
/// trait object works). Implemented only by [`TaskCell`]; its methods are callable only here.
pub(crate) trait Owned {
    #[doc(hidden)]
    fn locals(&self, _: Private) -> &Cell<usize>;
    #[doc(hidden)]
    fn release(&self, _: Private);
}

/// A task's allocation: see the module docs. Made only by [`LocalTask::new`].
pub(crate) struct TaskCell<W, H, F> {
    wake: W,
    /// How many [`LocalTask`]s point here.
    locals: Cell<usize>,
    /// The header; `None` once released. Never dropped by `TaskCell`'s own drop, which may run
    /// on another thread (a waker's last drop): released by the last `LocalTask`, or leaked.
    head: ManuallyDrop<RefCell<Option<H>>>,
    /// The future, pinned in place; `None` once dropped. Same drop rule as `head`.
    fut: ManuallyDrop<RefCell<Option<F>>>,
}

impl<W, H, F> Owned for TaskCell<W, H, F> {
    fn locals(&self, _: Private) -> &Cell<usize> {
        &self.locals
    }

    fn release(&self, _: Private) {
        // The future first, in place (the pin contract's drop guarantee); then the header. A
        // borrow still held (a drop re-entering from the future's own drop) leaks instead.
        if let Ok(mut fut) = self.fut.try_borrow_mut() {
            *fut = None;
        }
        let head = self.head.try_borrow_mut().ok().and_then(|mut h| h.take());
        drop(head);
    }
}

impl<W: TaskWake, H, F> TaskCell<W, H, F> {
    const VTABLE: RawWakerVTable = RawWakerVTable::new(
        Self::waker_clone,
        Self::waker_wake,
        Self::waker_wake_by_ref,
        Self::waker_drop,
    );

    /// # Safety
    /// `p` comes from `Arc::into_raw` of an `Arc<Self>` whose count it still owns (a waker).
    unsafe fn waker_clone(p: *const ()) -> RawWaker {
        // SAFETY: `p` is an owned `Arc<Self>` pointer (this function's contract), so the
        // allocation is alive and its strong count can be raised; the new raw waker owns it.
        unsafe { Arc::increment_strong_count(p.cast::<Self>()) };
        RawWaker::new(p, &Self::VTABLE)
    }

    /// # Safety
    /// As `waker_clone`; consumes the count `p` owns.
    unsafe fn waker_wake(p: *const ()) {
        // SAFETY: as `waker_clone`: `p` owns one count, which `waker_drop` gives back.
        unsafe {
            Self::waker_wake_by_ref(p);
            Self::waker_drop(p);
        }
    }

    /// # Safety
    /// As `waker_clone`.
    unsafe fn waker_wake_by_ref(p: *const ()) {
        // SAFETY: the allocation is alive (`p` owns a count). Only the `wake` field is read,
        // through a place projection that makes no reference to the whole `TaskCell` (which
        // is not `Sync`); `W: Sync`, so a `&W` on any thread is sound.
        let wake = unsafe { &*std::ptr::addr_of!((*p.cast::<Self>()).wake) };
        wake.wake(p.addr());
    }

    /// # Safety
    /// As `waker_clone`; consumes the count `p` owns.
    unsafe fn waker_drop(p: *const ()) {
        // SAFETY: gives back the count `p` owns. If it was the last, `Self` is dropped on this
        // thread: that drops `wake` (`W: Send`) and a `Cell<usize>`; `head` and `fut` are
        // `ManuallyDrop`, so no `!Send` value is dropped here (they were released by the last
        // `LocalTask` on the task's thread, which happens-before this through the `Arc`'s
        // release/acquire count, or they are leaked).
        unsafe { Arc::decrement_strong_count(p.cast::<Self>()) };
    }
}

/// A handle to a task's allocation for the task's own thread (`!Send`, `!Sync`): the runtime's
/// table and the `JoinHandle` each hold one. `T` is a [`TaskCell`] or a trait object of one.
pub(crate) struct LocalTask<T: ?Sized + Owned> {
    arc: Arc<T>,
    _thread: PhantomData<*const ()>,
}

impl<W: TaskWake, H, F: Future> LocalTask<TaskCell<W, H, F>> {
    /// A new task: one allocation holding `wake`, `head` and `fut`.
    pub(crate) fn new(wake: W, head: H, fut: F) -> Self {
        Self {
            arc: Arc::new(TaskCell {
                wake,
                locals: Cell::new(1),
                head: ManuallyDrop::new(RefCell::new(Some(head))),
                fut: ManuallyDrop::new(RefCell::new(Some(fut))),
            }),
            _thread: PhantomData,
        }
    }

    /// A waker for the task (it holds the allocation, not the future: see the module docs).
    pub(crate) fn waker(&self) -> Waker {
        let p = Arc::into_raw(Arc::clone(&self.arc)).cast::<()>();
        // SAFETY: `p` owns one strong count of an `Arc<TaskCell<W, H, F>>`, as the vtable's
        // functions require; they touch only `wake` (`W: Send + Sync`) and the count, so the
        // waker may go to any thread, as `Waker` promises.
        unsafe { Waker::from_raw(RawWaker::new(p, &TaskCell::<W, H, F>::VTABLE)) }
    }
}

impl<W, H, F: Future> TaskCell<W, H, F> {
    /// The waker's state.
    pub(crate) fn wake_state(&self) -> &W {
        &self.wake
    }

    /// The header; `None` only while it is being released.
    #[inline]
    pub(crate) fn head(&self) -> Option<Ref<'_, H>> {
        Ref::filter_map(self.head.try_borrow().ok()?, Option::as_ref).ok()
    }

    /// `f` of the header (`None` only while it is being released): cheaper than [`head`]
    /// for a quick look.
    ///
    /// [`head`]: Self::head
    #[inline]
    pub(crate) fn with_head<R>(&self, f: impl FnOnce(&H) -> R) -> Option<R> {
        self.head.try_borrow().ok()?.as_ref().map(f)
    }

    /// Polls the future in place, and again at once for as long as it is pending and `again`
    /// says so (a task that woke itself, re-polled without going through the loop's queue):
    /// one borrow of the future for the whole run. `None` if it was dropped, or is being polled
    /// already (a re-entrant poll is refused, not a panic; `again` reaching the future is one).
    #[inline]
    pub(crate) fn poll_while(
        &self,
        cx: &mut Context<'_>,
        mut again: impl FnMut() -> bool,
    ) -> Option<Poll<F::Output>> {
        let mut slot = self.fut.try_borrow_mut().ok()?;
        let fut = slot.as_mut()?;
        // SAFETY: `fut` lives in the `Arc` allocation, which never moves, and `TaskCell` never
        // moves it out: no method hands out `F` or `&mut F`, `clear_future` and `release` drop
        // it in place, and `TaskCell`'s own drop never drops it (`ManuallyDrop`). So it stays
        // put from its first poll until it is dropped, as `Pin` requires. The borrow is held
        // across the polls of one run, so nothing else reaches it meanwhile.
        let mut fut = unsafe { Pin::new_unchecked(fut) };
        loop {
            match fut.as_mut().poll(cx) {
                Poll::Pending if again() => {}
                p => return Some(p),
            }
        }
    }

    /// Drops the future in place (it finished or was aborted). `false` if it is being polled
    /// (the caller drops it when that poll returns) or was already dropped.
    pub(crate) fn clear_future(&self) -> bool {
        match self.fut.try_borrow_mut() {
            Ok(mut slot) if slot.is_some() => {
                // Assigning drops the old value where it lies.
                *slot = None;
                true
            }
            _ => false,
        }
    }
}

impl<T: ?Sized + Owned> LocalTask<T> {
    /// A handle to the task as `U` (a trait object of it): `to` is the unsizing coercion
    /// (`|a| a as Arc<dyn Trait>`). The new handle counts on the allocation `to` returns.
    pub(crate) fn cast<U: ?Sized + Owned>(
        &self,
        to: impl FnOnce(Arc<T>) -> Arc<U>,
    ) -> LocalTask<U> {
        let arc = to(Arc::clone(&self.arc));
        let locals = arc.locals(Private(()));
        locals.set(locals.get() + 1);
        LocalTask {
            arc,
            _thread: PhantomData,
        }
    }
}

impl<T: ?Sized + Owned> std::ops::Deref for LocalTask<T> {
    type Target = T;

    #[inline]
    fn deref(&self) -> &T {
        &self.arc
    }
}

impl<T: ?Sized + Owned> Clone for LocalTask<T> {
    #[inline]
    fn clone(&self) -> Self {
        let locals = self.arc.locals(Private(()));
        locals.set(locals.get() + 1);
        Self {
            arc: Arc::clone(&self.arc),
            _thread: PhantomData,
        }
    }
}

impl<T: ?Sized + Owned> Drop for LocalTask<T> {
    #[inline]
    fn drop(&mut self) {
        let locals = self.arc.locals(Private(()));
        let n = locals.get().saturating_sub(1);
        locals.set(n);
        if n == 0 {
            self.arc.release(Private(()));
        }
    }
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;
    use std::marker::PhantomPinned;
    use std::rc::Rc;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::task::{Context, Poll};

    use super::{LocalTask, Owned, TaskCell, TaskWake};

    #[derive(Default)]
    struct Count(AtomicUsize);

    impl TaskWake for Arc<Count> {
        fn wake(&self, _task: usize) {
            self.0.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// A `!Unpin` future that counts its polls and drops, and checks it was not moved.
    struct Probe {
        addr: Cell<usize>,
        polls: Rc<Cell<u32>>,
        drops: Rc<Cell<u32>>,
        _pin: PhantomPinned,
    }

    impl std::future::Future for Probe {
        type Output = u32;
        fn poll(self: std::pin::Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<u32> {
            let here = std::ptr::from_ref::<Self>(&self) as usize;
            if self.addr.get() == 0 {
                self.addr.set(here);
            }
            assert_eq!(self.addr.get(), here, "the future moved between polls");
            self.polls.set(self.polls.get() + 1);
            if self.polls.get() == 2 {
                Poll::Ready(7)
            } else {
                cx.waker().wake_by_ref();
                Poll::Pending
            }
        }
    }

    impl Drop for Probe {
        fn drop(&mut self) {
            self.drops.set(self.drops.get() + 1);
        }
    }

    fn probe(polls: &Rc<Cell<u32>>, drops: &Rc<Cell<u32>>) -> Probe {
        Probe {
            addr: Cell::new(0),
            polls: Rc::clone(polls),
            drops: Rc::clone(drops),
            _pin: PhantomPinned,
        }
    }

    trait Erased: Owned {
        fn head_len(&self) -> usize;
    }

    impl<W, F: std::future::Future> Erased for TaskCell<W, String, F> {
        fn head_len(&self) -> usize {
            self.head().map_or(0, |h| h.len())
        }
    }

    #[test]
    fn polls_in_place_wakes_through_its_own_waker_and_drops_the_future_once() {
        let (polls, drops) = (Rc::new(Cell::new(0)), Rc::new(Cell::new(0)));
        let count = Arc::new(Count::default());
        let task = LocalTask::new(Arc::clone(&count), "head".to_owned(), probe(&polls, &drops));
        let waker = task.waker();
        let mut cx = Context::from_waker(&waker);
        assert_eq!(task.poll_while(&mut cx, || false), Some(Poll::Pending));
        assert_eq!(count.0.load(Ordering::Relaxed), 1, "woken by its own waker");
        let moved = task; // moving the handle does not move the future
        assert_eq!(moved.poll_while(&mut cx, || false), Some(Poll::Ready(7)));
        assert_eq!(moved.head().as_deref().map(String::as_str), Some("head"));
        assert!(moved.clear_future());
        assert_eq!(drops.get(), 1);
        assert!(!moved.clear_future(), "already dropped");
        assert_eq!(
            moved.poll_while(&mut cx, || false),
            None,
            "no future left to poll"
        );
        drop(moved);
        assert_eq!((polls.get(), drops.get()), (2, 1));
        // The waker outlives the task's handles: it still wakes (the allocation lives on).
        waker.wake_by_ref();
        assert_eq!(count.0.load(Ordering::Relaxed), 2);
    }

    #[test]
    fn poll_while_re_polls_in_place_while_asked_and_refuses_a_re_entrant_poll() {
        let (polls, drops) = (Rc::new(Cell::new(0)), Rc::new(Cell::new(0)));
        let count = Arc::new(Count::default());
        let task = LocalTask::new(Arc::clone(&count), "head".to_owned(), probe(&polls, &drops));
        let waker = task.waker();
        let mut cx = Context::from_waker(&waker);
        let mut asked = 0;
        let out = task.poll_while(&mut cx, || {
            asked += 1;
            // The future is borrowed for the whole run: a re-entrant poll is refused.
            let mut inner = Context::from_waker(&waker);
            assert_eq!(task.poll_while(&mut inner, || false), None);
            true
        });
        assert_eq!(
            out,
            Some(Poll::Ready(7)),
            "polled again after the first Pending"
        );
        assert_eq!((asked, polls.get()), (1, 2));
        assert_eq!(
            count.0.load(Ordering::Relaxed),
            1,
            "the first poll woke it once"
        );
        // Pending from now on: `again` bounds the run.
        assert_eq!(task.poll_while(&mut cx, || false), Some(Poll::Pending));
        assert_eq!(polls.get(), 3, "not asked again: one poll");
        let mut left = 2;
        let out = task.poll_while(&mut cx, || {
            left -= 1;
            left >= 0
        });
        assert_eq!(
            (out, polls.get()),
            (Some(Poll::Pending), 6),
            "two more polls asked for"
        );
        assert!(task.clear_future());
        assert_eq!(
            task.poll_while(&mut cx, || true),
            None,
            "no future left to poll"
        );
        drop(task);
        assert_eq!(drops.get(), 1);
    }

    #[test]
    fn the_last_local_handle_drops_head_and_future_and_a_waker_on_another_thread_frees_it() {
        let (polls, drops) = (Rc::new(Cell::new(0)), Rc::new(Cell::new(0)));
        let count = Arc::new(Count::default());
        let task = LocalTask::new(Arc::clone(&count), "abc".to_owned(), probe(&polls, &drops));
        let erased: LocalTask<dyn Erased> = task.cast(|a| a as Arc<dyn Erased>);
        assert_eq!(erased.head_len(), 3);
        let waker = task.waker();
        drop(task);
        assert_eq!(drops.get(), 0, "a local handle is left");
        assert_eq!(erased.head_len(), 3);
        drop(erased);
        assert_eq!(drops.get(), 1, "the last local handle dropped the future");
        std::thread::spawn(move || {
            let w2 = waker.clone();
            w2.wake();
            waker.wake();
        })
        .join()
        .expect("waker thread");
        assert_eq!(count.0.load(Ordering::Relaxed), 2);
        assert_eq!(
            Arc::strong_count(&count),
            1,
            "the allocation (and its W) was freed"
        );
    }
}
