//! Application state the loop holds for its callbacks: typed loop-wide state
//! ([`Loop::insert_state`], [`Loop::state`], [`Loop::with_state`]) and per-handle user data
//! ([`Handle::set_data`](crate::Handle::set_data), libuv's `handle->data`).
//!
//! Every callback already receives `&mut Loop`; state kept *in* the loop is reached through it,
//! so a program needs no `Rc<RefCell<…>>`. [`Loop::with_state`] lends a state value out of the
//! loop for the duration of a closure, so the closure holds both `&mut Loop` and `&mut T`;
//! asking for the same `T` again while it is lent is an error ([`Error::StateInUse`]) or
//! `None`, never a panic.

use std::any::{Any, TypeId, type_name};
use std::collections::HashMap;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};

use crate::error::{Error, Result};
use crate::event_loop::Loop;
use crate::handle::HandleId;

enum Slot {
    Here(Box<dyn Any>),
    /// Taken out by `with_state` for the duration of its closure.
    Lent,
}

/// What the loop keeps for the application.
#[derive(Default)]
pub(crate) struct UserState {
    by_type: HashMap<TypeId, Slot>,
    handle_data: HashMap<HandleId, Box<dyn Any>>,
}

impl UserState {
    /// Drops the user data of a handle whose slot was freed.
    pub(crate) fn handle_freed(&mut self, id: HandleId) {
        if !self.handle_data.is_empty() {
            self.handle_data.remove(&id);
        }
    }

    pub(crate) fn set_handle_data(&mut self, id: HandleId, value: Box<dyn Any>) {
        self.handle_data.insert(id, value);
    }

    pub(crate) fn handle_data(&self, id: HandleId) -> Option<&dyn Any> {
        self.handle_data.get(&id).map(|b| &**b)
    }

    pub(crate) fn handle_data_mut(&mut self, id: HandleId) -> Option<&mut Box<dyn Any>> {
        self.handle_data.get_mut(&id)
    }

    pub(crate) fn take_handle_data(&mut self, id: HandleId) -> Option<Box<dyn Any>> {
        self.handle_data.remove(&id)
    }
}

/// # Application state
///
/// Values the loop owns for the program, one per type, reached from any callback through the
/// `&mut Loop` it receives.
///
/// ```
/// use std::time::Duration;
/// use evloop::Loop;
///
/// #[derive(Default)]
/// struct Stats { ticks: u32 }
///
/// # fn main() -> Result<(), evloop::Error> {
/// let mut lp = Loop::new()?;
/// lp.insert_state(Stats::default());
/// lp.set_interval(Duration::from_millis(1), |lp, timer| {
///     let stats = lp.state::<Stats>().expect("inserted above");
///     stats.ticks += 1;
///     if stats.ticks == 3 {
///         timer.clear(lp);
///     }
/// });
/// lp.run()?;
/// assert_eq!(lp.state::<Stats>().map(|s| s.ticks), Some(3));
/// # Ok(())
/// # }
/// ```
impl Loop {
    /// Stores `value` as the loop's state of type `T`, returning the previous one. Inserting
    /// while [`with_state`](Self::with_state) lends the `T` out replaces the lent value: it is
    /// dropped when that closure returns, and `None` is returned here.
    pub fn insert_state<T: 'static>(&mut self, value: T) -> Option<T> {
        let old = self
            .user_mut()
            .by_type
            .insert(TypeId::of::<T>(), Slot::Here(Box::new(value)));
        match old {
            Some(Slot::Here(b)) => b.downcast::<T>().ok().map(|b| *b),
            _ => None,
        }
    }

    /// The loop's state of type `T`; `None` if there is none, or while
    /// [`with_state`](Self::with_state) lends it out.
    pub fn state<T: 'static>(&mut self) -> Option<&mut T> {
        match self.user_mut().by_type.get_mut(&TypeId::of::<T>()) {
            Some(Slot::Here(b)) => b.downcast_mut::<T>(),
            _ => None,
        }
    }

    /// Shared access to the loop's state of type `T` (as [`state`](Self::state)).
    pub fn state_ref<T: 'static>(&self) -> Option<&T> {
        match self.user().by_type.get(&TypeId::of::<T>()) {
            Some(Slot::Here(b)) => b.downcast_ref::<T>(),
            _ => None,
        }
    }

    /// Takes the loop's state of type `T` out of the loop; `None` if there is none or it is
    /// lent out.
    pub fn remove_state<T: 'static>(&mut self) -> Option<T> {
        let map = &mut self.user_mut().by_type;
        match map.get(&TypeId::of::<T>()) {
            Some(Slot::Here(_)) => match map.remove(&TypeId::of::<T>()) {
                Some(Slot::Here(b)) => b.downcast::<T>().ok().map(|b| *b),
                _ => None,
            },
            _ => None,
        }
    }

    /// Lends the loop's state of type `T` to `f` together with the loop, then puts it back
    /// (even if `f` panics). Inside `f`, the same `T` is lent out: [`state`](Self::state)
    /// answers `None` and a nested `with_state::<T>` fails with [`Error::StateInUse`]; other
    /// types are reachable as usual.
    ///
    /// Errors: [`Error::NoState`] if there is no `T`, [`Error::StateInUse`] if it is already
    /// lent (`f` is then not called).
    ///
    /// ```
    /// use evloop::Loop;
    ///
    /// struct Peers(Vec<u32>);
    ///
    /// # fn main() -> Result<(), evloop::Error> {
    /// let mut lp = Loop::new()?;
    /// lp.insert_state(Peers(vec![1, 2, 3]));
    /// let sum = lp.with_state(|lp, peers: &mut Peers| {
    ///     // Both the loop and the state are at hand: start timers, write to streams...
    ///     assert!(lp.with_state(|_, _: &mut Peers| ()).is_err()); // lent out: an error
    ///     peers.0.iter().sum::<u32>()
    /// })?;
    /// assert_eq!(sum, 6);
    /// # Ok(())
    /// # }
    /// ```
    pub fn with_state<T: 'static, R>(
        &mut self,
        f: impl FnOnce(&mut Self, &mut T) -> R,
    ) -> Result<R> {
        let key = TypeId::of::<T>();
        let boxed = match self.user_mut().by_type.get_mut(&key) {
            None => return Err(Error::NoState(type_name::<T>())),
            Some(Slot::Lent) => return Err(Error::StateInUse(type_name::<T>())),
            Some(slot) => match std::mem::replace(slot, Slot::Lent) {
                Slot::Here(b) => b,
                Slot::Lent => return Err(Error::StateInUse(type_name::<T>())),
            },
        };
        let mut boxed = match boxed.downcast::<T>() {
            Ok(b) => b,
            // Keyed by `TypeId`, so this cannot be another type; put it back regardless.
            Err(other) => {
                self.user_mut().by_type.insert(key, Slot::Here(other));
                return Err(Error::NoState(type_name::<T>()));
            }
        };
        let outcome = catch_unwind(AssertUnwindSafe(|| f(self, &mut boxed)));
        let map = &mut self.user_mut().by_type;
        if let Some(slot @ Slot::Lent) = map.get_mut(&key) {
            *slot = Slot::Here(boxed);
        }
        // Otherwise `f` inserted a replacement or removed the entry: the lent value is dropped.
        match outcome {
            Ok(r) => Ok(r),
            Err(panic) => resume_unwind(panic),
        }
    }
}
