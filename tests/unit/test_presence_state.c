/* Unit tests for src/sip/presence_state.c: what phones published (RFC
 * 3903), entity-tags, expiry, the newest entry winning, the bounds. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

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
    cr_assert_eq(presence_state_publish(ps, "bob", NULL, &away, 60000, 1000, e1), 0);
    uint64_t v1 = presence_state_version(ps, "bob", 1000);
    cr_assert_gt(v1, 0);
    cr_assert(presence_state_read(ps, "bob", 1000, &out));
    cr_assert_str_eq(out.activity, "away");
    /* a refresh: a new tag, the same document, no change to read */
    cr_assert_eq(presence_state_publish(ps, "bob", e1, NULL, 60000, 2000, e2), 0);
    cr_assert_str_neq(e1, e2, "§4.1: every success a new entity-tag");
    cr_assert_eq(presence_state_version(ps, "bob", 2000), v1);
    cr_assert_eq(presence_state_publish(ps, "bob", e1, NULL, 60000, 2000, e3), SB_ENOTFOUND,
                 "the old tag is gone: 412");
    /* a modification is a change */
    cr_assert_eq(presence_state_publish(ps, "bob", e2, &busy, 60000, 3000, e3), 0);
    cr_assert_gt(presence_state_version(ps, "bob", 3000), v1);
    cr_assert(presence_state_read(ps, "bob", 3000, &out));
    cr_assert_str_eq(out.activity, "busy");
    /* removed: nothing left */
    cr_assert_eq(presence_state_publish(ps, "bob", e3, NULL, 0, 4000, e1), 0);
    cr_assert_not(presence_state_read(ps, "bob", 4000, &out));
    cr_assert_eq(presence_state_version(ps, "bob", 4000), 0);
    cr_assert_eq(presence_state_publish(ps, "bob", NULL, NULL, 60000, 4000, e1), SB_ENOTFOUND,
                 "a new entry needs a document");
    presence_state_destroy(ps);
}

Test(presence_state, the_newest_device_wins_and_entries_expire)
{
    struct presence_state *ps;
    cr_assert_eq(presence_state_create(10, 2, &ps), 0);
    struct pidf_published out, away = doing("away"), busy = doing("busy"), meal = doing("meal");
    char desk[PRESENCE_ETAG_MAX], mobile[PRESENCE_ETAG_MAX], third[PRESENCE_ETAG_MAX];
    cr_assert_eq(presence_state_publish(ps, "bob", NULL, &away, 10000, 0, desk), 0);
    cr_assert_eq(presence_state_publish(ps, "bob", NULL, &busy, 60000, 100, mobile), 0);
    cr_assert(presence_state_read(ps, "bob", 200, &out));
    cr_assert_str_eq(out.activity, "busy", "the newest");
    cr_assert_eq(presence_state_publish(ps, "bob", NULL, &meal, 60000, 300, third), SB_ELIMIT,
                 "two devices per user");
    /* the mobile's entry expires: the desk's, older, shows again */
    cr_assert_eq(presence_state_publish(ps, "bob", mobile, NULL, 1000, 400, mobile), 0);
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
    cr_assert_eq(presence_state_publish(ps, "a", NULL, &away, 60000, 0, tag), 0);
    cr_assert_eq(presence_state_publish(ps, "b", NULL, &away, 60000, 0, tag), 0);
    cr_assert_eq(presence_state_publish(ps, "c", NULL, &away, 60000, 0, tag), SB_ELIMIT);
    cr_assert_eq(presence_state_publish(ps, "c", "sbnothing", NULL, 60000, 0, tag), SB_ENOTFOUND);
    presence_state_destroy(ps);
}
