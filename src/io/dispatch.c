/* Listener -> worker queues. See the DESIGN note in dispatch.h. */
#include "switchboard/dispatch.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "switchboard/error.h"
#include "switchboard/wakeq.h"

struct dispatch {
    unsigned count;
    atomic_bool stopping;
    struct wakeq **queues;
};

static void release_inbound(struct cds_wfcq_node *node)
{
    sb_inbound_free(caa_container_of(node, struct sb_inbound, node));
}

int dispatch_create(unsigned workers, size_t limit, struct dispatch **out)
{
    struct dispatch *d = calloc(1, sizeof(*d));
    if (!d)
        return SB_ENOMEM;
    d->queues = calloc(workers, sizeof(*d->queues));
    if (!d->queues) {
        free(d);
        return SB_ENOMEM;
    }
    atomic_init(&d->stopping, false);
    for (unsigned i = 0; i < workers; i++) {
        int rc = wakeq_create(limit, &d->queues[i]);
        if (rc != 0) {
            dispatch_destroy(d);
            return rc;
        }
        d->count++;
    }
    *out = d;
    return 0;
}

void dispatch_destroy(struct dispatch *d)
{
    if (!d)
        return;
    for (unsigned i = 0; i < d->count; i++)
        wakeq_destroy(d->queues[i], release_inbound);
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

unsigned dispatch_worker_for_text(const struct dispatch *d, const char *call_id, size_t len)
{
    const char *at = memchr(call_id, '@', len);
    size_t n = at ? (size_t)(at - call_id) : len;
    return (unsigned)(sb_hash(call_id, n) % d->count);
}

int dispatch_push(struct dispatch *d, unsigned worker, struct sb_inbound *in)
{
    return wakeq_push(d->queues[worker], &in->node);
}

void dispatch_wake(struct dispatch *d, unsigned worker)
{
    wakeq_wake(d->queues[worker]);
}

void dispatch_kick(struct dispatch *d, unsigned worker)
{
    wakeq_kick(d->queues[worker]);
}

bool dispatch_take(struct dispatch *d, unsigned worker, struct wakeq_batch *batch)
{
    return wakeq_take(d->queues[worker], batch);
}

void dispatch_done(struct dispatch *d, unsigned worker, size_t handled)
{
    wakeq_done(d->queues[worker], handled);
}

void dispatch_wait(struct dispatch *d, unsigned worker, int timeout_ms)
{
    wakeq_wait(d->queues[worker], timeout_ms);
}

void dispatch_wait_fds(struct dispatch *d, unsigned worker, struct pollfd *fds, size_t count,
                       int timeout_ms)
{
    wakeq_wait_fds(d->queues[worker], fds, count, timeout_ms);
}

size_t dispatch_depth(const struct dispatch *d, unsigned worker)
{
    return wakeq_depth(d->queues[worker]);
}

void dispatch_stop(struct dispatch *d)
{
    atomic_store(&d->stopping, true);
    for (unsigned i = 0; i < d->count; i++)
        wakeq_stop(d->queues[i]);
}

bool dispatch_stopping(const struct dispatch *d)
{
    return atomic_load((atomic_bool *)&d->stopping);
}
