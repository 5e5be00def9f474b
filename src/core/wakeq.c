/* Bounded MPSC queue with coalesced wake-ups. See the DESIGN note and the
 * synchronization table in wakeq.h. */
#include "switchboard/wakeq.h"

#include <poll.h>
#include <string.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "switchboard/error.h"
#include "tsan_annotate.h"

struct wakeq {
    /* producers touch head-side fields, the consumer the flag: keep the
     * queue ends on their own cache line (liburcu's layout advice) */
    _Alignas(64) struct cds_wfcq_head head;
    struct cds_wfcq_tail tail;
    _Alignas(64) atomic_long depth;
    atomic_int sleeping;
    atomic_bool stopping;
    size_t limit;
    int fd;
};

int wakeq_create(size_t limit, struct wakeq **out)
{
    struct wakeq *q = aligned_alloc(64, (sizeof(*q) + 63) / 64 * 64);
    if (!q)
        return SB_ENOMEM;
    cds_wfcq_init(&q->head, &q->tail);
    atomic_init(&q->depth, 0);
    atomic_init(&q->sleeping, 0);
    atomic_init(&q->stopping, false);
    q->limit = limit;
    q->fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (q->fd < 0) {
        cds_wfcq_destroy(&q->head, &q->tail);
        free(q);
        return SB_ESYS;
    }
    *out = q;
    return 0;
}

void wakeq_destroy(struct wakeq *q, void (*release)(struct cds_wfcq_node *node))
{
    if (!q)
        return;
    struct cds_wfcq_node *node;
    while ((node = __cds_wfcq_dequeue_blocking(&q->head, &q->tail)) != NULL) {
        tsan_observe(node);
        if (release)
            release(node);
    }
    cds_wfcq_destroy(&q->head, &q->tail);
    close(q->fd);
    free(q);
}

int wakeq_push(struct wakeq *q, struct cds_wfcq_node *node)
{
    long before = atomic_fetch_add_explicit(&q->depth, 1, memory_order_relaxed);
    if (q->limit && (size_t)before >= q->limit) {
        atomic_fetch_sub_explicit(&q->depth, 1, memory_order_relaxed);
        return SB_ELIMIT;
    }
    cds_wfcq_node_init(node);
    tsan_publish(node);
    cds_wfcq_enqueue(&q->head, &q->tail, node);
    return 0;
}

static void signal_fd(struct wakeq *q)
{
    uint64_t one = 1;
    ssize_t n = write(q->fd, &one, sizeof(one));
    (void)n; /* EAGAIN: a wake-up is already pending */
}

void wakeq_wake(struct wakeq *q)
{
    /* seq_cst: pairs with the consumer's store-then-check in wakeq_wait */
    if (atomic_exchange(&q->sleeping, 0))
        signal_fd(q);
}

void wakeq_kick(struct wakeq *q)
{
    signal_fd(q);
}

bool wakeq_take(struct wakeq *q, struct wakeq_batch *batch)
{
    if (cds_wfcq_empty(&q->head, &q->tail))
        return false;
    __cds_wfcq_splice_blocking(&batch->head, &batch->tail, &q->head, &q->tail);
    return true;
}

void wakeq_done(struct wakeq *q, size_t handled)
{
    atomic_fetch_sub_explicit(&q->depth, (long)handled, memory_order_relaxed);
}

int wakeq_fd(const struct wakeq *q)
{
    return q->fd;
}

bool wakeq_sleep_begin(struct wakeq *q)
{
    atomic_store(&q->sleeping, 1);
    if (!cds_wfcq_empty(&q->head, &q->tail) || atomic_load(&q->stopping)) {
        atomic_store(&q->sleeping, 0);
        return false;
    }
    return true;
}

void wakeq_sleep_end(struct wakeq *q)
{
    uint64_t v;
    ssize_t n = read(q->fd, &v, sizeof(v)); /* EAGAIN when not signalled */
    (void)n;
    atomic_store(&q->sleeping, 0);
}

/* Ends a sleep in our own poll(): the eventfd is read only when poll()
 * saw it @signalled (a worker woken by its socket or its timeout saves a
 * read per wake-up). A wake-up that lands after poll() returned stays in
 * the eventfd and ends the next sleep at once: a spurious wake-up, never
 * a lost one. */
static void sleep_end_if(struct wakeq *q, bool signalled)
{
    if (signalled) {
        wakeq_sleep_end(q);
        return;
    }
    atomic_store(&q->sleeping, 0);
}

void wakeq_wait(struct wakeq *q, int timeout_ms)
{
    if (!wakeq_sleep_begin(q))
        return;
    struct pollfd pfd = {.fd = q->fd, .events = POLLIN};
    sleep_end_if(q, poll(&pfd, 1, timeout_ms) != 0); /* -1: read to be sure */
}

void wakeq_wait_fds(struct wakeq *q, struct pollfd *fds, size_t count, int timeout_ms)
{
    for (size_t i = 0; i < count; i++)
        fds[i].revents = POLLIN; /* not slept: read them all */
    if (!wakeq_sleep_begin(q))
        return;
    struct pollfd pfds[count + 1];
    pfds[0] = (struct pollfd){.fd = q->fd, .events = POLLIN};
    memcpy(pfds + 1, fds, count * sizeof(*fds));
    int n = poll(pfds, count + 1, timeout_ms);
    sleep_end_if(q, n < 0 || (pfds[0].revents & POLLIN));
    if (n >= 0)
        for (size_t i = 0; i < count; i++)
            fds[i].revents = pfds[i + 1].revents;
}

void wakeq_stop(struct wakeq *q)
{
    atomic_store(&q->stopping, true);
    wakeq_kick(q); /* the first flag of all */
}

bool wakeq_stopping(const struct wakeq *q)
{
    return atomic_load((atomic_bool *)&q->stopping);
}

size_t wakeq_depth(const struct wakeq *q)
{
    long d = atomic_load_explicit((atomic_long *)&q->depth, memory_order_relaxed);
    return d > 0 ? (size_t)d : 0;
}

void wakeq_batch_init(struct wakeq_batch *batch)
{
    cds_wfcq_init(&batch->head, &batch->tail);
}

struct cds_wfcq_node *wakeq_batch_pop(struct wakeq_batch *batch)
{
    struct cds_wfcq_node *node = __cds_wfcq_dequeue_blocking(&batch->head, &batch->tail);
    if (node)
        tsan_observe(node);
    return node;
}

void wakeq_batch_fini(struct wakeq_batch *batch)
{
    cds_wfcq_destroy(&batch->head, &batch->tail);
}
