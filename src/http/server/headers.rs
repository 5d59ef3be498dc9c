//! [`IntoHeaders`]: the header lists a response accepts, the empty one included.

use super::responder::with_fields;

/// A response's header list, as [`Responder::send`](super::Responder::send) and
/// [`Responder::start`](super::Responder::start) take it: `&[("Content-Type", "text/plain")]`,
/// `&[]` (no headers), a slice or `Vec` of `(String, String)`, `(&str, String)` or byte pairs.
///
/// Only arrays of `(&str, &str)` are accepted as arrays, so `&[]` needs no type annotation;
/// pass other element types as a slice (`&headers[..]`) or a `&Vec`.
pub trait IntoHeaders {
    /// Calls `f` with the list as byte pairs, without the framing fields the server writes
    /// itself, and whether `Connection` asked for a close. Generic rather than through a
    /// `dyn` callback, so the response path is one inlined call on the hot path.
    #[doc(hidden)]
    fn visit<R>(self, f: impl FnOnce(&[(&[u8], &[u8])], bool) -> R) -> R;
}

impl<const K: usize> IntoHeaders for &[(&str, &str); K] {
    #[inline]
    fn visit<R>(self, f: impl FnOnce(&[(&[u8], &[u8])], bool) -> R) -> R {
        with_fields(&self[..], f)
    }
}

macro_rules! slice_headers {
    ($($n:ty, $v:ty;)*) => {$(
        impl IntoHeaders for &[($n, $v)] {
            #[inline]
            fn visit<R>(self, f: impl FnOnce(&[(&[u8], &[u8])], bool) -> R) -> R {
                with_fields(self, f)
            }
        }

        impl IntoHeaders for &Vec<($n, $v)> {
            #[inline]
            fn visit<R>(self, f: impl FnOnce(&[(&[u8], &[u8])], bool) -> R) -> R {
                with_fields(self, f)
            }
        }
    )*};
}

slice_headers! {
    &str, &str;
    &str, String;
    String, String;
    &[u8], &[u8];
    String, Vec<u8>;
}
