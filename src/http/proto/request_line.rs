//! The two request-line checks httparse cannot make for us.
//!
//! 1. An over-long request-target must be refused (414) while it is still arriving, before the
//!    line ends: [`LineScan`] follows the line byte by byte as the buffer grows.
//! 2. httparse refuses any version but 1.0 and 1.1 with a generic error; [`version_error`] looks at
//!    the raw line to tell a well-formed but unsupported version (505) from garbage (400).

use super::error::HttpError;

/// Where the scan of a request line stands. It follows httparse's grammar just far enough to
/// measure the target: leading empty lines (CRLF or LF, which RFC 9112 §2.2 lets a server skip),
/// then the method up to the first space, then the target up to the next space or line end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LineScan {
    /// Before the request line; `cr` after a CR that must be followed by LF.
    Leading { cr: bool },
    /// In the method.
    Method,
    /// In the target, `len` bytes so far.
    Target { len: usize },
    /// The target ended, or the line is malformed in a way httparse will report.
    Done,
}

impl LineScan {
    /// The state before the first byte of a request.
    pub(crate) const START: Self = Self::Leading { cr: false };

    /// Follows `bytes`, the next part of the request. Fails with 414 as soon as the target has
    /// more than `max_target` bytes.
    ///
    /// The verdict depends only on the bytes up to the first target byte over the limit, never on
    /// how they were split. Anything malformed before that point ends the scan, so httparse
    /// reports it once the line is complete, exactly as it would in a single pass.
    pub(crate) fn advance(&mut self, bytes: &[u8], max_target: usize) -> Result<(), HttpError> {
        if *self == Self::START && Self::whole_line_fits(bytes, max_target) {
            *self = Self::Done;
            return Ok(());
        }
        self.advance_bytewise(bytes, max_target)
    }

    /// The common case in one pass of two searches instead of a state step per byte: `bytes`
    /// starts with a method (no leading empty line), a space, and a target of at most
    /// `max_target` bytes that has already ended. Anything else is left to the byte-wise scan,
    /// so the verdict is the same.
    fn whole_line_fits(bytes: &[u8], max_target: usize) -> bool {
        let Some(space) = bytes.iter().take(32).position(|&b| b == b' ') else {
            return false;
        };
        if space == 0 || bytes[..space].iter().any(|&b| b == b'\r' || b == b'\n') {
            return false;
        }
        let target = &bytes[space + 1..];
        let window = &target[..target.len().min(max_target.saturating_add(1))];
        window.iter().any(|&b| matches!(b, b' ' | b'\r' | b'\n'))
    }

    fn advance_bytewise(&mut self, bytes: &[u8], max_target: usize) -> Result<(), HttpError> {
        for &b in bytes {
            *self = match (*self, b) {
                (Self::Done, _) => return Ok(()),
                (Self::Leading { cr: false }, b'\r') => Self::Leading { cr: true },
                (Self::Leading { cr: _ }, b'\n') => Self::Leading { cr: false },
                (Self::Leading { cr: true }, _) => Self::Done,
                (Self::Leading { cr: false }, b' ') => Self::Done,
                (Self::Leading { cr: false }, _) => Self::Method,
                (Self::Method, b' ') => Self::Target { len: 0 },
                (Self::Method, b'\r' | b'\n') => Self::Done,
                (Self::Method, _) => Self::Method,
                (Self::Target { .. }, b' ' | b'\r' | b'\n') => Self::Done,
                (Self::Target { len }, _) if len >= max_target => {
                    return Err(HttpError::target_too_long());
                }
                (Self::Target { len }, _) => Self::Target { len: len + 1 },
            };
        }
        Ok(())
    }
}

/// The error for a request line whose version httparse refused: 505 if the version is a
/// well-formed `HTTP/<digit>.<digit>` (HTTP/2.0, HTTP/3.1; the parser reads HTTP/1.2 to HTTP/1.9
/// as HTTP/1.1 instead), 400 for anything else.
///
/// `lines` holds complete lines, so the request line is whole: httparse reads the version only
/// after the method and target, and it is given input only up to a line end.
pub(crate) fn version_error(lines: &[u8]) -> HttpError {
    let mut rest = lines;
    loop {
        rest = match rest {
            [b'\r', b'\n', tail @ ..] | [b'\n', tail @ ..] => tail,
            _ => break,
        };
    }
    let line = rest.split(|&b| b == b'\n').next().unwrap_or_default();
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    match line.splitn(3, |&b| b == b' ').nth(2) {
        Some([b'H', b'T', b'T', b'P', b'/', major, b'.', minor])
            if major.is_ascii_digit() && minor.is_ascii_digit() =>
        {
            HttpError::version_not_supported()
        }
        _ => HttpError::bad_request("malformed HTTP version"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scan(parts: &[&[u8]], max_target: usize) -> Result<LineScan, HttpError> {
        let mut s = LineScan::START;
        for p in parts {
            s.advance(p, max_target)?;
        }
        Ok(s)
    }

    #[test]
    fn measures_the_target_across_splits() {
        assert_eq!(
            scan(&[b"\r\n\nGET /ab", b"c"], 8),
            Ok(LineScan::Target { len: 4 })
        );
        assert_eq!(scan(&[b"GET /abcd HTTP/1.1"], 5), Ok(LineScan::Done));
        assert_eq!(scan(&[b"GET /abcd"], 5), Ok(LineScan::Target { len: 5 }));
        assert_eq!(
            scan(&[b"GET /abc", b"def"], 5),
            Err(HttpError::target_too_long())
        );
    }

    #[test]
    fn the_one_pass_fast_path_agrees_with_the_byte_wise_scan() {
        let lines: [&[u8]; 12] = [
            b"GET / HTTP/1.1\r\n",
            b"GET /abcd HTTP/1.1",
            b"GET /abcde HTTP/1.1",
            b"GET /abcdef HTTP/1.1",
            b"GET /abcde\r\n",
            b"GET /abcde",
            b"GET\r\n/abc",
            b" GET /",
            b"\r\nGET / HTTP/1.1",
            b"VERYLONGMETHODNAMEBEYONDTHIRTYTWOBYTES /a HTTP/1.1",
            b"GET  / HTTP/1.1",
            b"",
        ];
        for line in lines {
            for max in [0, 1, 5, 6, 100] {
                let mut fast = LineScan::START;
                let mut slow = LineScan::START;
                let a = fast.advance(line, max).map(|()| fast);
                let b = slow.advance_bytewise(line, max).map(|()| slow);
                assert_eq!(a, b, "{:?} max {max}", String::from_utf8_lossy(line));
            }
        }
    }

    #[test]
    fn malformed_starts_end_the_scan() {
        assert_eq!(scan(&[b"\r\rGET /aaaaaaaa"], 2), Ok(LineScan::Done));
        assert_eq!(scan(&[b" GET /aaaaaaaa"], 2), Ok(LineScan::Done));
        assert_eq!(scan(&[b"GET\r\n/aaaaaaaa"], 2), Ok(LineScan::Done));
    }

    #[test]
    fn well_formed_unknown_versions_are_505() {
        for line in [
            &b"GET / HTTP/2.0\r\n"[..],
            b"\r\nGET / HTTP/3.1\n",
            b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
            b"GET / HTTP/1.2\r\n",
        ] {
            assert_eq!(version_error(line).status(), 505, "{line:?}");
        }
    }

    #[test]
    fn malformed_versions_are_400() {
        for line in [
            &b"GET / HTTP/2\r\n"[..],
            b"GET / HTTP/10.0\r\n",
            b"GET / HTTPS/1.1\r\n",
            b"GET / http/1.1\r\n",
            b"GET / HTTP/2.0\rx\n",
            b"GET / HTTP/2.0 \r\n",
        ] {
            assert_eq!(version_error(line).status(), 400, "{line:?}");
        }
    }
}
