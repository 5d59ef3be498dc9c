//! A parsed request head, and the rules that derive its framing and connection handling from the
//! header fields (RFC 9112 §6 and §9).

use super::error::HttpError;
use super::method::Method;
use super::syntax::{is_token, trim_ows};

/// How the body of a request is delimited (RFC 9112 §6.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum BodyFraming {
    /// No `Content-Length` and no `Transfer-Encoding`: the request has no body.
    None,
    /// `Content-Length`: exactly this many bytes follow the head (possibly 0).
    Length(u64),
    /// `Transfer-Encoding: chunked`: the body is a series of chunks ending with a zero-size one.
    Chunked,
}

/// The start line and header fields of one request, with what the parser derived from them.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RequestHead {
    /// The request method.
    pub method: Method,
    /// The request-target exactly as sent: a path with an optional query (`/a?b`), an absolute
    /// URI, `*` (only with `OPTIONS`) or an authority (only with `CONNECT`).
    pub target: String,
    /// The minor version: 0 for HTTP/1.0, 1 for HTTP/1.1.
    pub version_minor: u8,
    /// Every header field line in arrival order, name as sent (use [`header`](Self::header) for a
    /// case-insensitive lookup), value with surrounding whitespace removed. Values are bytes:
    /// HTTP allows non-UTF-8 octets (obs-text) in them.
    pub headers: Vec<(String, Vec<u8>)>,
    /// How the body is delimited.
    pub framing: BodyFraming,
    /// Whether the connection stays open after the response: HTTP/1.1 unless `Connection: close`,
    /// HTTP/1.0 only with `Connection: keep-alive`.
    pub keep_alive: bool,
    /// Whether an HTTP/1.1 client sent `Expect: 100-continue` and waits for an interim
    /// `100 Continue` before sending the body (HTTP/1.0 expectations are ignored, RFC 9110 §10.1.1).
    pub expect_continue: bool,
}

impl RequestHead {
    /// The value of the first header field called `name`, compared case-insensitively.
    pub fn header(&self, name: &str) -> Option<&[u8]> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_slice())
    }

    /// Like [`header`](Self::header), but `None` also when the value is not UTF-8.
    pub fn header_str(&self, name: &str) -> Option<&str> {
        std::str::from_utf8(self.header(name)?).ok()
    }

    /// The values of every header field called `name`, compared case-insensitively, in order.
    pub fn headers_named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a [u8]> + 'a {
        self.headers
            .iter()
            .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_slice())
    }

    /// Builds the head from what httparse read, applying the framing, `Host` and connection
    /// rules. `max_body` turns an announced `Content-Length` over the limit into a 413 at once.
    #[cfg(test)]
    pub(crate) fn from_parts(
        method: &str,
        target: &str,
        version_minor: u8,
        fields: &[httparse::Header<'_>],
        max_body: u64,
    ) -> Result<Self, HttpError> {
        let method = Method::from_token(method);
        let derived = Derived::check(&method, target, version_minor, fields, max_body)?;
        Ok(Self {
            method,
            target: target.to_owned(),
            version_minor,
            headers: fields
                .iter()
                .map(|h| (h.name.to_owned(), h.value.to_owned()))
                .collect(),
            framing: derived.framing,
            keep_alive: derived.keep_alive,
            expect_continue: derived.expect_continue,
        })
    }
}

/// What the request-target, `Host`, framing and connection rules make of a head's fields;
/// checked straight on httparse's output, so a valid head costs no allocation to judge.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Derived {
    pub(crate) framing: BodyFraming,
    pub(crate) keep_alive: bool,
    pub(crate) expect_continue: bool,
    /// An `Expect` field is present (whatever it asks for).
    pub(crate) has_expect: bool,
}

impl Derived {
    /// Applies every rule, or names the first one broken.
    pub(crate) fn check(
        method: &Method,
        target: &str,
        version_minor: u8,
        fields: &[httparse::Header<'_>],
        max_body: u64,
    ) -> Result<Self, HttpError> {
        check_target(method, target)?;
        let fields = Fields(fields);
        let seen = Seen::scan(fields);
        match (seen.hosts, seen.host) {
            (0, _) if version_minor >= 1 => {
                return Err(HttpError::bad_request("HTTP/1.1 request without Host"));
            }
            (2.., _) => return Err(HttpError::bad_request("more than one Host")),
            // Every byte looked at, without a branch per byte: a valid Host is the usual case.
            (_, Some(host)) if !all_authority_bytes(host) => {
                return Err(HttpError::bad_request("invalid Host value"));
            }
            _ => {}
        }
        // Most requests carry none of the fields below: one pass over the fields decided that.
        let framing = if seen.framing {
            fields.framing(version_minor, max_body)?
        } else {
            BodyFraming::None
        };
        let (close, keep_alive) = if seen.connection {
            fields.connection_options()
        } else {
            (false, false)
        };
        let expect_continue = version_minor >= 1
            && seen.expect
            && fields
                .named("expect")
                .flat_map(list_elements)
                .any(|e| e.eq_ignore_ascii_case(b"100-continue"));
        Ok(Self {
            framing,
            keep_alive: !close && (version_minor >= 1 || keep_alive),
            expect_continue,
            has_expect: seen.expect,
        })
    }
}

/// Which of the fields the rules read a head has, found in one pass.
#[derive(Default)]
struct Seen<'a> {
    hosts: usize,
    host: Option<&'a [u8]>,
    /// `Content-Length` or `Transfer-Encoding`.
    framing: bool,
    connection: bool,
    expect: bool,
}

impl<'a> Seen<'a> {
    fn scan(fields: Fields<'a, '_>) -> Self {
        let mut seen = Self::default();
        for h in fields.0 {
            let name = h.name.as_bytes();
            match name.len() {
                4 if is_host(name) => {
                    seen.hosts += 1;
                    seen.host.get_or_insert(h.value);
                }
                6 if name.eq_ignore_ascii_case(b"expect") => seen.expect = true,
                10 if name.eq_ignore_ascii_case(b"connection") => seen.connection = true,
                14 if name.eq_ignore_ascii_case(b"content-length") => seen.framing = true,
                17 if name.eq_ignore_ascii_case(b"transfer-encoding") => seen.framing = true,
                _ => {}
            }
        }
        seen
    }
}

/// `name.eq_ignore_ascii_case(b"host")` as one word comparison: setting the case bit maps
/// only `H`/`h`, `O`/`o`, `S`/`s` and `T`/`t` onto the letters of `host`.
fn is_host(name: &[u8]) -> bool {
    <[u8; 4]>::try_from(name)
        .is_ok_and(|w| u32::from_le_bytes(w) | 0x2020_2020 == u32::from_le_bytes(*b"host"))
}

/// httparse's header fields, looked up by name.
#[derive(Clone, Copy)]
struct Fields<'a, 'b>(&'a [httparse::Header<'b>]);

impl<'a> Fields<'a, '_> {
    /// The values of every field called `name` (case-insensitive), in order.
    fn named(self, name: &'a str) -> impl Iterator<Item = &'a [u8]> + 'a {
        self.0
            .iter()
            .filter(move |h| h.name.eq_ignore_ascii_case(name))
            .map(|h| h.value)
    }

    /// RFC 9112 §6.3, strictly: `Transfer-Encoding` must end in a single `chunked` and may not
    /// appear with `Content-Length` or in HTTP/1.0; all `Content-Length` values must agree.
    fn framing(self, version_minor: u8, max_body: u64) -> Result<BodyFraming, HttpError> {
        let length = self.content_length()?;
        let mut codings = self.strict_elements("transfer-encoding").peekable();
        if codings.peek().is_none() {
            return match length {
                Some(n) if n > max_body => Err(HttpError::body_too_large()),
                Some(n) => Ok(BodyFraming::Length(n)),
                None => Ok(BodyFraming::None),
            };
        }
        if length.is_some() {
            return Err(HttpError::bad_request(
                "both Content-Length and Transfer-Encoding",
            ));
        }
        if version_minor == 0 {
            return Err(HttpError::bad_request("Transfer-Encoding in HTTP/1.0"));
        }
        let mut seen_chunked = false;
        let mut other = false;
        for coding in codings {
            if seen_chunked {
                return Err(HttpError::bad_request("chunked is not the final coding"));
            }
            let name = coding.split(|&b| b == b';').next().unwrap_or_default();
            if !is_token(trim_ows(name)) {
                return Err(HttpError::bad_request("invalid Transfer-Encoding"));
            }
            if coding.eq_ignore_ascii_case(b"chunked") {
                seen_chunked = true;
            } else {
                other = true;
            }
        }
        if !seen_chunked {
            Err(HttpError::bad_request("chunked is not the final coding"))
        } else if other {
            Err(HttpError::not_implemented("unsupported transfer coding"))
        } else {
            Ok(BodyFraming::Chunked)
        }
    }

    /// The announced length, if any. Identical duplicates (as separate lines or as a list such as
    /// `5, 5`) are one length; anything that is not a plain decimal fitting a `u64` is an error.
    fn content_length(self) -> Result<Option<u64>, HttpError> {
        let mut length = None;
        for element in self.strict_elements("content-length") {
            let n =
                parse_decimal(element).ok_or(HttpError::bad_request("invalid Content-Length"))?;
            if length.is_some_and(|l| l != n) {
                return Err(HttpError::bad_request("conflicting Content-Length values"));
            }
            length = Some(n);
        }
        Ok(length)
    }

    /// The elements of the comma lists in every field called `name`, trimmed, empty ones kept:
    /// framing fields are read strictly, so `Content-Length: 5,` or an empty
    /// `Transfer-Encoding` is an error rather than something another parser may read otherwise.
    fn strict_elements(self, name: &'a str) -> impl Iterator<Item = &'a [u8]> + 'a {
        self.named(name)
            .flat_map(|value| value.split(|&b| b == b',').map(trim_ows))
    }

    /// Whether the `Connection` options include `close` and `keep-alive`.
    fn connection_options(self) -> (bool, bool) {
        let (mut close, mut keep_alive) = (false, false);
        for option in self.named("connection").flat_map(list_elements) {
            close |= option.eq_ignore_ascii_case(b"close");
            keep_alive |= option.eq_ignore_ascii_case(b"keep-alive");
        }
        (close, keep_alive)
    }
}

/// RFC 9112 §3.2: `*` only for `OPTIONS`; `CONNECT` takes an authority; everything else a path
/// (origin-form) or an absolute URI with a scheme.
fn check_target(method: &Method, target: &str) -> Result<(), HttpError> {
    let ok = match target.as_bytes() {
        b"*" => *method == Method::Options,
        [b'/', ..] => *method != Method::Connect,
        _ if *method == Method::Connect => target.bytes().all(is_authority_byte),
        [first, rest @ ..] if first.is_ascii_alphabetic() => {
            let scheme_len = rest
                .iter()
                .position(|&b| !(b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.')));
            scheme_len.is_some_and(|i| rest[i] == b':')
        }
        _ => false,
    };
    if ok {
        Ok(())
    } else {
        Err(HttpError::bad_request("invalid request-target"))
    }
}

/// The elements of a comma-separated list (RFC 9110 §5.6.1), trimmed, empty ones dropped as
/// the RFC asks of lenient fields.
fn list_elements(value: &[u8]) -> impl Iterator<Item = &[u8]> {
    value
        .split(|&b| b == b',')
        .map(trim_ows)
        .filter(|e| !e.is_empty())
}

/// `1*DIGIT` as a `u64`; `None` for signs, other characters, emptiness or overflow.
fn parse_decimal(digits: &[u8]) -> Option<u64> {
    if digits.is_empty() {
        return None;
    }
    digits.iter().try_fold(0u64, |n, &b| {
        let digit = u64::from(b.checked_sub(b'0').filter(|d| *d <= 9)?);
        n.checked_mul(10)?.checked_add(digit)
    })
}

/// Bytes of `uri-host [":" port]`: unreserved, sub-delims, `:`, `%` and the IP-literal brackets.
fn is_authority_byte(b: u8) -> bool {
    AUTHORITY[usize::from(b)]
}

/// Whether every byte of `value` is an authority byte. Every byte is looked at, without a
/// branch per byte, eight at a time: a valid `Host` is the usual case, and fixed-length
/// groups unroll. The tail is the last eight bytes, overlapping the groups before it.
fn all_authority_bytes(value: &[u8]) -> bool {
    fn each(bytes: &[u8]) -> bool {
        bytes.iter().fold(true, |ok, &b| ok & is_authority_byte(b))
    }
    let Some(tail) = value.last_chunk::<8>() else {
        return each(value);
    };
    let (groups, _) = value.as_chunks::<8>();
    groups.iter().fold(each(tail), |ok, group| ok & each(group))
}

/// [`is_authority_byte`] for every byte: every request's `Host` goes through it.
const AUTHORITY: [bool; 256] = {
    let mut table = [false; 256];
    let mut i = 0;
    while i < 256 {
        table[i] = (i as u8).is_ascii_alphanumeric();
        i += 1;
    }
    let extra = b"-._~!$&'()*+,;=:%[]";
    let mut j = 0;
    while j < extra.len() {
        table[extra[j] as usize] = true;
        j += 1;
    }
    table
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn is_host_is_a_case_insensitive_comparison() {
        for name in [&b"host"[..], b"HOST", b"hOsT", b"hos", b"hosts", b""] {
            assert_eq!(
                is_host(name),
                name.eq_ignore_ascii_case(b"host"),
                "{name:?}"
            );
        }
        for at in 0..4 {
            for b in 0..=255u8 {
                let mut name = *b"host";
                name[at] = b;
                assert_eq!(
                    is_host(&name),
                    name.eq_ignore_ascii_case(b"host"),
                    "{name:?}"
                );
            }
        }
    }

    #[test]
    fn a_host_with_a_bad_byte_anywhere_is_refused() {
        let host = b"example.com:8080";
        for at in 0..host.len() {
            for bad in [b' ', b'/', b'\x7f', b'"', 0x80] {
                let mut value = host.to_vec();
                value[at] = bad;
                let h = [httparse::Header {
                    name: "Host",
                    value: &value,
                }];
                let checked = Derived::check(&Method::Get, "/", 1, &h, 0);
                assert!(checked.is_err(), "{value:?}");
            }
        }
        let h = [httparse::Header {
            name: "HOST",
            value: host,
        }];
        assert!(Derived::check(&Method::Get, "/", 1, &h, 0).is_ok());
    }

    #[test]
    fn the_grouped_authority_check_agrees_with_the_byte_by_byte_one() {
        let slow = |v: &[u8]| v.iter().all(|&b| is_authority_byte(b));
        for len in 0..40 {
            let good: Vec<u8> = (0..len).map(|i| b"a1.-:[]%~"[i % 9]).collect();
            assert!(all_authority_bytes(&good), "{good:?}");
            for at in 0..len {
                for bad in [b' ', b'/', b'@', b'\x7f', 0x80, 0xff, 0] {
                    let mut value = good.clone();
                    value[at] = bad;
                    assert_eq!(all_authority_bytes(&value), slow(&value), "{value:?}");
                    assert!(!all_authority_bytes(&value), "{value:?}");
                }
            }
        }
    }

    #[test]
    fn decimal_parsing() {
        assert_eq!(parse_decimal(b"0"), Some(0));
        assert_eq!(parse_decimal(b"0018"), Some(18));
        assert_eq!(parse_decimal(b"18446744073709551615"), Some(u64::MAX));
        assert_eq!(parse_decimal(b"18446744073709551616"), None);
        for bad in [&b""[..], b"-1", b"+1", b" 1", b"1.0", b"\xd9\xa1"] {
            assert_eq!(parse_decimal(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn authority_bytes() {
        for b in 0..=255u8 {
            let slow = b.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=:%[]".contains(&b);
            assert_eq!(is_authority_byte(b), slow, "{b}");
        }
    }

    #[test]
    fn lenient_lists_drop_empty_elements() {
        let elements: Vec<&[u8]> = list_elements(b" a ,, b\t,").collect();
        assert_eq!(elements, [&b"a"[..], b"b"]);
    }

    #[test]
    fn targets() {
        let ok = |m: &str, t: &str| check_target(&Method::from_token(m), t).is_ok();
        assert!(ok("GET", "/"));
        assert!(ok("GET", "https://a.b/c?d"));
        assert!(ok("GET", "urn:x"));
        assert!(ok("OPTIONS", "*"));
        assert!(ok("CONNECT", "[::1]:443"));
        assert!(!ok("GET", "*"));
        assert!(!ok("GET", "a.b/c"));
        assert!(!ok("GET", "1http://a"));
        assert!(!ok("CONNECT", "/"));
        assert!(!ok("CONNECT", "a/b:1"));
    }

    #[test]
    fn lookup_is_case_insensitive_and_ordered() {
        let fields = [
            httparse::Header {
                name: "Host",
                value: b"a",
            },
            httparse::Header {
                name: "X-Tag",
                value: b"1",
            },
            httparse::Header {
                name: "x-tag",
                value: b"\xff",
            },
        ];
        let head = RequestHead::from_parts("GET", "/", 1, &fields, 0);
        let Ok(head) = head else {
            panic!("{head:?}");
        };
        assert_eq!(head.header("X-TAG"), Some(&b"1"[..]));
        let all: Vec<&[u8]> = head.headers_named("x-Tag").collect();
        assert_eq!(all, [&b"1"[..], b"\xff"]);
        assert_eq!(head.header_str("missing"), None);
        assert_eq!(head.headers[2].0, "x-tag");
    }
}
