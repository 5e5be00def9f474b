/* The Redis backend of the registration store: the connection, the batch
 * (MULTI/EXEC), the shadow and the three-way merge, and the subscriber.
 * See the DESIGN note in store_redis.h. */
#include "switchboard/store_redis.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <hiredis/hiredis.h>
#include <urcu.h>

#include "switchboard/buf.h"
#include "switchboard/error.h"
#include "switchboard/log.h"
#include "switchboard/registrar.h"
#include "switchboard/sip_msg.h"
#include "switchboard/store_backend.h"
#include "switchboard/store_redis_codec.h"
#include "switchboard/store_shadow.h"
#include "switchboard/strmap.h"
#include "switchboard/types.h"

#define KEY_PREFIX "sb:aor:"
#define META_PREFIX "sb:meta:"
#define DOC_PREFIX "sb:doc:"
#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 5000
#define READ_CHUNK 256 /* HGETALLs per pipeline */

/* The script (store_redis.lua, built in by cmake/embed.cmake): KEYS[1]
 * the AoR's hash; ARGV node, channel, aor, now, then ops of four. */
extern const char store_redis_script[];

/* One AoR written in the open batch: its shadow once the batch commits. */
struct pending {
    char *aor;
    struct store_shadow *next; /* NULL: the AoR is gone */
    bool command;              /* an EVALSHA was queued for it (else a SET or nothing) */
};

struct redis_store {
    struct store_redis_url url;
    struct store_redis_params p;
    char *node, *channel, *doc_channel;
    char sha[48];
    redisContext *c; /* NULL while down */
    uint64_t next_connect_ms;
    unsigned backoff_ms;
    bool need_reload;
    struct sb_log_limiter down_log;
    struct strmap shadows;
    /* the open batch */
    uint64_t batch;
    bool sweep;  /* a resync: rewrite all of ours, delete what we no longer have */
    size_t sent; /* commands queued after MULTI */
    struct pending *pend;
    size_t npend, cap;
    bool in_batch;
    struct store_names refresh; /* AoRs to read back once the batch commits */
    /* the subscriber */
    pthread_t sub;
    bool sub_started;
    atomic_bool stop, subscribed;
};

static const char *url_name(const struct redis_store *r)
{
    static __thread char name[300];
    snprintf(name, sizeof(name), "redis://%s:%d/%d", r->url.host, r->url.port, r->url.db);
    return name;
}

/* --- the shadow ----------------------------------------------------------------- */

static struct store_shadow *shadow_find(const struct redis_store *r, const char *aor)
{
    struct strmap_link *l = strmap_find(&r->shadows, aor, strlen(aor));
    return l ? (struct store_shadow *)l : NULL;
}

static void shadow_free_link(struct strmap_link *l)
{
    store_shadow_free((struct store_shadow *)l);
}

/* Replaces @aor's shadow with @next (taken; NULL: none). */
static void shadow_set(struct redis_store *r, const char *aor, struct store_shadow *next)
{
    struct store_shadow *old = shadow_find(r, aor);
    if (old) {
        strmap_remove(&r->shadows, &old->link);
        store_shadow_free(old);
    }
    char *key = next ? strdup(aor) : NULL;
    if (next && !key) {
        store_shadow_free(next); /* forgotten: the next resync rewrites it all */
        return;
    }
    if (next)
        strmap_insert(&r->shadows, &next->link, key, strlen(key));
}

/* --- the connection ---------------------------------------------------------- */

static struct timeval timeout_tv(const struct redis_store *r)
{
    unsigned ms = r->p.timeout_ms ? r->p.timeout_ms : 1000;
    return (struct timeval){.tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000};
}

static void report_down(struct redis_store *r, const char *what, const char *why)
{
    uint64_t more;
    if (sb_log_limiter_ready(&r->down_log, sb_now_ms(), &more))
        SB_WARN("store %s: %s: %s; routing from the cache, writing later (%llu more since the "
                "last report)",
                url_name(r), what, why, (unsigned long long)more);
}

/* Runs one command; NULL (and @c unusable) on an I/O error. */
static redisReply *command(redisContext *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    redisReply *reply = redisvCommand(c, fmt, ap);
    va_end(ap);
    return reply;
}

/* A reply that is neither NULL nor an error; frees it. */
static bool command_ok(redisReply *reply)
{
    bool ok = reply && reply->type != REDIS_REPLY_ERROR;
    if (reply)
        freeReplyObject(reply);
    return ok;
}

/* A new connection, authenticated (and on the right DB with @select). */
static redisContext *dial(struct redis_store *r, bool select, const char **why)
{
    redisContext *c = redisConnectWithTimeout(r->url.host, r->url.port, timeout_tv(r));
    if (!c || c->err) {
        static __thread char err[160];
        snprintf(err, sizeof(err), "%s", c ? c->errstr : "out of memory");
        *why = err;
        if (c)
            redisFree(c);
        return NULL;
    }
    redisSetTimeout(c, timeout_tv(r));
    redisEnableKeepAlive(c);
    bool ok = true;
    if (r->url.password[0] && r->url.user[0])
        ok = command_ok(command(c, "AUTH %s %s", r->url.user, r->url.password));
    else if (r->url.password[0])
        ok = command_ok(command(c, "AUTH %s", r->url.password));
    if (ok && select && r->url.db)
        ok = command_ok(command(c, "SELECT %d", r->url.db));
    if (!ok) {
        *why = "authentication or SELECT refused";
        redisFree(c);
        return NULL;
    }
    return c;
}

static void hang_up(struct redis_store *r, const char *why)
{
    if (!r->c)
        return;
    report_down(r, "connection lost", why ? why : r->c->errstr);
    redisFree(r->c);
    r->c = NULL;
    r->backoff_ms = BACKOFF_MIN_MS;
    r->next_connect_ms = sb_now_ms() + r->backoff_ms;
}

/* Connects when down and the back-off allows. Returns 0 when up. */
static int ensure_up(struct redis_store *r)
{
    if (r->c)
        return 0;
    uint64_t now = sb_now_ms();
    if (now < r->next_connect_ms)
        return SB_EAGAIN;
    const char *why = NULL;
    redisContext *c = dial(r, true, &why);
    redisReply *sha = c ? command(c, "SCRIPT LOAD %s", store_redis_script) : NULL;
    if (c && (!sha || sha->type != REDIS_REPLY_STRING || sha->len >= sizeof(r->sha))) {
        why = sha ? "SCRIPT LOAD refused" : c->errstr;
        redisFree(c);
        c = NULL;
    }
    if (!c) {
        if (sha)
            freeReplyObject(sha);
        r->next_connect_ms = now + r->backoff_ms;
        r->backoff_ms = r->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : r->backoff_ms * 2;
        report_down(r, "cannot connect", why);
        return SB_ESYS;
    }
    memcpy(r->sha, sha->str, sha->len);
    r->sha[sha->len] = '\0';
    freeReplyObject(sha);
    r->c = c;
    r->backoff_ms = BACKOFF_MIN_MS;
    SB_INFO("store %s: connected as node %s", url_name(r), r->node);
    return 0;
}

/* --- reading back: decode and merge ------------------------------------------- */

/* Decodes an HGETALL reply in place (bad or foreign fields are skipped,
 * counted in *@bad). */
static int remote_decode(const struct redis_store *r, redisReply *reply,
                         struct store_remote_set *out, size_t *bad)
{
    out->count = 0;
    out->b = calloc(reply->elements / 2 + 1, sizeof(*out->b));
    if (!out->b)
        return SB_ENOMEM;
    for (size_t i = 0; i + 1 < reply->elements; i += 2) {
        redisReply *field = reply->element[i], *value = reply->element[i + 1];
        struct registrar_binding *b = &out->b[out->count];
        if (field->type != REDIS_REPLY_STRING || value->type != REDIS_REPLY_STRING ||
            store_redis_decode(value->str, value->len, b) != 0) {
            (*bad)++;
            continue;
        }
        struct sb_buf f = {0};
        store_redis_field(b, &f);
        bool match = !f.failed && f.data && strcmp(f.data, field->str) == 0;
        sb_buf_free(&f);
        if (!match) {
            (*bad)++;
            continue;
        }
        if (strcmp(b->node, r->node) == 0)
            b->node = NULL; /* ours (from before a restart) */
        out->count++;
    }
    return 0;
}

/* Turns @rs's Unix-ms expiries into the registrar's clock and fixes each
 * binding up for this node (the connection ids are another process's). */
static void remote_localize(const struct redis_store *r, struct store_remote_set *rs, uint64_t now)
{
    int64_t offset = store_wall_offset_ms();
    for (size_t i = 0; i < rs->count; i++) {
        struct registrar_binding *b = &rs->b[i];
        int64_t mono = (int64_t)b->expires_at_ms - offset;
        b->expires_at_ms = mono > 0 ? (uint64_t)mono : 0;
        b->conn = 0;
        if (b->expires_at_ms > now && r->p.fix)
            r->p.fix(r->p.fix_ctx, b);
    }
}

/* Merges what Redis holds for @aor (@reply: an HGETALL answer) into the
 * registrar, and makes it the shadow. */
static int merge_remote(struct redis_store *r, const char *aor, redisReply *reply)
{
    struct store_remote_set rs = {0};
    size_t bad = 0;
    if (reply && reply->type == REDIS_REPLY_ARRAY) {
        if (remote_decode(r, reply, &rs, &bad) != 0)
            return SB_ENOMEM;
    }
    if (bad)
        SB_WARN("store %s: %zu unreadable binding(s) of %s skipped", url_name(r), bad, aor);
    bool failed = false;
    struct store_shadow *next = store_shadow_build(rs.b, rs.count, &failed);
    uint64_t now = sb_now_ms();
    remote_localize(r, &rs, now);
    struct store_shadow_merge m = {.sh = shadow_find(r, aor), .rs = &rs};
    int rc = failed ? SB_ENOMEM
                    : registrar_rewrite(r->p.reg, aor, rs.count, store_shadow_merge, &m, now);
    if (rc == 0)
        shadow_set(r, aor, next);
    else
        store_shadow_free(next);
    if (rc == SB_ELIMIT)
        SB_WARN("store %s: %s has more bindings than this node allows; kept its own", url_name(r),
                aor);
    free(rs.b);
    atomic_fetch_add_explicit(r->p.merged, 1, memory_order_relaxed);
    return rc == SB_ELIMIT ? 0 : rc;
}

/* Calls @each with the hash of every AoR of @aors[0..n) (NULL when it is
 * not a hash), READ_CHUNK HGETALLs to a pipeline. Stops at the first
 * error @each returns. */
typedef int (*hash_fn)(struct redis_store *r, const char *aor, redisReply *hash, void *arg);

static int read_hashes(struct redis_store *r, char *const *aors, size_t n, hash_fn each, void *arg)
{
    int rc = 0;
    for (size_t first = 0; rc == 0 && first < n; first += READ_CHUNK) {
        size_t end = n - first < READ_CHUNK ? n : first + READ_CHUNK;
        for (size_t i = first; i < end; i++)
            redisAppendCommand(r->c, "HGETALL " KEY_PREFIX "%s", aors[i]);
        for (size_t i = first; i < end; i++) {
            redisReply *reply = NULL;
            if (redisGetReply(r->c, (void **)&reply) != REDIS_OK) {
                hang_up(r, NULL);
                return SB_ESYS;
            }
            if (rc == 0)
                rc = each(r, aors[i], reply->type == REDIS_REPLY_ARRAY ? reply : NULL, arg);
            freeReplyObject(reply);
        }
    }
    return rc;
}

static int merge_each(struct redis_store *r, const char *aor, redisReply *hash, void *arg)
{
    (void)arg;
    return merge_remote(r, aor, hash);
}

static int fetch_all(struct redis_store *r, char *const *aors, size_t n)
{
    return read_hashes(r, aors, n, merge_each, NULL);
}

/* Every AoR in Redis (SCAN, never KEYS: it does not stop the server). */
static int scan_names(struct redis_store *r, struct store_names *out)
{
    char cursor[32] = "0";
    do {
        redisReply *reply = command(r->c, "SCAN %s MATCH " KEY_PREFIX "* COUNT 1000", cursor);
        if (!reply) {
            hang_up(r, NULL);
            return SB_ESYS;
        }
        bool ok = reply->type == REDIS_REPLY_ARRAY && reply->elements == 2 &&
                  reply->element[0]->type == REDIS_REPLY_STRING &&
                  reply->element[0]->len < sizeof(cursor) &&
                  reply->element[1]->type == REDIS_REPLY_ARRAY;
        if (ok) {
            snprintf(cursor, sizeof(cursor), "%s", reply->element[0]->str);
            redisReply *keys = reply->element[1];
            for (size_t i = 0; i < keys->elements; i++)
                if (keys->element[i]->type == REDIS_REPLY_STRING)
                    store_names_add(out, keys->element[i]->str + strlen(KEY_PREFIX));
        }
        freeReplyObject(reply);
        if (!ok)
            return SB_ESYS;
        if (out->failed)
            return SB_ENOMEM;
    } while (strcmp(cursor, "0") != 0);
    return 0;
}

static void collect_shadow_names(struct redis_store *r, struct store_names *out)
{
    for (size_t b = 0; b <= r->shadows.mask; b++)
        for (struct strmap_link *l = r->shadows.buckets[b]; l; l = l->next)
            store_names_add(out, l->key);
}

static int compare_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Keeps one of each name in @l (sorted). */
static void names_unique(struct store_names *l)
{
    qsort(l->v, l->n, sizeof(l->v[0]), compare_names);
    size_t n = 0;
    for (size_t i = 0; i < l->n; i++) {
        if (n && strcmp(l->v[n - 1], l->v[i]) == 0)
            free(l->v[i]);
        else
            l->v[n++] = l->v[i];
    }
    l->n = n;
}

/* Everything again: every AoR in Redis, in the registrar or in the shadow
 * is read back and merged (one missing from Redis merges as empty). */
static int reload(struct redis_store *r)
{
    struct store_names all = {0};
    int rc = scan_names(r, &all);
    if (rc == 0) {
        registrar_foreach_aor(r->p.reg, store_names_add, &all);
        collect_shadow_names(r, &all);
        rc = all.failed ? SB_ENOMEM : 0;
    }
    if (rc == 0) {
        names_unique(&all);
        rc = fetch_all(r, all.v, all.n);
    }
    if (rc == 0) {
        r->need_reload = false;
        atomic_fetch_add_explicit(r->p.reloads, 1, memory_order_relaxed);
        SB_INFO("store %s: reloaded %zu user(s)", url_name(r), all.n);
    }
    store_names_free(&all);
    return rc;
}

/* --- the initial load ------------------------------------------------------------ */

struct load_ctx {
    uint64_t now_wall;
    store_load_fn fn;
    void *arg;
};

/* hash_fn at start-up: the AoR's live bindings go to the store's load
 * function, and what Redis holds becomes its shadow. */
static int load_each(struct redis_store *r, const char *aor, redisReply *hash, void *arg)
{
    const struct load_ctx *l = arg;
    struct store_remote_set rs = {0};
    size_t bad = 0;
    int rc = hash ? remote_decode(r, hash, &rs, &bad) : 0;
    bool failed = false;
    struct store_shadow *sh = rc == 0 ? store_shadow_build(rs.b, rs.count, &failed) : NULL;
    shadow_set(r, aor, sh);
    size_t live = 0;
    for (size_t k = 0; k < rs.count; k++) {
        rs.b[k].conn = 0; /* another process's connection */
        if (rs.b[k].expires_at_ms > l->now_wall)
            rs.b[live++] = rs.b[k];
    }
    if (rc == 0 && live)
        rc = l->fn(l->arg, aor, rs.b, live);
    free(rs.b);
    return rc;
}

static int redis_load(void *be, uint64_t now_wall_ms, store_load_fn fn, void *arg)
{
    struct redis_store *r = be;
    int rc = ensure_up(r);
    struct store_names all = {0};
    if (rc == 0)
        rc = scan_names(r, &all);
    struct load_ctx l = {.now_wall = now_wall_ms, .fn = fn, .arg = arg};
    if (rc == 0)
        rc = read_hashes(r, all.v, all.n, load_each, &l);
    store_names_free(&all);
    if (rc == 0)
        r->need_reload = false; /* the registrar was empty: this was the reload */
    return rc;
}

/* --- the batch ---------------------------------------------------------------------- */

static void pending_clear(struct redis_store *r)
{
    for (size_t i = 0; i < r->npend; i++) {
        free(r->pend[i].aor);
        store_shadow_free(r->pend[i].next);
    }
    r->npend = 0;
    r->sent = 0;
    r->sweep = false;
}

static int pending_add(struct redis_store *r, const char *aor, struct store_shadow *next,
                       bool command)
{
    if (r->npend == r->cap) {
        size_t cap = r->cap ? r->cap * 2 : 64;
        struct pending *p = realloc(r->pend, cap * sizeof(*p));
        if (!p)
            return SB_ENOMEM;
        r->pend = p;
        r->cap = cap;
    }
    char *copy = aor ? strdup(aor) : NULL;
    if (aor && !copy)
        return SB_ENOMEM;
    r->pend[r->npend++] = (struct pending){.aor = copy, .next = next, .command = command};
    return 0;
}

/* Queues a command of the batch, opening it (MULTI) with the first. */
static void queue_argv(struct redis_store *r, int argc, const char **argv, const size_t *len)
{
    if (r->sent == 0)
        redisAppendCommand(r->c, "MULTI");
    redisAppendCommandArgv(r->c, argc, argv, len);
    r->sent++;
}

/* Queues one command of the open batch that has no AoR (its answer is
 * only checked). */
static int queue_plain(struct redis_store *r, int argc, const char **argv, const size_t *len)
{
    int rc = pending_add(r, NULL, NULL, true);
    if (rc == 0)
        queue_argv(r, argc, argv, len);
    return rc;
}

static int redis_begin(void *be)
{
    struct redis_store *r = be;
    int rc = ensure_up(r);
    if (rc != 0)
        return rc;
    r->batch++;
    pending_clear(r);
    r->in_batch = true;
    return 0;
}

/* The script's arguments for one AoR: a growing argv. */
struct args {
    const char **v;
    size_t *len;
    struct sb_buf *owned; /* strings made here */
    size_t n, cap;
    bool failed;
};

static void arg_add(struct args *a, const char *s, size_t len, bool own)
{
    if (a->failed)
        return;
    if (a->n == a->cap) {
        size_t cap = a->cap ? a->cap * 2 : 32;
        const char **v = realloc(a->v, cap * sizeof(*v));
        size_t *l = v ? realloc(a->len, cap * sizeof(*l)) : NULL;
        struct sb_buf *o = l ? realloc(a->owned, cap * sizeof(*o)) : NULL;
        if (v)
            a->v = v;
        if (l)
            a->len = l;
        if (o)
            a->owned = o;
        if (!o) {
            a->failed = true;
            return;
        }
        a->cap = cap;
    }
    a->owned[a->n] = (struct sb_buf){0};
    if (own) {
        sb_buf_append(&a->owned[a->n], s, len);
        if (a->owned[a->n].failed)
            a->failed = true;
        s = a->owned[a->n].data;
    }
    a->v[a->n] = s;
    a->len[a->n++] = len;
}

static void arg_own(struct args *a, struct sb_buf *b)
{
    if (b->failed || !b->data) {
        a->failed = true;
        sb_buf_free(b);
        return;
    }
    arg_add(a, b->data, b->len, true);
    sb_buf_free(b);
}

static void args_free(struct args *a)
{
    for (size_t i = 0; i < a->n; i++)
        sb_buf_free(&a->owned[i]);
    free(a->v);
    free(a->len);
    free(a->owned);
}

static bool set_has_field(struct sb_buf *fields, size_t n, const char *field)
{
    for (size_t i = 0; i < n; i++)
        if (fields[i].data && strcmp(fields[i].data, field) == 0)
            return true;
    return false;
}

/* The ops for @aor: ours that changed since the shadow ("s"; every one of
 * ours in a sweep), and what the shadow has that the set no longer does
 * ("d", compare and delete). Returns how many. */
static size_t add_ops(struct redis_store *r, struct args *a, const struct store_shadow *old,
                      const struct registrar_set *set, struct sb_buf *fields, int64_t offset)
{
    size_t ops = 0, n = set ? set->count : 0;
    for (size_t i = 0; i < n; i++) {
        const struct registrar_binding *b = &set->bindings[i];
        if (b->node ||
            (!r->sweep && store_shadow_same_version(store_shadow_entry(old, fields[i].data), b)))
            continue; /* another node's, or written already */
        struct sb_buf value = {0};
        store_redis_encode(b, offset, r->node, &value);
        arg_add(a, "s", 1, false);
        arg_add(a, fields[i].data, fields[i].len, false);
        arg_own(a, &value);
        arg_add(a, "", 0, false);
        ops++;
    }
    for (size_t i = 0; old && i < old->count; i++) {
        if (set_has_field(fields, n, old->e[i].field))
            continue;
        char cseq[16];
        int len = snprintf(cseq, sizeof(cseq), "%u", old->e[i].cseq);
        arg_add(a, "d", 1, false);
        arg_add(a, old->e[i].field, strlen(old->e[i].field), false);
        arg_add(a, old->e[i].call_id, strlen(old->e[i].call_id), false);
        arg_add(a, cseq, (size_t)len, true);
        ops++;
    }
    return ops;
}

static int redis_put(void *be, const char *aor, const struct registrar_set *set,
                     int64_t wall_offset_ms)
{
    struct redis_store *r = be;
    struct store_shadow *old = shadow_find(r, aor);
    if (old)
        old->mark = r->batch;
    size_t n = set ? set->count : 0;
    struct sb_buf fields[n ? n : 1];
    memset(fields, 0, sizeof(fields));
    bool failed = false;
    for (size_t i = 0; i < n; i++) {
        store_redis_field(&set->bindings[i], &fields[i]);
        failed |= fields[i].failed || !fields[i].data;
    }
    struct args a = {0};
    struct sb_buf key = {0}, now = {0};
    sb_buf_printf(&key, KEY_PREFIX "%s", aor);
    sb_buf_printf(&now, "%lld", (long long)sb_now_ms() + (long long)wall_offset_ms);
    arg_add(&a, "EVALSHA", 7, false);
    arg_add(&a, r->sha, strlen(r->sha), false);
    arg_add(&a, "1", 1, false);
    arg_own(&a, &key);
    arg_add(&a, r->node, strlen(r->node), false);
    arg_add(&a, r->channel, strlen(r->channel), false);
    arg_add(&a, aor, strlen(aor), false);
    arg_own(&a, &now);
    size_t ops = failed ? 0 : add_ops(r, &a, old, set, fields, wall_offset_ms);
    struct store_shadow *next =
        failed ? NULL : store_shadow_build(set ? set->bindings : NULL, n, &failed);
    int rc = failed || a.failed ? SB_ENOMEM : pending_add(r, aor, next, ops > 0);
    if (rc == 0 && ops > 0)
        queue_argv(r, (int)a.n, a.v, a.len);
    else if (rc != 0)
        store_shadow_free(next);
    args_free(&a);
    for (size_t i = 0; i < n; i++)
        sb_buf_free(&fields[i]);
    return rc;
}

/* A resync: every AoR of the shadow the batch did not write is gone here
 * (compare-and-delete what we knew of it). */
static int sweep_untouched(struct redis_store *r)
{
    struct store_names gone = {0};
    for (size_t b = 0; b <= r->shadows.mask; b++)
        for (struct strmap_link *l = r->shadows.buckets[b]; l; l = l->next)
            if (((struct store_shadow *)l)->mark != r->batch)
                store_names_add(&gone, l->key);
    int rc = gone.failed ? SB_ENOMEM : 0;
    for (size_t i = 0; rc == 0 && i < gone.n; i++)
        rc = redis_put(r, gone.v[i], NULL, store_wall_offset_ms());
    store_names_free(&gone);
    return rc;
}

/* The answer to one queued command inside EXEC's reply. */
static int take_result(struct redis_store *r, const struct pending *p, const redisReply *e)
{
    if (e->type == REDIS_REPLY_ERROR) {
        SB_ERROR("store %s: %s refused: %s", url_name(r), p->aor ? p->aor : "a value", e->str);
        if (strncmp(e->str, "NOSCRIPT", 8) == 0)
            hang_up(r, "the server forgot the script"); /* loaded again on reconnect */
        return SB_ESYS;
    }
    if (p->aor && e->type == REDIS_REPLY_INTEGER && e->integer > 0)
        store_names_add(&r->refresh, p->aor); /* another node's version won: read it back */
    return 0;
}

/* Sends EXEC and reads every answer of the batch. */
static int exec_batch(struct redis_store *r)
{
    redisAppendCommand(r->c, "EXEC");
    redisReply *reply = NULL;
    for (size_t i = 0; i < 1 + r->sent; i++) { /* MULTI's +OK, then +QUEUED each */
        if (redisGetReply(r->c, (void **)&reply) != REDIS_OK) {
            hang_up(r, NULL);
            return SB_ESYS;
        }
        freeReplyObject(reply);
    }
    if (redisGetReply(r->c, (void **)&reply) != REDIS_OK) {
        hang_up(r, NULL);
        return SB_ESYS;
    }
    int rc = reply->type == REDIS_REPLY_ARRAY && reply->elements == r->sent ? 0 : SB_ESYS;
    if (rc != 0)
        SB_ERROR("store %s: the batch was refused (%s)", url_name(r),
                 reply->type == REDIS_REPLY_ERROR ? reply->str : "no answer per command");
    size_t k = 0;
    for (size_t i = 0; rc == 0 && i < r->npend; i++)
        if (r->pend[i].command)
            rc = take_result(r, &r->pend[i], reply->element[k++]);
    freeReplyObject(reply);
    return rc;
}

static int refresh_now(struct redis_store *r)
{
    struct store_names l = r->refresh;
    r->refresh = (struct store_names){0};
    if (l.failed)
        r->need_reload = true; /* a name was lost: read them all */
    names_unique(&l);
    int rc = r->need_reload ? 0 : fetch_all(r, l.v, l.n); /* a reload reads them all */
    store_names_free(&l);
    return rc;
}

static int redis_commit(void *be)
{
    struct redis_store *r = be;
    int rc = r->sweep ? sweep_untouched(r) : 0;
    if (rc == 0 && r->sent)
        rc = exec_batch(r);
    for (size_t i = 0; rc == 0 && i < r->npend; i++) {
        if (r->pend[i].aor) {
            shadow_set(r, r->pend[i].aor, r->pend[i].next);
            r->pend[i].next = NULL;
        }
    }
    pending_clear(r);
    r->in_batch = false;
    if (rc == 0 && (r->refresh.n || r->refresh.failed))
        rc = refresh_now(r);
    if (rc == 0 && r->need_reload)
        rc = reload(r);
    return rc;
}

static void redis_rollback(void *be)
{
    struct redis_store *r = be;
    if (r->sent)
        hang_up(r, "a batch was abandoned"); /* its MULTI is still open */
    pending_clear(r);
    r->in_batch = false;
}

/* The start of a resync: rewrite every binding of ours, delete what we no
 * longer have, then read everything back. Never another node's. */
static int redis_clear(void *be)
{
    struct redis_store *r = be;
    r->sweep = true;
    r->need_reload = true;
    return 0;
}

/* Nothing to do: each key expires with its latest binding (PEXPIREAT) and
 * every write drops the expired bindings of its AoR. */
static int redis_purge(void *be, uint64_t now_wall_ms)
{
    (void)be, (void)now_wall_ms;
    return 0;
}

static long redis_get_meta(void *be, const char *key, void *buf, size_t size)
{
    struct redis_store *r = be;
    if (ensure_up(r) != 0)
        return SB_ESYS;
    redisReply *reply = command(r->c, "GET " META_PREFIX "%s", key);
    if (!reply) {
        hang_up(r, NULL);
        return SB_ESYS;
    }
    long rc = SB_ENOTFOUND;
    if (reply->type == REDIS_REPLY_STRING && reply->len <= size) {
        memcpy(buf, reply->str, reply->len);
        rc = (long)reply->len;
    } else if (reply->type == REDIS_REPLY_STRING) {
        rc = SB_ERANGE;
    }
    freeReplyObject(reply);
    return rc;
}

static int redis_put_meta(void *be, const char *key, const void *value, size_t len)
{
    struct redis_store *r = be;
    struct sb_buf k = {0};
    sb_buf_printf(&k, META_PREFIX "%s", key);
    if (k.failed) {
        sb_buf_free(&k);
        return SB_ENOMEM;
    }
    const char *argv[] = {"SET", k.data, value};
    size_t lens[] = {3, k.len, len};
    int rc = 0;
    if (r->in_batch && r->c) {
        rc = queue_plain(r, 3, argv, lens);
    } else {
        rc = ensure_up(r);
        redisReply *reply = rc == 0 ? redisCommandArgv(r->c, 3, argv, lens) : NULL;
        if (rc == 0 && !reply)
            hang_up(r, NULL);
        rc = rc != 0 ? rc : command_ok(reply) ? 0 : SB_ESYS;
    }
    sb_buf_free(&k);
    return rc;
}

static int redis_refresh(void *be, const char *aor)
{
    struct redis_store *r = be;
    if (!*aor) {
        r->need_reload = true;
        return 0;
    }
    store_names_add(&r->refresh, aor);
    return r->refresh.failed ? SB_ENOMEM : 0;
}

/* --- documents ------------------------------------------------------------------------ */

/* The hash that holds @kind's documents. */
static void doc_hash(const struct redis_store *r, const struct store_doc_kind *kind,
                     struct sb_buf *out)
{
    if (kind->shared)
        sb_buf_printf(out, DOC_PREFIX "%s", kind->name);
    else
        sb_buf_printf(out, DOC_PREFIX "%s:%s", kind->name, r->node);
}

/* A stored value "<expires> <text>" to @fn, when it is still live. */
static int doc_value(const char *key, const redisReply *v, uint64_t now_wall_ms, store_doc_fn fn,
                     void *arg)
{
    if (!v || v->type != REDIS_REPLY_STRING)
        return fn(arg, key, NULL, 0);
    char *end;
    unsigned long long expires = strtoull(v->str, &end, 10);
    if (end == v->str || *end != ' ' || expires <= now_wall_ms)
        return fn(arg, key, NULL, 0);
    return fn(arg, key, end + 1, expires);
}

static int redis_load_docs(void *be, const struct store_doc_kind *kind, uint64_t now_wall_ms,
                           store_doc_fn fn, void *arg)
{
    struct redis_store *r = be;
    struct sb_buf hash = {0};
    doc_hash(r, kind, &hash);
    int rc = hash.failed ? SB_ENOMEM : ensure_up(r);
    redisReply *reply = rc == 0 ? command(r->c, "HGETALL %s", hash.data) : NULL;
    if (rc == 0 && !reply) {
        hang_up(r, NULL);
        rc = SB_ESYS;
    }
    for (size_t i = 0;
         reply && reply->type == REDIS_REPLY_ARRAY && i + 1 < reply->elements && rc == 0; i += 2) {
        const redisReply *k = reply->element[i], *v = reply->element[i + 1];
        if (k->type == REDIS_REPLY_STRING) /* an expired one reaches fn as NULL */
            rc = doc_value(k->str, v, now_wall_ms, fn, arg);
    }
    if (reply)
        freeReplyObject(reply);
    sb_buf_free(&hash);
    return rc;
}

static int redis_read_doc(void *be, const struct store_doc_kind *kind, const char *key,
                          uint64_t now_wall_ms, store_doc_fn fn, void *arg)
{
    struct redis_store *r = be;
    struct sb_buf hash = {0};
    doc_hash(r, kind, &hash);
    int rc = hash.failed ? SB_ENOMEM : ensure_up(r);
    const char *argv[] = {"HGET", hash.data, key};
    size_t lens[] = {4, hash.len, strlen(key)};
    redisReply *reply = rc == 0 ? redisCommandArgv(r->c, 3, argv, lens) : NULL;
    if (rc == 0 && !reply) {
        hang_up(r, NULL);
        rc = SB_ESYS;
    }
    if (rc == 0)
        rc = doc_value(key, reply, now_wall_ms, fn, arg);
    if (reply)
        freeReplyObject(reply);
    sb_buf_free(&hash);
    return rc;
}

/* Replaces (HSET) or removes (HDEL) one document; a shared kind's change
 * is announced to the other nodes. Inside the open batch. */
static int redis_put_doc(void *be, const struct store_doc_kind *kind, const char *key,
                         const char *value, uint64_t expires_wall_ms)
{
    struct redis_store *r = be;
    if (!r->in_batch || !r->c)
        return SB_ESYS;
    struct sb_buf hash = {0}, v = {0}, msg = {0};
    doc_hash(r, kind, &hash);
    if (value)
        sb_buf_printf(&v, "%llu %s", (unsigned long long)expires_wall_ms, value);
    sb_buf_printf(&msg, "%s\n%s\n%s", r->node, kind->name, key);
    int rc = hash.failed || v.failed || msg.failed ? SB_ENOMEM : 0;
    if (rc == 0 && value) {
        const char *argv[] = {"HSET", hash.data, key, v.data};
        size_t lens[] = {4, hash.len, strlen(key), v.len};
        rc = queue_plain(r, 4, argv, lens);
    } else if (rc == 0) {
        const char *argv[] = {"HDEL", hash.data, key};
        size_t lens[] = {4, hash.len, strlen(key)};
        rc = queue_plain(r, 3, argv, lens);
    }
    if (rc == 0 && kind->shared) {
        const char *argv[] = {"PUBLISH", r->doc_channel, msg.data};
        size_t lens[] = {7, strlen(r->doc_channel), msg.len};
        rc = queue_plain(r, 3, argv, lens);
    }
    sb_buf_free(&hash);
    sb_buf_free(&v);
    sb_buf_free(&msg);
    return rc;
}

/* A resync: this node's own documents of @kind go (DEL), inside the
 * batch; a shared kind's are every node's and stay. */
static int redis_clear_docs(void *be, const struct store_doc_kind *kind)
{
    struct redis_store *r = be;
    if (kind->shared)
        return 0;
    if (!r->in_batch || !r->c)
        return SB_ESYS;
    struct sb_buf hash = {0};
    doc_hash(r, kind, &hash);
    const char *argv[] = {"DEL", hash.data};
    size_t lens[] = {3, hash.len};
    int rc = hash.failed ? SB_ENOMEM : queue_plain(r, 2, argv, lens);
    sb_buf_free(&hash);
    return rc;
}

/* --- the subscriber ------------------------------------------------------------------ */

/* Sleeps @ms in short naps, returning early when asked to stop. */
static void nap(struct redis_store *r, unsigned ms)
{
    for (unsigned slept = 0; slept < ms && !atomic_load(&r->stop); slept += 50) {
        struct timespec ts = {.tv_nsec = 50 * 1000000L};
        nanosleep(&ts, NULL);
    }
}

/* A document's announcement, "<kind>\n<key>" after the node. */
static void on_doc(struct redis_store *r, const char *text)
{
    const char *nl = strchr(text, '\n');
    char kind[32];
    if (!nl || !nl[1] || (size_t)(nl - text) >= sizeof(kind) || !r->p.remote_doc)
        return;
    memcpy(kind, text, (size_t)(nl - text));
    kind[nl - text] = '\0';
    r->p.remote_doc(r->p.remote_ctx, kind, nl + 1);
}

/* One pushed message: "message", channel, "<node>\n<aor>" (on the
 * documents' channel "<node>\n<kind>\n<key>"). */
static void on_message(struct redis_store *r, const redisReply *m)
{
    if (m->type != REDIS_REPLY_ARRAY || m->elements != 3 ||
        m->element[0]->type != REDIS_REPLY_STRING || strcmp(m->element[0]->str, "message") != 0 ||
        m->element[1]->type != REDIS_REPLY_STRING || m->element[2]->type != REDIS_REPLY_STRING)
        return;
    const char *text = m->element[2]->str;
    const char *nl = memchr(text, '\n', m->element[2]->len);
    if (!nl || !nl[1] || strlen(text) != m->element[2]->len)
        return;
    size_t nlen = (size_t)(nl - text);
    if (nlen == strlen(r->node) && memcmp(text, r->node, nlen) == 0)
        return; /* our own write, already in the cache */
    if (!strcmp(m->element[1]->str, r->doc_channel))
        on_doc(r, nl + 1);
    else
        r->p.remote(r->p.remote_ctx, nl + 1);
}

/* Reads pushed messages until the connection fails or we stop. */
static void listen_loop(struct redis_store *r, redisContext *c)
{
    while (!atomic_load(&r->stop)) {
        void *reply = NULL;
        if (redisGetReplyFromReader(c, &reply) != REDIS_OK)
            return;
        if (reply) {
            on_message(r, reply);
            freeReplyObject(reply);
            continue;
        }
        struct pollfd pfd = {.fd = c->fd, .events = POLLIN};
        int n = poll(&pfd, 1, 200);
        if (n < 0 && errno != EINTR)
            return;
        if (n > 0 && redisBufferRead(c) != REDIS_OK)
            return; /* closed */
    }
}

static void *subscriber_main(void *arg)
{
    struct redis_store *r = arg;
    unsigned backoff = BACKOFF_MIN_MS;
    struct sb_log_limiter limiter = {0};
    while (!atomic_load(&r->stop)) {
        const char *why = NULL;
        redisContext *c = dial(r, false, &why);
        /* two answers: the second is read (and passed over) as a message */
        redisReply *ok = c ? command(c, "SUBSCRIBE %s %s", r->channel, r->doc_channel) : NULL;
        if (!ok) {
            uint64_t more;
            if (sb_log_limiter_ready(&limiter, sb_now_ms(), &more))
                SB_WARN("store %s: cannot subscribe to changes: %s (%llu more)", url_name(r),
                        why ? why : c->errstr, (unsigned long long)more);
            if (c)
                redisFree(c);
            nap(r, backoff);
            backoff = backoff * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : backoff * 2;
            continue;
        }
        freeReplyObject(ok);
        backoff = BACKOFF_MIN_MS;
        /* changes made while we were not listening: read everything again
         * (the first time, the start-up load does that) */
        if (atomic_exchange(&r->subscribed, true))
            r->p.remote(r->p.remote_ctx, "");
        listen_loop(r, c);
        redisFree(c);
        if (atomic_load(&r->stop))
            break;
        SB_WARN("store %s: the change feed stopped; resubscribing", url_name(r));
        /* the persister finds out now, not at its next write: its reload
         * fails, it reports the store down and retries until it is back */
        r->p.remote(r->p.remote_ctx, "");
    }
    return NULL;
}

/* --- opening and closing ---------------------------------------------------------- */

static void redis_close(void *be)
{
    struct redis_store *r = be;
    if (r->sub_started) {
        atomic_store(&r->stop, true);
        pthread_join(r->sub, NULL);
    }
    pending_clear(r);
    free(r->pend);
    store_names_free(&r->refresh);
    strmap_clear(&r->shadows, shadow_free_link);
    strmap_fini(&r->shadows);
    if (r->c)
        redisFree(r->c);
    free(r->node);
    free(r->channel);
    free(r->doc_channel);
    free(r);
}

static const struct store_backend_ops redis_ops = {
    .name = "redis",
    .load = redis_load,
    .begin = redis_begin,
    .put = redis_put,
    .clear = redis_clear,
    .commit = redis_commit,
    .rollback = redis_rollback,
    .purge = redis_purge,
    .get_meta = redis_get_meta,
    .put_meta = redis_put_meta,
    .refresh = redis_refresh,
    .load_docs = redis_load_docs,
    .read_doc = redis_read_doc,
    .put_doc = redis_put_doc,
    .clear_docs = redis_clear_docs,
    .close = redis_close,
};

int store_redis_open(const char *url, const struct store_redis_params *p, struct store_backend *out)
{
    struct redis_store *r = calloc(1, sizeof(*r));
    if (!r)
        return SB_ENOMEM;
    if (store_redis_parse_url(url, &r->url) != 0) {
        free(r);
        return SB_EINVAL;
    }
    r->p = *p;
    r->node = strdup(p->node);
    struct sb_buf ch = {0}, dch = {0};
    sb_buf_printf(&ch, "sb:changes:%d", r->url.db); /* channels are not per DB */
    sb_buf_printf(&dch, "sb:docs:%d", r->url.db);
    r->channel = ch.data;
    r->doc_channel = dch.data;
    r->backoff_ms = BACKOFF_MIN_MS;
    if (!r->node || ch.failed || dch.failed || strmap_init(&r->shadows, 1024) != 0) {
        free(r->node);
        sb_buf_free(&ch);
        sb_buf_free(&dch);
        free(r);
        return SB_ENOMEM;
    }
    r->p.node = r->node;
    if (pthread_create(&r->sub, NULL, subscriber_main, r) != 0) {
        redis_close(r);
        return SB_ESYS;
    }
    r->sub_started = true;
    /* listen before loading, so no change falls between the two */
    for (int i = 0; i < 40 && !atomic_load(&r->subscribed); i++)
        nap(r, 50);
    if (!atomic_exchange(&r->subscribed, true))
        r->need_reload = true; /* not listening yet: the feed's start reloads */
    ensure_up(r);
    out->ops = &redis_ops;
    out->be = r;
    return 0;
}
