/* Unit tests for src/flow.c: flow tokens in our Record-Route (RFC 5626
 * §5.3), their round trip and where an in-dialog request goes. */
#include <criterion/criterion.h>
#include <string.h>

#include "switchboard/error.h"
#include "switchboard/flow.h"
#include "switchboard/sip_msg.h"
#include "switchboard/types.h"

static struct sb_addr addr(const char *ip, unsigned port)
{
    struct sb_addr a;
    cr_assert_eq(sipmsg_host_to_addr(ip, port, &a), 0);
    return a;
}

Test(flow, round_trip_v4_and_v6)
{
    struct sb_addr a = addr("10.0.0.1", 5062), b = addr("2001:db8::7", 40000);
    char token[FLOW_TOKEN_MAX];
    cr_assert_eq(flow_token_format(&a, &b, token, sizeof(token)), 0);
    cr_assert_str_eq(token, "sbf.0a00000113c6.20010db80000000000000000000000079c40");
    struct sb_addr pa, pb;
    bool has_a, has_b;
    cr_assert_eq(flow_token_parse(token, &pa, &has_a, &pb, &has_b), 0);
    cr_assert(has_a && has_b);
    cr_assert(flow_addr_equal(&pa, &a));
    cr_assert(flow_addr_equal(&pb, &b));
}

Test(flow, one_side_only)
{
    struct sb_addr b = addr("192.0.2.9", 5060), pa, pb;
    char token[FLOW_TOKEN_MAX];
    bool has_a, has_b;
    cr_assert_eq(flow_token_format(NULL, &b, token, sizeof(token)), 0);
    cr_assert_str_eq(token, "sbf.-.c000020913c4");
    cr_assert_eq(flow_token_parse(token, &pa, &has_a, &pb, &has_b), 0);
    cr_assert(!has_a && has_b);
    cr_assert_eq(flow_token_format(NULL, NULL, token, sizeof(token)), SB_EINVAL);
}

Test(flow, other_user_parts_are_not_tokens)
{
    struct sb_addr pa, pb;
    bool has_a, has_b;
    const char *not_tokens[] = {"alice", "sbf", "sbf.", "sbf.-.-", "sbf.0a0000011.-",
                                "sbf.zz00000113be.-", "sbf.0a00000113be", "SBF.-.c00002091"};
    for (size_t i = 0; i < sizeof(not_tokens) / sizeof(not_tokens[0]); i++)
        cr_expect_eq(flow_token_parse(not_tokens[i], &pa, &has_a, &pb, &has_b), SB_ENOTFOUND,
                     "%s", not_tokens[i]);
}

/* A from side A goes to B's mapping; from B to A's; from elsewhere to the
 * one mapping there is; with both sides behind NAT and the request from
 * neither, or from the only mapping, it is routed by its Request-URI. */
Test(flow, where_an_in_dialog_request_goes)
{
    struct sb_addr a = addr("198.51.100.1", 4000), b = addr("203.0.113.2", 5000);
    struct sb_addr other = addr("192.0.2.50", 5060), dst;
    cr_assert_eq(flow_token_target(&a, &a, true, &b, true, &dst), 0);
    cr_assert(flow_addr_equal(&dst, &b));
    cr_assert_eq(flow_token_target(&b, &a, true, &b, true, &dst), 0);
    cr_assert(flow_addr_equal(&dst, &a));
    cr_assert_eq(flow_token_target(&other, &a, true, &b, true, &dst), SB_ENOTFOUND);
    cr_assert_eq(flow_token_target(&other, &a, false, &b, true, &dst), 0, "callee behind NAT");
    cr_assert(flow_addr_equal(&dst, &b));
    cr_assert_eq(flow_token_target(&b, &a, false, &b, true, &dst), SB_ENOTFOUND,
                 "from the NATed callee: by Request-URI");
    cr_assert_eq(flow_token_target(&other, &a, true, &b, false, &dst), 0, "caller behind NAT");
    cr_assert(flow_addr_equal(&dst, &a));
    struct sb_addr a_other_port = addr("198.51.100.1", 4001);
    cr_assert_eq(flow_token_target(&a_other_port, &a, true, &b, false, &dst), 0,
                 "a port counts: another port is not the flow");
}
