//! [`Output`]: response bytes on their way to the socket, as the [`WriteBuf`]s a stream write
//! takes.

use crate::net::WriteBuf;

/// Small pieces (heads, chunk framing, short bodies) are gathered into one scratch buffer, so
/// a burst of pipelined responses is one write of few buffers; large bodies are passed on as
/// the caller's own buffers, never copied.
#[derive(Debug, Default)]
pub(crate) struct Output {
    pieces: Vec<WriteBuf>,
    scratch: Vec<u8>,
    len: usize,
}

/// Bodies up to this size are copied into the scratch buffer rather than sent as their own
/// buffer: a copy is cheaper than another iovec and keeps writes few.
const COPY_LIMIT: usize = 4096;

impl Output {
    pub(crate) fn push_bytes(&mut self, bytes: &[u8]) {
        self.len += bytes.len();
        self.scratch.extend_from_slice(bytes);
    }

    /// Appends to the scratch buffer through `write` (which appends only), e.g. an encoder.
    pub(crate) fn with_scratch<R>(&mut self, write: impl FnOnce(&mut Vec<u8>) -> R) -> R {
        let before = self.scratch.len();
        let result = write(&mut self.scratch);
        self.len += self.scratch.len() - before;
        result
    }

    #[inline(always)]
    pub(crate) fn push(&mut self, buf: WriteBuf) {
        let bytes = buf.as_slice();
        if bytes.len() <= COPY_LIMIT {
            self.push_bytes(bytes);
        } else {
            self.push_piece(buf);
        }
    }

    /// A large body, passed on as its own buffer (out of line: the small case is inlined).
    #[inline(never)]
    fn push_piece(&mut self, buf: WriteBuf) {
        self.flush_scratch();
        self.len += buf.len();
        self.pieces.push(buf);
    }

    fn flush_scratch(&mut self) {
        if !self.scratch.is_empty() {
            // The next burst is likely as big as this one: one allocation instead of a
            // series of doublings.
            let next = Vec::with_capacity(self.scratch.len());
            let scratch = std::mem::replace(&mut self.scratch, next);
            self.pieces.push(scratch.into());
        }
    }

    /// Moves everything in `other` to the end of this output.
    pub(crate) fn append(&mut self, other: &mut Self) {
        if other.is_empty() {
            return;
        }
        for piece in other.take() {
            self.push(piece);
        }
    }

    /// The pending bytes, if they are all in the scratch buffer (the usual case: heads and
    /// small bodies), to be sent straight from it.
    pub(crate) fn scratch_only(&self) -> Option<&[u8]> {
        (self.pieces.is_empty() && !self.scratch.is_empty()).then_some(&self.scratch[..])
    }

    /// The first `n` bytes of the scratch buffer went out; the buffer keeps its capacity for
    /// the next burst.
    pub(crate) fn consume_scratch(&mut self, n: usize) {
        let n = n.min(self.scratch.len());
        if n == self.scratch.len() {
            self.scratch.clear();
        } else {
            self.scratch.drain(..n);
        }
        self.len -= n;
    }

    pub(crate) fn take(&mut self) -> Vec<WriteBuf> {
        self.flush_scratch();
        self.len = 0;
        std::mem::take(&mut self.pieces)
    }

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

    fn flat(pieces: &[WriteBuf]) -> Vec<u8> {
        pieces.iter().flat_map(|p| p.as_slice().to_vec()).collect()
    }

    #[test]
    fn small_pieces_gather_and_large_ones_pass_through() {
        let mut out = Output::default();
        out.push_bytes(b"head1 ");
        out.push(WriteBuf::from(b"body1 "));
        let big = vec![b'x'; COPY_LIMIT + 1];
        out.push(WriteBuf::from(big.clone()));
        out.with_scratch(|v| v.extend_from_slice(b"head2"));
        assert_eq!(out.len(), 12 + big.len() + 5);
        let pieces = out.take();
        assert_eq!(pieces.len(), 3);
        assert_eq!(pieces[1], WriteBuf::from(big));
        assert_eq!(&flat(&pieces)[..12], b"head1 body1 ");
        assert!(out.is_empty());
        assert!(out.take().is_empty());
    }

    #[test]
    fn bytes_sent_from_the_scratch_buffer_leave_the_rest_in_order() {
        let mut out = Output::default();
        assert_eq!(out.scratch_only(), None);
        out.push_bytes(b"abcdef");
        assert_eq!(out.scratch_only(), Some(&b"abcdef"[..]));
        out.consume_scratch(4);
        assert_eq!(out.len(), 2);
        out.push_bytes(b"gh");
        assert_eq!(flat(&out.take()), b"efgh");
        out.push_bytes(b"xyz");
        let capacity = out.scratch.capacity();
        out.consume_scratch(3);
        assert!(out.is_empty());
        assert_eq!(
            out.scratch.capacity(),
            capacity,
            "the buffer is kept for reuse"
        );
        // A large body passed through as its own buffer: not all in the scratch buffer.
        out.push_bytes(b"head");
        out.push(WriteBuf::from(vec![b'x'; COPY_LIMIT + 1]));
        assert_eq!(out.scratch_only(), None);
    }

    #[test]
    fn append_keeps_order() {
        let mut a = Output::default();
        let mut b = Output::default();
        a.push_bytes(b"1");
        b.push_bytes(b"2");
        b.push(WriteBuf::from(vec![b'3'; COPY_LIMIT + 1]));
        a.append(&mut b);
        assert!(b.is_empty());
        let all = flat(&a.take());
        assert_eq!(&all[..3], b"123");
        assert_eq!(all.len(), 3 + COPY_LIMIT);
    }
}
