/* Listener -> worker queues. See the DESIGN note in dispatch.h. */
#include "switchboard/dispatch.h"

#include <errno.h>
#include <poll.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "switchboard/error.h"
#include "tsan_annotate.h"

struct dispatch_queue {
    _Alignas(64) struct cds_wfcq_head head;
    struct cds_wfcq_tail tail;
    atomic_int sleeping;
    atomic_long depth;
    int wake_fd;
};

struct dispatch {
    unsigned count;
    size_t limit;
    atomic_bool stopping;
    struct dispatch_queue *queues;
};

int dispatch_create(unsigned workers, size_t limit, struct dispatch **out)
{
    struct dispatch *d = calloc(1, sizeof(*d));
    if (!d)
        return SB_ENOMEM;
    d->queues = aligned_alloc(64, ((sizeof(struct dispatch_queue) * workers + 63) / 64) * 64);
    if (!d->queues) {
        free(d);
        return SB_ENOMEM;
    }
    d->count = workers;
    d->limit = limit;
    atomic_init(&d->stopping, false);
    for (unsigned i = 0; i < workers; i++) {
        struct dispatch_queue *q = &d->queues[i];
        memset(q, 0, sizeof(*q));
        cds_wfcq_init(&q->head, &q->tail);
        atomic_init(&q->sleeping, 0);
        atomic_init(&q->depth, 0);
        q->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
        if (q->wake_fd < 0) {
            d->count = i;
            dispatch_destroy(d);
            return SB_ESYS;
        }
    }
    *out = d;
    return 0;
}

void dispatch_destroy(struct dispatch *d)
{
    if (!d)
        return;
    for (unsigned i = 0; i < d->count; i++) {
        struct dispatch_queue *q = &d->queues[i];
        struct cds_wfcq_node *node;
        while ((node = __cds_wfcq_dequeue_blocking(&q->head, &q->tail)) != NULL) {
            tsan_observe(node);
            sb_inbound_free(caa_container_of(node, struct sb_inbound, node));
        }
        cds_wfcq_destroy(&q->head, &q->tail);
        close(q->wake_fd);
    }
    free(d->queues);
    free(d);
}

unsigned dispatch_worker_count(const struct dispatch *d)
{
    return d->count;
}

unsigned dispatch_worker_for(const struct dispatch *d, const char *call_id)
{
    return (unsigned)(sb_hash(call_id, strlen(call_id)) % d->count);
}

int dispatch_push(struct dispatch *d, unsigned worker, struct sb_inbound *in)
{
    struct dispatch_queue *q = &d->queues[worker];
    if ((size_t)atomic_fetch_add_explicit(&q->depth, 1, memory_order_relaxed) >= d->limit) {
        atomic_fetch_sub_explicit(&q->depth, 1, memory_order_relaxed);
        return SB_ELIMIT;
    }
    cds_wfcq_node_init(&in->node);
    tsan_publish(&in->node);
    cds_wfcq_enqueue(&q->head, &q->tail, &in->node);
    return 0;
}

static void wake(struct dispatch_queue *q)
{
    uint64_t one = 1;
    ssize_t n = write(q->wake_fd, &one, sizeof(one));
    (void)n; /* EAGAIN means a wake-up is already pending */
}

void dispatch_wake(struct dispatch *d, unsigned worker)
{
    struct dispatch_queue *q = &d->queues[worker];
    /* seq_cst pairs with the worker's store-then-check in dispatch_wait */
    if (atomic_exchange(&q->sleeping, 0))
        wake(q);
}

bool dispatch_take(struct dispatch *d, unsigned worker, struct cds_wfcq_head *head,
                   struct cds_wfcq_tail *tail)
{
    struct dispatch_queue *q = &d->queues[worker];
    if (cds_wfcq_empty(&q->head, &q->tail))
        return false;
    __cds_wfcq_splice_blocking(head, tail, &q->head, &q->tail);
    return true;
}

void dispatch_done(struct dispatch *d, unsigned worker, size_t handled)
{
    atomic_fetch_sub_explicit(&d->queues[worker].depth, (long)handled, memory_order_relaxed);
}

void dispatch_wait(struct dispatch *d, unsigned worker, int timeout_ms)
{
    struct dispatch_queue *q = &d->queues[worker];
    atomic_store(&q->sleeping, 1);
    if (!cds_wfcq_empty(&q->head, &q->tail) || atomic_load(&d->stopping)) {
        atomic_store(&q->sleeping, 0);
        return;
    }
    struct pollfd pfd = {.fd = q->wake_fd, .events = POLLIN};
    if (poll(&pfd, 1, timeout_ms) > 0) {
        uint64_t v;
        ssize_t n = read(q->wake_fd, &v, sizeof(v));
        (void)n;
    }
    atomic_store(&q->sleeping, 0);
}

void dispatch_stop(struct dispatch *d)
{
    atomic_store(&d->stopping, true);
    for (unsigned i = 0; i < d->count; i++)
        wake(&d->queues[i]);
}

bool dispatch_stopping(const struct dispatch *d)
{
    return atomic_load((atomic_bool *)&d->stopping);
}
