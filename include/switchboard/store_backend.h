/* The interface every store backend implements (Kamailio srdb1's
 * db_func_t is the model), and what backends share: the list of AoR names
 * and the wall-clock offset. The persister (store.h) calls a backend from
 * its own thread only; a backend includes this header, never store.h.
 *
 * Backends: SQLite (store_sqlite.h, one switchboard) and Redis
 * (store_redis.h, several sharing one location service). A new one is a
 * file in src/store/ filling struct store_backend_ops, opened by store.c. */
#ifndef SWITCHBOARD_STORE_BACKEND_H
#define SWITCHBOARD_STORE_BACKEND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct registrar_binding;
struct registrar_set;

/* Called by a backend's load for each address-of-record found, with its
 * bindings (expires_at_ms in wall-clock ms). Returns 0 to go on. */
typedef int (*store_load_fn)(void *arg, const char *aor, struct registrar_binding *bindings,
                             size_t count);

/* A kind of document kept beside the bindings (store.h: DOCUMENTS): a
 * table of KEY -> VALUE (text) with a wall-clock expiry. A shared kind is
 * one table every node of a shared store writes (what phones published);
 * any other is this node's own (the subscriptions it serves). */
struct store_doc_kind {
    const char *name; /* [a-z]+ */
    bool shared;
};

/* Called for each document read (@value NULL: there is none, or it
 * expired). Returns 0 to go on. */
typedef int (*store_doc_fn)(void *arg, const char *key, const char *value,
                            uint64_t expires_wall_ms);

/* What a backend does; @be is its own state. Every function but close
 * returns 0 or a negative SB_E* code. */
struct store_backend_ops {
    const char *name;
    /* Every binding that expires after @now_wall_ms, grouped by AoR. */
    int (*load)(void *be, uint64_t now_wall_ms, store_load_fn fn, void *arg);
    int (*begin)(void *be);
    /* Replaces @aor's bindings with @set's (NULL or empty: removes @aor).
     * @wall_offset_ms turns the set's monotonic times into wall-clock. */
    int (*put)(void *be, const char *aor, const struct registrar_set *set, int64_t wall_offset_ms);
    /* Removes every binding (the start of a full resync). */
    int (*clear)(void *be);
    int (*commit)(void *be);
    void (*rollback)(void *be);
    /* Removes bindings that expired before @now_wall_ms. */
    int (*purge)(void *be, uint64_t now_wall_ms);
    /* A value kept beside the bindings (the proxy's secret): get returns
     * its length, SB_ENOTFOUND or an error; put replaces it. */
    long (*get_meta)(void *be, const char *key, void *buf, size_t size);
    int (*put_meta)(void *be, const char *key, const void *value, size_t len);
    /* Shared stores (may be NULL): another node changed @aor ("": maybe
     * anything); read it back into the registrar once the batch commits. */
    int (*refresh)(void *be, const char *aor);
    /* Documents of @kind: every one that expires after @now_wall_ms (a
     * kind of our own: this node's only); one (@key; @fn gets NULL when
     * it is gone or expired); replace one (@value NULL: remove it), and
     * remove every one of this node's (a shared store's shared kind:
     * nothing, they are every node's), both inside a transaction. */
    int (*load_docs)(void *be, const struct store_doc_kind *kind, uint64_t now_wall_ms,
                     store_doc_fn fn, void *arg);
    int (*read_doc)(void *be, const struct store_doc_kind *kind, const char *key,
                    uint64_t now_wall_ms, store_doc_fn fn, void *arg);
    int (*put_doc)(void *be, const struct store_doc_kind *kind, const char *key, const char *value,
                   uint64_t expires_wall_ms);
    int (*clear_docs)(void *be, const struct store_doc_kind *kind);
    void (*close)(void *be);
};

/* A growing list of AoR names, for walks that must not hold rcu_read_lock
 * while they write (the persister's, a backend's). */
struct store_names {
    char **v;
    size_t n, cap;
    bool failed; /* a name could not be kept */
};
/* Adds @aor to the list @arg (a registrar_foreach_aor callback). */
void store_names_add(void *arg, const char *aor);
void store_names_free(struct store_names *l);

struct store_backend {
    const struct store_backend_ops *ops;
    void *be;
};

/* Monotonic ms -> wall-clock ms offset at this moment. */
int64_t store_wall_offset_ms(void);

#endif
