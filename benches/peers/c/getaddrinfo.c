/*
 * getaddrinfo — resolve "localhost" 20 000 times (2 000 with --quick) with 10 requests in flight:
 * each completion issues the next request until all have been issued. ops = completed lookups.
 * secs = from before the first uv_getaddrinfo to the last completion callback.
 *
 * Hints match Node's dns.lookup defaults: AF_UNSPEC, SOCK_STREAM, no flags, no service. Lookups
 * run on the thread pool, where libuv lets this "slow I/O" use at most half of the threads.
 */
#include "common.h"

#define HOST "localhost"
#define IN_FLIGHT 10

static uv_getaddrinfo_t reqs[IN_FLIGHT];
static struct addrinfo hints;
static long long n;
static long long issued;
static long long done;
static uint64_t end;

static void on_resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *res);

static void issue(uv_loop_t *loop, uv_getaddrinfo_t *req) {
    issued++;
    CHECK(uv_getaddrinfo(loop, req, on_resolved, HOST, NULL, &hints));
}

static void on_resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *res) {
    CHECK(status);
    ASSERT(res != NULL);
    uv_freeaddrinfo(res);
    if (++done == n) {
        end = uv_hrtime();
    }
    if (issued < n) {
        issue(req->loop, req);
    }
}

int main(int argc, char **argv) {
    int quick;
    const char *workload = bench_args(argc, argv, &quick);
    bench_expect(workload, "getaddrinfo");
    n = bench_ops(20000, quick);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;

    uv_loop_t *loop = uv_default_loop();
    uint64_t start = uv_hrtime();
    for (int i = 0; i < IN_FLIGHT && issued < n; i++) {
        issue(loop, &reqs[i]);
    }
    ASSERT(uv_run(loop, UV_RUN_DEFAULT) == 0);
    ASSERT(done == n);

    bench_close_loop(loop);
    bench_report(workload, n, start, end);
    return 0;
}
