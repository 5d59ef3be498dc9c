//! [`Body`]: the bytes of a response, owned or `'static`, handed to the socket without a copy.

use crate::WriteBuf;

/// Response body bytes: owned (`Vec<u8>`, `String`, `Box<[u8]>`) or `'static` (`&'static [u8]`,
/// `&'static str`). Converting never copies; a large owned body goes to the socket as it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Body(pub(crate) Piece);

/// The representation, shared with the output queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Piece {
    Owned(Vec<u8>),
    Static(&'static [u8]),
}

impl Piece {
    pub(crate) fn as_slice(&self) -> &[u8] {
        match self {
            Self::Owned(v) => v,
            Self::Static(s) => s,
        }
    }
}

impl Body {
    /// An empty body.
    pub const EMPTY: Self = Self(Piece::Static(b""));

    /// The bytes.
    pub fn as_slice(&self) -> &[u8] {
        self.0.as_slice()
    }

    /// Number of bytes.
    pub fn len(&self) -> usize {
        self.as_slice().len()
    }

    /// Whether there are no bytes.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Default for Body {
    fn default() -> Self {
        Self::EMPTY
    }
}

impl From<Vec<u8>> for Body {
    fn from(v: Vec<u8>) -> Self {
        Self(Piece::Owned(v))
    }
}

impl From<Box<[u8]>> for Body {
    fn from(b: Box<[u8]>) -> Self {
        Self(Piece::Owned(b.into_vec()))
    }
}

impl From<String> for Body {
    fn from(s: String) -> Self {
        Self(Piece::Owned(s.into_bytes()))
    }
}

impl From<&'static [u8]> for Body {
    fn from(s: &'static [u8]) -> Self {
        Self(Piece::Static(s))
    }
}

impl<const N: usize> From<&'static [u8; N]> for Body {
    fn from(s: &'static [u8; N]) -> Self {
        Self(Piece::Static(s))
    }
}

impl From<&'static str> for Body {
    fn from(s: &'static str) -> Self {
        Self(Piece::Static(s.as_bytes()))
    }
}

impl From<Piece> for WriteBuf {
    fn from(p: Piece) -> Self {
        match p {
            Piece::Owned(v) => v.into(),
            Piece::Static(s) => s.into(),
        }
    }
}

/// Bytes on their way to the socket: small pieces are gathered into one scratch buffer so a
/// burst of pipelined responses is one write of few buffers; large bodies are passed on as they
/// are, never copied.
#[derive(Debug, Default)]
pub(crate) struct Output {
    pieces: Vec<Piece>,
    /// The last piece is a buffer this queue allocated (and may append to). A caller's `Vec`
    /// is never appended to: growing a large body would copy it.
    scratch_last: bool,
    len: usize,
}

/// Bodies up to this size are copied into the scratch buffer rather than sent as their own
/// buffer: a copy is cheaper than another iovec and keeps writes few.
const COPY_LIMIT: usize = 4096;

impl Output {
    pub(crate) fn push_bytes(&mut self, bytes: &[u8]) {
        if bytes.is_empty() {
            return;
        }
        self.len += bytes.len();
        if self.scratch_last
            && let Some(Piece::Owned(last)) = self.pieces.last_mut()
        {
            last.extend_from_slice(bytes);
            return;
        }
        let mut v = Vec::with_capacity(bytes.len().max(512));
        v.extend_from_slice(bytes);
        self.pieces.push(Piece::Owned(v));
        self.scratch_last = true;
    }

    pub(crate) fn push(&mut self, piece: Piece) {
        let n = piece.as_slice().len();
        if n <= COPY_LIMIT {
            self.push_bytes(piece.as_slice());
        } else {
            self.len += n;
            self.pieces.push(piece);
            self.scratch_last = false;
        }
    }

    /// Moves everything in `other` to the end of this output.
    pub(crate) fn append(&mut self, other: &mut Self) {
        for piece in other.take() {
            self.push(piece);
        }
    }

    pub(crate) fn take(&mut self) -> Vec<Piece> {
        self.scratch_last = false;
        self.len = 0;
        std::mem::take(&mut self.pieces)
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.len == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flat(pieces: &[Piece]) -> Vec<u8> {
        pieces.iter().flat_map(|p| p.as_slice().to_vec()).collect()
    }

    #[test]
    fn small_pieces_gather_and_large_ones_pass_through() {
        let mut out = Output::default();
        out.push_bytes(b"head1 ");
        out.push(Piece::Static(b"body1 "));
        let big = vec![b'x'; COPY_LIMIT + 1];
        out.push(Piece::Owned(big.clone()));
        out.push_bytes(b"head2");
        assert_eq!(out.len(), 12 + big.len() + 5);
        let pieces = out.take();
        assert_eq!(pieces.len(), 3);
        assert_eq!(pieces[1], Piece::Owned(big));
        assert_eq!(&flat(&pieces)[..12], b"head1 body1 ");
        assert!(out.is_empty());
        assert!(out.take().is_empty());
    }

    #[test]
    fn append_keeps_order() {
        let mut a = Output::default();
        let mut b = Output::default();
        a.push_bytes(b"1");
        b.push_bytes(b"2");
        b.push(Piece::Owned(vec![b'3'; COPY_LIMIT + 1]));
        a.append(&mut b);
        assert!(b.is_empty());
        let all = flat(&a.take());
        assert_eq!(&all[..3], b"123");
        assert_eq!(all.len(), 3 + COPY_LIMIT);
    }
}
