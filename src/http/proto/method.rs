//! Request methods.

use std::fmt;

/// A request method.
///
/// The parser accepts any method that is a valid token (RFC 9110 §9.1) and never rejects one
/// itself: methods it does not know arrive as [`Method::Other`], and the server decides (it answers
/// 501 unless the handler opts in). Methods are case-sensitive, so `get` is `Other("get")`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Method {
    /// `GET`
    Get,
    /// `HEAD`: answered like `GET` but without a body.
    Head,
    /// `POST`
    Post,
    /// `PUT`
    Put,
    /// `DELETE`
    Delete,
    /// `OPTIONS`
    Options,
    /// `PATCH` (RFC 5789)
    Patch,
    /// `TRACE`
    Trace,
    /// `CONNECT`: its request-target is an authority (`host:port`), not a path.
    Connect,
    /// Any other token, exactly as received.
    Other(String),
}

impl Method {
    /// The method for a token, as received on the request line.
    pub fn from_token(token: &str) -> Self {
        match token {
            "GET" => Self::Get,
            "HEAD" => Self::Head,
            "POST" => Self::Post,
            "PUT" => Self::Put,
            "DELETE" => Self::Delete,
            "OPTIONS" => Self::Options,
            "PATCH" => Self::Patch,
            "TRACE" => Self::Trace,
            "CONNECT" => Self::Connect,
            other => Self::Other(other.to_owned()),
        }
    }

    /// The method as it appears on the request line.
    pub fn as_str(&self) -> &str {
        match self {
            Self::Get => "GET",
            Self::Head => "HEAD",
            Self::Post => "POST",
            Self::Put => "PUT",
            Self::Delete => "DELETE",
            Self::Options => "OPTIONS",
            Self::Patch => "PATCH",
            Self::Trace => "TRACE",
            Self::Connect => "CONNECT",
            Self::Other(token) => token,
        }
    }

    /// Whether this is one of the named variants rather than [`Method::Other`].
    pub fn is_known(&self) -> bool {
        !matches!(self, Self::Other(_))
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_methods_round_trip() {
        for token in [
            "GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH", "TRACE", "CONNECT",
        ] {
            let m = Method::from_token(token);
            assert!(m.is_known(), "{token}");
            assert_eq!(m.as_str(), token);
            assert_eq!(m.to_string(), token);
        }
    }

    #[test]
    fn other_methods_are_kept_verbatim_and_case_sensitive() {
        let m = Method::from_token("get");
        assert_eq!(m, Method::Other("get".into()));
        assert!(!m.is_known());
        assert_eq!(Method::from_token("PROPFIND").as_str(), "PROPFIND");
    }
}
