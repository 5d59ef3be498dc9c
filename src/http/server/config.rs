//! [`ServerConfig`]: the server's limits and timeouts, with hardened defaults.

use std::time::Duration;

use crate::http::proto::parser::Limits;

/// Limits and timeouts of a [`Server`](super::Server). The defaults are those of a hardened
/// Node deployment; change fields on [`ServerConfig::default`]:
///
/// ```
/// use std::time::Duration;
/// let mut config = evloop::http::ServerConfig::default();
/// config.header_timeout = Duration::from_secs(5);
/// config.server_header = Some("evloop".into());
/// ```
///
/// Every limit a request breaks is answered with its status and `Connection: close`; the
/// connection is then closed once the answer is flushed.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ServerConfig {
    /// Bytes of a request head (request line, fields, empty line); 431 beyond. Default 16 KiB.
    pub max_header_bytes: usize,
    /// Header field lines in one request; 431 beyond. Default 100.
    pub max_headers: usize,
    /// Bytes of the request-target; 414 beyond. Default 8 KiB.
    pub max_target_bytes: usize,
    /// Bytes of a request body (`Content-Length` or the sum of chunks); 413 beyond. The whole
    /// body is buffered before the handler runs. Default 1 MiB.
    pub max_body_bytes: u64,
    /// Time to receive a request head, from its first byte (from the accept for the first
    /// request of a connection): the slowloris defence. 408 and close when it expires.
    /// Default 10 s.
    pub header_timeout: Duration,
    /// Time to receive a request body once the head is in; 408 and close. Default 30 s.
    pub body_timeout: Duration,
    /// Time a keep-alive connection may sit idle between requests before it is closed.
    /// Default 5 s.
    pub idle_timeout: Duration,
    /// After the server half-closes a connection, time it keeps reading (and discarding) so
    /// that unread request bytes do not turn the close into a reset that destroys the last
    /// response. Default 2 s.
    pub linger_timeout: Duration,
    /// Open connections. At the cap, the oldest connection that has not sent a complete
    /// request yet (silent, or slowloris) is closed to make room for the new one, so idle
    /// attackers cannot keep real clients out; only when every open connection has sent a
    /// request is the new one closed at once (as Node's `server.maxConnections`). Default
    /// 10 000 (each costs a few KiB and a descriptor).
    pub max_connections: usize,
    /// Open connections per client IP address; one beyond is closed at once. `None` (the
    /// default): no per-address limit, as clients behind one NAT or proxy share an address.
    pub max_connections_per_ip: Option<usize>,
    /// Pipelined requests one connection may have waiting for their responses; reading stops
    /// at this many until responses go out. Default 32.
    pub max_pipelined: usize,
    /// Bytes of responses encoded and waiting for the socket (in the server's buffers; the
    /// socket's own queue counts once it is over its 64 KiB high-water mark) at which the
    /// connection stops dispatching pipelined requests and reading, until they drain. One
    /// request can still produce one large response, but a burst of pipelined ones cannot make
    /// the server hold a response each at once: a 1.3 KB write of 32 requests for a 16 MiB
    /// body would otherwise hold 512 MiB. Default 1 MiB: far above any head or small body
    /// (so a normal pipelined burst is not slowed), far below what amplification needs.
    pub response_high_water: usize,
    /// Time the socket may take none of the bytes queued for it before the connection is
    /// closed (without an answer: none could arrive). A client that stops reading a large
    /// response holds its connection and its queued bytes no longer than this; a slow client
    /// that keeps taking bytes is never cut. Default 60 s (nginx's `send_timeout`).
    pub send_timeout: Duration,
    /// How [`Responder::send_file`](super::Responder::send_file) sends a file body. `true`
    /// (the default): with the kernel's `sendfile` on Linux, FreeBSD and macOS, from the page
    /// cache to the socket as the socket drains, on the loop thread, never holding the body in
    /// memory (see [`TcpStream::write_file`](crate::net::TcpStream::write_file): at most
    /// 2 MiB per connection and loop iteration, so one download cannot starve the others).
    /// `false`, and always on Windows: read on the thread pool in chunks of
    /// [`file_chunk_bytes`](Self::file_chunk_bytes), the next once the socket has room, which
    /// keeps disk reads off the loop thread: choose it when files are often not in the page
    /// cache (a cold read would stall every connection on the loop), as nginx's `aio threads`.
    pub sendfile: bool,
    /// Bytes read from the disk at a time for [`Responder::send_file`](super::Responder::send_file)
    /// when it does not use `sendfile` (one read on the thread pool per chunk, the next only
    /// once the socket has room). Bounds
    /// a download's memory to about two chunks plus the socket's queue, whatever the file's
    /// size. Default 256 KiB: a pool round trip costs about as much as copying a few KiB, so
    /// this keeps it under 1 % of a chunk's cost.
    pub file_chunk_bytes: usize,
    /// File bodies of [`Responder::send_file`](super::Responder::send_file) up to this many
    /// bytes are read into the response buffer on the loop thread and leave with the head in
    /// one `send` (one segment on the wire), provided the page cache holds them: Linux only,
    /// with `preadv2(RWF_NOWAIT)`, which never waits for a disk (a body not cached, or only
    /// partly, goes the usual way, as does every body elsewhere). For small files that costs
    /// less than a `sendfile` after the head (nginx corks the head and the body into one
    /// segment for the same reason) and much less than a pool round trip. `0` turns it off.
    /// Default 16 KiB: a copy that size is cheaper than the syscall it saves, and with
    /// [`response_high_water`](Self::response_high_water) it bounds what pipelined requests
    /// for small files hold.
    pub file_inline_bytes: usize,
    /// `TCP_NOTSENT_LOWAT` for every accepted connection (Linux; ignored elsewhere): the
    /// kernel holds at most this many bytes of a response not yet sent, and the rest waits in
    /// the connection's write queue (or, for a file body, in the file) until the socket has
    /// sent most of them. It bounds the kernel memory a slow client can pin per connection
    /// (without it, up to `net.ipv4.tcp_wmem`'s maximum, 4 MiB by default) and makes the
    /// server send its segments as it writes instead of leaving a large backlog to be pushed
    /// out by the client's acknowledgements (on loopback, on the client's CPU: measured with
    /// `sendfile` and 1 MiB files against wrk, the client's CPU per response fell to between a
    /// half and a third while the server's stayed within 15 %; see BENCHMARKS.md). Bytes in
    /// flight are not limited, so throughput over a long path is not either. The cost: one
    /// `setsockopt` per accepted connection, and more writes for a large body when the peer
    /// is slow (one per `notsent_lowat` bytes it takes instead of one per socket buffer).
    /// `None`: the kernel's default (unlimited unless the system sets
    /// `net.ipv4.tcp_notsent_lowat`). Default 16 KiB, the best of 16, 64, 128 and 256 KiB in
    /// that benchmark, and the value common for HTTP servers.
    pub notsent_lowat: Option<u32>,
    /// Pass methods the parser does not know to the handler instead of answering 501.
    /// Default `false`.
    pub allow_unknown_methods: bool,
    /// The `Server` header value, sent on every response if set. Default `None`.
    pub server_header: Option<String>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        let limits = Limits::default();
        Self {
            max_header_bytes: limits.max_head_bytes,
            max_headers: limits.max_headers,
            max_target_bytes: limits.max_target_bytes,
            max_body_bytes: limits.max_body_bytes,
            header_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(30),
            idle_timeout: Duration::from_secs(5),
            linger_timeout: Duration::from_secs(2),
            max_connections: 10_000,
            max_connections_per_ip: None,
            max_pipelined: 32,
            response_high_water: 1024 * 1024,
            send_timeout: Duration::from_secs(60),
            sendfile: true,
            file_chunk_bytes: 256 * 1024,
            file_inline_bytes: 16 * 1024,
            notsent_lowat: Some(16 * 1024),
            allow_unknown_methods: false,
            server_header: None,
        }
    }
}

impl ServerConfig {
    /// The parser limits these settings imply.
    pub(crate) fn limits(&self) -> Limits {
        Limits {
            max_head_bytes: self.max_header_bytes,
            max_headers: self.max_headers,
            max_target_bytes: self.max_target_bytes,
            max_body_bytes: self.max_body_bytes,
            ..Limits::default()
        }
    }
}
