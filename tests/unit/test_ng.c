/* Unit tests for src/sip/ng.c: [media] rtpengine's engine list, which
 * engine a call uses (by weight, never one that is down, the same for
 * every message of a call), and ng datagrams: a request as rtpengine
 * reads it, replies as rtpengine 10.5 writes them. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "switchboard/bencode.h"
#include "switchboard/buf.h"
#include "switchboard/error.h"
#include "switchboard/ng.h"

static struct ng_engine engines[NG_MAX_ENGINES];
static size_t count;
static char why[160];

static int parse(const char *spec)
{
    why[0] = '\0';
    return ng_engines_parse(spec, engines, NG_MAX_ENGINES, &count, why, sizeof(why));
}

Test(ng, engines_are_read_with_their_weights)
{
    cr_assert_eq(parse(" udp:127.0.0.1:2223;weight=3 , udp:[::1]:2224 "), 0, "%s", why);
    cr_assert_eq(count, 2);
    cr_assert_eq(engines[0].weight, 3);
    cr_assert_str_eq(engines[0].name, "udp:127.0.0.1:2223");
    cr_assert_eq(engines[1].weight, 1, "1 when not given");
    cr_assert_str_eq(engines[1].name, "udp:[::1]:2224");
    cr_assert_eq(parse(""), 0);
    cr_assert_eq(count, 0, "no engine: no relay");
}

Test(ng, a_bad_engine_is_named)
{
    const char *bad[] = {"tcp:127.0.0.1:2223",          "udp:127.0.0.1",
                         "udp:rtp.example:2223",        "udp:127.0.0.1:2223;weight=0",
                         "udp:127.0.0.1:2223;weight=x", "udp:127.0.0.1:2223;weight=1001",
                         "udp:127.0.0.1:2223;port=9",   "udp:127.0.0.1:0"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        cr_assert_eq(parse(bad[i]), SB_EINVAL, "%s", bad[i]);
        cr_assert_not_null(strstr(why, "'"), "%s: the message names the entry (%s)", bad[i], why);
    }
    cr_assert_eq(parse("udp:rtp.example:2223"), SB_EINVAL);
    cr_assert_not_null(strstr(why, "not a name"), "%s", why);
    char many[2048] = "";
    for (int i = 0; i <= NG_MAX_ENGINES; i++)
        snprintf(many + strlen(many), sizeof(many) - strlen(many), "udp:127.0.0.1:%d,", 2000 + i);
    cr_assert_eq(parse(many), SB_ELIMIT);
}

Test(ng, a_call_keeps_its_engine_and_weights_share_the_calls)
{
    cr_assert_eq(parse("udp:127.0.0.1:1;weight=1, udp:127.0.0.1:2;weight=3"), 0);
    bool up[] = {true, true};
    int first = ng_engine_pick(engines, 2, up, "call-1@host", 11);
    cr_assert_eq(ng_engine_pick(engines, 2, up, "call-1@host", 11), first, "the same Call-ID");
    int share[2] = {0, 0};
    for (int i = 0; i < 20000; i++) {
        char key[32];
        int n = snprintf(key, sizeof(key), "call-%d@host", i);
        share[ng_engine_pick(engines, 2, up, key, (size_t)n)]++;
    }
    cr_assert(share[1] > 14000 && share[1] < 16000, "weight 3 of 4: %d of 20000", share[1]);
}

Test(ng, an_engine_that_is_down_gets_no_call)
{
    cr_assert_eq(parse("udp:127.0.0.1:1, udp:127.0.0.1:2, udp:127.0.0.1:3"), 0);
    bool up[] = {true, false, true};
    for (int i = 0; i < 1000; i++) {
        char key[32];
        int n = snprintf(key, sizeof(key), "c%d", i);
        cr_assert_neq(ng_engine_pick(engines, 3, up, key, (size_t)n), 1);
    }
    bool none[] = {false, false, false};
    cr_assert_eq(ng_engine_pick(engines, 3, none, "c", 1), -1);
}

Test(ng, a_request_is_a_cookie_and_a_dictionary)
{
    char cookie[24];
    size_t n = ng_cookie(cookie, sizeof(cookie), 0xdeadbeef, 42);
    cr_assert_str_eq(cookie, "deadbeef-2a");
    cr_assert_eq(n, strlen(cookie));
    char other[24];
    ng_cookie(other, sizeof(other), 0xdeadbeef, 43);
    cr_assert_str_neq(cookie, other, "one cookie per request");
    struct sb_buf b = {0};
    ng_begin(&b, cookie);
    bencode_dict(&b);
    bencode_cstr(&b, "command");
    bencode_cstr(&b, "ping");
    bencode_end(&b);
    cr_assert_str_eq(b.data, "deadbeef-2a d7:command4:pinge");
    sb_buf_free(&b);
}

static struct bencode_node nodes[32];

static int reply(const char *text, struct ng_reply *r)
{
    return ng_reply_parse(text, strlen(text), nodes, 32, r);
}

Test(ng, replies_are_read)
{
    struct ng_reply r;
    cr_assert_eq(reply("5_1 d3:sdp8:v=0\r\no=x6:result2:oke", &r), 0);
    cr_assert_eq(r.result, NG_OK);
    cr_assert_eq(r.cookie_len, 3);
    cr_assert_eq(strncmp(r.cookie, "5_1", 3), 0);
    cr_assert_eq(r.sdp_len, 8);
    cr_assert_eq(strncmp(r.sdp, "v=0\r\no=x", 8), 0);
    cr_assert_null(r.reason);
    cr_assert_eq(reply("c d6:result4:ponge", &r), 0);
    cr_assert_eq(r.result, NG_PONG);
    cr_assert_null(r.sdp);
    cr_assert_eq(reply("c d6:result5:error12:error-reason15:Unknown call-ide", &r), 0);
    cr_assert_eq(r.result, NG_ERROR);
    cr_assert_eq(r.reason_len, 15);
    cr_assert_eq(reply("c d6:result10:load limite", &r), 0);
    cr_assert_eq(r.result, NG_UNKNOWN, "an unknown result is not an ok");
}

Test(ng, a_broken_reply_is_refused)
{
    struct ng_reply r;
    const char *bad[] = {"d6:result2:oke",
                         " d6:result2:oke",
                         "c d6:result2:okeX",
                         "c l6:resulte",
                         "c d3:sdp1:xe",
                         "c d6:resulti0ee",
                         "c ",
                         "c d6:result2:ok"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        cr_assert_eq(reply(bad[i], &r), SB_EMALFORMED, "%s", bad[i]);
}
