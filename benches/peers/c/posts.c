/*
 * posts — cross-thread posts: one producer thread sends 1 000 000 messages (100 000 with --quick)
 * to the loop thread, which runs one callback per message; that callback counts. ops = messages.
 * secs = from before the producer thread is created to the callback of the last message.
 *
 * This is the "post a closure to the loop" pattern built on libuv: each message is a heap-allocated
 * record holding a function pointer, pushed onto a mutex-protected queue, followed by one
 * uv_async_send per message (libuv coalesces the wake-ups). The async callback takes the whole
 * queue under the lock and runs the records after releasing it, as libuv's own thread pool does
 * with its completions.
 */
#include "common.h"

struct message {
    struct message *next;
    void (*run)(struct message *message);
};

static uv_async_t async;
static uv_mutex_t lock;
static struct message *head;
static struct message *tail;
static uv_thread_t producer;
static long long n;
static long long received;
static uint64_t end;

static void count_message(struct message *message);

static void produce(void *arg) {
    (void)arg;
    for (long long i = 0; i < n; i++) {
        struct message *message = malloc(sizeof(*message));
        ASSERT(message != NULL);
        message->next = NULL;
        message->run = count_message;
        uv_mutex_lock(&lock);
        if (tail != NULL) {
            tail->next = message;
        } else {
            head = message;
        }
        tail = message;
        uv_mutex_unlock(&lock);
        CHECK(uv_async_send(&async));
    }
}

static void count_message(struct message *message) {
    free(message);
    if (++received == n) {
        end = uv_hrtime();
        /* The producer may still be inside its last uv_async_send; let it return before closing. */
        CHECK(uv_thread_join(&producer));
        uv_close((uv_handle_t *)&async, NULL);
    }
}

static void on_async(uv_async_t *handle) {
    (void)handle;
    uv_mutex_lock(&lock);
    struct message *message = head;
    head = NULL;
    tail = NULL;
    uv_mutex_unlock(&lock);
    while (message != NULL) {
        struct message *next = message->next;
        message->run(message);
        message = next;
    }
}

int main(int argc, char **argv) {
    int quick;
    const char *workload = bench_args(argc, argv, &quick);
    bench_expect(workload, "posts");
    n = bench_ops(1000000, quick);

    uv_loop_t *loop = uv_default_loop();
    CHECK(uv_mutex_init(&lock));
    CHECK(uv_async_init(loop, &async, on_async));

    uint64_t start = uv_hrtime();
    CHECK(uv_thread_create(&producer, produce, NULL));
    ASSERT(uv_run(loop, UV_RUN_DEFAULT) == 0);
    ASSERT(received == n);

    uv_mutex_destroy(&lock);
    bench_close_loop(loop);
    bench_report(workload, n, start, end);
    return 0;
}
