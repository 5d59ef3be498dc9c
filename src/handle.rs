//! Handles: typed `Copy` ids into the loop's handle table, and the operations every handle has.

use std::fmt;
use std::panic::Location;

use crate::error::{Error, Result};
pub use crate::event_loop::HandleKind;
use crate::event_loop::Loop;

/// Where a callback or handle was registered: the `file:line` of the call, via `#[track_caller]`.
pub type Site = &'static Location<'static>;

/// An untyped handle id: slot index plus generation. Stale once the handle is closed.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct HandleId {
    index: u32,
    generation: u32,
}

impl HandleId {
    pub(crate) fn index(self) -> usize {
        self.index as usize
    }

    /// Packs the id into a mio token value (index in the low half, generation in the high half).
    pub(crate) fn to_token(self) -> usize {
        (self.index as usize) | ((self.generation as usize) << 32)
    }

    pub(crate) fn from_token(token: usize) -> Self {
        Self {
            index: token as u32,
            generation: (token >> 32) as u32,
        }
    }
}

impl fmt::Debug for HandleId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}.{}", self.index, self.generation)
    }
}

impl fmt::Display for HandleKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One live handle, as reported by [`Loop::active_handles`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HandleInfo {
    /// Its id.
    pub id: HandleId,
    /// What it is.
    pub kind: HandleKind,
    /// Whether it counts towards keeping the loop alive when active.
    pub refd: bool,
    /// Whether it is started (an armed timer, a started watcher, a reading stream...).
    pub active: bool,
    /// Whether it is closing (its close callback has not run yet).
    pub closing: bool,
    /// The `file:line` that created it.
    pub site: Site,
}

impl fmt::Display for HandleInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:<8} {:?} {}{}{} created at {}",
            self.kind,
            self.id,
            if self.active { "active" } else { "inactive" },
            if self.refd { "" } else { ", unref'd" },
            if self.closing { ", closing" } else { "" },
            self.site
        )
    }
}

/// Operations every handle type has. Implemented by the typed ids ([`crate::Timer`],
/// [`crate::Idle`], ...); each method takes the loop that owns the handle.
///
/// A stale id (closed, or its slot reused) yields [`Error::StaleHandle`], never a panic.
pub trait Handle: Copy + sealed::Sealed {
    /// The untyped id.
    fn id(self) -> HandleId;

    /// Closes the handle: it stops at once, its pending requests are canceled, and `on_close` runs
    /// in the close phase of this iteration (never inside this call). Closing a handle that is
    /// already closing is an error ([`Error::Closing`]); its first close callback still runs.
    #[track_caller]
    fn close(self, lp: &mut Loop, on_close: impl FnOnce(&mut Loop) + 'static) -> Result<()> {
        lp.close_handle(self.id(), Some(Box::new(on_close)), Location::caller())
    }

    /// Makes the handle count (`true`) or not count (`false`) towards keeping the loop alive.
    fn set_ref(self, lp: &mut Loop, refd: bool) -> Result<()> {
        lp.handles_mut().set_ref(self.id(), refd)
    }

    /// Shorthand for `set_ref(lp, false)`: the loop may exit while this handle is active.
    fn unref(self, lp: &mut Loop) -> Result<()> {
        self.set_ref(lp, false)
    }

    /// Whether the handle counts towards keeping the loop alive.
    fn has_ref(self, lp: &Loop) -> Result<bool> {
        Ok(lp.handles().get(self.id())?.refd)
    }

    /// Whether the handle is started (armed timer, started watcher, reading stream...).
    fn is_active(self, lp: &Loop) -> Result<bool> {
        Ok(lp.handles().get(self.id())?.active)
    }

    /// Whether `close` was called and the close callback has not run yet.
    fn is_closing(self, lp: &Loop) -> Result<bool> {
        Ok(lp.handles().get(self.id())?.closing)
    }

    /// Attaches `value` to the handle (libuv's `handle->data`), replacing any earlier value of
    /// any type. It is dropped when the handle's slot is freed (after its close callback, or
    /// when a one-shot timer is released). Errors on a stale handle.
    fn set_data<T: 'static>(self, lp: &mut Loop, value: T) -> Result<()> {
        lp.handles().get(self.id())?;
        lp.user_mut().set_handle_data(self.id(), Box::new(value));
        Ok(())
    }

    /// The value attached by [`set_data`](Self::set_data), if it is a `T` and the handle is live.
    fn data<T: 'static>(self, lp: &Loop) -> Option<&T> {
        lp.handles().get(self.id()).ok()?;
        lp.user().handle_data(self.id())?.downcast_ref::<T>()
    }

    /// Mutable access to the value attached by [`set_data`](Self::set_data).
    fn data_mut<T: 'static>(self, lp: &mut Loop) -> Option<&mut T> {
        lp.handles().get(self.id()).ok()?;
        lp.user_mut()
            .handle_data_mut(self.id())?
            .downcast_mut::<T>()
    }

    /// Detaches and returns the value attached by [`set_data`](Self::set_data) if it is a `T`.
    fn take_data<T: 'static>(self, lp: &mut Loop) -> Option<T> {
        lp.handles().get(self.id()).ok()?;
        let user = lp.user_mut();
        let boxed = user.take_handle_data(self.id())?;
        match boxed.downcast::<T>() {
            Ok(v) => Some(*v),
            Err(other) => {
                user.set_handle_data(self.id(), other);
                None
            }
        }
    }
}

impl Handle for HandleId {
    fn id(self) -> HandleId {
        self
    }
}

impl sealed::Sealed for HandleId {}

pub(crate) mod sealed {
    pub trait Sealed {}
}

/// Declares a typed handle id wrapping a [`HandleId`].
macro_rules! handle_type {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub struct $name(pub(crate) $crate::handle::HandleId);

        impl $crate::handle::sealed::Sealed for $name {}

        impl $crate::handle::Handle for $name {
            fn id(self) -> $crate::handle::HandleId {
                self.0
            }
        }
    };
}
pub(crate) use handle_type;

/// A live handle's bookkeeping. `data` holds what only its kind knows.
pub(crate) struct Entry<D> {
    pub(crate) kind: HandleKind,
    pub(crate) refd: bool,
    pub(crate) active: bool,
    pub(crate) closing: bool,
    pub(crate) site: Site,
    pub(crate) data: D,
}

struct Slot<D> {
    generation: u32,
    entry: Option<Entry<D>>,
}

/// The handle table: slots with generations, a free list, and the counters liveness needs.
pub(crate) struct HandleTable<D> {
    slots: Vec<Slot<D>>,
    free: Vec<u32>,
    live: usize,
    active_refd: usize,
}

impl<D> HandleTable<D> {
    pub(crate) fn new() -> Self {
        Self {
            slots: Vec::new(),
            free: Vec::new(),
            live: 0,
            active_refd: 0,
        }
    }

    /// Number of live handles (closing ones included).
    pub(crate) fn live(&self) -> usize {
        self.live
    }

    /// Number of handles that are active and ref'd: what keeps the loop alive.
    pub(crate) fn active_refd(&self) -> usize {
        self.active_refd
    }

    pub(crate) fn insert(
        &mut self,
        kind: HandleKind,
        site: Site,
        active: bool,
        data: D,
    ) -> HandleId {
        let entry = Entry {
            kind,
            refd: true,
            active,
            closing: false,
            site,
            data,
        };
        self.live += 1;
        self.active_refd += usize::from(active);
        if let Some(index) = self.free.pop() {
            let slot = &mut self.slots[index as usize];
            slot.entry = Some(entry);
            HandleId {
                index,
                generation: slot.generation,
            }
        } else {
            let index = u32::try_from(self.slots.len()).unwrap_or_else(|_| {
                // 4 billion live handles cannot fit in memory anyway.
                panic!("evloop: handle table overflow")
            });
            self.slots.push(Slot {
                generation: 0,
                entry: Some(entry),
            });
            HandleId {
                index,
                generation: 0,
            }
        }
    }

    pub(crate) fn get(&self, id: HandleId) -> Result<&Entry<D>> {
        match self.slots.get(id.index()) {
            Some(Slot {
                generation,
                entry: Some(entry),
            }) if *generation == id.generation => Ok(entry),
            _ => Err(Error::StaleHandle),
        }
    }

    pub(crate) fn get_mut(&mut self, id: HandleId) -> Result<&mut Entry<D>> {
        match self.slots.get_mut(id.index()) {
            Some(Slot {
                generation,
                entry: Some(entry),
            }) if *generation == id.generation => Ok(entry),
            _ => Err(Error::StaleHandle),
        }
    }

    /// Like [`Self::get_mut`], but a closing handle is an error too: for operations that start
    /// or change something.
    pub(crate) fn open_mut(&mut self, id: HandleId) -> Result<&mut Entry<D>> {
        let entry = self.get_mut(id)?;
        if entry.closing {
            return Err(Error::Closing);
        }
        Ok(entry)
    }

    pub(crate) fn set_active(&mut self, id: HandleId, active: bool) {
        if let Ok(entry) = self.get_mut(id)
            && entry.active != active
        {
            entry.active = active;
            if entry.refd {
                if active {
                    self.active_refd += 1;
                } else {
                    self.active_refd -= 1;
                }
            }
        }
    }

    pub(crate) fn set_ref(&mut self, id: HandleId, refd: bool) -> Result<()> {
        let entry = self.get_mut(id)?;
        if entry.refd != refd {
            entry.refd = refd;
            if entry.active {
                if refd {
                    self.active_refd += 1;
                } else {
                    self.active_refd -= 1;
                }
            }
        }
        Ok(())
    }

    /// Frees the slot (bumping its generation so the id goes stale) and returns the entry.
    pub(crate) fn remove(&mut self, id: HandleId) -> Option<Entry<D>> {
        self.get(id).ok()?;
        self.set_active(id, false);
        let slot = &mut self.slots[id.index()];
        let entry = slot.entry.take()?;
        slot.generation = slot.generation.wrapping_add(1);
        self.free.push(id.index);
        self.live -= 1;
        Some(entry)
    }

    /// Every live handle, in slot order.
    pub(crate) fn infos(&self) -> Vec<HandleInfo> {
        self.slots
            .iter()
            .enumerate()
            .filter_map(|(index, slot)| {
                let e = slot.entry.as_ref()?;
                Some(HandleInfo {
                    id: HandleId {
                        index: index as u32,
                        generation: slot.generation,
                    },
                    kind: e.kind,
                    refd: e.refd,
                    active: e.active,
                    closing: e.closing,
                    site: e.site,
                })
            })
            .collect()
    }
}
