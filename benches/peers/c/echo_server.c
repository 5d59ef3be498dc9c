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
#include <signal.h>

#include "common.h"

#define READ_BUFFER_SIZE (64 * 1024)

static uv_loop_t *loop;
static uv_tcp_t listener;
static uv_signal_t sigterm, sigint;
static char read_buffer[READ_BUFFER_SIZE];

/* A write request and the copy of the bytes it echoes, in one allocation. */
typedef struct {
    uv_write_t req;
    uv_buf_t buf;
    char data[];
} echo_write_t;

static void on_close(uv_handle_t *handle) {
    if (handle != (uv_handle_t *)&listener && handle != (uv_handle_t *)&sigterm &&
        handle != (uv_handle_t *)&sigint) {
        free(handle);
    }
}

static void on_alloc(uv_handle_t *handle, size_t suggested, uv_buf_t *buf) {
    (void)handle;
    (void)suggested;
    *buf = uv_buf_init(read_buffer, READ_BUFFER_SIZE);
}

static void on_write(uv_write_t *req, int status) {
    /* A peer that resets while we write: the read side sees the error and closes. */
    (void)status;
    free(req);
}

static void on_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf) {
    (void)buf;
    if (nread < 0) {
        /* EOF or an error (ECONNRESET): this connection is done. */
        if (!uv_is_closing((uv_handle_t *)stream)) {
            uv_close((uv_handle_t *)stream, on_close);
        }
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
        if (!uv_is_closing((uv_handle_t *)stream)) {
            uv_close((uv_handle_t *)stream, on_close);
        }
    }
}

static void on_connection(uv_stream_t *server, int status) {
    if (status < 0) {
        fprintf(stderr, "echo_server: accept: %s\n", uv_strerror(status));
        return;
    }
    uv_tcp_t *conn = malloc(sizeof(*conn));
    ASSERT(conn != NULL);
    CHECK(uv_tcp_init(loop, conn));
    int accepted = uv_accept(server, (uv_stream_t *)conn);
    if (accepted < 0) {
        fprintf(stderr, "echo_server: accept: %s\n", uv_strerror(accepted));
        uv_close((uv_handle_t *)conn, on_close);
        return;
    }
    if (uv_tcp_nodelay(conn, 1) < 0) {
        uv_close((uv_handle_t *)conn, on_close); /* reset before we got to it */
        return;
    }
    CHECK(uv_read_start((uv_stream_t *)conn, on_alloc, on_read));
}

static void close_walk(uv_handle_t *handle, void *arg) {
    (void)arg;
    if (!uv_is_closing(handle)) {
        uv_close(handle, on_close);
    }
}

static void on_signal(uv_signal_t *signal, int signum) {
    (void)signal;
    (void)signum;
    uv_walk(loop, close_walk, NULL);
}

/* Splits HOST:PORT (the last colon separates the port, so [v6]:port works). */
static void parse_addr(const char *text, struct sockaddr_storage *addr) {
    char host[256];
    const char *colon = strrchr(text, ':');
    ASSERT(colon != NULL && (size_t)(colon - text) < sizeof(host));
    memcpy(host, text, (size_t)(colon - text));
    host[colon - text] = '\0';
    int port = atoi(colon + 1);
    if (host[0] == '[') {
        size_t len = strlen(host);
        ASSERT(len >= 2 && host[len - 1] == ']');
        host[len - 1] = '\0';
        CHECK(uv_ip6_addr(host + 1, port, (struct sockaddr_in6 *)addr));
    } else {
        CHECK(uv_ip4_addr(host, port, (struct sockaddr_in *)addr));
    }
}

int main(int argc, char **argv) {
    const char *addr_text = "127.0.0.1:0";
    if (argc == 3 && strcmp(argv[1], "--addr") == 0) {
        addr_text = argv[2];
    } else if (argc != 1) {
        fprintf(stderr, "usage: %s [--addr HOST:PORT]\n", argv[0]);
        return 2;
    }
    struct sockaddr_storage addr;
    memset(&addr, 0, sizeof(addr));
    parse_addr(addr_text, &addr);

    /* A write to a peer that reset must fail with EPIPE, not kill the server (libuv's own
     * benchmark runner and Node ignore SIGPIPE the same way). */
    signal(SIGPIPE, SIG_IGN);

    loop = uv_default_loop();
    CHECK(uv_tcp_init(loop, &listener));
    CHECK(uv_tcp_bind(&listener, (const struct sockaddr *)&addr, 0));
    CHECK(uv_listen((uv_stream_t *)&listener, 511, on_connection));
    CHECK(uv_signal_init(loop, &sigterm));
    CHECK(uv_signal_start(&sigterm, on_signal, SIGTERM));
    CHECK(uv_signal_init(loop, &sigint));
    CHECK(uv_signal_start(&sigint, on_signal, SIGINT));

    struct sockaddr_storage bound;
    int len = sizeof(bound);
    CHECK(uv_tcp_getsockname(&listener, (struct sockaddr *)&bound, &len));
    char ip[64];
    int port;
    if (bound.ss_family == AF_INET6) {
        CHECK(uv_ip6_name((struct sockaddr_in6 *)&bound, ip, sizeof(ip)));
        port = ntohs(((struct sockaddr_in6 *)&bound)->sin6_port);
        printf("listening on [%s]:%d\n", ip, port);
    } else {
        CHECK(uv_ip4_name((struct sockaddr_in *)&bound, ip, sizeof(ip)));
        port = ntohs(((struct sockaddr_in *)&bound)->sin_port);
        printf("listening on %s:%d\n", ip, port);
    }
    fflush(stdout);

    CHECK(uv_run(loop, UV_RUN_DEFAULT));
    bench_close_loop(loop);
    return 0;
}
