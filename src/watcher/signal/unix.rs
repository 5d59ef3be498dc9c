//! The Unix backend: POSIX signals through signal-hook's self-pipe, registered with the poller
//! under the handle's id; the poll phase drains the pipe and delivers.

use std::io;

use mio::Interest;
use signal_hook_mio::v1_0::Signals;

use crate::error::{Error, Result};
use crate::event_loop::{HandleData, Loop};
use crate::handle::HandleId;

/// A started handle's self-pipe; dropping it unregisters signal-hook's action.
pub(super) struct Started(Signals);

/// Refuses what signal-hook would panic on (forbidden or out-of-range numbers).
pub(super) fn check_signum(signum: i32) -> Result<()> {
    // signal-hook's slot table holds signal numbers below 128.
    if !(1..128).contains(&signum) || signal_hook::consts::FORBIDDEN.contains(&signum) {
        return Err(Error::Io(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("signal {signum} cannot be watched"),
        )));
    }
    Ok(())
}

/// Installs the signal-hook action and registers its self-pipe with the poller.
pub(super) fn start(lp: &mut Loop, id: HandleId, signum: i32, _start: u64) -> Result<Started> {
    let mut signals = Signals::new([signum])?;
    lp.io_mut().register(&mut signals, id, Interest::READABLE)?;
    Ok(Started(signals))
}

/// Deregisters and drops the self-pipe (which unregisters the action).
pub(super) fn stop(lp: &mut Loop, mut started: Started) {
    // A failure here leaves nothing registered that we could undo anyway.
    lp.io_mut().deregister(&mut started.0);
}

/// Poll-phase dispatch: drain the self-pipe, then one callback for what it held.
pub(super) fn ready(lp: &mut Loop, id: HandleId) {
    let Ok(entry) = lp.handles_mut().get_mut(id) else {
        return;
    };
    let HandleData::Signal(data) = &mut entry.data else {
        return;
    };
    let Some(Started(signals)) = data.started.as_mut() else {
        return; // stopped earlier in this batch
    };
    // `pending` reads the pipe until it is empty, as edge-triggered readiness requires.
    if signals.pending().next().is_some() {
        let start = data.starts;
        lp.signal_deliver(id, start);
    }
}
