//! The storage of a spawned future: the future and a header (its join slot) in one `Rc`
//! allocation, polled in place.
//!
//! `std` offers `Pin<Box<F>>` for a future polled in place, but then the join slot that
//! the `JoinHandle` shares needs an allocation of its own. [`TaskCell`] puts both in one
//! `Rc`: the runtime's table and the `JoinHandle` hold the same allocation, and the future is
//! polled through a pin projection, which is the one `unsafe` step here.

use std::cell::RefCell;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};

/// A header `H` and a future `F` in one pinned `Rc` allocation. Only [`TaskCell::new`]
/// makes one, and it returns it pinned, so the future never moves once it has been polled:
/// this type never hands out `F` by value or as `&mut F`, and drops it in place.
pub(crate) struct TaskCell<H, F> {
    head: H,
    /// `None` once the future was dropped (it finished, panicked or was aborted).
    fut: RefCell<Option<F>>,
}

impl<H, F: Future> TaskCell<H, F> {
    /// `head` and `fut` in a new pinned allocation.
    pub(crate) fn new(head: H, fut: F) -> Pin<Rc<Self>> {
        Rc::pin(Self {
            head,
            fut: RefCell::new(Some(fut)),
        })
    }

    /// The header.
    #[inline]
    pub(crate) fn head(&self) -> &H {
        &self.head
    }

    /// Polls the future in place. `None` if it was dropped, or if it is being polled already
    /// (a re-entrant poll is refused, not a panic).
    #[inline]
    pub(crate) fn poll(self: Pin<&Self>, cx: &mut Context<'_>) -> Option<Poll<F::Output>> {
        let mut slot = self.get_ref().fut.try_borrow_mut().ok()?;
        let fut = slot.as_mut()?;
        // SAFETY: `fut` is a field of `Self`, which is pinned (`self: Pin<&Self>`; the only
        // constructor returns `Pin<Rc<Self>>`), so it is never moved before it is dropped:
        // nothing in this type moves `F` out (no `take`, no `&mut F` or `F` handed out), and
        // `drop_future` and `Drop` drop it in place. `TaskCell` is `Unpin` only if `F` is
        // (auto trait through `RefCell<Option<F>>`), so a `Pin` of it promises the same.
        let fut = unsafe { Pin::new_unchecked(fut) };
        Some(fut.poll(cx))
    }

    /// Drops the future in place (it finished or was aborted). `false` if it is being polled
    /// (the caller drops it when that poll returns) or was already dropped.
    pub(crate) fn drop_future(&self) -> bool {
        match self.fut.try_borrow_mut() {
            Ok(mut slot) if slot.is_some() => {
                // Assigning drops the old value where it lies: the pin contract's drop guarantee.
                *slot = None;
                true
            }
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;
    use std::marker::PhantomPinned;
    use std::rc::Rc;
    use std::task::{Context, Poll, Waker};

    use super::TaskCell;

    /// A `!Unpin` future that counts its polls and drops, and checks it was not moved.
    struct Probe {
        addr: Cell<usize>,
        polls: Rc<Cell<u32>>,
        drops: Rc<Cell<u32>>,
        _pin: PhantomPinned,
    }

    impl std::future::Future for Probe {
        type Output = u32;
        fn poll(self: std::pin::Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<u32> {
            let here = std::ptr::from_ref::<Self>(&self) as usize;
            if self.addr.get() == 0 {
                self.addr.set(here);
            }
            assert_eq!(self.addr.get(), here, "the future moved between polls");
            self.polls.set(self.polls.get() + 1);
            if self.polls.get() == 2 {
                Poll::Ready(7)
            } else {
                Poll::Pending
            }
        }
    }

    impl Drop for Probe {
        fn drop(&mut self) {
            self.drops.set(self.drops.get() + 1);
        }
    }

    #[test]
    fn polls_in_place_and_drops_the_future_once() {
        let (polls, drops) = (Rc::new(Cell::new(0)), Rc::new(Cell::new(0)));
        let cell = TaskCell::new(
            "head",
            Probe {
                addr: Cell::new(0),
                polls: Rc::clone(&polls),
                drops: Rc::clone(&drops),
                _pin: PhantomPinned,
            },
        );
        let mut cx = Context::from_waker(Waker::noop());
        assert_eq!(cell.as_ref().poll(&mut cx), Some(Poll::Pending));
        let moved = cell; // moving the Rc does not move the future
        assert_eq!(moved.as_ref().poll(&mut cx), Some(Poll::Ready(7)));
        assert_eq!(*moved.head(), "head");
        assert!(moved.drop_future());
        assert_eq!(drops.get(), 1);
        assert!(!moved.drop_future(), "already dropped");
        assert_eq!(moved.as_ref().poll(&mut cx), None, "no future left to poll");
        drop(moved);
        assert_eq!((polls.get(), drops.get()), (2, 1));
    }
}
