//! The self-wake fast path: a task that wakes itself during its own poll while its poll would be
//! the next entry of the microtask queue is re-polled at once, without the queue round trip.
//!
//! The rule it keeps is the phase spec's: a wake on the loop thread queues the task's poll at
//! the back of the microtask queue, FIFO with what was queued before, and the drain runs the
//! queue front to back (a microtask's own microtasks before the next-ticks it queued, so a
//! next-tick queued by a poll never runs between two microtasks). Nothing pops the queue while a
//! poll and the operations it deferred run (only the drain does, and no drain runs inside a
//! poll). So if the queue was empty when the poll began and nothing was pushed before the wake,
//! the poll queued by that wake is the very next thing the drain would run, whatever is pushed
//! after it: polling again right away gives the same order, by construction.
//!
//! This module tracks that condition on the thread that polls ([`PollScope`]); the waker asks
//! it ([`self_wake`]) before taking the ordinary path; [`MicroQueue::push`] clears it. The
//! waker still takes the queued flag with the same atomic swap as before, so wakes from other
//! threads coalesce exactly as they did: the fast path replaces only the queue entry (and the
//! thread's loop registry lookup that finds the queue), not the protocol.
//!
//! [`MicroQueue::push`]: crate::event_loop::tasks::MicroQueue::push

use std::cell::Cell;

/// The poll running on this thread, in one word: the identity of the task being polled (the
/// address of its waker state, 8-aligned; 0: none) with two flags in the low bits.
const FRONT: usize = 1;
/// The polled task woke itself while `FRONT` held and took its queued flag: it is to be polled
/// again right after this poll, as the queue's front entry would be.
const WOKE: usize = 2;
const FLAGS: usize = FRONT | WOKE;

thread_local! {
    /// `task | FRONT | WOKE`. `FRONT`: the microtask queue was empty when the poll began and
    /// nothing was pushed since, so a poll of the polled task queued now would be the queue's
    /// next entry.
    static STATE: Cell<usize> = const { Cell::new(0) };
}

/// Marks the poll of one task on this thread, from its start until its deferred operations
/// have run. Scopes nest (a future that runs another loop inside its poll): dropping one
/// restores the outer scope, whose `FRONT` stays only if nothing was pushed meanwhile.
pub(crate) struct PollScope {
    task: usize,
    outer: usize,
}

impl PollScope {
    /// Enters the poll of the task whose waker state is at `task`; `front`: the microtask queue
    /// is empty now.
    #[inline]
    pub(crate) fn enter(task: usize, front: bool) -> Self {
        debug_assert_eq!(task & FLAGS, 0, "a waker state is 8-aligned");
        let outer = STATE.replace(task | usize::from(front));
        Self { task, outer }
    }

    /// Whether the task woke itself through the fast path (and so must be polled again before
    /// anything else in the queue). Clears the record: the caller acts on it once.
    #[inline]
    pub(crate) fn take_woke(&self) -> bool {
        let s = STATE.get();
        STATE.set(s & !WOKE);
        s & WOKE != 0
    }

    /// Starts the next poll of the same task, as [`enter`](Self::enter) would.
    #[inline]
    pub(crate) fn restart(&self, front: bool) {
        STATE.set(self.task | usize::from(front));
    }
}

impl Drop for PollScope {
    #[inline]
    fn drop(&mut self) {
        // A push inside this scope may have gone to the outer loop's queue too.
        let front = self.outer & STATE.get() & FRONT;
        STATE.set((self.outer & !FRONT) | front);
    }
}

/// Called by a waker on its task's thread before the ordinary wake: `true` if `task` is being
/// polled on this thread and its re-poll would be the queue's next entry. The caller then takes
/// the queued flag and calls [`record_self_wake`] if it got it; it must not queue anything.
#[inline]
pub(crate) fn is_front(task: usize) -> bool {
    STATE.get() & !WOKE == task | FRONT
}

/// The polled task took its queued flag through the fast path: poll it again next.
#[inline]
pub(crate) fn record_self_wake() {
    STATE.set(STATE.get() | WOKE);
}

/// Something was pushed onto a microtask queue of this thread: a self-wake from now on queues
/// behind it, the ordinary way.
#[inline]
pub(crate) fn pushed() {
    STATE.set(STATE.get() & !FRONT);
}

#[cfg(test)]
mod tests {
    use super::{PollScope, is_front, pushed, record_self_wake};

    #[test]
    fn front_holds_until_a_push_and_only_for_the_polled_task() {
        let scope = PollScope::enter(0x1000, true);
        assert!(is_front(0x1000));
        assert!(!is_front(0x2000), "another task is never on the fast path");
        record_self_wake();
        pushed();
        assert!(!is_front(0x1000), "a push ends the front");
        assert!(scope.take_woke());
        assert!(!scope.take_woke(), "taken once");
        scope.restart(false);
        assert!(
            !is_front(0x1000),
            "a queue not empty at the start: never front"
        );
        scope.restart(true);
        assert!(is_front(0x1000));
        drop(scope);
        assert!(!is_front(0x1000), "no scope, no fast path");
    }

    #[test]
    fn a_nested_scope_restores_the_outer_one_without_its_front_if_it_pushed() {
        let outer = PollScope::enter(0x1000, true);
        record_self_wake();
        {
            let inner = PollScope::enter(0x2000, true);
            assert!(is_front(0x2000) && !is_front(0x1000));
            assert!(!inner.take_woke(), "the inner poll starts unwoken");
        }
        assert!(
            is_front(0x1000),
            "nothing pushed inside: the outer front holds"
        );
        assert!(
            outer.take_woke(),
            "the outer self-wake survives the inner scope"
        );
        {
            let _inner = PollScope::enter(0x2000, true);
            pushed();
        }
        assert!(!is_front(0x1000), "a push inside ends the outer front too");
        drop(outer);
        assert!(!is_front(0x1000));
    }
}
