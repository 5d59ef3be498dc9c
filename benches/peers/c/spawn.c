/*
 * spawn — libuv's benchmark-spawn on `true`: n children (2 000; 200 with --quick) one after
 * another, each spawned from the previous one's exit callback with stdio ignored and closed in
 * its exit callback. ops = spawns. secs = from before the first uv_spawn to after uv_run returns.
 */
#include "common.h"

static uv_loop_t *loop;
static long long left, done;
static uv_process_t proc;
static uv_process_options_t options;
static char *args[] = {"true", NULL};

static void spawn_next(void);

static void on_close(uv_handle_t *handle) {
    (void)handle;
    spawn_next();
}

static void on_exit_cb(uv_process_t *p, int64_t status, int signal) {
    ASSERT(status == 0 && signal == 0);
    done++;
    uv_close((uv_handle_t *)p, on_close);
}

static void spawn_next(void) {
    if (left == 0) return;
    left--;
    CHECK(uv_spawn(loop, &proc, &options));
}

int main(int argc, char **argv) {
    int quick;
    const char *workload = bench_args(argc, argv, &quick);
    bench_expect(workload, "spawn");
    long long n = bench_ops(2000, quick);
    left = n;
    loop = uv_default_loop();
    uv_stdio_container_t stdio[3];
    for (int i = 0; i < 3; i++) stdio[i].flags = UV_IGNORE;
    options.file = "true";
    options.args = args;
    options.exit_cb = on_exit_cb;
    options.stdio = stdio;
    options.stdio_count = 3;

    uint64_t start = uv_hrtime();
    spawn_next();
    ASSERT(uv_run(loop, UV_RUN_DEFAULT) == 0);
    uint64_t end = uv_hrtime();
    ASSERT(done == n);
    bench_close_loop(loop);
    bench_report(workload, done, start, end);
    return 0;
}
