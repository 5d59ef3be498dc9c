/*
 * echo_server — the libuv peer of evloop's `examples/echo` for `benches/net_bench.sh`.
 *
 *     echo_server [--addr HOST:PORT]      (default 127.0.0.1:0: the kernel picks the port)
 *
 * One loop on one thread: a uv_tcp_t listener, uv_read_start on every connection with one
 * 64 KiB buffer the alloc callback hands out again and again (the data is copied into the
 * write request before the read callback returns, so one buffer serves every read), and a
 * uv_write echo per read, `TCP_NODELAY` on every connection. Prints `listening on <addr>`
 * once the socket listens; SIGTERM or
 * SIGINT closes every handle and exits 0.
 */
#include "echo_common.h"

static void on_write(uv_write_t *req, int status) {
    /* A peer that resets while we write: the read side sees the error and closes. */
    (void)status;
    free(req);
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
    echo_write_t *w = malloc(sizeof(*w) + (size_t)nread);
    ASSERT(w != NULL);
    memcpy(w->data, read_buffer, (size_t)nread);
    w->buf = uv_buf_init(w->data, (unsigned)nread);
    int status = uv_write(&w->req, stream, &w->buf, 1, on_write);
    if (status < 0) {
        free(w);
        close_stream(stream);
    }
}

static void on_connection(uv_stream_t *server, int status) {
    uv_tcp_t *conn = accept_connection("echo_server", server, status);
    if (conn != NULL) {
        CHECK(uv_read_start((uv_stream_t *)conn, on_alloc, on_read));
    }
}

int main(int argc, char **argv) {
    return echo_main(argc, argv, on_connection);
}
