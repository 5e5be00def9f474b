/* An rtpengine ng client owned by one worker: it sends a request and
 * carries on; the reply (or the give-up) comes back as a callback from
 * the worker's own loop, so no SIP thread ever waits on an engine.
 *
 * One connected UDP socket per engine (the kernel drops datagrams from
 * anyone else), polled by the worker with its other sockets; retries by
 * the worker's timer wheel with the same cookie (the engine answers a
 * repeat from its cache).
 *
 * A request:  SENT --reply--> done(0, reply)
 *             SENT (unhurried) --NG_UNHURRIED_MS--> SENT (its reply read if
 *                  in, else the worker polls for it as for any other)
 *             SENT --timeout, tries left--> SENT (sent again)
 *             SENT --last timeout--> done(SB_ETIMEDOUT); its engine DOWN
 *             any --ng_client_cancel--> gone, done never called
 * An engine:  UP --a request given up--> DOWN --any answer--> UP;
 *             while DOWN it is pinged every ping_ms by the client that
 *             gave up; DOWN is shared by every worker's client (ng_health). */
#ifndef SWITCHBOARD_NG_CLIENT_H
#define SWITCHBOARD_NG_CLIENT_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "switchboard/ng.h"

struct pollfd;
struct sb_histogram;
struct sb_buf;
struct timer_wheel;
struct ng_client;
struct proxy_media_ops;

/* Which engines are out of new calls, shared by the clients of every
 * worker: what one learns (a request given up, a ping answered) all
 * act on. Zeroed: all in. */
struct ng_health {
    atomic_bool out[NG_MAX_ENGINES];
};

struct ng_client_config {
    unsigned timeout_ms;          /* before the first retry; doubles; 0: 500 */
    unsigned tries;               /* sends in all; 0: 3 */
    unsigned ping_ms;             /* a DOWN engine's pings; 0: 2000 */
    struct ng_health *health;     /* shared by the workers' clients; NULL: its own */
    struct sb_histogram *latency; /* each answer's wait (stats.h); NULL: none */
};

/* Opens a socket to each of @e[0..n) (copied). Returns 0 or a negative
 * code after logging. */
int ng_client_create(const struct ng_engine *e, size_t n, struct timer_wheel *wheel,
                     uint32_t instance, const struct ng_client_config *cfg, struct ng_client **out);
/* Frees every pending request without calling it back. */
void ng_client_destroy(struct ng_client *c);

/* The sockets to poll for POLLIN, into @out[0..max). Returns how many. */
size_t ng_client_fds(const struct ng_client *c, struct pollfd *out, size_t max);

/* Sends @body (one bencoded dictionary, without a cookie) to engine
 * @engine; @done(@arg) follows. Returns 0 and the request's id in *@id
 * (for ng_client_cancel), or a negative code (then @done is not called):
 * SB_ELIMIT when it cannot go in one datagram (the engine is not blamed). */
int ng_client_send(struct ng_client *c, unsigned engine, const struct sb_buf *body,
                   enum ng_pace pace, ng_done_fn done, void *arg, uint64_t *id);

/* Forgets request @id (its caller's state is gone); a later reply is
 * dropped. */
void ng_client_cancel(struct ng_client *c, uint64_t id);

/* Reads every reply waiting on the sockets and calls each back; with
 * @polled (what ng_client_fds gave, with poll()'s revents) only on the
 * sockets it found readable. */
struct pollfd;
void ng_client_read(struct ng_client *c, const struct pollfd *polled);

/* Engine @i is answering (not DOWN). */
bool ng_client_up(const struct ng_client *c, unsigned i);

/* Which engines are up, into @up[0..n) (for ng_engine_pick). */
void ng_client_up_set(const struct ng_client *c, bool *up);

/* Requests waiting for a reply, and pings: the worker reads the sockets
 * while there are any. */
size_t ng_client_pending(const struct ng_client *c);

/* Of those, the NG_UNHURRIED ones under NG_UNHURRIED_MS old: when all
 * are, the worker does not poll the sockets, only reads them each time
 * it wakes for something else. */
size_t ng_client_unhurried(const struct ng_client *c);

/* The client as the proxy uses it (proxy.h), with the client as ctx. */
extern const struct proxy_media_ops ng_client_proxy_ops;

#endif
