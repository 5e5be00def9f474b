/* Connections and bytes queued per source IP, for the TCP/TLS limits
 * ([tcp] max_per_ip, queue_per_ip_limit): one table shared by the stream
 * I/O threads. A place is taken when a connection is accepted and
 * released when it closes, under one lock (never on the message path);
 * the queued bytes are an atomic the owning thread adds to and any reads.
 * Keyed hashing (sb_hash): a stranger cannot choose colliding addresses. */
#ifndef SWITCHBOARD_STREAM_IPS_H
#define SWITCHBOARD_STREAM_IPS_H

#include <stdatomic.h>

#include "switchboard/types.h"

struct stream_ip {
    struct stream_ip *next;
    struct sb_addr ip;    /* port 0 */
    unsigned count;       /* its connections */
    atomic_size_t queued; /* bytes waiting to be written to them */
};

struct stream_ips;

int stream_ips_create(struct stream_ips **out);
void stream_ips_destroy(struct stream_ips *t);

/* Takes a place for a connection from @peer. Returns NULL when @peer's IP
 * has @max already (or no memory). */
struct stream_ip *stream_ips_take(struct stream_ips *t, const struct sb_addr *peer, unsigned max);

/* Gives back what stream_ips_take() gave (NULL: nothing). */
void stream_ips_release(struct stream_ips *t, struct stream_ip *e);

#endif
