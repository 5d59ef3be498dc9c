//! [`HeadCache`]: the last response head a connection encoded, up to the framing line, kept
//! for the next response that has the same status, `Date`, `Server` and fields — which is
//! most of them, as a route answers the same way each time and the `Date` changes once a
//! second. A hit costs a comparison and one copy instead of checking and encoding every
//! field again.

use super::pipeline::Fields;
use super::response::{EncodeError, ResponseFraming, check_status, write_server_prefix};

/// The inputs of the last prefix and its bytes.
#[derive(Debug, Default)]
pub(crate) struct HeadCache {
    /// `None` until a prefix is stored.
    status: Option<u16>,
    date: Vec<u8>,
    server: Option<Vec<u8>>,
    /// Every field's name then value, back to back.
    field_bytes: Vec<u8>,
    /// Name and value lengths, one pair per field.
    field_lens: Vec<(usize, usize)>,
    /// The encoded status line, `Date`, `Server` and fields.
    prefix: Vec<u8>,
}

/// The largest prefix kept: bigger heads are encoded every time rather than held per
/// connection.
const MAX_PREFIX: usize = 1024;

impl HeadCache {
    /// Appends the head up to its framing line to `out`, from the cache when the inputs are
    /// those of the last call; checks the inputs as
    /// [`write_head`](super::response::write_head) does otherwise.
    pub(crate) fn write_prefix(
        &mut self,
        out: &mut Vec<u8>,
        status: u16,
        server: Option<&[u8]>,
        fields: &Fields<'_>,
        framing: ResponseFraming,
        date: &[u8],
    ) -> Result<(), EncodeError> {
        if self.matches(status, server, fields, date) {
            // The fields were checked when stored; the framing may differ.
            check_status(status, framing)?;
            out.extend_from_slice(&self.prefix);
            return Ok(());
        }
        let start = out.len();
        let first = server.map(|value| (&b"Server"[..], value));
        write_server_prefix(out, status, first, fields, framing, date)?;
        self.store(status, server, fields, date, &out[start..]);
        Ok(())
    }

    fn matches(
        &self,
        status: u16,
        server: Option<&[u8]>,
        fields: &Fields<'_>,
        date: &[u8],
    ) -> bool {
        if self.status != Some(status)
            || self.date != date
            || self.server.as_deref() != server
            || self.field_lens.len() != fields.len()
        {
            return false;
        }
        let mut at = 0;
        for (&(name_len, value_len), (name, value)) in self.field_lens.iter().zip(fields) {
            if name_len != name.len() || value_len != value.len() {
                return false;
            }
            let stored = &self.field_bytes[at..at + name_len + value_len];
            if stored[..name_len] != **name || stored[name_len..] != **value {
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
        date: &[u8],
        prefix: &[u8],
    ) {
        if prefix.len() > MAX_PREFIX {
            self.status = None;
            return;
        }
        self.status = Some(status);
        self.date.clear();
        self.date.extend_from_slice(date);
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
        self.prefix.clear();
        self.prefix.extend_from_slice(prefix);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::response::{ConnectionHeader, write_head};

    const DATE: &[u8] = b"Sun, 06 Nov 1994 08:49:37 GMT";

    fn prefix(
        cache: &mut HeadCache,
        status: u16,
        server: Option<&[u8]>,
        fields: &Fields<'_>,
        date: &[u8],
    ) -> Result<Vec<u8>, EncodeError> {
        let mut out = b"x".to_vec();
        cache.write_prefix(
            &mut out,
            status,
            server,
            fields,
            ResponseFraming::None,
            date,
        )?;
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
        assert_eq!(plain, [&bytes[..], b"\r\n"].concat());
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
            (200, None, fields, &later[..]),
        ] {
            let out = prefix(&mut cache, status, server, fields, date);
            assert_ne!(out.as_ref(), Ok(&base), "{status} {server:?} {fields:?}");
            let fresh = prefix(&mut HeadCache::default(), status, server, fields, date);
            assert_eq!(out, fresh);
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
        let hit = cache.write_prefix(&mut out, 204, None, ok, framed, DATE);
        assert_eq!(hit, Err(EncodeError::BodyNotAllowed));
    }
}
