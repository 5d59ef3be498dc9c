//! [`RawHead`]: a request head as the bytes it arrived in, with the positions of its parts.
//!
//! The server keeps every request this way: one copy of the head, no allocation per field,
//! lookups straight on the bytes. The owned [`RequestHead`] is built from it only when a
//! handler asks for it.

use std::cell::RefCell;
use std::ops::Range;

use super::head::{BodyFraming, Derived, RequestHead};
use super::method::Method;

type FieldSpans = Vec<(Range<usize>, Range<usize>)>;

/// What a head owns: its bytes, its target (kept apart so it is read as `&str` without
/// checking the UTF-8 again) and its field ranges.
type Buffers = (Vec<u8>, String, FieldSpans);

/// Buffers this thread keeps for the next heads, at most this many...
const SPARE_BUFFERS: usize = 64;
/// ...and none larger than this (a huge head's buffer is given back to the allocator).
const SPARE_CAPACITY: usize = 4096;

thread_local! {
    /// The buffers of dropped heads, for the heads parsed next on this thread: a burst of
    /// pipelined requests then costs no allocation at all, and the allocator's small caches
    /// (which a burst of 16 overflows) stay out of the way.
    static SPARE: RefCell<Vec<Buffers>> = const { RefCell::new(Vec::new()) };
}

/// A request head kept as received; its parts are ranges of `bytes`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RawHead {
    /// The head from the request line to the empty line, exactly as received.
    bytes: Vec<u8>,
    target: String,
    /// Name and value of every field line, in arrival order (values trimmed, as httparse
    /// gives them).
    fields: FieldSpans,
    pub(crate) method: Method,
    pub(crate) version_minor: u8,
    pub(crate) framing: BodyFraming,
    pub(crate) keep_alive: bool,
    pub(crate) expect_continue: bool,
    /// An `Expect` field is present (whatever it asks for).
    pub(crate) has_expect: bool,
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
        let (mut bytes, mut owned_target, mut spans) = SPARE
            .try_with(|spare| spare.borrow_mut().pop())
            .ok()
            .flatten()
            .unwrap_or_default();
        bytes.extend_from_slice(head);
        owned_target.push_str(target);
        spans.extend(
            fields
                .iter()
                .map(|h| (span(h.name.as_bytes()), span(h.value))),
        );
        Self {
            bytes,
            target: owned_target,
            fields: spans,
            method,
            version_minor,
            framing: derived.framing,
            keep_alive: derived.keep_alive,
            expect_continue: derived.expect_continue,
            has_expect: derived.has_expect,
        }
    }

    fn part(&self, range: &Range<usize>) -> &[u8] {
        self.bytes.get(range.clone()).unwrap_or_default()
    }

    /// The request-target exactly as sent.
    pub(crate) fn target(&self) -> &str {
        &self.target
    }

    /// Every field as (name, value) bytes, in arrival order.
    pub(crate) fn fields(&self) -> impl Iterator<Item = (&[u8], &[u8])> + '_ {
        self.fields
            .iter()
            .map(|(name, value)| (self.part(name), self.part(value)))
    }

    /// The value of the first field called `name`, compared case-insensitively.
    pub(crate) fn header(&self, name: &str) -> Option<&[u8]> {
        self.fields()
            .find(|(n, _)| n.eq_ignore_ascii_case(name.as_bytes()))
            .map(|(_, v)| v)
    }

    /// The owned head, with a `String` and a `Vec` per field.
    pub(crate) fn to_head(&self) -> RequestHead {
        RequestHead {
            method: self.method.clone(),
            target: self.target().to_owned(),
            version_minor: self.version_minor,
            headers: self
                .fields()
                .map(|(name, value)| (String::from_utf8_lossy(name).into_owned(), value.to_vec()))
                .collect(),
            framing: self.framing,
            keep_alive: self.keep_alive,
            expect_continue: self.expect_continue,
        }
    }
}

impl Drop for RawHead {
    fn drop(&mut self) {
        if self.bytes.capacity() > SPARE_CAPACITY
            || self.target.capacity() > SPARE_CAPACITY
            || self.fields.capacity() * size_of::<(Range<usize>, Range<usize>)>() > SPARE_CAPACITY
        {
            return;
        }
        let mut bytes = std::mem::take(&mut self.bytes);
        let mut target = std::mem::take(&mut self.target);
        let mut fields = std::mem::take(&mut self.fields);
        bytes.clear();
        target.clear();
        fields.clear();
        // During thread teardown the spare list may be gone: the buffers are simply freed.
        let _ = SPARE.try_with(|spare| {
            if let Ok(mut spare) = spare.try_borrow_mut()
                && spare.len() < SPARE_BUFFERS
            {
                spare.push((bytes, target, fields));
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
            Ok((_, RawEvent::Head(head))) => head,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn reads_parts_in_place() {
        let h = head(b"\r\nPOST /a?b HTTP/1.0\r\nHost: x\r\nX-Y:  1 2 \r\nx-y: \xff\r\n\r\n");
        assert_eq!(h.method, Method::Post);
        assert_eq!(h.target(), "/a?b");
        assert_eq!(h.version_minor, 0);
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
        let ptr = first.bytes.as_ptr();
        drop(first);
        let second = head(b"GET /2 HTTP/1.1\r\nHost: b\r\n\r\n");
        assert_eq!(second.bytes.as_ptr(), ptr, "the spare buffer is taken");
        assert_eq!(second.target(), "/2");
        assert_eq!(second.fields().count(), 1);
        assert_eq!(second.header("host"), Some(&b"b"[..]));
        let copy = second.clone();
        drop(second);
        assert_eq!(copy.target(), "/2");
    }
}
