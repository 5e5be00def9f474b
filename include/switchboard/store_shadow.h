/* The shared store's memory of what it wrote, and the three-way merge
 * (store_redis.h: OWNERSHIP AND CONFLICTS, CACHE). Pure: no connection,
 * no threads; the Redis backend calls it from the persister, the unit
 * tests without a server.
 *
 * The shadow of an AoR names the version (Call-ID, CSeq) of each binding
 * this node last knew Redis to hold. When another node changed the AoR,
 * what Redis now holds is merged with the registrar (the node's cache)
 * and the shadow, binding by binding (by hash field):
 *   ours, changed since the shadow      -> kept (its write is queued),
 *     unless Redis holds a later CSeq of its Call-ID (§10.3 step 7)
 *   in Redis and the registrar          -> Redis's (ours keeps its flow
 *                                          when it is the same version)
 *   in Redis only, the shadow's version -> we removed it: stays removed
 *   in Redis only, another version      -> Redis's (a new registration)
 *   in the registrar only, not pending  -> gone (another node removed it) */
#ifndef SWITCHBOARD_STORE_SHADOW_H
#define SWITCHBOARD_STORE_SHADOW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "switchboard/strmap.h"

struct registrar_binding;
struct registrar_set;

/* What this node last knew Redis to hold for one binding of an AoR. */
struct store_shadow_entry {
    char *field; /* its hash field (store_redis_field) */
    char *call_id;
    uint32_t cseq;
};

struct store_shadow {
    struct strmap_link link; /* key: the AoR */
    uint64_t mark;           /* the batch that last wrote it */
    size_t count;
    struct store_shadow_entry e[];
};

/* A shadow naming the version of each of @b[0..n) (NULL when n is 0, or
 * when out of memory: then *@failed is set). */
struct store_shadow *store_shadow_build(const struct registrar_binding *b, size_t n, bool *failed);
void store_shadow_free(struct store_shadow *sh);

/* The entry of @sh for hash field @field, or NULL (also when @sh is). */
const struct store_shadow_entry *store_shadow_entry(const struct store_shadow *sh,
                                                    const char *field);

/* Does @e name @b's version? False when @e is NULL. */
bool store_shadow_same_version(const struct store_shadow_entry *e,
                               const struct registrar_binding *b);

/* An AoR's bindings as read from Redis (node NULL: this node's own). */
struct store_remote_set {
    struct registrar_binding *b;
    size_t count;
};

/* The argument of store_shadow_merge(). */
struct store_shadow_merge {
    const struct store_shadow *sh; /* NULL: nothing written yet */
    const struct store_remote_set *rs;
};

/* registrar_rewrite_fn: the merged bindings of registrar (@old), shadow
 * and Redis into @out[0..room). Returns how many, or SB_ENOMEM. */
int store_shadow_merge(void *arg, const struct registrar_set *old, struct registrar_binding *out,
                       size_t room);

#endif
