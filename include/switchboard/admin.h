/* The admin plane: an HTTP endpoint (libmicrohttpd) on its own thread, never
 * on a SIP worker, serving /metrics (Prometheus), a JSON API under /api/
 * and the live page at /.
 *
 * DESIGN: it only reads what the SIP threads publish for it: per-thread
 * counters and histograms (relaxed loads), the registrar (RCU readers),
 * each worker's view of its calls (an RCU pointer, at most 200 ms old),
 * queue depths. Unregistering a user goes through registrar_update like a
 * REGISTER with Contact: *, so the store persists it. A slow client holds
 * up only the admin thread. */
#ifndef SWITCHBOARD_ADMIN_H
#define SWITCHBOARD_ADMIN_H

#include <stdint.h>

struct admin;
struct trunk_plan;
struct sb_buf;
struct sb_config;
struct listen_table;
struct registrar;
struct worker_pool;
struct transport;
struct stream;
struct dispatch;
struct async_file;
struct store;
struct dialplan_holder;

/* What the admin plane reads. Everything but config, listens, registrar
 * and workers may be NULL. */
struct admin_deps {
    const struct sb_config *config;
    const struct listen_table *listens;
    struct registrar *registrar;
    struct worker_pool *workers;
    struct transport *transport;
    struct stream *streams;
    struct dispatch *dispatch;
    struct async_file *journal;
    struct store *store;
    struct dialplan_holder *plans;   /* do-not-disturb at run time */
    const struct trunk_plan *trunks; /* trunks and their registrations; NULL: none */
    int64_t started_ms;              /* wall clock */
};

/* Starts serving on [admin] listen. Refuses (SB_EINVAL, with a message)
 * a non-loopback address without a token, and reports a port it cannot
 * bind. With listen = none, *out is NULL and 0 is returned. */
int admin_start(const struct admin_deps *deps, struct admin **out);
/* "http://127.0.0.1:8060/", for the ready line. */
const char *admin_url(const struct admin *a);
void admin_stop(struct admin *a);

/* The Prometheus text exposition of everything counted (metrics.c). */
void metrics_render(const struct admin_deps *deps, struct sb_buf *b);

#endif
