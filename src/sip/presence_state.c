/* Published presence, shared by the workers. See presence_state.h. */
#include "switchboard/presence_state.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "switchboard/error.h"
#include "switchboard/strmap.h"

#define PRESENCE_PER_USER_MAX 16

struct entry {
    char etag[PRESENCE_ETAG_MAX];
    uint64_t expires_ms;
    uint64_t order; /* when published or modified: the newest wins */
    struct pidf_published doc;
};

struct published {
    struct strmap_link link; /* first (strmap.h) */
    uint64_t version;
    size_t count;
    struct entry entries[PRESENCE_PER_USER_MAX];
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
                          char *etag)
{
    struct published *u = if_match ? find(ps, user) : get(ps, user);
    if (!u)
        return if_match ? SB_ENOTFOUND : SB_ELIMIT;
    sweep(ps, u, now_ms);
    struct entry *e = NULL;
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
        return 0;
    }
    if (!e) {
        e = &u->entries[u->count++];
        memset(e, 0, sizeof(*e));
    }
    if (doc) { /* a new document (a refresh keeps what it had) */
        e->doc = *doc;
        e->order = ++ps->order;
        u->version = ++ps->version;
    }
    e->expires_ms = now_ms + ttl_ms;
    new_tag(e->etag); /* §4.1: every success gets a new tag */
    snprintf(etag, PRESENCE_ETAG_MAX, "%s", e->etag);
    return 0;
}

int presence_state_publish(struct presence_state *ps, const char *user, const char *if_match,
                           const struct pidf_published *doc, uint64_t ttl_ms, uint64_t now_ms,
                           char *etag)
{
    if (!if_match && (!doc || ttl_ms == 0))
        return SB_ENOTFOUND; /* nothing to publish: the caller answers 400 */
    pthread_mutex_lock(&ps->lock);
    int rc = publish_locked(ps, user, if_match, doc, ttl_ms, now_ms, etag);
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
    const struct entry *newest = NULL;
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
