//! Response serialisation: the status line and header section, chunked body framing, and the
//! interim `100 Continue`.
//!
//! Everything appends to a caller-owned `Vec<u8>`, so a server can gather a head and a small body
//! in one buffer, or write a head and pass a large body separately.

use std::fmt;

use super::syntax::{has_ctl, is_ctl, is_token};

/// The complete interim response a server sends when a request carried `Expect: 100-continue`
/// and the server wants the body.
pub const CONTINUE_100: &[u8] = b"HTTP/1.1 100 Continue\r\n\r\n";

/// How the response body is delimited, which decides the framing header [`write_head`] writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ResponseFraming {
    /// `Content-Length: n`. Also right for a response to `HEAD`, which announces the length of
    /// the body it does not send.
    Length(u64),
    /// `Transfer-Encoding: chunked`: send the body with [`write_chunk`], end it with
    /// [`write_last_chunk`]. Only for HTTP/1.1 clients.
    Chunked,
    /// No framing header: for 1xx, 204 and 304 responses, or a body that ends when the connection
    /// closes (then pass [`ConnectionHeader::Close`]).
    None,
}

/// The `Connection` header [`write_head`] writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ConnectionHeader {
    /// No `Connection` header: an HTTP/1.1 connection that stays open.
    Omit,
    /// `Connection: keep-alive`: an HTTP/1.0 client asked for a persistent connection and gets it.
    KeepAlive,
    /// `Connection: close`: the server closes after this response.
    Close,
}

/// Why [`write_head`] refused to write. Nothing is appended to the output when it fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum EncodeError {
    /// The status is not a three-digit code (100..=999).
    InvalidStatus,
    /// The reason phrase contains CR, LF or another control character (other than HTAB).
    InvalidReason,
    /// A header name is empty or not a token (RFC 9110 §5.6.2), e.g. it holds a space or a colon.
    InvalidHeaderName,
    /// A header value (or the date) contains CR, LF or another control character (other than
    /// HTAB): writing it would let the value split the response.
    InvalidHeaderValue,
    /// `Content-Length`, `Transfer-Encoding` or `Connection` was passed as a header; those come
    /// from the `framing` and `connection` arguments only, so they cannot contradict them.
    ReservedHeader,
    /// A 1xx or 204 response was given a body framing; it cannot have a body (RFC 9110 §8.6).
    BodyNotAllowed,
}

impl fmt::Display for EncodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::InvalidStatus => "status is not a three-digit code",
            Self::InvalidReason => "control character in the reason phrase",
            Self::InvalidHeaderName => "header name is not a token",
            Self::InvalidHeaderValue => "control character in a header value",
            Self::ReservedHeader => "framing or connection header passed as a plain header",
            Self::BodyNotAllowed => "1xx and 204 responses cannot have a body",
        })
    }
}

impl std::error::Error for EncodeError {}

/// Appends a response head to `out`: status line, `Date` (unless `date` is empty), `headers` in
/// order, the framing header, the `Connection` header and the empty line.
///
/// The status line always says `HTTP/1.1` (RFC 9110 §6.2: a server sends its own version).
/// `reason` may be empty; [`reason_phrase`] gives the usual one. Every input is checked before
/// anything is written, so a value smuggling CR or LF into the output is an error, not a second
/// response.
pub fn write_head<N, V>(
    out: &mut Vec<u8>,
    status: u16,
    reason: &str,
    headers: &[(N, V)],
    framing: ResponseFraming,
    date: &[u8],
    connection: ConnectionHeader,
) -> Result<(), EncodeError>
where
    N: AsRef<[u8]>,
    V: AsRef<[u8]>,
{
    // Status, reason, framing, date, fields: the order the errors have always come in.
    if !(100..=999).contains(&status) {
        return Err(EncodeError::InvalidStatus);
    }
    if reason.bytes().any(is_ctl) {
        return Err(EncodeError::InvalidReason);
    }
    if (status < 200 || status == 204) && framing != ResponseFraming::None {
        return Err(EncodeError::BodyNotAllowed);
    }
    if has_ctl(date) {
        return Err(EncodeError::InvalidHeaderValue);
    }
    check_head(status, None, headers, framing)?;
    append_prefix(out, status, reason, None, headers, date);
    append_tail(out, framing, connection);
    Ok(())
}

/// The server's head up to its own fields: status line (reason from [`reason_phrase`]),
/// `Date` (the server's cached value, never checked again), `first` (the configured
/// `Server`), then `headers`. Checked as [`write_head`] checks; [`write_head_tail`] ends it.
pub(crate) fn write_server_prefix<N, V>(
    out: &mut Vec<u8>,
    status: u16,
    first: Option<(&[u8], &[u8])>,
    headers: &[(N, V)],
    framing: ResponseFraming,
    date: &[u8],
) -> Result<(), EncodeError>
where
    N: AsRef<[u8]>,
    V: AsRef<[u8]>,
{
    check_head(status, first, headers, framing)?;
    append_prefix(out, status, reason_phrase(status), first, headers, date);
    Ok(())
}

/// The framing and `Connection` lines and the empty line that end a head.
pub(crate) fn write_head_tail(
    out: &mut Vec<u8>,
    framing: ResponseFraming,
    connection: ConnectionHeader,
) {
    append_tail(out, framing, connection);
}

/// Whether `name` is one of the fields [`write_head`] writes itself: `Content-Length`,
/// `Transfer-Encoding`, `Connection` (case-insensitive).
#[inline(always)]
pub(crate) fn is_reserved(name: &[u8]) -> bool {
    match name.len() {
        10 => name.eq_ignore_ascii_case(b"connection"),
        14 => name.eq_ignore_ascii_case(b"content-length"),
        17 => name.eq_ignore_ascii_case(b"transfer-encoding"),
        _ => false,
    }
}

/// The status and framing checks of [`write_head`].
pub(crate) fn check_status(status: u16, framing: ResponseFraming) -> Result<(), EncodeError> {
    if !(100..=999).contains(&status) {
        return Err(EncodeError::InvalidStatus);
    }
    if (status < 200 || status == 204) && framing != ResponseFraming::None {
        return Err(EncodeError::BodyNotAllowed);
    }
    Ok(())
}

/// Every check of [`write_head`] but the reason's and the date's.
fn check_head<N, V>(
    status: u16,
    first: Option<(&[u8], &[u8])>,
    headers: &[(N, V)],
    framing: ResponseFraming,
) -> Result<(), EncodeError>
where
    N: AsRef<[u8]>,
    V: AsRef<[u8]>,
{
    check_status(status, framing)?;
    let fields = first
        .into_iter()
        .chain(headers.iter().map(|(n, v)| (n.as_ref(), v.as_ref())));
    for (name, value) in fields {
        if !is_token(name) {
            return Err(EncodeError::InvalidHeaderName);
        }
        if is_reserved(name) {
            return Err(EncodeError::ReservedHeader);
        }
        if has_ctl(value) {
            return Err(EncodeError::InvalidHeaderValue);
        }
    }
    Ok(())
}

/// Writes the checked status line, `Date` and fields.
fn append_prefix<N, V>(
    out: &mut Vec<u8>,
    status: u16,
    reason: &str,
    first: Option<(&[u8], &[u8])>,
    headers: &[(N, V)],
    date: &[u8],
) where
    N: AsRef<[u8]>,
    V: AsRef<[u8]>,
{
    let fields_len: usize = first
        .iter()
        .map(|(n, v)| n.len() + v.len() + 4)
        .chain(
            headers
                .iter()
                .map(|(n, v)| n.as_ref().len() + v.as_ref().len() + 4),
        )
        .sum();
    // Status line and `Date` take at most 64 bytes beside the reason and the date.
    out.reserve(reason.len() + date.len() + fields_len + 64);
    out.extend_from_slice(b"HTTP/1.1 ");
    push_digits(out, u64::from(status), 10);
    out.push(b' ');
    out.extend_from_slice(reason.as_bytes());
    out.extend_from_slice(b"\r\n");
    if !date.is_empty() {
        push_header(out, b"Date", date);
    }
    if let Some((name, value)) = first {
        push_header(out, name, value);
    }
    for (name, value) in headers {
        push_header(out, name.as_ref(), value.as_ref());
    }
}

/// Writes the framing and `Connection` lines and the empty line.
fn append_tail(out: &mut Vec<u8>, framing: ResponseFraming, connection: ConnectionHeader) {
    match framing {
        ResponseFraming::Length(n) => {
            out.extend_from_slice(b"Content-Length: ");
            push_digits(out, n, 10);
            out.extend_from_slice(b"\r\n");
        }
        ResponseFraming::Chunked => out.extend_from_slice(b"Transfer-Encoding: chunked\r\n"),
        ResponseFraming::None => {}
    }
    match connection {
        ConnectionHeader::Omit => {}
        ConnectionHeader::KeepAlive => out.extend_from_slice(b"Connection: keep-alive\r\n"),
        ConnectionHeader::Close => out.extend_from_slice(b"Connection: close\r\n"),
    }
    out.extend_from_slice(b"\r\n");
}

/// Appends one chunk carrying `data`. Empty `data` appends nothing, because an empty chunk is the
/// end of the body; use [`write_last_chunk`] for that.
pub fn write_chunk(out: &mut Vec<u8>, data: &[u8]) {
    if !data.is_empty() {
        write_chunk_header(out, data.len());
        out.extend_from_slice(data);
        out.extend_from_slice(b"\r\n");
    }
}

/// Appends only the size line of a chunk of `len` bytes, for a caller that sends the data from
/// its own buffer (e.g. in one vectored write). The data must be followed by [`CHUNK_END`].
/// `len` must not be 0 (that would end the body).
pub fn write_chunk_header(out: &mut Vec<u8>, len: usize) {
    push_digits(out, len as u64, 16);
    out.extend_from_slice(b"\r\n");
}

/// What follows the data of every chunk.
pub const CHUNK_END: &[u8] = b"\r\n";

/// Appends the last chunk and an empty trailer section: the end of a chunked body.
pub fn write_last_chunk(out: &mut Vec<u8>) {
    out.extend_from_slice(b"0\r\n\r\n");
}

/// The usual reason phrase for `status` (RFC 9110 §15), or `""` for codes without one.
pub fn reason_phrase(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        101 => "Switching Protocols",
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        203 => "Non-Authoritative Information",
        204 => "No Content",
        205 => "Reset Content",
        206 => "Partial Content",
        301 => "Moved Permanently",
        302 => "Found",
        303 => "See Other",
        304 => "Not Modified",
        307 => "Temporary Redirect",
        308 => "Permanent Redirect",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        406 => "Not Acceptable",
        408 => "Request Timeout",
        409 => "Conflict",
        410 => "Gone",
        411 => "Length Required",
        412 => "Precondition Failed",
        413 => "Content Too Large",
        414 => "URI Too Long",
        415 => "Unsupported Media Type",
        416 => "Range Not Satisfiable",
        417 => "Expectation Failed",
        421 => "Misdirected Request",
        422 => "Unprocessable Content",
        426 => "Upgrade Required",
        428 => "Precondition Required",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        505 => "HTTP Version Not Supported",
        _ => "",
    }
}

fn push_header(out: &mut Vec<u8>, name: &[u8], value: &[u8]) {
    out.extend_from_slice(name);
    out.extend_from_slice(b": ");
    out.extend_from_slice(value);
    out.extend_from_slice(b"\r\n");
}

/// `n` in base `radix` (10 or 16, lowercase).
fn push_digits(out: &mut Vec<u8>, mut n: u64, radix: u64) {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b"0123456789abcdef"[(n % radix) as usize];
        n /= radix;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[i..]);
}

#[cfg(test)]
mod tests {
    use super::*;

    const DATE: &[u8] = b"Sun, 06 Nov 1994 08:49:37 GMT";

    fn head(
        status: u16,
        headers: &[(&str, &str)],
        framing: ResponseFraming,
        connection: ConnectionHeader,
    ) -> Result<String, EncodeError> {
        let mut out = b"previous".to_vec();
        let result = write_head(
            &mut out,
            status,
            reason_phrase(status),
            headers,
            framing,
            DATE,
            connection,
        );
        if result.is_err() {
            assert_eq!(out, b"previous", "nothing may be written on error");
        }
        result.map(|()| String::from_utf8_lossy(&out[8..]).into_owned())
    }

    #[test]
    fn writes_a_full_head() {
        let text = head(
            200,
            &[("Content-Type", "text/plain"), ("X-A", "1")],
            ResponseFraming::Length(12),
            ConnectionHeader::Omit,
        );
        assert_eq!(
            text.as_deref(),
            Ok("HTTP/1.1 200 OK\r\nDate: Sun, 06 Nov 1994 08:49:37 GMT\r\n\
                Content-Type: text/plain\r\nX-A: 1\r\nContent-Length: 12\r\n\r\n")
        );
    }

    #[test]
    fn framing_and_connection_headers() {
        let chunked = head(404, &[], ResponseFraming::Chunked, ConnectionHeader::Close);
        assert_eq!(
            chunked.as_deref(),
            Ok(
                "HTTP/1.1 404 Not Found\r\nDate: Sun, 06 Nov 1994 08:49:37 GMT\r\n\
                Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
            )
        );
        let mut out = Vec::new();
        let empty: &[(&str, &[u8])] = &[];
        let written = write_head(
            &mut out,
            599,
            "",
            empty,
            ResponseFraming::None,
            b"",
            ConnectionHeader::KeepAlive,
        );
        assert_eq!(written, Ok(()));
        assert_eq!(out, b"HTTP/1.1 599 \r\nConnection: keep-alive\r\n\r\n");
    }

    #[test]
    fn refuses_response_splitting_and_bad_input() {
        use ConnectionHeader::Omit;
        use ResponseFraming::{Length, None};
        let bad = |status, headers: &[(&str, &str)], framing| head(status, headers, framing, Omit);
        let e = Err(EncodeError::InvalidHeaderValue);
        assert_eq!(bad(200, &[("X", "a\r\nSet-Cookie: x")], None), e);
        assert_eq!(bad(200, &[("X", "a\nb")], None), e);
        assert_eq!(bad(200, &[("X", "a\rb")], None), e);
        assert_eq!(bad(200, &[("X", "a\0b")], None), e);
        let e = Err(EncodeError::InvalidHeaderName);
        assert_eq!(bad(200, &[("X\r\nY", "a")], None), e);
        assert_eq!(bad(200, &[("X Y", "a")], None), e);
        assert_eq!(bad(200, &[("X:", "a")], None), e);
        assert_eq!(bad(200, &[("", "a")], None), e);
        let e = Err(EncodeError::ReservedHeader);
        assert_eq!(bad(200, &[("content-length", "1")], Length(1)), e);
        assert_eq!(bad(200, &[("Transfer-Encoding", "chunked")], None), e);
        assert_eq!(bad(200, &[("Connection", "close")], None), e);
        assert_eq!(bad(99, &[], None), Err(EncodeError::InvalidStatus));
        assert_eq!(bad(1000, &[], None), Err(EncodeError::InvalidStatus));
        assert_eq!(bad(204, &[], Length(0)), Err(EncodeError::BodyNotAllowed));
        assert_eq!(
            bad(101, &[], ResponseFraming::Chunked),
            Err(EncodeError::BodyNotAllowed)
        );
        assert!(bad(304, &[], Length(10)).is_ok());
        assert!(bad(200, &[("X", "tab\tand obs-text \u{e9}")], None).is_ok());

        let mut out = Vec::new();
        let no_headers: &[(&str, &str)] = &[];
        let r = write_head(&mut out, 200, "O\r\nK", no_headers, None, DATE, Omit);
        assert_eq!(r, Err(EncodeError::InvalidReason));
        let r = write_head(&mut out, 200, "OK", no_headers, None, b"x\r\ny", Omit);
        assert_eq!(r, Err(EncodeError::InvalidHeaderValue));
        assert!(out.is_empty());
    }

    #[test]
    fn chunk_framing() {
        let mut out = Vec::new();
        write_chunk(&mut out, b"hello");
        write_chunk(&mut out, b"");
        write_chunk(&mut out, &[b'x'; 26]);
        write_last_chunk(&mut out);
        let mut expected = b"5\r\nhello\r\n1a\r\n".to_vec();
        expected.extend_from_slice(&[b'x'; 26]);
        expected.extend_from_slice(b"\r\n0\r\n\r\n");
        assert_eq!(out, expected);

        out.clear();
        write_chunk_header(&mut out, usize::MAX);
        assert_eq!(out, format!("{:x}\r\n", usize::MAX).as_bytes());
        assert_eq!(CHUNK_END, b"\r\n");
    }

    #[test]
    fn reason_phrases_and_continue() {
        assert_eq!(reason_phrase(200), "OK");
        assert_eq!(reason_phrase(431), "Request Header Fields Too Large");
        assert_eq!(reason_phrase(505), "HTTP Version Not Supported");
        assert_eq!(reason_phrase(299), "");
        assert_eq!(CONTINUE_100, b"HTTP/1.1 100 Continue\r\n\r\n");
    }
}
