/* Unit tests for src/admin/admin_people.c: each user's state from the
 * calls up now (as /api/calls has them) and the dial plan. */
#include <criterion/criterion.h>

#include "switchboard/admin_people.h"
#include "switchboard/dialplan.h"

static const char *const bob_phone[] = {"sip:bob@10.0.0.6:5062;transport=udp"};
static const char *const desk[] = {"sip:desk7@10.0.0.7:5060"};

#define CALL(caller, callee, answered_by, state)                                                   \
    "{\"call_id\":\"x@h\",\"caller\":\"" caller "\",\"caller_name\":null,\"callee\":\"" callee     \
    "\",\"callee_name\":null,\"answered_by\":" answered_by ",\"state\":\"" state                   \
    "\",\"since\":\"2026-12-04T10:00:00Z\",\"since_ms\":1,\"video\":false,\"relayed\":false}"

Test(admin_people, offline_online_ringing_on_the_phone)
{
    struct admin_person bob = {.user = "bob", .contacts = bob_phone, .count = 1};
    struct admin_person gone = {.user = "bob", .contacts = NULL, .count = 0};
    cr_assert_eq(admin_people_status("", &gone, NULL), ADMIN_OFFLINE);
    cr_assert_eq(admin_people_status("", &bob, NULL), ADMIN_ONLINE);
    const char *ringing = CALL("sip:alice@pbx", "sip:bob@pbx", "null", "ringing");
    cr_assert_eq(admin_people_status(ringing, &bob, NULL), ADMIN_RINGING);
    const char *talking =
        CALL("sip:alice@pbx", "sip:bob@pbx", "\"sip:bob@10.0.0.6:5062;transport=udp\"", "answered");
    cr_assert_eq(admin_people_status(talking, &bob, NULL), ADMIN_ON_THE_PHONE);
    const char *calling =
        CALL("sip:bob@pbx", "sip:carol@pbx", "\"sip:carol@10.0.0.8\"", "answered");
    cr_assert_eq(admin_people_status(calling, &bob, NULL), ADMIN_ON_THE_PHONE, "as the caller");
    const char *others =
        CALL("sip:alice@pbx", "sip:carol@pbx", "\"sip:carol@10.0.0.8\"", "answered");
    cr_assert_eq(admin_people_status(others, &bob, NULL), ADMIN_ONLINE);
    cr_assert_str_eq(admin_presence_name(ADMIN_ON_THE_PHONE), "on-the-phone");
}

/* The device that answered is known by its binding even when its
 * Contact's user is not the user's name; on the phone beats ringing. */
Test(admin_people, by_binding_and_first_things_first)
{
    struct admin_person carol = {.user = "carol", .contacts = desk, .count = 1};
    const char *both = CALL("sip:alice@pbx", "sip:carol@pbx", "null", "ringing") "," CALL(
        "sip:dave@pbx", "sip:101@pbx", "\"sip:desk7@10.0.0.7:5060\"", "answered");
    cr_assert_eq(admin_people_status(both, &carol, NULL), ADMIN_ON_THE_PHONE);
}

Test(admin_people, extensions_and_groups_ring_their_users)
{
    struct dialplan *dp;
    char err[128];
    cr_assert_eq(dialplan_parse("[extensions]\n101 = bob\n[groups]\nsales = all: bob, carol\n",
                                "t.conf", &dp, err, sizeof(err)),
                 0, "%s", err);
    struct admin_person bob = {.user = "bob", .contacts = bob_phone, .count = 1};
    cr_assert_eq(admin_people_status(CALL("sip:a@pbx", "sip:101@pbx", "null", "trying"), &bob, dp),
                 ADMIN_RINGING);
    cr_assert_eq(
        admin_people_status(CALL("sip:a@pbx", "sip:sales@pbx", "null", "ringing"), &bob, dp),
        ADMIN_RINGING);
    cr_assert_eq(admin_people_status(CALL("sip:a@pbx", "sip:102@pbx", "null", "ringing"), &bob, dp),
                 ADMIN_ONLINE);
    dialplan_unref(dp);
}
