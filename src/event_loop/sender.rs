//! Cross-thread posts: [`LoopSender`] and the loop's inbox.

use std::collections::VecDeque;
use std::panic::Location;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use mio::{Registry, Waker};

use crate::event_loop::{Loop, WAKER_TOKEN};
use crate::handle::Site;

/// A closure posted from another thread.
pub(crate) type PostFn = Box<dyn FnOnce(&mut Loop) + Send>;

/// What other threads put in a loop's inbox.
pub(crate) enum Message {
    Post {
        run: PostFn,
        site: Site,
    },
    /// An [`AsyncHandle`](crate::AsyncHandle) was sent to (once per wake-up: sends coalesce).
    Notify(crate::handle::HandleId),
    /// A thread-pool job finished; `key`/`serial` name its request on the loop.
    Completion {
        key: u32,
        serial: u32,
        outcome: crate::pool::Outcome,
    },
}

/// The loop's end that other threads hold: the inbox, the waker, and liveness counts.
///
/// The inbox is a mutex-guarded queue that the loop swaps out whole once per poll phase (as
/// libuv programs do with `uv_async_send`): a post is one uncontended lock and a push, and the
/// loop pays one lock per batch instead of an atomic handshake per message.
pub(crate) struct Remote {
    inbox: Mutex<Inbox>,
    waker: Waker,
    /// Set by the first send after the loop last looked; a burst of sends costs one wake-up.
    notified: AtomicBool,
    /// Live ref'd [`LoopSender`]s: while non-zero the loop stays alive.
    refd_senders: AtomicUsize,
}

#[derive(Default)]
struct Inbox {
    queue: VecDeque<Message>,
    /// Set when the loop is dropped: later sends hand their message back.
    closed: bool,
}

impl Remote {
    pub(crate) fn new(registry: &Registry) -> std::io::Result<Arc<Self>> {
        Ok(Arc::new(Self {
            inbox: Mutex::new(Inbox::default()),
            waker: Waker::new(registry, WAKER_TOKEN)?,
            notified: AtomicBool::new(false),
            refd_senders: AtomicUsize::new(0),
        }))
    }

    fn inbox(&self) -> std::sync::MutexGuard<'_, Inbox> {
        // Nothing panics while the lock is held (only pushes and swaps); recover anyway.
        self.inbox.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Queues a message and wakes the loop unless a wake-up is already on its way. Hands the
    /// message back if the loop is gone.
    pub(crate) fn send(&self, message: Message) -> Result<(), Message> {
        self.send_with(message, |m| m)
    }

    /// Like [`Self::send`], wrapping `value` into a message only once it is known to be
    /// accepted, so a refused `value` comes back unwrapped.
    pub(crate) fn send_with<T>(&self, value: T, wrap: impl FnOnce(T) -> Message) -> Result<(), T> {
        {
            let mut inbox = self.inbox();
            if inbox.closed {
                return Err(value);
            }
            inbox.queue.push_back(wrap(value));
        }
        self.wake();
        Ok(())
    }

    pub(crate) fn wake(&self) {
        // Load first: while a wake-up is pending, further sends skip the locked swap.
        if !self.notified.load(Ordering::Acquire) && !self.notified.swap(true, Ordering::AcqRel) {
            // A failed wake means the eventfd is gone with the loop: nothing left to wake.
            let _ = self.waker.wake();
        }
    }

    /// Swaps the queued messages into `batch` (which must be empty), in send order.
    pub(crate) fn take_batch(&self, batch: &mut VecDeque<Message>) {
        std::mem::swap(&mut self.inbox().queue, batch);
    }

    /// Refuses further sends and drops what is queued (the loop is being dropped).
    pub(crate) fn close(&self) {
        let dropped = {
            let mut inbox = self.inbox();
            inbox.closed = true;
            std::mem::take(&mut inbox.queue)
        };
        drop(dropped);
    }

    /// Clears the wake-up flag; `true` if a wake-up was pending. Called before the inbox is
    /// read, so a send that lands after the read sets the flag again and wakes the loop.
    pub(crate) fn take_notified(&self) -> bool {
        self.notified.swap(false, Ordering::AcqRel)
    }

    /// A ref'd sender exists, or messages may be waiting (a send sets `notified` after
    /// queueing, and the loop clears it only before taking the queue).
    pub(crate) fn keeps_alive(&self) -> bool {
        self.refd_senders.load(Ordering::Acquire) > 0 || self.notified.load(Ordering::Acquire)
    }
}

/// Posts closures to a [`Loop`] from any thread (`Send + Clone`).
///
/// Posts run on the loop thread in the poll phase, in send order, each followed by a microtask
/// drain. Many posts between two iterations cost one wake-up (libuv `uv_async_send`). After
/// running posts the loop yields its CPU once before it next sleeps, so a posting thread that
/// shares the loop's CPU fills one large batch instead of being preempted by every wake-up.
///
/// Liveness: a sender from [`Loop::sender`] keeps the loop alive while it or any clone of it
/// exists, like the sending half of a channel: `run()` returns once every such sender is dropped
/// and the posts already sent have run. A sender from [`Loop::weak_sender`] does not keep the
/// loop alive; its posts run while something else does.
pub struct LoopSender {
    remote: Arc<Remote>,
    refd: bool,
}

/// A post that could not be delivered because the loop is gone; holds the closure.
pub struct PostError(pub PostFnBox);

/// The boxed closure handed back by [`PostError`].
pub type PostFnBox = Box<dyn FnOnce(&mut Loop) + Send>;

impl std::fmt::Debug for PostError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PostError(loop is gone)")
    }
}

impl std::fmt::Display for PostError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the loop this sender belongs to has been dropped")
    }
}

impl std::error::Error for PostError {}

impl LoopSender {
    pub(crate) fn new(remote: Arc<Remote>, refd: bool) -> Self {
        if refd {
            remote.refd_senders.fetch_add(1, Ordering::AcqRel);
        }
        Self { remote, refd }
    }

    /// Posts `f` to run on the loop thread. Fails, handing `f` back boxed, if the loop is gone.
    #[track_caller]
    pub fn post(&self, f: impl FnOnce(&mut Loop) + Send + 'static) -> Result<(), PostError> {
        let site = Location::caller();
        let run: PostFn = Box::new(f);
        self.remote
            .send_with(run, |run| Message::Post { run, site })
            .map_err(PostError)
    }

    /// Whether this sender keeps its loop alive.
    pub fn keeps_alive(&self) -> bool {
        self.refd
    }
}

impl Clone for LoopSender {
    fn clone(&self) -> Self {
        Self::new(Arc::clone(&self.remote), self.refd)
    }
}

impl Drop for LoopSender {
    fn drop(&mut self) {
        if self.refd && self.remote.refd_senders.fetch_sub(1, Ordering::AcqRel) == 1 {
            // The last ref'd sender is gone: wake a blocked poll so the loop re-checks whether
            // it is alive. Not through `wake()`: its flag means "messages may be waiting".
            let _ = self.remote.waker.wake();
        }
    }
}

impl std::fmt::Debug for LoopSender {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoopSender")
            .field("keeps_alive", &self.refd)
            .finish()
    }
}
