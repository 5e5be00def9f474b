/* Unit tests for src/sip/dialog_watch.c: the watched users' dialogs,
 * written by the calls' workers and read by the subscriptions'. */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "switchboard/dialog_watch.h"
#include "switchboard/error.h"

static struct dinfo_dialog dialog(const char *id, enum dinfo_state s)
{
    struct dinfo_dialog d;
    memset(&d, 0, sizeof(d));
    dinfo_set(d.id, sizeof(d.id), id);
    d.state = s;
    return d;
}

static struct dialog_watch *made(size_t max)
{
    struct dialog_watch *w;
    cr_assert_eq(dialog_watch_create(max, 3, 4, &w), 0);
    return w;
}

Test(dialog_watch, nobody_watched_costs_nothing_and_keeps_nothing)
{
    struct dialog_watch *w = made(4);
    cr_assert_not(dialog_watch_any(w));
    struct dinfo_dialog d = dialog("c1", DINFO_TRYING);
    dialog_watch_update(w, "bob", &d, 1000);
    cr_assert_eq(dialog_watch_version(w, "bob"), 0);
    cr_assert_eq(dialog_watch_hold(w, "bob", "10.0.0.1"), 0);
    cr_assert(dialog_watch_any(w));
    cr_assert(dialog_watch_watched(w, "bob"));
    cr_assert_not(dialog_watch_watched(w, "carol"));
    cr_assert_eq(dialog_watch_version(w, "bob"), 1, "what came before the watch is not kept");
    dialog_watch_release(w, "bob", "10.0.0.1");
    cr_assert_not(dialog_watch_any(w));
    dialog_watch_destroy(w);
}

Test(dialog_watch, readers_get_full_state_then_what_changed)
{
    struct dialog_watch *w = made(4);
    cr_assert_eq(dialog_watch_hold(w, "bob", "10.0.0.1"), 0);
    struct dinfo_dialog d1 = dialog("c1", DINFO_EARLY), d2 = dialog("c2", DINFO_TRYING);
    dialog_watch_update(w, "bob", &d1, 1000);
    dialog_watch_update(w, "bob", &d2, 1000);
    struct dinfo_dialog out[DIALOG_WATCH_MAX_DIALOGS];
    uint64_t v;
    bool full;
    cr_assert_eq(dialog_watch_read(w, "bob", 0, out, 16, &v, &full, 1000), 2);
    cr_assert(full);
    cr_assert_eq(v, 3);
    cr_assert_str_eq(out[0].id, "c1");
    d1.state = DINFO_CONFIRMED;
    dialog_watch_update(w, "bob", &d1, 1100);
    cr_assert_eq(dialog_watch_read(w, "bob", v, out, 16, &v, &full, 1100), 1);
    cr_assert_not(full);
    cr_assert_str_eq(out[0].id, "c1");
    cr_assert_eq(out[0].state, DINFO_CONFIRMED);
    cr_assert_eq(v, 4);
    cr_assert_eq(dialog_watch_read(w, "bob", v, out, 16, &v, &full, 1100), 0, "nothing new");
    dialog_watch_release(w, "bob", "10.0.0.1");
    dialog_watch_destroy(w);
}

Test(dialog_watch, terminated_dialogs_stay_a_while_then_go)
{
    struct dialog_watch *w = made(4);
    cr_assert_eq(dialog_watch_hold(w, "bob", "10.0.0.1"), 0);
    struct dinfo_dialog d = dialog("c1", DINFO_TERMINATED);
    dialog_watch_update(w, "bob", &d, 1000);
    struct dinfo_dialog out[DIALOG_WATCH_MAX_DIALOGS];
    uint64_t v;
    bool full;
    cr_assert_eq(dialog_watch_read(w, "bob", 0, out, 16, &v, &full, 2000), 1);
    cr_assert_eq(out[0].state, DINFO_TERMINATED);
    uint64_t seen = v;
    cr_assert_eq(dialog_watch_read(w, "bob", 0, out, 16, &v, &full, 1000 + DIALOG_WATCH_KEEP_MS),
                 0);
    /* a reader that had not seen the end gets full state without it */
    cr_assert_eq(
        dialog_watch_read(w, "bob", seen - 1, out, 16, &v, &full, 1000 + DIALOG_WATCH_KEEP_MS), 0);
    cr_assert(full);
    /* one that had, does not */
    dialog_watch_read(w, "bob", seen, out, 16, &v, &full, 1000 + DIALOG_WATCH_KEEP_MS);
    cr_assert_not(full);
    dialog_watch_release(w, "bob", "10.0.0.1");
    dialog_watch_destroy(w);
}

Test(dialog_watch, a_busy_user_keeps_the_newest_and_behind_readers_get_full)
{
    struct dialog_watch *w = made(4);
    cr_assert_eq(dialog_watch_hold(w, "bob", "10.0.0.1"), 0);
    char id[16];
    for (int i = 0; i < DIALOG_WATCH_MAX_DIALOGS + 3; i++) {
        snprintf(id, sizeof(id), "c%d", i);
        struct dinfo_dialog d = dialog(id, i == 5 ? DINFO_TERMINATED : DINFO_CONFIRMED);
        dialog_watch_update(w, "bob", &d, 1000);
    }
    struct dinfo_dialog out[DIALOG_WATCH_MAX_DIALOGS];
    uint64_t v;
    bool full;
    size_t n = dialog_watch_read(w, "bob", 1, out, 16, &v, &full, 1000);
    cr_assert(full, "changes it had not read were dropped");
    cr_assert_eq(n, DIALOG_WATCH_MAX_DIALOGS);
    for (size_t i = 0; i < n; i++)
        cr_assert_str_neq(out[i].id, "c5", "the terminated one gave way first");
    cr_assert_str_eq(out[n - 1].id, "c18");
    dialog_watch_release(w, "bob", "10.0.0.1");
    dialog_watch_destroy(w);
}

Test(dialog_watch, subscriptions_are_bounded_per_user_and_per_source)
{
    struct dialog_watch *w = made(8);
    for (int i = 0; i < 3; i++)
        cr_assert_eq(dialog_watch_hold(w, "bob", "10.0.0.1"), 0);
    cr_assert_eq(dialog_watch_hold(w, "bob", "10.0.0.2"), SB_ELIMIT, "3 per user");
    cr_assert_eq(dialog_watch_hold(w, "carol", "10.0.0.1"), 0);
    cr_assert_eq(dialog_watch_hold(w, "dave", "10.0.0.1"), SB_ELIMIT, "4 per source");
    cr_assert_not(dialog_watch_watched(w, "dave"), "a refused hold leaves nothing");
    cr_assert_eq(dialog_watch_hold(w, "dave", "10.0.0.2"), 0, "another source may");
    dialog_watch_release(w, "bob", "10.0.0.1");
    cr_assert_eq(dialog_watch_hold(w, "erin", "10.0.0.1"), 0, "room again once released");
    for (int i = 0; i < 2; i++)
        dialog_watch_release(w, "bob", "10.0.0.1");
    dialog_watch_release(w, "carol", "10.0.0.1");
    dialog_watch_release(w, "erin", "10.0.0.1");
    dialog_watch_release(w, "dave", "10.0.0.2");
    cr_assert_not(dialog_watch_any(w));
    dialog_watch_destroy(w);
}

Test(dialog_watch, watched_users_are_bounded_and_counted_per_hold)
{
    struct dialog_watch *w = made(2);
    cr_assert_eq(dialog_watch_hold(w, "a", "10.0.0.1"), 0);
    cr_assert_eq(dialog_watch_hold(w, "b", "10.0.0.1"), 0);
    cr_assert_eq(dialog_watch_hold(w, "c", "10.0.0.1"), SB_ELIMIT);
    cr_assert_eq(dialog_watch_hold(w, "a", "10.0.0.1"), 0,
                 "a second subscription to a watched user");
    dialog_watch_release(w, "a", "10.0.0.1");
    struct dinfo_dialog d = dialog("c1", DINFO_TRYING);
    dialog_watch_update(w, "a", &d, 1000);
    cr_assert_eq(dialog_watch_version(w, "a"), 2, "still held once");
    dialog_watch_release(w, "a", "10.0.0.1");
    cr_assert_eq(dialog_watch_version(w, "a"), 0);
    cr_assert_eq(dialog_watch_hold(w, "c", "10.0.0.1"), 0);
    dialog_watch_release(w, "b", "10.0.0.1");
    dialog_watch_release(w, "c", "10.0.0.1");
    dialog_watch_destroy(w);
}

/* Two writers (calls' workers) and a reader (a subscription's worker):
 * the reader, following versions, sees each dialog's last state. */
struct run {
    struct dialog_watch *w;
    int base;
};

static void *writer(void *arg)
{
    struct run *r = arg;
    char id[16];
    for (int i = 0; i < 2000; i++) {
        snprintf(id, sizeof(id), "w%d", r->base + i % 4);
        struct dinfo_dialog d = dialog(id, i < 1996 ? DINFO_EARLY : DINFO_CONFIRMED);
        dialog_watch_update(r->w, "bob", &d, 1000);
    }
    return NULL;
}

Test(dialog_watch, concurrent_writers_and_a_reader_agree_at_the_end)
{
    struct dialog_watch *w = made(4);
    cr_assert_eq(dialog_watch_hold(w, "bob", "10.0.0.1"), 0);
    struct run a = {w, 0}, b = {w, 10};
    pthread_t ta, tb;
    pthread_create(&ta, NULL, writer, &a);
    pthread_create(&tb, NULL, writer, &b);
    enum dinfo_state last[20] = {0};
    struct dinfo_dialog out[DIALOG_WATCH_MAX_DIALOGS];
    uint64_t v = 0;
    bool full;
    for (int round = 0; round < 4000; round++) {
        size_t n = dialog_watch_read(w, "bob", v, out, 16, &v, &full, 1000);
        for (size_t i = 0; i < n; i++)
            last[atoi(out[i].id + 1)] = out[i].state;
    }
    pthread_join(ta, NULL);
    pthread_join(tb, NULL);
    size_t n = dialog_watch_read(w, "bob", v, out, 16, &v, &full, 1000);
    for (size_t i = 0; i < n; i++)
        last[atoi(out[i].id + 1)] = out[i].state;
    cr_assert_eq(v, 4001);
    for (int i = 0; i < 4; i++) {
        cr_assert_eq(last[i], DINFO_CONFIRMED, "w%d", i);
        cr_assert_eq(last[10 + i], DINFO_CONFIRMED, "w%d", 10 + i);
    }
    dialog_watch_release(w, "bob", "10.0.0.1");
    dialog_watch_destroy(w);
}
