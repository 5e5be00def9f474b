/* Watched users and their dialogs, shared by the workers. See
 * dialog_watch.h. */
#include "switchboard/dialog_watch.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "switchboard/error.h"
#include "switchboard/strmap.h"

struct kept {
    struct dinfo_dialog d;
    uint64_t changed;      /* the user's version when it last changed */
    int64_t terminated_ms; /* 0: still live */
};

struct watched {
    struct strmap_link link; /* first: strmap.h */
    unsigned holds;          /* subscriptions to this user */
    uint64_t version;
    uint64_t dropped; /* the newest change that was dropped unread */
    size_t count;
    struct kept dialogs[DIALOG_WATCH_MAX_DIALOGS];
};

/* A subscriber's address and how many subscriptions it holds. */
struct source {
    struct strmap_link link; /* first: strmap.h */
    unsigned holds;
};

struct dialog_watch {
    pthread_mutex_t lock;
    struct strmap users;   /* of struct watched */
    struct strmap sources; /* of struct source */
    size_t max_users;
    unsigned per_user, per_source;
    atomic_size_t watched; /* users.count, read without the lock */
};

int dialog_watch_create(size_t max_users, unsigned per_user, unsigned per_source,
                        struct dialog_watch **out)
{
    struct dialog_watch *w = calloc(1, sizeof(*w));
    if (!w || strmap_init(&w->users, 64) != 0) {
        free(w);
        return SB_ENOMEM;
    }
    if (strmap_init(&w->sources, 64) != 0) {
        strmap_fini(&w->users);
        free(w);
        return SB_ENOMEM;
    }
    pthread_mutex_init(&w->lock, NULL);
    w->max_users = max_users;
    w->per_user = per_user;
    w->per_source = per_source;
    *out = w;
    return 0;
}

static void free_entry(struct strmap_link *link)
{
    free(link); /* the first member of either kind */
}

void dialog_watch_destroy(struct dialog_watch *w)
{
    if (!w)
        return;
    strmap_clear(&w->users, free_entry);
    strmap_fini(&w->users);
    strmap_clear(&w->sources, free_entry);
    strmap_fini(&w->sources);
    pthread_mutex_destroy(&w->lock);
    free(w);
}

bool dialog_watch_any(const struct dialog_watch *w)
{
    return atomic_load_explicit(&w->watched, memory_order_relaxed) != 0;
}

static struct watched *find(struct dialog_watch *w, const char *user)
{
    return (struct watched *)strmap_find(&w->users, user, strlen(user));
}

/* The entry of @key in @map, added (zeroed, @size bytes) when missing;
 * NULL when out of memory. */
static struct strmap_link *find_or_add(struct strmap *map, const char *key, size_t size)
{
    size_t len = strlen(key);
    struct strmap_link *l = strmap_find(map, key, len);
    if (l)
        return l;
    char *copy = malloc(len + 1);
    l = calloc(1, size);
    if (!copy || !l) {
        free(copy);
        free(l);
        return NULL;
    }
    memcpy(copy, key, len + 1);
    strmap_insert(map, l, copy, len);
    return l;
}

/* Under the lock: may @source hold one more, of @user (NULL: new)? */
static int room(const struct dialog_watch *w, const struct watched *u, const char *source)
{
    const struct source *s =
        (const struct source *)strmap_find(&w->sources, source, strlen(source));
    if ((s && s->holds >= w->per_source) || (u && u->holds >= w->per_user) ||
        (!u && w->users.count >= w->max_users))
        return SB_ELIMIT;
    return 0;
}

int dialog_watch_hold(struct dialog_watch *w, const char *user, const char *source)
{
    pthread_mutex_lock(&w->lock);
    int rc = room(w, find(w, user), source);
    struct watched *u = NULL;
    struct source *s = NULL;
    if (rc == 0) {
        u = (struct watched *)find_or_add(&w->users, user, sizeof(*u));
        s = u ? (struct source *)find_or_add(&w->sources, source, sizeof(*s)) : NULL;
    }
    if (rc == 0 && u && s) {
        if (!u->holds)
            u->version = 1; /* 0 is a reader's "nothing seen yet" */
        u->holds++;
        s->holds++;
    } else if (rc == 0) {
        rc = SB_ENOMEM;
        if (u && !u->holds) {
            strmap_remove(&w->users, &u->link);
            free(u);
        }
    }
    atomic_store_explicit(&w->watched, w->users.count, memory_order_relaxed);
    pthread_mutex_unlock(&w->lock);
    return rc;
}

void dialog_watch_release(struct dialog_watch *w, const char *user, const char *source)
{
    pthread_mutex_lock(&w->lock);
    struct watched *u = find(w, user);
    if (u && --u->holds == 0) {
        strmap_remove(&w->users, &u->link);
        free(u);
    }
    struct source *s = (struct source *)strmap_find(&w->sources, source, strlen(source));
    if (s && --s->holds == 0) {
        strmap_remove(&w->sources, &s->link);
        free(s);
    }
    atomic_store_explicit(&w->watched, w->users.count, memory_order_relaxed);
    pthread_mutex_unlock(&w->lock);
}

/* Drops dialog @i, noting its change as lost to readers behind it. */
static void drop(struct watched *u, size_t i)
{
    if (u->dialogs[i].changed > u->dropped)
        u->dropped = u->dialogs[i].changed;
    memmove(&u->dialogs[i], &u->dialogs[i + 1], (u->count - i - 1) * sizeof(u->dialogs[0]));
    u->count--;
}

/* Terminated dialogs older than DIALOG_WATCH_KEEP_MS go (a reader that
 * had not looked since gets full state, which no longer lists them). */
static void expire(struct watched *u, int64_t now_ms)
{
    for (size_t i = 0; i < u->count;) {
        const struct kept *k = &u->dialogs[i];
        if (k->terminated_ms && now_ms - k->terminated_ms >= DIALOG_WATCH_KEEP_MS)
            drop(u, i);
        else
            i++;
    }
}

/* The slot for dialog @id: its own, or a new one at the end (room made
 * by dropping the oldest terminated dialog, else the oldest). */
static struct kept *slot(struct watched *u, const char *id)
{
    for (size_t i = 0; i < u->count; i++)
        if (!strcmp(u->dialogs[i].d.id, id))
            return &u->dialogs[i];
    if (u->count == DIALOG_WATCH_MAX_DIALOGS) {
        size_t victim = 0;
        for (size_t i = 0; i < u->count; i++)
            if (u->dialogs[i].terminated_ms) {
                victim = i;
                break;
            }
        drop(u, victim);
    }
    struct kept *k = &u->dialogs[u->count++];
    memset(k, 0, sizeof(*k));
    return k;
}

void dialog_watch_update(struct dialog_watch *w, const char *user, const struct dinfo_dialog *d,
                         int64_t now_ms)
{
    pthread_mutex_lock(&w->lock);
    struct watched *u = find(w, user);
    if (u) {
        expire(u, now_ms);
        struct kept *k = slot(u, d->id);
        k->d = *d;
        k->changed = ++u->version;
        k->terminated_ms = d->state == DINFO_TERMINATED ? now_ms : 0;
    }
    pthread_mutex_unlock(&w->lock);
}

bool dialog_watch_watched(struct dialog_watch *w, const char *user)
{
    pthread_mutex_lock(&w->lock);
    bool held = find(w, user) != NULL;
    pthread_mutex_unlock(&w->lock);
    return held;
}

uint64_t dialog_watch_version(struct dialog_watch *w, const char *user)
{
    pthread_mutex_lock(&w->lock);
    struct watched *u = find(w, user);
    uint64_t v = u ? u->version : 0;
    pthread_mutex_unlock(&w->lock);
    return v;
}

size_t dialog_watch_read(struct dialog_watch *w, const char *user, uint64_t since,
                         struct dinfo_dialog *out, size_t max, uint64_t *version, bool *full,
                         int64_t now_ms)
{
    size_t n = 0;
    pthread_mutex_lock(&w->lock);
    struct watched *u = find(w, user);
    *version = u ? u->version : 0;
    *full = !u || since == 0 || since < u->dropped;
    if (u) {
        expire(u, now_ms);
        for (size_t i = 0; i < u->count && n < max; i++)
            if (*full || u->dialogs[i].changed > since)
                out[n++] = u->dialogs[i].d;
    }
    pthread_mutex_unlock(&w->lock);
    return n;
}
