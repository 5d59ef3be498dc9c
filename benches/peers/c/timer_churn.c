/*
 * timer_churn — the idle-timeout pattern of a busy server. Create 10 000 timers of 5 s (not
 * timed). Then 1 000 000 operations (100 000 with --quick): op i (counting from 0) takes timer
 * i % 10 000; when i % 10 == 9 it clears that timer and creates and starts a new 5 s timer in its
 * place, otherwise it refreshes it (uv_timer_again: the timers are started with repeat = 5000 so
 * `again` restarts them at 5 s). Then clear all timers. ops = operations.
 * secs = the operations loop plus the clear-all, including the uv_run that completes the closes:
 * in libuv a cleared timer is only freed after uv_close's callback, so that run is part of the
 * cost of clearing. No timer ever fires.
 */
#include "common.h"

#define TIMERS 10000
#define TIMEOUT_MS 5000

static uv_timer_t *timers[TIMERS];
static long long created;
static long long freed;

static void on_timeout(uv_timer_t *timer) {
    (void)timer;
    fprintf(stderr, "timer_churn: a 5 s timer fired; the run took too long to mean anything\n");
    exit(1);
}

static void free_timer(uv_handle_t *handle) {
    free(handle);
    freed++;
}

static uv_timer_t *new_timer(uv_loop_t *loop) {
    uv_timer_t *timer = malloc(sizeof(*timer));
    ASSERT(timer != NULL);
    CHECK(uv_timer_init(loop, timer));
    CHECK(uv_timer_start(timer, on_timeout, TIMEOUT_MS, TIMEOUT_MS));
    created++;
    return timer;
}

static void clear_timer(uv_timer_t *timer) {
    uv_close((uv_handle_t *)timer, free_timer);
}

int main(int argc, char **argv) {
    int quick;
    const char *workload = bench_args(argc, argv, &quick);
    bench_expect(workload, "timer_churn");
    long long n = bench_ops(1000000, quick);

    uv_loop_t *loop = uv_default_loop();
    for (int k = 0; k < TIMERS; k++) {
        timers[k] = new_timer(loop);
    }

    uint64_t start = uv_hrtime();
    for (long long i = 0; i < n; i++) {
        int k = (int)(i % TIMERS);
        if (i % 10 == 9) {
            clear_timer(timers[k]);
            timers[k] = new_timer(loop);
        } else {
            CHECK(uv_timer_again(timers[k]));
        }
    }
    for (int k = 0; k < TIMERS; k++) {
        clear_timer(timers[k]);
    }
    ASSERT(uv_run(loop, UV_RUN_DEFAULT) == 0);
    uint64_t end = uv_hrtime();
    ASSERT(freed == created);

    bench_close_loop(loop);
    bench_report(workload, n, start, end);
    return 0;
}
