/* The proxy core (RFC 3261 §16): the transaction user that routes
 * requests, forks to registered contacts, picks the best response, handles
 * CANCEL and Timer C, and forwards what needs no state (ACK for 2xx, stray
 * responses) statelessly.
 *
 * DESIGN: one proxy per worker thread, owning that worker's transaction
 * layer; it sees only messages whose Call-ID hashes to its worker. The
 * registrar is the only state it shares with other workers. */
#ifndef SWITCHBOARD_PROXY_H
#define SWITCHBOARD_PROXY_H

#include "switchboard/async_file.h"
#include "switchboard/config.h"
#include "switchboard/identity.h"
#include "switchboard/ng.h"
#include "switchboard/reasons.h"
#include "switchboard/registrar.h"
#include "switchboard/stats.h"
#include "switchboard/timer_wheel.h"
#include "switchboard/transaction.h"
#include "switchboard/types.h"

struct proxy;
struct dialplan_holder;
struct call_journal;
struct auth;
struct secret;
struct sb_buf;
struct trunk_plan;
struct trunk_targets;
struct dialog_watch;
struct call_index;
struct pickup_board;
struct presence_state;

/* How the proxy reaches the network, handed in (net.h's net_proxy_ops in
 * the program, over a net that captures in the unit tests and the
 * fuzzer): the transaction layer's send and retarget (txn_io), and what
 * the proxy itself asks of it. Every call gets the env's net_ctx. */
struct proxy_net_ops {
    void (*send)(void *ctx, const struct sb_dest *dest, const char *data, size_t len);
    int (*retarget)(void *ctx, struct sb_dest *dest, int transport);
    /* Makes @dest ready to send: our address facing ->peer (@from: the
     * local end a request came in on; may be NULL). Returns 0 or
     * SB_ENOTFOUND (no listen address of that transport and family). */
    int (*resolve)(void *ctx, struct sb_dest *dest, const struct sb_local *from);
    /* Is stream connection @conn still open? */
    bool (*conn_alive)(void *ctx, uint64_t conn);
};

/* The worker's rtpengine client (ng_client.h) as the proxy sees it
 * (media.h): a request is sent and the worker carries on; @done follows
 * from the worker's loop. Engines are numbered as [media] rtpengine
 * lists them. */
struct proxy_media_ops {
    int (*send)(void *ctx, unsigned engine, const struct sb_buf *body, enum ng_pace pace,
                ng_done_fn done, void *arg, uint64_t *id);
    void (*cancel)(void *ctx, uint64_t id);
    /* the engine for a new call keyed @key (its Call-ID), by weight
     * among those answering; -1 when none does */
    int (*pick)(void *ctx, const char *key, size_t len);
    /* the engine a Route's ;sbm= names ("ADDRESS:PORT"), -1 if none */
    int (*find)(void *ctx, const char *name);
    /* its name for ;sbm= */
    const char *(*name)(void *ctx, unsigned engine);
};

/* What the proxy keeps in the store (store.h: DOCUMENTS), numbered as
 * the store's kinds are: what phones published of their presence (every
 * node's: key "USER ETAG", presence_state.h) and the subscriptions this
 * node serves (its own: key "Call-ID;from-tag", sub_record.h). */
enum proxy_doc { PROXY_DOC_PRESENCE, PROXY_DOC_SUBSCRIPTION, PROXY_DOC_KINDS };

/* Keeps document @key of @kind (@value NULL: removes it) until
 * @expires_wall_ms (Unix ms). Must never block. */
typedef void (*proxy_keep_fn)(void *ctx, enum proxy_doc kind, const char *key, const char *value,
                              uint64_t expires_wall_ms);

/* What a worker's proxy needs from the rest of the process. */
struct proxy_env {
    const struct sb_config *config;
    struct registrar *registrar;
    const struct identity *identity;
    struct timer_wheel *wheel;
    const struct proxy_net_ops *net; /* the worker's way to the network... */
    void *net_ctx;                   /* ...and what its calls get */
    struct sb_counters *counters;
    struct reasons *reasons;       /* may be NULL */
    struct async_file *journal;    /* may be NULL */
    struct auth *auth;             /* NULL: nobody is challenged */
    const struct secret *secret;   /* signs our Record-Routes */
    struct dialplan_holder *plans; /* the office's dial plan; NULL: none */
    struct trunk_plan *trunks;     /* trunks, [outbound], [inbound]; NULL: none */
    /* bit i: this worker runs trunk i's registration (its Call-ID,
     * trunk_reg_call_id(), hashes here) */
    uint32_t trunk_mask;
    /* this worker pings phones behind NAT ([registrar] nat_keepalive):
     * the pings' Call-ID, proxy_natping_call_id(), hashes here */
    bool nat_ping;
    /* where a domain of somebody else's is ([proxy] relay = yes), per
     * RFC 3263 (resolver.h's resolver_query: 0, SB_EAGAIN while the
     * answer is being looked up, SB_ENOTFOUND); NULL: names refused */
    int (*dns_query)(void *ctx, const char *host, unsigned port, int transport, bool transport_set,
                     struct trunk_targets *out);
    void *dns_ctx;
    const struct proxy_media_ops *media; /* NULL: no [media] rtpengine */
    void *media_ctx;
    /* the users watched by subscriptions to the dialog event package
     * (dialog_watch.h), shared by every worker; NULL: SUBSCRIBEs are
     * routed to the phones as any request */
    struct dialog_watch *watch;
    /* the calls this process routes, shared by every worker
     * (call_index.h): an INVITE with Replaces for one of them goes to the
     * user's own devices; NULL: routed as any INVITE */
    struct call_index *call_index;
    /* the calls ringing now (pickup_board.h), shared by every worker, for
     * [features] pickup; NULL: no call can be picked up */
    struct pickup_board *pickup;
    /* what phones published of their users' presence (RFC 3903),
     * shared by every worker; NULL: PUBLISH is answered 404 */
    struct presence_state *presence;
    /* keeps published presence and subscriptions for a restart and the
     * other nodes (NULL: memory only) */
    proxy_keep_fn keep;
    void *keep_ctx;
    /* moves when the store lost track of what was kept (after its
     * resync): every subscription is kept again. May be NULL. */
    uint64_t (*keep_epoch)(void *ctx);
    /* this process among all that share the secret (random, the same in
     * every worker): marks the Routes of the dialogs it tracks
     * (dialog.h); 0: track none */
    uint32_t instance;
};

/* The bounds of the dialog event package (proxy_env.watch): users
 * watched at once, subscriptions to one user, and from one address (a
 * receptionist's console with a key per colleague stays well inside). */
#define PROXY_WATCH_MAX_USERS 10000
#define PROXY_WATCH_PER_USER 100
#define PROXY_WATCH_PER_SOURCE 200
/* Calls ringing at once that a pickup can find (proxy_env.pickup). */
#define PROXY_PICKUP_MAX_RINGING 4096
/* Users with published presence at once, and devices publishing for one. */
#define PROXY_PRESENCE_MAX_USERS 10000
#define PROXY_PRESENCE_PER_USER 8

int proxy_create(const struct proxy_env *env, struct proxy **out);
/* The Call-ID every keep-alive of process @instance to a phone behind
 * NAT carries (the worker it hashes to sends them). */
void proxy_natping_call_id(uint32_t instance, char *buf, size_t size);
/* Drops every transaction (shutdown). */
void proxy_destroy(struct proxy *p);

/* A subscription kept from before a restart (PROXY_DOC_SUBSCRIPTION, key
 * @key) served again by @p, the worker its Call-ID hashes to: a NOTIFY
 * with full state goes out at once. Before the worker runs. Returns 0,
 * or SB_EMALFORMED/SB_ELIMIT/SB_ENOMEM when it is dropped. */
int proxy_notify_restore(struct proxy *p, const char *key, const char *value,
                         uint64_t expires_wall_ms);

/* Messages are handled in two passes over each batch read together:
 * proxy_accept() on each in order, then proxy_handle() on each in the same
 * order. The first pass only opens new INVITEs' transactions and queues
 * their 100 (Trying); it returns true when it did. A caller handling one
 * message at a time may skip it. proxy_handle() takes @in. */
bool proxy_accept(struct proxy *p, struct sb_inbound *in);
void proxy_handle(struct proxy *p, struct sb_inbound *in);

/* The calls this proxy follows (call_journal.h); the worker publishes them. */
struct call_journal *proxy_calls(struct proxy *p);

/* Live transactions, for stats and tests. */
size_t proxy_transaction_count(const struct proxy *p);

#endif
