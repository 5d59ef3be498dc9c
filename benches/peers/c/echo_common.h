/*
 * echo_common.h — what the two libuv echo peers (echo_server.c, echo_server_static.c) share:
 * the listener and signal handles, the one static read buffer, accepting a connection with
 * TCP_NODELAY, `--addr HOST:PORT`, and a main that listens, prints `listening on <addr>`,
 * runs, and on SIGTERM or SIGINT closes every handle and exits 0. Each peer supplies only its
 * read path (its `on_read` and what it does with a write).
 */
#ifndef EVLOOP_ECHO_COMMON_H
#define EVLOOP_ECHO_COMMON_H

#include <signal.h>

#include "common.h"

#define READ_BUFFER_SIZE (64 * 1024)

static uv_loop_t *loop;
static uv_tcp_t listener;
static uv_signal_t sigterm, sigint;
static char read_buffer[READ_BUFFER_SIZE];

/* A write request and the copy of the bytes it sends, in one allocation. */
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

static void close_stream(uv_stream_t *stream) {
    if (!uv_is_closing((uv_handle_t *)stream)) {
        uv_close((uv_handle_t *)stream, on_close);
    }
}

static void on_alloc(uv_handle_t *handle, size_t suggested, uv_buf_t *buf) {
    (void)handle;
    (void)suggested;
    *buf = uv_buf_init(read_buffer, READ_BUFFER_SIZE);
}

/* Accepts one connection with TCP_NODELAY and `data` NULL; NULL (after reporting or closing)
 * when that fails. `name` prefixes the messages. */
static uv_tcp_t *accept_connection(const char *name, uv_stream_t *server, int status) {
    if (status < 0) {
        fprintf(stderr, "%s: accept: %s\n", name, uv_strerror(status));
        return NULL;
    }
    uv_tcp_t *conn = malloc(sizeof(*conn));
    ASSERT(conn != NULL);
    CHECK(uv_tcp_init(loop, conn));
    conn->data = NULL;
    int accepted = uv_accept(server, (uv_stream_t *)conn);
    if (accepted < 0) {
        fprintf(stderr, "%s: accept: %s\n", name, uv_strerror(accepted));
        uv_close((uv_handle_t *)conn, on_close);
        return NULL;
    }
    if (uv_tcp_nodelay(conn, 1) < 0) {
        uv_close((uv_handle_t *)conn, on_close); /* reset before we got to it */
        return NULL;
    }
    return conn;
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

/* `[--addr HOST:PORT]` (default 127.0.0.1:0), then listen with `on_connection` and run. */
static int echo_main(int argc, char **argv, uv_connection_cb on_connection) {
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

#endif
