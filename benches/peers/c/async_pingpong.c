/*
 * async_pingpong — two loops on two threads, each with a uv_async_t; each async callback sends
 * to the other loop's handle, 100 000 round trips (10 000 with --quick). No send can coalesce
 * with another, so this is the cost of one wake-up each way (libuv's benchmark-async.c, async1).
 * ops = round trips; secs = from the first send to the callback of the last round trip.
 *
 * After the last round the main side raises a flag and sends once more; the worker's callback
 * sees the flag and closes its handle, so both loops end.
 */
#include <stdatomic.h>

#include "common.h"

static uv_loop_t worker_loop;
static uv_async_t main_async;
static uv_async_t worker_async;
static uv_thread_t worker;
static atomic_int finished;
static long long n;
static long long rounds;
static uint64_t end;

static void on_worker_async(uv_async_t *handle) {
    if (atomic_load(&finished)) {
        uv_close((uv_handle_t *)handle, NULL);
        return;
    }
    CHECK(uv_async_send(&main_async));
}

static void run_worker(void *arg) {
    (void)arg;
    ASSERT(uv_run(&worker_loop, UV_RUN_DEFAULT) == 0);
}

static void on_main_async(uv_async_t *handle) {
    if (++rounds == n) {
        end = uv_hrtime();
        atomic_store(&finished, 1);
        uv_close((uv_handle_t *)handle, NULL);
    }
    CHECK(uv_async_send(&worker_async));
}

int main(int argc, char **argv) {
    int quick;
    const char *workload = bench_args(argc, argv, &quick);
    bench_expect(workload, "async_pingpong");
    n = bench_ops(100000, quick);

    uv_loop_t *loop = uv_default_loop();
    CHECK(uv_loop_init(&worker_loop));
    CHECK(uv_async_init(loop, &main_async, on_main_async));
    CHECK(uv_async_init(&worker_loop, &worker_async, on_worker_async));
    CHECK(uv_thread_create(&worker, run_worker, NULL));

    uint64_t start = uv_hrtime();
    CHECK(uv_async_send(&worker_async));
    ASSERT(uv_run(loop, UV_RUN_DEFAULT) == 0);
    CHECK(uv_thread_join(&worker));
    ASSERT(rounds == n);

    CHECK(uv_loop_close(&worker_loop));
    bench_close_loop(loop);
    bench_report(workload, n, start, end);
    return 0;
}
