/*
 * fs_stat_1, fs_stat_4, fs_stat_16, fs_stat_32 — stat one fixed existing file, /etc/hostname,
 * 100 000 times in total (10 000 with --quick) with 1, 4, 16 or 32 requests in flight: each
 * completion issues the next request until all have been issued. ops = completed stats.
 * secs = from before the first uv_fs_stat to the last completion callback.
 *
 * Measures file requests on the thread pool (libuv's default of 4 threads, UV_THREADPOOL_SIZE
 * unless set): queueing, the stat syscall on a worker, and the completion on the loop.
 */
#include "common.h"

#define PATH "/etc/hostname"
#define MAX_IN_FLIGHT 1024

static uv_fs_t reqs[MAX_IN_FLIGHT];
static long long n;
static long long issued;
static long long done;
static uint64_t end;

static void on_stat(uv_fs_t *req);

static void issue(uv_loop_t *loop, uv_fs_t *req) {
    issued++;
    CHECK(uv_fs_stat(loop, req, PATH, on_stat));
}

static void on_stat(uv_fs_t *req) {
    CHECK((int)req->result);
    uv_loop_t *loop = req->loop;
    uv_fs_req_cleanup(req);
    if (++done == n) {
        end = uv_hrtime();
    }
    if (issued < n) {
        issue(loop, req);
    }
}

int main(int argc, char **argv) {
    int quick;
    const char *workload = bench_args(argc, argv, &quick);
    int in_flight = 0;
    char rest = 0;
    if (sscanf(workload, "fs_stat_%d%c", &in_flight, &rest) != 1 || in_flight < 1 ||
        in_flight > MAX_IN_FLIGHT) {
        fprintf(stderr, "unknown workload '%s' (this program runs fs_stat_<1..%d>)\n", workload,
                MAX_IN_FLIGHT);
        return 2;
    }
    n = bench_ops(100000, quick);

    uv_loop_t *loop = uv_default_loop();
    uint64_t start = uv_hrtime();
    for (int i = 0; i < in_flight && issued < n; i++) {
        issue(loop, &reqs[i]);
    }
    ASSERT(uv_run(loop, UV_RUN_DEFAULT) == 0);
    ASSERT(done == n);

    bench_close_loop(loop);
    bench_report(workload, n, start, end);
    return 0;
}
