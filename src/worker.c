/* Worker threads. See the DESIGN note in worker.h. */
#include "switchboard/worker.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <urcu.h>

#include "switchboard/error.h"
#include "switchboard/log.h"
#include "switchboard/net.h"
#include "switchboard/proxy.h"
#include "switchboard/timer_wheel.h"
#include "switchboard/wakeq.h"

/* Messages handled between two flushes of the outbox inside one batch:
 * fewer send syscalls against less waiting for the first messages. */
#define FLUSH_EVERY 8

struct worker {
    struct sb_counters counters; /* first: its own cache lines */
    struct worker_pool *pool;
    unsigned index;
    pthread_t thread;
    bool running;
    struct timer_wheel *wheel;
    struct net *net;
    struct proxy *proxy;
    size_t live_transactions; /* written by the worker, read by main */
};

struct worker_pool {
    struct worker_deps deps;
    unsigned count;
    struct worker *workers;
};

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    struct dispatch *d = w->pool->deps.dispatch;
    struct wakeq_batch batch;
    rcu_register_thread();
    wakeq_batch_init(&batch);
    for (;;) {
        /* the clock is read once per loop: the wheel's time is the loop's */
        timer_wheel_advance(w->wheel, sb_now_ms());
        bool taken = dispatch_take(d, w->index, &batch);
        size_t handled = 0;
        struct cds_wfcq_node *node;
        while ((node = wakeq_batch_pop(&batch)) != NULL) {
            proxy_handle(w->proxy, caa_container_of(node, struct sb_inbound, node));
            /* what the first messages of a long batch produced (a 100
             * Trying) leaves before the rest are handled */
            if (++handled % FLUSH_EVERY == 0)
                net_flush(w->net);
        }
        dispatch_done(d, w->index, handled);
        net_flush(w->net);
        __atomic_store_n(&w->live_transactions, proxy_transaction_count(w->proxy),
                         __ATOMIC_RELAXED);
        if (taken)
            continue; /* a busy worker drains its queue before it sleeps */
        if (dispatch_stopping(d) && !dispatch_take(d, w->index, &batch))
            break;
        int64_t delay = timer_wheel_next_delay(w->wheel, timer_wheel_now(w->wheel));
        dispatch_wait(d, w->index, delay < 0 ? -1 : (int)(delay > 1000 ? 1000 : delay));
    }
    net_flush(w->net);
    wakeq_batch_fini(&batch);
    rcu_unregister_thread();
    return NULL;
}

int worker_pool_create(const struct worker_deps *deps, struct worker_pool **out)
{
    const struct sb_config *cfg = deps->config;
    struct worker_pool *pool = calloc(1, sizeof(*pool));
    if (!pool)
        return SB_ENOMEM;
    pool->deps = *deps;
    pool->workers = aligned_alloc(64, ((cfg->workers * sizeof(struct worker) + 63) / 64) * 64);
    if (!pool->workers) {
        free(pool);
        return SB_ENOMEM;
    }
    memset(pool->workers, 0, cfg->workers * sizeof(struct worker));
    int rc = 0;
    for (unsigned i = 0; i < cfg->workers && rc == 0; i++) {
        struct worker *w = &pool->workers[i];
        pool->count++;
        w->pool = pool;
        w->index = i;
        rc = timer_wheel_create(sb_now_ms(), &w->wheel);
        if (rc == 0) {
            struct net_deps nd = {
                .listens = deps->listens,
                .udp = deps->transport,
                .streams = deps->streams,
                .trace = deps->trace,
                .counters = &w->counters,
                .worker = i,
            };
            rc = net_create(&nd, &w->net);
        }
        if (rc == 0) {
            struct proxy_env env = {
                .config = cfg,
                .registrar = deps->registrar,
                .identity = deps->identity,
                .reasons = deps->reasons,
                .journal = deps->journal,
                .auth = deps->auth,
                .secret = deps->secret,
                .wheel = w->wheel,
                .net = w->net,
                .counters = &w->counters,
            };
            rc = proxy_create(&env, &w->proxy);
        }
    }
    if (rc != 0) {
        worker_pool_destroy(pool);
        return rc;
    }
    *out = pool;
    return 0;
}

int worker_pool_start(struct worker_pool *pool)
{
    for (unsigned i = 0; i < pool->count; i++) {
        struct worker *w = &pool->workers[i];
        int rc = pthread_create(&w->thread, NULL, worker_main, w);
        if (rc != 0) {
            SB_ERROR("cannot start worker thread: %s", strerror(rc));
            return SB_ESYS;
        }
        w->running = true;
    }
    return 0;
}

void worker_pool_join(struct worker_pool *pool)
{
    for (unsigned i = 0; i < pool->count; i++) {
        if (pool->workers[i].running)
            pthread_join(pool->workers[i].thread, NULL);
        pool->workers[i].running = false;
    }
}

void worker_pool_destroy(struct worker_pool *pool)
{
    if (!pool)
        return;
    for (unsigned i = 0; i < pool->count; i++) {
        struct worker *w = &pool->workers[i];
        proxy_destroy(w->proxy);
        net_destroy(w->net);
        timer_wheel_destroy(w->wheel);
    }
    free(pool->workers);
    free(pool);
}

size_t worker_pool_transactions(const struct worker_pool *pool)
{
    size_t n = 0;
    for (unsigned i = 0; pool && i < pool->count; i++)
        n += __atomic_load_n(&pool->workers[i].live_transactions, __ATOMIC_RELAXED);
    return n;
}

void worker_pool_counters(const struct worker_pool *pool, uint64_t total[SB_CNT_COUNT])
{
    for (unsigned i = 0; i < pool->count; i++)
        sb_counters_accumulate(total, &pool->workers[i].counters);
}
