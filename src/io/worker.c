/* Worker threads. See the DESIGN note in worker.h. */
#include "switchboard/worker.h"

#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include <urcu.h>

#include "switchboard/buf.h"
#include "switchboard/call_journal.h"
#include "switchboard/error.h"
#include "switchboard/log.h"
#include "switchboard/net.h"
#include "switchboard/proxy.h"
#include "switchboard/sip_msg.h"
#include "switchboard/ng.h"
#include "switchboard/ng_client.h"
#include "switchboard/timer_wheel.h"
#include "switchboard/resolver.h"
#include "switchboard/trunk.h"
#include "switchboard/call_index.h"
#include "switchboard/dialog_watch.h"
#include "switchboard/pickup_board.h"
#include "switchboard/presence_state.h"
#include "switchboard/wakeq.h"
#include "switchboard/thread_role.h"
#include "tsan_annotate.h"

/* Messages handled between two flushes of the outbox inside one batch:
 * fewer send syscalls against less waiting for the first messages. */
#define FLUSH_EVERY 8
/* Messages held between the two passes over a batch (proxy.h): two
 * recvmmsg's worth; when full, the oldest is handled to make room. */
#define HOLD_MAX 64
/* While handling a long batch the sockets read inline and the queue are
 * read again at most this often, so an INVITE that came meanwhile gets its
 * 100 without waiting for the batch; at most PEEKS_MAX times a loop, so
 * timers get their turn under any load. */
#define PEEK_NS 50000
#define PEEKS_MAX 8
/* A loop that read at least this many messages from the sockets it
 * reads inline reads them again before it sleeps (under load more came
 * meanwhile); after fewer, it goes straight to poll(), which returns at
 * once if something came: at low rates that saves the recvmmsg that would
 * only have said EAGAIN, one syscall per wake-up. */
#define BUSY_BATCH 4
/* How long the admin plane waits for the workers to write their calls
 * (one loop each: a worker's loop turn is far shorter, even under load). */
#define CALLS_WAIT_MS 250
/* Timers fired at most per loop turn. Coarse timers end states in bulk
 * (timer_wheel.h): under load a 64 ms slot holds thousands (Timers J, K,
 * L and M of every call of 64 ms, 32 s before). Fired in one go they
 * kept every message waiting for a millisecond or more; this many take
 * tens of microseconds, then the sockets are read again. */
#define TIMERS_PER_LOOP 32

/* A worker's open calls as JSON objects, written when the admin plane
 * asks (worker_pool_calls_json()) and published with RCU: the worker
 * builds a new one and swaps it in, readers copy it under rcu_read_lock.
 * Nobody asking costs nothing: no text per call, no walk of the calls. */
struct calls_view {
    struct rcu_head rcu;
    size_t count;
    size_t len;
    char json[];
};

/* A message between the two passes; early: proxy_accept() took it (its
 * 100 is sent and measured already). */
struct held {
    struct sb_inbound *in;
    bool early;
};

struct worker {
    struct sb_counters counters; /* first: its own cache lines */
    struct worker_pool *pool;
    unsigned index;
    pthread_t thread;
    bool running;
    struct timer_wheel *wheel;
    struct net *net;
    struct proxy *proxy;
    struct ng_client *ng;            /* NULL: no [media] rtpengine */
    atomic_size_t live_transactions; /* written by the worker, read by main */
    atomic_size_t open_calls;        /* likewise */
    struct calls_view *calls;        /* RCU pointer; NULL before the first view */
    atomic_bool calls_wanted;        /* set by a reader, cleared by the worker */
    atomic_uint_fast64_t calls_seen; /* moves each time the worker answered that */
    /* INVITEs answered since the last flush: their receive times */
    uint64_t pending_invites[FLUSH_EVERY];
    unsigned pending_count;
    /* the batch between its two passes, a ring in arrival order from
     * held_head */
    struct held held[HOLD_MAX];
    unsigned held_head, held_count;
    struct wakeq_batch batch; /* taken from the queue, not yet held */
    uint64_t read_ns;         /* when sockets and queue were last read */
    /* the loop after a sleep reads only what its poll() found ready:
     * the inline sockets' entries, then the engines' */
    struct pollfd polled[SB_MAX_LISTEN + NG_MAX_ENGINES];
    size_t polled_inline, polled_ng;
    bool slept;
    size_t taken;      /* messages held this loop */
    size_t from_queue; /* of which taken from the queue */
    size_t handled;    /* messages handled this loop */
};

struct worker_pool {
    struct worker_deps deps;
    struct dialog_watch *watch;      /* the dialog event package's users, for every worker */
    struct call_index *calls;        /* the calls routed here, for every worker */
    struct pickup_board *ringing;    /* the calls ringing, for [features] pickup */
    struct presence_state *presence; /* what phones published (RFC 3903) */
    struct ng_health engines;        /* rtpengines out of new calls, for every worker */
    unsigned count;
    struct worker *workers;
};

static void calls_view_free(struct rcu_head *head)
{
    struct calls_view *v = caa_container_of(head, struct calls_view, rcu);
    tsan_rcu_reclaim(v);
    free(v);
}

/* Swaps in a new view of the calls when a reader wants one and they
 * changed; the old one is freed once no reader holds it. */
static void publish_calls(struct worker *w)
{
    struct call_journal *cj = proxy_calls(w->proxy);
    if (call_journal_ending(cj))
        call_journal_expire(cj, call_journal_now());
    size_t open = call_journal_open_calls(cj);
    atomic_store_explicit(&w->open_calls, open, memory_order_relaxed);
    if (!atomic_exchange_explicit(&w->calls_wanted, false, memory_order_acquire))
        return;
    if (call_journal_changed(cj) || !w->calls) {
        struct sb_buf b = {0};
        call_journal_snapshot(cj, &b);
        struct calls_view *v = b.failed ? NULL : malloc(sizeof(*v) + b.len + 1);
        if (v) {
            v->count = open;
            v->len = b.len;
            if (b.len)
                memcpy(v->json, b.data, b.len);
            v->json[b.len] = '\0';
            tsan_publish(v);
            struct calls_view *old = rcu_xchg_pointer(&w->calls, v);
            if (old)
                call_rcu(&old->rcu, calls_view_free);
        }
        sb_buf_free(&b);
    }
    atomic_fetch_add_explicit(&w->calls_seen, 1, memory_order_release);
}

/* Notes an INVITE's receive time; flush_outbox() measures it. */
static void note_invite(struct worker *w, const struct sb_inbound *in)
{
    if (in->send_failed || !MSG_IS_INVITE(in->msg) || w->pending_count >= FLUSH_EVERY)
        return;
    w->pending_invites[w->pending_count++] = in->received_ns;
}

/* Sends what the proxy queued; the INVITEs answered since the last flush
 * have had their first answer sent: switchboard_invite_processing_seconds. */
static void flush_outbox(struct worker *w)
{
    net_flush(w->net);
    if (w->pending_count == 0)
        return;
    uint64_t now = sb_now_ns();
    for (unsigned i = 0; i < w->pending_count; i++)
        if (w->pending_invites[i] && now >= w->pending_invites[i])
            sb_hist_observe(&w->counters.invite_processing, now - w->pending_invites[i]);
    w->pending_count = 0;
}

/* Pass two for the oldest held message; what the first messages of a
 * batch produced leaves before the rest are handled. */
static void handle_next(struct worker *w)
{
    struct held h = w->held[w->held_head];
    w->held_head = (w->held_head + 1) % HOLD_MAX;
    w->held_count--;
    if (!h.early)
        note_invite(w, h.in);
    proxy_handle(w->proxy, h.in);
    if (++w->handled % FLUSH_EVERY == 0)
        flush_outbox(w);
}

/* Pass one: one message, from the queue or read inline, is held; a new
 * INVITE's 100 leaves now, before the messages read with it are handled
 * (proxy_accept). Takes @in. */
static void take_one(struct worker *w, struct sb_inbound *in)
{
    if (w->held_count == HOLD_MAX)
        handle_next(w);
    bool early = proxy_accept(w->proxy, in);
    if (early) {
        note_invite(w, in);
        flush_outbox(w);
    }
    w->held[(w->held_head + w->held_count++) % HOLD_MAX] = (struct held){in, early};
    w->taken++;
}

static void handle_inline(void *ctx, struct sb_inbound *in)
{
    take_one(ctx, in);
}

/* Pass one over whatever waits: the sockets read inline (@polled: only
 * those poll() found ready), then the queue. */
static void read_all(struct worker *w, uint64_t now_ns, const struct pollfd *polled)
{
    w->read_ns = now_ns;
    transport_inline_drain(w->pool->deps.transport, handle_inline, w, polled);
    if (!dispatch_take(w->pool->deps.dispatch, w->index, &w->batch))
        return;
    struct cds_wfcq_node *node;
    while ((node = wakeq_batch_pop(&w->batch)) != NULL) {
        take_one(w, caa_container_of(node, struct sb_inbound, node));
        w->from_queue++;
    }
}

/* Pass two over everything held; every PEEK_NS the sockets and the queue
 * are read again (pass one), PEEKS_MAX times at most. */
static void handle_held(struct worker *w)
{
    unsigned peeks = 0;
    while (w->held_count) {
        handle_next(w);
        if (!w->held_count || peeks == PEEKS_MAX)
            continue;
        uint64_t now = sb_now_ns();
        if (now - w->read_ns >= PEEK_NS) {
            peeks++;
            read_all(w, now, NULL);
        }
    }
}

/* Sleeps until a message is queued, a socket we read inline is readable,
 * dispatch_stop() or @timeout_ms. */
static void worker_sleep(struct worker *w, int timeout_ms)
{
    struct dispatch *d = w->pool->deps.dispatch;
    struct transport *t = w->pool->deps.transport;
    struct pollfd *fds = w->polled;
    size_t n = transport_inline(t) ? transport_inline_fds(t, fds, SB_MAX_LISTEN) : 0;
    w->polled_inline = n;
    /* the engines' answers, unless only unhurried ones are awaited */
    if (w->ng && ng_client_pending(w->ng) > ng_client_unhurried(w->ng))
        n += ng_client_fds(w->ng, fds + n, NG_MAX_ENGINES);
    w->polled_ng = n - w->polled_inline;
    w->slept = n > 0;
    if (n == 0)
        dispatch_wait(d, w->index, timeout_ms);
    else
        dispatch_wait_fds(d, w->index, fds, n, timeout_ms);
}

/* After a sleep, the engines' sockets are read when one woke it (what
 * came since, the next poll sees), or while unhurried requests are out
 * (not polled for: each wake-up reads them); else whenever any is. */
static void read_engines(struct worker *w)
{
    if (!w->ng || !ng_client_pending(w->ng))
        return;
    if (!w->slept || ng_client_unhurried(w->ng))
        ng_client_read(w->ng, NULL);
    else if (w->polled_ng)
        ng_client_read(w->ng, w->polled + w->polled_inline);
}

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    struct dispatch *d = w->pool->deps.dispatch;
    sb_thread_mark_sip();
    rcu_register_thread();
    wakeq_batch_init(&w->batch);
    for (;;) {
        /* the clock is read once per loop: the wheel's time is the loop's */
        size_t fired = timer_wheel_advance_some(w->wheel, sb_now_ms(), TIMERS_PER_LOOP);
        w->taken = w->from_queue = w->handled = 0;
        /* (no inline socket polled: before transport_start, say) */
        read_all(w, sb_now_ns(), w->slept && w->polled_inline ? w->polled : NULL);
        handle_held(w);
        read_engines(w); /* resumes what waited for an engine */
        w->slept = false;
        dispatch_done(d, w->index, w->from_queue);
        flush_outbox(w);
        atomic_store_explicit(&w->live_transactions, proxy_transaction_count(w->proxy),
                              memory_order_relaxed);
        publish_calls(w);
        if (w->from_queue || w->taken >= BUSY_BATCH || fired == TIMERS_PER_LOOP)
            continue; /* a busy worker drains its queue before it sleeps */
        if (dispatch_stopping(d) && !dispatch_take(d, w->index, &w->batch))
            break;
        int64_t delay = timer_wheel_next_delay(w->wheel, timer_wheel_now(w->wheel));
        worker_sleep(w, delay < 0 ? -1 : (int)(delay > 1000 ? 1000 : delay));
    }
    /* replies that came and were not read (an unhurried delete's figures
     * for the journal) are taken before the journal closes */
    w->slept = false;
    read_engines(w);
    flush_outbox(w);
    wakeq_batch_fini(&w->batch);
    rcu_unregister_thread();
    return NULL;
}

/* A worker's rtpengine client when [media] rtpengine names engines
 * (each worker its own sockets and cookies: @instance differs). */
static int media_client_create(const struct sb_config *cfg, struct timer_wheel *wheel,
                               uint32_t instance, struct ng_health *health,
                               struct sb_histogram *latency, struct ng_client **out)
{
    struct ng_engine engines[NG_MAX_ENGINES];
    size_t count = 0;
    char why[160];
    *out = NULL;
    if (!cfg->rtpengine || !*cfg->rtpengine)
        return 0;
    if (ng_engines_parse(cfg->rtpengine, engines, NG_MAX_ENGINES, &count, why, sizeof(why)) != 0) {
        SB_ERROR("[media] rtpengine: %s", why);
        return SB_EINVAL;
    }
    /* tries 2: a dead engine costs a call at most 3 timeouts (1 + 2) */
    struct ng_client_config nc = {
        .timeout_ms = cfg->media_timeout_ms, .tries = 2, .health = health, .latency = latency};
    return ng_client_create(engines, count, wheel, instance, &nc, out);
}

/* proxy_env.dns_query: the resolver's cache, never waiting. */
static int dns_query(void *ctx, const char *host, unsigned port, int transport, bool transport_set,
                     struct trunk_targets *out)
{
    return resolver_query(ctx, host, port, transport, transport_set, out);
}

/* Does worker @index send the keep-alives to phones behind NAT? */
static bool nat_pinger(const struct worker_deps *deps, uint32_t instance, unsigned index)
{
    char call_id[48];
    proxy_natping_call_id(instance, call_id, sizeof(call_id));
    return dispatch_worker_for(deps->dispatch, call_id) == index;
}

/* The trunks whose registrations worker @index runs: those whose
 * Call-ID hashes to it, as every answer to them will. */
static uint32_t trunk_mask(const struct worker_deps *deps, uint32_t instance, unsigned index)
{
    uint32_t mask = 0;
    for (size_t t = 0; deps->trunks && t < deps->trunks->count; t++) {
        char call_id[96];
        trunk_reg_call_id(&deps->trunks->trunks[t], instance, call_id, sizeof(call_id));
        if (dispatch_worker_for(deps->dispatch, call_id) == index)
            mask |= 1u << t;
    }
    return mask;
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
    uint32_t instance = 0; /* proxy_env: one per process, never 0 */
    while (instance == 0)
        if (getrandom(&instance, sizeof(instance), 0) != sizeof(instance))
            instance = (uint32_t)sb_now_ms() | 1u;
    int rc = dialog_watch_create(PROXY_WATCH_MAX_USERS, PROXY_WATCH_PER_USER,
                                 PROXY_WATCH_PER_SOURCE, &pool->watch);
    if (rc == 0)
        rc = call_index_create(&pool->calls);
    if (rc == 0)
        rc = pickup_board_create(PROXY_PICKUP_MAX_RINGING, &pool->ringing);
    if (rc == 0)
        rc = presence_state_create(PROXY_PRESENCE_MAX_USERS, PROXY_PRESENCE_PER_USER,
                                   &pool->presence);
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
        if (rc == 0)
            rc = media_client_create(cfg, w->wheel, instance + i, &pool->engines,
                                     &w->counters.media_ng, &w->ng);
        if (rc == 0) {
            struct proxy_env env = {
                .config = cfg,
                .registrar = deps->registrar,
                .identity = deps->identity,
                .reasons = deps->reasons,
                .journal = deps->journal,
                .auth = deps->auth,
                .secret = deps->secret,
                .plans = deps->plans,
                .trunks = deps->trunks,
                .trunk_mask = trunk_mask(deps, instance, i),
                .nat_ping = nat_pinger(deps, instance, i),
                .dns_query = deps->resolver ? dns_query : NULL,
                .dns_ctx = deps->resolver,
                .instance = instance,
                .wheel = w->wheel,
                .net = &net_proxy_ops,
                .net_ctx = w->net,
                .counters = &w->counters,
                .media = w->ng ? &ng_client_proxy_ops : NULL,
                .media_ctx = w->ng,
                .watch = pool->watch,
                .call_index = pool->calls,
                .pickup = pool->ringing,
                .presence = pool->presence,
                .keep = deps->keep,
                .keep_ctx = deps->keep_ctx,
                .keep_epoch = deps->keep_epoch,
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

int worker_pool_restore(struct worker_pool *pool, enum proxy_doc kind, const char *key,
                        const char *value, uint64_t expires_wall_ms)
{
    if (kind == PROXY_DOC_PRESENCE)
        return presence_state_load(pool->presence, key, value, expires_wall_ms,
                                   (uint64_t)call_journal_now(), sb_now_ms());
    const char *semi = strrchr(key, ';'); /* "Call-ID;from-tag" */
    if (kind != PROXY_DOC_SUBSCRIPTION || !value || !semi)
        return SB_EMALFORMED;
    unsigned i = dispatch_worker_for_text(pool->deps.dispatch, key, (size_t)(semi - key));
    if (i >= pool->count)
        return SB_EMALFORMED;
    return proxy_notify_restore(pool->workers[i].proxy, key, value, expires_wall_ms);
}

int worker_pool_presence_docs(struct worker_pool *pool,
                              int (*emit)(void *arg, const char *key, const char *value,
                                          uint64_t expires_wall_ms),
                              void *arg)
{
    return presence_state_docs(pool->presence, sb_now_ms(), (uint64_t)call_journal_now(), emit,
                               arg);
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
    rcu_barrier(); /* views handed to call_rcu are freed */
    for (unsigned i = 0; i < pool->count; i++) {
        struct worker *w = &pool->workers[i];
        free(w->calls);
        proxy_destroy(w->proxy);
        ng_client_destroy(w->ng); /* after the proxy: it cancels what it asked */
        net_destroy(w->net);
        timer_wheel_destroy(w->wheel);
    }
    dialog_watch_destroy(pool->watch); /* after the proxies: their calls end into it */
    call_index_destroy(pool->calls);
    pickup_board_destroy(pool->ringing);
    presence_state_destroy(pool->presence);
    free(pool->workers);
    free(pool);
}

size_t worker_pool_transactions(const struct worker_pool *pool)
{
    size_t n = 0;
    for (unsigned i = 0; pool && i < pool->count; i++)
        n += atomic_load_explicit(&pool->workers[i].live_transactions, memory_order_relaxed);
    return n;
}

void worker_pool_counters(const struct worker_pool *pool, uint64_t total[SB_CNT_COUNT])
{
    for (unsigned i = 0; i < pool->count; i++)
        sb_counters_accumulate(total, &pool->workers[i].counters);
}

size_t worker_pool_open_calls(const struct worker_pool *pool)
{
    size_t n = 0;
    for (unsigned i = 0; pool && i < pool->count; i++)
        n += atomic_load_explicit(&pool->workers[i].open_calls, memory_order_relaxed);
    return n;
}

/* Asks every worker for a view of its calls and waits (at most
 * CALLS_WAIT_MS) until each has answered. */
static void ask_for_calls(struct worker_pool *pool)
{
    uint_fast64_t *seen = calloc(pool->count, sizeof(*seen));
    if (!seen)
        return; /* the views as they are */
    for (unsigned i = 0; i < pool->count; i++) {
        struct worker *w = &pool->workers[i];
        seen[i] = atomic_load_explicit(&w->calls_seen, memory_order_acquire);
        atomic_store_explicit(&w->calls_wanted, true, memory_order_release);
        dispatch_kick(pool->deps.dispatch, i); /* a flag, not a queued item */
    }
    uint64_t until = sb_now_ms() + CALLS_WAIT_MS;
    for (unsigned i = 0; i < pool->count && sb_now_ms() < until;) {
        if (atomic_load_explicit(&pool->workers[i].calls_seen, memory_order_acquire) != seen[i])
            i++;
        else
            nanosleep(&(struct timespec){.tv_nsec = 500000}, NULL);
    }
    free(seen);
}

size_t worker_pool_calls_json(struct worker_pool *pool, struct sb_buf *b)
{
    size_t n = 0;
    ask_for_calls(pool);
    rcu_read_lock();
    for (unsigned i = 0; i < pool->count; i++) {
        struct calls_view *v = rcu_dereference(pool->workers[i].calls);
        if (!v)
            continue;
        tsan_observe(v);
        if (v->count) {
            if (n)
                sb_buf_puts(b, ",");
            sb_buf_append(b, v->json, v->len);
            n += v->count;
        }
        tsan_rcu_read_done(v);
    }
    rcu_read_unlock();
    return n;
}

void worker_pool_histograms(const struct worker_pool *pool, struct sb_histogram *invite,
                            struct sb_histogram *setup, struct sb_histogram *media_ng)
{
    for (unsigned i = 0; i < pool->count; i++) {
        sb_hist_accumulate(invite, &pool->workers[i].counters.invite_processing);
        sb_hist_accumulate(setup, &pool->workers[i].counters.call_setup);
        sb_hist_accumulate(media_ng, &pool->workers[i].counters.media_ng);
    }
}

bool worker_pool_engine_up(const struct worker_pool *pool, unsigned i)
{
    return i < NG_MAX_ENGINES && !atomic_load_explicit(&pool->engines.out[i], memory_order_relaxed);
}

unsigned worker_pool_size(const struct worker_pool *pool)
{
    return pool->count;
}
