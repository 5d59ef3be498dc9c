/*
 * million_timers — 1 000 000 one-shot timers (100 000 with --quick). Timer i has a timeout of
 * 1 + i / 1000 ms: 1 ms for the first 1000, 2 ms for the next 1000, and so on. Start all, run the
 * loop until every timer fired, then close every handle and run the loop again to finish the
 * closes. ops = timers.
 * secs = CPU seconds (user + system) from before the first uv_timer_init/uv_timer_start to after the uv_run that completes the
 * last close. The handle array is allocated before the clock starts.
 *
 * Measures timer insertion (the heap), expiry in due order, and handle teardown.
 */
#include "common.h"
#include <sys/resource.h>

static long long fired;
static long long closed;

static void on_timer(uv_timer_t *timer) {
    (void)timer;
    fired++;
}

static void on_close(uv_handle_t *handle) {
    (void)handle;
    closed++;
}

/* Process CPU time (user + system) in ns: the wall time of this workload is dominated by waiting
 * for the last deadline (1 s), which every runtime that keeps up spends asleep in poll. */
static uint64_t cpu_ns(void) {
    struct rusage ru;
    ASSERT(getrusage(RUSAGE_SELF, &ru) == 0);
    return (uint64_t)ru.ru_utime.tv_sec * 1000000000u + (uint64_t)ru.ru_utime.tv_usec * 1000u +
           (uint64_t)ru.ru_stime.tv_sec * 1000000000u + (uint64_t)ru.ru_stime.tv_usec * 1000u;
}

int main(int argc, char **argv) {
    int quick;
    const char *workload = bench_args(argc, argv, &quick);
    bench_expect(workload, "million_timers");
    long long n = bench_ops(1000000, quick);

    uv_loop_t *loop = uv_default_loop();
    uv_timer_t *timers = malloc((size_t)n * sizeof(*timers));
    ASSERT(timers != NULL);

    uint64_t start = cpu_ns();
    for (long long i = 0; i < n; i++) {
        CHECK(uv_timer_init(loop, &timers[i]));
        CHECK(uv_timer_start(&timers[i], on_timer, (uint64_t)(1 + i / 1000), 0));
    }
    ASSERT(uv_run(loop, UV_RUN_DEFAULT) == 0);
    ASSERT(fired == n);
    for (long long i = 0; i < n; i++) {
        uv_close((uv_handle_t *)&timers[i], on_close);
    }
    ASSERT(uv_run(loop, UV_RUN_DEFAULT) == 0);
    uint64_t end = cpu_ns();
    ASSERT(closed == n);

    bench_close_loop(loop);
    free(timers);
    bench_report(workload, n, start, end);
    return 0;
}
