//! [`RawHead`]: a request head as the bytes it arrived in, with the positions of its parts.
//!
//! The server keeps every request this way: one copy of the head, no allocation per field,
//! lookups straight on the bytes. The owned [`RequestHead`] is built from it only when a
//! handler asks for it.

use std::cell::RefCell;
use std::mem::ManuallyDrop;
use std::net::SocketAddr;
use std::ops::Range;
use std::sync::OnceLock;

use super::head::{BodyFraming, Derived, RequestHead};
use super::method::Method;

type FieldSpans = Vec<(Range<usize>, Range<usize>)>;

/// What a head owns: its bytes, its target (kept apart so it is read as `&str` without
/// checking the UTF-8 again) and its field ranges. Boxed, so the head a request carries
/// through the parser, the dispatch queue and the handler call is small to move.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Buffers {
    bytes: Vec<u8>,
    target: String,
    fields: FieldSpans,
    meta: Meta,
    /// The request's body, once complete (empty when it has none).
    body: Vec<u8>,
    /// The client's address.
    peer: SocketAddr,
    /// The owned head, built on first use. Kept in the box rather than in the `Request`, so
    /// a request is one pointer to move and to drop.
    owned: OnceLock<Box<RequestHead>>,
}

/// The peer of a head not yet handed to a handler.
const NO_PEER: SocketAddr = SocketAddr::V4(std::net::SocketAddrV4::new(
    std::net::Ipv4Addr::UNSPECIFIED,
    0,
));

impl Buffers {
    /// A `const fn` rather than a constant: the lazy owned head is a cell, which a shared
    /// constant must not hold.
    const fn empty() -> Self {
        Self {
            bytes: Vec::new(),
            target: String::new(),
            fields: Vec::new(),
            meta: Meta::EMPTY,
            body: Vec::new(),
            peer: NO_PEER,
            owned: OnceLock::new(),
        }
    }
}

impl Default for Buffers {
    fn default() -> Self {
        Self::empty()
    }
}

/// What the parser and the head rules found out about a head. Kept in the box with the
/// bytes, so the [`RawHead`] moved from the parser to the handler is one pointer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Meta {
    pub(crate) method: Method,
    pub(crate) version_minor: u8,
    pub(crate) framing: BodyFraming,
    pub(crate) keep_alive: bool,
    pub(crate) expect_continue: bool,
    /// An `Expect` field is present (whatever it asks for).
    pub(crate) has_expect: bool,
}

impl Meta {
    const EMPTY: Self = Self {
        method: Method::Get,
        version_minor: 1,
        framing: BodyFraming::None,
        keep_alive: false,
        expect_continue: false,
        has_expect: false,
    };
}

/// Buffers this thread keeps for the next heads, at most this many...
const SPARE_BUFFERS: usize = 64;
/// ...and none larger than this (a huge head's buffer is given back to the allocator).
const SPARE_CAPACITY: usize = 4096;

thread_local! {
    /// The buffers of dropped heads, for the heads parsed next on this thread: a burst of
    /// pipelined requests then costs no allocation at all, and the allocator's small caches
    /// (which a burst of 16 overflows) stay out of the way.
    #[expect(
        clippy::vec_box,
        reason = "the boxes are what is reused: each goes back into a head as it is"
    )]
    static SPARE: RefCell<Vec<Box<Buffers>>> = const { RefCell::new(Vec::new()) };
}

/// A request head kept as received; its parts are ranges of `bytes`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RawHead {
    /// The head from the request line to the empty line exactly as received, the target,
    /// and the name and value of every field line in arrival order (values trimmed, as
    /// httparse gives them).
    /// `None` only once dropped (the box went back to the spare list).
    ///
    /// `ManuallyDrop`: [`Drop`] below takes the box out itself, so the field needs no drop
    /// glue of its own after it (a call per request otherwise).
    bufs: ManuallyDrop<Option<Box<Buffers>>>,
}

impl RawHead {
    /// Keeps `head` (the bytes httparse read the request from) and where in it the target and
    /// fields lie. Every slice must point into `head`.
    pub(crate) fn new(
        head: &[u8],
        method: Method,
        target: &str,
        version_minor: u8,
        fields: &[httparse::Header<'_>],
        derived: Derived,
    ) -> Self {
        let base = head.as_ptr() as usize;
        let span = |part: &[u8]| {
            let start = (part.as_ptr() as usize).wrapping_sub(base);
            start..start + part.len()
        };
        let mut bufs = SPARE
            .try_with(|spare| spare.borrow_mut().pop())
            .ok()
            .flatten()
            .unwrap_or_default();
        bufs.bytes.extend_from_slice(head);
        bufs.target.push_str(target);
        bufs.fields.extend(
            fields
                .iter()
                .map(|h| (span(h.name.as_bytes()), span(h.value))),
        );
        bufs.meta = Meta {
            method,
            version_minor,
            framing: derived.framing,
            keep_alive: derived.keep_alive,
            expect_continue: derived.expect_continue,
            has_expect: derived.has_expect,
        };
        Self {
            bufs: ManuallyDrop::new(Some(bufs)),
        }
    }

    /// Gives the head its complete body (kept in the head's box, so a request stays small
    /// to move).
    pub(crate) fn set_body(&mut self, body: Vec<u8>) {
        if let Some(bufs) = &mut *self.bufs {
            bufs.body = body;
        }
    }

    pub(crate) fn body(&self) -> &[u8] {
        &self.bufs().body
    }

    pub(crate) fn take_body(&mut self) -> Vec<u8> {
        self.bufs
            .as_mut()
            .map(|bufs| std::mem::take(&mut bufs.body))
            .unwrap_or_default()
    }

    pub(crate) fn set_peer(&mut self, peer: SocketAddr) {
        if let Some(bufs) = &mut *self.bufs {
            bufs.peer = peer;
        }
    }

    pub(crate) fn peer(&self) -> SocketAddr {
        self.bufs().peer
    }

    /// The request line's and the head rules' findings.
    #[inline]
    pub(crate) fn meta(&self) -> &Meta {
        &self.bufs().meta
    }

    #[inline]
    fn bufs(&self) -> &Buffers {
        static EMPTY: Buffers = Buffers::empty();
        self.bufs.as_deref().unwrap_or(&EMPTY)
    }

    fn part(&self, range: &Range<usize>) -> &[u8] {
        self.bufs().bytes.get(range.clone()).unwrap_or_default()
    }

    /// The request-target exactly as sent.
    pub(crate) fn target(&self) -> &str {
        &self.bufs().target
    }

    /// Every field as (name, value) bytes, in arrival order.
    pub(crate) fn fields(&self) -> impl Iterator<Item = (&[u8], &[u8])> + '_ {
        self.bufs()
            .fields
            .iter()
            .map(|(name, value)| (self.part(name), self.part(value)))
    }

    /// The value of the first field called `name`, compared case-insensitively.
    pub(crate) fn header(&self, name: &str) -> Option<&[u8]> {
        self.fields()
            .find(|(n, _)| n.eq_ignore_ascii_case(name.as_bytes()))
            .map(|(_, v)| v)
    }

    /// [`to_head`](Self::to_head), built on the first call and kept with the head.
    pub(crate) fn owned_head(&self) -> &RequestHead {
        self.bufs().owned.get_or_init(|| Box::new(self.to_head()))
    }

    /// The owned head, with a `String` and a `Vec` per field.
    pub(crate) fn to_head(&self) -> RequestHead {
        let meta = self.meta();
        RequestHead {
            method: meta.method.clone(),
            target: self.target().to_owned(),
            version_minor: meta.version_minor,
            headers: self
                .fields()
                .map(|(name, value)| (String::from_utf8_lossy(name).into_owned(), value.to_vec()))
                .collect(),
            framing: meta.framing,
            keep_alive: meta.keep_alive,
            expect_continue: meta.expect_continue,
        }
    }
}

impl Drop for RawHead {
    fn drop(&mut self) {
        let Some(mut bufs) = std::mem::take(&mut *self.bufs) else {
            return;
        };
        let b = &mut *bufs;
        if b.bytes.capacity() > SPARE_CAPACITY
            || b.target.capacity() > SPARE_CAPACITY
            || b.fields.capacity() * size_of::<(Range<usize>, Range<usize>)>() > SPARE_CAPACITY
            || b.body.capacity() > SPARE_CAPACITY
        {
            return;
        }
        b.bytes.clear();
        b.target.clear();
        b.fields.clear();
        b.body.clear();
        b.owned.take();
        // During thread teardown the spare list may be gone: the buffers are simply freed.
        let _ = SPARE.try_with(|spare| {
            if let Ok(mut spare) = spare.try_borrow_mut()
                && spare.len() < SPARE_BUFFERS
            {
                spare.push(bufs);
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::parser::{Parser, RawEvent};

    fn head(raw: &[u8]) -> RawHead {
        match Parser::default().parse_raw(raw) {
            Ok((_, RawEvent::Head(head) | RawEvent::Request(head))) => head,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn reads_parts_in_place() {
        let h = head(b"\r\nPOST /a?b HTTP/1.0\r\nHost: x\r\nX-Y:  1 2 \r\nx-y: \xff\r\n\r\n");
        assert_eq!(h.meta().method, Method::Post);
        assert_eq!(h.target(), "/a?b");
        assert_eq!(h.meta().version_minor, 0);
        assert_eq!(h.header("x-Y"), Some(&b"1 2"[..]));
        let all: Vec<_> = h.fields().collect();
        assert_eq!(
            all,
            [
                (&b"Host"[..], &b"x"[..]),
                (b"X-Y", b"1 2"),
                (b"x-y", b"\xff")
            ]
        );
        let owned = h.to_head();
        assert_eq!(owned.target, "/a?b");
        assert_eq!(owned.headers[2], ("x-y".to_owned(), b"\xff".to_vec()));
        assert!(!owned.keep_alive);
    }

    #[test]
    fn buffers_are_reused_and_come_back_clean() {
        let first = head(b"GET /first HTTP/1.1\r\nHost: a\r\nA: 1\r\nB: 2\r\n\r\n");
        let ptr = first.bufs().bytes.as_ptr();
        drop(first);
        let second = head(b"GET /2 HTTP/1.1\r\nHost: b\r\n\r\n");
        assert_eq!(
            second.bufs().bytes.as_ptr(),
            ptr,
            "the spare buffer is taken"
        );
        assert_eq!(second.target(), "/2");
        assert_eq!(second.fields().count(), 1);
        assert_eq!(second.header("host"), Some(&b"b"[..]));
        let copy = second.clone();
        drop(second);
        assert_eq!(copy.target(), "/2");
    }
}
