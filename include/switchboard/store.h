/* The registration store: bindings that outlive the process.
 *
 * DESIGN: the registrar (RCU, in memory) stays the only thing SIP threads
 * read. Whenever a REGISTER changes an address-of-record, the registrar's
 * change hook pushes a note naming the AoR onto a bounded wakeq; one
 * persister thread takes the notes, reads each AoR's *current* bindings from
 * the registrar and writes them through a backend in one transaction per
 * batch (write-behind, like Kamailio's usrloc db_mode=2). Because a note
 * only says "this AoR changed", notes may arrive in any order and repeat;
 * the last write always reflects the newest state. A note that cannot be
 * queued (queue full) or a batch the backend refuses (disk full, read-only)
 * is not lost: the persister then rewrites every AoR (a full resync) as
 * soon as the backend works again, retrying once per interval.
 *
 * Threads: store_note() from any thread registered with liburcu (it is the
 * registrar's hook); everything else from main. No SIP thread ever waits on
 * the backend: store_note() allocates and enqueues, nothing more.
 *
 * Backends plug in behind struct store_backend: SQLite (one switchboard)
 * or Redis (several sharing one location service, store_redis.h; there a
 * third kind of note, "another node changed this AoR", reaches the
 * backend's refresh). Times in a backend are wall-clock Unix milliseconds;
 * the registrar's are monotonic, and the persister converts. */
#ifndef SWITCHBOARD_STORE_H
#define SWITCHBOARD_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct registrar;
struct registrar_binding;
struct registrar_set;
struct store;

/* Called by a backend's load for each address-of-record found, with its
 * bindings (expires_at_ms in wall-clock ms). Returns 0 to go on. */
typedef int (*store_load_fn)(void *arg, const char *aor, struct registrar_binding *bindings,
                             size_t count);

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

/* Opens the SQLite backend on @path (WAL mode). An unreadable or corrupt
 * file is moved aside to PATH.corrupt-<timestamp> and a new one started;
 * returns 0, or a negative code when no file can be opened at all (then the
 * caller may retry later). */
int store_sqlite_open(const char *path, struct store_backend *out);

/* Reads @path without writing to it (a store in a read-only place): every
 * binding that expires after @now_wall_ms. Returns 0 or a negative code. */
int store_sqlite_peek(const char *path, uint64_t now_wall_ms, store_load_fn fn, void *arg);

struct store_options {
    const char *spec; /* a file path (SQLite) or redis://HOST[:PORT][/DB] */
    const char *node; /* Redis: this switchboard's name there, unique */
    size_t queue_limit;
    unsigned retry_ms; /* after a failure, retry this often */
    unsigned purge_ms; /* remove expired bindings this often */
    /* When not NULL: receives the proxy's secret key (SECRET_KEY_BYTES),
     * the one kept in the store, made and kept there on first use. */
    unsigned char *secret;
    bool secret_kept; /* out: the key is in the store (else random, not kept) */
    /* A value kept beside the bindings under @meta_key (the users set DND
     * at run time): read at start into *@meta_out (a string to free();
     * NULL when there is none); store_note_meta() keeps a new one; a resync
     * rewrites what @meta_now says it is now (a string it gives away, NULL
     * when out of memory). No size limit but the store's own. */
    const char *meta_key;
    char **meta_out;
    char *(*meta_now)(void *ctx);
    void *meta_ctx;
};

struct store_counters {
    uint64_t notes;     /* changes noted */
    uint64_t written;   /* AoRs written */
    uint64_t batches;   /* transactions committed */
    uint64_t failures;  /* batches the backend refused */
    uint64_t overflows; /* notes that found the queue full (a resync follows) */
    uint64_t resyncs;   /* full rewrites done */
    uint64_t largest;   /* most AoRs written in one ordinary batch */
    uint64_t remote;    /* shared store: AoRs other nodes changed, merged here */
    uint64_t reloads;   /* shared store: full reloads (after reconnecting) */
    bool healthy;       /* the last attempt succeeded */
    bool shared;        /* the backend is shared with other switchboards */
};

/* Opens the store named by @o->spec, loads every unexpired binding into
 * @reg (logging how many and how long it took) and starts the persister.
 * @fix (may be NULL) adjusts each loaded binding before it is stored (the
 * transport maps its local address to a listen index). A store that cannot
 * be opened does not stop start-up: the persister keeps retrying and the
 * proxy serves from memory meanwhile. Returns 0 or SB_ENOMEM/SB_ESYS. */
int store_start(struct store_options *o, struct registrar *reg,
                void (*fix)(void *ctx, struct registrar_binding *b), void *fix_ctx,
                struct store **out);

/* The registrar's change hook: @aor changed. Never blocks. */
void store_note(void *store, const char *aor);

/* A shared store's subscriber: another node changed @aor ("": reload
 * everything). Never blocks; any thread. */
void store_note_remote(void *store, const char *aor);

/* Keeps @value under @key (written by the persister, in order with the
 * binding changes). Never blocks; a note lost to a full queue is made good
 * by the resync that follows. @s may be NULL (no store). */
void store_note_meta(struct store *s, const char *key, const char *value);

/* Writes everything noted, then stops the persister and closes the backend.
 * Call after the workers have stopped. */
void store_stop(struct store *s);

void store_counters(const struct store *s, struct store_counters *out);

/* Monotonic ms -> wall-clock ms offset at this moment. */
int64_t store_wall_offset_ms(void);

#endif
