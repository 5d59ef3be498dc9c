//! The crate's error type.

use std::fmt;
use std::io;
use std::sync::{Arc, OnceLock};

/// What went wrong in an evloop call or request.
///
/// OS failures keep their [`io::Error`] (kind and errno) in [`Error::Io`]; the other variants are
/// conditions of the loop itself. Convert to `io::Error` with `?` or `From` where a function
/// returns `io::Result`.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// The handle id no longer names a live handle: it was closed (or released after firing, for a
    /// one-shot timer) and its slot may have been reused.
    StaleHandle,
    /// The handle is closing; only queries are allowed.
    Closing,
    /// The request was canceled: its handle was closed, or `cancel()` took it off the queue.
    Canceled,
    /// The request is already running and can no longer be canceled.
    Busy,
    /// A thread-pool job panicked; the panic message.
    Panicked(String),
    /// `run()` was called from inside a callback of the same loop.
    Reentrant,
    /// The operation is not valid in the handle's current state (e.g. a second `shutdown`).
    InvalidState(&'static str),
    /// An operating-system error.
    Io(io::Error),
    /// A network operation failed: the operation, the address or path, and the OS error (its
    /// kind and errno stay reachable through [`Error::kind`] and [`Error::raw_os_error`]).
    /// Displays as `connect 127.0.0.1:7000: Connection refused (os error 111)`. Listen, bind,
    /// accept and connect name the address asked for; a stream's read, write and shutdown
    /// errors name its peer while the kernel still knows it, else its local address (after a
    /// reset, say). Two words: the operation and the address are one shared allocation, so an
    /// `Error` (and every `Result` a completion carries) stays three words, and the streams a
    /// listener bound to a specific address accepts share theirs (a reset allocates nothing).
    Net(NetError),
    /// The loop's state of this type is lent out by [`Loop::with_state`](crate::Loop::with_state)
    /// (a re-entrant request for it); the type's name.
    StateInUse(&'static str),
    /// The loop holds no state of this type (see [`Loop::insert_state`](crate::Loop::insert_state));
    /// the type's name.
    NoState(&'static str),
}

/// `Result` with [`Error`] as the default error.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// Whether this is [`Error::Canceled`].
    pub fn is_canceled(&self) -> bool {
        matches!(self, Self::Canceled)
    }

    /// The evloop error carried inside `err`, if `err` was made from one. File and DNS callbacks
    /// receive `io::Error`s; a canceled request's error is [`Error::Canceled`] inside one (kind
    /// `Interrupted`), a stale file id's is [`Error::StaleHandle`].
    ///
    /// ```
    /// let err = std::io::Error::from(evloop::Error::Canceled);
    /// assert!(evloop::Error::from_io_ref(&err).is_some_and(evloop::Error::is_canceled));
    /// ```
    pub fn from_io_ref(err: &io::Error) -> Option<&Self> {
        err.get_ref()?.downcast_ref::<Self>()
    }

    /// The closest [`io::ErrorKind`], for callers that think in `io::Error`.
    pub fn kind(&self) -> io::ErrorKind {
        match self {
            Self::StaleHandle => io::ErrorKind::NotFound,
            Self::Closing | Self::InvalidState(_) | Self::Reentrant => io::ErrorKind::InvalidInput,
            Self::Canceled => io::ErrorKind::Interrupted,
            Self::Busy => io::ErrorKind::ResourceBusy,
            Self::Panicked(_) => io::ErrorKind::Other,
            Self::StateInUse(_) => io::ErrorKind::ResourceBusy,
            Self::NoState(_) => io::ErrorKind::NotFound,
            Self::Io(e) => e.kind(),
            Self::Net(e) => e.source.kind(),
        }
    }

    /// The OS error number, when this is an OS error.
    pub fn raw_os_error(&self) -> Option<i32> {
        match self {
            Self::Io(e) => e.raw_os_error(),
            Self::Net(e) => e.source.raw_os_error(),
            _ => None,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::StaleHandle => f.write_str("stale handle: it was closed or released"),
            Self::Closing => f.write_str("handle is closing"),
            Self::Canceled => f.write_str("operation canceled"),
            Self::Busy => f.write_str("request is already running and cannot be canceled"),
            Self::Panicked(msg) => write!(f, "job panicked: {msg}"),
            Self::Reentrant => f.write_str("run() called from inside a callback of the same loop"),
            Self::InvalidState(what) => write!(f, "invalid state: {what}"),
            Self::Io(e) => e.fmt(f),
            Self::Net(e) => e.fmt(f),
            Self::StateInUse(ty) => write!(f, "loop state {ty} is in use (lent by with_state)"),
            Self::NoState(ty) => write!(f, "the loop holds no state of type {ty}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Io(e) => Some(e),
            Self::Net(e) => Some(&e.source),
            _ => None,
        }
    }
}

/// What [`Error::Net`] holds: which operation on which address failed, and why.
pub struct NetError {
    /// The operation and the address, shared by every error that names the same ones.
    name: Arc<NetName>,
    source: io::Error,
}

/// The operation and address a [`NetError`] names. Shared (an `Arc`): the streams accepted by
/// a listener bound to a specific address name their reset errors by one `NetName` per
/// operation (see `NetShared::local_names`), so a reset, which ends every connection of a
/// churning server, costs no allocation and no formatting unless someone reads the error.
#[derive(Debug)]
pub(crate) struct NetName {
    op: &'static str,
    /// The address as text, made on first use from `sock` when the name came from a socket.
    addr: OnceLock<String>,
    sock: Option<SockName>,
}

impl NetName {
    /// Operation `op` on a socket's address, shown only when an error naming it is read.
    pub(crate) fn sock(op: &'static str, sock: Option<SockName>) -> Arc<Self> {
        Arc::new(Self {
            op,
            addr: OnceLock::new(),
            sock,
        })
    }

    pub(crate) fn op(&self) -> &'static str {
        self.op
    }

    pub(crate) fn addr(&self) -> &str {
        self.addr.get_or_init(|| match &self.sock {
            Some(SockName::Ip(ip)) => ip.to_string(),
            Some(SockName::Other(addr)) => show_addr(Some(addr)),
            None => show_addr(None),
        })
    }
}

/// A socket's address kept by a [`NetName`] until it is read: an IP address inline (no
/// 128-byte `sockaddr_storage` copied), anything else (a socket file's path) boxed.
#[derive(Clone, Debug)]
pub(crate) enum SockName {
    Ip(std::net::SocketAddr),
    Other(Box<socket2::SockAddr>),
}

impl From<socket2::SockAddr> for SockName {
    fn from(addr: socket2::SockAddr) -> Self {
        match addr.as_socket() {
            Some(ip) => Self::Ip(ip),
            None => Self::Other(Box::new(addr)),
        }
    }
}

impl NetError {
    /// The operation: `"listen"`, `"connect"`, `"bind"`...
    pub fn op(&self) -> &'static str {
        self.name.op()
    }

    /// The address or path it was for (`127.0.0.1:8080`, `/run/app.sock`, `localhost:7000`).
    pub fn addr(&self) -> &str {
        self.name.addr()
    }

    /// The OS error.
    pub fn io_error(&self) -> &io::Error {
        &self.source
    }
}

impl fmt::Debug for NetError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NetError")
            .field("op", &self.op())
            .field("addr", &self.addr())
            .field("source", &self.source)
            .finish()
    }
}

impl fmt::Display for NetError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}: {}", self.op(), self.addr(), self.source)
    }
}

impl std::error::Error for NetError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.source)
    }
}

impl Error {
    /// `err` from operation `op` on `addr`, named: OS errors become [`Error::Net`]; the loop's
    /// own conditions (canceled, stale...) stay as they are; an already named error keeps its
    /// first name.
    pub(crate) fn named(err: impl Into<Self>, op: &'static str, addr: impl fmt::Display) -> Self {
        match err.into() {
            Self::Io(source) => Self::Net(NetError {
                name: Arc::new(NetName {
                    op,
                    addr: OnceLock::from(addr.to_string()),
                    sock: None,
                }),
                source,
            }),
            other => other,
        }
    }

    /// As [`named`](Self::named), for a socket's address, shown only when the error is read.
    pub(crate) fn named_sock(
        err: impl Into<Self>,
        op: &'static str,
        sock: Option<SockName>,
    ) -> Self {
        match err.into() {
            Self::Io(source) => Self::named_by(source, NetName::sock(op, sock)),
            other => other,
        }
    }

    /// The OS error `source`, named by `name` (shared with other errors: no allocation).
    pub(crate) fn named_by(source: io::Error, name: Arc<NetName>) -> Self {
        Self::Net(NetError { name, source })
    }

    /// The [`NetError`] inside, if this is one.
    pub fn as_net(&self) -> Option<&NetError> {
        match self {
            Self::Net(e) => Some(e),
            _ => None,
        }
    }
}

impl From<io::Error> for Error {
    fn from(e: io::Error) -> Self {
        Self::Io(e)
    }
}

impl From<Error> for io::Error {
    fn from(e: Error) -> Self {
        match e {
            Error::Io(e) => e,
            Error::Net(e) => Self::new(e.source.kind(), e),
            other => Self::new(other.kind(), other),
        }
    }
}

/// A socket address as errors name it: `127.0.0.1:8080`, `[::1]:80` or a socket file's path.
pub(crate) fn show_addr(addr: Option<&socket2::SockAddr>) -> String {
    match addr {
        Some(a) => match (a.as_socket(), crate::net::pathname(a)) {
            (Some(ip), _) => ip.to_string(),
            (None, Some(path)) => path.display().to_string(),
            (None, None) => "an unnamed socket".to_owned(),
        },
        None => "a socket".to_owned(),
    }
}

#[cfg(test)]
mod layout {
    /// Every completion carries a `Result<(), Error>` through the pending queue: a larger
    /// `Error` is copied on every write, connect and shutdown (BENCHMARKS.md, tcp_write_batch).
    #[test]
    fn an_error_stays_three_words() {
        assert!(size_of::<super::Error>() <= 24);
    }

    /// `Error::Net` holds its `NetError` inline (no box per error): two words, the shared name
    /// and the OS error, so it costs `Error` (or a `Result<()>`) nothing in size.
    #[test]
    fn a_net_error_is_two_words() {
        assert!(size_of::<super::NetError>() <= 16);
        assert!(size_of::<super::Result<()>>() <= 24);
    }
}
