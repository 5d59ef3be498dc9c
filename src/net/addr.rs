//! Addresses from strings and host names: [`ToAddrs`], [`TcpListener::bind`] and
//! [`TcpStream::connect`] (resolved on the pool, every address tried in order).

use std::io;
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::panic::Location;

use super::tcp::{TcpListener, TcpStream};
#[cfg(unix)]
use crate::dns;
use crate::error::{Error, Result};
use crate::event_loop::{CallbackKind, Loop};
use crate::handle::Handle;

/// Where to listen or connect: socket addresses, or a host name and port to resolve.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Addrs {
    /// Addresses, tried in order.
    Resolved(Vec<SocketAddr>),
    /// A host name (resolved on the thread pool when connecting) and a port.
    Name(String, u16),
}

impl Addrs {
    fn shown(&self) -> String {
        match self {
            Self::Resolved(addrs) => match addrs.as_slice() {
                [one] => one.to_string(),
                many => format!("{many:?}"),
            },
            Self::Name(host, port) => format!("{host}:{port}"),
        }
    }
}

/// What [`TcpListener::bind`] and [`TcpStream::connect`] accept: `"127.0.0.1:8080"`,
/// `"[::1]:80"`, `"localhost:7000"`, `("example.org", 80)`, a `SocketAddr`, `(IpAddr, u16)`, or
/// a list of addresses to try in order.
pub trait ToAddrs {
    /// The addresses or name; `InvalidInput` (naming the input) for a string that is not
    /// `HOST:PORT`.
    fn to_addrs(&self) -> Result<Addrs>;
}

impl ToAddrs for SocketAddr {
    fn to_addrs(&self) -> Result<Addrs> {
        Ok(Addrs::Resolved(vec![*self]))
    }
}

impl ToAddrs for (IpAddr, u16) {
    fn to_addrs(&self) -> Result<Addrs> {
        Ok(Addrs::Resolved(vec![SocketAddr::from(*self)]))
    }
}

impl ToAddrs for (&str, u16) {
    fn to_addrs(&self) -> Result<Addrs> {
        let host = self.0.trim_start_matches('[').trim_end_matches(']');
        Ok(match host.parse::<IpAddr>() {
            Ok(ip) => Addrs::Resolved(vec![SocketAddr::new(ip, self.1)]),
            Err(_) => Addrs::Name(host.to_owned(), self.1),
        })
    }
}

impl ToAddrs for str {
    fn to_addrs(&self) -> Result<Addrs> {
        if let Ok(addr) = self.parse::<SocketAddr>() {
            return Ok(Addrs::Resolved(vec![addr]));
        }
        let bad = || {
            Error::named(
                io::Error::new(io::ErrorKind::InvalidInput, "expected HOST:PORT"),
                "parse address",
                format!("{self:?}"),
            )
        };
        let (host, port) = self.rsplit_once(':').ok_or_else(bad)?;
        let port = port.parse::<u16>().map_err(|_| bad())?;
        if host.is_empty() {
            return Err(bad());
        }
        (host, port).to_addrs()
    }
}

impl ToAddrs for String {
    fn to_addrs(&self) -> Result<Addrs> {
        self.as_str().to_addrs()
    }
}

impl ToAddrs for [SocketAddr] {
    fn to_addrs(&self) -> Result<Addrs> {
        Ok(Addrs::Resolved(self.to_vec()))
    }
}

impl ToAddrs for Vec<SocketAddr> {
    fn to_addrs(&self) -> Result<Addrs> {
        Ok(Addrs::Resolved(self.clone()))
    }
}

impl<T: ToAddrs + ?Sized> ToAddrs for &T {
    fn to_addrs(&self) -> Result<Addrs> {
        (**self).to_addrs()
    }
}

impl TcpListener {
    /// Listens on `addr` (`"127.0.0.1:8080"`, `"[::]:80"`, `"localhost:0"`...) with
    /// [`TcpListenOptions::new`](super::TcpListenOptions::new); `cb` as
    /// [`Loop::tcp_listen`]. A host name is resolved here, on the calling thread (listening is
    /// a start-up step), and its addresses are tried in order until one binds. Errors name
    /// the operation and the address: `listen 127.0.0.1:8080: Address already in use`.
    #[track_caller]
    pub fn bind(
        lp: &mut Loop,
        addr: impl ToAddrs,
        cb: impl FnMut(&mut Loop, Self, Result<TcpStream>) + 'static,
    ) -> Result<Self> {
        let target = addr.to_addrs()?;
        let addrs = match &target {
            Addrs::Resolved(addrs) => addrs.clone(),
            Addrs::Name(host, port) => (host.as_str(), *port)
                .to_socket_addrs()
                .map_err(|e| Error::named(e, "listen", target.shown()))?
                .collect(),
        };
        let mut cb = Some(cb);
        let mut last = None;
        for addr in addrs {
            // `tcp_listen` takes the callback only when it succeeds; keep it for the next try.
            let Some(f) = cb.take() else { break };
            let (f, slot) = split_once(f);
            match lp.tcp_listen(addr, f) {
                Ok(listener) => return Ok(listener),
                Err(e) => {
                    cb = slot.take();
                    last = Some(e);
                }
            }
        }
        Err(last.unwrap_or_else(|| {
            Error::named(
                io::Error::new(io::ErrorKind::NotFound, "no address to listen on"),
                "listen",
                target.shown(),
            )
        }))
    }
}

/// Shares `f` between a wrapper handed to a call and a slot that gives it back if the call
/// failed (and so dropped the wrapper without calling it).
fn split_once<F>(
    f: F,
) -> (
    impl FnMut(&mut Loop, TcpListener, Result<TcpStream>) + 'static,
    Keep<F>,
)
where
    F: FnMut(&mut Loop, TcpListener, Result<TcpStream>) + 'static,
{
    let shared = std::rc::Rc::new(std::cell::Cell::new(Some(f)));
    let keep = Keep(std::rc::Rc::clone(&shared));
    let wrapper = move |lp: &mut Loop, l: TcpListener, c: Result<TcpStream>| {
        if let Some(mut f) = shared.take() {
            f(lp, l, c);
            shared.set(Some(f));
        }
    };
    (wrapper, keep)
}

struct Keep<F>(std::rc::Rc<std::cell::Cell<Option<F>>>);

impl<F> Keep<F> {
    fn take(&self) -> Option<F> {
        self.0.take()
    }
}

type ConnectCb = Box<dyn FnOnce(&mut Loop, Result<TcpStream>)>;

impl TcpStream {
    /// Connects to `addr` (`"127.0.0.1:7000"`, `"localhost:7000"`, `("example.org", 80)`, a
    /// list of addresses...). A host name is resolved on the thread pool; the addresses are
    /// tried one after the other, in the resolver's order, until one connects (as Node's
    /// `autoSelectFamily`, without the overlap): `localhost` reaches an IPv4-only server even
    /// when `::1` comes first. `cb` runs once with the connected stream, or with the last
    /// address's error ([`Error::Net`]: `connect 127.0.0.1:7000: Connection refused ...`),
    /// never inside this call; failed attempts' streams are closed for you.
    ///
    /// Errors here only for an address string that is not `HOST:PORT` (the callback is then
    /// not called).
    #[track_caller]
    pub fn connect(
        lp: &mut Loop,
        addr: impl ToAddrs,
        cb: impl FnOnce(&mut Loop, Result<Self>) + 'static,
    ) -> Result<()> {
        let site = Location::caller();
        let target = addr.to_addrs()?;
        let cb: ConnectCb = Box::new(cb);
        match target {
            Addrs::Resolved(addrs) => {
                let shown = Addrs::Resolved(addrs.clone()).shown();
                lp.defer(
                    CallbackKind::Connect,
                    site,
                    Box::new(move |lp| try_in_order(lp, addrs, 0, None, shown, cb)),
                );
            }
            Addrs::Name(host, port) => {
                let shown = format!("{host}:{port}");
                resolve_stream(lp, &host, port, site, move |lp, found| match found {
                    Ok(addrs) => try_in_order(lp, addrs, 0, None, shown, cb),
                    Err(e) => cb(lp, Err(Error::named(e, "connect", shown))),
                });
            }
        }
        Ok(())
    }
}

/// Tries `addrs[next..]` in order; `cb` gets the first stream that connects or the last error.
fn try_in_order(
    lp: &mut Loop,
    addrs: Vec<SocketAddr>,
    next: usize,
    last: Option<Error>,
    shown: String,
    cb: ConnectCb,
) {
    let Some(&addr) = addrs.get(next) else {
        let err = last.unwrap_or_else(|| {
            Error::named(
                io::Error::new(io::ErrorKind::NotFound, "no address to connect to"),
                "connect",
                &shown,
            )
        });
        return cb(lp, Err(err));
    };
    // `tcp_connect` keeps the callback only if it made a socket: hold it in a slot the
    // failure path can take back.
    let slot = std::rc::Rc::new(std::cell::Cell::new(Some((addrs, shown, cb))));
    let inner = std::rc::Rc::clone(&slot);
    let started = lp.tcp_connect(addr, move |lp, stream, r| {
        let Some((addrs, shown, cb)) = inner.take() else {
            return;
        };
        match r {
            Ok(()) => cb(lp, Ok(stream)),
            Err(e) if e.is_canceled() => cb(lp, Err(e)),
            Err(e) => {
                let _ = stream.close(lp, |_| {});
                try_in_order(lp, addrs, next + 1, Some(e), shown, cb);
            }
        }
    });
    if let Err(e) = started
        && let Some((addrs, shown, cb)) = slot.take()
    {
        // No socket for this family (IPv6 disabled, say): the next address.
        try_in_order(lp, addrs, next + 1, Some(e), shown, cb);
    }
}

/// Resolves `host` for a stream connect on the pool (a DNS-class job): through
/// [`dns::getaddrinfo`] on Unix.
#[cfg(unix)]
fn resolve_stream(
    lp: &mut Loop,
    host: &str,
    port: u16,
    _site: crate::handle::Site,
    cb: impl FnOnce(&mut Loop, io::Result<Vec<SocketAddr>>) + 'static,
) {
    let hints = dns::Hints {
        socktype: dns::SocketType::Stream,
        ..dns::Hints::default()
    };
    dns::getaddrinfo(lp, host, &port.to_string(), hints, cb);
}

/// Resolves `host` for a stream connect on the pool (a DNS-class job). `evloop::dns` is not
/// ported to Windows, so this asks the system resolver through std's `ToSocketAddrs`
/// (Winsock's `getaddrinfo`), keeping the first occurrence of each address.
#[cfg(windows)]
fn resolve_stream(
    lp: &mut Loop,
    host: &str,
    port: u16,
    site: crate::handle::Site,
    cb: impl FnOnce(&mut Loop, io::Result<Vec<SocketAddr>>) + 'static,
) {
    let host = host.to_owned();
    let job = move || {
        let mut addrs: Vec<SocketAddr> = Vec::new();
        for addr in (host.as_str(), port).to_socket_addrs()? {
            if !addrs.contains(&addr) {
                addrs.push(addr);
            }
        }
        Ok(addrs)
    };
    lp.submit_io(crate::pool::JobKind::Dns, CallbackKind::Dns, site, job, cb);
}
