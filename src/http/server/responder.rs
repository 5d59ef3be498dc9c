//! [`Responder`] and [`ResponseWriter`]: how a handler answers, now or later.

use std::borrow::Cow;
use std::rc::Rc;

use crate::http::conn::pipeline::Fields;
use crate::http::proto::response::is_reserved;
use crate::http::server::{ConnId, IntoHeaders, Shared};
use crate::net::WriteBuf;

/// The right to answer one request. A plain `'static` value (ids and a shared slot, no borrow
/// of the loop): keep it in a timer callback, a pool job's completion or a file read's, and
/// answer when ready. Responses still leave in request order.
///
/// Dropping it without answering sends `500 Internal Server Error` (and logs the first time,
/// on stderr). Answering a request whose connection has closed does nothing.
#[derive(Debug)]
#[must_use = "a dropped Responder answers 500"]
pub struct Responder {
    shared: Rc<Shared>,
    conn: ConnId,
    seq: u64,
    answered: bool,
}

impl Responder {
    pub(crate) fn new(shared: Rc<Shared>, conn: ConnId, seq: u64) -> Self {
        Self {
            shared,
            conn,
            seq,
            answered: false,
        }
    }

    /// Sends a complete response with a `Content-Length` body: owned or `'static` bytes, as
    /// for a stream write (a large owned body goes to the socket without a copy). `headers` are written in order
    /// after `Date` (and `Server`, if configured); `Content-Length` and `Transfer-Encoding`
    /// among them are ignored (the server frames the body), and `Connection: close` closes the
    /// connection after this response. For a `HEAD` request the body is not sent; 204 and 304
    /// never carry one. A header that would break the response (CR or LF in a value, a name
    /// that is not a token) or a status outside 200..=999 turns the answer into a 500, logged.
    ///
    /// `headers` may be empty: `res.send(lp, 204, &[], "")`.
    pub fn send(
        mut self,
        lp: &mut crate::Loop,
        status: u16,
        headers: impl IntoHeaders,
        body: impl Into<WriteBuf>,
    ) {
        self.answered = true;
        let body = body.into();
        let seq = self.seq;
        headers.visit(|fields, close| {
            self.shared.respond(lp, self.conn, seq, |conn, now| {
                conn.send(seq, status, fields, body, close, now)
            })
        });
    }

    /// Sends a complete response whose body is the first `len` bytes of `file` (a regular
    /// file, e.g. from [`fs::open_beneath`](crate::fs::open_beneath)), with `Content-Length:
    /// len`. The body never sits in memory whole, whatever the file's size or the client's
    /// speed:
    ///
    /// - **Linux, FreeBSD, macOS** (with [`ServerConfig::sendfile`](super::ServerConfig::sendfile),
    ///   the default): the file goes after the head in the connection's write queue and the
    ///   kernel's `sendfile` moves it from the page cache to the socket on the loop thread as
    ///   the socket drains ([`TcpStream::write_file`](crate::net::TcpStream::write_file)), at
    ///   most 2 MiB per connection and loop iteration. No copy in user space and no pool
    ///   round trip; a file not in the page cache is read from disk on the loop thread.
    /// - **Windows, or `sendfile` off**: read on the thread pool in chunks of
    ///   [`ServerConfig::file_chunk_bytes`](super::ServerConfig::file_chunk_bytes), the next
    ///   only once the socket has room (about a chunk or two of memory per download).
    /// - **Small files (Linux, either mode)**: a body of at most
    ///   [`ServerConfig::file_inline_bytes`](super::ServerConfig::file_inline_bytes) that the
    ///   page cache holds is read during this call (`preadv2` with `RWF_NOWAIT`, which never
    ///   waits for a disk) and leaves right behind the head, in one `send`; one that is not
    ///   cached, or reads short, goes one of the ways above.
    ///
    /// Either way the send timeout, the high-water mark and a graceful shutdown apply as to
    /// any response, and the file is closed when the response is sent or the connection
    /// closes. A read error, or a file that ends before `len` (it shrank while being sent),
    /// cuts the response short: the connection closes after what was sent, so the client sees
    /// an incomplete body, and [`ServerStats::file_bodies_cut`](super::ServerStats::file_bodies_cut)
    /// counts it. Headers, `HEAD` and bodiless statuses as for [`send`](Self::send).
    pub fn send_file(
        mut self,
        lp: &mut crate::Loop,
        status: u16,
        headers: impl IntoHeaders,
        file: std::fs::File,
        len: u64,
    ) {
        self.answered = true;
        let seq = self.seq;
        let inline = self.shared.inline_file();
        headers.visit(|fields, close| {
            self.shared.respond(lp, self.conn, seq, |conn, now| {
                conn.send_file(seq, status, fields, file, len, close, inline, now)
            })
        });
    }

    /// Sends `body` as `text/plain; charset=utf-8` (a shorthand for [`send`](Self::send)).
    pub fn text(self, lp: &mut crate::Loop, status: u16, body: impl Into<WriteBuf>) {
        self.send(
            lp,
            status,
            &[("Content-Type", "text/plain; charset=utf-8")],
            body,
        );
    }

    /// Sends `body`, JSON text the caller serialised, as `application/json` (a shorthand for
    /// [`send`](Self::send)). With the `serde` feature, `json_value`
    /// serialises a value for you.
    pub fn json(self, lp: &mut crate::Loop, status: u16, body: impl Into<WriteBuf>) {
        self.send(lp, status, &[("Content-Type", "application/json")], body);
    }

    /// Serialises `value` with `serde_json` and sends it as `application/json` (feature
    /// `serde`). A value that fails to serialise (a map with non-string keys, say) is answered
    /// `500` with the error as text, never a panic.
    #[cfg(feature = "serde")]
    pub fn json_value<T: serde::Serialize + ?Sized>(
        self,
        lp: &mut crate::Loop,
        status: u16,
        value: &T,
    ) {
        match serde_json::to_vec(value) {
            Ok(body) => self.json(lp, status, body),
            Err(e) => self.text(lp, 500, format!("cannot serialise the answer: {e}\n")),
        }
    }

    /// Starts a streamed response: chunked for HTTP/1.1 clients, delimited by the close for
    /// HTTP/1.0 ones. Send the body with [`ResponseWriter::write`] and finish with
    /// [`ResponseWriter::end`]. Headers as for [`send`](Self::send).
    pub fn start(
        mut self,
        lp: &mut crate::Loop,
        status: u16,
        headers: impl IntoHeaders,
    ) -> ResponseWriter {
        self.answered = true;
        let seq = self.seq;
        headers.visit(|fields, close| {
            self.shared.respond(lp, self.conn, seq, |conn, now| {
                conn.start(seq, status, fields, close, now)
            })
        });
        ResponseWriter {
            shared: Rc::clone(&self.shared),
            conn: self.conn,
            seq: self.seq,
            ended: false,
        }
    }

    /// Whether the connection is still open (a long poll may give up early when it is not).
    pub fn is_connected(&self) -> bool {
        self.shared.is_open(self.conn)
    }

    /// The handler's task panicked with `message` (an `async` handler): answered and reported
    /// as a panicking callback handler is.
    pub(crate) fn panicked(mut self, lp: &mut crate::Loop, message: String) {
        self.answered = true;
        let payload: Box<dyn std::any::Any + Send> = Box::new(message);
        let shared = Rc::clone(&self.shared);
        shared.handler_panicked(lp, self.conn, self.seq, payload.as_ref());
        // Outside the server's own callbacks: the 500 and the close need a servicing.
        shared.mark(lp, self.conn);
    }
}

impl Drop for Responder {
    fn drop(&mut self) {
        if !self.answered {
            // Dropped by a panicking handler: the server answers and reports the panic itself.
            let unanswered = !std::thread::panicking();
            self.shared.abandon_later(self.conn, self.seq, unanswered);
        }
    }
}

/// The body of a streamed response, from [`Responder::start`]. Dropping it without
/// [`end`](Self::end) cuts the response short: the connection closes after what was written,
/// so the client sees an incomplete body.
#[derive(Debug)]
#[must_use = "a dropped ResponseWriter cuts the response short"]
pub struct ResponseWriter {
    shared: Rc<Shared>,
    conn: ConnId,
    seq: u64,
    ended: bool,
}

impl ResponseWriter {
    /// Sends a part of the body (nothing for an empty part). Returns `false` when the client
    /// is not keeping up (the connection's write queue is above its high-water mark) or the
    /// connection is gone: a producer should slow down.
    pub fn write(&mut self, lp: &mut crate::Loop, data: impl Into<WriteBuf>) -> bool {
        let (seq, data) = (self.seq, data.into());
        self.shared
            .respond(lp, self.conn, seq, |conn, _| Ok(conn.write(seq, data)))
    }

    /// Hands the writer back to `cb` once the client has caught up: when the connection's
    /// write queue drains after [`write`](Self::write) returned `false` (Node's `'drain'`
    /// event), or when the connection closes (then `write` keeps returning `false` and
    /// [`is_connected`](Self::is_connected) says why: stop producing). If the writer is not
    /// being pushed back now, `cb` runs in the next check phase. Never inside this call.
    ///
    /// `write` learns of the client falling behind from the loop's writes, which happen
    /// between callbacks: a producer writes a part per callback (a timer, an immediate, a pool
    /// completion), and parks the writer here when `write` says `false`.
    ///
    /// ```no_run
    /// # use evloop::{Loop, http::ResponseWriter};
    /// /// Streams `left` numbered lines, one per loop iteration, pausing while the client is
    /// /// behind.
    /// fn produce(lp: &mut Loop, mut w: ResponseWriter, left: u32) {
    ///     if left == 0 {
    ///         return w.end(lp);
    ///     }
    ///     if w.write(lp, format!("line {left}\n")) {
    ///         lp.set_immediate(move |lp| produce(lp, w, left - 1));
    ///     } else {
    ///         // Park the writer; it comes back when the client has caught up.
    ///         w.on_drain(lp, move |lp, w| produce(lp, w, left - 1));
    ///     }
    /// }
    /// ```
    pub fn on_drain(self, lp: &mut crate::Loop, cb: impl FnOnce(&mut crate::Loop, Self) + 'static) {
        let (shared, conn) = (Rc::clone(&self.shared), self.conn);
        shared.on_writer_drain(lp, conn, Box::new(move |lp| cb(lp, self)));
    }

    /// Whether the connection is still open.
    pub fn is_connected(&self) -> bool {
        self.shared.is_open(self.conn)
    }

    /// Ends the body.
    pub fn end(mut self, lp: &mut crate::Loop) {
        self.ended = true;
        let seq = self.seq;
        self.shared
            .respond(lp, self.conn, seq, |conn, now| Ok(conn.end(seq, now)));
    }
}

impl Drop for ResponseWriter {
    fn drop(&mut self) {
        if !self.ended {
            self.shared.abandon_later(self.conn, self.seq, false);
        }
    }
}

/// Header lists up to this long are passed on from the stack.
const STACK_FIELDS: usize = 8;

/// Runs `f` on the handler's header list as byte pairs without the fields the server writes
/// itself (see [`framing_free`]), and whether `Connection` asked for a close; nothing is
/// allocated for a short list. The one- and two-field lists most handlers pass are converted
/// without filling a whole stack array.
pub(super) fn with_fields<N: AsRef<[u8]>, V: AsRef<[u8]>, R>(
    headers: &[(N, V)],
    f: impl FnOnce(&Fields<'_>, bool) -> R,
) -> R {
    let f = |fields: &Fields<'_>| {
        let (fields, close) = framing_free(fields);
        f(&fields, close)
    };
    match headers {
        [] => f(&[]),
        [(n, v)] => f(&[(n.as_ref(), v.as_ref())]),
        [(n1, v1), (n2, v2)] => f(&[(n1.as_ref(), v1.as_ref()), (n2.as_ref(), v2.as_ref())]),
        _ if headers.len() <= STACK_FIELDS => {
            let mut fields: [(&[u8], &[u8]); STACK_FIELDS] = [(&[], &[]); STACK_FIELDS];
            for (slot, (name, value)) in fields.iter_mut().zip(headers) {
                *slot = (name.as_ref(), value.as_ref());
            }
            f(&fields[..headers.len()])
        }
        _ => {
            let fields: Vec<(&[u8], &[u8])> = headers
                .iter()
                .map(|(n, v)| (n.as_ref(), v.as_ref()))
                .collect();
            f(&fields)
        }
    }
}

/// The handler's fields without `Content-Length`, `Transfer-Encoding` and `Connection` (the
/// server writes those), and whether `Connection` asked for a close. Borrowed as they are when
/// none is there, as is usual.
#[inline(always)]
fn framing_free<'a>(fields: &'a Fields<'a>) -> (Cow<'a, Fields<'a>>, bool) {
    // A plain loop: `Iterator::any` is left out of line here.
    for (name, _) in fields {
        if is_reserved(name) {
            return without_framing(fields);
        }
    }
    (Cow::Borrowed(fields), false)
}

/// [`framing_free`] when a field has to go (rare, so out of line).
#[inline(never)]
fn without_framing<'a>(fields: &'a Fields<'a>) -> (Cow<'a, Fields<'a>>, bool) {
    let mut close = false;
    let kept = fields
        .iter()
        .filter(|(name, value)| {
            if name.eq_ignore_ascii_case(b"connection") {
                close |= value
                    .split(|&b| b == b',')
                    .any(|o| o.trim_ascii().eq_ignore_ascii_case(b"close"));
            }
            !is_reserved(name)
        })
        .copied()
        .collect();
    (Cow::Owned(kept), close)
}

#[cfg(test)]
mod tests {
    use super::with_fields;

    #[test]
    fn every_list_length_passes_the_same_pairs_in_order() {
        for len in 0..12 {
            let headers: Vec<(String, String)> = (0..len)
                .map(|i| (format!("N{i}"), format!("v{i}")))
                .collect();
            let seen = with_fields(&headers, |fields, _| {
                fields
                    .iter()
                    .map(|(n, v)| (n.to_vec(), v.to_vec()))
                    .collect::<Vec<_>>()
            });
            let want: Vec<(Vec<u8>, Vec<u8>)> = headers
                .iter()
                .map(|(n, v)| (n.clone().into_bytes(), v.clone().into_bytes()))
                .collect();
            assert_eq!(seen, want, "{len} fields");
        }
    }
}
