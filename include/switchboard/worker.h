/* Worker threads: each drains its dispatch queue, runs its proxy (and so
 * its transactions and timers) and sends what that produced in batches.
 *
 * DESIGN: a worker owns its timer wheel, proxy, transaction layer and
 * net (its way to the network, net.h); no other thread touches them. It
 * sleeps only when its queue is empty, for as long as its next timer
 * allows. Each batch it reads or takes is handled in two passes
 * (proxy.h): new INVITEs' 100s leave first, then every message in order. */
#ifndef SWITCHBOARD_WORKER_H
#define SWITCHBOARD_WORKER_H

#include <stdint.h>

#include "switchboard/async_file.h"
#include "switchboard/config.h"
#include "switchboard/dispatch.h"
#include "switchboard/identity.h"
#include "switchboard/proxy.h"
#include "switchboard/reasons.h"
#include "switchboard/registrar.h"
#include "switchboard/sip_trace.h"
#include "switchboard/stats.h"
#include "switchboard/transport_udp.h"

struct worker_pool;
struct dialplan_holder;
struct sb_buf;
struct listen_table;
struct stream;
struct auth;
struct secret;
struct resolver;

/* What the workers share with the rest of the process. */
struct worker_deps {
    const struct sb_config *config;
    struct dispatch *dispatch;
    const struct listen_table *listens;
    struct transport *transport;
    struct stream *streams; /* NULL: no tcp: or tls: listen address */
    struct registrar *registrar;
    const struct identity *identity;
    struct reasons *reasons;       /* may be NULL */
    struct async_file *journal;    /* may be NULL */
    struct sip_trace *trace;       /* may be NULL */
    struct auth *auth;             /* may be NULL: nobody is challenged */
    const struct secret *secret;   /* signs our Record-Routes and nonces */
    struct dialplan_holder *plans; /* the office's dial plan */
    struct trunk_plan *trunks;     /* trunks; NULL: none */
    struct resolver *resolver;     /* names for relay = yes; NULL: none */
    proxy_keep_fn keep;            /* keeps event state in the store; NULL: none */
    void *keep_ctx;
    uint64_t (*keep_epoch)(void *ctx); /* proxy_env.keep_epoch */
};

int worker_pool_create(const struct worker_deps *deps, struct worker_pool **out);
int worker_pool_start(struct worker_pool *pool);

/* A document the store kept (proxy.h: enum proxy_doc; @value NULL: it
 * is gone), from before a restart or from another node: published
 * presence into the shared table, a subscription into the worker its
 * Call-ID hashes to (only before worker_pool_start). Returns 0 or why it
 * was refused (SB_EMALFORMED, SB_ELIMIT, SB_ENOMEM). Presence: any
 * thread. */
int worker_pool_restore(struct worker_pool *pool, enum proxy_doc kind, const char *key,
                        const char *value, uint64_t expires_wall_ms);

/* Every document of published presence now, to @emit (a store resync).
 * Any thread. Returns 0, SB_ENOMEM or what @emit returned. */
int worker_pool_presence_docs(struct worker_pool *pool,
                              int (*emit)(void *arg, const char *key, const char *value,
                                          uint64_t expires_wall_ms),
                              void *arg);
/* After dispatch_stop(): waits for every worker to drain its queue and end. */
void worker_pool_join(struct worker_pool *pool);
void worker_pool_destroy(struct worker_pool *pool);

/* Transactions alive in all workers, as of each worker's last loop. */
size_t worker_pool_transactions(const struct worker_pool *pool);

/* Calls open in all workers, as of each worker's last loop. */
size_t worker_pool_open_calls(const struct worker_pool *pool);
/* Appends every worker's view of its open calls to @b: JSON objects,
 * comma-separated. Each worker writes its view when asked, so this waits
 * for their next loop turn (at most 250 ms); never from a SIP thread.
 * Returns how many. Any thread registered with liburcu may call it. */
size_t worker_pool_calls_json(struct worker_pool *pool, struct sb_buf *b);
/* Adds the workers' histograms into @invite and @setup. */
void worker_pool_histograms(const struct worker_pool *pool, struct sb_histogram *invite,
                            struct sb_histogram *setup, struct sb_histogram *media_ng);

/* Is engine @i of [media] rtpengine in use for new calls (answering)? */
bool worker_pool_engine_up(const struct worker_pool *pool, unsigned i);
unsigned worker_pool_size(const struct worker_pool *pool);

/* Adds the workers' counters into @total. */
void worker_pool_counters(const struct worker_pool *pool, uint64_t total[SB_CNT_COUNT]);

#endif
