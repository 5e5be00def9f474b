/* UDP transport: listen sockets and listener threads.
 *
 * DESIGN: each listener thread owns one SO_REUSEPORT socket per listen
 * address, reads datagrams in batches with recvmmsg(), drops keep-alives,
 * parses with libosip2, answers malformed requests with 400 itself, stamps
 * received/rport on requests, and hands each message to the worker its
 * Call-ID hashes to (dispatch.h). Workers send through any of the sockets
 * (transport_socket, resolved into a struct sb_dest by net.h); sendmsg on
 * a shared UDP socket is thread-safe.
 *
 * With one listener and one worker there is no listener thread: the worker
 * reads the sockets itself and handles each message as it is parsed (run
 * to completion), so a message never waits for a thread switch, which on
 * a single CPU costs more than handling it. */
#ifndef SWITCHBOARD_TRANSPORT_UDP_H
#define SWITCHBOARD_TRANSPORT_UDP_H

#include <stdbool.h>
#include <stddef.h>

#include "switchboard/config.h"
#include "switchboard/dispatch.h"
#include "switchboard/reasons.h"
#include "switchboard/sip_trace.h"
#include "switchboard/stats.h"
#include "switchboard/types.h"

struct transport;
struct listen_table;
struct pollfd;

/* Opens and binds a socket per listener thread for every UDP address of
 * @listens, noting in it the ports the kernel chose. Returns 0, or a
 * negative code after logging which address failed. */
int transport_create(const struct sb_config *cfg, struct listen_table *listens,
                     struct transport **out);
void transport_destroy(struct transport *t);

/* Starts the listener threads, feeding @d. Received datagrams and the
 * listeners' own replies go to @trace; those replies get @reasons' phrases
 * (both may be NULL). */
int transport_start(struct transport *t, struct dispatch *d, struct sip_trace *trace,
                    struct reasons *reasons);
/* Stops reading and joins the listener threads. */
void transport_stop(struct transport *t);

/* Listener @worker's socket of UDP listen address @index (any of them
 * sends; spreading workers over them spreads the kernel's socket locks),
 * or -1 when @index is not a UDP listen address. */
int transport_socket(const struct transport *t, unsigned index, unsigned worker);

/* Whether the worker reads the sockets (one listener, one worker). */
bool transport_inline(const struct transport *t);
/* Inline mode, the worker's thread only: reads every datagram waiting
 * (non-blocking) and hands each parsed message to @fn, which takes it;
 * does nothing before transport_start or after transport_stop. */
typedef void (*transport_inline_fn)(void *ctx, struct sb_inbound *in);
/* @polled: NULL, or what transport_inline_fds gave with poll()'s
 * revents, and only the sockets it found readable are read (a wake-up
 * by one socket costs no recvmmsg on the others to hear EAGAIN). */
void transport_inline_drain(struct transport *t, transport_inline_fn fn, void *ctx,
                            const struct pollfd *polled);
/* Inline mode: the sockets to wait on (POLLIN), at most @max; none
 * before transport_start or after transport_stop. */
size_t transport_inline_fds(const struct transport *t, struct pollfd *out, size_t max);

/* Adds the listener threads' counters into @total. */
void transport_counters(const struct transport *t, uint64_t total[SB_CNT_COUNT]);

#endif
