//! Cross-thread posts: [`LoopSender`] and the loop's inbox.

use std::panic::Location;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use crossbeam_channel::{Receiver, Sender};
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
    /// A thread-pool job finished; `key`/`serial` name its request on the loop.
    Completion {
        key: u32,
        serial: u32,
        outcome: crate::pool::Outcome,
    },
}

/// The loop's end that other threads hold: the inbox sender, the waker, and liveness counts.
pub(crate) struct Remote {
    inbox: Sender<Message>,
    waker: Waker,
    /// Set by the first send after the loop last looked; a burst of sends costs one wake-up.
    notified: AtomicBool,
    /// Live ref'd [`LoopSender`]s: while non-zero the loop stays alive.
    refd_senders: AtomicUsize,
}

impl Remote {
    pub(crate) fn new(registry: &Registry) -> std::io::Result<(Arc<Self>, Receiver<Message>)> {
        let (tx, rx) = crossbeam_channel::unbounded();
        let remote = Self {
            inbox: tx,
            waker: Waker::new(registry, WAKER_TOKEN)?,
            notified: AtomicBool::new(false),
            refd_senders: AtomicUsize::new(0),
        };
        Ok((Arc::new(remote), rx))
    }

    /// Queues a message and wakes the loop unless a wake-up is already on its way.
    pub(crate) fn send(&self, message: Message) -> Result<(), Message> {
        self.inbox.send(message).map_err(|e| e.0)?;
        self.wake();
        Ok(())
    }

    pub(crate) fn wake(&self) {
        if !self.notified.swap(true, Ordering::AcqRel) {
            // A failed wake means the eventfd is gone with the loop: nothing left to wake.
            let _ = self.waker.wake();
        }
    }

    /// Clears the wake-up flag; `true` if a wake-up was pending. Called before the inbox is
    /// read, so a send that lands after the read sets the flag again and wakes the loop.
    pub(crate) fn take_notified(&self) -> bool {
        self.notified.swap(false, Ordering::AcqRel)
    }

    pub(crate) fn keeps_alive(&self) -> bool {
        self.refd_senders.load(Ordering::Acquire) > 0 || !self.inbox.is_empty()
    }
}

/// Posts closures to a [`Loop`] from any thread (`Send + Clone`).
///
/// Posts run on the loop thread in the poll phase, in send order, each followed by a microtask
/// drain. Many posts between two iterations cost one wake-up (libuv `uv_async_send`).
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
        self.remote
            .send(Message::Post {
                run: Box::new(f),
                site,
            })
            .map_err(|message| match message {
                Message::Post { run, .. } => PostError(run),
                Message::Completion { .. } => unreachable!("post sends a Post"),
            })
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
            // The last ref'd sender is gone: wake the loop so it re-checks whether it is alive.
            self.remote.wake();
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
