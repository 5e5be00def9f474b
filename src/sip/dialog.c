/* The dialogs this proxy record-routed. See dialog.h. */
#include "switchboard/dialog.h"

#include <stdlib.h>
#include <string.h>

#include "switchboard/error.h"
#include "switchboard/strmap.h"
#include "switchboard/timer_wheel.h"

#define DIALOG_LEGS 4 /* callees per dialog: a forked INVITE answered by several */

/* One side: its tag, where requests to it go now, and the target its
 * partner's copy of our Record-Route was signed for. */
struct side {
    char *tag;
    char *target;
    char *signed_for;
};

struct dialog {
    struct strmap_link link; /* key: Call-ID '\n' caller's tag */
    struct dialog_table *table;
    struct timer expiry;
    uint64_t opened_ms;
    bool confirmed;
    bool failed;   /* its INVITE was refused: gone unless a late 2xx comes */
    uint32_t cseq; /* of the INVITE that opened it */
    struct side caller;
    struct side legs[DIALOG_LEGS];
    size_t leg_count;
};

struct dialog_table {
    struct strmap map;
    struct timer_wheel *wheel;
    size_t max;
    uint64_t max_age_ms, grace_ms;
};

/* Writes "id@host\ntag" (no "@host" when the Call-ID has none) into
 * @buf of @size bytes, or into the heap when it does not fit. Returns
 * the key (to free when it is not @buf) with its length, or NULL. */
static char *key_of(const struct dialog_msg *m, const char *tag, char *buf, size_t size,
                    size_t *len)
{
    const char *host = m->call_host;
    size_t a = strlen(m->call_id), h = host ? 1 + strlen(host) : 0, b = strlen(tag);
    char *key = a + h + b + 2 <= size ? buf : malloc(a + h + b + 2);
    if (!key)
        return NULL;
    memcpy(key, m->call_id, a);
    if (host) {
        key[a] = '@';
        memcpy(key + a + 1, host, h - 1);
    }
    key[a + h] = '\n';
    memcpy(key + a + h + 1, tag, b + 1);
    *len = a + h + b + 1;
    return key;
}

static struct dialog *find(const struct dialog_table *t, const struct dialog_msg *m,
                           const char *tag)
{
    char buf[256];
    size_t len;
    if (!m->call_id || !tag)
        return NULL;
    char *key = key_of(m, tag, buf, sizeof(buf), &len);
    struct strmap_link *link = key ? strmap_find(&t->map, key, len) : NULL;
    if (key != buf)
        free(key);
    return (struct dialog *)link;
}

static void side_free(struct side *s)
{
    free(s->tag);
    free(s->target);
    free(s->signed_for);
    memset(s, 0, sizeof(*s));
}

/* Replaces *@field with a copy of @value; keeps it when out of memory. */
static void set(char **field, const char *value)
{
    char *copy = strdup(value);
    if (!copy)
        return;
    free(*field);
    *field = copy;
}

static void dialog_free(struct dialog *d)
{
    timer_cancel(&d->expiry);
    side_free(&d->caller);
    for (size_t i = 0; i < d->leg_count; i++)
        side_free(&d->legs[i]);
    free(d);
}

static void remove_dialog(struct dialog *d)
{
    strmap_remove(&d->table->map, &d->link);
    dialog_free(d);
}

static void on_expiry(struct timer *timer, void *arg)
{
    (void)timer;
    remove_dialog(arg);
}

int dialog_table_create(struct timer_wheel *wheel, size_t max, uint64_t max_age_ms,
                        uint64_t grace_ms, struct dialog_table **out)
{
    struct dialog_table *t = calloc(1, sizeof(*t));
    if (!t || strmap_init(&t->map, 1024) != 0) {
        free(t);
        return SB_ENOMEM;
    }
    t->wheel = wheel;
    t->max = max;
    t->max_age_ms = max_age_ms;
    t->grace_ms = grace_ms;
    *out = t;
    return 0;
}

static void free_link(struct strmap_link *link)
{
    dialog_free((struct dialog *)link);
}

void dialog_table_destroy(struct dialog_table *t)
{
    if (!t)
        return;
    strmap_clear(&t->map, free_link);
    strmap_fini(&t->map);
    free(t);
}

size_t dialog_table_count(const struct dialog_table *t)
{
    return t->map.count;
}

/* Its INVITE was refused: kept for the grace period only, in case a
 * late 2xx (from a branch already given up on) confirms it after all. */
static void fail(struct dialog *d)
{
    d->failed = true;
    timer_schedule_coarse(d->table->wheel, &d->expiry,
                          timer_wheel_now(d->table->wheel) + d->table->grace_ms);
}

static void live_again(struct dialog *d)
{
    if (!d->failed)
        return;
    d->failed = false;
    timer_schedule_coarse(d->table->wheel, &d->expiry, d->opened_ms + d->table->max_age_ms);
}

int dialog_open(struct dialog_table *t, const struct dialog_msg *m, uint32_t cseq,
                const char *caller_target)
{
    struct dialog *d = find(t, m, m->from_tag);
    if (d && d->confirmed)
        return SB_ELIMIT; /* a new INVITE reusing a live call's tags: not ours to track */
    if (d) {
        if (cseq > d->cseq) {
            d->cseq = cseq; /* sent again after a challenge */
            set(&d->caller.target, caller_target);
            set(&d->caller.signed_for, caller_target);
            live_again(d);
        }
        return 0;
    }
    if (!m->call_id || !m->from_tag || t->map.count >= t->max)
        return SB_ELIMIT;
    size_t len;
    char *key = key_of(m, m->from_tag, NULL, 0, &len); /* the table's, on the heap */
    d = calloc(1, sizeof(*d));
    if (d) {
        d->caller.tag = strdup(m->from_tag);
        d->caller.target = strdup(caller_target);
        d->caller.signed_for = strdup(caller_target);
    }
    if (!key || !d || !d->caller.tag || !d->caller.target || !d->caller.signed_for) {
        free(key);
        if (d)
            dialog_free(d);
        return SB_ENOMEM;
    }
    d->table = t;
    d->cseq = cseq;
    d->opened_ms = timer_wheel_now(t->wheel);
    timer_init(&d->expiry, on_expiry, d);
    timer_schedule_coarse(t->wheel, &d->expiry, d->opened_ms + t->max_age_ms);
    strmap_insert(&t->map, &d->link, key, len);
    return 0;
}

static struct side *leg(struct dialog *d, const char *tag)
{
    for (size_t i = 0; tag && i < d->leg_count; i++)
        if (!strcmp(d->legs[i].tag, tag))
            return &d->legs[i];
    return NULL;
}

/* A 1xx/2xx with To tag @tag and Contact @contact for the dialog's own
 * INVITE: the callee it names is where the caller's requests go, and the
 * caller's copy of our Record-Route (in this response) was signed for
 * @contact. */
static void callee_answers(struct dialog *d, const char *tag, const char *contact)
{
    struct side *s = leg(d, tag);
    if (!s && d->leg_count < DIALOG_LEGS && (s = &d->legs[d->leg_count])->tag == NULL) {
        if (!(s->tag = strdup(tag)))
            return;
        d->leg_count++;
    }
    if (!s || !*contact)
        return;
    set(&s->target, contact);
    set(&s->signed_for, contact);
}

/* Which side sent @m, and the other: *from_caller says whether it is the
 * caller. NULL when no live dialog has @m's tags. */
static struct dialog *locate(const struct dialog_table *t, const struct dialog_msg *m,
                             struct side **sender, struct side **receiver)
{
    struct dialog *d = find(t, m, m->from_tag);
    if (d) { /* from the caller, to the callee its To tag names */
        *sender = &d->caller;
        *receiver = leg(d, m->to_tag);
    } else if ((d = find(t, m, m->to_tag)) != NULL) {
        *sender = leg(d, m->from_tag);
        *receiver = &d->caller;
    }
    return d && !d->failed && *sender && *receiver ? d : NULL;
}

void dialog_on_response(struct dialog_table *t, const struct dialog_msg *m, int code, uint32_t cseq,
                        bool invite, const char *contact, const char *request_contact)
{
    struct dialog *d = find(t, m, m->from_tag);
    if (d && invite && cseq == d->cseq) {
        if (code >= 300) {
            if (!d->confirmed)
                fail(d); /* the call never began */
        } else if (code > 100 && m->to_tag) {
            callee_answers(d, m->to_tag, contact);
            if (code >= 200) {
                d->confirmed = true;
                live_again(d);
            }
        }
        return;
    }
    struct side *requester = NULL, *responder = NULL;
    if (code < 200 || code >= 300 || !locate(t, m, &requester, &responder))
        return;
    if (*contact)
        set(&responder->target, contact);
    if (*request_contact)
        set(&requester->target, request_contact);
}

enum dialog_verdict dialog_check(const struct dialog_table *t, const struct dialog_msg *m,
                                 const char *target)
{
    struct side *sender = NULL, *receiver = NULL;
    if (!locate(t, m, &sender, &receiver))
        return DIALOG_UNKNOWN;
    return receiver->target && !strcmp(receiver->target, target) ? DIALOG_OK : DIALOG_WRONG_TARGET;
}

const char *dialog_signed_for(const struct dialog_table *t, const struct dialog_msg *m)
{
    struct side *sender = NULL, *receiver = NULL;
    if (!locate(t, m, &sender, &receiver))
        return NULL;
    return receiver->signed_for;
}

void dialog_close(struct dialog_table *t, const struct dialog_msg *m)
{
    struct side *sender = NULL, *receiver = NULL;
    struct dialog *d = locate(t, m, &sender, &receiver);
    if (d)
        remove_dialog(d);
}
