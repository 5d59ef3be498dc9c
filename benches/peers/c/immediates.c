/*
 * immediates — from one callback (a 0 ms timer), queue 1 000 000 immediates (100 000 with
 * --quick), each incrementing a counter. ops = immediates.
 * secs = from the start of the queueing callback to the end of the last immediate.
 *
 * libuv has no immediates; this is how Node builds setImmediate on it: each immediate is a
 * heap-allocated callback record on a queue; a check handle runs the queue, and an idle handle is
 * active while the queue is non-empty so the poll phase does not block. Each check pass runs the
 * records queued when it began; records queued meanwhile wait for the next pass.
 */
#include "common.h"

struct immediate {
    struct immediate *next;
    void (*run)(struct immediate *immediate);
};

static struct immediate *head;
static struct immediate *tail;
static uv_check_t check;
static uv_idle_t idle;
static uv_timer_t starter;
static long long n;
static long long ran;
static uint64_t start;
static uint64_t end;

static void on_idle(uv_idle_t *handle) {
    (void)handle;
}

static void on_check(uv_check_t *handle) {
    (void)handle;
    struct immediate *immediate = head;
    head = NULL;
    tail = NULL;
    while (immediate != NULL) {
        struct immediate *next = immediate->next;
        immediate->run(immediate);
        immediate = next;
    }
    if (head == NULL) {
        CHECK(uv_check_stop(&check));
        CHECK(uv_idle_stop(&idle));
    }
}

static void set_immediate(void (*run)(struct immediate *)) {
    struct immediate *immediate = malloc(sizeof(*immediate));
    ASSERT(immediate != NULL);
    immediate->next = NULL;
    immediate->run = run;
    if (tail != NULL) {
        tail->next = immediate;
    } else {
        head = immediate;
        CHECK(uv_check_start(&check, on_check));
        CHECK(uv_idle_start(&idle, on_idle));
    }
    tail = immediate;
}

static void count_immediate(struct immediate *immediate) {
    free(immediate);
    if (++ran == n) {
        end = uv_hrtime();
    }
}

static void on_start(uv_timer_t *timer) {
    (void)timer;
    start = uv_hrtime();
    for (long long i = 0; i < n; i++) {
        set_immediate(count_immediate);
    }
}

int main(int argc, char **argv) {
    int quick;
    const char *workload = bench_args(argc, argv, &quick);
    bench_expect(workload, "immediates");
    n = bench_ops(1000000, quick);

    uv_loop_t *loop = uv_default_loop();
    CHECK(uv_check_init(loop, &check));
    CHECK(uv_idle_init(loop, &idle));
    CHECK(uv_timer_init(loop, &starter));
    CHECK(uv_timer_start(&starter, on_start, 0, 0));
    ASSERT(uv_run(loop, UV_RUN_DEFAULT) == 0);
    ASSERT(ran == n);

    uv_close((uv_handle_t *)&check, NULL);
    uv_close((uv_handle_t *)&idle, NULL);
    uv_close((uv_handle_t *)&starter, NULL);
    ASSERT(uv_run(loop, UV_RUN_DEFAULT) == 0);
    bench_close_loop(loop);
    bench_report(workload, n, start, end);
    return 0;
}
