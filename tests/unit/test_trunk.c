/* Unit tests for src/sip/trunk.c: trunks, dial patterns and inbound
 * numbers as parsed (errors with file:line), pattern matching and the
 * normalisation table. */
#include <arpa/inet.h>

#include "switchboard/error.h"
#include "switchboard/trunk.h"
#include "test_helpers.h"

static const char *const OFFICE = "[server]\nlisten = udp:127.0.0.1:5060\n"
                                  "[trunk carrier]\n"
                                  "uri = sip:192.0.2.10:5080\n"
                                  "username = 4930123456\n"
                                  "password_file = /nonexistent\n"
                                  "register = yes\n"
                                  "expires = 300\n"
                                  "caller_id = +49 30 123456\n"
                                  "country_code = 49\n"
                                  "numbers = +4930123456, +4930123457\n"
                                  "[trunk backup]\n"
                                  "uri = sip:192.0.2.20;transport=tcp\n"
                                  "country_code = 49\n"
                                  "plus = no\n"
                                  "[outbound]\n"
                                  "0[1-9][0-9]+ = carrier, backup ; national\n"
                                  "00[1-9][0-9]+ = backup as +4930123457\n"
                                  "\\+[1-9][0-9]+ = carrier\n"
                                  "[inbound]\n"
                                  "+4930123456 = 100\n"
                                  "+4930123457 = sales\n";

static struct trunk_plan *load(const char *text, char *err, size_t size)
{
    struct trunk_plan *plan = NULL;
    return trunk_plan_parse(text, "office.conf", &plan, err, size) == 0 ? plan : NULL;
}

Test(trunk, parses_trunks_routes_and_numbers)
{
    char err[256];
    struct trunk_plan *plan = load(OFFICE, err, sizeof(err));
    cr_assert_not_null(plan, "%s", err);
    cr_assert_eq(plan->count, 2);
    const struct trunk *c = &plan->trunks[0], *b = &plan->trunks[1];
    cr_assert_str_eq(c->name, "carrier");
    cr_assert_str_eq(c->host, "192.0.2.10");
    cr_assert_eq(c->port, 5080);
    cr_assert_eq(c->transport, SB_UDP);
    cr_assert(c->reg);
    cr_assert_eq(c->expires, 300);
    cr_assert_str_eq(c->caller_id, "+4930123456"); /* visual separators dropped */
    cr_assert_eq(b->transport, SB_TCP);
    cr_assert_not(b->reg);
    cr_assert_eq(b->expires, 600, "the default");
    cr_assert_eq(plan->route_count, 3);
    cr_assert_eq(plan->inbound_count, 2);
    trunk_plan_free(plan);
}

Test(trunk, a_pattern_matches_the_whole_number_first_route_wins)
{
    char err[256];
    struct trunk_plan *plan = load(OFFICE, err, sizeof(err));
    cr_assert_not_null(plan, "%s", err);
    const struct trunk *out[TRUNK_MAX_PER_ROUTE];
    cr_assert_eq(trunk_outbound(plan, "0301234567", out, 4), 2);
    cr_assert_str_eq(out[0]->name, "carrier");
    cr_assert_str_eq(out[1]->name, "backup");
    cr_assert_eq(trunk_outbound(plan, "0044201234", out, 4), 1, "00 is the second route");
    cr_assert_str_eq(out[0]->name, "backup");
    cr_assert_eq(trunk_outbound(plan, "+4930999", out, 4), 1);
    cr_assert_eq(trunk_outbound(plan, "100", out, 4), 0, "an extension is no route");
    cr_assert_eq(trunk_outbound(plan, "x0301234567", out, 4), 0, "anchored at the start");
    cr_assert_eq(trunk_outbound(plan, "0", out, 4), 0);
    cr_assert_eq(trunk_outbound(plan, "0301234567", out, 1), 1, "no more than asked");
    cr_assert_str_eq(trunk_route_of(plan, "0301234567")->caller_id, "", "the trunk's own");
    cr_assert_str_eq(trunk_route_of(plan, "0044201234")->caller_id, "+4930123457", "the route's");
    cr_assert_null(trunk_route_of(plan, "100"));
    trunk_plan_free(plan);
}

Test(trunk, normalisation_table)
{
    struct trunk t = {.plus = true};
    strcpy(t.country_code, "49");
    static const struct {
        const char *dialled, *e164;
    } rows[] = {
        {"0301234567", "+49301234567"}, /* national prefix */
        {"0044201234", "+44201234"},    /* international prefix */
        {"+4930999", "+4930999"},       /* already E.164 */
        {"100", "100"},                 /* not a national number */
        {"0", "0"},                     /* a prefix alone is no number */
    };
    char buf[40];
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        cr_assert_eq(trunk_e164(&t, rows[i].dialled, buf, sizeof(buf)), 0);
        cr_assert_str_eq(buf, rows[i].e164, "%s", rows[i].dialled);
    }
    t.plus = false;
    cr_assert_eq(trunk_normalise(&t, "0301234567", buf, sizeof(buf)), 0);
    cr_assert_str_eq(buf, "49301234567", "plus = no drops the '+'");
    t.country_code[0] = '\0';
    cr_assert_eq(trunk_e164(&t, "0301234567", buf, sizeof(buf)), 0);
    cr_assert_str_eq(buf, "0301234567", "without a country code numbers stay as dialled");
    cr_assert_eq(trunk_e164(&t, "0301234567", buf, 5), SB_ERANGE);
}

Test(trunk, dialled_numbers_lose_visual_separators)
{
    char buf[40];
    cr_assert_eq(trunk_dialled("030 123-45.67", buf, sizeof(buf)), 0);
    cr_assert_str_eq(buf, "0301234567");
    cr_assert_eq(trunk_dialled("+49 (30) 1234", buf, sizeof(buf)), 0);
    cr_assert_str_eq(buf, "+49301234");
    cr_assert_eq(trunk_dialled("*21#", buf, sizeof(buf)), 0);
    cr_assert_eq(trunk_dialled("alice", buf, sizeof(buf)), SB_EINVAL);
    cr_assert_eq(trunk_dialled("12+3", buf, sizeof(buf)), SB_EINVAL, "+ only first");
    cr_assert_eq(trunk_dialled("+", buf, sizeof(buf)), SB_EINVAL);
    cr_assert_eq(trunk_dialled("0123456789", buf, 5), SB_EINVAL, "too long");
}

Test(trunk, inbound_numbers_by_e164)
{
    char err[256];
    struct trunk_plan *plan = load(OFFICE, err, sizeof(err));
    cr_assert_not_null(plan, "%s", err);
    const struct trunk *c = &plan->trunks[0];
    cr_assert_str_eq(trunk_inbound(plan, c, "+4930123456"), "100");
    cr_assert_str_eq(trunk_inbound(plan, c, "030123457"), "sales", "national form");
    cr_assert_str_eq(trunk_inbound(plan, c, "4930123456"), "100", "E.164 without its '+'");
    cr_assert_null(trunk_inbound(plan, c, "+4930123458"), "not ours");
    cr_assert_null(trunk_inbound(plan, c, "alice"));
    trunk_plan_free(plan);
}

Test(trunk, source_and_contact_user)
{
    char err[256];
    struct trunk_plan *plan = load(OFFICE, err, sizeof(err));
    cr_assert_not_null(plan, "%s", err);
    struct trunk_targets *tt = calloc(1, sizeof(*tt));
    tt->count = 2;
    for (int i = 0; i < 2; i++) {
        struct sockaddr_in *a = (struct sockaddr_in *)&tt->t[i].addr.ss;
        a->sin_family = AF_INET;
        inet_pton(AF_INET, i ? "192.0.2.12" : "192.0.2.10", &a->sin_addr);
        a->sin_port = htons(5080);
        tt->t[i].addr.len = sizeof(*a);
    }
    trunk_set_targets(&plan->trunks[0], tt);
    struct sb_addr src = tt->t[1].addr, got;
    int transport;
    cr_assert(trunk_target(&plan->trunks[0], 1, &got, &transport));
    cr_assert_not(trunk_target(&plan->trunks[0], 2, &got, &transport));
    cr_assert_not(trunk_target(&plan->trunks[1], 0, &got, &transport), "not resolved");
    ((struct sockaddr_in *)&src.ss)->sin_port = htons(7777);
    cr_assert_eq(trunk_of_source(plan, &src), &plan->trunks[0], "by IP, any target");
    inet_pton(AF_INET, "192.0.2.11", &((struct sockaddr_in *)&src.ss)->sin_addr);
    cr_assert_null(trunk_of_source(plan, &src));
    cr_assert_eq(trunk_of_contact_user(plan, "4930123456"), &plan->trunks[0]);
    cr_assert_null(trunk_of_contact_user(plan, "100"));
    trunk_plan_free(plan);
}

static void assert_error(const char *text, const char *want)
{
    char err[256];
    struct trunk_plan *plan = load(text, err, sizeof(err));
    cr_assert_null(plan, "accepted: %s", text);
    cr_assert(strstr(err, want), "got '%s', want '%s'", err, want);
}

Test(trunk, errors_name_file_and_line)
{
    assert_error("[outbound]\n0[1-9+ = carrier\n", "office.conf:2: [outbound] bad pattern");
    assert_error("[trunk a]\nuri = sip:h\n[outbound]\n0[0-9]+ = a, nope\n",
                 "office.conf:4: [outbound] 0[0-9]+: no [trunk nope]");
    assert_error("[trunk a]\nuri = sip:h\n[trunk a]\nuri = sip:h\n",
                 "office.conf:3: [trunk a] appears twice");
    assert_error("[trunk a]\nusername = u\n", "office.conf:1: [trunk a] needs a uri");
    assert_error("[trunk a]\nuri = sip:h\nregister = yes\n",
                 "office.conf:1: [trunk a] register = yes needs a username");
    assert_error("[trunk a]\nuri = sip:h\nusername = u\n", "needs a password_file");
    assert_error("[trunk a]\nuri = http://h\n", "office.conf:2: [trunk a] uri: want sip:HOST");
    assert_error("[trunk a]\nuri = sip:h\nexpires = 5\n",
                 "office.conf:3: [trunk a] expires: want 60-86400 seconds, not '5'");
    assert_error("[trunk a]\nuri = sip:h\ncolour = red\n",
                 "office.conf:3: unknown setting 'colour' in [trunk a]");
    assert_error("[trunk]\n", "office.conf:1: [trunk] needs a name");
    assert_error("[inbound]\nalice = 100\n", "office.conf:2: [inbound] 'alice' is not a number");
    assert_error("[trunk a]\nuri = sip:h\n[outbound]\n0[0-9]+ = a as bob\n",
                 "office.conf:4: [outbound] 0[0-9]+: caller ID 'bob' is not a number");
    assert_error("[trunk a]\nuri = sip:h\nnumbers = 030123\n",
                 "office.conf:3: [trunk a] numbers: want E.164 numbers (+ then digits), "
                 "comma-separated, not '030123'");
}

Test(trunk, no_sections_no_trunks)
{
    char err[256];
    struct trunk_plan *plan = load("[server]\nworkers = 2\n", err, sizeof(err));
    cr_assert_not_null(plan, "%s", err);
    cr_assert_eq(plan->count + plan->route_count + plan->inbound_count, 0);
    trunk_plan_free(plan);
}
