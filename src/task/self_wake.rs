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
/// address of its allocation, 8-aligned; 0: none) with two flags in the low bits.
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
///
/// While a scope is current and no queue is popped (nothing pops during a poll and its
/// deferred operations), `FRONT` set means the loop's microtask queue is empty and nothing was
/// pushed since the scope began: so it stays true for the next poll of a chain, with no need
/// to look at the queue again.
pub(crate) struct PollScope {
    outer: usize,
}

impl PollScope {
    /// Enters the poll of the task whose allocation is at `task`; `front`: the microtask queue
    /// is empty now.
    #[inline]
    pub(crate) fn enter(task: usize, front: bool) -> Self {
        debug_assert_eq!(task & FLAGS, 0, "a task's allocation is 8-aligned");
        let outer = STATE.replace(task | usize::from(front));
        Self { outer }
    }

    /// Whether the task woke itself through the fast path (and so must be polled again before
    /// anything else in the queue): `Some(quiet)`, where `quiet` says nothing at all was pushed
    /// during the poll (so the queue is still empty, and the task was not aborted: an abort
    /// queues a microtask). Clears the record: the caller acts on it once. The next poll of the
    /// chain starts with `FRONT` as it is now.
    #[inline]
    pub(crate) fn take_woke(&self) -> Option<bool> {
        let s = STATE.get();
        if s & WOKE == 0 {
            return None;
        }
        STATE.set(s & !WOKE);
        Some(s & FRONT != 0)
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

/// What a wake on the fast path found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum SelfWake {
    /// Not the polled task, or something is queued before its place: the ordinary wake.
    No,
    /// The polled task's first wake in this poll, recorded: it is to be polled again right
    /// after this poll. The caller marks it queued (nothing else can have since the poll
    /// began: an ordinary wake needs `FRONT` gone, and `FRONT` never comes back in a poll).
    First,
    /// Recorded already.
    Again,
}

/// Called by a waker before the ordinary wake, with its task's identity: see [`SelfWake`].
/// [`SelfWake::First`] and [`SelfWake::Again`] prove the caller is on the loop's thread, inside
/// its task's poll.
#[inline]
pub(crate) fn self_wake(task: usize) -> SelfWake {
    let s = STATE.get();
    if s & !WOKE != task | FRONT {
        SelfWake::No
    } else if s & WOKE != 0 {
        SelfWake::Again
    } else {
        STATE.set(s | WOKE);
        SelfWake::First
    }
}

/// The polled task was aborted from inside its poll (`Loop::abort_task` on a task being
/// polled): forget its self-wake, so that the poll is not followed by another at once.
#[inline]
pub(crate) fn cancel_woke() {
    STATE.set(STATE.get() & !WOKE);
}

/// Something was pushed onto a microtask queue of this thread: a self-wake from now on queues
/// behind it, the ordinary way.
#[inline]
pub(crate) fn pushed() {
    STATE.set(STATE.get() & !FRONT);
}

#[cfg(test)]
mod tests {
    use super::{PollScope, SelfWake, pushed, self_wake};

    #[test]
    fn front_holds_until_a_push_and_only_for_the_polled_task() {
        let scope = PollScope::enter(0x1000, true);
        assert_eq!(self_wake(0x2000), SelfWake::No, "another task: never");
        assert_eq!(scope.take_woke(), None);
        assert_eq!(self_wake(0x1000), SelfWake::First);
        assert_eq!(self_wake(0x1000), SelfWake::Again);
        assert_eq!(scope.take_woke(), Some(true), "nothing pushed: quiet");
        assert_eq!(scope.take_woke(), None, "taken once");
        // The next poll of the chain: still at the front.
        assert_eq!(self_wake(0x1000), SelfWake::First);
        pushed();
        // Recorded before the push; a wake now goes the ordinary way (which finds the task
        // marked queued and queues nothing).
        assert_eq!(self_wake(0x1000), SelfWake::No);
        assert_eq!(
            scope.take_woke(),
            Some(false),
            "pushed after the wake: not quiet"
        );
        assert_eq!(self_wake(0x1000), SelfWake::No, "a push ends the front");
        drop(scope);
        let scope = PollScope::enter(0x1000, false);
        assert_eq!(
            self_wake(0x1000),
            SelfWake::No,
            "a queue not empty at the start"
        );
        drop(scope);
        assert_eq!(self_wake(0x1000), SelfWake::No, "no scope, no fast path");
    }

    #[test]
    fn a_nested_scope_restores_the_outer_one_without_its_front_if_it_pushed() {
        let outer = PollScope::enter(0x1000, true);
        assert_eq!(self_wake(0x1000), SelfWake::First);
        {
            let inner = PollScope::enter(0x2000, true);
            assert_eq!(
                self_wake(0x1000),
                SelfWake::No,
                "the outer task is not polled now"
            );
            assert_eq!(inner.take_woke(), None, "the inner poll starts unwoken");
        }
        assert_eq!(
            self_wake(0x1000),
            SelfWake::Again,
            "the outer record survives"
        );
        assert_eq!(outer.take_woke(), Some(true));
        {
            let _inner = PollScope::enter(0x2000, true);
            pushed();
        }
        assert_eq!(
            self_wake(0x1000),
            SelfWake::No,
            "a push inside ends the outer front"
        );
        drop(outer);
        assert_eq!(self_wake(0x1000), SelfWake::No);
    }
}
