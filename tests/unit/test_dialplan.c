/* Unit tests for src/sip/dialplan.c and src/sip/callroute.c: the office's dial
 * plan as parsed (every error named with file:line), and the stages one
 * call goes through. */
#include "switchboard/callroute.h"
#include "switchboard/dialplan.h"
#include "test_helpers.h"

static const char *const OFFICE = "[server]\nlisten = udp:127.0.0.1:5060\n"
                                  "[extensions]\n"
                                  "101 = alice\n"
                                  "102 = bob\n"
                                  "200 = sales\n"
                                  "201 = support\n"
                                  "reception = alice\n"
                                  "out = sip:desk@10.0.0.9\n"
                                  "[groups]\n"
                                  "sales = all: alice, bob, carol\n"
                                  "support = hunt 15: bob, carol, alice     ; 15 s per member\n"
                                  "[forward]\n"
                                  "bob = busy: carol; noanswer 20: carol; unavailable: reception\n"
                                  "dave = always: alice\n"
                                  "erin = busy: 200\n"
                                  "[users]\n"
                                  "ring_timeout = 25\n"
                                  "carol.dnd = yes\n"
                                  "erin.dnd = yes\n";

static struct dialplan *load(const char *text, char *err, size_t size)
{
    struct dialplan *dp = NULL;
    int rc = dialplan_parse(text, "office.conf", &dp, err, size);
    return rc == 0 ? dp : NULL;
}

/* who is registered and who is DND at run time, for the planner */
static const char *registered_users = "alice bob carol erin";
static const char *runtime_dnd = "";

static bool word_in(const char *list, const char *w)
{
    size_t n = strlen(w);
    for (const char *p = strstr(list, w); p; p = strstr(p + 1, w))
        if ((p == list || p[-1] == ' ') && (p[n] == ' ' || p[n] == '\0'))
            return true;
    return false;
}

static bool registered(void *ctx, const char *u)
{
    (void)ctx;
    return word_in(registered_users, u);
}

static bool dnd(void *ctx, const char *u)
{
    (void)ctx;
    return word_in(runtime_dnd, u);
}

static const struct callroute_env env = {.registered = registered, .dnd = dnd};

Test(dialplan, parses_the_office_example)
{
    char err[256];
    struct dialplan *dp = load(OFFICE, err, sizeof(err));
    cr_assert_not_null(dp, "%s", err);
    cr_assert_not(dialplan_empty(dp));
    cr_assert_eq(dialplan_ring_timeout(dp), 25);
    struct dialplan_target t;
    dialplan_resolve(dp, "101", &t);
    cr_assert_eq(t.kind, DIALPLAN_NAME);
    cr_assert_str_eq(t.name, "alice");
    dialplan_resolve(dp, "200", &t);
    cr_assert_eq(t.kind, DIALPLAN_GROUP);
    cr_assert_eq(t.group->count, 3);
    cr_assert_not(t.group->hunt);
    dialplan_resolve(dp, "support", &t);
    cr_assert(t.group->hunt);
    cr_assert_eq(t.group->seconds, 15);
    dialplan_resolve(dp, "out", &t);
    cr_assert_eq(t.kind, DIALPLAN_URI);
    dialplan_resolve(dp, "zoe", &t);
    cr_assert_eq(t.kind, DIALPLAN_NAME);
    cr_assert_str_eq(t.name, "zoe");
    const struct dialplan_user *bob = dialplan_user(dp, "bob");
    cr_assert_str_eq(bob->forward[DIALPLAN_BUSY], "carol");
    cr_assert_str_eq(bob->forward[DIALPLAN_UNAVAILABLE], "reception");
    cr_assert_eq(bob->noanswer_s, 20);
    cr_assert(dialplan_user(dp, "carol")->dnd);
    dialplan_unref(dp);
}

Test(dialplan, an_empty_plan_when_no_section_is_there)
{
    char err[256];
    struct dialplan *dp = load("[server]\nworkers = 2\n", err, sizeof(err));
    cr_assert_not_null(dp);
    cr_assert(dialplan_empty(dp));
    dialplan_unref(dp);
}

/* Each broken line is named with its file, line and what is wrong. */
/* [features] pickup, and the groups a pickup looks at. */
Test(dialplan, the_pickup_code_and_shared_groups)
{
    char err[256];
    struct dialplan *dp = load(OFFICE, err, sizeof(err));
    cr_assert_not_null(dp, "%s", err);
    cr_assert_null(dialplan_pickup(dp), "off unless set");
    cr_assert(dialplan_share_group(dp, "alice", "carol"), "both in sales and support");
    cr_assert_not(dialplan_share_group(dp, "alice", "dave"), "dave is in no group");
    struct dialplan_target t;
    dialplan_resolve(dp, "200", &t);
    cr_assert(dialplan_in_group(t.group, "bob"));
    cr_assert_not(dialplan_in_group(t.group, "dave"));
    cr_assert_not(dialplan_in_group(NULL, "bob"));
    dialplan_unref(dp);
    dp = load("[features]\npickup = *8\n", err, sizeof(err));
    cr_assert_not_null(dp, "%s", err);
    cr_assert_str_eq(dialplan_pickup(dp), "*8");
    cr_assert_not(dialplan_share_group(dp, "alice", "bob"), "no groups at all");
    dialplan_unref(dp);
    cr_assert_null(dialplan_pickup(NULL));
}

Test(dialplan, every_error_names_its_line)
{
    static const struct {
        const char *text, *error;
    } cases[] = {
        {"[extensions]\n101 alice\n", "office.conf:2: expected 'key = value'"},
        {"[extensions]\n101 = alice\n101 = bob\n", "office.conf:3: extension 101 is defined twice"},
        {"[extensions]\n1 01 = alice\n", "office.conf:2: extension '1 01'"},
        {"[extensions]\n101 = al ice\n", "office.conf:2: extension 101: 'al ice' is no user"},
        {"[groups]\nsales = alice, bob\n", "office.conf:2: group sales: want 'all: MEMBERS'"},
        {"[groups]\nsales = some: alice\n", "office.conf:2: group sales: 'some' is neither"},
        {"[groups]\nsales = hunt 0: alice\n", "office.conf:2: group sales: 'hunt 0' is neither"},
        {"[groups]\nsales = all:\n", "office.conf:2: group sales has no members"},
        {"[groups]\nsales = all: alice\nteam = all: sales\n",
         "group team: member sales is a group"},
        {"[forward]\nbob = sometimes: carol\n", "office.conf:2: forward bob: 'sometimes' is not"},
        {"[forward]\nbob = noanswer: carol\n",
         "office.conf:2: forward bob: noanswer wants its seconds"},
        {"[forward]\nbob = noanswer 0: carol\n",
         "office.conf:2: forward bob: noanswer wants seconds"},
        {"[forward]\nbob = busy carol\n", "office.conf:2: forward bob: want 'CONDITION: TARGET'"},
        {"[forward]\nbob = busy: carol; busy: dave\n",
         "office.conf:2: forward bob: busy given twice"},
        {"[users]\nring_timeout = soon\n", "office.conf:2: ring_timeout: want seconds"},
        {"[users]\ncarol.dnd = maybe\n", "office.conf:2: carol.dnd: want yes or no"},
        {"[users]\ncarol.colour = red\n", "office.conf:2: unknown setting 'colour' in [users]"},
        {"[forward]\nbob = busy: carol\ncarol = noanswer 5: bob\n", "forward loop: "},
        {"[extensions]\n7 = bob\n[forward]\nbob = always: 7\n", "forward loop: bob -> bob"},
        {"[features]\npickup = pick\n", "office.conf:2: pickup: want digits, '*' and '#'"},
        {"[features]\npickup = *8*8*8*8*8*8*8*8\n", "office.conf:2: pickup: want digits"},
        {"[features]\npark = *7\n", "office.conf:2: unknown setting 'park' in [features]"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char err[256];
        struct dialplan *dp = load(cases[i].text, err, sizeof(err));
        cr_assert_null(dp, "accepted: %s", cases[i].text);
        cr_assert_not_null(strstr(err, cases[i].error), "'%s' does not say '%s'", err,
                           cases[i].error);
    }
}

Test(callroute, extension_reaches_the_user)
{
    char err[256];
    struct dialplan *dp = load(OFFICE, err, sizeof(err));
    struct callroute r;
    struct callroute_stage s;
    callroute_start(&r, dp, "101", &env, &s);
    cr_assert_eq(s.kind, CALLROUTE_RING);
    cr_assert_eq(s.count, 1);
    cr_assert_str_eq(s.users[0], "alice");
    cr_assert_eq(s.ring_s, 25, "the plan's ring timeout");
    cr_assert_str_eq(r.resolved, "alice");
    callroute_next(&r, CALLROUTE_NOANSWER, &env, &s);
    cr_assert_eq(s.kind, CALLROUTE_END, "no forward: the caller gets the end");
    dialplan_unref(dp);
}

Test(callroute, a_group_rings_everyone_who_can_ring)
{
    char err[256];
    struct dialplan *dp = load(OFFICE, err, sizeof(err));
    struct callroute r;
    struct callroute_stage s;
    callroute_start(&r, dp, "200", &env, &s);
    cr_assert_eq(s.kind, CALLROUTE_RING);
    cr_assert_eq(s.count, 2, "carol is DND");
    cr_assert_str_eq(s.users[0], "alice");
    cr_assert_str_eq(s.users[1], "bob");
    dialplan_unref(dp);
}

Test(callroute, a_hunt_group_rings_one_after_another_skipping)
{
    char err[256];
    struct dialplan *dp = load(OFFICE, err, sizeof(err));
    struct callroute r;
    struct callroute_stage s;
    registered_users = "alice carol";
    callroute_start(&r, dp, "201", &env, &s);
    cr_assert_eq(s.kind, CALLROUTE_RING);
    cr_assert_str_eq(s.users[0], "alice", "bob unregistered, carol DND: skipped");
    cr_assert_eq(s.ring_s, 15);
    callroute_next(&r, CALLROUTE_NOANSWER, &env, &s);
    cr_assert_eq(s.kind, CALLROUTE_END);
    registered_users = "alice bob carol erin";
    callroute_start(&r, dp, "support", &env, &s);
    cr_assert_str_eq(s.users[0], "bob");
    callroute_next(&r, CALLROUTE_BUSY, &env, &s);
    cr_assert_str_eq(s.users[0], "alice");
    dialplan_unref(dp);
}

Test(callroute, forwards_on_busy_noanswer_unavailable_always)
{
    char err[256];
    struct dialplan *dp = load(OFFICE, err, sizeof(err));
    struct callroute r;
    struct callroute_stage s;
    runtime_dnd = "";
    callroute_start(&r, dp, "102", &env, &s);
    cr_assert_str_eq(s.users[0], "bob");
    cr_assert_eq(s.ring_s, 20, "bob's noanswer time");
    callroute_next(&r, CALLROUTE_BUSY, &env, &s);
    cr_assert_eq(s.kind, CALLROUTE_REFUSE, "carol is DND without a forward");
    cr_assert_eq(s.code, 486);
    cr_assert(s.dnd, "the journal says dnd, not busy");
    cr_assert_eq(r.nhops, 1);
    cr_assert_str_eq(r.hops[0].from, "bob");
    cr_assert_str_eq(r.hops[0].to, "carol");
    cr_assert_eq(r.hops[0].why, CALLROUTE_WHY_BUSY);
    /* unregistered bob goes to reception, which is alice */
    registered_users = "alice carol";
    callroute_start(&r, dp, "bob", &env, &s);
    cr_assert_eq(s.kind, CALLROUTE_RING);
    cr_assert_str_eq(s.users[0], "alice");
    cr_assert(s.hops_added);
    cr_assert_eq(r.hops[0].why, CALLROUTE_UNAVAILABLE);
    registered_users = "alice bob carol erin";
    /* dave: always to alice, without ringing dave (not even registered) */
    callroute_start(&r, dp, "dave", &env, &s);
    cr_assert_str_eq(s.users[0], "alice");
    cr_assert_eq(r.hops[0].why, CALLROUTE_ALWAYS);
    /* erin is DND: her busy forward (the sales group) rings instead */
    callroute_start(&r, dp, "erin", &env, &s);
    cr_assert_eq(s.kind, CALLROUTE_RING);
    cr_assert_eq(r.hops[0].why, CALLROUTE_DND);
    cr_assert_eq(s.count, 2);
    /* DND set at run time */
    runtime_dnd = "alice";
    callroute_start(&r, dp, "101", &env, &s);
    cr_assert_eq(s.kind, CALLROUTE_REFUSE);
    cr_assert_eq(s.code, 486);
    runtime_dnd = "";
    /* an unknown user with no devices: 404; a URI: straight there */
    callroute_start(&r, dp, "zoe", &env, &s);
    cr_assert_eq(s.code, 404);
    cr_assert_not(s.dnd);
    callroute_start(&r, dp, "out", &env, &s);
    cr_assert_eq(s.kind, CALLROUTE_URI);
    cr_assert_str_eq(s.uri, "sip:desk@10.0.0.9");
    dialplan_unref(dp);
}

/* A loop made at run time (alice DND forwarding to bob forwarding back on
 * busy) is cut: no user rings twice in one call. */
Test(callroute, a_run_time_loop_is_cut)
{
    char err[256];
    struct dialplan *dp =
        load("[forward]\nalice = busy: bob\nbob = noanswer 5: alice\n", err, sizeof(err));
    cr_assert_null(dp, "refused at load time");
    dp =
        load("[groups]\nduo = all: alice, bob\n[forward]\nalice = always: duo\n", err, sizeof(err));
    cr_assert_not_null(dp, "%s", err);
    struct callroute r;
    struct callroute_stage s;
    callroute_start(&r, dp, "alice", &env, &s);
    cr_assert_eq(s.kind, CALLROUTE_RING);
    cr_assert_eq(s.count, 1, "alice was visited: only bob rings");
    cr_assert_str_eq(s.users[0], "bob");
    dialplan_unref(dp);
}

/* The loop check visits each user once however the forwards branch: 25
 * users, each forwarding busy, no-answer and unavailable calls to the
 * next three (3^25 paths, which a walk of every path would never finish
 * in the test's time bound), load; closing the chain into a circle is
 * found and named. */
Test(dialplan, the_loop_check_is_linear, .timeout = 10)
{
    char text[8192] = "[forward]\n";
    size_t n = strlen(text);
    for (int i = 0; i < 25; i++)
        n += (size_t)snprintf(text + n, sizeof(text) - n,
                              "u%d = busy: u%d; noanswer 5: u%d; unavailable: u%d\n", i, i + 1,
                              i + 2, i + 3);
    char err[256];
    struct dialplan *dp = load(text, err, sizeof(err));
    cr_assert_not_null(dp, "%s", err);
    dialplan_unref(dp);
    snprintf(text + n, sizeof(text) - n, "u25 = always: u0\n");
    dp = load(text, err, sizeof(err));
    cr_assert_null(dp);
    cr_assert_not_null(strstr(err, "forward loop: "), "%s", err);
    cr_assert_not_null(strstr(err, "u25 -> u0"), "%s", err);
}
