/*
 * queue_work — thread-pool round trips: one job that does nothing, re-queued from its own
 * completion callback until it has completed 100 000 times (10 000 with --quick).
 * ops = completions. secs = from before the first uv_queue_work to the last completion callback.
 *
 * Measures one hand-off to a pool thread and back: queue, wake a worker, run, post the completion,
 * wake the loop, run the callback.
 */
#include "common.h"

static uv_work_t req;
static long long n;
static long long done;
static uint64_t end;

static void work(uv_work_t *work_req) {
    (void)work_req;
}

static void after_work(uv_work_t *work_req, int status) {
    CHECK(status);
    if (++done == n) {
        end = uv_hrtime();
        return;
    }
    CHECK(uv_queue_work(work_req->loop, work_req, work, after_work));
}

int main(int argc, char **argv) {
    int quick;
    const char *workload = bench_args(argc, argv, &quick);
    bench_expect(workload, "queue_work");
    n = bench_ops(100000, quick);

    uv_loop_t *loop = uv_default_loop();
    uint64_t start = uv_hrtime();
    CHECK(uv_queue_work(loop, &req, work, after_work));
    ASSERT(uv_run(loop, UV_RUN_DEFAULT) == 0);
    ASSERT(done == n);

    bench_close_loop(loop);
    bench_report(workload, n, start, end);
    return 0;
}
