//! Signal handles: signals delivered as loop callbacks. The handle, its API and its callback
//! are one piece of code; how a delivery reaches the loop is the platform's backend: POSIX
//! signals through signal-hook's self-pipe ([`unix`]), console control events through the
//! console handler ([`windows`], libuv's `uv_signal` emulation).

use std::panic::Location;

use crate::error::{Error, Result};
use crate::event_loop::{CallbackKind, Phase};
use crate::event_loop::{HandleData, HandleState, Loop, Never};
use crate::handle::{HandleId, HandleKind, handle_type};

#[cfg(unix)]
mod unix;
#[cfg(unix)]
use unix as backend;
#[cfg(windows)]
mod windows;
#[cfg(windows)]
use windows as backend;

handle_type! {
    /// A signal handle from [`Loop::signal`]: runs its callback on the loop thread each time
    /// the process receives the signal (libuv `uv_signal_t`).
    ///
    /// On every platform:
    /// - Every handle gets every delivery: several handles for one signal in one loop, and
    ///   handles in several loops on several threads, each run their callback, in the loop's
    ///   poll phase.
    /// - An active ref'd signal handle keeps the loop alive, as in libuv; [`Handle::unref`]
    ///   it for a "shut down on SIGINT" handle that should not keep an idle server running.
    /// - [`Signal::stop`] and [`Handle::close`] unregister at once: deliveries after that are not
    ///   reported, even ones that arrive while the handle is stopped and then restarted.
    ///
    /// On Unix (POSIX signals):
    /// - Delivery goes through [signal-hook]'s self-pipe: the real handler only writes a byte.
    ///   Several deliveries between two wake-ups are *coalesced* into one call (the kernel
    ///   coalesces pending standard signals too).
    /// - Once any handle watched a signal, signal-hook's process-wide handler stays installed:
    ///   after the last handle closes, the signal is *ignored* rather than taking its default
    ///   action (a closed SIGINT handle does not make Ctrl-C kill the process again).
    /// - `SIGKILL`, `SIGSTOP`, `SIGILL`, `SIGFPE` and `SIGSEGV` cannot be watched.
    ///
    /// On Windows the signals are console control events, as libuv emulates them: `SIGINT`
    /// for Ctrl-C, `SIGBREAK` for Ctrl-Break and `SIGHUP` for the console window closing
    /// (numbers in [`evloop::signal`](crate::signal)); any other number is an `InvalidInput`
    /// error, never a handle that waits for nothing.
    /// - Each event is posted to the loop; events are not coalesced (each runs the callback
    ///   once).
    /// - An event that some handle watches does not end the process; with no handle watching
    ///   it, Windows' default runs (Ctrl-C ends the process), unlike Unix where a signal once
    ///   watched stays ignored.
    /// - After a `SIGHUP` Windows ends the process within a few seconds whatever happens:
    ///   the callback gets those seconds.
    ///
    /// ```
    /// # #[cfg(unix)] {
    /// use evloop::{Handle, Loop};
    /// use evloop::signal::SIGUSR2;
    ///
    /// let mut lp = Loop::new().unwrap();
    /// lp.signal(SIGUSR2, |lp, sig, signum| {
    ///     assert_eq!(signum, SIGUSR2);
    ///     sig.close(lp, |_| println!("got SIGUSR2, handle closed")).unwrap();
    /// })
    /// .unwrap();
    /// signal_hook::low_level::raise(SIGUSR2).unwrap();
    /// lp.run().unwrap(); // the handle kept the loop alive until it closed
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
    /// The backend's registration while started; dropping it unregisters.
    started: Option<backend::Started>,
    /// Counts starts, so a delivery from an earlier start is never reported after a restart.
    starts: u64,
    cb: Option<SignalCallback>,
}

impl HandleState for Box<SignalData> {
    type Event = Never;

    fn stop(lp: &mut Loop, id: HandleId, _kind: HandleKind) {
        lp.signal_stop(id);
    }

    fn ready(lp: &mut Loop, id: HandleId, _event: &mio::event::Event) {
        backend::ready(lp, id);
    }

    fn pending(_lp: &mut Loop, _id: HandleId, never: Never) {
        match never {}
    }
}

/// # Handles: signals
impl Loop {
    /// Watches `signum` (e.g. [`evloop::signal::SIGINT`](crate::signal)): `cb(lp, handle,
    /// signum)` runs on the loop thread after each delivery. The handle starts active. See
    /// [`Signal`] for the delivery rules on each platform.
    ///
    /// Errors: a number that cannot be watched here is an
    /// [`io::ErrorKind::InvalidInput`](std::io::ErrorKind::InvalidInput) error naming it (on
    /// Unix `SIGKILL`, `SIGSTOP`, `SIGILL`, `SIGFPE`, `SIGSEGV` and out-of-range numbers; on
    /// Windows anything but `SIGINT`, `SIGBREAK` and `SIGHUP`); an OS error setting up the
    /// delivery (the self-pipe, the handler) is [`Error::Io`].
    #[track_caller]
    pub fn signal(
        &mut self,
        signum: i32,
        cb: impl FnMut(&mut Self, Signal, i32) + 'static,
    ) -> Result<Signal> {
        let site = Location::caller();
        backend::check_signum(signum)?;
        let data = SignalData {
            signum,
            started: None,
            starts: 0,
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

    /// Starts the backend's delivery and marks the handle active.
    fn signal_register(&mut self, id: HandleId) -> Result<()> {
        let data = self.signal_data(id)?;
        data.starts += 1;
        let (signum, start) = (data.signum, data.starts);
        let started = backend::start(self, id, signum, start)?;
        self.signal_data(id)?.started = Some(started);
        self.handles_mut().set_active(id, true);
        Ok(())
    }

    /// Stops the backend's delivery; used by `stop` and `close`.
    pub(crate) fn signal_stop(&mut self, id: HandleId) {
        let Ok(data) = self.signal_data(id) else {
            return;
        };
        if let Some(started) = data.started.take() {
            backend::stop(self, started);
        }
        self.handles_mut().set_active(id, false);
    }

    /// A delivery (poll phase): the callback, if the handle is still in the start that saw
    /// it. `signum` is what the backend saw delivered.
    fn signal_deliver(&mut self, id: HandleId, start: u64) {
        let Ok(entry) = self.handles_mut().get_mut(id) else {
            return;
        };
        let site = entry.site;
        let HandleData::Signal(data) = &mut entry.data else {
            return;
        };
        if data.started.is_none() || data.starts != start {
            return; // stopped (or stopped and started again) since the delivery
        }
        let signum = data.signum;
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
