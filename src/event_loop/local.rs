//! Loop-thread posts: schedule a callback from code that holds no `&mut Loop` (a `Drop`, a value
//! shared between callbacks), without the `Send` bound a cross-thread post needs.

use std::cell::Cell;
use std::collections::VecDeque;
use std::fmt;
use std::panic::Location;
use std::rc::Rc;

use crate::event_loop::LoopFn;
use crate::handle::Site;

/// The queue a loop shares with its [`LocalSender`]s. No `RefCell`: the queue is taken out of
/// its `Cell` for each push and put back, so no borrow can be held across user code.
#[derive(Default)]
pub(crate) struct LocalQueue {
    posts: Cell<VecDeque<(LoopFn, Site)>>,
    /// How many posts are queued: read on every iteration without taking the queue.
    queued: Cell<usize>,
    /// The loop was dropped: posts are refused.
    closed: Cell<bool>,
}

impl LocalQueue {
    /// Whether a post is waiting (it keeps the loop alive and makes poll non-blocking).
    #[inline]
    pub(crate) fn has_posts(&self) -> bool {
        self.queued.get() > 0
    }

    /// Takes every queued post, in post order.
    pub(crate) fn take(&self) -> VecDeque<(LoopFn, Site)> {
        self.queued.set(0);
        self.posts.take()
    }

    pub(crate) fn close(&self) {
        self.closed.set(true);
        drop(self.take());
    }
}

/// Schedules callbacks on its loop from the loop's own thread, without `&mut Loop`: from a
/// `Drop` implementation, say, or from state that callbacks share. Made by
/// [`Loop::local_sender`](crate::Loop::local_sender); `Clone`, but not `Send`.
///
/// A post runs in the next pending phase (never inside [`post`](Self::post)), in post order,
/// followed by a microtask drain like every callback. Queued posts keep the loop alive and
/// make its poll non-blocking. For other threads, use a [`LoopSender`](crate::LoopSender).
///
/// ```
/// use evloop::Loop;
///
/// struct Guard(evloop::LocalSender);
/// impl Drop for Guard {
///     fn drop(&mut self) {
///         let _ = self.0.post(|_| println!("the guard was dropped"));
///     }
/// }
///
/// # fn main() -> Result<(), evloop::Error> {
/// let mut lp = Loop::new()?;
/// drop(Guard(lp.local_sender()));
/// lp.run()?; // runs the post
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct LocalSender {
    queue: Rc<LocalQueue>,
}

impl LocalSender {
    pub(crate) fn new(queue: Rc<LocalQueue>) -> Self {
        Self { queue }
    }

    /// Queues `f` for the loop's next pending phase. Fails, handing `f` back boxed, if the
    /// loop is gone.
    #[track_caller]
    pub fn post(&self, f: impl FnOnce(&mut crate::Loop) + 'static) -> Result<(), LocalPostError> {
        let f: LoopFn = Box::new(f);
        if self.queue.closed.get() {
            return Err(LocalPostError(f));
        }
        let mut posts = self.queue.posts.take();
        posts.push_back((f, Location::caller()));
        self.queue.queued.set(posts.len());
        self.queue.posts.set(posts);
        Ok(())
    }
}

/// A [`LocalSender::post`] to a loop that has been dropped: the closure, handed back.
pub struct LocalPostError(pub Box<dyn FnOnce(&mut crate::Loop)>);

impl fmt::Debug for LocalPostError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("LocalPostError(loop is gone)")
    }
}

impl fmt::Display for LocalPostError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the loop this local sender belongs to has been dropped")
    }
}

impl std::error::Error for LocalPostError {}

impl fmt::Debug for LocalSender {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LocalSender")
            .field("queued", &self.queue.queued.get())
            .field("closed", &self.queue.closed.get())
            .finish()
    }
}
