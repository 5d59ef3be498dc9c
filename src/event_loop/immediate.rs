//! Immediates: callbacks for the check phase of the next (or current) iteration.

use std::collections::VecDeque;

use crate::event_loop::LoopFn;
use crate::handle::Site;

/// Names an immediate queued by [`crate::Loop::set_immediate`]; pass it to [`crate::Loop::clear_immediate`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Immediate(u64);

pub(crate) struct Queued {
    pub(crate) run: Option<LoopFn>,
    pub(crate) site: Site,
}

/// FIFO of immediates. Ids are consecutive, so clearing is O(1): the id minus the id of the front
/// entry is its position; a cleared entry stays as a tombstone until the check phase pops it.
#[derive(Default)]
pub(crate) struct ImmediateQueue {
    queue: VecDeque<Queued>,
    front_id: u64,
    live: usize,
}

impl ImmediateQueue {
    /// Immediates queued and not cleared.
    pub(crate) fn live(&self) -> usize {
        self.live
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
        });
        self.live += 1;
        Immediate(id)
    }

    /// Cancels a queued immediate; `false` if it already ran or was cleared.
    pub(crate) fn clear(&mut self, id: Immediate) -> bool {
        let Some(pos) = id.0.checked_sub(self.front_id) else {
            return false;
        };
        match self.queue.get_mut(pos as usize) {
            Some(q) if q.run.is_some() => {
                q.run = None;
                self.live -= 1;
                true
            }
            _ => false,
        }
    }

    /// Pops the front entry; `run` is `None` for a cleared one.
    pub(crate) fn pop(&mut self) -> Option<Queued> {
        let q = self.queue.pop_front()?;
        self.front_id += 1;
        if q.run.is_some() {
            self.live -= 1;
        }
        Some(q)
    }
}
