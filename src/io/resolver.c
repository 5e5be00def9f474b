/* Trunks located per RFC 3263, kept fresh. See resolver.h. */
#include "switchboard/resolver.h"

#include <arpa/inet.h>
#include <arpa/nameser.h>
#include <errno.h>
#include <netdb.h>
#include <pthread.h>
#include <resolv.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <time.h>

#include "switchboard/error.h"
#include "switchboard/log.h"
#include "switchboard/sip_msg.h"
#include "switchboard/sipdns.h"
#include "switchboard/trunk.h"

#define MAX_RECORDS 16

/* One lookup's state: the resolver library's, the smallest TTL seen. */
struct lookup {
    struct __res_state res;
    uint32_t ttl;
    struct trunk_targets *out;
    unsigned reach;   /* RESOLVER_REACH() bits */
    unsigned skipped; /* addresses of a family we cannot send from */
};

static uint32_t random32(void *ctx)
{
    (void)ctx;
    uint32_t r = 0;
    if (getrandom(&r, sizeof(r), 0) != sizeof(r))
        r = (uint32_t)time(NULL);
    return r;
}

static void note_ttl(struct lookup *l, uint32_t ttl)
{
    if (ttl < l->ttl)
        l->ttl = ttl;
}

/* @type records for @name: how many (0: none exist, or the server
 * refuses that question: some answer NAPTR with REFUSED), or a negative
 * code when DNS could not say (a timeout, a server failure). */
static int query(struct lookup *l, const char *name, enum sipdns_type type, struct sipdns_rr *rr)
{
    unsigned char answer[4096];
    int n = res_nquery(&l->res, name, ns_c_in, (int)type, answer, sizeof(answer));
    if (n < 0)
        return l->res.res_h_errno == HOST_NOT_FOUND || l->res.res_h_errno == NO_DATA ||
                       l->res.res_h_errno == NO_RECOVERY
                   ? 0
                   : SB_EUNRESOLVED;
    int count = sipdns_parse(answer, (size_t)n, type, rr, MAX_RECORDS);
    for (int i = 0; i < count; i++)
        note_ttl(l, rr[i].ttl);
    return count;
}

static bool reachable(const struct lookup *l, int transport, int family)
{
    return (family == AF_INET || family == AF_INET6) &&
           (l->reach & RESOLVER_REACH(transport, family == AF_INET6));
}

/* Adds @host's addresses we can reach on @port over @transport
 * (getaddrinfo: A and AAAA in RFC 6724's order, /etc/hosts too).
 * Returns how many. */
static size_t add_host(struct lookup *l, const char *host, unsigned port, int transport)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_DGRAM};
    struct addrinfo *res = NULL;
    if (getaddrinfo(host, NULL, &hints, &res) != 0)
        return 0;
    size_t added = 0;
    for (struct addrinfo *ai = res; ai && l->out->count < TRUNK_MAX_TARGETS; ai = ai->ai_next) {
        if (!reachable(l, transport, ai->ai_family) ||
            ai->ai_addrlen > sizeof(struct sockaddr_in6)) {
            l->skipped++;
            continue;
        }
        struct sb_addr *a = &l->out->t[l->out->count].addr;
        memset(a, 0, sizeof(*a));
        memcpy(&a->ss, ai->ai_addr, ai->ai_addrlen);
        a->len = ai->ai_addrlen;
        if (ai->ai_family == AF_INET6)
            ((struct sockaddr_in6 *)&a->ss)->sin6_port = htons((uint16_t)port);
        else
            ((struct sockaddr_in *)&a->ss)->sin_port = htons((uint16_t)port);
        l->out->t[l->out->count++].transport = transport;
        added++;
    }
    freeaddrinfo(res);
    return added;
}

/* The SRV records @name has: each target's addresses, in RFC 2782's
 * order. Returns how many records (when there are some, the domain's own
 * addresses are not asked for, §4.2, even if no target has an address
 * we can use), or a negative code. */
static int add_srv(struct lookup *l, const char *name, int transport)
{
    struct sipdns_rr rr[MAX_RECORDS];
    int n = query(l, name, SIPDNS_SRV, rr);
    if (n <= 0)
        return n;
    size_t kept = sipdns_srv_order(rr, (size_t)n, random32, NULL);
    for (size_t i = 0; i < kept; i++)
        add_host(l, rr[i].target, rr[i].port, transport);
    return n;
}

static bool usable(const struct lookup *l, int transport)
{
    return l->reach & (RESOLVER_REACH(transport, false) | RESOLVER_REACH(transport, true));
}

/* §4.1: NAPTR first; the first usable record's SRV name. */
static int by_naptr(struct lookup *l, const struct trunk *t)
{
    struct sipdns_rr rr[MAX_RECORDS];
    int n = query(l, t->host, SIPDNS_NAPTR, rr);
    if (n <= 0)
        return n;
    size_t kept = sipdns_naptr_usable(rr, (size_t)n, t->transport_set ? t->transport : -1);
    for (size_t i = 0; i < kept; i++) {
        int transport = sipdns_naptr_transport(&rr[i]);
        if (usable(l, transport))
            return add_srv(l, rr[i].replacement, transport);
    }
    return 0;
}

/* §4.1 without NAPTR: SRV for each transport we may use, UDP first. */
static int by_srv(struct lookup *l, const struct trunk *t)
{
    for (int transport = SB_UDP; transport <= SB_TLS; transport++) {
        if ((t->transport_set && transport != t->transport) || !usable(l, transport))
            continue;
        char name[SIPDNS_NAME_MAX + 16];
        snprintf(name, sizeof(name), "%s%s", sipdns_srv_prefix(transport), t->host);
        int n = add_srv(l, name, transport);
        if (n != 0)
            return n;
    }
    return 0;
}

int resolver_lookup(const struct trunk *t, unsigned reach, struct trunk_targets *out, char *why,
                    size_t size)
{
    struct lookup l = {.ttl = RESOLVER_TTL_HOSTS, .out = out, .reach = reach};
    memset(out, 0, sizeof(*out));
    if (res_ninit(&l.res) != 0) {
        snprintf(why, size, "cannot read the resolver's configuration");
        return SB_EUNRESOLVED;
    }
    const char *how = "its address";
    int rc = 0;
    if (!t->port) { /* §4.2: with a port, only the host's addresses */
        rc = by_naptr(&l, t);
        how = "NAPTR and SRV";
        if (rc == 0) {
            rc = by_srv(&l, t);
            how = "SRV";
        }
    }
    if (rc == 0) {
        int transport = t->transport_set ? t->transport : SB_UDP;
        add_host(&l, t->host, t->port ? t->port : transport == SB_TLS ? 5061u : 5060u, transport);
        how = "its address";
    }
    res_nclose(&l.res);
    out->ttl = l.ttl < RESOLVER_TTL_MIN   ? RESOLVER_TTL_MIN
               : l.ttl > RESOLVER_TTL_MAX ? RESOLVER_TTL_MAX
                                          : l.ttl;
    if (rc < 0) {
        snprintf(why, size, "DNS gave no answer for %s", t->host);
        return SB_EUNRESOLVED;
    }
    if (out->count == 0 && l.skipped) {
        snprintf(why, size, "%s has no address of a family we listen on (by %s)", t->host, how);
        return SB_ENOTFOUND;
    }
    if (out->count == 0) {
        snprintf(why, size, "%s has no address (by %s)", t->host, how);
        return SB_ENOTFOUND;
    }
    snprintf(why, size, "by %s", how);
    return 0;
}

/* --- the thread ------------------------------------------------------------ */

#define CACHE_SLOTS 256

/* A name asked for by resolver_query().
 * States: PENDING (queued for the thread) -> OK (targets, until expires)
 * or FAILED (until expires) -> expired: PENDING again on the next query
 * (OK's targets served meanwhile). */
enum slot_state { SLOT_FREE, SLOT_PENDING, SLOT_OK, SLOT_FAILED };

struct cache_slot {
    enum slot_state state;
    bool stale_ok; /* PENDING again, its old targets still served */
    char host[SIPDNS_NAME_MAX];
    unsigned port;
    int transport;
    bool transport_set;
    uint64_t expires_ms, used_ms;
    struct trunk_targets targets;
};

struct resolver {
    struct trunk_plan *plan; /* may be NULL */
    unsigned reach;
    pthread_t thread;
    pthread_mutex_t lock; /* held only to copy, never across DNS */
    pthread_cond_t wake;
    bool stop;
    uint64_t due[TRUNK_MAX]; /* monotonic ms; 0: never (an address) */
    struct cache_slot cache[CACHE_SLOTS];
};

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static bool same_targets(const struct trunk *t, const struct trunk_targets *fresh)
{
    struct sb_addr addr;
    int transport;
    size_t i = 0;
    for (; trunk_target(t, i, &addr, &transport); i++)
        if (i >= fresh->count || transport != fresh->t[i].transport ||
            addr.len != fresh->t[i].addr.len || memcmp(&addr.ss, &fresh->t[i].addr.ss, addr.len))
            return false;
    return i == fresh->count;
}

static void targets_text(const struct trunk_targets *tt, char *list, size_t size)
{
    char host[64];
    size_t n = 0;
    list[0] = '\0';
    for (size_t i = 0; i < tt->count && n < size; i++) {
        unsigned port = sipmsg_addr_host(&tt->t[i].addr, host, sizeof(host));
        bool v6 = tt->t[i].addr.ss.ss_family == AF_INET6;
        n += (size_t)snprintf(list + n, size - n, "%s%s%s%s:%u/%s", i ? ", " : "", v6 ? "[" : "",
                              host, v6 ? "]" : "", port, sb_transport_name(tt->t[i].transport));
    }
}

/* Looks trunk @i up and publishes a change. Returns the seconds until
 * the next lookup. */
static uint32_t refresh(struct resolver *r, size_t i)
{
    struct trunk *t = &r->plan->trunks[i];
    struct trunk_targets *fresh = malloc(sizeof(*fresh));
    char why[256], list[512];
    if (!fresh)
        return RESOLVER_TTL_MIN;
    int rc = resolver_lookup(t, r->reach, fresh, why, sizeof(why));
    if (rc != 0) {
        SB_WARN("trunk %s: %s; keeping what it had, again in %d s", t->name, why, RESOLVER_TTL_MIN);
        free(fresh);
        return RESOLVER_TTL_MIN;
    }
    uint32_t ttl = fresh->ttl;
    if (same_targets(t, fresh)) {
        free(fresh);
        return ttl;
    }
    targets_text(fresh, list, sizeof(list));
    SB_INFO("trunk %s: %s is %s (%s, again in %u s)", t->name, t->host, list, why, ttl);
    trunk_set_targets(t, fresh);
    return ttl;
}

/* One queued name, looked up (the lock released meanwhile). */
static void answer_slot(struct resolver *r, struct cache_slot *slot)
{
    struct trunk *t = calloc(1, sizeof(*t)); /* what resolver_lookup() reads */
    struct trunk_targets *fresh = malloc(sizeof(*fresh));
    char why[256], list[512];
    int rc = SB_ENOMEM;
    if (t && fresh) {
        snprintf(t->host, sizeof(t->host), "%s", slot->host);
        snprintf(t->name, sizeof(t->name), "relay");
        t->port = slot->port;
        t->transport = slot->transport;
        t->transport_set = slot->transport_set;
        pthread_mutex_unlock(&r->lock); /* DNS takes its time */
        rc = resolver_lookup(t, r->reach, fresh, why, sizeof(why));
        pthread_mutex_lock(&r->lock);
    }
    if (rc == 0) {
        targets_text(fresh, list, sizeof(list));
        SB_INFO("relay: %s is %s (%s, for %u s)", slot->host, list, why, fresh->ttl);
        slot->targets = *fresh;
        slot->state = SLOT_OK;
        slot->expires_ms = now_ms() + fresh->ttl * 1000ull;
    } else {
        SB_WARN("relay: %s: %s", slot->host, t && fresh ? why : "out of memory");
        slot->state = SLOT_FAILED;
        slot->expires_ms = now_ms() + RESOLVER_TTL_MIN * 1000ull;
    }
    slot->stale_ok = false;
    free(t);
    free(fresh);
}

static void answer_queries(struct resolver *r)
{
    for (size_t i = 0; i < CACHE_SLOTS && !r->stop; i++)
        if (r->cache[i].state == SLOT_PENDING)
            answer_slot(r, &r->cache[i]);
}

/* The trunks due now looked up; returns when the next is due. */
static uint64_t refresh_trunks(struct resolver *r)
{
    uint64_t next = UINT64_MAX;
    for (size_t i = 0; r->plan && i < r->plan->count && !r->stop; i++) {
        if (!r->due[i])
            continue;
        if (r->due[i] <= now_ms()) {
            pthread_mutex_unlock(&r->lock); /* DNS takes its time */
            uint32_t secs = refresh(r, i);
            pthread_mutex_lock(&r->lock);
            r->due[i] = now_ms() + secs * 1000ull;
        }
        if (r->due[i] < next)
            next = r->due[i];
    }
    return next;
}

static void wait_until(struct resolver *r, uint64_t when)
{
    if (when == UINT64_MAX) {
        pthread_cond_wait(&r->wake, &r->lock);
        return;
    }
    uint64_t wait = when > now_ms() ? when - now_ms() : 0;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    ts.tv_sec += (time_t)(wait / 1000);
    ts.tv_nsec += (long)(wait % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    pthread_cond_timedwait(&r->wake, &r->lock, &ts);
}

static void *resolver_main(void *arg)
{
    struct resolver *r = arg;
    pthread_mutex_lock(&r->lock);
    while (!r->stop) {
        answer_queries(r);
        uint64_t next = refresh_trunks(r);
        bool queued = false;
        for (size_t i = 0; i < CACHE_SLOTS; i++)
            queued |= r->cache[i].state == SLOT_PENDING;
        if (!r->stop && !queued)
            wait_until(r, next);
    }
    pthread_mutex_unlock(&r->lock);
    return NULL;
}

/* --- queries ---------------------------------------------------------------- */

static bool same_key(const struct cache_slot *s, const char *host, unsigned port, int transport,
                     bool transport_set)
{
    return s->state != SLOT_FREE && s->port == port && s->transport_set == transport_set &&
           (!transport_set || s->transport == transport) && !strcasecmp(s->host, host);
}

/* A slot for a new name: a free one, else the least used that is not
 * queued. */
static struct cache_slot *new_slot(struct resolver *r)
{
    struct cache_slot *victim = NULL;
    for (size_t i = 0; i < CACHE_SLOTS; i++) {
        struct cache_slot *s = &r->cache[i];
        if (s->state == SLOT_FREE)
            return s;
        if (s->state != SLOT_PENDING && (!victim || s->used_ms < victim->used_ms))
            victim = s;
    }
    return victim;
}

static int query_locked(struct resolver *r, const char *host, unsigned port, int transport,
                        bool transport_set, struct trunk_targets *out)
{
    uint64_t now = now_ms();
    struct cache_slot *slot = NULL;
    for (size_t i = 0; i < CACHE_SLOTS && !slot; i++)
        if (same_key(&r->cache[i], host, port, transport, transport_set))
            slot = &r->cache[i];
    if (slot) {
        slot->used_ms = now;
        bool fresh = slot->expires_ms > now;
        if (!fresh && slot->state != SLOT_PENDING) { /* again, serving what it had */
            slot->stale_ok = slot->state == SLOT_OK;
            slot->state = SLOT_PENDING;
            pthread_cond_signal(&r->wake);
        }
        if (slot->state == SLOT_OK || slot->stale_ok) {
            *out = slot->targets;
            return 0;
        }
        return slot->state == SLOT_FAILED ? SB_ENOTFOUND : SB_EAGAIN;
    }
    if (strlen(host) >= sizeof(r->cache[0].host) || !(slot = new_slot(r)))
        return SB_EAGAIN; /* every slot queued: ask again */
    memset(slot, 0, sizeof(*slot));
    snprintf(slot->host, sizeof(slot->host), "%s", host);
    slot->port = port;
    slot->transport = transport;
    slot->transport_set = transport_set;
    slot->used_ms = now;
    slot->state = SLOT_PENDING;
    pthread_cond_signal(&r->wake);
    return SB_EAGAIN;
}

int resolver_query(struct resolver *r, const char *host, unsigned port, int transport,
                   bool transport_set, struct trunk_targets *out)
{
    if (!r)
        return SB_ENOTFOUND;
    pthread_mutex_lock(&r->lock);
    int rc = query_locked(r, host, port, transport, transport_set, out);
    pthread_mutex_unlock(&r->lock);
    return rc;
}

/* --- life -------------------------------------------------------------------- */

int resolver_start(struct trunk_plan *plan, unsigned reach, bool relay, struct resolver **out)
{
    *out = NULL;
    bool named = false;
    for (size_t i = 0; plan && i < plan->count; i++)
        named |= !plan->trunks[i].numeric;
    if (!named && !relay)
        return 0;
    struct resolver *r = calloc(1, sizeof(*r));
    if (!r)
        return SB_ENOMEM;
    r->plan = plan;
    r->reach = reach;
    for (size_t i = 0; plan && i < plan->count; i++)
        if (!plan->trunks[i].numeric)
            r->due[i] = now_ms() + refresh(r, i) * 1000ull;
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_mutex_init(&r->lock, NULL);
    pthread_cond_init(&r->wake, &attr);
    pthread_condattr_destroy(&attr);
    if (pthread_create(&r->thread, NULL, resolver_main, r) != 0) {
        pthread_cond_destroy(&r->wake);
        pthread_mutex_destroy(&r->lock);
        free(r);
        return SB_ENOMEM;
    }
    *out = r;
    return 0;
}

void resolver_stop(struct resolver *r)
{
    if (!r)
        return;
    pthread_mutex_lock(&r->lock);
    r->stop = true;
    pthread_cond_signal(&r->wake);
    pthread_mutex_unlock(&r->lock);
    pthread_join(r->thread, NULL);
    pthread_cond_destroy(&r->wake);
    pthread_mutex_destroy(&r->lock);
    free(r);
}
