/* Unit tests for src/sip/transaction.c: matching (RFC 3261 §17.1.3, §17.2.3),
 * retransmission timers, ACK absorption and generation, CANCEL. Time is
 * driven by hand through the timer wheel; datagrams land in a list. */
#include <stdio.h>

#include "switchboard/error.h"
#include "switchboard/buf.h"
#include "switchboard/sip_edit.h"
#include "switchboard/sip_msg.h"
#include "switchboard/transaction.h"
#include "test_helpers.h"

#define MAX_SENT 32

static char *sent[MAX_SENT];
static int sent_transport[MAX_SENT];
static int sent_count;
static int responses, timeouts, servers_gone, clients_gone, transport_errors;
static bool tcp_available;
static struct timer_wheel *wheel;
static struct txn_layer *layer;
static uint64_t now;

static void capture(void *ctx, const struct sb_dest *dest, const char *data, size_t len)
{
    (void)ctx;
    cr_assert_lt(sent_count, MAX_SENT);
    sent_transport[sent_count] = dest->transport;
    sent[sent_count++] = strndup(data, len);
}

/* As net_retarget: only when "we listen on TCP". */
static int retarget(void *ctx, struct sb_dest *dest, int transport)
{
    (void)ctx;
    if (!tcp_available)
        return SB_ENOTFOUND;
    dest->transport = (uint8_t)transport;
    dest->conn = 0;
    return 0;
}

static void on_response(void *user, struct client_txn *ct, void *tu, osip_message_t **resp)
{
    (void)user, (void)ct, (void)tu, (void)resp;
    responses++;
}
static void on_timeout(void *user, struct client_txn *ct, void *tu)
{
    (void)user, (void)ct, (void)tu;
    timeouts++;
}
static void on_client_gone(void *user, struct client_txn *ct, void *tu)
{
    (void)user, (void)ct, (void)tu;
    clients_gone++;
}
static void on_server_gone(void *user, struct server_txn *st, void *tu)
{
    (void)user, (void)st, (void)tu;
    servers_gone++;
}
static void on_transport_error(void *user, struct client_txn *ct, void *tu)
{
    (void)user, (void)ct, (void)tu;
    transport_errors++;
}

static const struct txn_user_ops ops = {
    .on_response = on_response,
    .on_timeout = on_timeout,
    .on_transport_error = on_transport_error,
    .on_client_gone = on_client_gone,
    .on_server_gone = on_server_gone,
};

/* The layer under test, with @user_ops. */
static void create_layer(const struct txn_user_ops *user_ops)
{
    struct txn_config cfg = {
        .t1_ms = 500, .t2_ms = 4000, .t4_ms = 5000, .max_server = 8, .udp_max = 1300};
    struct txn_io io = {.send = capture, .retarget = retarget};
    cr_assert_eq(txn_layer_create(&cfg, wheel, &io, user_ops, NULL, &layer), 0);
}

static void setup(void)
{
    sent_count = responses = timeouts = servers_gone = clients_gone = transport_errors = 0;
    tcp_available = true;
    now = 1000;
    cr_assert_eq(timer_wheel_create(now, &wheel), 0);
    create_layer(&ops);
}

static void teardown(void)
{
    txn_layer_destroy(layer);
    timer_wheel_destroy(wheel);
    for (int i = 0; i < sent_count; i++)
        free(sent[i]);
}

TestSuite(transaction, .init = setup, .fini = teardown);

/* The layer schedules from the wheel's time (the worker's loop time), so
 * the test's clock is the wheel's: moving it is moving time. */
static void advance(uint64_t ms)
{
    now += ms;
    timer_wheel_advance(wheel, now);
}

static struct sb_inbound *inbound(const char *text)
{
    struct sb_inbound *in = calloc(1, sizeof(*in));
    in->msg = parse(text);
    sipmsg_host_to_addr("10.0.0.5", 5062, &in->src);
    sipmsg_host_to_addr("127.0.0.1", 5060, &in->local.addr);
    return in;
}

#define ACK_TEXT                                                                                   \
    "ACK sip:bob@127.0.0.1 SIP/2.0\n"                                                              \
    "Via: SIP/2.0/UDP 10.0.0.5:5062;branch=z9hG4bK-abc123;rport\n"                                 \
    "Max-Forwards: 70\n"                                                                           \
    "From: \"Alice\" <sip:alice@127.0.0.1>;tag=from1\n"                                            \
    "To: <sip:bob@127.0.0.1>;tag=x\n"                                                              \
    "Call-ID: call-1@10.0.0.5\n"                                                                   \
    "CSeq: 7 ACK\n"                                                                                \
    "Content-Length: 0\n\n"

#define CANCEL_TEXT                                                                                \
    "CANCEL sip:bob@127.0.0.1 SIP/2.0\n"                                                           \
    "Via: SIP/2.0/UDP 10.0.0.5:5062;branch=z9hG4bK-abc123;rport\n"                                 \
    "Max-Forwards: 70\n"                                                                           \
    "From: \"Alice\" <sip:alice@127.0.0.1>;tag=from1\n"                                            \
    "To: <sip:bob@127.0.0.1>\n"                                                                    \
    "Call-ID: call-1@10.0.0.5\n"                                                                   \
    "CSeq: 7 CANCEL\n"                                                                             \
    "Content-Length: 0\n\n"

Test(transaction, ack_and_cancel_keys_name_their_invite)
{
    osip_message_t *inv = parse(INVITE_TEXT), *ack = parse(ACK_TEXT), *cancel = parse(CANCEL_TEXT);
    char k1[256], k2[256], k3[256], k4[256];
    cr_assert_gt(txn_server_key(inv, false, k1, sizeof(k1)), 0);
    cr_assert_gt(txn_server_key(ack, false, k2, sizeof(k2)), 0);
    cr_assert_gt(txn_server_key(cancel, true, k3, sizeof(k3)), 0);
    cr_assert_gt(txn_server_key(cancel, false, k4, sizeof(k4)), 0);
    cr_assert_str_eq(k1, k2);
    cr_assert_str_eq(k1, k3);
    cr_assert_str_neq(k1, k4, "a CANCEL is a transaction of its own");
    osip_message_free(inv);
    osip_message_free(ack);
    osip_message_free(cancel);
}

/* SIPp's out-of-call UAS sends every BYE with one branch: each call's BYE
 * is a request of its own, not a retransmission of the first (Kamailio
 * keys its lookup on Call-ID and CSeq too). */
Test(transaction, a_reused_branch_in_another_call_is_a_new_request)
{
    static const char *bye[] = {
        "BYE sip:alice@10.0.0.5 SIP/2.0\n"
        "Via: SIP/2.0/UDP 10.0.0.9:5070;branch=z9hG4bK-same\n"
        "From: <sip:bob@127.0.0.1>;tag=b1\nTo: <sip:alice@127.0.0.1>;tag=a1\n"
        "Call-ID: first\nCSeq: 1 BYE\nContent-Length: 0\n\n",
        "BYE sip:alice@10.0.0.5 SIP/2.0\n"
        "Via: SIP/2.0/UDP 10.0.0.9:5070;branch=z9hG4bK-same\n"
        "From: <sip:bob@127.0.0.1>;tag=b2\nTo: <sip:alice@127.0.0.1>;tag=a2\n"
        "Call-ID: second\nCSeq: 1 BYE\nContent-Length: 0\n\n",
        "BYE sip:alice@10.0.0.5 SIP/2.0\n"
        "Via: SIP/2.0/UDP 10.0.0.9:5070;branch=z9hG4bK-same\n"
        "From: <sip:bob@127.0.0.1>;tag=b1\nTo: <sip:alice@127.0.0.1>;tag=a1\n"
        "Call-ID: first\nCSeq: 2 BYE\nContent-Length: 0\n\n",
    };
    struct server_txn *st;
    cr_assert_eq(txn_server_create(layer, inbound(bye[0]), NULL, &st), 0);
    osip_message_t *again = parse(bye[0]), *other = parse(bye[1]), *later = parse(bye[2]);
    cr_assert_eq(txn_server_match(layer, again), st, "the very same BYE is a retransmission");
    cr_assert_null(txn_server_match(layer, other), "another Call-ID is another request");
    cr_assert_null(txn_server_match(layer, later), "another CSeq is another request");
    struct server_txn *st2;
    cr_assert_eq(txn_server_create(layer, inbound(bye[1]), NULL, &st2), 0);
    cr_assert_neq(st2, st);
    cr_assert_eq(txn_server_match(layer, other), st2);
    osip_message_free(again);
    osip_message_free(other);
    osip_message_free(later);
}

Test(transaction, server_absorbs_retransmissions_and_acks)
{
    struct server_txn *st;
    cr_assert_eq(txn_server_create(layer, inbound(INVITE_TEXT), NULL, &st), 0);
    cr_assert_eq(txn_server_respond_code(st, 100, NULL), 0);
    cr_assert_eq(sent_count, 1);

    osip_message_t *again = parse(INVITE_TEXT);
    cr_assert_eq(txn_server_match(layer, again), st);
    txn_server_retransmission(st);
    cr_assert_eq(sent_count, 2, "the last provisional is resent");
    cr_assert_not_null(strstr(sent[1], "SIP/2.0 100 Trying"));
    osip_message_free(again);

    cr_assert_eq(txn_server_respond_code(st, 486, NULL), 0);
    cr_assert_eq(sent_count, 3);
    advance(500);
    cr_assert_eq(sent_count, 4, "Timer G retransmits the final response");
    cr_assert_not_null(strstr(sent[3], "486 Busy Here"));

    osip_message_t *ack = parse(ACK_TEXT);
    cr_assert_eq(txn_server_match(layer, ack), st);
    cr_assert(txn_server_ack(st), "ACK to a non-2xx is absorbed");
    osip_message_free(ack);
    advance(4000);
    cr_assert_eq(sent_count, 4, "no retransmission after the ACK");
    cr_assert_eq(servers_gone, 0);
    advance(1500);
    cr_assert_eq(servers_gone, 0, "NULL tu: no callback");
    osip_message_t *inv = parse(INVITE_TEXT);
    cr_assert_null(txn_server_match(layer, inv), "Timer I ended the transaction");
    osip_message_free(inv);
}

static char noted_to_tag[32];
static int noted_code;

/* As the proxy's hook: notes what it reads, and a reason table renames. */
static void note_own(void *user, struct server_txn *st, void *tu, osip_message_t *resp, bool local)
{
    (void)user, (void)st, (void)tu;
    cr_assert(local);
    noted_code = resp->status_code;
    const char *tag = sipmsg_to_tag(resp);
    snprintf(noted_to_tag, sizeof(noted_to_tag), "%s", tag ? tag : "");
    osip_free(resp->reason_phrase);
    resp->reason_phrase = osip_strdup("Nobody Home");
}

/* Our own final response (§8.2.6) is written from the request's lines:
 * compact names and the second Via of a line stay as they came, the top
 * Via is stamped, the To gets our tag, and the reason a hook set is the
 * one sent. Read back by libosip2, it says what the response built from
 * the parse says. */
Test(transaction, an_own_response_is_written_from_the_request_lines)
{
    static const char text[] = "BYE sip:bob@127.0.0.1 SIP/2.0\n"
                               "v: SIP/2.0/UDP 10.0.0.5:5062;branch=z9hG4bK-b1;rport ,"
                               "SIP/2.0/UDP 10.0.0.9;branch=z9hG4bK-b0\n"
                               "f: \"Alice\" <sip:alice@127.0.0.1>;tag=from1\n"
                               "t:  <sip:bob@127.0.0.1> \n"
                               "i: call-2@10.0.0.5\n"
                               "CSeq: 8 BYE\n"
                               "Max-Forwards: 70\n"
                               "Content-Length: 0\n\n";
    struct txn_user_ops hooked = ops;
    hooked.on_server_respond = note_own;
    txn_layer_destroy(layer);
    create_layer(&hooked);
    struct sb_inbound *in = inbound_raw(text);
    osip_message_t *built;
    cr_assert_eq(sipmsg_response_create(in->msg, 480, "Nobody Home", "t1", &built), 0);
    struct server_txn *st;
    cr_assert_eq(txn_server_create(layer, in, NULL, &st), 0);
    cr_assert_eq(txn_server_respond_code(st, 480, NULL), 0);
    cr_assert_eq(sent_count, 1);
    cr_assert_eq(noted_code, 480);
    cr_assert_neq(noted_to_tag[0], '\0', "the hook reads our To tag");
    char want[512];
    snprintf(want, sizeof(want),
             "SIP/2.0 480 Nobody Home\r\n"
             "Via: SIP/2.0/UDP 10.0.0.5:5062;branch=z9hG4bK-b1;rport=5062;received=10.0.0.5\r\n"
             "Via: SIP/2.0/UDP 10.0.0.9;branch=z9hG4bK-b0\r\n"
             "f: \"Alice\" <sip:alice@127.0.0.1>;tag=from1\r\n"
             "t:  <sip:bob@127.0.0.1>;tag=%s\r\n"
             "i: call-2@10.0.0.5\r\n"
             "CSeq: 8 BYE\r\n",
             noted_to_tag);
    cr_assert_eq(strncmp(sent[0], want, strlen(want)), 0, "got:\n%s\nwant:\n%s", sent[0], want);
    osip_message_t *got;
    cr_assert_eq(osip_message_init(&got), 0);
    cr_assert_eq(osip_message_parse(got, sent[0], strlen(sent[0])), 0);
    cr_assert_eq(got->status_code, 480);
    cr_assert_str_eq(sipmsg_to_tag(got), noted_to_tag);
    cr_assert_str_eq(sipmsg_from_tag(got), sipmsg_from_tag(built));
    cr_assert_str_eq(got->call_id->number, built->call_id->number);
    cr_assert_str_eq(got->cseq->number, built->cseq->number);
    cr_assert_str_eq(got->cseq->method, built->cseq->method);
    cr_assert_eq(osip_list_size(&got->vias), osip_list_size(&built->vias));
    cr_assert_str_eq(sipmsg_via_param(sipmsg_top_via(got), "received"),
                     sipmsg_via_param(sipmsg_top_via(built), "received"));
    osip_message_free(got);
    osip_message_free(built);
}

/* A request whose bytes were not kept is answered from its parse, and
 * header lines of ours still go in before the blank line. */
Test(transaction, lines_of_ours_go_into_a_response_built_from_the_parse)
{
    struct server_txn *st;
    cr_assert_eq(txn_server_create(layer, inbound(INVITE_TEXT), NULL, &st), 0);
    cr_assert_eq(txn_server_respond_extra(
                     st, 407, NULL, "Proxy-Authenticate: Digest realm=\"x\", nonce=\"n\"\r\n"),
                 0);
    cr_assert_eq(sent_count, 1);
    size_t len = strlen(sent[0]);
    cr_assert_eq(memcmp(sent[0] + len - 4, "\r\n\r\n", 4), 0);
    osip_message_t *got;
    cr_assert_eq(osip_message_init(&got), 0);
    cr_assert_eq(osip_message_parse(got, sent[0], len), 0, "%s", sent[0]);
    cr_assert_eq(got->status_code, 407);
    osip_proxy_authenticate_t *pa = NULL;
    osip_message_get_proxy_authenticate(got, 0, &pa);
    cr_assert_not_null(pa, "%s", sent[0]);
    cr_assert_str_eq(pa->realm, "\"x\"");
    osip_message_free(got);
}

Test(transaction, server_limit_refuses_new_transactions)
{
    char text[1024];
    for (int i = 0; i < 9; i++) {
        snprintf(text, sizeof(text),
                 "OPTIONS sip:a@b SIP/2.0\nVia: SIP/2.0/UDP h;branch=z9hG4bK%d\n"
                 "From: <sip:x@y>;tag=1\nTo: <sip:a@b>\nCall-ID: c%d\nCSeq: 1 OPTIONS\n\n",
                 i, i);
        struct sb_inbound *in = inbound(text);
        struct server_txn *st;
        int rc = txn_server_create(layer, in, NULL, &st);
        if (i < 8) {
            cr_assert_eq(rc, 0);
        } else {
            cr_assert_eq(rc, SB_ELIMIT);
            sb_inbound_free(in);
        }
    }
    cr_assert_eq(txn_layer_server_count(layer), 8);
}

static osip_message_t *forwarded_invite(void)
{
    osip_message_t *req = parse(INVITE_TEXT);
    cr_assert_eq(sipmsg_via_push(req, SB_UDP, "127.0.0.1", 5060, "z9hG4bK-sb00000001.1"), 0);
    return req;
}

static osip_message_t *response(int code, const char *method)
{
    char text[1024];
    snprintf(text, sizeof(text),
             "SIP/2.0 %d Whatever\n"
             "Via: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bK-sb00000001.1\n"
             "Via: SIP/2.0/UDP 10.0.0.5:5062;branch=z9hG4bK-abc123;rport\n"
             "From: \"Alice\" <sip:alice@127.0.0.1>;tag=from1\n"
             "To: <sip:bob@127.0.0.1>;tag=bob9\n"
             "Call-ID: call-1@10.0.0.5\n"
             "CSeq: 7 %s\n"
             "Content-Length: 0\n\n",
             code, method);
    return parse(text);
}

/* forwarded_invite() sent to 127.0.0.1:5070 over UDP. */
static struct client_txn *send_invite(void)
{
    osip_message_t *req = forwarded_invite();
    struct sb_dest dest = {.transport = SB_UDP};
    struct client_txn *ct;
    static int tu;
    sipmsg_host_to_addr("127.0.0.1", 5070, &dest.peer);
    cr_assert_eq(txn_client_send(layer, req, &dest, &tu, &ct), 0);
    osip_message_free(req);
    return ct;
}

static void deliver(osip_message_t *resp)
{
    cr_assert(txn_client_receive(layer, &resp));
    osip_message_free(resp);
}

Test(transaction, client_invite_retransmits_then_acks_non_2xx)
{
    osip_message_t *req = forwarded_invite();
    struct sb_dest dest = {.transport = SB_UDP};
    int tu;
    sipmsg_host_to_addr("127.0.0.1", 5070, &dest.peer);
    cr_assert_eq(txn_client_send(layer, req, &dest, &tu, NULL), 0);
    osip_message_free(req);
    cr_assert_eq(sent_count, 1);
    advance(500);
    cr_assert_eq(sent_count, 2, "Timer A at T1");
    advance(1000);
    cr_assert_eq(sent_count, 3, "Timer A doubles");
    deliver(response(180, "INVITE"));
    cr_assert_eq(responses, 1);
    advance(10000);
    cr_assert_eq(sent_count, 3, "a provisional response stops Timer A and B");
    cr_assert_eq(timeouts, 0);

    deliver(response(486, "INVITE"));
    cr_assert_eq(responses, 2);
    cr_assert_eq(sent_count, 4);
    cr_assert_eq(strncmp(sent[3], "ACK sip:bob@127.0.0.1 SIP/2.0\r\n", 31), 0);
    cr_assert_not_null(strstr(sent[3], "branch=z9hG4bK-sb00000001.1"), "ACK keeps the branch");
    cr_assert_not_null(strstr(sent[3], "CSeq: 7 ACK"));
    cr_assert_not_null(strstr(sent[3], "tag=bob9"), "ACK's To is the response's");
    cr_assert_not_null(strstr(sent[3], "Call-ID: call-1@10.0.0.5"));

    deliver(response(486, "INVITE"));
    cr_assert_eq(responses, 2, "a retransmitted final is absorbed");
    cr_assert_eq(sent_count, 5, "and ACKed again");
}

Test(transaction, cancel_waits_for_a_provisional_response)
{
    struct client_txn *ct = send_invite();
    txn_client_cancel(ct);
    cr_assert_eq(sent_count, 1, "§9.1: no CANCEL before a provisional response");
    deliver(response(180, "INVITE"));
    cr_assert_eq(sent_count, 2);
    cr_assert_eq(strncmp(sent[1], "CANCEL sip:bob@127.0.0.1 SIP/2.0\r\n", 34), 0);
    cr_assert_not_null(strstr(sent[1], "branch=z9hG4bK-sb00000001.1"));
    cr_assert_not_null(strstr(sent[1], "CSeq: 7 CANCEL"));
    txn_client_cancel(ct);
    cr_assert_eq(sent_count, 2, "cancelling twice sends one CANCEL");
    deliver(response(200, "CANCEL"));
    cr_assert_eq(responses, 1, "the CANCEL's 200 is the layer's business");
    deliver(response(487, "INVITE"));
    cr_assert_eq(responses, 2);
}

/* The bytes that leave are the proxy's edit of what came, not libosip2's
 * writing: compact names, spacing, several values on a line. */
#define EDITED_INVITE                                                                              \
    "INVITE sip:bob@127.0.0.1;transport=udp SIP/2.0\r\n"                                           \
    "v: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bK-sb00000001.1 , SIP/2.0/UDP "                     \
    "10.0.0.5:5062;branch=z9hG4bK-abc123;rport\r\n"                                                \
    "route: <sip:p1.example.com;lr>,<sip:p2.example.com;lr>\r\n"                                   \
    "Route:   <sip:p3.example.com;lr>\r\n"                                                         \
    "f: \"Alice  A.\" <sip:alice@127.0.0.1>;tag=from1 \r\n"                                        \
    "t: <sip:bob@127.0.0.1>\r\n"                                                                   \
    "i: call-1@10.0.0.5\r\n"                                                                       \
    "CSeq: 7 INVITE\r\n"                                                                           \
    "Max-Forwards: 69\r\n"                                                                         \
    "Content-Length: 0\r\n\r\n"

static int render_edited(void *user, const osip_message_t *msg, char **out, size_t *len)
{
    (void)user;
    if (!MSG_IS_INVITE(msg))
        return SB_EINVAL;
    *out = strdup(EDITED_INVITE);
    *len = strlen(EDITED_INVITE);
    return 0;
}

/* An INVITE rendered by @render, answered 180 and cancelled: sent[0]
 * is the INVITE, sent[1] the CANCEL. */
static void cancel_rendered(int (*render)(void *, const osip_message_t *, char **, size_t *))
{
    struct txn_user_ops rendering = ops;
    rendering.render = render;
    txn_layer_destroy(layer);
    create_layer(&rendering);
    struct client_txn *ct = send_invite();
    deliver(response(180, "INVITE"));
    txn_client_cancel(ct);
    cr_assert_eq(sent_count, 2);
}

/* §9.1 and §17.1.1.3: a CANCEL and an ACK for a non-2xx repeat the
 * INVITE's Request-URI, top Via, Route, From, To and Call-ID: taken from
 * the bytes that went out, they are those bytes. */
Test(transaction, cancel_and_ack_repeat_the_bytes_the_invite_went_out_with)
{
    cancel_rendered(render_edited);
    cr_assert_str_eq(sent[0], EDITED_INVITE);
    const char *parts[] = {"\r\nVia: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bK-sb00000001.1\r\n",
                           "\r\nroute: <sip:p1.example.com;lr>,<sip:p2.example.com;lr>\r\n"
                           "Route:   <sip:p3.example.com;lr>\r\n",
                           "\r\nFrom: \"Alice  A.\" <sip:alice@127.0.0.1>;tag=from1\r\n",
                           "\r\nCall-ID: call-1@10.0.0.5\r\n"};
    cr_assert_eq(strncmp(sent[1], "CANCEL sip:bob@127.0.0.1;transport=udp SIP/2.0\r\n", 48), 0);
    for (size_t i = 0; i < sizeof(parts) / sizeof(parts[0]); i++)
        cr_assert_not_null(strstr(sent[1], parts[i]), "the CANCEL has %s", parts[i]);
    cr_assert_not_null(strstr(sent[1], "\r\nTo: <sip:bob@127.0.0.1>\r\n"));
    cr_assert_not_null(strstr(sent[1], "\r\nCSeq: 7 CANCEL\r\n"));
    cr_assert_null(strstr(sent[1], "10.0.0.5:5062"), "our Via alone");
    deliver(response(200, "CANCEL"));
    deliver(response(487, "INVITE"));
    cr_assert_eq(sent_count, 3);
    cr_assert_eq(strncmp(sent[2], "ACK sip:bob@127.0.0.1;transport=udp SIP/2.0\r\n", 45), 0);
    for (size_t i = 0; i < sizeof(parts) / sizeof(parts[0]); i++)
        cr_assert_not_null(strstr(sent[2], parts[i]), "the ACK has %s", parts[i]);
    cr_assert_not_null(strstr(sent[2], "tag=bob9"), "the ACK's To is the response's");
    cr_assert_not_null(strstr(sent[2], "\r\nCSeq: 7 ACK\r\n"));
}

/* EDITED_INVITE with more header fields than sipedit indexes. */
static int render_padded(void *user, const osip_message_t *msg, char **out, size_t *len)
{
    (void)user;
    if (!MSG_IS_INVITE(msg))
        return SB_EINVAL;
    const char *at = strstr(EDITED_INVITE, "CSeq:");
    struct sb_buf b = {0};
    sb_buf_append(&b, EDITED_INVITE, (size_t)(at - EDITED_INVITE));
    for (int i = 0; i < SIPEDIT_LINES; i++)
        sb_buf_puts(&b, "A:1\r\n");
    sb_buf_puts(&b, at);
    *out = b.data;
    *len = b.len;
    return b.failed ? SB_ENOMEM : 0;
}

/* A request sipedit does not index is read by libosip2: its CANCEL still
 * names the INVITE's Request-URI, Route set, From, Call-ID and our Via. */
Test(transaction, a_cancel_is_built_from_bytes_sipedit_does_not_index)
{
    cancel_rendered(render_padded);
    cr_assert_not_null(strstr(sent[0], "A:1\r\n"));
    cr_assert_eq(strncmp(sent[1], "CANCEL sip:bob@127.0.0.1;transport=udp SIP/2.0\r\n", 48), 0);
    cr_assert_not_null(
        strstr(sent[1], "\r\nVia: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bK-sb00000001.1\r\n"));
    cr_assert_null(strstr(sent[1], "10.0.0.5:5062"), "our Via alone");
    /* written by libosip2: a field per Route value */
    for (int i = 1; i <= 3; i++) {
        char route[64];
        snprintf(route, sizeof(route), "\r\nRoute: <sip:p%d.example.com;lr>\r\n", i);
        cr_assert_not_null(strstr(sent[1], route), "%s", route);
    }
    cr_assert_not_null(strstr(sent[1], "tag=from1"));
    cr_assert_not_null(strstr(sent[1], "\r\nCall-ID: call-1@10.0.0.5\r\n"));
    cr_assert_not_null(strstr(sent[1], "\r\nCSeq: 7 CANCEL\r\n"));
    cr_assert_null(strstr(sent[1], "A:1"));
}

Test(transaction, timer_b_reports_a_timeout)
{
    osip_message_t *req = forwarded_invite();
    struct sb_dest dest = {.transport = SB_UDP};
    int tu;
    sipmsg_host_to_addr("127.0.0.1", 5070, &dest.peer);
    cr_assert_eq(txn_client_send(layer, req, &dest, &tu, NULL), 0);
    osip_message_free(req);
    for (int i = 0; i < 70; i++)
        advance(500);
    cr_assert_eq(timeouts, 1);
    cr_assert_eq(clients_gone, 1);
    cr_assert_eq(txn_layer_client_count(layer), 0);
}

Test(transaction, unknown_response_matches_nothing)
{
    osip_message_t *resp = response(200, "BYE");
    cr_assert_not(txn_client_receive(layer, &resp));
    osip_message_free(resp);
}

/* RFC 3261 §17.1.1.2: over TCP nothing is retransmitted, and Timer D is
 * zero: the transaction ends as soon as the non-2xx final is ACKed. */
Test(transaction, over_tcp_nothing_is_retransmitted_and_timer_d_is_zero)
{
    osip_message_t *req = forwarded_invite();
    struct sb_dest dest = {.transport = SB_TCP, .conn = 42};
    int tu;
    sipmsg_host_to_addr("127.0.0.1", 5070, &dest.peer);
    cr_assert_eq(txn_client_send(layer, req, &dest, &tu, NULL), 0);
    osip_message_free(req);
    advance(5000);
    cr_assert_eq(sent_count, 1, "no Timer A over TCP");
    cr_assert_eq(sent_transport[0], SB_TCP);
    deliver(response(486, "INVITE"));
    cr_assert_eq(sent_count, 2, "the ACK");
    advance(1);
    cr_assert_eq(txn_layer_client_count(layer), 0, "Timer D is zero over TCP");
}

/* §17.2.2: a non-INVITE server transaction over TCP does not wait out
 * retransmissions (Timer J zero). */
Test(transaction, over_tcp_timer_j_is_zero)
{
    struct sb_inbound *in =
        inbound("OPTIONS sip:a@b SIP/2.0\nVia: SIP/2.0/TCP h;branch=z9hG4bKtcp\n"
                "From: <sip:x@y>;tag=1\nTo: <sip:a@b>\nCall-ID: tcp1\nCSeq: 1 OPTIONS\n\n");
    in->transport = SB_TCP;
    in->conn = 7;
    struct server_txn *st;
    cr_assert_eq(txn_server_create(layer, in, NULL, &st), 0);
    cr_assert_eq(txn_server_reply_dest(st)->conn, 7, "responses go over its connection");
    cr_assert_eq(txn_server_respond_code(st, 200, NULL), 0);
    cr_assert_eq(sent_transport[0], SB_TCP);
    advance(1);
    cr_assert_eq(txn_layer_server_count(layer), 0);
}

/* Pads an INVITE's body so that it passes the 1300 bytes of udp_max. */
static osip_message_t *big_invite(void)
{
    osip_message_t *req = forwarded_invite();
    char body[1400];
    memset(body, 'a', sizeof(body) - 1);
    body[sizeof(body) - 1] = '\0';
    osip_message_set_body(req, body, strlen(body));
    osip_message_set_content_type(req, "text/plain");
    return req;
}

/* RFC 3261 §18.1.1: a request bigger than the path MTU - 200 goes over
 * TCP and says so in its Via; if TCP cannot reach the target, the same
 * request goes over UDP after all, with retransmissions. */
Test(transaction, a_big_request_goes_over_tcp_and_falls_back_to_udp)
{
    osip_message_t *req = big_invite();
    struct sb_dest dest = {.transport = SB_UDP};
    int tu;
    sipmsg_host_to_addr("127.0.0.1", 5070, &dest.peer);
    cr_assert_eq(txn_client_send(layer, req, &dest, &tu, NULL), 0);
    cr_assert_eq(sent_count, 1);
    cr_assert_eq(sent_transport[0], SB_TCP);
    cr_assert_not_null(strstr(sent[0], "Via: SIP/2.0/TCP 127.0.0.1:5060;branch="), "%s", sent[0]);
    advance(500);
    cr_assert_eq(sent_count, 1, "reliable: no Timer A");

    /* the I/O thread hands it back: no TCP there */
    cr_assert(txn_client_send_failed(layer, req));
    osip_message_free(req);
    cr_assert_eq(sent_count, 2);
    cr_assert_eq(sent_transport[1], SB_UDP);
    cr_assert_not_null(strstr(sent[1], "Via: SIP/2.0/UDP 127.0.0.1:5060;branch="));
    cr_assert_eq(strlen(sent[1]), strlen(sent[0]), "the same bytes otherwise");
    cr_assert_eq(transport_errors, 0, "the caller never knew");
    advance(500);
    cr_assert_eq(sent_count, 3, "over UDP Timer A runs again");
    deliver(response(486, "INVITE"));
    cr_assert_not_null(strstr(sent[3], "ACK sip:bob@127.0.0.1"));
    cr_assert_not_null(strstr(sent[3], "Via: SIP/2.0/UDP"), "the ACK's Via is UDP too");
}

Test(transaction, without_tcp_a_big_request_stays_on_udp)
{
    tcp_available = false;
    osip_message_t *req = big_invite();
    struct sb_dest dest = {.transport = SB_UDP};
    int tu;
    sipmsg_host_to_addr("127.0.0.1", 5070, &dest.peer);
    cr_assert_eq(txn_client_send(layer, req, &dest, &tu, NULL), 0);
    osip_message_free(req);
    cr_assert_eq(sent_transport[0], SB_UDP);
    cr_assert_not_null(strstr(sent[0], "Via: SIP/2.0/UDP"));
}

/* A request whose connection is gone fails its transaction at once: the
 * user hears of it (to answer 480/430/503) instead of waiting for Timer B. */
Test(transaction, a_request_that_cannot_be_sent_fails_at_once)
{
    osip_message_t *req = forwarded_invite();
    struct sb_dest dest = {.transport = SB_TCP, .conn = 99, .flow = true};
    int tu;
    sipmsg_host_to_addr("127.0.0.1", 5070, &dest.peer);
    cr_assert_eq(txn_client_send(layer, req, &dest, &tu, NULL), 0);
    cr_assert(txn_client_send_failed(layer, req));
    osip_message_free(req);
    cr_assert_eq(transport_errors, 1);
    cr_assert_eq(timeouts, 0);
    cr_assert_eq(txn_layer_client_count(layer), 0);
}
