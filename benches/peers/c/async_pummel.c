/*
 * async_pummel — a second thread calls uv_async_send 1 000 000 times (100 000 with --quick) as
 * fast as it can; the async callback counts wake-ups. libuv coalesces sends that arrive before the
 * loop runs the callback, so wake-ups <= sends. ops = sends; the wake-up count goes to stderr.
 * secs = from before the thread is created to the callback that sees the thread has finished.
 *
 * After its last counted send the thread raises a flag and sends once more so the loop is sure to
 * wake and see it; that extra send is not counted.
 */
#include <stdatomic.h>

#include "common.h"

static uv_async_t async;
static uv_thread_t sender;
static atomic_int finished;
static long long n;
static long long wakeups;
static uint64_t end;

static void pummel(void *arg) {
    (void)arg;
    for (long long i = 0; i < n; i++) {
        CHECK(uv_async_send(&async));
    }
    atomic_store(&finished, 1);
    CHECK(uv_async_send(&async));
}

static void on_async(uv_async_t *handle) {
    wakeups++;
    if (atomic_load(&finished)) {
        end = uv_hrtime();
        /* The thread may still be inside its final uv_async_send; let it return before closing. */
        CHECK(uv_thread_join(&sender));
        uv_close((uv_handle_t *)handle, NULL);
    }
}

int main(int argc, char **argv) {
    int quick;
    const char *workload = bench_args(argc, argv, &quick);
    bench_expect(workload, "async_pummel");
    n = bench_ops(1000000, quick);

    uv_loop_t *loop = uv_default_loop();
    CHECK(uv_async_init(loop, &async, on_async));

    uint64_t start = uv_hrtime();
    CHECK(uv_thread_create(&sender, pummel, NULL));
    ASSERT(uv_run(loop, UV_RUN_DEFAULT) == 0);

    bench_close_loop(loop);
    fprintf(stderr, "async_pummel: %lld sends, %lld wake-ups\n", n, wakeups);
    bench_report(workload, n, start, end);
    return 0;
}
