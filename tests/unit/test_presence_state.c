/* Unit tests for src/sip/presence_state.c: what phones published (RFC
 * 3903), entity-tags, expiry, the newest entry winning, the bounds. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "switchboard/buf.h"
#include "switchboard/error.h"
#include "switchboard/presence_state.h"

static struct pidf_published doing(const char *activity)
{
    struct pidf_published p = {.basic = PIDF_BASIC_OPEN};
    snprintf(p.activity, sizeof(p.activity), "%s", activity);
    return p;
}

Test(presence_state, publish_refresh_modify_remove)
{
    struct presence_state *ps;
    cr_assert_eq(presence_state_create(10, 4, &ps), 0);
    struct pidf_published out, away = doing("away"), busy = doing("busy");
    char e1[PRESENCE_ETAG_MAX], e2[PRESENCE_ETAG_MAX], e3[PRESENCE_ETAG_MAX];
    cr_assert_eq(presence_state_version(ps, "bob", 0), 0);
    cr_assert_not(presence_state_read(ps, "bob", 0, &out));
    cr_assert_eq(presence_state_publish(ps, "bob", NULL, &away, 60000, 1000, e1, NULL), 0);
    uint64_t v1 = presence_state_version(ps, "bob", 1000);
    cr_assert_gt(v1, 0);
    cr_assert(presence_state_read(ps, "bob", 1000, &out));
    cr_assert_str_eq(out.activity, "away");
    /* a refresh: a new tag, the same document, no change to read */
    cr_assert_eq(presence_state_publish(ps, "bob", e1, NULL, 60000, 2000, e2, NULL), 0);
    cr_assert_str_neq(e1, e2, "§4.1: every success a new entity-tag");
    cr_assert_eq(presence_state_version(ps, "bob", 2000), v1);
    cr_assert_eq(presence_state_publish(ps, "bob", e1, NULL, 60000, 2000, e3, NULL), SB_ENOTFOUND,
                 "the old tag is gone: 412");
    /* a modification is a change */
    cr_assert_eq(presence_state_publish(ps, "bob", e2, &busy, 60000, 3000, e3, NULL), 0);
    cr_assert_gt(presence_state_version(ps, "bob", 3000), v1);
    cr_assert(presence_state_read(ps, "bob", 3000, &out));
    cr_assert_str_eq(out.activity, "busy");
    /* removed: nothing left */
    cr_assert_eq(presence_state_publish(ps, "bob", e3, NULL, 0, 4000, e1, NULL), 0);
    cr_assert_not(presence_state_read(ps, "bob", 4000, &out));
    cr_assert_eq(presence_state_version(ps, "bob", 4000), 0);
    cr_assert_eq(presence_state_publish(ps, "bob", NULL, NULL, 60000, 4000, e1, NULL), SB_ENOTFOUND,
                 "a new entry needs a document");
    presence_state_destroy(ps);
}

Test(presence_state, the_newest_device_wins_and_entries_expire)
{
    struct presence_state *ps;
    cr_assert_eq(presence_state_create(10, 2, &ps), 0);
    struct pidf_published out, away = doing("away"), busy = doing("busy"), meal = doing("meal");
    char desk[PRESENCE_ETAG_MAX], mobile[PRESENCE_ETAG_MAX], third[PRESENCE_ETAG_MAX];
    cr_assert_eq(presence_state_publish(ps, "bob", NULL, &away, 10000, 0, desk, NULL), 0);
    cr_assert_eq(presence_state_publish(ps, "bob", NULL, &busy, 60000, 100, mobile, NULL), 0);
    cr_assert(presence_state_read(ps, "bob", 200, &out));
    cr_assert_str_eq(out.activity, "busy", "the newest");
    cr_assert_eq(presence_state_publish(ps, "bob", NULL, &meal, 60000, 300, third, NULL), SB_ELIMIT,
                 "two devices per user");
    /* the mobile's entry expires: the desk's, older, shows again */
    cr_assert_eq(presence_state_publish(ps, "bob", mobile, NULL, 1000, 400, mobile, NULL), 0);
    uint64_t before = presence_state_version(ps, "bob", 1000);
    cr_assert(presence_state_read(ps, "bob", 2000, &out));
    cr_assert_str_eq(out.activity, "away");
    cr_assert_gt(presence_state_version(ps, "bob", 2000), before, "an expiry is a change");
    cr_assert_not(presence_state_read(ps, "bob", 20000, &out), "all expired");
    presence_state_destroy(ps);
}

Test(presence_state, users_are_bounded)
{
    struct presence_state *ps;
    cr_assert_eq(presence_state_create(2, 4, &ps), 0);
    struct pidf_published away = doing("away");
    char tag[PRESENCE_ETAG_MAX];
    cr_assert_eq(presence_state_publish(ps, "a", NULL, &away, 60000, 0, tag, NULL), 0);
    cr_assert_eq(presence_state_publish(ps, "b", NULL, &away, 60000, 0, tag, NULL), 0);
    cr_assert_eq(presence_state_publish(ps, "c", NULL, &away, 60000, 0, tag, NULL), SB_ELIMIT);
    cr_assert_eq(presence_state_publish(ps, "c", "sbnothing", NULL, 60000, 0, tag, NULL),
                 SB_ENOTFOUND);
    presence_state_destroy(ps);
}

/* What the store keeps of an entry comes back whole, and an entry from
 * before a restart or from another node takes its place by its tag: a
 * newer one wins over ours, a removal there removes it here, one expired
 * is not put, and a publication here afterwards comes after it. */
Test(presence_state, kept_entries_come_back_and_compose)
{
    struct presence_state *ps;
    cr_assert_eq(presence_state_create(8, 4, &ps), 0);
    struct pidf_published away = doing("away"), out;
    struct presence_entry here;
    char tag[PRESENCE_ETAG_MAX];
    cr_assert_eq(presence_state_publish(ps, "bob", NULL, &away, 60000, 0, tag, &here), 0);
    cr_assert_str_eq(here.etag, tag);
    cr_assert_eq(here.expires_ms, 60000);
    struct sb_buf key = {0}, value = {0};
    presence_entry_key("bob smith", "sbx", &key);
    char user[64], etag[PRESENCE_ETAG_MAX];
    cr_assert(presence_entry_split(key.data, user, sizeof(user), etag));
    cr_assert_str_eq(user, "bob smith", "split at the last space");
    cr_assert_str_eq(etag, "sbx");
    cr_assert_not(presence_entry_split("nospace", user, sizeof(user), etag));
    cr_assert_not(presence_entry_split("bob ", user, sizeof(user), etag));

    struct presence_entry there = {.doc = {.basic = PIDF_BASIC_CLOSED}, .order = here.order + 1};
    snprintf(there.doc.note, sizeof(there.doc.note), "on holiday");
    presence_entry_write(&value, &there);
    char wkey[64];
    snprintf(wkey, sizeof(wkey), "bob sbthere");
    uint64_t v = presence_state_version(ps, "bob", 100);
    cr_assert_eq(presence_state_load(ps, wkey, value.data, 2000000, 1000000, 100), 0);
    cr_assert_gt(presence_state_version(ps, "bob", 100), v, "a change for the subscribers");
    cr_assert(presence_state_read(ps, "bob", 100, &out));
    cr_assert_eq(out.basic, PIDF_BASIC_CLOSED, "the newer, from the other node");
    cr_assert_str_eq(out.note, "on holiday");
    cr_assert_eq(presence_state_load(ps, wkey, NULL, 0, 1000000, 100), 0);
    cr_assert(presence_state_read(ps, "bob", 100, &out));
    cr_assert_str_eq(out.activity, "away", "removed there, ours shows again");
    cr_assert_eq(presence_state_load(ps, "carol sbold", value.data, 999, 1000, 100), 0);
    cr_assert_not(presence_state_read(ps, "carol", 100, &out), "already expired: not put");
    cr_assert_eq(presence_state_load(ps, "no-tag", value.data, 2000000, 1000000, 100),
                 SB_EMALFORMED);
    cr_assert_eq(presence_state_load(ps, wkey, "d5:basici9ee", 2000000, 1000000, 100),
                 SB_EMALFORMED);

    struct presence_entry back = {0};
    cr_assert_eq(presence_entry_read(value.data, value.len, &back), 0);
    cr_assert_eq(back.order, there.order);
    cr_assert_str_eq(back.doc.note, "on holiday");
    cr_assert_eq(back.doc.basic, PIDF_BASIC_CLOSED);
    /* a publication after a far newer kept one still comes after it */
    there.order += 1000000000;
    sb_buf_free(&value);
    presence_entry_write(&value, &there);
    cr_assert_eq(presence_state_load(ps, "dave sbfuture", value.data, 2000000, 1000000, 100), 0);
    struct pidf_published meal = doing("meal");
    cr_assert_eq(presence_state_publish(ps, "dave", NULL, &meal, 60000, 100, tag, &here), 0);
    cr_assert_gt(here.order, there.order);
    cr_assert(presence_state_read(ps, "dave", 200, &out));
    cr_assert_str_eq(out.activity, "meal", "the newest wins");
    cr_assert(presence_state_read(ps, "dave", 1000099, &out));
    cr_assert_not(presence_state_read(ps, "dave", 1000101, &out),
                  "the kept one expires when the store said: 1,000,000 ms after then");
    sb_buf_free(&key);
    sb_buf_free(&value);
    presence_state_destroy(ps);
}
