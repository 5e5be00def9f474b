/* Keep-alives to phones behind NAT ([registrar] nat_keepalive = N, what
 * Kamailio's nathelper calls pinging): every N seconds an OPTIONS to each
 * UDP binding made here from behind NAT keeps its router's mapping open,
 * so that calls still reach it. Run by the worker the pings' Call-ID
 * hashes to (they all share it: every answer comes back there). See
 * proxy_int.h.
 *
 * Per phone (its AoR and source): ANSWERING --ping unanswered (Timer F)-->
 * SILENT (logged once, counted) --any answer--> ANSWERING (logged). */
#include "proxy_int.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "switchboard/error.h"
#include "switchboard/log.h"
#include "switchboard/registrar.h"
#include "switchboard/sip_msg.h"
#include "switchboard/strmap.h"

#define SILENT_MAX 4096 /* phones remembered as silent; more are not logged */

struct natping {
    struct proxy *proxy;
    char call_id[48];
    uint32_t cseq;
    struct timer timer;
    struct strmap silent;     /* key "AOR SOURCE": stopped answering */
    struct proxy_branch *own; /* every ping whose transaction lives */
};

/* One phone to ping, copied out of the registrar. */
struct ping_target {
    char key[384]; /* "AOR IP:PORT" */
    char uri[256];
    struct sb_addr source;
    struct sb_local local;
};

struct ping_list {
    struct ping_target *items;
    size_t count, cap;
};

void proxy_natping_call_id(uint32_t instance, char *buf, size_t size)
{
    snprintf(buf, size, "sbping-%08" PRIx32, instance);
}

/* --- the round ------------------------------------------------------------ */

/* registrar_foreach: the UDP bindings made here behind NAT (use_source). */
static void collect(void *arg, const char *aor, const struct registrar_binding *b, size_t count)
{
    struct ping_list *list = arg;
    for (size_t i = 0; i < count; i++) {
        if (b[i].transport != SB_UDP || !b[i].use_source || b[i].node || !b[i].uri ||
            strlen(b[i].uri) >= sizeof(list->items[0].uri))
            continue;
        if (list->count == list->cap) {
            size_t cap = list->cap ? list->cap * 2 : 64;
            struct ping_target *more = realloc(list->items, cap * sizeof(*more));
            if (!more)
                return;
            list->items = more;
            list->cap = cap;
        }
        struct ping_target *t = &list->items[list->count++];
        char host[64];
        unsigned port = sipmsg_addr_host(&b[i].source, host, sizeof(host));
        snprintf(t->key, sizeof(t->key), "%s %s:%u", aor, host, port);
        snprintf(t->uri, sizeof(t->uri), "%s", b[i].uri);
        t->source = b[i].source;
        t->local = b[i].local;
    }
}

static int build_options(struct natping *np, const struct ping_target *t,
                         const struct sb_dest *dest, osip_message_t **out)
{
    char local[64], text[1024];
    unsigned port = sipmsg_addr_host(&dest->local.addr, local, sizeof(local));
    bool v6 = strchr(local, ':') != NULL;
    int n =
        snprintf(text, sizeof(text),
                 "OPTIONS %s SIP/2.0\r\n"
                 "Via: SIP/2.0/UDP %s%s%s:%u;branch=z9hG4bK-sbp%016" PRIx64 ";rport\r\n"
                 "Max-Forwards: 70\r\n"
                 "From: <sip:switchboard@%s%s%s:%u>;tag=%016" PRIx64 "\r\n"
                 "To: <%s>\r\n"
                 "Call-ID: %s\r\n"
                 "CSeq: %" PRIu32 " OPTIONS\r\n"
                 "Content-Length: 0\r\n\r\n",
                 t->uri, v6 ? "[" : "", local, v6 ? "]" : "", port, proxy_random64(), v6 ? "[" : "",
                 local, v6 ? "]" : "", port, proxy_random64(), t->uri, np->call_id, ++np->cseq);
    return proxy_own_parse(text, n, sizeof(text), out);
}

static void ping(struct natping *np, const struct ping_target *t)
{
    struct proxy *p = np->proxy;
    struct sb_dest dest = {.transport = SB_UDP, .peer = t->source, .local = t->local};
    osip_message_t *req = NULL;
    struct proxy_branch *b = calloc(1, sizeof(*b));
    int rc = b ? proxy_resolve(p, &dest, &t->local) : SB_ENOMEM;
    if (rc == 0)
        rc = build_options(np, t, &dest, &req);
    if (rc == 0 && !(b->nat_key = strdup(t->key)))
        rc = SB_ENOMEM;
    if (rc == 0) {
        b->nat = np;
        rc = proxy_own_send(p, req, &dest, b, &np->own);
    }
    osip_message_free(req);
    if (rc != 0) {
        if (b)
            free(b->nat_key);
        free(b);
        return;
    }
    sb_count(p->env.counters, SB_CNT_NAT_PINGS);
}

static void on_round(struct timer *timer, void *arg)
{
    struct natping *np = arg;
    struct proxy *p = np->proxy;
    struct ping_list list = {0};
    /* copied out first: nothing is sent inside the registrar's read */
    registrar_foreach(p->env.registrar, collect, &list);
    for (size_t i = 0; i < list.count; i++)
        ping(np, &list.items[i]);
    free(list.items);
    timer_schedule(p->env.wheel, timer,
                   timer_wheel_now(p->env.wheel) + p->env.config->nat_keepalive * 1000ull);
}

/* --- answers ------------------------------------------------------------------ */

struct silent_entry {
    struct strmap_link link;
};

static void silent_free(struct strmap_link *l)
{
    free(l->key);
    free(l);
}

void proxy_natping_answered(struct proxy_branch *b)
{
    struct natping *np = b->nat;
    if (!b->nat_key || b->final_code)
        return;
    b->final_code = 200;
    struct strmap_link *l = strmap_find(&np->silent, b->nat_key, strlen(b->nat_key));
    if (!l)
        return;
    strmap_remove(&np->silent, l); /* frees its key */
    free(l);
    SB_INFO("nat keep-alive: %s answers again", b->nat_key);
}

void proxy_natping_lost(struct proxy_branch *b)
{
    struct natping *np = b->nat;
    if (!b->nat_key || b->final_code)
        return;
    b->final_code = 408;
    if (strmap_find(&np->silent, b->nat_key, strlen(b->nat_key)) || np->silent.count >= SILENT_MAX)
        return;
    struct silent_entry *e = calloc(1, sizeof(*e));
    char *key = e ? strdup(b->nat_key) : NULL;
    if (!key) {
        free(e);
        return;
    }
    strmap_insert(&np->silent, &e->link, key, strlen(key));
    sb_count(np->proxy->env.counters, SB_CNT_NAT_PING_LOST);
    SB_WARN("nat keep-alive: %s stopped answering (unreachable behind its NAT?)", b->nat_key);
}

void proxy_natping_gone(struct proxy_branch *b)
{
    struct natping *np = b->nat;
    proxy_natping_lost(b); /* nothing when it was answered */
    proxy_own_unlink(&np->own, b);
    free(b->nat_key);
    free(b);
}

/* --- life ---------------------------------------------------------------------- */

int proxy_natping_start(struct proxy *p)
{
    if (!p->env.config->nat_keepalive || !p->env.nat_ping)
        return 0;
    struct natping *np = calloc(1, sizeof(*np));
    if (!np || strmap_init(&np->silent, 64) != 0) {
        free(np);
        return SB_ENOMEM;
    }
    np->proxy = p;
    proxy_natping_call_id(p->env.instance, np->call_id, sizeof(np->call_id));
    timer_init(&np->timer, on_round, np);
    timer_schedule(p->env.wheel, &np->timer,
                   timer_wheel_now(p->env.wheel) + p->env.config->nat_keepalive * 1000ull);
    p->natping = np;
    return 0;
}

void proxy_natping_stop(struct proxy *p)
{
    struct natping *np = p->natping;
    if (!np)
        return;
    timer_cancel(&np->timer);
    proxy_own_free_all(&np->own); /* their transactions went with the layer */
    strmap_clear(&np->silent, silent_free);
    strmap_fini(&np->silent);
    free(np);
    p->natping = NULL;
}
