//! Generic operations over every live handle: [`Loop::walk`] (libuv `uv_walk`) and
//! [`Loop::close_all`].

use std::cell::Cell;
use std::rc::Rc;

use crate::event_loop::Loop;
use crate::handle::{Handle, HandleInfo};

/// # Walking live handles
impl Loop {
    /// Calls `f` with every handle that is live when the walk starts (closing ones included),
    /// in slot order, as libuv's `uv_walk`. `f` receives the loop and may close the handle
    /// (through [`HandleInfo::id`], which implements [`Handle`]); a handle closed earlier in the
    /// walk is skipped.
    pub fn walk(&mut self, mut f: impl FnMut(&mut Self, HandleInfo)) {
        for info in self.active_handles() {
            if self.handles().get(info.id).is_ok() {
                f(self, info);
            }
        }
    }

    /// Closes every live handle that is not already closing (timers, watchers, sockets,
    /// signals, channels...), then runs `done` once, after the last of their close callbacks
    /// (in the close phase; in the pending phase if nothing was open). Returns how many
    /// handles it closed. The usual end of a graceful shutdown.
    #[track_caller]
    pub fn close_all(&mut self, done: impl FnOnce(&mut Self) + 'static) -> usize {
        let site = std::panic::Location::caller();
        // The close callbacks are the library's own: a count shared between them is no
        // borrow a user can hold.
        let left = Rc::new(Cell::new(0usize));
        let done = Rc::new(Cell::new(
            Some(Box::new(done) as Box<dyn FnOnce(&mut Self)>),
        ));
        let mut closed = 0;
        for info in self.active_handles() {
            let (l, d) = (Rc::clone(&left), Rc::clone(&done));
            // A handle closed meanwhile (a stream's idle timer, say) is skipped.
            let r = info.id.close(self, move |lp| {
                l.set(l.get() - 1);
                if l.get() == 0
                    && let Some(done) = d.take()
                {
                    done(lp);
                }
            });
            if r.is_ok() {
                closed += 1;
                left.set(left.get() + 1);
            }
        }
        if closed == 0
            && let Some(done) = done.take()
        {
            self.defer(crate::CallbackKind::Close, site, done);
        }
        closed
    }
}
