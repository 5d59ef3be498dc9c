//! [`WriteBuf`] (bytes a write owns or borrows forever) and [`WriteQueue`], the in-order queue
//! of unwritten bytes: plain structs with no I/O, so they are tested on their own.

use std::collections::VecDeque;
use std::io::IoSlice;

use super::sendfile::FileSegment;

/// Bytes handed to a stream write: owned (`Vec<u8>`, `Box<[u8]>`, `String`), `'static`
/// (`&'static [u8]`, `&'static str`) or shared (`Arc<[u8]>`, `Arc<str>`). Converting never
/// copies, and cloning a shared buffer copies no bytes: a broadcast writes one allocation to
/// every peer.
///
/// ```
/// use std::sync::Arc;
/// use evloop::net::WriteBuf;
///
/// let msg = WriteBuf::from(Arc::<[u8]>::from(&b"hello, everyone\n"[..]));
/// let for_peer = msg.clone(); // the same bytes, no copy
/// assert_eq!(for_peer.as_slice().as_ptr(), msg.as_slice().as_ptr());
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WriteBuf(Repr);

#[derive(Clone, Debug, PartialEq, Eq)]
enum Repr {
    Owned(Vec<u8>),
    Static(&'static [u8]),
    Shared(std::sync::Arc<[u8]>),
}

impl WriteBuf {
    /// The bytes.
    pub fn as_slice(&self) -> &[u8] {
        match &self.0 {
            Repr::Owned(v) => v,
            Repr::Static(s) => s,
            Repr::Shared(s) => s,
        }
    }

    /// A shared buffer holding a copy of `bytes`: clone it for each peer (one allocation in
    /// all).
    pub fn shared(bytes: impl AsRef<[u8]>) -> Self {
        Self(Repr::Shared(std::sync::Arc::from(bytes.as_ref())))
    }

    /// Number of bytes.
    pub fn len(&self) -> usize {
        self.as_slice().len()
    }

    /// Whether there are no bytes.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The vector, if the buffer owns one (to reuse its allocation once the bytes were sent).
    pub(crate) fn into_vec(self) -> Option<Vec<u8>> {
        match self.0 {
            Repr::Owned(v) => Some(v),
            Repr::Static(_) | Repr::Shared(_) => None,
        }
    }
}

impl From<Vec<u8>> for WriteBuf {
    fn from(v: Vec<u8>) -> Self {
        Self(Repr::Owned(v))
    }
}

impl From<Box<[u8]>> for WriteBuf {
    fn from(b: Box<[u8]>) -> Self {
        Self(Repr::Owned(b.into_vec()))
    }
}

impl From<String> for WriteBuf {
    fn from(s: String) -> Self {
        Self(Repr::Owned(s.into_bytes()))
    }
}

impl From<&'static [u8]> for WriteBuf {
    fn from(s: &'static [u8]) -> Self {
        Self(Repr::Static(s))
    }
}

impl<const N: usize> From<&'static [u8; N]> for WriteBuf {
    fn from(s: &'static [u8; N]) -> Self {
        Self(Repr::Static(s))
    }
}

impl From<std::sync::Arc<[u8]>> for WriteBuf {
    fn from(s: std::sync::Arc<[u8]>) -> Self {
        Self(Repr::Shared(s))
    }
}

impl From<&std::sync::Arc<[u8]>> for WriteBuf {
    fn from(s: &std::sync::Arc<[u8]>) -> Self {
        Self(Repr::Shared(std::sync::Arc::clone(s)))
    }
}

impl From<std::sync::Arc<str>> for WriteBuf {
    fn from(s: std::sync::Arc<str>) -> Self {
        Self(Repr::Shared(std::sync::Arc::from(s)))
    }
}

impl From<&Self> for WriteBuf {
    fn from(b: &Self) -> Self {
        b.clone()
    }
}

impl From<&'static str> for WriteBuf {
    fn from(s: &'static str) -> Self {
        Self(Repr::Static(s.as_bytes()))
    }
}

/// One buffer of a queued request; the last buffer of a request carries its completion `T`.
/// A file segment (`file`, boxed: rare) is a chunk whose bytes are in a file, not in `buf`.
struct Chunk<T> {
    buf: WriteBuf,
    pos: usize,
    done: Option<T>,
    file: Option<Box<FileSegment>>,
}

impl<T> Chunk<T> {
    fn rest(&self) -> &[u8] {
        &self.buf.as_slice()[self.pos..]
    }

    /// Bytes of this chunk not written yet.
    fn unwritten(&self) -> usize {
        match &self.file {
            None => self.buf.len() - self.pos,
            Some(f) => f.remaining_usize(),
        }
    }
}

/// Unwritten bytes in write order. A request is one or more buffers plus a completion value
/// `T` (the write callback, in the stream), finished when its last byte is written.
pub(crate) struct WriteQueue<T> {
    chunks: VecDeque<Chunk<T>>,
    bytes: usize,
}

impl<T> Default for WriteQueue<T> {
    fn default() -> Self {
        Self {
            chunks: VecDeque::new(),
            bytes: 0,
        }
    }
}

impl<T> WriteQueue<T> {
    /// Unwritten bytes.
    pub(crate) fn bytes(&self) -> usize {
        self.bytes
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.chunks.is_empty()
    }

    /// Appends a request. An empty request (no buffers, or only empty ones) is queued too and
    /// finishes at the next [`Self::advance`], so completions stay in order.
    pub(crate) fn push(&mut self, bufs: impl IntoIterator<Item = WriteBuf>, done: T) {
        let before = self.chunks.len();
        for buf in bufs {
            self.bytes += buf.len();
            self.chunks.push_back(Chunk {
                buf,
                pos: 0,
                done: None,
                file: None,
            });
        }
        if self.chunks.len() == before {
            self.chunks.push_back(Chunk {
                buf: WriteBuf::from(&[] as &'static [u8]),
                pos: 0,
                done: None,
                file: None,
            });
        }
        if let Some(last) = self.chunks.back_mut() {
            last.done = Some(done);
        }
    }

    /// Appends a one-buffer request whose first `sent` bytes are already written.
    pub(crate) fn push_from(&mut self, buf: WriteBuf, sent: usize, done: T) {
        let pos = sent.min(buf.len());
        self.bytes += buf.len() - pos;
        self.chunks.push_back(Chunk {
            buf,
            pos,
            done: Some(done),
            file: None,
        });
    }

    /// Appends a request whose bytes are a segment of a file (sent with `sendfile`, see
    /// [`front_file`](Self::front_file)); its unsent bytes count in [`bytes`](Self::bytes).
    pub(crate) fn push_file(&mut self, segment: FileSegment, done: T) {
        self.bytes = self.bytes.saturating_add(segment.remaining_usize());
        self.chunks.push_back(Chunk {
            buf: WriteBuf::from(&[] as &'static [u8]),
            pos: 0,
            done: Some(done),
            file: Some(Box::new(segment)),
        });
    }

    /// The file segment at the front, if the next bytes to send are a file's. [`slices`]
    /// stops before a file segment, so the caller sends it on its own, then calls
    /// [`advance`](Self::advance) with the bytes sent, as for buffers.
    ///
    /// [`slices`]: Self::slices
    pub(crate) fn front_file(&mut self) -> Option<&mut FileSegment> {
        self.chunks.front_mut()?.file.as_deref_mut()
    }

    /// Number of queued buffers (a request may be several).
    pub(crate) fn chunks(&self) -> usize {
        self.chunks.len()
    }

    /// Fills `out` with the unwritten bytes from the front, up to a file segment; returns how
    /// many slices it used.
    pub(crate) fn slices<'a>(&'a self, out: &mut [IoSlice<'a>]) -> usize {
        let mut n = 0;
        let buffers = self.chunks.iter().take_while(|c| c.file.is_none());
        for (slot, chunk) in out.iter_mut().zip(buffers) {
            *slot = IoSlice::new(chunk.rest());
            n += 1;
        }
        n
    }

    /// Marks `written` bytes as sent and hands each request that is now finished to `finished`,
    /// in order.
    pub(crate) fn advance(&mut self, mut written: usize, mut finished: impl FnMut(T)) {
        self.bytes -= written.min(self.bytes);
        while let Some(front) = self.chunks.front_mut() {
            let rest = front.unwritten();
            if rest > written {
                match &mut front.file {
                    None => front.pos += written,
                    Some(f) => f.advance(written),
                }
                return;
            }
            written -= rest;
            if let Some(chunk) = self.chunks.pop_front()
                && let Some(done) = chunk.done
            {
                finished(done);
            }
        }
    }

    /// Empties the queue, handing every unfinished request's completion to `each`, in order.
    pub(crate) fn clear(&mut self, mut each: impl FnMut(T)) {
        self.bytes = 0;
        for chunk in self.chunks.drain(..) {
            if let Some(done) = chunk.done {
                each(done);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn collect(q: &WriteQueue<u32>) -> Vec<u8> {
        let mut iov = [IoSlice::new(&[]); 64];
        let n = q.slices(&mut iov);
        iov[..n].iter().flat_map(|s| s.iter().copied()).collect()
    }

    #[test]
    fn partial_writes_finish_requests_in_order() {
        let mut q = WriteQueue::default();
        q.push([WriteBuf::from(b"abc")], 1);
        q.push([WriteBuf::from(b"de"), WriteBuf::from(vec![b'f'])], 2);
        q.push([WriteBuf::from(String::from("g"))], 3);
        assert_eq!(q.bytes(), 7);
        assert_eq!(collect(&q), b"abcdefg");

        let mut done = Vec::new();
        q.advance(2, |t| done.push(t));
        assert!(done.is_empty());
        assert_eq!(collect(&q), b"cdefg");
        q.advance(2, |t| done.push(t));
        assert_eq!(done, [1]);
        assert_eq!(collect(&q), b"efg");
        q.advance(2, |t| done.push(t));
        assert_eq!(done, [1, 2]);
        assert_eq!(q.bytes(), 1);
        q.advance(1, |t| done.push(t));
        assert_eq!(done, [1, 2, 3]);
        assert!(q.is_empty());
        assert_eq!(q.bytes(), 0);
    }

    #[test]
    fn empty_requests_finish_in_order_at_the_next_advance() {
        let mut q = WriteQueue::default();
        q.push([WriteBuf::from(b"ab")], 1);
        q.push(Vec::new(), 2);
        q.push([WriteBuf::from(Vec::new())], 3);
        q.push([WriteBuf::from(b"c")], 4);
        let mut done = Vec::new();
        q.advance(1, |t| done.push(t));
        assert!(done.is_empty());
        q.advance(1, |t| done.push(t));
        assert_eq!(done, [1, 2, 3]);
        q.advance(1, |t| done.push(t));
        assert_eq!(done, [1, 2, 3, 4]);
    }

    #[test]
    fn slices_are_capped_by_the_output_array() {
        let mut q = WriteQueue::default();
        for i in 0..10 {
            q.push([WriteBuf::from(vec![i as u8; 3])], i);
        }
        let mut iov = [IoSlice::new(&[]); 4];
        assert_eq!(q.slices(&mut iov), 4);
        assert_eq!(&*iov[3], &[3, 3, 3]);
    }

    #[test]
    fn a_partly_sent_buffer_queues_only_its_tail() {
        let mut q = WriteQueue::default();
        q.push_from(WriteBuf::from(b"abcdef"), 4, 1);
        assert_eq!(q.bytes(), 2);
        assert_eq!(collect(&q), b"ef");
        q.push([WriteBuf::from(b"g")], 2);
        let mut done = Vec::new();
        q.advance(2, |t| done.push(t));
        assert_eq!(done, [1]);
        assert_eq!(collect(&q), b"g");
        q.push_from(WriteBuf::from(b"xy"), 9, 3);
        assert_eq!(q.bytes(), 1);
        q.advance(1, |t| done.push(t));
        q.advance(0, |t| done.push(t));
        assert_eq!(done, [1, 2, 3]);
    }

    #[test]
    fn a_file_segment_stops_the_slices_and_advances_by_bytes_sent() {
        // Any file: the queue never reads it.
        let file = std::fs::File::open(std::env::current_exe().unwrap()).unwrap();
        let mut q = WriteQueue::default();
        q.push([WriteBuf::from(b"ab")], 1);
        q.push_file(FileSegment::new(file.into(), 10, 5), 2);
        q.push([WriteBuf::from(b"c")], 3);
        assert_eq!(q.bytes(), 8);
        assert_eq!(collect(&q), b"ab", "the buffers before the file only");
        assert!(q.front_file().is_none());
        let mut done = Vec::new();
        q.advance(2, |t| done.push(t));
        assert_eq!(done, [1]);
        assert_eq!(collect(&q), b"", "a file at the front: no slices");
        let seg = q.front_file().expect("the file is at the front");
        assert_eq!(seg.remaining_usize(), 5);
        q.advance(3, |t| done.push(t));
        assert_eq!(q.front_file().map(|f| f.remaining_usize()), Some(2));
        assert_eq!(q.bytes(), 3);
        q.advance(2, |t| done.push(t));
        assert_eq!(done, [1, 2]);
        assert_eq!(collect(&q), b"c");
        let mut left = Vec::new();
        q.push_file(
            FileSegment::new(
                std::fs::File::open(std::env::current_exe().unwrap())
                    .unwrap()
                    .into(),
                0,
                9,
            ),
            4,
        );
        q.clear(|t| left.push(t));
        assert_eq!(left, [3, 4]);
    }

    #[test]
    fn clear_hands_back_every_unfinished_request() {
        let mut q = WriteQueue::default();
        q.push([WriteBuf::from(b"abc")], 1);
        q.push([WriteBuf::from(b"de"), WriteBuf::from(b"f")], 2);
        q.advance(1, |_| unreachable!());
        let mut left = Vec::new();
        q.clear(|t| left.push(t));
        assert_eq!(left, [1, 2]);
        assert!(q.is_empty());
        assert_eq!(q.bytes(), 0);
    }

    #[test]
    fn conversions_do_not_copy_static_bytes() {
        static HELLO: &[u8] = b"hello";
        let b = WriteBuf::from(HELLO);
        assert_eq!(b.as_slice().as_ptr(), HELLO.as_ptr());
        let boxed: Box<[u8]> = vec![1, 2].into_boxed_slice();
        assert_eq!(WriteBuf::from(boxed).as_slice(), [1, 2]);
        assert_eq!(WriteBuf::from("hi").len(), 2);
    }
}
