/* Requests relayed to somebody else's domain by name ([proxy] relay =
 * yes): the name goes to the resolver's thread (RFC 3263, resolver.h)
 * and the request waits here, never the worker. See proxy_int.h.
 *
 * A request: ASKED (parked; polled every DNS_POLL_MS) --answer--> routed
 * on to the first target, or 500 when the name does not resolve;
 * --DNS_WAIT_MS without one--> 500; --CANCEL--> 487 at once, and its
 * transaction is never touched again (it may go before the answer). */
#include "proxy_int.h"

#include <stdlib.h>
#include <string.h>

#include "switchboard/error.h"
#include "switchboard/sip_msg.h"
#include "switchboard/trunk.h"

#define DNS_POLL_MS 20
#define DNS_WAIT_MS 8000 /* a resolver gives up well before: 5 s x 1 try */

struct dns_park {
    struct dns_park *next;
    struct server_txn *st;
    osip_message_t *fwd;
    struct route_info info;
    uint32_t loop_hash;
    uint64_t since_ms;
    bool done; /* answered already (CANCEL): st is not ours to use */
};

int proxy_dns_target(struct proxy *p, const osip_message_t *fwd, const struct sb_inbound *in,
                     struct proxy_target *t, struct trunk_targets *all)
{
    if (!p->env.dns_query || !p->env.config->relay)
        return SB_EUNRESOLVED;
    osip_route_t *route = osip_list_get(&fwd->routes, 0);
    const osip_uri_t *uri = route ? route->url : fwd->req_uri;
    osip_uri_param_t *tp = NULL;
    osip_uri_uparam_get_byname((osip_uri_t *)uri, "transport", &tp);
    int transport = sipmsg_uri_transport(uri);
    unsigned port = uri->port ? (unsigned)strtoul(uri->port, NULL, 10) : 0;
    struct trunk_targets targets;
    if (!uri->host || transport < 0)
        return SB_EUNRESOLVED;
    int rc = p->env.dns_query(p->env.dns_ctx, uri->host, port, transport, tp != NULL, &targets);
    if (rc != 0)
        return rc;
    if (all)
        *all = targets;
    return proxy_dns_use(p, &targets, 0, &in->local, t);
}

int proxy_dns_use(struct proxy *p, const struct trunk_targets *targets, size_t i,
                  const struct sb_local *from, struct proxy_target *t)
{
    memset(t, 0, sizeof(*t));
    t->checked = true; /* a name the request chose: the policy judges the address */
    t->unsent_code = 503;
    t->dest.transport = (uint8_t)targets->t[i].transport;
    t->dest.peer = targets->t[i].addr;
    proxy_stream_side(t);
    return proxy_resolve(p, &t->dest, from);
}

static void on_poll(struct timer *timer, void *arg);

bool proxy_dns_park(struct proxy *p, struct server_txn *st, const osip_message_t *fwd,
                    const struct route_info *info, uint32_t loop_hash)
{
    struct dns_park *park = calloc(1, sizeof(*park));
    if (!park || osip_message_clone(fwd, &park->fwd) != 0) {
        free(park);
        return false;
    }
    park->st = st;
    park->info = *info;
    park->loop_hash = loop_hash;
    park->since_ms = timer_wheel_now(p->env.wheel);
    park->next = p->dns_parked;
    p->dns_parked = park;
    if (!park->next) {
        timer_init(&p->dns_timer, on_poll, p);
        timer_schedule(p->env.wheel, &p->dns_timer, park->since_ms + DNS_POLL_MS);
    }
    return true;
}

/* Is @park's answer there (or its time up)? */
static bool answered(struct proxy *p, struct dns_park *park, uint64_t now)
{
    if (park->done)
        return true;
    struct proxy_target t;
    const struct sb_inbound *in = txn_server_inbound(park->st);
    int rc = in ? proxy_dns_target(p, park->fwd, in, &t, NULL) : SB_ENOTFOUND;
    return rc != SB_EAGAIN || now - park->since_ms >= DNS_WAIT_MS;
}

static void resume(struct proxy *p, struct dns_park *park, uint64_t now)
{
    if (park->done)
        ; /* CANCELled while it waited */
    else if (now - park->since_ms >= DNS_WAIT_MS)
        txn_server_respond_code(park->st, 500, "Unresolvable Destination");
    else
        proxy_route_onward(p, park->st, park->fwd, &park->info, park->loop_hash);
    osip_message_free(park->fwd);
    free(park);
}

static void on_poll(struct timer *timer, void *arg)
{
    struct proxy *p = arg;
    uint64_t now = timer_wheel_now(p->env.wheel);
    struct dns_park *ready = NULL;
    for (struct dns_park **pp = &p->dns_parked; *pp;) {
        struct dns_park *park = *pp;
        if (!answered(p, park, now)) {
            pp = &park->next;
            continue;
        }
        *pp = park->next; /* off the list before routing: it may park again */
        park->next = ready;
        ready = park;
    }
    while (ready) {
        struct dns_park *park = ready;
        ready = park->next;
        resume(p, park, now);
    }
    if (p->dns_parked)
        timer_schedule(p->env.wheel, timer, now + DNS_POLL_MS);
}

bool proxy_dns_cancel(struct proxy *p, struct server_txn *st)
{
    for (struct dns_park *park = p->dns_parked; park; park = park->next) {
        if (park->st != st || park->done)
            continue;
        park->done = true;
        txn_server_respond_code(st, 487, NULL); /* §9.2: it never went out */
        return true;
    }
    return false;
}

void proxy_dns_destroy(struct proxy *p)
{
    if (p->dns_parked)
        timer_cancel(&p->dns_timer);
    while (p->dns_parked) {
        struct dns_park *park = p->dns_parked;
        p->dns_parked = park->next;
        osip_message_free(park->fwd);
        free(park);
    }
}
