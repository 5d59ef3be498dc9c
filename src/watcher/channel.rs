//! Typed channels from other threads into a handler on the loop: [`Loop::channel`],
//! [`Sender`] and the [`Channel`] handle.
//!
//! A [`LoopSender`](crate::LoopSender) posts closures, which must be `Send` and so cannot touch
//! what the loop owns. A channel posts *values*: its handler runs on the loop with `&mut Loop`
//! and so reaches the loop's [state](Loop::state). With a bound, a full channel makes
//! [`Sender::send`] wait (backpressure) and [`Sender::try_send`] fail with
//! [`SendError::Full`], so a producer cannot run arbitrarily far ahead of the loop.

use std::collections::VecDeque;
use std::fmt;
use std::panic::{AssertUnwindSafe, Location, catch_unwind, resume_unwind};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::ThreadId;

use crate::event_loop::sender::{Message, Remote};
use crate::event_loop::{CallbackKind, HandleData, HandleState, Loop, Never, Phase};
use crate::handle::{Handle, HandleId, HandleKind, Site, handle_type};

handle_type! {
    /// The loop's end of a typed channel made by [`Loop::channel`] (get it from
    /// [`Sender::channel`]).
    ///
    /// It is a handle like the others: active (keeping the loop alive) while a [`Sender`]
    /// exists or messages wait, inactive once every sender is gone and every message was
    /// handled; [`Handle::unref`] lets the loop exit while senders remain; closing it drops
    /// the waiting messages and makes every later send fail with [`SendError::Closed`] (as
    /// dropping the loop does).
    Channel
}

/// Why a send failed. Holds the message, which is never lost.
#[derive(PartialEq, Eq)]
pub enum SendError<M> {
    /// The channel is at its bound ([`Sender::try_send`] only; on the loop thread, where
    /// waiting could never end, [`Sender::send`] too).
    Full(M),
    /// The channel was closed, or its loop dropped.
    Closed(M),
}

impl<M> SendError<M> {
    /// The message that was not sent.
    pub fn into_inner(self) -> M {
        match self {
            Self::Full(m) | Self::Closed(m) => m,
        }
    }
}

impl<M> fmt::Debug for SendError<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Full(_) => f.write_str("Full(..)"),
            Self::Closed(_) => f.write_str("Closed(..)"),
        }
    }
}

impl<M> fmt::Display for SendError<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Full(_) => f.write_str("channel is full"),
            Self::Closed(_) => f.write_str("channel is closed (or its loop is gone)"),
        }
    }
}

impl<M> std::error::Error for SendError<M> {}

struct Queue<M> {
    items: VecDeque<M>,
    closed: bool,
    senders: usize,
    /// A drain is posted to the loop and has not taken the queue yet.
    scheduled: bool,
    /// How many times a `send` waited at the bound.
    waits: u64,
}

/// What the senders and the loop share.
struct Shared<M> {
    queue: Mutex<Queue<M>>,
    not_full: Condvar,
    bound: Option<usize>,
    remote: Arc<Remote>,
    id: HandleId,
    loop_thread: ThreadId,
    site: Site,
}

impl<M> Shared<M> {
    fn lock(&self) -> MutexGuard<'_, Queue<M>> {
        // Nothing panics while the lock is held; recover anyway.
        self.queue.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Posts a drain to the loop unless one is on its way. Called with the lock held.
    fn schedule(&self, q: &mut Queue<M>) -> bool {
        if q.scheduled {
            return true;
        }
        let id = self.id;
        let run: Box<dyn FnOnce(&mut Loop) + Send> = Box::new(move |lp| lp.channel_drain(id));
        let site = self.site;
        if self
            .remote
            .send_with(run, |run| Message::Post { run, site })
            .is_err()
        {
            q.closed = true;
            return false;
        }
        q.scheduled = true;
        true
    }
}

/// What the loop side does without knowing `M`.
trait Control {
    /// Takes the waiting messages and hands each to the handler; returns whether senders or
    /// messages remain (the handle stays active).
    fn drain(&self, lp: &mut Loop, handler: &mut dyn std::any::Any) -> bool;
    /// Refuses further sends, drops what waits, wakes blocked senders.
    fn close(&self);
}

type Handler<M> = Box<dyn FnMut(&mut Loop, M)>;

impl<M: 'static> Control for Shared<M> {
    fn drain(&self, lp: &mut Loop, handler: &mut dyn std::any::Any) -> bool {
        let Some(handler) = handler.downcast_mut::<Handler<M>>() else {
            return false;
        };
        let batch = {
            let mut q = self.lock();
            q.scheduled = false;
            std::mem::take(&mut q.items)
        };
        self.not_full.notify_all();
        let mut batch = batch.into_iter();
        while let Some(m) = batch.next() {
            // A handler that closed the channel gets nothing more.
            if lp.handles().get(self.id).map_or(true, |e| e.closing) {
                return false;
            }
            let handled = catch_unwind(AssertUnwindSafe(|| {
                handler(lp, m);
                lp.drain_tasks();
            }));
            if let Err(panic) = handled {
                // The rest of the batch goes back, ahead of newer messages, for the next run.
                let mut q = self.lock();
                for m in batch.rev() {
                    q.items.push_front(m);
                }
                if !q.items.is_empty() {
                    self.schedule(&mut q);
                }
                drop(q);
                resume_unwind(panic);
            }
        }
        let q = self.lock();
        q.senders > 0 || !q.items.is_empty()
    }

    fn close(&self) {
        let dropped = {
            let mut q = self.lock();
            q.closed = true;
            std::mem::take(&mut q.items)
        };
        self.not_full.notify_all();
        drop(dropped);
    }
}

/// What a channel's handle slot holds.
pub(crate) struct ChannelData {
    /// The boxed `Handler<M>`; taken out while it runs.
    handler: Option<Box<dyn std::any::Any>>,
    control: Arc<dyn Control>,
}

impl Drop for ChannelData {
    fn drop(&mut self) {
        // The loop is dropped (or the handle freed): senders learn it at once.
        self.control.close();
    }
}

impl HandleState for ChannelData {
    type Event = Never;

    fn stop(lp: &mut Loop, id: HandleId, _kind: HandleKind) {
        if let Ok(HandleData::Channel(c)) = lp.handles_mut().get_mut(id).map(|e| &mut e.data) {
            c.control.close();
        }
    }

    fn pending(_lp: &mut Loop, _id: HandleId, never: Never) {
        match never {}
    }
}

/// Sends values to a channel's handler on the loop, from any thread (`Send + Clone`).
///
/// Messages from one sender are handled in send order; messages that arrive between two
/// wake-ups of the loop are handled in one batch, in the poll phase. Dropping the last sender
/// (with nothing left to handle) lets the loop exit.
pub struct Sender<M> {
    shared: Arc<Shared<M>>,
}

impl<M: Send + 'static> Sender<M> {
    /// Sends `m`, waiting while the channel is at its bound. Fails with
    /// [`SendError::Closed`] if the channel is closed or its loop dropped (also while
    /// waiting). On the loop's own thread it never waits (the loop could not drain meanwhile):
    /// a full channel there is [`SendError::Full`].
    pub fn send(&self, m: M) -> Result<(), SendError<M>> {
        self.push(m, std::thread::current().id() != self.shared.loop_thread)
    }

    /// Sends `m` if there is room now: [`SendError::Full`] at the bound, [`SendError::Closed`]
    /// if the channel is closed or its loop dropped.
    pub fn try_send(&self, m: M) -> Result<(), SendError<M>> {
        self.push(m, false)
    }

    fn push(&self, m: M, wait: bool) -> Result<(), SendError<M>> {
        let shared = &*self.shared;
        let mut q = shared.lock();
        loop {
            if q.closed {
                return Err(SendError::Closed(m));
            }
            match shared.bound {
                Some(bound) if q.items.len() >= bound => {
                    if !wait {
                        return Err(SendError::Full(m));
                    }
                    q.waits += 1;
                    q = shared
                        .not_full
                        .wait(q)
                        .unwrap_or_else(PoisonError::into_inner);
                }
                _ => break,
            }
        }
        q.items.push_back(m);
        if !shared.schedule(&mut q) {
            let m = q.items.pop_back();
            return match m {
                Some(m) => Err(SendError::Closed(m)),
                None => Ok(()),
            };
        }
        Ok(())
    }
}

impl<M> Sender<M> {
    /// The channel's handle on the loop (to close, unref or query it there).
    pub fn channel(&self) -> Channel {
        Channel(self.shared.id)
    }

    /// How many times a [`send`](Self::send) on this channel (from any sender) had to wait
    /// because the channel was at its bound.
    pub fn waits(&self) -> u64 {
        self.shared.lock().waits
    }

    /// Whether the channel is closed (or its loop dropped).
    pub fn is_closed(&self) -> bool {
        self.shared.lock().closed
    }
}

impl<M> Clone for Sender<M> {
    fn clone(&self) -> Self {
        self.shared.lock().senders += 1;
        Self {
            shared: Arc::clone(&self.shared),
        }
    }
}

impl<M> Drop for Sender<M> {
    fn drop(&mut self) {
        let mut q = self.shared.lock();
        q.senders -= 1;
        if q.senders == 0 && !q.closed && !q.scheduled {
            // Tell the loop, so the handle goes inactive and the loop may exit.
            let id = self.shared.id;
            let run: Box<dyn FnOnce(&mut Loop) + Send> = Box::new(move |lp| lp.channel_drain(id));
            let site = self.shared.site;
            if self
                .shared
                .remote
                .send_with(run, |run| Message::Post { run, site })
                .is_ok()
            {
                q.scheduled = true;
            }
        }
    }
}

impl<M> fmt::Debug for Sender<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sender")
            .field("channel", &self.shared.id)
            .field("bound", &self.shared.bound)
            .finish_non_exhaustive()
    }
}

/// # Channels
impl Loop {
    /// A typed channel into `handler`, which runs on this loop for every message sent through
    /// the returned [`Sender`] (or its clones, from any thread), in the poll phase, with
    /// `&mut Loop` — so it reaches the loop's [state](Loop::state). `bound` caps the messages
    /// waiting to be handled: at the bound [`Sender::send`] waits and [`Sender::try_send`]
    /// fails with [`SendError::Full`]; `None` is unbounded.
    ///
    /// The channel is a handle ([`Sender::channel`]): it keeps the loop alive while a sender
    /// exists or messages wait. A bound of 0 is taken as 1. A handler that panics unwinds out
    /// of `run` (as every callback); the messages after the one it panicked on stay queued and
    /// are handled when `run` is called again.
    ///
    /// ```
    /// use evloop::{Handle, Loop};
    ///
    /// #[derive(Default)]
    /// struct Total(u64);
    ///
    /// # fn main() -> Result<(), evloop::Error> {
    /// let mut lp = Loop::new()?;
    /// lp.insert_state(Total::default());
    /// let tx = lp.channel(Some(64), |lp, n: u64| {
    ///     lp.state::<Total>().expect("inserted").0 += n;
    /// });
    /// let chan = tx.channel();
    /// let producer = std::thread::spawn(move || {
    ///     for n in 1..=1000 {
    ///         tx.send(n).expect("the loop is running");
    ///     }
    /// }); // the last sender is dropped here
    /// lp.run()?; // returns once the sender is gone and every message was handled
    /// producer.join().expect("producer");
    /// assert_eq!(lp.state::<Total>().map(|t| t.0), Some(500_500));
    /// chan.close(&mut lp, |_| {})?;
    /// lp.run()?;
    /// # Ok(())
    /// # }
    /// ```
    #[track_caller]
    pub fn channel<M: Send + 'static>(
        &mut self,
        bound: Option<usize>,
        handler: impl FnMut(&mut Self, M) + 'static,
    ) -> Sender<M> {
        let site = Location::caller();
        let handler: Handler<M> = Box::new(handler);
        // The data needs the id and the id needs the data: insert, then fill in.
        let id = self.handles_mut().insert(
            HandleKind::Channel,
            site,
            true,
            HandleData::Channel(ChannelData {
                handler: None,
                control: Arc::new(Closed),
            }),
        );
        let shared = Arc::new(Shared {
            queue: Mutex::new(Queue {
                items: VecDeque::new(),
                closed: false,
                senders: 1,
                scheduled: false,
                waits: 0,
            }),
            not_full: Condvar::new(),
            bound: bound.map(|b| b.max(1)),
            remote: Arc::clone(self.remote()),
            id,
            loop_thread: std::thread::current().id(),
            site,
        });
        if let Ok(entry) = self.handles_mut().get_mut(id)
            && let HandleData::Channel(c) = &mut entry.data
        {
            c.handler = Some(Box::new(handler));
            c.control = Arc::clone(&shared) as Arc<dyn Control>;
        }
        Sender { shared }
    }

    /// A posted drain: hand the waiting messages of channel `id` to its handler.
    fn channel_drain(&mut self, id: HandleId) {
        let (handler, control) = match self.handles_mut().open_mut(id).map(|e| &mut e.data) {
            Ok(HandleData::Channel(c)) => (c.handler.take(), Arc::clone(&c.control)),
            _ => return,
        };
        let Some(handler) = handler else { return };
        let site = self
            .handles()
            .get(id)
            .map_or(Location::caller(), |e| e.site);
        let mut active = true;
        self.invoke_restoring(
            Phase::Poll,
            CallbackKind::Post,
            site,
            handler,
            |lp, handler| active = control.drain(lp, &mut **handler),
            |lp, handler| {
                if let Ok(entry) = lp.handles_mut().get_mut(id)
                    && let HandleData::Channel(c) = &mut entry.data
                    && c.handler.is_none()
                {
                    c.handler = Some(handler);
                }
            },
        );
        if self.handles().get(id).is_ok_and(|e| !e.closing) {
            self.handles_mut().set_active(id, active);
        }
    }
}

/// The placeholder control of a channel being created.
struct Closed;

impl Control for Closed {
    fn drain(&self, _lp: &mut Loop, _handler: &mut dyn std::any::Any) -> bool {
        false
    }
    fn close(&self) {}
}

impl Channel {
    /// Whether the handle is still open (not closed, not closing).
    pub fn is_open(self, lp: &Loop) -> bool {
        lp.handles().get(self.id()).is_ok_and(|e| !e.closing)
    }
}
