/* Unit tests for src/core/wakeq.c: the bound, batches, wake-ups and stop, and
 * several producers at once. */
#include <criterion/criterion.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "switchboard/error.h"
#include "switchboard/wakeq.h"

struct item {
    struct cds_wfcq_node node;
    unsigned producer, seq;
};

static struct item *item_new(unsigned producer, unsigned seq)
{
    struct item *it = calloc(1, sizeof(*it));
    it->producer = producer;
    it->seq = seq;
    return it;
}

static void release(struct cds_wfcq_node *node)
{
    free(caa_container_of(node, struct item, node));
}

static uint64_t ms_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

Test(wakeq, bound_refuses_and_done_frees_room)
{
    struct wakeq *q;
    cr_assert_eq(wakeq_create(2, &q), 0);
    struct item *a = item_new(0, 1), *b = item_new(0, 2), *c = item_new(0, 3);
    cr_assert_eq(wakeq_push(q, &a->node), 0);
    cr_assert_eq(wakeq_push(q, &b->node), 0);
    cr_assert_eq(wakeq_push(q, &c->node), SB_ELIMIT);
    cr_assert_eq(wakeq_depth(q), 2);
    struct wakeq_batch batch;
    wakeq_batch_init(&batch);
    cr_assert(wakeq_take(q, &batch));
    cr_assert_eq(wakeq_depth(q), 2, "taken is not done");
    struct cds_wfcq_node *n;
    unsigned seq = 1;
    while ((n = wakeq_batch_pop(&batch)) != NULL) {
        cr_assert_eq(caa_container_of(n, struct item, node)->seq, seq++, "FIFO order");
        release(n);
    }
    wakeq_done(q, 2);
    cr_assert_eq(wakeq_depth(q), 0);
    cr_assert_eq(wakeq_push(q, &c->node), 0);
    cr_assert_not(wakeq_take(q, &batch) == false);
    release(wakeq_batch_pop(&batch));
    wakeq_batch_fini(&batch);
    wakeq_destroy(q, release);
}

Test(wakeq, wait_returns_at_once_with_items_and_times_out_without)
{
    struct wakeq *q;
    cr_assert_eq(wakeq_create(0, &q), 0);
    uint64_t t0 = ms_now();
    wakeq_wait(q, 50);
    cr_assert_geq(ms_now() - t0, 45, "an empty queue sleeps until the timeout");
    struct item *a = item_new(0, 1);
    wakeq_push(q, &a->node);
    t0 = ms_now();
    wakeq_wait(q, 5000);
    cr_assert_lt(ms_now() - t0, 1000, "a pending item ends the wait at once");
    wakeq_destroy(q, release); /* frees the queued item */
}

struct producer_arg {
    struct wakeq *q;
    unsigned id, count;
};

static void *produce(void *arg)
{
    struct producer_arg *p = arg;
    for (unsigned i = 0; i < p->count; i++) {
        struct item *it = item_new(p->id, i);
        while (wakeq_push(p->q, &it->node) != 0)
            sched_yield(); /* full: let the consumer catch up */
        wakeq_wake(p->q);
    }
    return NULL;
}

/* Four producers, one sleeping consumer: every item arrives exactly once,
 * in each producer's order, and no wake-up is lost (the consumer would
 * otherwise hang in wakeq_wait with no timeout). */
Test(wakeq, many_producers_nothing_lost, .timeout = 30)
{
    enum { PRODUCERS = 4, EACH = 50000 };
    struct wakeq *q;
    cr_assert_eq(wakeq_create(1024, &q), 0);
    pthread_t threads[PRODUCERS];
    struct producer_arg args[PRODUCERS];
    for (unsigned i = 0; i < PRODUCERS; i++) {
        args[i] = (struct producer_arg){q, i, EACH};
        pthread_create(&threads[i], NULL, produce, &args[i]);
    }
    unsigned next[PRODUCERS] = {0};
    size_t total = 0;
    struct wakeq_batch batch;
    wakeq_batch_init(&batch);
    while (total < PRODUCERS * EACH) {
        if (!wakeq_take(q, &batch)) {
            wakeq_wait(q, -1);
            continue;
        }
        struct cds_wfcq_node *n;
        size_t got = 0;
        while ((n = wakeq_batch_pop(&batch)) != NULL) {
            struct item *it = caa_container_of(n, struct item, node);
            cr_assert_eq(it->seq, next[it->producer]++, "producer %u out of order", it->producer);
            free(it);
            got++;
        }
        wakeq_done(q, got);
        total += got;
    }
    for (unsigned i = 0; i < PRODUCERS; i++)
        pthread_join(threads[i], NULL);
    cr_assert_eq(wakeq_depth(q), 0);
    wakeq_batch_fini(&batch);
    wakeq_destroy(q, release);
}

Test(wakeq, stop_wakes_a_sleeper)
{
    struct wakeq *q;
    cr_assert_eq(wakeq_create(0, &q), 0);
    cr_assert_not(wakeq_stopping(q));
    wakeq_stop(q);
    uint64_t t0 = ms_now();
    wakeq_wait(q, 5000);
    cr_assert_lt(ms_now() - t0, 1000);
    cr_assert(wakeq_stopping(q));
    wakeq_destroy(q, release);
}

/* A consumer that read its flag (a worker: are its sockets ready yet?)
 * and has not yet set its sleeping one when the flag is set: wakeq_wake()
 * finds it awake and writes nothing, so the sleep that follows would last
 * its whole timeout, forever without one. wakeq_kick() leaves the eventfd
 * readable, so that sleep ends at once and takes the wake-up with it. */
Test(wakeq, a_kick_before_the_sleep_is_not_lost, .timeout = 10)
{
    struct wakeq *q;
    cr_assert_eq(wakeq_create(0, &q), 0);
    struct pollfd p = {.fd = wakeq_fd(q), .events = POLLIN};
    wakeq_wake(q);
    cr_assert_eq(poll(&p, 1, 0), 0, "wakeq_wake wrote to an awake consumer");
    wakeq_kick(q);
    cr_assert_eq(poll(&p, 1, 0), 1, "the kick is not pending");
    wakeq_wait(q, -1); /* returns: else the test times out */
    cr_assert_eq(poll(&p, 1, 0), 0, "the sleep left the kick pending");
    wakeq_kick(q);
    struct pollfd none[1] = {{.fd = -1}};
    wakeq_wait_fds(q, none, 0, -1); /* so does a worker's sleep with its sockets */
    cr_assert_eq(poll(&p, 1, 0), 0);
    wakeq_destroy(q, release);
}

struct poker {
    int fd;
    atomic_bool done;
};

/* Makes the consumer's other descriptor readable again and again. */
static void *poke(void *arg)
{
    struct poker *p = arg;
    while (!atomic_load(&p->done)) {
        ssize_t n = write(p->fd, "x", 1);
        (void)n;
        usleep(50);
    }
    return NULL;
}

/* A consumer sleeping in wakeq_wait_fds is also woken by its other
 * descriptor (a worker by its socket), and then leaves the eventfd
 * unread: with wake-ups from both racing, no item is lost and the
 * consumer, which sleeps without a timeout, never hangs. */
Test(wakeq, wait_fds_woken_by_its_fd_loses_no_wake_up, .timeout = 30)
{
    enum { PRODUCERS = 2, EACH = 50000 };
    struct wakeq *q;
    int pipefd[2];
    cr_assert_eq(wakeq_create(1024, &q), 0);
    cr_assert_eq(pipe(pipefd), 0);
    struct poker pk = {.fd = pipefd[1]};
    pthread_t poker, threads[PRODUCERS];
    struct producer_arg args[PRODUCERS];
    pthread_create(&poker, NULL, poke, &pk);
    for (unsigned i = 0; i < PRODUCERS; i++) {
        args[i] = (struct producer_arg){q, i, EACH};
        pthread_create(&threads[i], NULL, produce, &args[i]);
    }
    size_t total = 0;
    struct wakeq_batch batch;
    wakeq_batch_init(&batch);
    while (total < PRODUCERS * EACH) {
        if (!wakeq_take(q, &batch)) {
            struct pollfd other = {.fd = pipefd[0], .events = POLLIN};
            wakeq_wait_fds(q, &other, 1, -1);
            char buf[256];
            struct pollfd check = other;
            if (poll(&check, 1, 0) == 1 && read(pipefd[0], buf, sizeof(buf)) < 0)
                cr_assert_fail("read");
            continue;
        }
        size_t got = 0;
        struct cds_wfcq_node *n;
        while ((n = wakeq_batch_pop(&batch)) != NULL) {
            free(caa_container_of(n, struct item, node));
            got++;
        }
        wakeq_done(q, got);
        total += got;
    }
    for (unsigned i = 0; i < PRODUCERS; i++)
        pthread_join(threads[i], NULL);
    atomic_store(&pk.done, true);
    pthread_join(poker, NULL);
    cr_assert_eq(total, PRODUCERS * EACH);
    /* and one at a time: woken by the descriptor, then by a push */
    char buf[4096];
    while (poll(&(struct pollfd){.fd = pipefd[0], .events = POLLIN}, 1, 0) == 1)
        cr_assert_gt(read(pipefd[0], buf, sizeof(buf)), 0);
    cr_assert_eq(write(pipefd[1], "x", 1), 1);
    struct pollfd other = {.fd = pipefd[0], .events = POLLIN};
    uint64_t t0 = ms_now();
    wakeq_wait_fds(q, &other, 1, 5000);
    cr_assert_lt(ms_now() - t0, 1000, "the descriptor ends the wait");
    cr_assert_eq(read(pipefd[0], buf, sizeof(buf)), 1);
    args[0] = (struct producer_arg){q, 0, 1};
    pthread_create(&threads[0], NULL, produce, &args[0]);
    wakeq_wait_fds(q, &other, 1, -1); /* hangs (the test times out) if lost */
    pthread_join(threads[0], NULL);
    cr_assert(wakeq_take(q, &batch), "the push that woke it");
    struct cds_wfcq_node *last = wakeq_batch_pop(&batch);
    cr_assert_not_null(last);
    free(caa_container_of(last, struct item, node));
    wakeq_done(q, 1);
    /* nothing pending: a stale signal may end one more wait at once (by
     * design), but then the consumer sleeps out its timeout again */
    wakeq_wait_fds(q, &other, 1, 50);
    t0 = ms_now();
    wakeq_wait_fds(q, &other, 1, 50);
    cr_assert_geq(ms_now() - t0, 45, "the eventfd was drained");
    wakeq_batch_fini(&batch);
    wakeq_destroy(q, release);
    close(pipefd[0]);
    close(pipefd[1]);
}
