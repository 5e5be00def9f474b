/* The Redis backend of the registration store: several switchboards share
 * one location service.
 *
 * DATA MODEL (Flexisip's): one hash per address-of-record,
 *     sb:aor:<aor>    field "i:<+sip.instance>" or "u:<contact URI>" -> binding
 * whose value is a row of netstrings (store_redis_encode). The key expires
 * (PEXPIREAT) with its latest binding. Each AoR's change is one Lua script,
 * queued with the rest of the batch inside MULTI/EXEC, that compares what it
 * writes with what is stored and PUBLISHes "<node>\n<aor>" on
 * sb:changes:<db> when anything changed. Values kept beside the bindings
 * (the proxy's secret, the DND list) are strings sb:meta:<key>, shared by
 * every node. Documents (store.h: DOCUMENTS) are hash fields, the value
 * "<expires wall ms> <text>": a shared kind's in sb:doc:<kind>, which
 * every node writes (a change is PUBLISHed "<node>\n<kind>\n<key>" on
 * sb:docs:<db>), a kind of our own in sb:doc:<kind>:<node>.
 *
 * OWNERSHIP AND CONFLICTS: a node writes the bindings its own REGISTERs
 * made (the node field names it) and deletes the ones it saw removed; it
 * never rewrites a binding another node made, so two nodes changing one AoR
 * at once each keep their own field. For one binding, a write with the
 * stored Call-ID and a lower CSeq is refused (RFC 3261 §10.3 step 7, checked
 * against what is stored); another Call-ID replaces it (§10.3: a new
 * registration). A node knows what it removed by comparing the registrar
 * with its shadow: the version (Call-ID, CSeq) of every binding it last knew
 * Redis to hold. A delete applies only while the stored binding is still
 * that version (compare and delete), so it never removes a newer one.
 *
 * CACHE: every node's registrar is its cache of the whole service; SIP
 * threads read only that. A subscriber thread listens on the channel and
 * hands each AoR another node changed to the persister (params->remote),
 * which reads the hash and merges it three ways — registrar, shadow, Redis —
 * so that local changes not yet written survive: a binding this node
 * changed since the shadow is kept (its write is queued), one it removed
 * stays removed, everything else is what Redis says.
 *
 * Connection, as the persister sees it:
 *   down --connect (after the back-off: 100 ms doubling to 5 s)--> up
 *   up --I/O error or timeout--> down (the store then resyncs: it rewrites
 *      this node's bindings and reloads everything once up again)
 * Threads: the ops run on the store's persister thread only; the
 * subscriber thread only reads its own connection and calls params->remote. */
#ifndef SWITCHBOARD_STORE_REDIS_H
#define SWITCHBOARD_STORE_REDIS_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct registrar;
struct registrar_binding;
struct store_backend;

struct store_redis_params {
    struct registrar *reg; /* the cache the persister merges into */
    const char *node;      /* this switchboard's name in the store, unique */
    /* adjusts a binding read from Redis before it is cached (may be NULL) */
    void (*fix)(void *ctx, struct registrar_binding *b);
    void *fix_ctx;
    /* another node changed @aor; "" asks for a full reload. Any thread. */
    void (*remote)(void *ctx, const char *aor);
    /* another node changed document @key of the shared kind @kind */
    void (*remote_doc)(void *ctx, const char *kind, const char *key);
    void *remote_ctx;
    unsigned timeout_ms; /* for every command; 0: 1000 */
    /* counted here (the store's, read by other threads) */
    atomic_uint_fast64_t *merged;  /* AoRs read back from Redis and merged */
    atomic_uint_fast64_t *reloads; /* full reloads */
};

/* Opens the backend for @url (it connects now and, when it cannot, again
 * later) and starts the subscriber. Returns 0, SB_EINVAL (a bad URL) or
 * SB_ENOMEM/SB_ESYS. */
int store_redis_open(const char *url, const struct store_redis_params *p,
                     struct store_backend *out);

#endif
