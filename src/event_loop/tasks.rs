//! The two Node-style job queues drained after every callback: next-ticks, then microtasks.

use std::collections::VecDeque;

use crate::event_loop::LoopFn;
use crate::handle::Site;

/// A queued next-tick or microtask.
pub(crate) struct Task {
    pub(crate) run: LoopFn,
    pub(crate) site: Site,
}

/// Which queue a [`Task`] came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum TaskKind {
    NextTick,
    Microtask,
}

/// The next-tick queue and the microtask queue.
///
/// [`TaskQueues::next`] encodes Node's drain order: every next-tick (including ones queued
/// meanwhile) before any microtask; then every microtask (including ones queued meanwhile); then
/// back to next-ticks queued by those microtasks; until both are empty.
#[derive(Default)]
pub(crate) struct TaskQueues {
    ticks: VecDeque<Task>,
    micro: VecDeque<Task>,
    /// Set while the microtask queue is being emptied: next-ticks queued by a microtask wait
    /// until the microtask queue is empty.
    in_micro: bool,
}

impl TaskQueues {
    #[inline]
    pub(crate) fn is_empty(&self) -> bool {
        self.ticks.is_empty() && self.micro.is_empty()
    }

    pub(crate) fn len(&self) -> usize {
        self.ticks.len() + self.micro.len()
    }

    pub(crate) fn push(&mut self, kind: TaskKind, task: Task) {
        match kind {
            TaskKind::NextTick => self.ticks.push_back(task),
            TaskKind::Microtask => self.micro.push_back(task),
        }
    }

    /// The next task to run in a drain, or `None` when both queues are empty.
    pub(crate) fn next(&mut self) -> Option<(TaskKind, Task)> {
        if !self.in_micro
            && let Some(t) = self.ticks.pop_front()
        {
            return Some((TaskKind::NextTick, t));
        }
        if let Some(t) = self.micro.pop_front() {
            self.in_micro = true;
            return Some((TaskKind::Microtask, t));
        }
        self.in_micro = false;
        self.ticks.pop_front().map(|t| (TaskKind::NextTick, t))
    }

    /// The next microtask, skipping next-ticks (a drain that hit the tick cap).
    pub(crate) fn next_microtask(&mut self) -> Option<Task> {
        self.micro.pop_front()
    }

    /// Forgets drain position (a drain that stopped early starts over with next-ticks).
    pub(crate) fn reset_drain(&mut self) {
        self.in_micro = false;
    }
}
