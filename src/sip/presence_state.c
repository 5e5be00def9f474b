/* Published presence, shared by the workers. See presence_state.h. */
#include "switchboard/presence_state.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include <time.h>

#include "switchboard/bencode.h"
#include "switchboard/buf.h"
#include "switchboard/error.h"
#include "switchboard/strmap.h"

#define PRESENCE_PER_USER_MAX 16

struct published {
    struct strmap_link link; /* first (strmap.h) */
    uint64_t version;
    size_t count;
    struct presence_entry entries[PRESENCE_PER_USER_MAX];
};

struct presence_state {
    pthread_mutex_t lock;
    struct strmap users; /* of struct published */
    size_t max_users;
    unsigned per_user;
    uint64_t order, version; /* counters: a version never repeats, even for a user made anew */
};

int presence_state_create(size_t max_users, unsigned per_user, struct presence_state **out)
{
    struct presence_state *ps = calloc(1, sizeof(*ps));
    if (!ps || strmap_init(&ps->users, 64) != 0) {
        free(ps);
        return SB_ENOMEM;
    }
    pthread_mutex_init(&ps->lock, NULL);
    ps->max_users = max_users;
    ps->per_user = per_user < PRESENCE_PER_USER_MAX ? per_user : PRESENCE_PER_USER_MAX;
    *out = ps;
    return 0;
}

static void free_entry(struct strmap_link *l)
{
    free(l);
}

void presence_state_destroy(struct presence_state *ps)
{
    if (!ps)
        return;
    strmap_clear(&ps->users, free_entry);
    strmap_fini(&ps->users);
    pthread_mutex_destroy(&ps->lock);
    free(ps);
}

static struct published *find(struct presence_state *ps, const char *user)
{
    return (struct published *)strmap_find(&ps->users, user, strlen(user));
}

/* Under the lock: expired entries of @u go (a change). */
static void sweep(struct presence_state *ps, struct published *u, uint64_t now_ms)
{
    for (size_t i = 0; i < u->count;) {
        if (u->entries[i].expires_ms > now_ms) {
            i++;
            continue;
        }
        u->entries[i] = u->entries[--u->count];
        u->version = ++ps->version;
    }
}

/* Under the lock: a user with nothing published goes (its version reads
 * 0 then, itself a change for whoever saw another). */
static void drop_if_empty(struct presence_state *ps, struct published *u)
{
    if (u && u->count == 0) {
        strmap_remove(&ps->users, &u->link);
        free(u);
    }
}

/* The order of a publication now: wall-clock us, after every one before. */
static uint64_t next_order(struct presence_state *ps)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    uint64_t us = (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
    ps->order = us > ps->order ? us : ps->order + 1;
    return ps->order;
}

static void new_tag(char *etag)
{
    uint64_t r = 0;
    if (getrandom(&r, sizeof(r), 0) != sizeof(r))
        r = (uint64_t)(uintptr_t)etag ^ (uint64_t)rand();
    snprintf(etag, PRESENCE_ETAG_MAX, "sb%016" PRIx64, r);
}

/* Under the lock: @user's record, made when missing (NULL: no room). */
static struct published *get(struct presence_state *ps, const char *user)
{
    struct published *u = find(ps, user);
    if (u || ps->users.count >= ps->max_users)
        return u;
    size_t len = strlen(user);
    char *key = malloc(len + 1);
    u = calloc(1, sizeof(*u));
    if (!key || !u) {
        free(key);
        free(u);
        return NULL;
    }
    memcpy(key, user, len + 1);
    strmap_insert(&ps->users, &u->link, key, len);
    return u;
}

static int publish_locked(struct presence_state *ps, const char *user, const char *if_match,
                          const struct pidf_published *doc, uint64_t ttl_ms, uint64_t now_ms,
                          char *etag, struct presence_entry *kept)
{
    struct published *u = if_match ? find(ps, user) : get(ps, user);
    if (!u)
        return if_match ? SB_ENOTFOUND : SB_ELIMIT;
    sweep(ps, u, now_ms);
    struct presence_entry *e = NULL;
    for (size_t i = 0; if_match && i < u->count && !e; i++)
        if (!strcmp(u->entries[i].etag, if_match))
            e = &u->entries[i];
    if (if_match && !e)
        return SB_ENOTFOUND;
    if (!e && u->count >= ps->per_user)
        return SB_ELIMIT;
    if (ttl_ms == 0) { /* §4.5: removed */
        *e = u->entries[--u->count];
        u->version = ++ps->version;
        etag[0] = '\0';
        if (kept)
            kept->etag[0] = '\0';
        return 0;
    }
    if (!e) {
        e = &u->entries[u->count++];
        memset(e, 0, sizeof(*e));
    }
    if (doc) { /* a new document (a refresh keeps what it had) */
        e->doc = *doc;
        e->order = next_order(ps);
        u->version = ++ps->version;
    }
    e->expires_ms = now_ms + ttl_ms;
    new_tag(e->etag); /* §4.1: every success gets a new tag */
    snprintf(etag, PRESENCE_ETAG_MAX, "%s", e->etag);
    if (kept)
        *kept = *e;
    return 0;
}

int presence_state_publish(struct presence_state *ps, const char *user, const char *if_match,
                           const struct pidf_published *doc, uint64_t ttl_ms, uint64_t now_ms,
                           char *etag, struct presence_entry *kept)
{
    if (!if_match && (!doc || ttl_ms == 0))
        return SB_ENOTFOUND; /* nothing to publish: the caller answers 400 */
    pthread_mutex_lock(&ps->lock);
    int rc = publish_locked(ps, user, if_match, doc, ttl_ms, now_ms, etag, kept);
    drop_if_empty(ps, find(ps, user));
    pthread_mutex_unlock(&ps->lock);
    return rc;
}

uint64_t presence_state_version(struct presence_state *ps, const char *user, uint64_t now_ms)
{
    pthread_mutex_lock(&ps->lock);
    struct published *u = find(ps, user);
    if (u)
        sweep(ps, u, now_ms);
    uint64_t v = u && u->count ? u->version : 0;
    drop_if_empty(ps, u);
    pthread_mutex_unlock(&ps->lock);
    return v;
}

bool presence_state_read(struct presence_state *ps, const char *user, uint64_t now_ms,
                         struct pidf_published *out)
{
    pthread_mutex_lock(&ps->lock);
    struct published *u = find(ps, user);
    const struct presence_entry *newest = NULL;
    if (u)
        sweep(ps, u, now_ms);
    for (size_t i = 0; u && i < u->count; i++)
        if (!newest || u->entries[i].order > newest->order)
            newest = &u->entries[i];
    if (newest)
        *out = newest->doc;
    pthread_mutex_unlock(&ps->lock);
    return newest != NULL;
}

/* Under the lock: @u's entry tagged @etag, or NULL. */
static struct presence_entry *tagged(struct published *u, const char *etag)
{
    for (size_t i = 0; u && i < u->count; i++)
        if (!strcmp(u->entries[i].etag, etag))
            return &u->entries[i];
    return NULL;
}

int presence_state_put(struct presence_state *ps, const char *user, const struct presence_entry *e,
                       uint64_t now_ms)
{
    if (e->expires_ms <= now_ms)
        return 0;
    pthread_mutex_lock(&ps->lock);
    struct published *u = get(ps, user);
    int rc = u ? 0 : SB_ELIMIT;
    if (u)
        sweep(ps, u, now_ms);
    struct presence_entry *slot = rc == 0 ? tagged(u, e->etag) : NULL;
    if (rc == 0 && !slot && u->count >= ps->per_user)
        rc = SB_ELIMIT;
    else if (rc == 0 && !slot)
        slot = &u->entries[u->count++];
    if (slot) {
        *slot = *e;
        slot->etag[PRESENCE_ETAG_MAX - 1] = '\0';
        u->version = ++ps->version;
        if (e->order > ps->order)
            ps->order = e->order; /* ours come after it */
    }
    drop_if_empty(ps, u);
    pthread_mutex_unlock(&ps->lock);
    return rc;
}

void presence_state_forget(struct presence_state *ps, const char *user, const char *etag)
{
    pthread_mutex_lock(&ps->lock);
    struct published *u = find(ps, user);
    struct presence_entry *e = tagged(u, etag);
    if (e) {
        *e = u->entries[--u->count];
        u->version = ++ps->version;
    }
    drop_if_empty(ps, u);
    pthread_mutex_unlock(&ps->lock);
}

/* --- as the store keeps an entry ------------------------------------------ */

void presence_entry_key(const char *user, const char *etag, struct sb_buf *out)
{
    sb_buf_printf(out, "%s %s", user, etag);
}

bool presence_entry_split(const char *key, char *user, size_t user_size, char *etag)
{
    const char *sp = strrchr(key, ' ');
    size_t ulen = sp ? (size_t)(sp - key) : 0;
    if (!sp || ulen == 0 || ulen >= user_size || !sp[1] || strlen(sp + 1) >= PRESENCE_ETAG_MAX)
        return false;
    memcpy(user, key, ulen);
    user[ulen] = '\0';
    snprintf(etag, PRESENCE_ETAG_MAX, "%s", sp + 1);
    return true;
}

void presence_entry_write(struct sb_buf *b, const struct presence_entry *e)
{
    bencode_dict(b); /* keys sorted */
    bencode_cstr(b, "activity");
    bencode_cstr(b, e->doc.activity);
    bencode_cstr(b, "basic");
    bencode_int(b, e->doc.basic);
    bencode_cstr(b, "note");
    bencode_cstr(b, e->doc.note);
    bencode_cstr(b, "order");
    bencode_int(b, (long long)e->order);
    bencode_end(b);
}

int presence_entry_emit(const char *user, const struct presence_entry *e, uint64_t expires_wall_ms,
                        int (*emit)(void *arg, const char *key, const char *value,
                                    uint64_t expires_wall_ms),
                        void *arg)
{
    struct sb_buf key = {0}, value = {0};
    presence_entry_key(user, e->etag, &key);
    presence_entry_write(&value, e);
    int rc =
        key.failed || value.failed ? SB_ENOMEM : emit(arg, key.data, value.data, expires_wall_ms);
    sb_buf_free(&key);
    sb_buf_free(&value);
    return rc;
}

/* Copies the string under @key into @buf[0..size) (no NUL inside). */
static bool copy_str(const struct bencode_node *n, const char *key, char *buf, size_t size)
{
    long i = bencode_get(n, 0, key);
    if (i < 0 || n[i].type != BENCODE_STR || n[i].len >= size || memchr(n[i].str, '\0', n[i].len))
        return false;
    memcpy(buf, n[i].str, n[i].len);
    buf[n[i].len] = '\0';
    return true;
}

int presence_entry_read(const char *text, size_t len, struct presence_entry *out)
{
    struct bencode_node n[16];
    size_t count;
    long used = bencode_parse(text, len, n, 16, &count);
    if (used < 0 || (size_t)used != len || n[0].type != BENCODE_DICT)
        return SB_EMALFORMED;
    long basic = bencode_get(n, 0, "basic"), order = bencode_get(n, 0, "order");
    if (basic < 0 || n[basic].type != BENCODE_INT || n[basic].num < PIDF_BASIC_NONE ||
        n[basic].num > PIDF_BASIC_CLOSED || order < 0 || n[order].type != BENCODE_INT ||
        n[order].num < 0)
        return SB_EMALFORMED;
    if (!copy_str(n, "activity", out->doc.activity, sizeof(out->doc.activity)) ||
        !copy_str(n, "note", out->doc.note, sizeof(out->doc.note)))
        return SB_EMALFORMED;
    out->doc.basic = (int)n[basic].num;
    out->order = (uint64_t)n[order].num;
    return 0;
}

int presence_state_load(struct presence_state *ps, const char *key, const char *value,
                        uint64_t expires_wall_ms, uint64_t wall_ms, uint64_t now_ms)
{
    char user[320];
    struct presence_entry e = {0};
    if (!presence_entry_split(key, user, sizeof(user), e.etag))
        return SB_EMALFORMED;
    if (!value || expires_wall_ms <= wall_ms) {
        presence_state_forget(ps, user, e.etag);
        return 0;
    }
    if (presence_entry_read(value, strlen(value), &e) != 0)
        return SB_EMALFORMED;
    e.expires_ms = now_ms + (expires_wall_ms - wall_ms);
    return presence_state_put(ps, user, &e, now_ms);
}

struct snapshot {
    char user[320];
    struct presence_entry e;
};

/* Under the lock: every live entry into a new array (*@n of them). */
static struct snapshot *snapshot_locked(struct presence_state *ps, uint64_t now_ms, size_t *n)
{
    size_t room = 0;
    *n = 0;
    for (size_t b = 0; b <= ps->users.mask; b++)
        for (struct strmap_link *l = ps->users.buckets[b]; l; l = l->next)
            room += ((struct published *)l)->count;
    struct snapshot *v = malloc((room ? room : 1) * sizeof(*v));
    for (size_t b = 0; v && b <= ps->users.mask; b++) {
        for (struct strmap_link *l = ps->users.buckets[b]; l; l = l->next) {
            const struct published *u = (const struct published *)l;
            for (size_t i = 0; i < u->count; i++) {
                if (u->entries[i].expires_ms <= now_ms)
                    continue;
                snprintf(v[*n].user, sizeof(v[*n].user), "%s", l->key);
                v[(*n)++].e = u->entries[i];
            }
        }
    }
    return v;
}

int presence_state_docs(struct presence_state *ps, uint64_t now_ms, uint64_t wall_ms,
                        int (*emit)(void *arg, const char *key, const char *value,
                                    uint64_t expires_wall_ms),
                        void *arg)
{
    size_t n;
    pthread_mutex_lock(&ps->lock);
    struct snapshot *v = snapshot_locked(ps, now_ms, &n);
    pthread_mutex_unlock(&ps->lock);
    int rc = v ? 0 : SB_ENOMEM;
    for (size_t i = 0; rc == 0 && i < n; i++)
        rc = presence_entry_emit(v[i].user, &v[i].e, wall_ms + (v[i].e.expires_ms - now_ms), emit,
                                 arg);
    free(v);
    return rc;
}
