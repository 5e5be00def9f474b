/* A worker's sending side. See the DESIGN note in net.h. */
#include "switchboard/net.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "switchboard/error.h"
#include "switchboard/listen.h"
#include "switchboard/outbox.h"
#include "switchboard/proxy.h"
#include "switchboard/sip_msg.h"
#include "switchboard/sip_trace.h"
#include "switchboard/stream.h"
#include "switchboard/transport_udp.h"

#define ROUTE_CACHE 256
#define ROUTE_CACHE_MS 5000

/* One remembered answer of the routing table: peer IP -> our source IP. */
struct route_entry {
    struct sb_addr peer; /* port 0 */
    struct sb_addr source;
    uint64_t until_ms;
};

struct net {
    struct net_deps deps;
    struct outbox *outbox;
    int probe[2]; /* connect()ed to ask the kernel for a source: v4, v6 */
    bool *wake;   /* per I/O thread: posted to in this loop */
    struct route_entry routes[ROUTE_CACHE];
};

int net_create(const struct net_deps *deps, struct net **out)
{
    struct net *n = calloc(1, sizeof(*n));
    if (!n)
        return SB_ENOMEM;
    n->deps = *deps;
    n->probe[0] = n->probe[1] = -1;
    unsigned threads = deps->streams ? stream_thread_count(deps->streams) : 0;
    n->wake = calloc(threads ? threads : 1, sizeof(bool));
    int rc = n->wake ? outbox_create(deps->counters, &n->outbox) : SB_ENOMEM;
    if (rc != 0) {
        net_destroy(n);
        return rc;
    }
    *out = n;
    return 0;
}

void net_destroy(struct net *n)
{
    if (!n)
        return;
    for (int i = 0; i < 2; i++)
        if (n->probe[i] >= 0)
            close(n->probe[i]);
    outbox_destroy(n->outbox);
    free(n->wake);
    free(n);
}

/* Is there more than one address we could send to @family from over
 * @transport (several listen addresses, or a wildcard)? */
static bool has_choice(const struct listen_table *t, int transport, int family)
{
    int seen = 0;
    for (size_t i = 0; i < t->count; i++) {
        const struct listen_entry *e = &t->entries[i];
        if (e->transport != transport || e->addr.ss.ss_family != family)
            continue;
        if (e->wildcard || ++seen > 1)
            return true;
    }
    return false;
}

static size_t route_slot(const struct sb_addr *peer)
{
    const char *ip;
    size_t len;
    if (peer->ss.ss_family == AF_INET) {
        ip = (const char *)&((const struct sockaddr_in *)&peer->ss)->sin_addr;
        len = 4;
    } else {
        ip = (const char *)&((const struct sockaddr_in6 *)&peer->ss)->sin6_addr;
        len = 16;
    }
    return (size_t)(sb_hash(ip, len) % ROUTE_CACHE);
}

/* Our source IP for @peer by the kernel's routing table. Returns 0 or
 * SB_ESYS (no route). */
static int route_source(struct net *n, const struct sb_addr *peer, uint64_t now,
                        struct sb_addr *source)
{
    struct route_entry *e = &n->routes[route_slot(peer)];
    if (e->until_ms > now && sipmsg_addr_same_ip(&e->peer, peer)) {
        *source = e->source;
        return 0;
    }
    int v6 = peer->ss.ss_family == AF_INET6;
    if (n->probe[v6] < 0)
        n->probe[v6] = socket(peer->ss.ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    struct sb_addr probe_peer = *peer;
    if (!v6 && ((struct sockaddr_in *)&probe_peer.ss)->sin_port == 0)
        ((struct sockaddr_in *)&probe_peer.ss)->sin_port = htons(5060);
    if (v6 && ((struct sockaddr_in6 *)&probe_peer.ss)->sin6_port == 0)
        ((struct sockaddr_in6 *)&probe_peer.ss)->sin6_port = htons(5060);
    /* connect() on UDP sends nothing: it only looks the route up. Linux
     * keeps the source address of the first connect on a later one, so
     * the last is undone first (AF_UNSPEC: "disconnect", which forgets
     * the source the kernel chose) */
    static const struct sockaddr unspec = {.sa_family = AF_UNSPEC};
    if (n->probe[v6] < 0 || connect(n->probe[v6], &unspec, sizeof(unspec)) != 0 ||
        connect(n->probe[v6], (const struct sockaddr *)&probe_peer.ss, probe_peer.len) != 0)
        return SB_ESYS;
    source->len = sizeof(source->ss);
    if (getsockname(n->probe[v6], (struct sockaddr *)&source->ss, &source->len) != 0)
        return SB_ESYS;
    e->peer = *peer;
    e->source = *source;
    e->until_ms = now + ROUTE_CACHE_MS;
    return 0;
}

int net_resolve(struct net *n, struct sb_dest *dest, const struct sb_local *from)
{
    const struct listen_table *t = n->deps.listens;
    if (from)
        dest->local = *from;
    int family = dest->peer.ss.ss_family;
    struct sb_addr source;
    if (has_choice(t, dest->transport, family) &&
        route_source(n, &dest->peer, sb_now_ms(), &source) == 0) {
        struct sb_local routed = {.listen_index = dest->local.listen_index, .addr = source};
        if (listen_local_resolve(t, dest->transport, &routed) == 0 &&
            sipmsg_addr_same_ip(&routed.addr, &source)) {
            dest->local = routed;
            goto chosen;
        }
    }
    if (dest->local.addr.ss.ss_family != family) {
        /* the request came in over the other IP version: start from any
         * address of the peer's */
        memset(&dest->local, 0, sizeof(dest->local));
        dest->local.addr.ss.ss_family = (sa_family_t)family;
        dest->local.listen_index = (unsigned)-1;
    }
    if (listen_local_resolve(t, dest->transport, &dest->local) != 0)
        return SB_ENOTFOUND;
chosen:
    if (dest->transport != SB_UDP) {
        dest->fd = -1;
        return n->deps.streams || !n->deps.udp ? 0 : SB_ENOTFOUND;
    }
    if (!n->deps.udp) {
        dest->fd = -1; /* no sockets: net_send captures */
        return 0;
    }
    dest->fd = transport_socket(n->deps.udp, dest->local.listen_index, n->deps.worker);
    return dest->fd >= 0 ? 0 : SB_ENOTFOUND;
}

int net_retarget(void *ctx, struct sb_dest *dest, int transport)
{
    struct net *n = ctx;
    if (!net_has_transport(n, transport))
        return SB_ENOTFOUND;
    struct sb_dest moved = *dest;
    moved.transport = (uint8_t)transport;
    moved.conn = 0;
    moved.flow = false;
    if (net_resolve(n, &moved, NULL) != 0)
        return SB_ENOTFOUND;
    *dest = moved;
    return 0;
}

void net_send(void *ctx, const struct sb_dest *dest, const char *data, size_t len)
{
    struct net *n = ctx;
    if (dest->transport == SB_UDP) /* stream threads record what they send */
        sip_trace_record(n->deps.trace, &dest->local.addr, &dest->peer, NULL, data, len);
    if (!n->deps.udp) {
        if (n->deps.capture)
            n->deps.capture(n->deps.capture_ctx, dest, data, len);
        return;
    }
    if (dest->transport == SB_UDP) {
        const struct listen_entry *e = &n->deps.listens->entries[dest->local.listen_index];
        outbox_push(n->outbox, dest->fd, &dest->peer, e->wildcard ? &dest->local.addr : NULL, data,
                    len);
        return;
    }
    bool request = len > 4 && memcmp(data, "SIP/", 4) != 0;
    int thread = n->deps.streams ? stream_post(n->deps.streams, dest, data, len, request) : -1;
    if (thread < 0) {
        sb_count(n->deps.counters, SB_CNT_SEND_ERRORS);
        return;
    }
    n->wake[thread] = true;
}

void net_flush(struct net *n)
{
    outbox_flush(n->outbox);
    if (!n->deps.streams)
        return;
    unsigned threads = stream_thread_count(n->deps.streams);
    for (unsigned i = 0; i < threads; i++) {
        if (n->wake[i]) {
            n->wake[i] = false;
            stream_wake(n->deps.streams, i);
        }
    }
}

bool net_conn_alive(const struct net *n, uint64_t conn)
{
    return n->deps.streams && conn && stream_conn_alive(n->deps.streams, conn);
}

bool net_has_transport(const struct net *n, int transport)
{
    return listen_has(n->deps.listens, transport) &&
           (transport == SB_UDP || n->deps.streams != NULL || !n->deps.udp);
}

static int proxy_resolve(void *ctx, struct sb_dest *dest, const struct sb_local *from)
{
    return net_resolve(ctx, dest, from);
}

static bool proxy_conn_alive(void *ctx, uint64_t conn)
{
    return net_conn_alive(ctx, conn);
}

const struct proxy_net_ops net_proxy_ops = {
    .send = net_send,
    .retarget = net_retarget,
    .resolve = proxy_resolve,
    .conn_alive = proxy_conn_alive,
};
