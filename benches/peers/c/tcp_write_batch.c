/*
 * tcp_write_batch — libuv's benchmark of the same name: 1 000 000 uv_write calls of 13 bytes
 * ("Hello, world.") on one connected TCP stream (100 000 with --quick), then uv_shutdown and
 * uv_close. ops = writes. secs = from before the first uv_write (in the connect callback) to
 * the close callback, so it covers queueing every request, flushing them and running every
 * write callback.
 *
 * libuv's version writes to a separate blackhole server process; here the reading peer is a
 * thread of this process that accepts one connection on 127.0.0.1 and reads until EOF with
 * blocking recv into a 64 KiB buffer, counting bytes (checked at the end).
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common.h"

static const char message[] = "Hello, world.";
#define MESSAGE_LEN (sizeof(message) - 1)

static long long n;
static long long writes_done;
static int shutdown_done;
static int closed;
static uv_write_t *reqs;
static uv_tcp_t stream;
static uv_connect_t connect_req;
static uv_shutdown_t shutdown_req;
static uint64_t start, end;

static int listen_fd;
static long long bytes_read;

static void *reader(void *arg) {
    (void)arg;
    int fd = accept(listen_fd, NULL, NULL);
    ASSERT(fd >= 0);
    static char buf[64 * 1024];
    for (;;) {
        ssize_t got = recv(fd, buf, sizeof(buf), 0);
        ASSERT(got >= 0);
        if (got == 0) {
            break;
        }
        bytes_read += got;
    }
    close(fd);
    return NULL;
}

static void close_cb(uv_handle_t *handle) {
    (void)handle;
    closed = 1;
    end = uv_hrtime();
}

static void shutdown_cb(uv_shutdown_t *req, int status) {
    CHECK(status);
    shutdown_done = 1;
    uv_close((uv_handle_t *)req->handle, close_cb);
}

static void write_cb(uv_write_t *req, int status) {
    (void)req;
    CHECK(status);
    writes_done++;
}

static void connect_cb(uv_connect_t *req, int status) {
    CHECK(status);
    uv_buf_t buf = uv_buf_init((char *)message, MESSAGE_LEN);
    start = uv_hrtime();
    for (long long i = 0; i < n; i++) {
        CHECK(uv_write(&reqs[i], req->handle, &buf, 1, write_cb));
    }
    CHECK(uv_shutdown(&shutdown_req, req->handle, shutdown_cb));
}

int main(int argc, char **argv) {
    int quick;
    const char *workload = bench_args(argc, argv, &quick);
    bench_expect(workload, "tcp_write_batch");
    n = bench_ops(1000000, quick);
    reqs = malloc(sizeof(*reqs) * (size_t)n);
    ASSERT(reqs != NULL);

    struct sockaddr_in addr;
    memset(&addr, 0, sizeof(addr));
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    listen_fd = socket(AF_INET, SOCK_STREAM, 0);
    ASSERT(listen_fd >= 0);
    ASSERT(bind(listen_fd, (struct sockaddr *)&addr, sizeof(addr)) == 0);
    ASSERT(listen(listen_fd, 1) == 0);
    socklen_t len = sizeof(addr);
    ASSERT(getsockname(listen_fd, (struct sockaddr *)&addr, &len) == 0);
    pthread_t thread;
    ASSERT(pthread_create(&thread, NULL, reader, NULL) == 0);

    uv_loop_t *loop = uv_default_loop();
    CHECK(uv_tcp_init(loop, &stream));
    CHECK(uv_tcp_connect(&connect_req, &stream, (const struct sockaddr *)&addr, connect_cb));
    ASSERT(uv_run(loop, UV_RUN_DEFAULT) == 0);
    ASSERT(writes_done == n && shutdown_done && closed);

    ASSERT(pthread_join(thread, NULL) == 0);
    ASSERT(bytes_read == n * (long long)MESSAGE_LEN);
    close(listen_fd);
    free(reqs);
    bench_close_loop(loop);
    bench_report(workload, n, start, end);
    return 0;
}
