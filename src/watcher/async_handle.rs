//! Async handles: any thread wakes one callback on the loop, and wake-ups coalesce (libuv
//! `uv_async_t`).
//!
//! A [`Notifier`] shares one small record with its handle: a `pending` flag and a `closed`
//! flag. The first send after the loop last looked sets `pending` and puts a marker (the
//! handle's id, no allocation once the inbox has grown) in the loop's inbox, which wakes the
//! loop through its one waker; every later send finds `pending` set and is a single atomic
//! load. The loop clears `pending` just before it calls the callback, so a send made after
//! that point (even from inside the callback) brings another call.

use std::panic::Location;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};

use crate::error::{Error, Result};
use crate::event_loop::sender::{Message, Remote};
use crate::event_loop::{CallbackKind, HandleData, HandleState, Loop, Never, Phase};
use crate::handle::{HandleId, HandleKind, handle_type};

handle_type! {
    /// A wake-up handle from [`Loop::async_handle`] (libuv `uv_async_t`): any thread calls
    /// [`Notifier::send`], and the loop runs the handle's callback in its poll phase.
    ///
    /// - **Coalescing.** Sends coalesce: however many sends happen before the loop gets to
    ///   the handle, the callback runs once; a send made after the callback was entered (from
    ///   another thread, or the callback itself) brings one more call. So the callback runs at
    ///   least once after every send, and never more often than sends were made. Pass data
    ///   through your own synchronized structure (a `Mutex`, a channel) that the callback
    ///   drains, as with libuv.
    /// - **Cost.** A send that finds a wake-up pending is one atomic load; the first one after
    ///   the loop looked takes the loop's inbox lock once and wakes it. No send allocates.
    /// - **Order.** The call runs in the poll phase, in order with the [`LoopSender`] posts and
    ///   pool completions around it, and is followed by a microtask drain.
    /// - **Liveness.** The handle is active from creation until closed and keeps the loop
    ///   alive while ref'd; [`Handle::unref`] it for a wake-up that should not.
    /// - **Close.** After [`Handle::close`], the callback never runs again, even for sends
    ///   already made; sends that see the close fail with [`NotifyError::Closed`], and a send
    ///   racing with the close may return `Ok` but calls nothing.
    ///
    /// ```
    /// use std::sync::atomic::{AtomicUsize, Ordering};
    /// use std::sync::Arc;
    /// use evloop::{Handle, Loop};
    ///
    /// # fn main() -> Result<(), evloop::Error> {
    /// let mut lp = Loop::new()?;
    /// let done = Arc::new(AtomicUsize::new(0));
    /// let seen = done.clone();
    /// let wake = lp.async_handle(move |lp, handle| {
    ///     if seen.load(Ordering::Acquire) == 3 {
    ///         handle.close(lp, |_| println!("all three done")).unwrap();
    ///     }
    /// });
    /// let notifier = wake.notifier(&lp)?;
    /// let workers: Vec<_> = (0..3)
    ///     .map(|_| {
    ///         let (notifier, done) = (notifier.clone(), done.clone());
    ///         std::thread::spawn(move || {
    ///             done.fetch_add(1, Ordering::AcqRel);
    ///             notifier.send().unwrap();
    ///         })
    ///     })
    ///     .collect();
    /// lp.run()?; // until the callback saw all three and closed the handle
    /// for w in workers {
    ///     w.join().unwrap();
    /// }
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// [`Handle::unref`]: crate::Handle::unref
    /// [`Handle::close`]: crate::Handle::close
    /// [`LoopSender`]: crate::LoopSender
    AsyncHandle
}

type AsyncCallback = Box<dyn FnMut(&mut Loop, AsyncHandle)>;

/// What the handle and its notifiers share: one state word, so a coalesced send is one load.
struct Shared {
    /// [`PENDING`]: a wake-up is on its way and the callback has not been entered since.
    /// [`CLOSED`]: the handle was closed; sends fail.
    state: AtomicU8,
}

const PENDING: u8 = 1;
const CLOSED: u8 = 2;

pub(crate) struct AsyncData {
    shared: Arc<Shared>,
    cb: Option<AsyncCallback>,
}

impl HandleState for Box<AsyncData> {
    type Event = Never;

    fn stop(lp: &mut Loop, id: HandleId, _kind: HandleKind) {
        if let Ok(data) = async_data(lp, id) {
            data.shared.state.fetch_or(CLOSED, Ordering::AcqRel);
            data.cb = None;
        }
        lp.handles_mut().set_active(id, false);
    }

    fn pending(_lp: &mut Loop, _id: HandleId, never: Never) {
        match never {}
    }
}

fn async_data(lp: &mut Loop, id: HandleId) -> Result<&mut AsyncData> {
    match &mut lp.handles_mut().get_mut(id)?.data {
        HandleData::Async(a) => Ok(a),
        _ => Err(Error::StaleHandle),
    }
}

impl Loop {
    /// A wake-up handle whose callback other threads trigger with a [`Notifier`] (see
    /// [`AsyncHandle::notifier`]); libuv's `uv_async_init`. The handle starts active and
    /// ref'd. See [`AsyncHandle`] for the coalescing rule.
    #[track_caller]
    pub fn async_handle(
        &mut self,
        cb: impl FnMut(&mut Self, AsyncHandle) + 'static,
    ) -> AsyncHandle {
        let data = AsyncData {
            shared: Arc::new(Shared {
                state: AtomicU8::new(0),
            }),
            cb: Some(Box::new(cb)),
        };
        let id = self.handles_mut().insert(
            HandleKind::Async,
            Location::caller(),
            true,
            HandleData::Async(Box::new(data)),
        );
        AsyncHandle(id)
    }

    /// The inbox held a marker for `id`: run its callback once, unless it was closed.
    pub(crate) fn async_notified(&mut self, id: HandleId) {
        let Ok(entry) = self.handles_mut().get_mut(id) else {
            return; // closed and released: the marker outlived it
        };
        if entry.closing {
            return;
        }
        let site = entry.site;
        let HandleData::Async(data) = &mut entry.data else {
            return;
        };
        // Cleared before the call: a send from now on brings another call.
        data.shared.state.fetch_and(!PENDING, Ordering::AcqRel);
        let Some(cb) = data.cb.take() else { return };
        self.invoke_restoring(
            Phase::Poll,
            CallbackKind::Async,
            site,
            cb,
            |lp, cb| cb(lp, AsyncHandle(id)),
            |lp, cb| {
                if let Ok(entry) = lp.handles_mut().get_mut(id)
                    && !entry.closing
                    && let HandleData::Async(data) = &mut entry.data
                    && data.cb.is_none()
                {
                    data.cb = Some(cb);
                }
            },
        );
    }
}

impl AsyncHandle {
    /// A notifier for this handle, to move to other threads (`Send + Clone`, cheap to clone).
    /// Errors: a stale or closing handle.
    pub fn notifier(self, lp: &Loop) -> Result<Notifier> {
        let entry = lp.handles().get(self.0)?;
        if entry.closing {
            return Err(Error::Closing);
        }
        let HandleData::Async(data) = &entry.data else {
            return Err(Error::StaleHandle);
        };
        Ok(Notifier {
            shared: Arc::clone(&data.shared),
            remote: Arc::clone(lp.remote()),
            id: self.0,
        })
    }
}

/// The sending side of an [`AsyncHandle`] (libuv's `uv_async_send`): `Send + Clone`, usable
/// from any thread, including the loop's own.
#[derive(Clone)]
pub struct Notifier {
    shared: Arc<Shared>,
    remote: Arc<Remote>,
    id: HandleId,
}

/// Why [`Notifier::send`] failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum NotifyError {
    /// The handle was closed, or its loop dropped: nothing will be called.
    Closed,
}

impl std::fmt::Display for NotifyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Closed => f.write_str("the async handle was closed or its loop dropped"),
        }
    }
}

impl std::error::Error for NotifyError {}

impl Notifier {
    /// Asks for one call of the handle's callback on the loop thread; sends before that call
    /// coalesce into it (see [`AsyncHandle`]). Never blocks on the loop and never allocates.
    ///
    /// Errors: [`NotifyError::Closed`] once the handle is closed or its loop dropped.
    pub fn send(&self) -> std::result::Result<(), NotifyError> {
        // A cheap read first (as libuv's): while a wake-up is pending, a send is this load.
        let mut state = self.shared.state.load(Ordering::Acquire);
        if state == 0 {
            state = self.shared.state.fetch_or(PENDING, Ordering::AcqRel);
            if state == 0 {
                return self
                    .remote
                    .send(Message::Notify(self.id))
                    .map_err(|_| NotifyError::Closed);
            }
        }
        if state & CLOSED != 0 {
            return Err(NotifyError::Closed);
        }
        Ok(())
    }
}

impl std::fmt::Debug for Notifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = self.shared.state.load(Ordering::Relaxed);
        f.debug_struct("Notifier")
            .field("pending", &(state & PENDING != 0))
            .field("closed", &(state & CLOSED != 0))
            .finish()
    }
}
