//! The chunked transfer coding of a request body (RFC 9112 §7.1), decoded byte by byte.
//!
//! Framing bytes (size lines, the CRLF after each chunk, trailers) are absorbed into the state, so
//! nothing is buffered here however the input is split; chunk data is handed out as ranges of the
//! caller's buffer. Chunk extensions are skipped and trailer fields are checked for control
//! characters, then discarded. Every line in the coding must end in CRLF: unlike in the head, a
//! bare LF is refused, so no two parsers can disagree on where a chunk ends.

use std::ops::Range;

use super::error::HttpError;
use super::parser::Limits;
use super::syntax::is_ctl;

/// What a call to [`ChunkedDecoder::decode`] found after the framing bytes it consumed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ChunkStep {
    /// Chunk data: this range of the input.
    Data(Range<usize>),
    /// The input ended inside framing (all of it consumed) or before the next data byte.
    NeedMore,
    /// The last chunk and the trailer section are complete.
    End,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Between chunk data: reading a size line, a data CRLF or the trailer section.
    Framing(Framing),
    /// In chunk data.
    Data { remaining: u64 },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Framing {
    /// In the hex digits of a chunk size (`digit` once there is at least one).
    Size { size: u64, digit: bool },
    /// After the size, in whitespace that may only precede a `;`.
    SizeSpace { size: u64 },
    /// In chunk extensions, skipped up to the CR.
    Extension { size: u64 },
    /// After the CR of the size line.
    SizeLf { size: u64 },
    /// Expecting the CR after chunk data.
    DataCr,
    /// Expecting the LF after chunk data.
    DataLf,
    /// At the start of a trailer line, or of the empty line that ends the body.
    TrailerStart,
    /// Inside a trailer field line.
    TrailerLine,
    /// After a CR that ends a trailer line (`last` if the line was empty).
    TrailerLf { last: bool },
}

const SIZE_START: Framing = Framing::Size {
    size: 0,
    digit: false,
};

/// The state of one chunked body.
#[derive(Debug, Clone)]
pub(crate) struct ChunkedDecoder {
    state: State,
    /// Sum of the chunk sizes announced so far, checked against the body limit.
    total: u64,
    /// Bytes of the current size line, or of the whole trailer section.
    line_len: usize,
}

impl ChunkedDecoder {
    /// A decoder at the start of a body.
    pub(crate) fn new() -> Self {
        Self {
            state: State::Framing(SIZE_START),
            total: 0,
            line_len: 0,
        }
    }

    /// Reads framing from the front of `buf` up to the next chunk data, the end of the body or the
    /// end of `buf`. Returns how many bytes of `buf` were consumed (framing plus handed-out data).
    pub(crate) fn decode(
        &mut self,
        buf: &[u8],
        limits: &Limits,
    ) -> Result<(usize, ChunkStep), HttpError> {
        let mut i = 0;
        loop {
            let framing = match self.state {
                State::Framing(framing) => framing,
                State::Data { .. } if i == buf.len() => return Ok((i, ChunkStep::NeedMore)),
                State::Data { remaining } => {
                    let take = remaining.min((buf.len() - i) as u64);
                    let end = i + take as usize;
                    self.state = match remaining - take {
                        0 => State::Framing(Framing::DataCr),
                        remaining => State::Data { remaining },
                    };
                    return Ok((end, ChunkStep::Data(i..end)));
                }
            };
            let Some(&b) = buf.get(i) else {
                return Ok((i, ChunkStep::NeedMore));
            };
            i += 1;
            match self.framing_byte(framing, b, limits)? {
                Some(next) => self.state = next,
                None => return Ok((i, ChunkStep::End)),
            }
        }
    }

    /// Feeds one framing byte: the next state, or `None` when the byte ends the body.
    fn framing_byte(
        &mut self,
        framing: Framing,
        b: u8,
        limits: &Limits,
    ) -> Result<Option<State>, HttpError> {
        use Framing::*;

        self.line_len += 1;
        let in_trailer = matches!(framing, TrailerStart | TrailerLine | TrailerLf { .. });
        if in_trailer && self.line_len > limits.max_head_bytes {
            return Err(HttpError::header_too_large("trailer section too large"));
        }
        if !in_trailer && self.line_len > limits.max_chunk_line_bytes {
            return Err(bad("chunk size line too long"));
        }
        let next = match (framing, b) {
            (Size { size, .. }, _) if b.is_ascii_hexdigit() => {
                let digit = u64::from((b as char).to_digit(16).unwrap_or_default());
                let size = size
                    .checked_mul(16)
                    .and_then(|s| s.checked_add(digit))
                    .ok_or(bad("chunk size overflows"))?;
                Size { size, digit: true }
            }
            (Size { digit: false, .. }, _) => return Err(bad("invalid chunk size")),
            (Size { size, .. }, _) => {
                // The size is known at its first non-digit: refuse an oversized body right here.
                self.total = self
                    .total
                    .checked_add(size)
                    .filter(|&t| t <= limits.max_body_bytes)
                    .ok_or(HttpError::body_too_large())?;
                match b {
                    b' ' | b'\t' => SizeSpace { size },
                    b';' => Extension { size },
                    b'\r' => SizeLf { size },
                    _ => return Err(bad("invalid chunk size")),
                }
            }
            (SizeSpace { size }, b' ' | b'\t') => SizeSpace { size },
            (SizeSpace { size }, b';') => Extension { size },
            (SizeSpace { .. }, _) => return Err(bad("invalid chunk size line")),
            (Extension { size }, b'\r') => SizeLf { size },
            (Extension { .. }, _) if is_ctl(b) => {
                return Err(bad("control character in chunk extension"));
            }
            (Extension { size }, _) => Extension { size },
            (SizeLf { size }, b'\n') => {
                self.line_len = 0;
                if size == 0 {
                    TrailerStart
                } else {
                    return Ok(Some(State::Data { remaining: size }));
                }
            }
            (SizeLf { .. }, _) => return Err(bad("chunk size line without CRLF")),
            (DataCr, b'\r') => DataLf,
            (DataLf, b'\n') => {
                self.line_len = 0;
                SIZE_START
            }
            (DataCr | DataLf, _) => return Err(bad("chunk data without CRLF")),
            (TrailerStart, b'\r') => TrailerLf { last: true },
            (TrailerStart, b' ' | b'\t') => return Err(bad("obs-fold in trailer")),
            (TrailerLine, b'\r') => TrailerLf { last: false },
            (TrailerStart | TrailerLine, _) if is_ctl(b) => {
                return Err(bad("control character in trailer"));
            }
            (TrailerStart | TrailerLine, _) => TrailerLine,
            (TrailerLf { last: true }, b'\n') => return Ok(None),
            (TrailerLf { last: false }, b'\n') => TrailerStart,
            (TrailerLf { .. }, _) => return Err(bad("trailer line without CRLF")),
        };
        Ok(Some(State::Framing(next)))
    }
}

fn bad(reason: &'static str) -> HttpError {
    HttpError::bad_request(reason)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hands_out_data_ranges_and_absorbs_framing() {
        let limits = Limits::default();
        let mut d = ChunkedDecoder::new();
        // The size line is absorbed even though no data byte follows yet.
        assert_eq!(
            d.decode(b"4;x=y\r\n", &limits),
            Ok((7, ChunkStep::NeedMore))
        );
        assert_eq!(d.decode(b"ab", &limits), Ok((2, ChunkStep::Data(0..2))));
        assert_eq!(
            d.decode(b"cd\r\n1", &limits),
            Ok((2, ChunkStep::Data(0..2)))
        );
        assert_eq!(d.decode(b"\r\n1", &limits), Ok((3, ChunkStep::NeedMore)));
        assert_eq!(d.decode(b"\r\nzz", &limits), Ok((3, ChunkStep::Data(2..3))));
        assert_eq!(d.decode(b"z", &limits), Err(bad("chunk data without CRLF")));
    }

    #[test]
    fn uppercase_hex_and_trailers() {
        let limits = Limits::default();
        let mut d = ChunkedDecoder::new();
        let body = b"A\r\n0123456789\r\n0\r\nX-Sum: 1\r\nY: 2\r\n\r\n";
        assert_eq!(d.decode(body, &limits), Ok((13, ChunkStep::Data(3..13))));
        assert_eq!(
            d.decode(&body[13..], &limits),
            Ok((body.len() - 13, ChunkStep::End))
        );
    }
}
