//! Signal handles: POSIX signals delivered as loop callbacks, through signal-hook's self-pipe.

use std::io;
use std::panic::Location;

use mio::Interest;
use signal_hook_mio::v1_0::Signals;

use crate::error::{Error, Result};
use crate::event_loop::{CallbackKind, Phase};
use crate::event_loop::{HandleData, HandleState, Loop, Never};
use crate::handle::{HandleId, HandleKind, handle_type};

handle_type! {
    /// A signal handle from [`Loop::signal`]: runs its callback on the loop thread each time
    /// the process receives the signal (libuv `uv_signal_t`).
    ///
    /// - Delivery goes through [signal-hook]'s self-pipe: the real handler only writes a byte,
    ///   the callback runs in the loop's poll phase. Several deliveries between two wake-ups
    ///   are *coalesced* into one call (the kernel coalesces pending standard signals too).
    /// - Every handle gets every delivery: several handles for one signal in one loop, and
    ///   handles in several loops on several threads, each run their callback.
    /// - An active ref'd signal handle keeps the loop alive, as in libuv; [`Handle::unref`]
    ///   it for a "shut down on SIGINT" handle that should not keep an idle server running.
    /// - [`Signal::stop`] and [`Handle::close`] unregister at once: deliveries after that are not
    ///   reported, even ones that arrive while the handle is stopped and then restarted.
    /// - Once any handle watched a signal, signal-hook's process-wide handler stays installed:
    ///   after the last handle closes, the signal is *ignored* rather than taking its default
    ///   action (a closed SIGINT handle does not make Ctrl-C kill the process again).
    /// - `SIGKILL`, `SIGSTOP`, `SIGILL`, `SIGFPE` and `SIGSEGV` cannot be watched.
    ///
    /// ```
    /// use evloop::{Handle, Loop};
    /// use signal_hook::consts::SIGUSR2;
    ///
    /// # fn main() -> Result<(), evloop::Error> {
    /// let mut lp = Loop::new()?;
    /// lp.signal(SIGUSR2, |lp, sig, signum| {
    ///     assert_eq!(signum, SIGUSR2);
    ///     sig.close(lp, |_| println!("got SIGUSR2, handle closed")).unwrap();
    /// })?;
    /// signal_hook::low_level::raise(SIGUSR2)?;
    /// lp.run()?; // the handle kept the loop alive until it closed
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// [signal-hook]: https://docs.rs/signal-hook
    /// [`Handle::unref`]: crate::Handle::unref
    /// [`Handle::close`]: crate::Handle::close
    Signal
}

type SignalCallback = Box<dyn FnMut(&mut Loop, Signal, i32)>;

pub(crate) struct SignalData {
    signum: i32,
    /// The self-pipe registration while started; dropping it unregisters signal-hook's action.
    signals: Option<Signals>,
    cb: Option<SignalCallback>,
}

impl HandleState for Box<SignalData> {
    type Event = Never;

    fn stop(lp: &mut Loop, id: HandleId, _kind: HandleKind) {
        lp.signal_stop(id);
    }

    fn ready(lp: &mut Loop, id: HandleId, _event: &mio::event::Event) {
        lp.signal_ready(id);
    }

    fn pending(_lp: &mut Loop, _id: HandleId, never: Never) {
        match never {}
    }
}

/// # Handles: signals
impl Loop {
    /// Watches `signum` (e.g. `signal_hook::consts::SIGINT`): `cb(lp, handle, signum)` runs on
    /// the loop thread after each delivery. The handle starts active. See [`Signal`] for the
    /// delivery rules.
    ///
    /// Errors: an invalid or forbidden signal number (`SIGKILL`, `SIGSTOP`, `SIGILL`, `SIGFPE`,
    /// `SIGSEGV`) is an [`io::ErrorKind::InvalidInput`] error; OS errors setting up the
    /// self-pipe or the handler as [`Error::Io`].
    #[track_caller]
    pub fn signal(
        &mut self,
        signum: i32,
        cb: impl FnMut(&mut Self, Signal, i32) + 'static,
    ) -> Result<Signal> {
        let site = Location::caller();
        let data = SignalData {
            signum,
            signals: None,
            cb: Some(Box::new(cb)),
        };
        let id = self.handles_mut().insert(
            HandleKind::Signal,
            site,
            false,
            HandleData::Signal(Box::new(data)),
        );
        if let Err(e) = self.signal_register(id) {
            self.handles_mut().remove(id);
            return Err(e);
        }
        Ok(Signal(id))
    }

    fn signal_data(&mut self, id: HandleId) -> Result<&mut SignalData> {
        match &mut self.handles_mut().get_mut(id)?.data {
            HandleData::Signal(s) => Ok(s),
            _ => Err(Error::StaleHandle),
        }
    }

    /// Installs the signal-hook action and registers its self-pipe with the poller.
    fn signal_register(&mut self, id: HandleId) -> Result<()> {
        let signum = self.signal_data(id)?.signum;
        check_signum(signum)?;
        let mut signals = Signals::new([signum])?;
        self.io_mut()
            .register(&mut signals, id, Interest::READABLE)?;
        self.signal_data(id)?.signals = Some(signals);
        self.handles_mut().set_active(id, true);
        Ok(())
    }

    /// Deregisters and drops the self-pipe (which unregisters the action); used by `stop` and
    /// `close`.
    pub(crate) fn signal_stop(&mut self, id: HandleId) {
        let Ok(data) = self.signal_data(id) else {
            return;
        };
        if let Some(mut signals) = data.signals.take() {
            // A failure here leaves nothing registered that we could undo anyway.
            self.io_mut().deregister(&mut signals);
        }
        self.handles_mut().set_active(id, false);
    }

    /// Poll-phase dispatch: drain the self-pipe, then one callback per signal seen.
    pub(crate) fn signal_ready(&mut self, id: HandleId) {
        let Ok(entry) = self.handles_mut().get_mut(id) else {
            return;
        };
        let site = entry.site;
        let HandleData::Signal(data) = &mut entry.data else {
            return;
        };
        let Some(signals) = data.signals.as_mut() else {
            return; // stopped earlier in this batch
        };
        // `pending` reads the pipe until it is empty, as edge-triggered readiness requires.
        let fired = signals.pending().next();
        let Some(signum) = fired else { return };
        let Some(cb) = data.cb.take() else { return };
        self.invoke_restoring(
            Phase::Poll,
            CallbackKind::Signal,
            site,
            cb,
            |lp, cb| cb(lp, Signal(id), signum),
            |lp, cb| {
                if let Ok(data) = lp.signal_data(id)
                    && data.cb.is_none()
                {
                    data.cb = Some(cb);
                }
            },
        );
    }
}

/// Refuses what signal-hook would panic on (forbidden or out-of-range numbers).
fn check_signum(signum: i32) -> Result<()> {
    // signal-hook's slot table holds signal numbers below 128.
    if !(1..128).contains(&signum) || signal_hook::consts::FORBIDDEN.contains(&signum) {
        return Err(Error::Io(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("signal {signum} cannot be watched"),
        )));
    }
    Ok(())
}

impl Signal {
    /// The signal number this handle watches.
    pub fn signum(self, lp: &Loop) -> Result<i32> {
        match &lp.handles().get(self.0)?.data {
            HandleData::Signal(s) => Ok(s.signum),
            _ => Err(Error::StaleHandle),
        }
    }

    /// Starts watching again after [`stop`](Self::stop). Deliveries that happened while
    /// stopped are not reported. Starting an active handle does nothing.
    pub fn start(self, lp: &mut Loop) -> Result<()> {
        let entry = lp.handles_mut().open_mut(self.0)?;
        if entry.active {
            return Ok(());
        }
        lp.signal_register(self.0)
    }

    /// Stops watching: the callback does not run again until [`start`](Self::start); a stopped
    /// handle does not keep the loop alive. Stopping an inactive handle does nothing.
    pub fn stop(self, lp: &mut Loop) -> Result<()> {
        lp.handles().get(self.0)?;
        lp.signal_stop(self.0);
        Ok(())
    }

    /// Replaces the callback (takes effect from the next delivery).
    pub fn set_callback(
        self,
        lp: &mut Loop,
        cb: impl FnMut(&mut Loop, Self, i32) + 'static,
    ) -> Result<()> {
        lp.handles_mut().open_mut(self.0)?;
        lp.signal_data(self.0)?.cb = Some(Box::new(cb));
        Ok(())
    }
}
