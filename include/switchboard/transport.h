/* UDP transport: listen sockets and listener threads.
 *
 * DESIGN: each listener thread owns one SO_REUSEPORT socket per listen
 * address, reads datagrams in batches with recvmmsg(), drops keep-alives,
 * parses with libosip2, answers malformed requests with 400 itself, stamps
 * received/rport on requests, and hands each message to the worker its
 * Call-ID hashes to (dispatch.h). Workers send through any of the sockets
 * (transport_socket); sendmsg on a shared UDP socket is thread-safe. */
#ifndef SWITCHBOARD_TRANSPORT_H
#define SWITCHBOARD_TRANSPORT_H

#include <stdbool.h>
#include <stddef.h>

#include "switchboard/config.h"
#include "switchboard/dispatch.h"
#include "switchboard/reasons.h"
#include "switchboard/sip_trace.h"
#include "switchboard/stats.h"
#include "switchboard/types.h"

struct transport;

/* Opens and binds every socket. Returns 0, or a negative code after
 * logging which address failed. */
int transport_create(const struct sb_config *cfg, struct transport **out);
void transport_destroy(struct transport *t);

/* Starts the listener threads, feeding @d. Received datagrams and the
 * listeners' own replies go to @trace; those replies get @reasons' phrases
 * (both may be NULL). */
int transport_start(struct transport *t, struct dispatch *d, struct sip_trace *trace,
                    struct reasons *reasons);
/* Stops reading and joins the listener threads. */
void transport_stop(struct transport *t);

size_t transport_listen_count(const struct transport *t);
/* "udp:HOST:PORT" as bound (the real port when 0 was asked). */
const char *transport_listen_name(const struct transport *t, size_t index);
/* A socket of listen address @index, spread over @worker. */
int transport_socket(const struct transport *t, unsigned index, unsigned worker);
/* Is listen address @index a wildcard (0.0.0.0 / ::)? */
bool transport_is_wildcard(const struct transport *t, unsigned index);

/* Makes @local name one of our listen addresses (a binding loaded from the
 * store may predate a change of listen addresses): keeps its index when
 * that listen address is still the same, or a wildcard of the same family
 * and port; else picks the first listen address of the same family.
 * Returns 0 or SB_ENOTFOUND (no address of that family at all). */
int transport_local_resolve(const struct transport *t, struct sb_local *local);

/* Adds the listener threads' counters into @total. */
void transport_counters(const struct transport *t, uint64_t total[SB_CNT_COUNT]);

#endif
