/* A worker's way to the network: sends every message through the
 * destination it carries (struct sb_dest, resolved when its target was
 * chosen) and resolves destinations.
 *
 * DESIGN: one net per worker thread, used by that thread only. UDP goes
 * through the worker's outbox (one sendmmsg per socket run); TCP and TLS
 * are handed to the I/O thread owning the connection (stream.h), woken
 * once per loop. Choosing our address for a peer asks the kernel's routing
 * table (a connect()ed probe socket) when there is a choice, and caches the
 * answer for a few seconds: a call between two subnets leaves by the
 * interface facing the callee (RFC 5658). */
#ifndef SWITCHBOARD_NET_H
#define SWITCHBOARD_NET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "switchboard/stats.h"
#include "switchboard/types.h"

struct net;
struct proxy_net_ops;
struct listen_table;
struct transport;
struct stream;
struct sip_trace;

struct net_deps {
    const struct listen_table *listens;
    struct transport *udp;   /* NULL: no sockets, everything goes to ->capture */
    struct stream *streams;  /* NULL: no tcp: or tls: listen address */
    struct sip_trace *trace; /* may be NULL */
    struct sb_counters *counters;
    unsigned worker;
    /* without sockets (unit tests, the fuzzer): what would be sent */
    void (*capture)(void *ctx, const struct sb_dest *dest, const char *data, size_t len);
    void *capture_ctx;
};

int net_create(const struct net_deps *deps, struct net **out);
void net_destroy(struct net *n);

/* Makes @dest ready to send: sets ->local to our address facing ->peer
 * over ->transport (@from: the local end the request came in on, kept
 * when nothing better is known; ->local as it is when NULL), then the UDP
 * socket. Returns 0, or SB_ENOTFOUND when we have no listen address of
 * that transport and family. */
int net_resolve(struct net *n, struct sb_dest *dest, const struct sb_local *from);

/* txn_io.send: puts @data on the wire to @dest. */
void net_send(void *ctx, const struct sb_dest *dest, const char *data, size_t len);
/* txn_io.retarget: the same peer over @transport. */
int net_retarget(void *ctx, struct sb_dest *dest, int transport);

/* Sends what is batched; wakes the I/O threads given work. */
void net_flush(struct net *n);

/* Is stream connection @conn still open? */
bool net_conn_alive(const struct net *n, uint64_t conn);
/* Do we speak @transport (have a listen address of it)? */
bool net_has_transport(const struct net *n, int transport);

/* The proxy's way to the network (proxy.h) over a struct net, which is
 * its ctx. */
extern const struct proxy_net_ops net_proxy_ops;

#endif
