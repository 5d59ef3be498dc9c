//! Signal handles on Windows: console control events as signals (libuv's `uv_signal`
//! emulation), delivered as loop callbacks.

use std::io;
use std::panic::Location;

use crate::error::{Error, Result};
use crate::event_loop::{CallbackKind, Phase};
use crate::event_loop::{HandleData, HandleState, Loop, Never};
use crate::handle::{HandleId, HandleKind, handle_type};
use crate::sys::console::{self, Registration, SIGBREAK, SIGHUP, SIGINT};

handle_type! {
    /// A signal handle from [`Loop::signal`]: runs its callback on the loop thread each time
    /// the process receives the signal (libuv `uv_signal_t`).
    ///
    /// On Windows the signals are console control events, as libuv emulates them: `SIGINT`
    /// for Ctrl-C, `SIGBREAK` for Ctrl-Break and `SIGHUP` for the console window closing
    /// (numbers in [`evloop::signal`](crate::signal)); any other number is an `InvalidInput`
    /// error, never a handle that waits for nothing.
    ///
    /// - Each event is posted to the loop and its callback runs in the poll phase; events are
    ///   not coalesced (each runs the callback once).
    /// - Every handle gets every delivery, in every loop.
    /// - An event that some handle watches does not end the process; with no handle watching
    ///   it, Windows' default runs (Ctrl-C ends the process), unlike Unix where a signal once
    ///   watched stays ignored.
    /// - After a `SIGHUP` Windows ends the process within a few seconds whatever happens:
    ///   the callback gets those seconds.
    /// - An active ref'd handle keeps the loop alive; [`stop`](Self::stop) and close
    ///   unregister at once, and events that arrive while stopped are never reported.
    Signal
}

type SignalCallback = Box<dyn FnMut(&mut Loop, Signal, i32)>;

pub(crate) struct SignalData {
    signum: i32,
    /// The watcher while started; dropping it unregisters.
    registration: Option<Registration>,
    /// Counts starts, so an event posted before a stop is not delivered after a restart.
    serial: u64,
    cb: Option<SignalCallback>,
}

impl HandleState for Box<SignalData> {
    type Event = Never;

    fn stop(lp: &mut Loop, id: HandleId, _kind: HandleKind) {
        lp.signal_stop(id);
    }

    fn ready(_lp: &mut Loop, _id: HandleId, _event: &mio::event::Event) {
        // Never registered with the poller: events come through the loop's inbox.
    }

    fn pending(_lp: &mut Loop, _id: HandleId, never: Never) {
        match never {}
    }
}

/// # Handles: signals
impl Loop {
    /// Watches `signum` (on Windows: [`SIGINT`](crate::signal::SIGINT),
    /// [`SIGBREAK`](crate::signal::SIGBREAK) or [`SIGHUP`](crate::signal::SIGHUP)):
    /// `cb(lp, handle, signum)` runs on the loop thread after each event. The handle starts
    /// active. See [`Signal`] for the delivery rules.
    ///
    /// Errors: any other number is an [`io::ErrorKind::InvalidInput`] error; a failure to
    /// install the console handler is [`Error::Io`].
    #[track_caller]
    pub fn signal(
        &mut self,
        signum: i32,
        cb: impl FnMut(&mut Self, Signal, i32) + 'static,
    ) -> Result<Signal> {
        let site = Location::caller();
        check_signum(signum)?;
        let data = SignalData {
            signum,
            registration: None,
            serial: 0,
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

    /// Adds this handle to the console handler's watchers: each event posts a delivery to
    /// this loop, tagged with the start it belongs to.
    fn signal_register(&mut self, id: HandleId) -> Result<()> {
        let sender = self.weak_sender();
        let data = self.signal_data(id)?;
        data.serial += 1;
        let (signum, serial) = (data.signum, data.serial);
        let deliver = Box::new(move || {
            // A loop that is gone has nobody to tell.
            let _ = sender.post(move |lp| lp.signal_deliver(id, serial));
        });
        let registration = console::watch(signum, deliver)?;
        self.signal_data(id)?.registration = Some(registration);
        self.handles_mut().set_active(id, true);
        Ok(())
    }

    /// Unregisters; used by `stop` and `close`.
    pub(crate) fn signal_stop(&mut self, id: HandleId) {
        let Ok(data) = self.signal_data(id) else {
            return;
        };
        data.registration = None;
        self.handles_mut().set_active(id, false);
    }

    /// A posted event (poll phase): the callback, if the handle is still in the start that
    /// saw the event.
    fn signal_deliver(&mut self, id: HandleId, serial: u64) {
        let Ok(entry) = self.handles_mut().get_mut(id) else {
            return;
        };
        let site = entry.site;
        let HandleData::Signal(data) = &mut entry.data else {
            return;
        };
        if data.registration.is_none() || data.serial != serial {
            return; // stopped (or stopped and started again) since the event
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

/// Only the console events libuv emulates exist on Windows.
fn check_signum(signum: i32) -> Result<()> {
    if [SIGINT, SIGBREAK, SIGHUP].contains(&signum) {
        return Ok(());
    }
    Err(Error::Io(io::Error::new(
        io::ErrorKind::InvalidInput,
        format!(
            "signal {signum} cannot be watched on Windows: only SIGINT ({SIGINT}, Ctrl-C), \
             SIGBREAK ({SIGBREAK}, Ctrl-Break) and SIGHUP ({SIGHUP}, console closed) exist"
        ),
    )))
}

impl Signal {
    /// The signal number this handle watches.
    pub fn signum(self, lp: &Loop) -> Result<i32> {
        match &lp.handles().get(self.0)?.data {
            HandleData::Signal(s) => Ok(s.signum),
            _ => Err(Error::StaleHandle),
        }
    }

    /// Starts watching again after [`stop`](Self::stop). Events that happened while stopped
    /// are not reported. Starting an active handle does nothing.
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

#[cfg(test)]
mod tests {
    use std::cell::RefCell;
    use std::rc::Rc;

    use windows_sys::Win32::System::Console::{
        CTRL_BREAK_EVENT, CTRL_C_EVENT, CTRL_CLOSE_EVENT, CTRL_LOGOFF_EVENT,
    };

    use super::*;
    use crate::Handle;

    // One test: the console handler is process-wide, and these events must not meet another
    // test's watchers.
    #[test]
    fn console_events_reach_every_handle_of_their_signal_and_stop_means_stop() {
        let mut lp = Loop::new().unwrap();
        let log = Rc::new(RefCell::new(Vec::new()));
        let (a, b, c) = (log.clone(), log.clone(), log.clone());
        let int1 = lp
            .signal(SIGINT, move |_, _, n| a.borrow_mut().push(("int1", n)))
            .unwrap();
        let int2 = lp
            .signal(SIGINT, move |_, _, n| b.borrow_mut().push(("int2", n)))
            .unwrap();
        let brk = lp
            .signal(SIGBREAK, move |lp, sig, n| {
                c.borrow_mut().push(("break", n));
                sig.close(lp, |_| {}).unwrap();
            })
            .unwrap();
        assert_eq!(int1.signum(&lp).unwrap(), SIGINT);
        // What Windows' call of the handler does (GenerateConsoleCtrlEvent would reach every
        // process on the console, the test runner's too).
        assert!(console::dispatch(CTRL_C_EVENT));
        assert!(console::dispatch(CTRL_BREAK_EVENT));
        assert!(
            !console::dispatch(CTRL_CLOSE_EVENT),
            "nobody watches SIGHUP"
        );
        assert!(!console::dispatch(CTRL_LOGOFF_EVENT), "not reported");
        assert!(
            log.borrow().is_empty(),
            "delivered on the loop, not in the handler"
        );
        lp.run_mode(crate::RunMode::NoWait).unwrap();
        let mut got = log.borrow_mut().split_off(0);
        got.sort_unstable();
        assert_eq!(
            got,
            [("break", SIGBREAK), ("int1", SIGINT), ("int2", SIGINT)]
        );
        // An event before a stop is not delivered after it, even once started again.
        assert!(console::dispatch(CTRL_C_EVENT));
        int1.stop(&mut lp).unwrap();
        int1.start(&mut lp).unwrap();
        lp.run_mode(crate::RunMode::NoWait).unwrap();
        assert_eq!(log.borrow().as_slice(), [("int2", SIGINT)]);
        for sig in [int1, int2] {
            sig.close(&mut lp, |_| {}).unwrap();
        }
        lp.run().unwrap();
        assert!(
            !console::dispatch(CTRL_C_EVENT),
            "closed handles unregister"
        );
        assert!(!lp.alive());
        let err = lp.signal(15, |_, _, _| {}).unwrap_err();
        assert!(
            err.to_string().contains("signal 15 cannot be watched"),
            "{err}"
        );
        let _ = brk;
    }

    /// A real Ctrl-Break from the OS (`GenerateConsoleCtrlEvent`), in a child process that
    /// leads its own process group, so the event reaches nobody else.
    #[test]
    #[ignore = "wine 8 gives the test process no console: GenerateConsoleCtrlEvent fails with \
                ERROR_INVALID_ACCESS (AllocConsole does not help); meant for real Windows"]
    fn a_ctrl_break_from_the_os_reaches_a_sigbreak_handle() {
        const CHILD: &str = "EVLOOP_CTRL_BREAK_CHILD";
        if std::env::var_os(CHILD).is_some() {
            let mut lp = Loop::new().unwrap();
            let got = Rc::new(RefCell::new(None));
            let g = got.clone();
            lp.signal(SIGBREAK, move |lp, sig, n| {
                *g.borrow_mut() = Some(n);
                sig.close(lp, |_| {}).unwrap();
            })
            .unwrap();
            console::raise_ctrl_break(std::process::id()).unwrap();
            let timeout = lp.set_timeout(std::time::Duration::from_secs(10), |_, _| {});
            timeout.unref(&mut lp).unwrap();
            lp.run().unwrap();
            assert_eq!(*got.borrow(), Some(SIGBREAK), "no Ctrl-Break within 10 s");
            return;
        }
        use std::os::windows::process::CommandExt;
        const CREATE_NEW_PROCESS_GROUP: u32 = 0x200;
        let output = std::process::Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "watcher::signal::tests::a_ctrl_break_from_the_os_reaches_a_sigbreak_handle",
                "--test-threads=1",
            ])
            .env(CHILD, "1")
            .creation_flags(CREATE_NEW_PROCESS_GROUP)
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(output.status.success(), "{output:?}");
        assert!(stdout.contains("1 passed"), "{stdout}");
    }
}
