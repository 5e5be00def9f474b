/* Unit tests for src/sip/flow.c: flow tokens in our Record-Route (RFC 5626
 * §5.3), their round trip and where an in-dialog request goes. */
#include <criterion/criterion.h>
#include <string.h>

#include "switchboard/error.h"
#include "switchboard/flow.h"
#include "switchboard/sip_msg.h"
#include "switchboard/types.h"

static struct flow_side udp(const char *ip, unsigned port)
{
    struct flow_side s = {.present = true, .transport = SB_UDP};
    cr_assert_eq(sipmsg_host_to_addr(ip, port, &s.addr), 0);
    return s;
}

static struct flow_side stream(int transport, const char *ip, unsigned port, uint64_t conn)
{
    struct flow_side s = udp(ip, port);
    s.transport = (uint8_t)transport;
    s.conn = conn;
    return s;
}

static const struct flow_side none = {0};

Test(flow, round_trip_v4_and_v6)
{
    struct flow_side a = udp("10.0.0.1", 5062), b = udp("2001:db8::7", 40000), pa, pb;
    char token[FLOW_TOKEN_MAX];
    cr_assert_eq(flow_token_format(&a, &b, token, sizeof(token)), 0);
    cr_assert_str_eq(token, "sbf.0a00000113c6.20010db80000000000000000000000079c40");
    cr_assert_eq(flow_token_parse(token, &pa, &pb), 0);
    cr_assert(pa.present && pb.present);
    cr_assert_eq(pa.transport, SB_UDP);
    cr_assert(flow_addr_equal(&pa.addr, &a.addr));
    cr_assert(flow_addr_equal(&pb.addr, &b.addr));
}

Test(flow, stream_sides_carry_their_connection)
{
    struct flow_side a = stream(SB_TCP, "10.0.0.1", 40001, 0x12345600ull);
    struct flow_side b = stream(SB_TLS, "2001:db8::7", 5061, 0xffffffffffffff01ull), pa, pb;
    char token[FLOW_TOKEN_MAX];
    cr_assert_eq(flow_token_format(&a, &b, token, sizeof(token)), 0);
    cr_assert_str_eq(token, "sbf.0a0000019c41t12345600.20010db8000000000000000000000007"
                            "13c5sffffffffffffff01");
    cr_assert_eq(flow_token_parse(token, &pa, &pb), 0);
    cr_assert_eq(pa.transport, SB_TCP);
    cr_assert_eq(pa.conn, 0x12345600ull);
    cr_assert_eq(pb.transport, SB_TLS);
    cr_assert_eq(pb.conn, 0xffffffffffffff01ull);
    cr_assert(flow_addr_equal(&pb.addr, &b.addr));
}

Test(flow, websocket_sides_keep_their_transport)
{
    struct flow_side a = stream(SB_WS, "10.0.0.1", 40001, 0x42ull);
    struct flow_side b = stream(SB_WSS, "10.0.0.2", 40002, 0x43ull), pa, pb;
    char token[FLOW_TOKEN_MAX];
    cr_assert_eq(flow_token_format(&a, &b, token, sizeof(token)), 0);
    cr_assert_str_eq(token, "sbf.0a0000019c41w42.0a0000029c42x43");
    cr_assert_eq(flow_token_parse(token, &pa, &pb), 0);
    cr_assert_eq(pa.transport, SB_WS);
    cr_assert_eq(pa.conn, 0x42ull);
    cr_assert_eq(pb.transport, SB_WSS);
    cr_assert_eq(pb.conn, 0x43ull);
}

Test(flow, one_side_only)
{
    struct flow_side b = udp("192.0.2.9", 5060), pa, pb;
    char token[FLOW_TOKEN_MAX];
    cr_assert_eq(flow_token_format(NULL, &b, token, sizeof(token)), 0);
    cr_assert_str_eq(token, "sbf.-.c000020913c4");
    cr_assert_eq(flow_token_parse(token, &pa, &pb), 0);
    cr_assert(!pa.present && pb.present);
    cr_assert_eq(flow_token_format(NULL, &none, token, sizeof(token)), SB_EINVAL);
}

Test(flow, other_user_parts_are_not_tokens)
{
    struct flow_side pa, pb;
    const char *not_tokens[] = {"alice",
                                "sbf",
                                "sbf.",
                                "sbf.-.-",
                                "sbf.0a0000011.-",
                                "sbf.zz00000113be.-",
                                "sbf.0a00000113be",
                                "SBF.-.c00002091",
                                "sbf.0a00000113bet.-",
                                "sbf.0a00000113beq12.-",
                                "sbf.0a00000113bet12345678901234567.-"};
    for (size_t i = 0; i < sizeof(not_tokens) / sizeof(not_tokens[0]); i++)
        cr_expect_eq(flow_token_parse(not_tokens[i], &pa, &pb), SB_ENOTFOUND, "%s", not_tokens[i]);
}

/* From side A (the caller) to B's flow; from B to A's; to a side
 * without a flow by the Request-URI. */
Test(flow, where_an_in_dialog_request_goes)
{
    struct flow_side a = udp("198.51.100.1", 4000), b = udp("203.0.113.2", 5000);
    cr_assert_eq(flow_token_target(true, &a, &b), &b);
    cr_assert_eq(flow_token_target(false, &a, &b), &a);
    cr_assert_eq(flow_token_target(true, &none, &b), &b, "callee behind NAT");
    cr_assert_null(flow_token_target(false, &none, &b), "from the NATed callee: by Request-URI");
    cr_assert_eq(flow_token_target(false, &a, &none), &a, "caller behind NAT");
    cr_assert_null(flow_token_target(true, &a, &none), "from the NATed caller: by Request-URI");
}

/* A stream side's request goes to its peer whichever connection it came
 * over: after our restart, or a roam, a phone reconnects and sends its
 * BYE over a new connection; it must not be sent back to its old one. */
Test(flow, a_reconnected_side_still_reaches_its_peer)
{
    struct flow_side a = stream(SB_TCP, "10.0.0.1", 40001, 0x101);
    struct flow_side b = udp("10.0.0.2", 5060);
    cr_assert_eq(flow_token_target(true, &a, &b), &b, "from the caller, on whatever connection");
    cr_assert_eq(flow_token_target(false, &a, &b), &a);
}

/* A callee we connected to has no connection id in the token (t0): its
 * requests, over our connection to it, come from its address. */
Test(flow, a_side_we_connected_to_is_matched_by_its_address)
{
    struct flow_side a = udp("10.0.0.1", 5060);
    struct flow_side b = stream(SB_TCP, "10.0.0.2", 5070, 0), pa, pb;
    char token[FLOW_TOKEN_MAX];
    cr_assert_eq(flow_token_format(&a, &b, token, sizeof(token)), 0);
    cr_assert_str_eq(token, "sbf.0a00000113c4.0a00000213cet0");
    cr_assert_eq(flow_token_parse(token, &pa, &pb), 0);
    cr_assert_eq(pb.transport, SB_TCP);
    cr_assert_eq(pb.conn, 0);
    cr_assert_eq(flow_token_target(false, &pa, &pb), &pa);
    cr_assert_eq(flow_token_target(true, &pa, &pb), &pb);
}
