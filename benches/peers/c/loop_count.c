/*
 * loop_count — one idle watcher whose callback counts; the callback stops the watcher at the
 * 10 000 000th call (1 000 000 with --quick). ops = calls.
 * secs = from before uv_idle_start to after uv_run returns.
 *
 * Measures one loop iteration: an active idle watcher makes every poll non-blocking, so each
 * call costs one pass through all phases plus one epoll_wait with a zero timeout.
 */
#include "common.h"

static uv_idle_t idle;
static long long calls;
static long long target;

static void on_idle(uv_idle_t *handle) {
    if (++calls == target) {
        CHECK(uv_idle_stop(handle));
    }
}

int main(int argc, char **argv) {
    int quick;
    const char *workload = bench_args(argc, argv, &quick);
    bench_expect(workload, "loop_count");
    target = bench_ops(10000000, quick);

    uv_loop_t *loop = uv_default_loop();
    CHECK(uv_idle_init(loop, &idle));

    uint64_t start = uv_hrtime();
    CHECK(uv_idle_start(&idle, on_idle));
    ASSERT(uv_run(loop, UV_RUN_DEFAULT) == 0);
    uint64_t end = uv_hrtime();
    ASSERT(calls == target);

    uv_close((uv_handle_t *)&idle, NULL);
    ASSERT(uv_run(loop, UV_RUN_DEFAULT) == 0);
    bench_close_loop(loop);
    bench_report(workload, calls, start, end);
    return 0;
}
