//! Immediates: callbacks for the check phase of the next (or current) iteration.

use std::collections::VecDeque;

use crate::event_loop::{Loop, LoopFn};
use crate::handle::Site;

/// Names an immediate queued by [`crate::Loop::set_immediate`]; pass it to
/// [`crate::Loop::clear_immediate`], or [`unref`](Immediate::unref) it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Immediate(u64);

impl Immediate {
    /// Makes the queued immediate count (`true`, the default) or not count (`false`) towards
    /// keeping the loop alive, as Node's `immediate.ref()` / `immediate.unref()`. An unref'd
    /// immediate does not make poll non-blocking either: it runs in the check phase of an
    /// iteration that something else brings about, and not at all if the loop exits first.
    /// Returns `false` (and changes nothing) if the immediate already ran or was cleared.
    pub fn set_ref(self, lp: &mut Loop, refd: bool) -> bool {
        lp.immediates.set_ref(self, refd)
    }

    /// Shorthand for `set_ref(lp, false)`.
    pub fn unref(self, lp: &mut Loop) -> bool {
        self.set_ref(lp, false)
    }

    /// Whether the immediate keeps the loop alive; `None` if it already ran or was cleared.
    pub fn has_ref(self, lp: &Loop) -> Option<bool> {
        lp.immediates.get(self).map(|q| q.refd)
    }
}

pub(crate) struct Queued {
    pub(crate) run: Option<LoopFn>,
    pub(crate) site: Site,
    refd: bool,
}

/// FIFO of immediates. Ids are consecutive, so clearing is O(1): the id minus the id of the front
/// entry is its position; a cleared entry stays as a tombstone until the check phase pops it.
#[derive(Default)]
pub(crate) struct ImmediateQueue {
    queue: VecDeque<Queued>,
    front_id: u64,
    live: usize,
    /// Live entries that are unref'd.
    unrefd: usize,
}

impl ImmediateQueue {
    /// Immediates queued and not cleared.
    pub(crate) fn live(&self) -> usize {
        self.live
    }

    /// Live immediates that keep the loop alive and make poll non-blocking.
    pub(crate) fn refd(&self) -> usize {
        self.live - self.unrefd
    }

    /// Entries queued (tombstones included): the check phase runs this many.
    pub(crate) fn queued(&self) -> usize {
        self.queue.len()
    }

    pub(crate) fn push(&mut self, run: LoopFn, site: Site) -> Immediate {
        let id = self.front_id + self.queue.len() as u64;
        self.queue.push_back(Queued {
            run: Some(run),
            site,
            refd: true,
        });
        self.live += 1;
        Immediate(id)
    }

    /// The live entry `id` names.
    fn get(&self, id: Immediate) -> Option<&Queued> {
        let pos = id.0.checked_sub(self.front_id)?;
        self.queue
            .get(usize::try_from(pos).ok()?)
            .filter(|q| q.run.is_some())
    }

    fn get_mut(&mut self, id: Immediate) -> Option<&mut Queued> {
        let pos = id.0.checked_sub(self.front_id)?;
        self.queue
            .get_mut(usize::try_from(pos).ok()?)
            .filter(|q| q.run.is_some())
    }

    /// Cancels a queued immediate; `false` if it already ran or was cleared.
    pub(crate) fn clear(&mut self, id: Immediate) -> bool {
        let Some(q) = self.get_mut(id) else {
            return false;
        };
        q.run = None;
        let refd = q.refd;
        self.live -= 1;
        if !refd {
            self.unrefd -= 1;
        }
        true
    }

    fn set_ref(&mut self, id: Immediate, refd: bool) -> bool {
        let Some(q) = self.get_mut(id) else {
            return false;
        };
        let was = std::mem::replace(&mut q.refd, refd);
        match (was, refd) {
            (true, false) => self.unrefd += 1,
            (false, true) => self.unrefd -= 1,
            _ => {}
        }
        true
    }

    /// Pops the front entry; `run` is `None` for a cleared one.
    pub(crate) fn pop(&mut self) -> Option<Queued> {
        let q = self.queue.pop_front()?;
        self.front_id += 1;
        if q.run.is_some() {
            self.live -= 1;
            if !q.refd {
                self.unrefd -= 1;
            }
        }
        Some(q)
    }
}
