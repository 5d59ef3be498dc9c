//! The Windows backend: console control events as signals (libuv's `uv_signal` emulation).
//! The console handler runs on a thread of its own and posts each event to the loop, tagged
//! with the start it belongs to.

use std::io;

use crate::error::{Error, Result};
use crate::event_loop::Loop;
use crate::handle::HandleId;
use crate::sys::console::{self, Registration, SIGBREAK, SIGHUP, SIGINT};

/// A started handle's place among the console handler's watchers; dropping it unregisters.
pub(super) struct Started {
    _registration: Registration,
}

/// Only the console events libuv emulates exist on Windows.
pub(super) fn check_signum(signum: i32) -> Result<()> {
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

/// Adds the handle to the console handler's watchers: each event posts a delivery to this
/// loop, tagged with `start`.
pub(super) fn start(lp: &mut Loop, id: HandleId, signum: i32, start: u64) -> Result<Started> {
    let sender = lp.weak_sender();
    let deliver = Box::new(move || {
        // A loop that is gone has nobody to tell.
        let _ = sender.post(move |lp| lp.signal_deliver(id, start));
    });
    Ok(Started {
        _registration: console::watch(signum, deliver)?,
    })
}

/// Unregisters (by dropping the registration).
pub(super) fn stop(_lp: &mut Loop, started: Started) {
    drop(started);
}

/// Never registered with the poller: events come through the loop's inbox.
pub(super) fn ready(_lp: &mut Loop, _id: HandleId) {}

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
                "watcher::signal::windows::tests::a_ctrl_break_from_the_os_reaches_a_sigbreak_handle",
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
