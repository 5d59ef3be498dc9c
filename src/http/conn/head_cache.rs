//! [`HeadCache`]: the last response head a connection encoded, kept for the next response
//! that has the same status, `Date`, `Server` and fields — which is most of them, as a route
//! answers the same way each time and the `Date` changes once a second. A hit costs a
//! comparison and one copy instead of checking and encoding every field again; when the
//! framing and `Connection` lines are those of the last head too (the same body length, as
//! a route's answers often have), the copy is the whole head.

use super::pipeline::Fields;
use crate::http::proto::date::HTTP_DATE_LEN;
use crate::http::proto::response::{
    ConnectionHeader, EncodeError, ResponseFraming, check_status, write_head_tail,
    write_server_prefix,
};

/// The inputs of the last prefix and its bytes.
#[derive(Debug, Default)]
pub(crate) struct HeadCache {
    /// `None` until a prefix is stored.
    status: Option<u16>,
    date: [u8; HTTP_DATE_LEN],
    server: Option<Vec<u8>>,
    /// Every field's name then value, back to back.
    field_bytes: Vec<u8>,
    /// Name and value lengths, one pair per field.
    field_lens: Vec<(usize, usize)>,
    /// The whole encoded head: status line, `Date`, `Server` and fields (the first
    /// `prefix_len` bytes), then the framing and `Connection` lines and the empty line.
    head: Vec<u8>,
    prefix_len: usize,
    /// The framing and `Connection` header the tail of `head` was written for.
    tail: Option<(ResponseFraming, ConnectionHeader)>,
}

/// The largest head kept: bigger heads are encoded every time rather than held per
/// connection.
const MAX_HEAD: usize = 1024;

impl HeadCache {
    /// Appends the whole head to `out`, from the cache when the inputs are those of the last
    /// call; checks the inputs as [`write_head`](crate::http::proto::response::write_head) does otherwise.
    #[expect(
        clippy::too_many_arguments,
        reason = "the inputs of a head, each compared"
    )]
    pub(crate) fn write_head(
        &mut self,
        out: &mut Vec<u8>,
        status: u16,
        server: Option<&[u8]>,
        fields: &Fields<'_>,
        framing: ResponseFraming,
        connection: ConnectionHeader,
        date: &[u8; HTTP_DATE_LEN],
    ) -> Result<(), EncodeError> {
        if self.matches(status, server, fields, date) {
            let tail = Some((framing, connection));
            if self.tail != tail {
                // The fields were checked when stored; the framing may differ.
                check_status(status, framing)?;
                self.head.truncate(self.prefix_len);
                write_head_tail(&mut self.head, framing, connection);
                self.tail = tail;
            }
            out.extend_from_slice(&self.head);
            return Ok(());
        }
        let start = out.len();
        let first = server.map(|value| (&b"Server"[..], value));
        write_server_prefix(out, status, first, fields, framing, date)?;
        let prefix_len = out.len() - start;
        write_head_tail(out, framing, connection);
        self.store(status, server, fields, date, &out[start..], prefix_len);
        self.tail = Some((framing, connection));
        Ok(())
    }

    fn matches(
        &self,
        status: u16,
        server: Option<&[u8]>,
        fields: &Fields<'_>,
        date: &[u8; HTTP_DATE_LEN],
    ) -> bool {
        let same_server = match (self.server.as_deref(), server) {
            (None, None) => true,
            (Some(a), Some(b)) => same_bytes(a, b),
            _ => false,
        };
        if self.status != Some(status)
            || self.date != *date
            || !same_server
            || self.field_lens.len() != fields.len()
        {
            return false;
        }
        let mut at = 0;
        for (&(name_len, value_len), (name, value)) in self.field_lens.iter().zip(fields) {
            if name_len != name.len() || value_len != value.len() {
                return false;
            }
            let Some(stored) = self.field_bytes.get(at..at + name_len + value_len) else {
                return false;
            };
            let (stored_name, stored_value) = stored.split_at(name_len);
            if !same_bytes(stored_name, name) || !same_bytes(stored_value, value) {
                return false;
            }
            at += name_len + value_len;
        }
        true
    }

    fn store(
        &mut self,
        status: u16,
        server: Option<&[u8]>,
        fields: &Fields<'_>,
        date: &[u8; HTTP_DATE_LEN],
        head: &[u8],
        prefix_len: usize,
    ) {
        if head.len() > MAX_HEAD {
            self.status = None;
            return;
        }
        self.status = Some(status);
        self.date = *date;
        if self.server.as_deref() != server {
            self.server = server.map(<[u8]>::to_vec);
        }
        self.field_bytes.clear();
        self.field_lens.clear();
        for (name, value) in fields {
            self.field_bytes.extend_from_slice(name);
            self.field_bytes.extend_from_slice(value);
            self.field_lens.push((name.len(), value.len()));
        }
        self.head.clear();
        self.head.extend_from_slice(head);
        self.prefix_len = prefix_len;
    }
}

/// `a == b`, without a call into the C library for the short names and values heads are
/// made of: two overlapping word compares cover up to 32 bytes.
#[inline]
fn same_bytes(a: &[u8], b: &[u8]) -> bool {
    let n = a.len();
    if n != b.len() {
        return false;
    }
    match n {
        0 => true,
        1..=3 => a[0] == b[0] && a[n / 2] == b[n / 2] && a[n - 1] == b[n - 1],
        4..=7 => word::<4>(a, 0) == word::<4>(b, 0) && word::<4>(a, n - 4) == word::<4>(b, n - 4),
        8..=16 => word::<8>(a, 0) == word::<8>(b, 0) && word::<8>(a, n - 8) == word::<8>(b, n - 8),
        17..=32 => {
            word::<16>(a, 0) == word::<16>(b, 0) && word::<16>(a, n - 16) == word::<16>(b, n - 16)
        }
        _ => a == b,
    }
}

/// The `N` bytes of `s` at `at` (which the caller keeps in bounds) as one value to compare.
#[inline]
fn word<const N: usize>(s: &[u8], at: usize) -> [u8; N] {
    let mut w = [0u8; N];
    w.copy_from_slice(&s[at..at + N]);
    w
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::response::write_head;

    const DATE: &[u8; HTTP_DATE_LEN] = b"Sun, 06 Nov 1994 08:49:37 GMT";

    fn prefix(
        cache: &mut HeadCache,
        status: u16,
        server: Option<&[u8]>,
        fields: &Fields<'_>,
        date: &[u8; HTTP_DATE_LEN],
    ) -> Result<Vec<u8>, EncodeError> {
        head(cache, status, server, fields, ResponseFraming::None, date)
    }

    fn head(
        cache: &mut HeadCache,
        status: u16,
        server: Option<&[u8]>,
        fields: &Fields<'_>,
        framing: ResponseFraming,
        date: &[u8; HTTP_DATE_LEN],
    ) -> Result<Vec<u8>, EncodeError> {
        let mut out = b"x".to_vec();
        let connection = ConnectionHeader::Omit;
        cache.write_head(&mut out, status, server, fields, framing, connection, date)?;
        Ok(out.split_off(1))
    }

    #[test]
    fn a_hit_writes_what_encoding_writes() {
        let mut cache = HeadCache::default();
        let fields: &Fields<'_> = &[(b"Content-Type", b"text/plain"), (b"X-A", b"1")];
        let first = prefix(&mut cache, 200, Some(b"evloop"), fields, DATE);
        let again = prefix(&mut cache, 200, Some(b"evloop"), fields, DATE);
        assert_eq!(first, again);
        let Ok(bytes) = first else {
            panic!("{first:?}")
        };
        let mut plain = Vec::new();
        let all: &Fields<'_> = &[
            (b"Server", b"evloop"),
            (b"Content-Type", b"text/plain"),
            (b"X-A", b"1"),
        ];
        let written = write_head(
            &mut plain,
            200,
            "OK",
            all,
            ResponseFraming::None,
            DATE,
            ConnectionHeader::Omit,
        );
        assert_eq!(written, Ok(()));
        assert_eq!(plain, bytes);
    }

    #[test]
    fn a_new_framing_or_connection_line_rewrites_only_the_tail() {
        let mut cache = HeadCache::default();
        let fields: &Fields<'_> = &[(b"Content-Type", b"text/plain")];
        for (framing, connection) in [
            (ResponseFraming::Length(13), ConnectionHeader::Omit),
            (ResponseFraming::Length(13), ConnectionHeader::Omit),
            (ResponseFraming::Length(7), ConnectionHeader::Omit),
            (ResponseFraming::Length(7), ConnectionHeader::Close),
            (ResponseFraming::Chunked, ConnectionHeader::KeepAlive),
            (ResponseFraming::None, ConnectionHeader::Omit),
            (ResponseFraming::Length(13), ConnectionHeader::Omit),
        ] {
            let mut out = Vec::new();
            let written = cache.write_head(&mut out, 200, None, fields, framing, connection, DATE);
            assert_eq!(written, Ok(()));
            let mut plain = Vec::new();
            let encoded = write_head(&mut plain, 200, "OK", fields, framing, DATE, connection);
            assert_eq!(encoded, Ok(()));
            assert_eq!(out, plain, "{framing:?} {connection:?}");
        }
    }

    #[test]
    fn any_change_of_input_encodes_again() {
        let mut cache = HeadCache::default();
        let fields: &Fields<'_> = &[(b"A", b"bc")];
        let base = prefix(&mut cache, 200, None, fields, DATE);
        let Ok(base) = base else { panic!("{base:?}") };
        let moved: &Fields<'_> = &[(b"Ab", b"c")];
        let later = b"Sun, 06 Nov 1994 08:49:38 GMT";
        for (status, server, fields, date) in [
            (404, None, fields, DATE),
            (200, Some(&b"s"[..]), fields, DATE),
            (200, None, moved, DATE),
            (200, None, &[][..], DATE),
            (200, None, fields, later),
        ] {
            let out = prefix(&mut cache, status, server, fields, date);
            assert_ne!(out.as_ref(), Ok(&base), "{status} {server:?} {fields:?}");
            let fresh = prefix(&mut HeadCache::default(), status, server, fields, date);
            assert_eq!(out, fresh);
        }
    }

    #[test]
    fn same_bytes_agrees_with_slice_equality_at_every_length() {
        for n in 0..48 {
            let a: Vec<u8> = (0..n).map(|i| b'a' + (i % 26) as u8).collect();
            assert!(same_bytes(&a, &a.clone()), "{n}");
            for at in 0..n {
                let mut b = a.clone();
                b[at] ^= 0x20;
                assert!(!same_bytes(&a, &b), "{n} bytes, differing at {at}");
            }
            assert!(!same_bytes(&a, &a[..n.saturating_sub(1)]) || n == 0);
        }
    }

    #[test]
    fn bad_input_is_refused_and_never_cached() {
        let mut cache = HeadCache::default();
        let bad: &Fields<'_> = &[(b"X", b"a\r\nb")];
        for _ in 0..2 {
            let out = prefix(&mut cache, 200, None, bad, DATE);
            assert_eq!(out, Err(EncodeError::InvalidHeaderValue));
        }
        let ok: &Fields<'_> = &[];
        assert!(prefix(&mut cache, 204, None, ok, DATE).is_ok());
        let mut out = Vec::new();
        let framed = ResponseFraming::Length(1);
        let connection = ConnectionHeader::Omit;
        let hit = cache.write_head(&mut out, 204, None, ok, framed, connection, DATE);
        assert_eq!(hit, Err(EncodeError::BodyNotAllowed));
    }
}
