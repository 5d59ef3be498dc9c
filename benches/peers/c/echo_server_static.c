/*
 * echo_server_static — the strong libuv peer of evloop's `examples/echo` for
 * `benches/echo_rounds.sh` and `benches/net_bench.sh`.
 *
 *     echo_server_static [--addr HOST:PORT]      (default 127.0.0.1:0: the kernel picks the port)
 *
 * The fastest single-threaded echo libuv's API allows, without per-read allocation: every read
 * lands in one static 64 KiB buffer (the alloc callback hands it out again and again), the echo
 * goes back with `uv_try_write` straight from that buffer, and only an unsent tail (a full socket
 * buffer, or earlier bytes still queued) is copied into a `uv_write` request of its own.
 * `TCP_NODELAY` is set on every accepted connection. Backpressure: a connection with more than
 * MAX_QUEUED bytes queued stops reading until its queue is empty, so a client that sends but
 * never reads cannot grow the server's memory without bound.
 *
 * Compare `echo_server.c`, the allocating kind (a copy and a `uv_write` per read, as libuv's own
 * test echo server does), kept as a second row. Prints `listening on <addr>` once the socket
 * listens; SIGTERM or SIGINT closes every handle and exits 0.
 */
#include "echo_common.h"

#define MAX_QUEUED (1024 * 1024)

static void on_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf);

static void on_write(uv_write_t *req, int status) {
    uv_stream_t *stream = req->handle;
    free(req);
    if (status < 0) {
        /* A peer that reset while we wrote: done (a cancelled write on close lands here too). */
        close_stream(stream);
        return;
    }
    /* Backpressure off: the queue drained, read again. */
    if (stream->data != NULL && !uv_is_closing((uv_handle_t *)stream) &&
        uv_stream_get_write_queue_size(stream) == 0) {
        stream->data = NULL;
        if (uv_read_start(stream, on_alloc, on_read) < 0) {
            close_stream(stream);
        }
    }
}

static void on_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf) {
    (void)buf;
    if (nread < 0) {
        /* EOF or an error (ECONNRESET): this connection is done. */
        close_stream(stream);
        return;
    }
    if (nread == 0) {
        return; /* EAGAIN */
    }
    uv_buf_t out = uv_buf_init(read_buffer, (unsigned)nread);
    int sent = uv_try_write(stream, &out, 1);
    if (sent == UV_EAGAIN) {
        sent = 0; /* earlier bytes still queued, or a full socket buffer */
    } else if (sent < 0) {
        close_stream(stream);
        return;
    }
    if (sent == nread) {
        return;
    }
    size_t rest = (size_t)nread - (size_t)sent;
    echo_write_t *w = malloc(sizeof(*w) + rest);
    ASSERT(w != NULL);
    memcpy(w->data, read_buffer + sent, rest);
    w->buf = uv_buf_init(w->data, (unsigned)rest);
    if (uv_write(&w->req, stream, &w->buf, 1, on_write) < 0) {
        free(w);
        close_stream(stream);
        return;
    }
    if (uv_stream_get_write_queue_size(stream) > MAX_QUEUED) {
        /* Backpressure on: stop reading until on_write sees the queue empty. */
        uv_read_stop(stream);
        stream->data = stream;
    }
}

static void on_connection(uv_stream_t *server, int status) {
    /* `data` non-NULL: reading is stopped for backpressure. */
    uv_tcp_t *conn = accept_connection("echo_server_static", server, status);
    if (conn != NULL && uv_read_start((uv_stream_t *)conn, on_alloc, on_read) < 0) {
        uv_close((uv_handle_t *)conn, on_close);
    }
}

int main(int argc, char **argv) {
    return echo_main(argc, argv, on_connection);
}
