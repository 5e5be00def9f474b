/* Unit tests for src/sip/proxy.c, the proxy core (RFC 3261 §16), without
 * sockets: the worker's net captures what would be sent (with its
 * destination), the test moves the timer wheel's clock by hand.
 * Covered: 100 Trying and forking to every binding, Max-Forwards and loop
 * detection, CANCEL, Timer C, a phone reached over its connection (RFC
 * 5626) and its absence (480), two Record-Routes on a transport switch
 * (RFC 5658), a send that fails (the unsent code), and a phone connected
 * to another switchboard sharing the location service (both sides), and
 * the two passes over a batch (a new INVITE's 100 first). */
#include <stdio.h>
#include <urcu.h>

#include "switchboard/config.h"
#include "switchboard/settings.h"
#include "switchboard/error.h"
#include "switchboard/identity.h"
#include "switchboard/listen.h"
#include "switchboard/net.h"
#include "switchboard/proxy.h"
#include "switchboard/registrar.h"
#include "switchboard/secret.h"
#include "switchboard/sip_msg.h"
#include "switchboard/timer_wheel.h"
#include "test_helpers.h"

#define MAX_SENT 32

struct sent {
    char *text;
    struct sb_dest dest;
};

static struct sent sent[MAX_SENT];
static int sent_count;
static struct sb_config cfg;
static struct listen_table listens;
static struct registrar *registrar;
static struct identity *identity;
static struct timer_wheel *wheel;
static struct secret *secret;
static struct net *net;
static struct proxy *proxy;
static struct sb_counters counters;
static uint64_t now;

static void capture(void *ctx, const struct sb_dest *dest, const char *data, size_t len)
{
    (void)ctx;
    cr_assert_lt(sent_count, MAX_SENT);
    sent[sent_count].text = strndup(data, len);
    sent[sent_count++].dest = *dest;
}

static void setup(void)
{
    rcu_register_thread();
    config_defaults(&cfg);
    char *argv[] = {"t", "-l", "udp:127.0.0.1:5060", "-l", "tcp:127.0.0.1:5060", NULL};
    cr_assert_eq(settings_from_args(&cfg, 5, argv), 0);
    cfg.timer_c_ms = 5000;
    cr_assert_eq(listen_table_init(&listens, &cfg), 0);
    struct registrar_limits limits = {.max_bindings = 4};
    now = 1000000;
    cr_assert_eq(registrar_create(&limits, &registrar), 0);
    cr_assert_eq(identity_create(&cfg, &identity), 0);
    cr_assert_eq(timer_wheel_create(now, &wheel), 0);
    static const char key[] = "unit test key, not a secret";
    cr_assert_eq(secret_from_bytes(key, sizeof(key), &secret), 0);
    struct net_deps nd = {.listens = &listens, .counters = &counters, .capture = capture};
    cr_assert_eq(net_create(&nd, &net), 0);
    struct proxy_env env = {
        .config = &cfg,
        .registrar = registrar,
        .identity = identity,
        .wheel = wheel,
        .net = &net_proxy_ops,
        .net_ctx = net,
        .counters = &counters,
        .secret = secret,
    };
    cr_assert_eq(proxy_create(&env, &proxy), 0);
    sent_count = 0;
}

static void teardown(void)
{
    proxy_destroy(proxy);
    net_destroy(net);
    secret_free(secret);
    timer_wheel_destroy(wheel);
    identity_destroy(identity);
    registrar_destroy(registrar);
    config_free(&cfg);
    for (int i = 0; i < sent_count; i++)
        free(sent[i].text);
    rcu_unregister_thread();
}

TestSuite(proxy, .init = setup, .fini = teardown);

static void advance(uint64_t ms)
{
    now += ms;
    timer_wheel_advance(wheel, now);
}

/* Binds @uri to @aor, reached at @source over @transport (connection
 * @conn, 0 for UDP), NATed when @nat. */
static void bind_user(const char *aor, const char *uri, int transport, uint64_t conn, bool nat)
{
    struct registrar_change c = {0};
    c.binding.contact = uri;
    c.binding.uri = uri;
    c.binding.expires_at_ms = now + 3600000;
    c.binding.q = 1000;
    c.binding.transport = (uint8_t)transport;
    c.binding.conn = conn;
    c.binding.use_source = nat;
    sipmsg_host_to_addr("10.0.0.9", 40000, &c.binding.source);
    c.binding.local.listen_index = transport == SB_UDP ? 0 : 1;
    sipmsg_host_to_addr("127.0.0.1", 5060, &c.binding.local.addr);
    cr_assert_eq(registrar_update(registrar, aor, &c, 1, false, "bind", 1, now, NULL), 0);
}

/* @msg as if it came over UDP from 10.0.0.5:5062. */
static struct sb_inbound *inbound(osip_message_t *msg)
{
    struct sb_inbound *in = calloc(1, sizeof(*in));
    in->msg = msg;
    sipmsg_host_to_addr("10.0.0.5", 5062, &in->src);
    sipmsg_host_to_addr("127.0.0.1", 5060, &in->local.addr);
    in->transport = SB_UDP;
    in->fd = -1;
    return in;
}

static void deliver_msg(osip_message_t *msg)
{
    proxy_handle(proxy, inbound(msg));
}

static void deliver(const char *text)
{
    deliver_msg(parse(text));
}

/* How many captured messages start with @start, and the last one's index. */
static int count_sent(const char *start, int *last)
{
    int n = 0;
    for (int i = 0; i < sent_count; i++) {
        if (strncmp(sent[i].text, start, strlen(start)) == 0) {
            n++;
            if (last)
                *last = i;
        }
    }
    return n;
}

#define INVITE_TO(uri, maxfwd)                                                                     \
    "INVITE " uri " SIP/2.0\n"                                                                     \
    "Via: SIP/2.0/UDP 10.0.0.5:5062;branch=z9hG4bK-inv1;rport\n"                                   \
    "Max-Forwards: " maxfwd "\n"                                                                   \
    "From: <sip:alice@127.0.0.1>;tag=a1\n"                                                         \
    "To: <" uri ">\n"                                                                              \
    "Call-ID: proxy-test-1\n"                                                                      \
    "CSeq: 1 INVITE\n"                                                                             \
    "Contact: <sip:alice@10.0.0.5:5062>\n"                                                         \
    "Content-Length: 0\n\n"
#define INVITE_BOB INVITE_TO("sip:bob@127.0.0.1", "70")
#define CANCEL_BOB                                                                                 \
    "CANCEL sip:bob@127.0.0.1 SIP/2.0\n"                                                           \
    "Via: SIP/2.0/UDP 10.0.0.5:5062;branch=z9hG4bK-inv1;rport\n"                                   \
    "Max-Forwards: 70\nFrom: <sip:alice@127.0.0.1>;tag=a1\nTo: <sip:bob@127.0.0.1>\n"              \
    "Call-ID: proxy-test-1\nCSeq: 1 CANCEL\nContent-Length: 0\n\n"

/* A response @code to captured request @i, with the callee's To tag, as
 * the callee would send it back. */
/* Parses a captured message (already CRLF-terminated, unlike parse()'s). */
static osip_message_t *parse_sent(int i)
{
    osip_message_t *msg;
    cr_assert_eq(osip_message_init(&msg), 0);
    cr_assert_eq(osip_message_parse(msg, sent[i].text, strlen(sent[i].text)), 0);
    return msg;
}

static void respond_to(int i, int code)
{
    osip_message_t *req = parse_sent(i), *resp;
    cr_assert_eq(sipmsg_response_create(req, code, NULL, "callee1", &resp), 0);
    char *text;
    size_t len;
    cr_assert_eq(sipmsg_serialize(resp, &text, &len), 0);
    struct sb_inbound *in = calloc(1, sizeof(*in));
    cr_assert_eq(osip_message_init(&in->msg), 0);
    cr_assert_eq(osip_message_parse(in->msg, text, len), 0);
    in->src = sent[i].dest.peer;
    in->local = sent[i].dest.local;
    in->transport = sent[i].dest.transport;
    in->fd = -1;
    proxy_handle(proxy, in);
    osip_free(text);
    osip_message_free(resp);
    osip_message_free(req);
}

/* Hands captured request @i back as an I/O thread does when it could not
 * send it (its connection gone). */
static void unsent(int i)
{
    struct sb_inbound *in = calloc(1, sizeof(*in));
    in->msg = parse_sent(i);
    in->src = sent[i].dest.peer;
    in->transport = sent[i].dest.transport;
    in->send_failed = true;
    proxy_handle(proxy, in);
}

Test(proxy, an_invite_gets_100_and_forks_to_every_binding)
{
    bind_user("bob", "sip:bob@10.0.0.7:5062", SB_UDP, 0, false);
    bind_user("bob", "sip:bob@10.0.0.8:5062", SB_UDP, 0, false);
    deliver(INVITE_BOB);
    cr_assert_eq(count_sent("SIP/2.0 100", NULL), 1, "100 Trying at once");
    cr_assert_eq(count_sent("INVITE sip:bob@10.0.0.", NULL), 2, "one branch per binding");
    int i = -1;
    count_sent("INVITE", &i);
    cr_assert_not_null(strcasestr(sent[i].text, "Max-Forwards: 69"), "%s", sent[i].text);
    cr_assert_not_null(strstr(sent[i].text, "Record-Route: <sip:127.0.0.1:5060;lr;sbt="));
    cr_assert_not_null(strstr(sent[i].text, "Via: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bK-sb"));
    cr_assert_eq(sent[i].dest.transport, SB_UDP);
}

Test(proxy, max_forwards_zero_is_483)
{
    bind_user("bob", "sip:bob@10.0.0.7:5062", SB_UDP, 0, false);
    deliver(INVITE_TO("sip:bob@127.0.0.1", "0"));
    cr_assert_eq(count_sent("SIP/2.0 483", NULL), 1);
    cr_assert_eq(count_sent("INVITE", NULL), 0);
}

/* RFC 3261 §16.3 step 4: the very request we forwarded, back again (our
 * Via with the same loop hash), is a loop. */
Test(proxy, a_request_that_comes_back_is_a_loop)
{
    cfg.relay = true;
    deliver(INVITE_TO("sip:carol@10.9.9.9", "70"));
    int i = -1;
    cr_assert_eq(count_sent("INVITE sip:carol@10.9.9.9", &i), 1);
    deliver_msg(parse_sent(i));
    cr_assert_eq(count_sent("SIP/2.0 482", NULL), 1);
}

/* §16.10: CANCEL gets 200 from us, each ringing branch a CANCEL, and the
 * caller 487 once the branch answers it. */
Test(proxy, cancel_reaches_the_ringing_branch)
{
    bind_user("bob", "sip:bob@10.0.0.7:5062", SB_UDP, 0, false);
    deliver(INVITE_BOB);
    int i = -1;
    count_sent("INVITE", &i);
    respond_to(i, 180);
    cr_assert_eq(count_sent("SIP/2.0 180", NULL), 1, "ringing relayed");
    deliver(CANCEL_BOB);
    int c = -1;
    cr_assert_eq(count_sent("CANCEL sip:bob@10.0.0.7", &c), 1);
    cr_assert_eq(count_sent("SIP/2.0 200", NULL), 1, "the CANCEL answered by us");
    respond_to(i, 487);
    cr_assert_eq(count_sent("SIP/2.0 487", NULL), 1);
}

/* The first pass over a batch answers its new INVITE with 100 before
 * anything read ahead of it is handled; the second routes it in turn,
 * without a second 100. */
Test(proxy, a_batch_answers_its_new_invite_first_and_routes_it_in_turn)
{
    bind_user("bob", "sip:bob@10.0.0.7:5062", SB_UDP, 0, false);
    struct sb_inbound *options = inbound(parse("OPTIONS sip:127.0.0.1 SIP/2.0\n"
                                               "Via: SIP/2.0/UDP 10.0.0.5:5062;branch=z9hG4bK-o1\n"
                                               "Max-Forwards: 70\n"
                                               "From: <sip:alice@127.0.0.1>;tag=o1\n"
                                               "To: <sip:127.0.0.1>\nCall-ID: proxy-test-o\n"
                                               "CSeq: 1 OPTIONS\nContent-Length: 0\n\n"));
    struct sb_inbound *invite = inbound(parse(INVITE_BOB));
    cr_assert_not(proxy_accept(proxy, options));
    cr_assert(proxy_accept(proxy, invite));
    cr_assert_eq(sent_count, 1, "only the 100 so far");
    cr_assert_eq(count_sent("SIP/2.0 100", NULL), 1);
    proxy_handle(proxy, options);
    cr_assert_eq(count_sent("SIP/2.0 200", NULL), 1, "OPTIONS for us answered");
    proxy_handle(proxy, invite);
    cr_assert_eq(count_sent("INVITE sip:bob@10.0.0.7", NULL), 1, "routed in its turn");
    cr_assert_eq(count_sent("SIP/2.0 100", NULL), 1, "no second 100");
    cr_assert_eq(counters.value[SB_CNT_RETRANSMISSIONS], 0);
}

/* The worker's two passes over a batch of @a and @b; returns how many of
 * them the first pass answered early. */
static int two_passes(struct sb_inbound *a, struct sb_inbound *b)
{
    int early = proxy_accept(proxy, a) + proxy_accept(proxy, b);
    proxy_handle(proxy, a);
    proxy_handle(proxy, b);
    return early;
}

/* A retransmission read in the same batch is one: it matches the
 * transaction the first copy opened and gets the 100 again. */
Test(proxy, a_retransmission_in_the_same_batch_is_absorbed)
{
    bind_user("bob", "sip:bob@10.0.0.7:5062", SB_UDP, 0, false);
    cr_assert_eq(two_passes(inbound(parse(INVITE_BOB)), inbound(parse(INVITE_BOB))), 1);
    cr_assert_eq(count_sent("INVITE sip:bob@10.0.0.7", NULL), 1);
    cr_assert_eq(count_sent("SIP/2.0 100", NULL), 2);
    cr_assert_eq(counters.value[SB_CNT_RETRANSMISSIONS], 1);
}

/* A CANCEL read before its INVITE finds no transaction (481), as it would
 * in order: no INVITE behind a CANCEL is taken early. Once the batch is
 * handled, the next batch's INVITEs are again. */
Test(proxy, an_invite_behind_a_cancel_waits_its_turn)
{
    bind_user("bob", "sip:bob@10.0.0.7:5062", SB_UDP, 0, false);
    cr_assert_eq(two_passes(inbound(parse(CANCEL_BOB)), inbound(parse(INVITE_BOB))), 0);
    int refused = -1, trying = -1;
    cr_assert_eq(count_sent("SIP/2.0 481", &refused), 1);
    cr_assert_eq(count_sent("SIP/2.0 100", &trying), 1);
    cr_assert_lt(refused, trying, "in the order they came");
    cr_assert_eq(count_sent("INVITE sip:bob@10.0.0.7", NULL), 1, "the call goes on");
    struct sb_inbound *next = inbound(parse("INVITE sip:bob@127.0.0.1 SIP/2.0\n"
                                            "Via: SIP/2.0/UDP 10.0.0.5:5062;branch=z9hG4bK-inv2\n"
                                            "Max-Forwards: 70\n"
                                            "From: <sip:alice@127.0.0.1>;tag=a2\n"
                                            "To: <sip:bob@127.0.0.1>\nCall-ID: proxy-test-2\n"
                                            "CSeq: 1 INVITE\nContent-Length: 0\n\n"));
    cr_assert(proxy_accept(proxy, next), "a later batch is taken early again");
    proxy_handle(proxy, next);
}

/* §16.8: Timer C cancels a branch that rings too long; the caller gets 408. */
Test(proxy, timer_c_cancels_and_answers_408)
{
    bind_user("bob", "sip:bob@10.0.0.7:5062", SB_UDP, 0, false);
    deliver(INVITE_BOB);
    int i = -1;
    count_sent("INVITE", &i);
    respond_to(i, 180);
    advance(cfg.timer_c_ms + 1);
    cr_assert_eq(count_sent("CANCEL sip:bob@10.0.0.7", NULL), 1, "Timer C sent a CANCEL");
    respond_to(i, 487);
    cr_assert_eq(count_sent("SIP/2.0 408", NULL), 1, "Timer C's 408, not the 487");
}

/* RFC 5626: a phone behind NAT registered over a connection that is gone
 * is not reached (480), never by a new connection to its Contact. */
Test(proxy, a_natted_phone_whose_connection_is_gone_gets_480)
{
    bind_user("bob", "sip:bob@192.168.1.7:5062;transport=tcp", SB_TCP, 0x1234500, true);
    deliver(INVITE_BOB);
    cr_assert_eq(count_sent("INVITE", NULL), 0, "no new connection to a NATed contact");
    cr_assert_eq(count_sent("SIP/2.0 480", NULL), 1);
}

/* A phone on the LAN registered over TCP whose connection is gone: a new
 * connection to its Contact, over TCP. The request came over UDP and leaves
 * over TCP: two Record-Routes (RFC 5658), the callee's side (TCP) on top,
 * and a TCP Via. If even that connection fails, the caller gets 480. */
Test(proxy, a_transport_switch_records_both_sides_and_a_failed_send_is_480)
{
    bind_user("bob", "sip:bob@10.0.0.7:5062;transport=tcp", SB_TCP, 0x1234500, false);
    deliver(INVITE_BOB);
    int i = -1;
    cr_assert_eq(count_sent("INVITE sip:bob@10.0.0.7", &i), 1);
    cr_assert_eq(sent[i].dest.transport, SB_TCP);
    cr_assert_eq(sent[i].dest.conn, 0, "a new connection (or one to that address)");
    cr_assert_not_null(strstr(sent[i].text, "Via: SIP/2.0/TCP 127.0.0.1:5060;"));
    const char *rr1 = strstr(sent[i].text, "Record-Route: <sip:");
    cr_assert_not_null(rr1);
    const char *rr2 = strstr(rr1 + 1, "Record-Route: <sip:");
    cr_assert_not_null(rr2, "%s", sent[i].text);
    cr_assert(strstr(rr1, ";transport=tcp;lr;") && strstr(rr1, ";transport=tcp;lr;") < rr2,
              "the callee's side first: %s", sent[i].text);
    cr_assert(strncmp(rr2, "Record-Route: <sip:127.0.0.1:5060;lr;", 37) == 0 ||
                  strstr(rr2, "@127.0.0.1:5060;lr;") != NULL,
              "then the caller's side, UDP");
    unsent(i);
    cr_assert_eq(count_sent("SIP/2.0 480", NULL), 1, "480 at once, not after Timer B");
}

/* Binds @uri to @aor as a binding another switchboard (@node) made over
 * TCP from behind NAT, as the shared store's merge caches it. */
static void bind_elsewhere(const char *aor, const char *uri, const char *node)
{
    struct registrar_binding b = {.contact = uri,
                                  .uri = uri,
                                  .call_id = "elsewhere",
                                  .cseq = 1,
                                  .expires_at_ms = now + 3600000,
                                  .q = 1000,
                                  .transport = SB_TCP,
                                  .use_source = true,
                                  .node = node};
    sipmsg_host_to_addr("10.0.0.9", 40000, &b.source);
    sipmsg_host_to_addr("127.0.0.1", 5060, &b.local.addr);
    cr_assert_eq(registrar_restore(registrar, aor, &b, 1, now), 0);
}

/* Shared store: bob's TCP connection is at another switchboard; the INVITE
 * goes there, with a Request-URI naming it and the peer parameter; his UDP
 * phone is reached directly. */
Test(proxy, a_phone_connected_to_another_node_is_reached_through_it)
{
    bind_elsewhere("bob", "sip:bob@192.168.1.7:5062;transport=tcp", "127.0.0.3:5070");
    bind_user("bob", "sip:bob@10.0.0.7:5062", SB_UDP, 0, false);
    deliver(INVITE_BOB);
    int i = -1;
    cr_assert_eq(count_sent("INVITE sip:bob@127.0.0.3:5070;sb-peer=", &i), 1, "signed");
    cr_assert_eq(sent[i].dest.transport, SB_UDP);
    char peer[64];
    sipmsg_addr_format(&sent[i].dest.peer, peer, sizeof(peer));
    cr_assert_str_eq(peer, "127.0.0.3:5070");
    cr_assert_eq(count_sent("INVITE sip:bob@10.0.0.7:5062 SIP/2.0", NULL), 1);
    cr_assert_eq(count_sent("SIP/2.0 480", NULL), 0);
}

/* The other side: a request carrying the peer parameter with our MAC (as
 * the node holding the connection receives it: same secret) reaches only
 * the bindings made here (never back to another node), and the parameter
 * does not travel on in the Request-URI. */
Test(proxy, a_peer_request_reaches_only_the_phones_connected_here)
{
    bind_elsewhere("bob", "sip:bob@192.168.1.7:5062;transport=tcp", "127.0.0.3:5070");
    bind_user("bob", "sip:bob@10.0.0.7:5062", SB_UDP, 0, false);
    deliver(INVITE_BOB);
    int signed_at = -1;
    cr_assert_eq(count_sent("INVITE sip:bob@127.0.0.3:5070;sb-peer=", &signed_at), 1);
    osip_message_t *peer_req = parse_sent(signed_at);
    sipmsg_via_pop(peer_req);            /* what the other node sees, less its own Via */
    osip_generic_param_t *branch = NULL; /* and not our own transaction */
    osip_via_param_get_byname(sipmsg_top_via(peer_req), "branch", &branch);
    osip_free(branch->gvalue);
    branch->gvalue = osip_strdup("z9hG4bK-peer1");
    osip_free(peer_req->req_uri->host);
    peer_req->req_uri->host = osip_strdup("127.0.0.1");
    osip_free(peer_req->req_uri->port);
    peer_req->req_uri->port = NULL;
    osip_list_special_free(&peer_req->record_routes, (void (*)(void *))osip_record_route_free);
    int before = sent_count;
    struct sb_inbound *in = inbound(peer_req);
    sipmsg_host_to_addr("127.0.0.3", 5070, &in->src);
    proxy_handle(proxy, in);
    int i = -1;
    cr_assert_eq(count_sent("INVITE ", &i), 3, "only the phone connected here");
    cr_assert_gt(i, before);
    cr_assert(strncmp(sent[i].text, "INVITE sip:bob@10.0.0.7:5062 SIP/2.0", 36) == 0, "%s",
              sent[i].text);
    const char *eol = strstr(sent[i].text, "\r\n");
    cr_assert(eol && !memmem(sent[i].text, (size_t)(eol - sent[i].text), "sb-peer", 7));
}

/* A stranger's ;sb-peer (no MAC, or a wrong one) is not honoured: the
 * parameter is dropped and the call routed as any other, to every device. */
Test(proxy, a_forged_peer_parameter_is_ignored)
{
    bind_elsewhere("bob", "sip:bob@192.168.1.7:5062;transport=tcp", "127.0.0.3:5070");
    bind_user("bob", "sip:bob@10.0.0.7:5062", SB_UDP, 0, false);
    deliver(INVITE_TO("sip:bob@127.0.0.1;sb-peer=AAAAAAAAAAA", "70"));
    cr_assert_eq(count_sent("INVITE sip:bob@10.0.0.7:5062 SIP/2.0", NULL), 1);
    cr_assert_eq(count_sent("INVITE sip:bob@127.0.0.3:5070;sb-peer=", NULL), 1,
                 "routed as any call: the other node's device rings too");
}

/* --- the routing policy (route_policy.h) --- */

#define INVITE_ROUTED(uri, routes)                                                                 \
    "INVITE " uri " SIP/2.0\n"                                                                     \
    "Via: SIP/2.0/UDP 10.0.0.5:5062;branch=z9hG4bK-pre1;rport\n"                                   \
    "Max-Forwards: 70\n" routes "From: <sip:mallory@127.0.0.1>;tag=m1\n"                           \
    "To: <" uri ">\nCall-ID: " uri "\nCSeq: 1 INVITE\n"                                            \
    "Contact: <sip:mallory@10.0.0.5:5062>\nContent-Length: 0\n\n"

/* Out of dialog, a Route that is not ours is refused: alone, or after a
 * Route naming us (unsigned), and nothing but the answer leaves. */
Test(proxy, a_preloaded_route_is_denied)
{
    deliver(INVITE_ROUTED("sip:victim@198.51.100.7", "Route: <sip:198.51.100.9:5060;lr>\n"));
    cr_assert_eq(count_sent("SIP/2.0 403 Preloaded Route denied", NULL), 1);
    deliver(INVITE_ROUTED("sip:victim@198.51.100.8",
                          "Route: <sip:127.0.0.1:5060;lr>, <sip:198.51.100.9:5060;lr>\n"));
    cr_assert_eq(count_sent("SIP/2.0 403 Preloaded Route denied", NULL), 2, "%s",
                 sent[sent_count - 1].text);
    cr_assert_eq(count_sent("INVITE", NULL), 0, "nothing relayed");
    cr_assert_eq(counters.value[SB_CNT_PRELOADED_ROUTE], 2);
}

/* Even with relay on, a stranger cannot aim us at our own host: a
 * loopback target named by a request from the LAN is refused, and a
 * REGISTER whose Contact is 127.0.0.1:6379 gets 403. */
Test(proxy, a_stranger_cannot_aim_us_at_loopback)
{
    cfg.relay = true;
    deliver(INVITE_ROUTED("sip:x@127.0.0.1:6379", ""));
    cr_assert_eq(count_sent("SIP/2.0 403 Forbidden Destination", NULL), 1);
    deliver(INVITE_ROUTED("sip:y@198.51.100.7", "Route: <sip:127.0.0.1:6379;lr>\n"));
    cr_assert_eq(count_sent("SIP/2.0 403 Forbidden Destination", NULL), 2);
    cr_assert_eq(count_sent("INVITE", NULL), 0);
    deliver("REGISTER sip:127.0.0.1 SIP/2.0\n"
            "Via: SIP/2.0/UDP 10.0.0.5:5062;branch=z9hG4bK-reg9;rport\n"
            "From: <sip:mallory@127.0.0.1>;tag=r1\nTo: <sip:bob@127.0.0.1>\n"
            "Call-ID: reg-9\nCSeq: 1 REGISTER\n"
            "Contact: <sip:bob@127.0.0.1:6379>\nContent-Length: 0\n\n");
    cr_assert_eq(count_sent("SIP/2.0 403 Forbidden Contact", NULL), 1);
    cr_assert_eq(counters.value[SB_CNT_FORBIDDEN_TARGET], 3);
}

/* From loopback (SIPp on 127.0.0.1), loopback targets stay usable. */
Test(proxy, loopback_senders_may_name_loopback_targets)
{
    cfg.relay = true;
    osip_message_t *msg = parse(INVITE_ROUTED("sip:x@127.0.0.1:6379", ""));
    struct sb_inbound *in = inbound(msg);
    sipmsg_host_to_addr("127.0.0.1", 5062, &in->src);
    proxy_handle(proxy, in);
    cr_assert_eq(count_sent("INVITE sip:x@127.0.0.1:6379", NULL), 1);
}

/* [proxy] forbidden_targets refuses whatever the sender. */
Test(proxy, forbidden_targets_are_never_reached)
{
    proxy_destroy(proxy);
    cfg.relay = true;
    cfg.forbidden_targets = strdup("198.51.100.0/24, 10.0.0.9:5070");
    struct proxy_env env = {.config = &cfg,
                            .registrar = registrar,
                            .identity = identity,
                            .wheel = wheel,
                            .net = &net_proxy_ops,
                            .net_ctx = net,
                            .counters = &counters,
                            .secret = secret};
    cr_assert_eq(proxy_create(&env, &proxy), 0);
    deliver(INVITE_ROUTED("sip:x@198.51.100.7", ""));
    cr_assert_eq(count_sent("SIP/2.0 403 Forbidden Destination", NULL), 1);
    deliver(INVITE_TO("sip:carol@10.0.0.9:5071", "70"));
    cr_assert_eq(count_sent("INVITE sip:carol@10.0.0.9:5071", NULL), 1, "another port is fine");
}

/* Host names are never resolved on a SIP thread: refused, counted. */
Test(proxy, a_host_name_next_hop_is_refused_without_a_lookup)
{
    cfg.relay = true;
    deliver(INVITE_ROUTED("sip:x@example.invalid", ""));
    cr_assert_eq(count_sent("SIP/2.0 500 Unresolvable Destination", NULL), 1);
    cr_assert_eq(counters.value[SB_CNT_UNRESOLVED], 1);
}

/* A 2xx retransmitted after its transaction ended is forwarded by its
 * Via (§16.7) only when our Via's MAC covers the Via below it: a forged
 * response cannot send us to a host of its choosing. */
Test(proxy, a_stray_response_goes_only_where_our_request_came_from)
{
    bind_user("bob", "sip:bob@10.0.0.7:5062", SB_UDP, 0, false);
    deliver(INVITE_BOB);
    int i = -1;
    cr_assert_eq(count_sent("INVITE sip:bob@10.0.0.7", &i), 1);
    respond_to(i, 200);
    cr_assert_eq(count_sent("SIP/2.0 200", NULL), 1);
    advance(40000); /* past Timer M (RFC 6026): the transaction is gone */
    respond_to(i, 200);
    int last = -1;
    cr_assert_eq(count_sent("SIP/2.0 200", &last), 2, "the genuine stray is forwarded");
    char peer[64];
    sipmsg_addr_format(&sent[last].dest.peer, peer, sizeof(peer));
    cr_assert_str_eq(peer, "10.0.0.5:5062");

    /* the same response with the Via below ours pointing elsewhere */
    osip_message_t *req = parse_sent(i), *resp;
    osip_via_t *below = osip_list_get(&req->vias, 1);
    osip_free(below->host);
    below->host = osip_strdup("127.0.0.1");
    osip_free(below->port);
    below->port = osip_strdup("6379");
    osip_generic_param_t *received = NULL;
    osip_generic_param_get_byname(&below->via_params, "received", &received);
    if (received) {
        osip_free(received->gvalue);
        received->gvalue = osip_strdup("127.0.0.1");
    }
    cr_assert_eq(sipmsg_response_create(req, 200, NULL, "callee1", &resp), 0);
    struct sb_inbound *in = inbound(resp);
    in->src = sent[i].dest.peer;
    proxy_handle(proxy, in);
    cr_assert_eq(count_sent("SIP/2.0 200", &last), 2, "the forged one goes nowhere: %s",
                 sent[last].text);
    cr_assert_eq(counters.value[SB_CNT_STRAY_UNVERIFIED], 1);
    osip_message_free(req);
}

/* --- our signed Record-Route (record_route.h) --- */

/* A response @code to captured request @i as the callee at @contact sends
 * it: its Record-Routes echoed, its Contact added. */
static void respond_with_contact(int i, int code, const char *contact)
{
    osip_message_t *req = parse_sent(i), *resp;
    cr_assert_eq(sipmsg_response_create(req, code, NULL, "callee1", &resp), 0);
    cr_assert_eq(osip_list_clone(&req->record_routes, &resp->record_routes,
                                 (int (*)(void *, void **))osip_record_route_clone),
                 0);
    osip_message_set_contact(resp, contact);
    struct sb_inbound *in = calloc(1, sizeof(*in));
    in->msg = resp;
    in->src = sent[i].dest.peer;
    in->local = sent[i].dest.local;
    in->transport = sent[i].dest.transport;
    in->fd = -1;
    proxy_handle(proxy, in);
    osip_message_free(req);
}

/* The Record-Route value of captured message @i, into @buf. */
static void record_route_of(int i, char *buf, size_t size)
{
    const char *rr = strstr(sent[i].text, "Record-Route: ");
    cr_assert_not_null(rr, "%s", sent[i].text);
    rr += strlen("Record-Route: ");
    size_t n = strcspn(rr, "\r\n");
    cr_assert_lt(n, size);
    memcpy(buf, rr, n);
    buf[n] = '\0';
}

#define IN_DIALOG(method, ruri, from_tag, to_tag, cseq)                                            \
    method " " ruri " SIP/2.0\n"                                                                   \
           "Via: SIP/2.0/UDP 10.0.0.5:5062;branch=z9hG4bK-" cseq from_tag ";rport\n"               \
           "Max-Forwards: 70\nRoute: %s\n"                                                         \
           "From: <sip:x@127.0.0.1>;tag=" from_tag "\nTo: <sip:y@127.0.0.1>;tag=" to_tag "\n"      \
           "Call-ID: proxy-test-1\nCSeq: " cseq " " method "\nContent-Length: 0\n\n"

static void deliver_routed(const char *format, const char *route)
{
    char text[2048];
    snprintf(text, sizeof(text), format, route);
    deliver(text);
}

/* Each side's route set is signed for the other side's Contact: requests
 * inside the call reach the two phones, and a Route copied from the call
 * (anyone who rang a phone saw it) takes nothing anywhere else. */
Test(proxy, a_copied_record_route_reaches_only_the_calls_phones)
{
    bind_user("bob", "sip:bob@10.0.0.7:5062", SB_UDP, 0, false);
    deliver(INVITE_BOB);
    int inv = -1, ok = -1;
    cr_assert_eq(count_sent("INVITE sip:bob@10.0.0.7", &inv), 1);
    char callee_rr[400], caller_rr[400];
    record_route_of(inv, callee_rr, sizeof(callee_rr));
    respond_with_contact(inv, 200, "<sip:bob@10.0.0.7:5062>");
    cr_assert_eq(count_sent("SIP/2.0 200", &ok), 1);
    record_route_of(ok, caller_rr, sizeof(caller_rr));
    cr_assert_str_neq(caller_rr, callee_rr, "re-signed on the way up");

    /* alice -> bob through the caller's route set: forwarded */
    deliver_routed(IN_DIALOG("BYE", "sip:bob@10.0.0.7:5062", "a1", "callee1", "2"), caller_rr);
    cr_assert_eq(count_sent("BYE sip:bob@10.0.0.7:5062", NULL), 1);
    /* bob -> alice through the callee's: forwarded */
    deliver_routed(IN_DIALOG("INFO", "sip:alice@10.0.0.5:5062", "callee1", "a1", "3"), callee_rr);
    cr_assert_eq(count_sent("INFO sip:alice@10.0.0.5:5062", NULL), 1);
    /* the callee retransmits its 2xx (its ACK was late): the transaction,
     * Accepted, no longer holds the request; the 2xx goes up re-signed */
    respond_with_contact(inv, 200, "<sip:bob@10.0.0.7:5062>");
    int again = -1;
    cr_assert_eq(count_sent("SIP/2.0 200", &again), 2);
    char again_rr[400];
    record_route_of(again, again_rr, sizeof(again_rr));
    cr_assert_str_eq(again_rr, caller_rr);
    /* either Route replayed toward another host: refused, nothing sent */
    deliver_routed(IN_DIALOG("INVITE", "sip:victim@198.51.100.7", "a1", "callee1", "4"), caller_rr);
    deliver_routed(IN_DIALOG("MESSAGE", "sip:victim@198.51.100.7", "callee1", "a1", "5"),
                   callee_rr);
    cr_assert_eq(count_sent("SIP/2.0 403", NULL), 2);
    cr_assert_eq(count_sent("INVITE sip:victim", NULL) + count_sent("MESSAGE sip:victim", NULL), 0);
    /* and the callee's Route does not serve the caller's direction */
    deliver_routed(IN_DIALOG("OPTIONS", "sip:bob@10.0.0.7:5062", "a1", "callee1", "6"), callee_rr);
    cr_assert_eq(count_sent("OPTIONS sip:bob", NULL), 0);
}

static void forget_sent(void)
{
    for (int i = 0; i < sent_count; i++)
        free(sent[i].text);
    sent_count = 0;
}

/* A stateless 503 of ours (past register_rate) is written from the
 * request's own lines: its compact headers and their spacing stay as
 * they came, the To gets the tag derived from the request, Retry-After
 * follows the CSeq, and libosip2 reads back the same Call-ID and CSeq. */
Test(proxy, a_stateless_refusal_is_written_from_the_request_lines)
{
    int refused = 0;
    for (int i = 0; i < 101 && !refused; i++) {
        char text[512];
        snprintf(text, sizeof(text),
                 "REGISTER sip:127.0.0.1 SIP/2.0\n"
                 "v: SIP/2.0/UDP 10.0.0.5:5062;branch=z9hG4bK-rl%d;rport\n"
                 "f: <sip:w%d@127.0.0.1>;tag=r%d\nt:  <sip:w%d@127.0.0.1> \n"
                 "i: lines-%d\nCSeq: 3 REGISTER\n"
                 "m: <sip:w%d@10.0.0.5:5062>\nContent-Length: 0\n\n",
                 i, i, i, i, i, i);
        proxy_handle(proxy, inbound_raw(text));
        refused = count_sent("SIP/2.0 503", NULL);
        if (!refused)
            forget_sent();
    }
    cr_assert_eq(refused, 1, "the 101st REGISTER is past the burst");
    const char *got = sent[0].text;
    const char *to = strstr(got, "\r\nt:  <sip:w100@127.0.0.1>;tag=sb");
    cr_assert_not_null(to, "the To as it came, with our tag:\n%s", got);
    cr_assert_not_null(strstr(got, "SIP/2.0 503 Too many REGISTERs from this address\r\n"));
    cr_assert_not_null(strstr(got, "\r\ni: lines-100\r\n"), "compact Call-ID kept:\n%s", got);
    cr_assert_not_null(strstr(got, "\r\nCSeq: 3 REGISTER\r\nRetry-After: 2\r\n"), "%s", got);
    osip_message_t *back;
    cr_assert_eq(osip_message_init(&back), 0);
    cr_assert_eq(osip_message_parse(back, got, strlen(got)), 0);
    cr_assert_eq(back->status_code, 503);
    char id[64];
    cr_assert_eq(sipmsg_call_id(back, id, sizeof(id)), 0);
    cr_assert_str_eq(id, "lines-100");
    cr_assert_eq(sipmsg_cseq_number(back), 3);
    cr_assert_not_null(sipmsg_to_tag(back));
    osip_message_free(back);
    forget_sent();
}

/* [registrar] register_rate (50 a second, bursts of 100) per source: a
 * stranger's REGISTER flood gets 503 with Retry-After past the burst, and
 * is counted; SIPp on the proxy's own host is not limited. */
Test(proxy, registers_from_one_address_are_rate_limited)
{
    int refused = 0;
    for (int i = 0; i < 150; i++) {
        char text[512];
        snprintf(text, sizeof(text),
                 "REGISTER sip:127.0.0.1 SIP/2.0\n"
                 "Via: SIP/2.0/UDP 10.0.0.5:5062;branch=z9hG4bK-rr%d;rport\n"
                 "From: <sip:u%d@127.0.0.1>;tag=r%d\nTo: <sip:u%d@127.0.0.1>\n"
                 "Call-ID: rate-%d\nCSeq: 1 REGISTER\n"
                 "Contact: <sip:u%d@10.0.0.5:5062>\nContent-Length: 0\n\n",
                 i, i, i, i, i, i);
        deliver(text);
        if (count_sent("SIP/2.0 503", NULL)) {
            refused++;
            cr_assert_not_null(strstr(sent[0].text, "Retry-After: 2"));
        }
        forget_sent();
    }
    cr_assert_eq(refused, 50, "a burst of 100, then 503");
    cr_assert_eq(counters.value[SB_CNT_REGISTER_RATE], 50);
    for (int i = 0; i < 150; i++) { /* from loopback: never limited */
        char text[512];
        snprintf(text, sizeof(text),
                 "REGISTER sip:127.0.0.1 SIP/2.0\n"
                 "Via: SIP/2.0/UDP 127.0.0.1:5062;branch=z9hG4bK-lo%d;rport\n"
                 "From: <sip:l%d@127.0.0.1>;tag=r%d\nTo: <sip:l%d@127.0.0.1>\n"
                 "Call-ID: lo-%d\nCSeq: 1 REGISTER\n"
                 "Contact: <sip:l%d@127.0.0.1:5062>\nContent-Length: 0\n\n",
                 i, i, i, i, i, i);
        struct sb_inbound *in = inbound(parse(text));
        sipmsg_host_to_addr("127.0.0.1", 5062, &in->src);
        proxy_handle(proxy, in);
        cr_assert_eq(count_sent("SIP/2.0 503", NULL), 0);
        forget_sent();
    }
}
