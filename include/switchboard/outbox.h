/* A worker's outgoing datagrams, gathered while it handles a batch and put
 * on the wire with one sendmmsg() per socket run. Owned by one thread. */
#ifndef SWITCHBOARD_OUTBOX_H
#define SWITCHBOARD_OUTBOX_H

#include <stddef.h>

#include "switchboard/stats.h"
#include "switchboard/types.h"

struct outbox;

int outbox_create(struct sb_counters *counters, struct outbox **out);
void outbox_destroy(struct outbox *box);

/* Queues a copy of @data for @dst on socket @fd. With @src set (a socket
 * bound to a wildcard address) the datagram leaves from that IP. Flushes
 * first when full. */
void outbox_push(struct outbox *box, int fd, const struct sb_addr *dst, const struct sb_addr *src,
                 const char *data, size_t len);

/* Sends everything queued. Returns how many datagrams went out. */
size_t outbox_flush(struct outbox *box);

#endif
