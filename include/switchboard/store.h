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
 * Backends plug in behind struct store_backend (store_backend.h): SQLite (one switchboard)
 * or Redis (several sharing one location service, store_redis.h; there a
 * third kind of note, "another node changed this AoR", reaches the
 * backend's refresh). Times in a backend are wall-clock Unix milliseconds;
 * the registrar's are monotonic, and the persister converts.
 *
 * DOCUMENTS: the event state a restart must not lose (what phones
 * published of their presence, the subscriptions this node serves) is
 * kept beside the bindings as documents, KEY -> VALUE text with a
 * wall-clock expiry, of the kinds store_options.docs names. Their owner
 * notes each change (store_note_doc: the value goes with the note, so
 * nothing is read back from the owner); the persister writes it in order
 * with the rest. At start every live document is read and kept until its
 * owner takes it (store_docs_take). In a shared store a change to a
 * shared kind is announced; the other nodes' persisters read it back and
 * hand it to the kind's watcher (store_docs_watch); after the feed was
 * lost, every document of the shared kinds is read back for it. A
 * resync (a note lost to a full queue, a batch refused) rewrites in its
 * transaction every kind that has a source (store_docs_source: all its
 * documents now), this node's removed first; it then moves
 * store_docs_epoch(), and
 * the owner of a kind without a source notes all its documents again
 * (until then one removed meanwhile lingers: the subscriptions, whose
 * owners are the SIP threads, which the persister must not wait on). */
#ifndef SWITCHBOARD_STORE_H
#define SWITCHBOARD_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "switchboard/store_backend.h"

struct registrar;
struct registrar_binding;
struct store;

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
    /* The kinds of documents kept (DOCUMENTS), numbered by their index
     * here; the array must outlive the store. */
    const struct store_doc_kind *docs;
    size_t doc_count;
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

/* Keeps @value (NULL: removes it) as document @key of kind @kind, until
 * @expires_wall_ms (Unix ms). Never blocks; @s may be NULL. */
void store_note_doc(struct store *s, unsigned kind, const char *key, const char *value,
                    uint64_t expires_wall_ms);

/* Hands the documents of @kind read at start to @fn and forgets them
 * (main, before anything is served; once). */
void store_docs_take(struct store *s, unsigned kind, store_doc_fn fn, void *arg);

/* A shared kind: @fn hears of each document another node changed (from
 * the persister; value NULL: removed). Set before anything is served. */
void store_docs_watch(struct store *s, unsigned kind, store_doc_fn fn, void *arg);

/* Hands every document of a kind now to @emit (store_doc_fn) with
 * @emit_arg; returns what @emit returned when not 0. */
typedef int (*store_docs_each_fn)(void *arg, store_doc_fn emit, void *emit_arg);

/* How a resync rewrites @kind: @each, called from the persister (it must
 * not wait on what SIP threads hold for long). Set before serving. */
void store_docs_source(struct store *s, unsigned kind, store_docs_each_fn each, void *arg);

/* Moves after every resync (DOCUMENTS). Any thread; @s may be NULL. */
uint64_t store_docs_epoch(struct store *s);

/* Writes everything noted, then stops the persister and closes the backend.
 * Call after the workers have stopped. */
void store_stop(struct store *s);

void store_counters(const struct store *s, struct store_counters *out);

#endif
