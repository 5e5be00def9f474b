/* The registration store's persister thread. See the DESIGN note in
 * store.h.
 *
 * States of the backend, as the persister sees it:
 *   closed --open ok--> open (a resync follows if anything was missed)
 *   open --a batch fails--> open + resync pending, retried every retry_ms
 *   open --resync or batch ok--> open, healthy
 * A backend that cannot even be opened stays closed; the persister tries
 * again every retry_ms and notes meanwhile only mark a resync. */
#include "switchboard/store.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <urcu.h>

#include "switchboard/error.h"
#include "switchboard/log.h"
#include "switchboard/registrar.h"
#include "switchboard/secret.h"
#include "switchboard/store_backend.h"
#include "switchboard/store_redis.h"
#include "switchboard/store_sqlite.h"
#include "switchboard/types.h"
#include "switchboard/wakeq.h"

#define META_MAX (16u << 20) /* the longest value read back (16 MiB) */

#define BATCH_MAX 4096 /* AoRs per transaction */

/* What a note says: an AoR changed here, a value kept beside the
 * bindings changed (aor holds the key, then the value after its NUL), or
 * another node changed an AoR in a shared store ("": maybe anything); a
 * document changed here (key, then value unless removed) or there. */
enum note_kind { NOTE_AOR, NOTE_META, NOTE_REMOTE, NOTE_DOC, NOTE_REMOTE_DOC };

struct note {
    struct cds_wfcq_node node;
    enum note_kind kind;
    unsigned doc_kind;   /* NOTE_DOC, NOTE_REMOTE_DOC */
    bool removed;        /* NOTE_DOC: no value */
    uint64_t expires_ms; /* NOTE_DOC: wall-clock */
    struct note *later;  /* NOTE_REMOTE_DOC: the next read back after the batch */
    char aor[];
};

/* A document read at start, kept until its owner takes it. */
struct loaded_doc {
    char *key, *value;
    uint64_t expires_ms;
    unsigned kind;
};

/* A kind's watcher (shared stores) and its source (resyncs). */
struct doc_watch {
    store_doc_fn fn;
    void *arg;
    store_docs_each_fn each;
    void *each_arg;
};

struct store {
    char *spec, *node;
    struct store_options opts;
    struct registrar *reg;
    void (*fix)(void *ctx, struct registrar_binding *b);
    void *fix_ctx;
    struct wakeq *queue;
    struct store_backend backend; /* ops NULL while closed */
    pthread_t thread;
    bool thread_started;
    atomic_bool resync;
    atomic_bool healthy;
    atomic_uint_fast64_t notes, written, batches, failures, overflows, resyncs, largest;
    atomic_uint_fast64_t remote, reloads; /* kept by a shared backend */
    atomic_uint_fast64_t docs_epoch;      /* resyncs done: owners note again */
    struct loaded_doc *loaded;            /* main only, until taken */
    size_t nloaded, loaded_cap;
    struct doc_watch *watch;    /* one per kind, under watch_lock: set by main */
    pthread_mutex_t watch_lock; /* while the persister already runs */
    /* persister only */
    uint64_t next_retry_ms, next_purge_ms;
    struct sb_log_limiter fail_log;
};

static void report_failure(struct store *s, const char *what, int rc)
{
    atomic_fetch_add(&s->failures, 1);
    atomic_store(&s->healthy, false);
    uint64_t more;
    if (sb_log_limiter_ready(&s->fail_log, sb_now_ms(), &more))
        SB_ERROR("store %s: %s failed: %s; serving from memory, retrying every %u ms "
                 "(%llu more failures since the last report)",
                 s->spec, what, sb_strerror(rc), s->opts.retry_ms, (unsigned long long)more);
}

/* --- opening and loading -------------------------------------------------- */

static bool is_redis(const char *spec)
{
    return strncmp(spec, "redis://", 8) == 0;
}

static void note_remote_doc(void *arg, const char *kind, const char *key);

static int backend_open(struct store *s)
{
    if (!is_redis(s->spec))
        return store_sqlite_open(s->spec, &s->backend);
    struct store_redis_params p = {.reg = s->reg,
                                   .node = s->node[0] ? s->node : "switchboard",
                                   .fix = s->fix,
                                   .fix_ctx = s->fix_ctx,
                                   .remote = store_note_remote,
                                   .remote_doc = note_remote_doc,
                                   .remote_ctx = s,
                                   .merged = &s->remote,
                                   .reloads = &s->reloads};
    return store_redis_open(s->spec, &p, &s->backend);
}

static void backend_close(struct store *s)
{
    if (s->backend.ops)
        s->backend.ops->close(s->backend.be);
    s->backend.ops = NULL;
    s->backend.be = NULL;
}

/* Persister: opens a closed backend when a retry is due. Returns whether
 * the backend is open. */
static bool ensure_open(struct store *s, uint64_t now)
{
    if (s->backend.ops)
        return true;
    if (now < s->next_retry_ms)
        return false;
    int rc = backend_open(s);
    if (rc != 0) {
        s->next_retry_ms = now + s->opts.retry_ms;
        report_failure(s, "opening", rc);
        return false;
    }
    SB_INFO("store %s: open again; rewriting every registration", s->spec);
    atomic_store(&s->resync, true); /* whatever happened meanwhile is missing */
    return true;
}

struct load_ctx {
    struct store *s;
    void (*fix)(void *ctx, struct registrar_binding *b);
    void *fix_ctx;
    uint64_t now_ms;
    int64_t wall_offset_ms;
    size_t users, bindings, refused;
};

/* store_load_fn: wall-clock expiry back to monotonic, then into memory. */
static int load_one(void *arg, const char *aor, struct registrar_binding *b, size_t count)
{
    struct load_ctx *l = arg;
    for (size_t i = 0; i < count; i++) {
        int64_t mono = (int64_t)b[i].expires_at_ms - l->wall_offset_ms;
        b[i].expires_at_ms = mono > (int64_t)l->now_ms ? (uint64_t)mono : l->now_ms + 1;
        if (l->fix)
            l->fix(l->fix_ctx, &b[i]);
    }
    int rc = registrar_restore(l->s->reg, aor, b, count, l->now_ms);
    if (rc == SB_ENOMEM)
        return rc;
    if (rc != 0) {
        l->refused += count;
        return 0;
    }
    l->users++;
    l->bindings += count;
    return 0;
}

static void load_all(struct store *s, struct load_ctx *l)
{
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    uint64_t now_wall = (uint64_t)((int64_t)l->now_ms + l->wall_offset_ms);
    int rc;
    if (s->backend.ops) {
        rc = s->backend.ops->load(s->backend.be, now_wall, load_one, l);
    } else if (!is_redis(s->spec)) {
        /* not writable now: read what is there, write it back once we can */
        rc = store_sqlite_peek(s->spec, now_wall, load_one, l);
    } else {
        rc = SB_EINVAL; /* a bad URL */
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double ms = (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
    if (rc != 0 && !s->backend.ops) {
        SB_WARN("store %s: nothing loaded (%s)", s->spec, sb_strerror(rc));
        return;
    }
    if (rc != 0)
        SB_ERROR("store %s: loading stopped early: %s", s->spec, sb_strerror(rc));
    SB_INFO("store %s: loaded %zu binding(s) of %zu user(s) in %.1f ms%s", s->spec, l->bindings,
            l->users, ms, s->backend.ops ? "" : " (read-only)");
    if (l->refused)
        SB_WARN("store %s: %zu binding(s) over the registrar's limits not loaded", s->spec,
                l->refused);
}

/* store_doc_fn at start: kept until the kind's owner takes it. */
static int keep_loaded(void *arg, const char *key, const char *value, uint64_t expires_ms)
{
    struct store *s = arg;
    if (!value)
        return 0;
    if (s->nloaded == s->loaded_cap) {
        size_t cap = s->loaded_cap ? s->loaded_cap * 2 : 64;
        struct loaded_doc *v = realloc(s->loaded, cap * sizeof(*v));
        if (!v)
            return SB_ENOMEM;
        s->loaded = v;
        s->loaded_cap = cap;
    }
    struct loaded_doc *d = &s->loaded[s->nloaded];
    d->key = strdup(key);
    d->value = strdup(value);
    if (!d->key || !d->value) {
        free(d->key);
        free(d->value);
        return SB_ENOMEM;
    }
    d->expires_ms = expires_ms;
    s->nloaded++;
    return 0;
}

/* Every live document of every kind, kept for its owner. */
static void load_docs(struct store *s, uint64_t now_wall)
{
    const struct store_backend_ops *ops = s->backend.ops;
    for (unsigned k = 0; ops && ops->load_docs && k < s->opts.doc_count; k++) {
        size_t before = s->nloaded;
        int rc = ops->load_docs(s->backend.be, &s->opts.docs[k], now_wall, keep_loaded, s);
        for (size_t i = before; i < s->nloaded; i++)
            s->loaded[i].kind = k;
        if (rc != 0)
            SB_ERROR("store %s: loading %s documents stopped early: %s", s->spec,
                     s->opts.docs[k].name, sb_strerror(rc));
        if (s->nloaded > before)
            SB_INFO("store %s: loaded %zu %s document(s)", s->spec, s->nloaded - before,
                    s->opts.docs[k].name);
    }
}

static void free_loaded(struct store *s)
{
    for (size_t i = 0; i < s->nloaded; i++) {
        free(s->loaded[i].key);
        free(s->loaded[i].value);
    }
    free(s->loaded);
    s->loaded = NULL;
    s->nloaded = s->loaded_cap = 0;
}

void store_docs_take(struct store *s, unsigned kind, store_doc_fn fn, void *arg)
{
    for (size_t i = 0; s && i < s->nloaded; i++) {
        struct loaded_doc *d = &s->loaded[i];
        if (d->kind != kind || !d->value)
            continue;
        fn(arg, d->key, d->value, d->expires_ms);
        free(d->value);
        d->value = NULL; /* taken */
    }
}

/* Sets @kind's watcher (@w->fn) or source (@w->each), under the lock:
 * the persister may be reading them already. */
static void set_watch(struct store *s, unsigned kind, const struct doc_watch *w)
{
    if (!s || kind >= s->opts.doc_count)
        return;
    pthread_mutex_lock(&s->watch_lock);
    struct doc_watch *to = &s->watch[kind];
    if (w->fn) {
        to->fn = w->fn;
        to->arg = w->arg;
    }
    if (w->each) {
        to->each = w->each;
        to->each_arg = w->each_arg;
    }
    pthread_mutex_unlock(&s->watch_lock);
}

void store_docs_source(struct store *s, unsigned kind, store_docs_each_fn each, void *arg)
{
    set_watch(s, kind, &(struct doc_watch){.each = each, .each_arg = arg});
}

uint64_t store_docs_epoch(struct store *s)
{
    return s ? atomic_load(&s->docs_epoch) : 0;
}

void store_docs_watch(struct store *s, unsigned kind, store_doc_fn fn, void *arg)
{
    set_watch(s, kind, &(struct doc_watch){.fn = fn, .arg = arg});
}

/* --- writing ---------------------------------------------------------------- */

/* Writes @aor's current bindings (none: removes it). */
static int write_aor(struct store *s, const char *aor, uint64_t now, int64_t offset)
{
    struct registrar_set *set = NULL;
    int rc = registrar_lookup(s->reg, aor, now, &set);
    if (rc != 0 && rc != SB_ENOTFOUND)
        return rc;
    rc = s->backend.ops->put(s->backend.be, aor, set, offset);
    registrar_set_free(set);
    return rc;
}

/* Ends a transaction: commit, or roll back and ask for a resync. */
static void finish(struct store *s, int rc, size_t aors, const char *what)
{
    const struct store_backend_ops *ops = s->backend.ops;
    if (rc == 0)
        rc = ops->commit(s->backend.be);
    if (rc == 0) {
        atomic_fetch_add(&s->written, aors);
        atomic_fetch_add(&s->batches, 1);
        atomic_store(&s->healthy, true);
        return;
    }
    ops->rollback(s->backend.be);
    atomic_store(&s->resync, true);
    s->next_retry_ms = sb_now_ms() + s->opts.retry_ms;
    report_failure(s, what, rc);
}

/* A document another node changed, read back and handed to its kind's
 * watcher (after the batch: nothing is read inside one). */
static void read_remote_doc(struct store *s, const struct note *note)
{
    const struct store_backend_ops *ops = s->backend.ops;
    pthread_mutex_lock(&s->watch_lock);
    struct doc_watch w = s->watch[note->doc_kind];
    pthread_mutex_unlock(&s->watch_lock);
    if (!ops || !ops->read_doc || !w.fn)
        return;
    uint64_t now_wall = (uint64_t)((int64_t)sb_now_ms() + store_wall_offset_ms());
    int rc = ops->read_doc(s->backend.be, &s->opts.docs[note->doc_kind], note->aor, now_wall, w.fn,
                           w.arg);
    if (rc != 0)
        report_failure(s, "reading a document back", rc);
}

/* After a shared store's feed was lost (a note naming ""): every
 * document of the shared kinds read again and handed to their watchers,
 * so what other nodes changed meanwhile arrives (one they removed
 * meanwhile lingers here until it expires). */
static void reload_shared_docs(struct store *s)
{
    const struct store_backend_ops *ops = s->backend.ops;
    uint64_t now_wall = (uint64_t)((int64_t)sb_now_ms() + store_wall_offset_ms());
    for (unsigned k = 0; ops && ops->load_docs && k < s->opts.doc_count; k++) {
        pthread_mutex_lock(&s->watch_lock);
        struct doc_watch w = s->watch[k];
        pthread_mutex_unlock(&s->watch_lock);
        if (!s->opts.docs[k].shared || !w.fn)
            continue;
        int rc = ops->load_docs(s->backend.be, &s->opts.docs[k], now_wall, w.fn, w.arg);
        if (rc != 0)
            report_failure(s, "reading documents back", rc);
    }
}

/* One note's write inside the open transaction. */
static int write_note(struct store *s, const struct note *note, uint64_t now, int64_t offset)
{
    const struct store_backend_ops *ops = s->backend.ops;
    const char *value = note->aor + strlen(note->aor) + 1;
    switch (note->kind) {
    case NOTE_META:
        return ops->put_meta(s->backend.be, note->aor, value, strlen(value));
    case NOTE_REMOTE:
        return ops->refresh ? ops->refresh(s->backend.be, note->aor) : 0;
    case NOTE_AOR:
        return write_aor(s, note->aor, now, offset);
    case NOTE_DOC:
        return ops->put_doc(s->backend.be, &s->opts.docs[note->doc_kind], note->aor,
                            note->removed ? NULL : value, note->expires_ms);
    case NOTE_REMOTE_DOC:
        return 0; /* read back after the batch */
    }
    return 0;
}

/* Writes the AoRs of up to BATCH_MAX notes from @batch in one transaction
 * (@first already taken). Returns how many notes it consumed. */
static size_t write_notes(struct store *s, struct cds_wfcq_node *first, struct wakeq_batch *batch,
                          bool can_write)
{
    size_t n = 0, local = 0;
    int rc = 0;
    uint64_t now = sb_now_ms();
    int64_t offset = store_wall_offset_ms();
    struct note *remote_docs = NULL, **tail = &remote_docs;
    bool reload = false;
    if (can_write)
        rc = s->backend.ops->begin(s->backend.be);
    for (struct cds_wfcq_node *node = first; node;
         node = n < BATCH_MAX ? wakeq_batch_pop(batch) : NULL) {
        struct note *note = caa_container_of(node, struct note, node);
        if (can_write && rc == 0)
            rc = write_note(s, note, now, offset);
        local += note->kind != NOTE_REMOTE && note->kind != NOTE_REMOTE_DOC;
        reload |= note->kind == NOTE_REMOTE && !note->aor[0];
        n++;
        if (note->kind == NOTE_REMOTE_DOC) {
            note->later = NULL;
            *tail = note;
            tail = &note->later;
            continue;
        }
        free(note);
    }
    if (can_write)
        finish(s, rc, local, "writing");
    else
        atomic_store(&s->resync, true); /* the resync will carry these */
    if (can_write && rc == 0 && reload)
        reload_shared_docs(s);
    while (remote_docs) {
        struct note *next = remote_docs->later;
        if (can_write && rc == 0)
            read_remote_doc(s, remote_docs);
        free(remote_docs);
        remote_docs = next;
    }
    if (n > atomic_load(&s->largest))
        atomic_store(&s->largest, n);
    return n;
}

struct doc_emit {
    struct store *s;
    const struct store_doc_kind *kind;
    uint64_t now_wall;
};

/* store_doc_fn for a kind's source: one document written. */
static int emit_doc(void *arg, const char *key, const char *value, uint64_t expires_ms)
{
    struct doc_emit *e = arg;
    if (!value || expires_ms <= e->now_wall)
        return 0;
    return e->s->backend.ops->put_doc(e->s->backend.be, e->kind, key, value, expires_ms);
}

/* A resync's documents: each kind with a source rewritten whole (this
 * node's removed first; a shared kind's are other nodes' too, so only
 * rewritten); the others' owners are asked through the epoch. */
static int rewrite_docs(struct store *s)
{
    const struct store_backend_ops *ops = s->backend.ops;
    int rc = 0;
    for (unsigned k = 0; rc == 0 && k < s->opts.doc_count; k++) {
        pthread_mutex_lock(&s->watch_lock);
        struct doc_watch w = s->watch[k];
        pthread_mutex_unlock(&s->watch_lock);
        if (!w.each)
            continue;
        struct doc_emit e = {.s = s,
                             .kind = &s->opts.docs[k],
                             .now_wall = (uint64_t)((int64_t)sb_now_ms() + store_wall_offset_ms())};
        rc = ops->clear_docs(s->backend.be, e.kind);
        if (rc == 0)
            rc = w.each(w.each_arg, emit_doc, &e);
    }
    return rc;
}

/* Rewrites the whole store from the registrar, in one transaction. */
static void resync(struct store *s)
{
    struct store_names list = {0};
    atomic_store(&s->resync, false);
    registrar_foreach_aor(s->reg, store_names_add, &list);
    int rc = list.failed ? SB_ENOMEM : s->backend.ops->begin(s->backend.be);
    if (rc == 0)
        rc = s->backend.ops->clear(s->backend.be);
    uint64_t now = sb_now_ms();
    int64_t offset = store_wall_offset_ms();
    for (size_t i = 0; rc == 0 && i < list.n; i++)
        rc = write_aor(s, list.v[i], now, offset);
    size_t count = list.n;
    bool lost_names = list.failed;
    store_names_free(&list);
    /* values kept beside the bindings, as they are now: a note about one
     * may have been lost when the queue was full */
    if (rc == 0 && s->opts.meta_key && s->opts.meta_now) {
        char *value = s->opts.meta_now(s->opts.meta_ctx);
        rc = value ? s->backend.ops->put_meta(s->backend.be, s->opts.meta_key, value, strlen(value))
                   : SB_ENOMEM;
        free(value);
    }
    if (rc == 0)
        rc = rewrite_docs(s);
    if (rc == SB_ENOMEM && lost_names) {
        atomic_store(&s->resync, true);
        report_failure(s, "resync", rc);
        return;
    }
    finish(s, rc, count, "resync");
    if (rc == 0 && !atomic_load(&s->resync)) {
        atomic_fetch_add(&s->resyncs, 1);
        atomic_fetch_add(&s->docs_epoch, 1);
        SB_INFO("store %s: rewrote %zu user(s)", s->spec, count);
    }
}

static void purge(struct store *s, uint64_t now)
{
    s->next_purge_ms = now + s->opts.purge_ms;
    const struct store_backend_ops *ops = s->backend.ops;
    int rc = ops->begin(s->backend.be);
    if (rc == 0)
        rc = ops->purge(s->backend.be, (uint64_t)((int64_t)now + store_wall_offset_ms()));
    if (rc == 0)
        rc = ops->commit(s->backend.be);
    if (rc != 0) {
        ops->rollback(s->backend.be);
        report_failure(s, "removing expired bindings", rc);
    }
}

/* Drains every note queued now. Returns whether there were any. */
static bool drain(struct store *s)
{
    struct wakeq_batch batch;
    wakeq_batch_init(&batch);
    if (!wakeq_take(s->queue, &batch)) {
        wakeq_batch_fini(&batch);
        return false;
    }
    bool open = ensure_open(s, sb_now_ms());
    struct cds_wfcq_node *first;
    while ((first = wakeq_batch_pop(&batch)) != NULL) {
        bool can_write = open && !atomic_load(&s->resync);
        wakeq_done(s->queue, write_notes(s, first, &batch, can_write));
    }
    wakeq_batch_fini(&batch);
    return true;
}

static int next_wait_ms(const struct store *s, uint64_t now)
{
    uint64_t due = s->next_purge_ms;
    if ((atomic_load(&s->resync) || !s->backend.ops) && s->next_retry_ms < due)
        due = s->next_retry_ms;
    return due <= now ? 0 : (int)(due - now > 1000 ? 1000 : due - now);
}

static void *persister_main(void *arg)
{
    struct store *s = arg;
    rcu_register_thread(); /* it reads the registrar */
    for (;;) {
        uint64_t now = sb_now_ms();
        bool open = ensure_open(s, now);
        if (open && atomic_load(&s->resync) && now >= s->next_retry_ms)
            resync(s);
        if (drain(s))
            continue; /* a busy persister drains before it sleeps */
        if (open && now >= s->next_purge_ms)
            purge(s, now);
        if (wakeq_stopping(s->queue))
            break;
        wakeq_wait(s->queue, next_wait_ms(s, sb_now_ms()));
    }
    /* shutdown: the workers are gone; write what they noted last */
    drain(s);
    if (atomic_load(&s->resync)) {
        s->next_retry_ms = 0;
        if (ensure_open(s, sb_now_ms()))
            resync(s);
    }
    rcu_unregister_thread();
    return NULL;
}

/* --- the interface ------------------------------------------------------------ */

/* Queues @note; one that cannot be queued is not lost: the persister
 * rewrites everything (and a shared store reads everything back) once it
 * gets to it. */
static void queue_note(struct store *s, struct note *note)
{
    if (note && note->kind != NOTE_REMOTE && note->kind != NOTE_REMOTE_DOC)
        atomic_fetch_add_explicit(&s->notes, 1, memory_order_relaxed);
    if (note && wakeq_push(s->queue, &note->node) == 0) {
        wakeq_wake(s->queue);
        return;
    }
    free(note);
    atomic_fetch_add_explicit(&s->overflows, 1, memory_order_relaxed);
    /* a flag, not a queued note: kicked as it turns on, so a flood of
     * notes that do not fit costs the workers no syscall each */
    if (!atomic_exchange(&s->resync, true))
        wakeq_kick(s->queue);
}

/* A note of @kind naming @aor, with @value after it (may be NULL). */
static struct note *make_note(enum note_kind kind, const char *aor, const char *value)
{
    size_t len = strlen(aor) + 1, vlen = value ? strlen(value) + 1 : 0;
    struct note *note = malloc(sizeof(*note) + len + vlen);
    if (!note)
        return NULL;
    memset(note, 0, sizeof(*note));
    note->kind = kind;
    memcpy(note->aor, aor, len);
    if (value)
        memcpy(note->aor + len, value, vlen);
    return note;
}

static void push_note(struct store *s, enum note_kind kind, const char *aor, const char *value)
{
    queue_note(s, make_note(kind, aor, value));
}

void store_note_doc(struct store *s, unsigned kind, const char *key, const char *value,
                    uint64_t expires_wall_ms)
{
    if (!s || kind >= s->opts.doc_count)
        return;
    struct note *note = make_note(NOTE_DOC, key, value);
    if (note) {
        note->doc_kind = kind;
        note->removed = !value;
        note->expires_ms = expires_wall_ms;
    }
    queue_note(s, note);
}

/* The Redis backend's subscriber: another node changed document @key of
 * the shared kind named @kind. */
static void note_remote_doc(void *arg, const char *kind, const char *key)
{
    struct store *s = arg;
    for (unsigned i = 0; i < s->opts.doc_count; i++) {
        if (strcmp(s->opts.docs[i].name, kind) != 0 || !s->opts.docs[i].shared)
            continue;
        struct note *note = make_note(NOTE_REMOTE_DOC, key, NULL);
        if (note)
            note->doc_kind = i;
        queue_note(s, note);
        return;
    }
}

void store_note(void *arg, const char *aor)
{
    push_note(arg, NOTE_AOR, aor, NULL);
}

void store_note_remote(void *arg, const char *aor)
{
    push_note(arg, NOTE_REMOTE, aor, NULL);
}

/* The value kept under @key, as a string to free(), however long (the
 * buffer grows while the backend says it is too small); NULL when there
 * is none or it cannot be read. */
static char *read_meta(struct store *s, const char *key)
{
    for (size_t size = 4096; size <= META_MAX; size *= 4) {
        char *buf = malloc(size + 1);
        if (!buf)
            return NULL;
        long n = s->backend.ops->get_meta(s->backend.be, key, buf, size);
        if (n >= 0) {
            buf[n] = '\0';
            return buf;
        }
        free(buf);
        if (n != SB_ERANGE)
            return NULL;
    }
    return NULL;
}

void store_note_meta(struct store *s, const char *key, const char *value)
{
    if (s)
        push_note(s, NOTE_META, key, value);
}

static void free_note(struct cds_wfcq_node *node)
{
    free(caa_container_of(node, struct note, node));
}

/* The proxy's secret: the one kept in the store, or a new one kept there
 * now. Without a writable store, a random one that is not kept. */
static void keep_secret(struct store *s, struct store_options *o)
{
    const struct store_backend_ops *ops = s->backend.ops;
    o->secret_kept = false;
    if (ops &&
        ops->get_meta(s->backend.be, "secret", o->secret, SECRET_KEY_BYTES) == SECRET_KEY_BYTES) {
        o->secret_kept = true;
        return;
    }
    struct secret *fresh;
    if (secret_random(&fresh, o->secret) == 0)
        secret_free(fresh);
    if (ops && ops->put_meta(s->backend.be, "secret", o->secret, SECRET_KEY_BYTES) == 0)
        o->secret_kept = true;
    else
        SB_WARN("store %s: cannot keep the proxy's secret; signed routes and nonces will not "
                "survive a restart (set [auth] secret_file)",
                s->spec);
}

int store_start(struct store_options *o, struct registrar *reg,
                void (*fix)(void *ctx, struct registrar_binding *b), void *fix_ctx,
                struct store **out)
{
    struct store *s = calloc(1, sizeof(*s));
    if (!s || !(s->spec = strdup(o->spec)) || !(s->node = strdup(o->node ? o->node : ""))) {
        if (s)
            free(s->spec);
        free(s);
        return SB_ENOMEM;
    }
    s->opts = *o;
    s->opts.spec = s->spec;
    s->opts.node = s->node;
    if (!s->opts.retry_ms)
        s->opts.retry_ms = 1000;
    if (!s->opts.purge_ms)
        s->opts.purge_ms = 60000;
    s->reg = reg;
    s->fix = fix;
    s->fix_ctx = fix_ctx;
    atomic_init(&s->healthy, true);
    s->watch = calloc(o->doc_count ? o->doc_count : 1, sizeof(*s->watch));
    pthread_mutex_init(&s->watch_lock, NULL);
    int rc =
        s->watch ? wakeq_create(o->queue_limit ? o->queue_limit : 65536, &s->queue) : SB_ENOMEM;
    if (rc != 0) {
        free(s->watch);
        pthread_mutex_destroy(&s->watch_lock);
        free(s->spec);
        free(s->node);
        free(s);
        return rc;
    }
    uint64_t now = sb_now_ms();
    rc = backend_open(s);
    if (rc != 0) {
        /* the exchange must come up: serve from memory, keep trying */
        report_failure(s, "opening", rc);
        atomic_store(&s->resync, true);
        s->next_retry_ms = now + s->opts.retry_ms;
    }
    struct load_ctx l = {.s = s,
                         .fix = fix,
                         .fix_ctx = fix_ctx,
                         .now_ms = now,
                         .wall_offset_ms = store_wall_offset_ms()};
    load_all(s, &l);
    load_docs(s, (uint64_t)((int64_t)now + l.wall_offset_ms));
    if (o->secret)
        keep_secret(s, o);
    if (o->meta_key && o->meta_out && s->backend.ops)
        *o->meta_out = read_meta(s, o->meta_key);
    s->next_purge_ms = now + s->opts.purge_ms;
    if (pthread_create(&s->thread, NULL, persister_main, s) != 0) {
        store_stop(s);
        return SB_ESYS;
    }
    s->thread_started = true;
    registrar_set_change_hook(reg, store_note, s);
    *out = s;
    return 0;
}

void store_stop(struct store *s)
{
    if (!s)
        return;
    registrar_set_change_hook(s->reg, NULL, NULL);
    if (s->thread_started) {
        wakeq_stop(s->queue);
        pthread_join(s->thread, NULL);
    }
    struct store_counters c;
    store_counters(s, &c);
    SB_INFO("store %s: %llu change(s) noted, %llu write(s) in %llu batch(es), %llu failed "
            "batch(es), %llu resync(s)",
            s->spec, (unsigned long long)c.notes, (unsigned long long)c.written,
            (unsigned long long)c.batches, (unsigned long long)c.failures,
            (unsigned long long)c.resyncs);
    backend_close(s);
    wakeq_destroy(s->queue, free_note);
    free_loaded(s);
    free(s->watch);
    pthread_mutex_destroy(&s->watch_lock);
    free(s->spec);
    free(s->node);
    free(s);
}

void store_counters(const struct store *s, struct store_counters *out)
{
    struct store *m = (struct store *)s;
    out->notes = atomic_load(&m->notes);
    out->written = atomic_load(&m->written);
    out->batches = atomic_load(&m->batches);
    out->failures = atomic_load(&m->failures);
    out->overflows = atomic_load(&m->overflows);
    out->resyncs = atomic_load(&m->resyncs);
    out->largest = atomic_load(&m->largest);
    out->remote = atomic_load(&m->remote);
    out->reloads = atomic_load(&m->reloads);
    out->shared = is_redis(m->spec);
    out->healthy = atomic_load(&m->healthy) && !atomic_load(&m->resync);
}
