//! [`Loop::block_on`]: run the loop until one future completes.

use std::cell::Cell;
use std::future::Future;
use std::rc::Rc;

use crate::error::{Error, Result};
use crate::event_loop::Loop;

impl Loop {
    /// Spawns `fut` and runs the loop until it completes; returns its output. For `main`.
    ///
    /// The loop runs as [`run`](Loop::run) does, and returns once the future's task has
    /// completed (the rest of that iteration still runs). Other tasks and handles stay as they
    /// are: call `run` afterwards to finish them.
    ///
    /// Errors: [`Error::Reentrant`] from inside a callback of this loop; an OS error if
    /// polling fails; [`Error::Panicked`] if the future panicked; [`Error::InvalidState`] if
    /// nothing keeps the loop alive while the future is still pending (it waits on something
    /// that can never happen: a deadlock) or if [`Loop::stop`] was called before it completed —
    /// the future is then dropped.
    #[track_caller]
    pub fn block_on<F>(&mut self, fut: F) -> Result<F::Output>
    where
        F: Future + 'static,
        F::Output: 'static,
    {
        if self.is_running() {
            return Err(Error::Reentrant);
        }
        let join = self.spawn_local(fut);
        let out: Rc<Cell<Option<Result<F::Output>>>> = Rc::default();
        let slot = Rc::clone(&out);
        let abort = join.abort_handle();
        join.on_done(self, move |lp, r| {
            slot.set(Some(r));
            lp.stop();
        });
        let ran = self.run();
        if let Some(r) = out.take() {
            ran?;
            return r;
        }
        // Drop the future now, not at some later run.
        abort.abort();
        self.drain_tasks();
        ran?;
        if self.alive() {
            Err(Error::InvalidState(
                "block_on: the loop was stopped before the future completed",
            ))
        } else {
            Err(Error::InvalidState(
                "block_on: the future is still pending but nothing keeps the loop alive",
            ))
        }
    }
}
