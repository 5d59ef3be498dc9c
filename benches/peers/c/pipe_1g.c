/*
 * pipe_1g — pipe throughput from a child: `head -c <1024 MiB> /dev/zero` (102 MiB with --quick)
 * read through a stdout pipe with uv_read_start (64 KiB buffers, as libuv suggests) until EOF and
 * the exit. ops = MiB. secs = from before uv_spawn to after uv_run returns.
 */
#include "common.h"

static uv_process_t proc;
static uv_pipe_t out;
static long long total;
static char buf[65536];

static void alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *b) {
    (void)h;
    (void)suggested;
    *b = uv_buf_init(buf, sizeof buf);
}

static void read_cb(uv_stream_t *s, ssize_t n, const uv_buf_t *b) {
    (void)b;
    if (n > 0) {
        total += n;
    } else if (n == UV_EOF) {
        uv_close((uv_handle_t *)s, NULL);
    } else if (n < 0) {
        CHECK((int)n);
    }
}

static void on_exit_cb(uv_process_t *p, int64_t status, int signal) {
    ASSERT(status == 0 && signal == 0);
    uv_close((uv_handle_t *)p, NULL);
}

int main(int argc, char **argv) {
    int quick;
    const char *workload = bench_args(argc, argv, &quick);
    bench_expect(workload, "pipe_1g");
    long long mib = bench_ops(1024, quick);
    uv_loop_t *loop = uv_default_loop();
    char count[32];
    snprintf(count, sizeof count, "%lld", mib << 20);
    char *args[] = {"head", "-c", count, "/dev/zero", NULL};
    CHECK(uv_pipe_init(loop, &out, 0));
    uv_stdio_container_t stdio[3];
    stdio[0].flags = UV_IGNORE;
    stdio[1].flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE;
    stdio[1].data.stream = (uv_stream_t *)&out;
    stdio[2].flags = UV_IGNORE;
    uv_process_options_t options = {0};
    options.file = "head";
    options.args = args;
    options.exit_cb = on_exit_cb;
    options.stdio = stdio;
    options.stdio_count = 3;

    uint64_t start = uv_hrtime();
    CHECK(uv_spawn(loop, &proc, &options));
    CHECK(uv_read_start((uv_stream_t *)&out, alloc_cb, read_cb));
    ASSERT(uv_run(loop, UV_RUN_DEFAULT) == 0);
    uint64_t end = uv_hrtime();
    ASSERT(total == (mib << 20));
    bench_close_loop(loop);
    bench_report(workload, mib, start, end);
    return 0;
}
