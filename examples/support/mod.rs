//! What the example servers share: claiming the port their loops listen on, watching the
//! stop signals, and reading `HOST:PORT` and counts from the command line. (Not an example of
//! its own: `echo.rs` and `http/main.rs` include it with `#[path]`.)

use std::io;
use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::{Arc, Mutex, PoisonError};

use evloop::LoopSender;
use evloop::net::TcpListenOptions;

/// The port the loops listen on, and how they share it.
pub(crate) struct Claimed {
    /// The address, with the port fixed when the caller asked for port 0.
    pub(crate) addr: SocketAddr,
    /// Where `SO_REUSEPORT` is missing: the one listening socket every loop accepts from.
    shared: Option<Arc<std::net::TcpListener>>,
}

impl Claimed {
    /// Each loop's listen options: `SO_REUSEPORT`, or a copy of the shared socket.
    pub(crate) fn options(&self) -> TcpListenOptions {
        match &self.shared {
            Some(listener) => TcpListenOptions::new().shared(listener),
            None => TcpListenOptions::new().reuse_port(true),
        }
    }
}

/// Binds `addr` once without `SO_REUSEPORT`: that fails if any other socket holds the port
/// (another process's `SO_REUSEPORT` listeners included), which a listener that sets the
/// option would silently share with; and it fixes the port when `addr` asks for port 0. On
/// Unix it lets the probe go, and our loops bind the port with `SO_REUSEPORT`, so they share it
/// among themselves only (a process starting in the instant between the two binds could still
/// slip in). On Windows, which has no `SO_REUSEPORT`, the probe is kept and shared by the
/// loops.
pub(crate) fn claim_port(addr: SocketAddr) -> Result<Claimed, String> {
    let probe = std::net::TcpListener::bind(addr).map_err(|e| {
        format!("cannot listen on {addr}: {e} (is another server running on this port?)")
    })?;
    let addr = probe
        .local_addr()
        .map_err(|e| format!("cannot listen on {addr}: {e}"))?;
    let shared = cfg!(windows).then(|| Arc::new(probe));
    Ok(Claimed { addr, shared })
}

/// `HOST:PORT` with a name or an address (`localhost:8080`, `[::1]:0`): the first address the
/// name resolves to.
pub(crate) fn resolve(value: &str) -> Result<SocketAddr, String> {
    let mut addrs = value
        .to_socket_addrs()
        .map_err(|e| format!("--addr {value}: {e} (want HOST:PORT)"))?;
    addrs
        .next()
        .ok_or(format!("--addr {value}: the name has no address"))
}

/// A whole number in `1..=max`.
pub(crate) fn count(flag: &str, value: &str, max: usize) -> Result<usize, String> {
    value
        .parse::<usize>()
        .ok()
        .filter(|n| (1..=max).contains(n))
        .ok_or(format!(
            "{flag} {value}: want a whole number from 1 to {max}"
        ))
}

/// The loops' senders once every loop has started (`None` until then).
pub(crate) type Started = Arc<Mutex<Option<Vec<LoopSender>>>>;

/// Takes the senders for a stop, or exits at once when the loops have not all started yet
/// (a signal during start-up must not wait for the rest of it).
fn take_started(name: &str, started: &Started, signal: i32) -> Vec<LoopSender> {
    let taken = started
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .take();
    taken.unwrap_or_else(|| {
        eprintln!("{name}: signal {signal} during start-up: exiting");
        std::process::exit(128 + signal);
    })
}

fn second_signal(name: &str) -> ! {
    eprintln!("{name}: second signal, exiting without waiting");
    std::process::exit(1);
}

/// Watches SIGINT and SIGTERM on a thread, registered before any loop starts. Until every
/// loop has started (`started` still `None`) a signal exits at once; after, the first one
/// calls `stop` with every loop's sender and the signal, and a second one exits without
/// waiting. `name` prefixes the messages.
#[cfg(unix)]
pub(crate) fn watch_signals(
    name: &'static str,
    started: Started,
    stop: impl FnOnce(&[LoopSender], i32) + Send + 'static,
) -> io::Result<()> {
    use signal_hook::consts::{SIGINT, SIGTERM};
    let mut signals = signal_hook::iterator::Signals::new([SIGINT, SIGTERM])?;
    std::thread::spawn(move || {
        let mut forever = signals.forever();
        let Some(signal) = forever.next() else {
            return;
        };
        stop(&take_started(name, &started, signal), signal);
        if forever.next().is_some() {
            second_signal(name);
        }
    });
    Ok(())
}

/// Windows: Ctrl-C and Ctrl-Break, watched as evloop signals on a loop of their own thread,
/// with the same rules as the Unix signals.
#[cfg(windows)]
pub(crate) fn watch_signals(
    name: &'static str,
    started: Started,
    stop: impl FnOnce(&[LoopSender], i32) + Send + 'static,
) -> io::Result<()> {
    use std::cell::{Cell, RefCell};
    use std::rc::Rc;

    use evloop::Loop;
    use evloop::signal::{SIGBREAK, SIGINT};

    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let seen = Rc::new(Cell::new(false));
        let stop = Rc::new(RefCell::new(Some(stop)));
        let watching = Loop::new().map_err(evloop::Error::from).and_then(|mut lp| {
            for signum in [SIGINT, SIGBREAK] {
                let (seen, started, stop) = (seen.clone(), started.clone(), stop.clone());
                lp.signal(signum, move |_, _, signal| {
                    if seen.replace(true) {
                        second_signal(name);
                    }
                    let senders = take_started(name, &started, signal);
                    if let Some(stop) = stop.borrow_mut().take() {
                        stop(&senders, signal);
                    }
                })?;
            }
            Ok(lp)
        });
        match watching {
            Ok(mut lp) => {
                let _ = ready_tx.send(Ok(()));
                let _ = lp.run();
            }
            Err(e) => drop(ready_tx.send(Err(io::Error::other(e.to_string())))),
        }
    });
    ready_rx
        .recv()
        .map_err(|_| io::Error::other("the signal thread ended"))?
}
