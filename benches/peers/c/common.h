/*
 * Shared by the libuv peer programs: argument parsing, error checks and the one output line.
 *
 * Every program is run as `<program> <workload> [--quick]` and prints exactly one line on stdout:
 *     workload=<name> ops=<integer> secs=<float> rate=<ops per second, float>
 * Diagnostics go to stderr. `--quick` divides the op count by 10 (CI smoke runs).
 */
#ifndef PEERS_COMMON_H
#define PEERS_COMMON_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

/* Every uv_* call that returns a status goes through CHECK: a negative status ends the program. */
#define CHECK(expr)                                                                          \
    do {                                                                                     \
        int check_status_ = (expr);                                                          \
        if (check_status_ < 0) {                                                             \
            fprintf(stderr, "%s:%d: %s: %s\n", __FILE__, __LINE__, #expr,                    \
                    uv_strerror(check_status_));                                             \
            exit(1);                                                                         \
        }                                                                                    \
    } while (0)

/* Invariants of the benchmark itself (callback counts, a loop that must have drained). */
#define ASSERT(cond)                                                                         \
    do {                                                                                     \
        if (!(cond)) {                                                                       \
            fprintf(stderr, "%s:%d: assertion failed: %s\n", __FILE__, __LINE__, #cond);     \
            exit(1);                                                                         \
        }                                                                                    \
    } while (0)

/* Parses `<workload> [--quick]`. Returns the workload name; sets *quick. Exits 2 on bad usage. */
static inline const char *bench_args(int argc, char **argv, int *quick) {
    *quick = 0;
    if (argc == 3 && strcmp(argv[2], "--quick") == 0) {
        *quick = 1;
    } else if (argc != 2) {
        fprintf(stderr, "usage: %s <workload> [--quick]\n", argv[0]);
        exit(2);
    }
    return argv[1];
}

/* Exits 2 (the "this side does not run that workload" status) unless `workload` is `expected`. */
static inline void bench_expect(const char *workload, const char *expected) {
    if (strcmp(workload, expected) != 0) {
        fprintf(stderr, "unknown workload '%s' (this program runs '%s')\n", workload, expected);
        exit(2);
    }
}

/* The op count for a run: the full count, or a tenth of it with --quick. */
static inline long long bench_ops(long long full, int quick) {
    return quick ? full / 10 : full;
}

/* Prints the one result line; start and end are uv_hrtime() readings (monotonic nanoseconds). */
static inline void bench_report(const char *workload, long long ops, uint64_t start, uint64_t end) {
    double secs = (double)(end - start) / 1e9;
    printf("workload=%s ops=%lld secs=%.6f rate=%.1f\n", workload, ops, secs, (double)ops / secs);
}

/* Closes the loop and proves nothing leaked: uv_loop_close fails with EBUSY if a handle is open. */
static inline void bench_close_loop(uv_loop_t *loop) {
    CHECK(uv_loop_close(loop));
}

#endif
