//! The loop's state as the modules that own each part reach it. `Loop`'s fields are private to
//! `event_loop/`; these accessors are the way in for the rest of the crate.

use std::sync::Arc;

use crate::event_loop::clock::Clock;
use crate::event_loop::sender::Remote;
use crate::event_loop::{
    HandleData, HandleEvent, IoCx, IoRegistry, Loop, Pending, RequestCount, kinds,
};
use crate::handle::{HandleId, HandleTable};
use crate::metrics::{Counters, Instruments};
use crate::timer::queue::TimerQueue;
use crate::watcher::loop_phase::WatcherLists;

/// The loop's state as the modules that own each part reach it. Nothing here changes a
/// liveness count behind its owner's back: requests go through [`RequestCount`], sources
/// through [`IoRegistry`], handles through the [`HandleTable`]'s own methods.
impl Loop {
    /// Whether `run` is on the stack.
    #[inline]
    pub(crate) fn is_running(&self) -> bool {
        self.running
    }

    #[inline]
    pub(crate) fn rt(&self) -> &crate::task::Runtime {
        &self.rt
    }

    #[inline]
    pub(crate) fn rt_mut(&mut self) -> &mut crate::task::Runtime {
        &mut self.rt
    }

    /// The microtask queue, shared with the task runtime's wakers.
    #[inline]
    pub(crate) fn micro_queue(&self) -> &std::rc::Rc<crate::event_loop::tasks::MicroQueue> {
        self.tasks.micro_queue()
    }

    #[inline]
    pub(crate) fn handles(&self) -> &HandleTable<HandleData> {
        &self.handles
    }

    #[inline]
    pub(crate) fn handles_mut(&mut self) -> &mut HandleTable<HandleData> {
        &mut self.handles
    }

    /// Which kind's data a live handle holds, for the registry's dispatch.
    #[inline]
    pub(super) fn handle_tag(&self, id: HandleId) -> Option<kinds::Tag> {
        self.handles.get(id).ok().map(|e| e.data.tag())
    }

    /// The part of the state an I/O kind works on, as disjoint borrows.
    #[inline]
    pub(crate) fn io_cx(&mut self) -> IoCx<'_> {
        IoCx {
            handles: &mut self.handles,
            pending: &mut self.pending,
            io: &mut self.io,
            reqs: &mut self.reqs,
            counters: &mut self.counters,
            net: &mut self.net,
        }
    }

    #[inline]
    pub(crate) fn io_mut(&mut self) -> &mut IoRegistry {
        &mut self.io
    }

    #[cfg(test)]
    pub(crate) fn reqs(&self) -> &RequestCount {
        &self.reqs
    }

    #[inline]
    pub(crate) fn reqs_mut(&mut self) -> &mut RequestCount {
        &mut self.reqs
    }

    /// Queues a kind's typed entry for the pending phase.
    #[inline]
    pub(crate) fn push_pending(&mut self, id: HandleId, event: HandleEvent) {
        self.pending.push_back(Pending::Handle { id, event });
    }

    /// The handles waiting for the close phase, in close order.
    pub(crate) fn closing_ids(&self) -> impl Iterator<Item = HandleId> + '_ {
        self.closing.ids()
    }

    #[inline]
    pub(crate) fn timers(&self) -> &TimerQueue<HandleId> {
        &self.timers
    }

    #[inline]
    pub(crate) fn timers_mut(&mut self) -> &mut TimerQueue<HandleId> {
        &mut self.timers
    }

    #[inline]
    pub(crate) fn watchers_mut(&mut self) -> &mut WatcherLists {
        &mut self.watchers
    }

    #[inline]
    pub(crate) fn net_mut(&mut self) -> &mut crate::net::NetShared {
        &mut self.net
    }

    #[inline]
    pub(crate) fn clock(&self) -> &Clock {
        &self.clock
    }

    #[inline]
    pub(crate) fn remote(&self) -> &Arc<Remote> {
        &self.remote
    }

    #[inline]
    pub(crate) fn pool_requests(&self) -> &crate::pool::work::Requests {
        &self.requests
    }

    #[inline]
    pub(crate) fn pool_requests_mut(&mut self) -> &mut crate::pool::work::Requests {
        &mut self.requests
    }

    #[inline]
    pub(crate) fn pool_size(&self) -> Option<usize> {
        self.pool_size
    }

    #[inline]
    pub(crate) fn files(&self) -> &crate::fs::FileTable {
        &self.files
    }

    #[inline]
    pub(crate) fn files_mut(&mut self) -> &mut crate::fs::FileTable {
        &mut self.files
    }

    #[inline]
    pub(crate) fn counters(&self) -> &Counters {
        &self.counters
    }

    #[inline]
    pub(crate) fn counters_mut(&mut self) -> &mut Counters {
        &mut self.counters
    }

    #[inline]
    pub(crate) fn instruments(&self) -> &Instruments {
        &self.instruments
    }

    #[inline]
    pub(crate) fn instruments_mut(&mut self) -> &mut Instruments {
        &mut self.instruments
    }

    #[inline]
    pub(crate) fn user(&self) -> &crate::event_loop::state::UserState {
        &self.user
    }

    #[inline]
    pub(crate) fn user_mut(&mut self) -> &mut crate::event_loop::state::UserState {
        &mut self.user
    }

    /// The reaper's state, with the poller it registers with.
    #[cfg(target_os = "linux")]
    #[inline]
    pub(crate) fn processes_mut(&mut self) -> (&mut crate::process::Reaper, &mut IoRegistry) {
        (&mut self.processes, &mut self.io)
    }

    /// The instruments, with the clock they read.
    #[inline]
    pub(crate) fn instruments_with_clock(&mut self) -> (&mut Instruments, &Clock) {
        (&mut self.instruments, &self.clock)
    }
}
