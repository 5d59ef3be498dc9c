//! [`Request`]: what a handler receives, and [`percent_decode`].

use std::net::SocketAddr;

use crate::http::proto::head::RequestHead;
use crate::http::proto::method::Method;
use crate::http::proto::raw_head::RawHead;

/// A complete request: head, the whole body (buffered up to
/// [`ServerConfig::max_body_bytes`](super::ServerConfig::max_body_bytes)), and the peer.
///
/// The head is kept as the bytes it arrived in: the method, target, version and header
/// lookups read them in place. [`headers`](Self::headers) and [`head`](Self::head) build the
/// owned [`RequestHead`] the first time they are called; [`header_fields`](Self::header_fields)
/// walks the fields without building anything.
#[derive(Debug, Clone)]
pub struct Request {
    /// The head with its body and peer; the owned [`RequestHead`] is built in it on first
    /// use, so the `Request` moved into every handler call is one pointer.
    raw: RawHead,
}

impl Request {
    /// The request of `raw` (which carries its body) from `peer`.
    pub(crate) fn new(mut raw: RawHead, peer: SocketAddr) -> Self {
        raw.set_peer(peer);
        Self { raw }
    }

    /// The method.
    pub fn method(&self) -> &Method {
        &self.raw.meta().method
    }

    /// The request-target exactly as sent (`/a/b?c=d`).
    pub fn target(&self) -> &str {
        self.raw.target()
    }

    /// The target up to `?`, not decoded (use [`percent_decode`]). An absolute-form target
    /// (`GET http://host/a?b`, which RFC 9112 §3.2.2 obliges a server to accept) gives its
    /// path (`/a`; `/` when it has none).
    #[inline]
    pub fn path(&self) -> &str {
        split_target(self.target()).0
    }

    /// The target after `?`, if there is one, not decoded.
    pub fn query(&self) -> Option<&str> {
        split_target(self.target()).1
    }

    /// The decoded value of the first `name=value` pair of the query called `name` (`+` reads
    /// as a space, as in HTML forms). `None` if absent or not valid percent-encoded UTF-8.
    pub fn query_param(&self, name: &str) -> Option<String> {
        self.query()?.split('&').find_map(|pair| {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            let key = String::from_utf8(percent_decode(&key.replace('+', " "))?).ok()?;
            if key != name {
                return None;
            }
            String::from_utf8(percent_decode(&value.replace('+', " "))?).ok()
        })
    }

    /// The minor version: 0 for HTTP/1.0, 1 for HTTP/1.1.
    pub fn version_minor(&self) -> u8 {
        self.raw.meta().version_minor
    }

    /// The value of the first header field called `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&[u8]> {
        self.raw.header(name)
    }

    /// Like [`header`](Self::header), `None` also when the value is not UTF-8.
    pub fn header_str(&self, name: &str) -> Option<&str> {
        std::str::from_utf8(self.header(name)?).ok()
    }

    /// Every header field in arrival order as (name as sent, value trimmed), read in place:
    /// unlike [`headers`](Self::headers) this allocates nothing.
    pub fn header_fields(&self) -> impl Iterator<Item = (&[u8], &[u8])> + '_ {
        self.raw.fields()
    }

    /// Every header field in arrival order: name as sent, value trimmed. The first call
    /// builds the owned [`RequestHead`]; [`header_fields`](Self::header_fields) does not.
    pub fn headers(&self) -> &[(String, Vec<u8>)] {
        &self.head().headers
    }

    /// The parsed head, with framing and connection details (built on the first call).
    pub fn head(&self) -> &RequestHead {
        self.raw.owned_head()
    }

    /// The body (empty when the request had none).
    pub fn body(&self) -> &[u8] {
        self.raw.body()
    }

    /// Takes the body out of the request.
    pub fn into_body(mut self) -> Vec<u8> {
        self.raw.take_body()
    }

    /// The client's address.
    pub fn peer_addr(&self) -> SocketAddr {
        self.raw.peer()
    }
}

/// Where the `?` of `target` is (a byte search: cheaper than a `char` one).
/// The target's path and query, with the scheme and authority of an absolute-form target
/// dropped and its empty path read as `/` (RFC 9112 §3.2.2).
#[inline]
fn split_target(target: &str) -> (&str, Option<&str>) {
    // The usual origin form (`/a?b`) costs no look at schemes.
    let scheme = if target.starts_with('/') {
        None
    } else {
        scheme_len(target.as_bytes())
    };
    let Some(scheme) = scheme else {
        return match query_start(target) {
            Some(i) => (&target[..i], target.get(i + 1..)),
            None => (target, None),
        };
    };
    let rest = &target[scheme..];
    let t = rest.find(['/', '?']).map_or("", |i| &rest[i..]);
    let (path, query) = match query_start(t) {
        Some(i) => (&t[..i], t.get(i + 1..)),
        None => (t, None),
    };
    (if path.is_empty() { "/" } else { path }, query)
}

/// The length of an `http://` or `https://` prefix (any case), if `target` has one.
fn scheme_len(target: &[u8]) -> Option<usize> {
    ["http://", "https://"]
        .into_iter()
        .find(|s| target.len() >= s.len() && target[..s.len()].eq_ignore_ascii_case(s.as_bytes()))
        .map(str::len)
}

fn query_start(target: &str) -> Option<usize> {
    target.bytes().position(|b| b == b'?')
}

/// Decodes `%XX` escapes (RFC 3986 §2.1). `None` if a `%` is not followed by two hex digits.
/// The result is bytes: an escape may produce anything, including `/`, `..` pieces or NUL, so
/// check decoded paths before using them.
///
/// ```
/// use evloop::http::percent_decode;
/// assert_eq!(percent_decode("a%20b%2F").as_deref(), Some(&b"a b/"[..]));
/// assert_eq!(percent_decode("%zz"), None);
/// ```
pub fn percent_decode(s: &str) -> Option<Vec<u8>> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hi = hex(*bytes.get(i + 1)?)?;
            let lo = hex(*bytes.get(i + 2)?)?;
            out.push(hi << 4 | lo);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    Some(out)
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::parser::{Parser, RawEvent};

    fn request(target: &str) -> Request {
        let raw = format!("GET {target} HTTP/1.1\r\nHost: a\r\nX-A: 1\r\n\r\n");
        let step = Parser::default().parse_raw(raw.as_bytes());
        let Ok((_, RawEvent::Request(head))) = step else {
            panic!("{step:?}")
        };
        Request::new(head, ([127, 0, 0, 1], 9).into())
    }

    #[test]
    fn an_absolute_form_target_gives_its_path_and_query() {
        let r = request("http://example.com:8080/a/b?ms=20");
        assert_eq!((r.path(), r.query()), ("/a/b", Some("ms=20")));
        assert_eq!(r.target(), "http://example.com:8080/a/b?ms=20");
        let r = request("HTTPS://example.com");
        assert_eq!((r.path(), r.query()), ("/", None));
        let r = request("http://example.com?x=1");
        assert_eq!((r.path(), r.query_param("x").as_deref()), ("/", Some("1")));
        // Not a scheme we know: left as it is.
        let r = request("ftp://example.com/a");
        assert_eq!(r.path(), "ftp://example.com/a");
    }

    #[test]
    fn path_and_query() {
        let r = request("/a/b?ms=20&x=a%20b+c&flag");
        assert_eq!(r.path(), "/a/b");
        assert_eq!(r.query(), Some("ms=20&x=a%20b+c&flag"));
        assert_eq!(r.query_param("ms").as_deref(), Some("20"));
        assert_eq!(r.query_param("x").as_deref(), Some("a b c"));
        assert_eq!(r.query_param("flag").as_deref(), Some(""));
        assert_eq!(r.query_param("y"), None);
        assert_eq!(r.header("x-a"), Some(&b"1"[..]));
        assert_eq!(r.header_str("HOST"), Some("a"));
        let fields: Vec<_> = r.header_fields().collect();
        assert_eq!(fields, [(&b"Host"[..], &b"a"[..]), (b"X-A", b"1")]);
        assert_eq!(r.headers().len(), 2);
        assert_eq!(r.headers()[1], ("X-A".to_owned(), b"1".to_vec()));
        assert_eq!(r.head().target, "/a/b?ms=20&x=a%20b+c&flag");
        assert_eq!(r.method(), &Method::Get);
        let r = request("/plain");
        assert_eq!((r.path(), r.query()), ("/plain", None));
    }

    #[test]
    fn body_and_peer_travel_in_the_head_and_a_reused_head_starts_empty() {
        let mut r = request("/with-body");
        r.raw.set_body(b"payload".to_vec());
        assert_eq!(r.body(), b"payload");
        assert_eq!(r.peer_addr(), ([127, 0, 0, 1], 9).into());
        let copy = r.clone();
        assert_eq!(r.into_body(), b"payload");
        assert_eq!(copy.body(), b"payload", "a clone has its own body");
        assert_eq!(copy.head().target, "/with-body", "the owned head is built");
        drop(copy);
        // The next head on this thread reuses a dropped head's box: nothing of it shows.
        let next = request("/next");
        assert!(next.body().is_empty());
        assert_eq!(next.target(), "/next");
        assert_eq!(next.head().target, "/next", "the owned head is built anew");
        assert_eq!(next.headers().len(), 2);
    }

    #[test]
    fn decoding() {
        assert_eq!(percent_decode("%2e%2E/%00").as_deref(), Some(&b"../\0"[..]));
        assert_eq!(percent_decode("100%"), None);
        assert_eq!(percent_decode("%4"), None);
        assert_eq!(percent_decode("é").as_deref(), Some("é".as_bytes()));
    }
}
