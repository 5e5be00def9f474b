/* The listen addresses: every udp:, tcp: and tls: HOST:PORT of the
 * configuration, in its order. A listen index (struct sb_local) names one
 * of them whatever its transport.
 *
 * DESIGN: filled in at start-up by one thread (listen_table_init, then each
 * transport notes the port it was given), read-only once threads start. */
#ifndef SWITCHBOARD_LISTEN_H
#define SWITCHBOARD_LISTEN_H

#include <stdbool.h>
#include <stddef.h>

#include "switchboard/config.h"
#include "switchboard/types.h"

struct listen_entry {
    uint8_t transport; /* enum sb_transport */
    bool wildcard;     /* 0.0.0.0 or :: */
    struct sb_addr addr;
    char name[300]; /* "tcp:127.0.0.1:5060", "udp:[::1]:5070" as bound */
};

struct listen_table {
    size_t count;
    struct listen_entry entries[SB_MAX_LISTEN];
};

/* Parses and resolves every listen address of @cfg. Returns 0 or a
 * negative code after logging which one is wrong. */
int listen_table_init(struct listen_table *t, const struct sb_config *cfg);

/* After binding: @e->addr holds the address as bound; renames it. */
void listen_entry_bound(struct listen_entry *e);

/* Is there a listen address of @transport? */
bool listen_has(const struct listen_table *t, int transport);

/* Makes @local name a listen address of @transport that can send from its
 * IP: keeps its index when that one fits; else one of @transport serving
 * that IP (the same address, or a wildcard of its family), taking its
 * port; else the first one of @transport and the family, taking its
 * address (or just its port, for a wildcard). Used when a message changes
 * transport and when a binding from the store predates a change of listen
 * addresses. Returns 0 or SB_ENOTFOUND (no such transport and family). */
int listen_local_resolve(const struct listen_table *t, int transport, struct sb_local *local);

/* Sets a socket's own options before it is bound (buffers, PKTINFO,
 * V6ONLY). Returns 0, or a negative code after logging. */
typedef int (*listen_prepare_fn)(int fd, const struct listen_entry *e);

/* The one listen opener (HAProxy's shared receiver binding): @count
 * sockets of @type (SOCK_DGRAM, or SOCK_STREAM then listen(); may add
 * SOCK_NONBLOCK) on @e's
 * address with SO_REUSEPORT, one per receiving thread, into @fds. First
 * makes sure nobody holds the port (SO_REUSEPORT would let a second
 * switchboard take half the traffic); a kernel-chosen port (0) is learnt
 * from the first socket and shared by the rest, and @e renamed. Returns 0,
 * or SB_ESYS after logging, with @fds all -1. */
int listen_open_group(struct listen_entry *e, int type, unsigned count, int *fds,
                      listen_prepare_fn prepare);

#endif
