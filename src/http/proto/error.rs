//! The parser's error: the status to answer with, and why.

use std::fmt;

/// A request the parser refuses: answer with [`status`](Self::status), then close the connection.
///
/// Every parse error is final. HTTP/1.1 has no way to find the start of the next request after a
/// malformed one, so the connection cannot be reused; the [`Parser`](super::parser::Parser)
/// returns the same error again if it is called after one.
///
/// The statuses used are 400 (malformed or ambiguous framing), 413 (body over the limit), 414
/// (request-target over the limit), 431 (header section or header count over the limit), 501
/// (a transfer coding the parser cannot decode) and 505 (an HTTP version other than 1.0 or 1.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct HttpError {
    status: u16,
    reason: &'static str,
}

impl HttpError {
    /// 400 Bad Request, with a short explanation.
    pub(crate) const fn bad_request(reason: &'static str) -> Self {
        Self {
            status: 400,
            reason,
        }
    }

    /// 413 Content Too Large.
    pub(crate) const fn body_too_large() -> Self {
        Self {
            status: 413,
            reason: "request body exceeds the limit",
        }
    }

    /// 414 URI Too Long.
    pub(crate) const fn target_too_long() -> Self {
        Self {
            status: 414,
            reason: "request-target exceeds the limit",
        }
    }

    /// 431 Request Header Fields Too Large.
    pub(crate) const fn header_too_large(reason: &'static str) -> Self {
        Self {
            status: 431,
            reason,
        }
    }

    /// 501 Not Implemented.
    pub(crate) const fn not_implemented(reason: &'static str) -> Self {
        Self {
            status: 501,
            reason,
        }
    }

    /// 505 HTTP Version Not Supported.
    pub(crate) const fn version_not_supported() -> Self {
        Self {
            status: 505,
            reason: "only HTTP/1.0 and HTTP/1.1 are supported",
        }
    }

    /// The HTTP status code to answer with (400, 413, 414, 431, 501 or 505).
    pub fn status(&self) -> u16 {
        self.status
    }

    /// A short, fixed explanation, fit for a log line or a plain-text error body.
    pub fn reason(&self) -> &'static str {
        self.reason
    }
}

impl fmt::Display for HttpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.status, self.reason)
    }
}

impl std::error::Error for HttpError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_shows_status_and_reason() {
        let e = HttpError::bad_request("bare CR in the request head");
        assert_eq!(e.status(), 400);
        assert_eq!(e.to_string(), "400 bare CR in the request head");
        assert_eq!(HttpError::version_not_supported().status(), 505);
        assert_eq!(HttpError::target_too_long().status(), 414);
        assert_eq!(HttpError::body_too_large().status(), 413);
    }
}
