/* Unit tests for src/sip/ingress.c: what a datagram becomes. Unparsable
 * requests are still answered when they say where to (400, or 416 for a
 * scheme we do not serve), bodies are kept byte for byte, and a REGISTER's
 * Contact URIs are kept as they arrived. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include <osipparser2/osip_parser.h>

#include "switchboard/ingress.h"
#include "switchboard/sip_msg.h"

static struct sb_addr src;

static void setup(void)
{
    parser_init();
    sipmsg_host_to_addr("192.0.2.7", 40000, &src);
}

TestSuite(ingress, .init = setup);

/* Runs ingress_parse on a copy of @text (it writes a NUL past the end). */
static enum ingress_kind run(const char *text, size_t len, struct ingress *out)
{
    char *buf = malloc(len + 1);
    memcpy(buf, text, len);
    enum ingress_kind k = ingress_parse(buf, len, &src, out);
    free(buf);
    return k;
}

#define HEADERS                                                                                    \
    "Via: SIP/2.0/UDP 192.0.2.7:5060;branch=z9hG4bK-i1;rport\r\n"                                  \
    "From: <sip:a@192.0.2.7>;tag=1\r\nTo: <sip:b@192.0.2.1>\r\nCall-ID: i1\r\n"

Test(ingress, unknown_scheme_is_416)
{
    struct ingress got;
    const char *opaque = "OPTIONS nobodyKnowsThisScheme:totallyopaque SIP/2.0\r\n" HEADERS
                         "CSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n";
    cr_assert_eq(run(opaque, strlen(opaque), &got), INGRESS_REJECT);
    cr_assert_eq(got.code, 416);
    osip_message_free(got.msg);
    const char *beep = "OPTIONS soap.beep://192.0.2.103:3002 SIP/2.0\r\n" HEADERS
                       "CSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n";
    cr_assert_eq(run(beep, strlen(beep), &got), INGRESS_REJECT, "unparsable, still answered");
    cr_assert_eq(got.code, 416);
    cr_assert_str_eq(got.why, "unsupported URI scheme");
    cr_assert_not_null(strstr(sipmsg_via_param(sipmsg_top_via(got.msg), "received"), "192.0.2.7"),
                       "the answer goes where the request came from");
    osip_message_free(got.msg);
}

Test(ingress, unparsable_but_answerable_is_400_else_dropped)
{
    struct ingress got;
    static const char nul[] = "OPTIONS sip:192.0.2.1 SIP/2.0\r\n" HEADERS
                              "CSeq: 1 OPTIONS\r\nMax-\0Forwards: 70\r\nContent-Length: 0\r\n\r\n";
    cr_assert_eq(run(nul, sizeof(nul) - 1, &got), INGRESS_REJECT);
    cr_assert_eq(got.code, 400);
    osip_message_free(got.msg);
    static const char no_cseq[] = "OPTIONS sip:192.0.2.1 SIP/2.0\r\n" HEADERS
                                  "Max-\0Forwards: 70\r\nContent-Length: 0\r\n\r\n";
    cr_assert_eq(run(no_cseq, sizeof(no_cseq) - 1, &got), INGRESS_DROP,
                 "no CSeq: no answer can be built");
    static const char ack[] = "ACK sip:192.0.2.1 SIP/2.0\r\n" HEADERS
                              "CSeq: 1 ACK\r\nMax-\0Forwards: 70\r\nContent-Length: 0\r\n\r\n";
    cr_assert_eq(run(ack, sizeof(ack) - 1, &got), INGRESS_DROP, "ACK is never answered");
}

Test(ingress, a_multipart_body_is_kept_byte_for_byte)
{
    static const char body[] =
        "--XyZ\r\nContent-Type: text/plain\r\n\r\nhello\r\n"
        "--XyZ\r\nContent-Type: application/x-Thing\r\n\r\nabc\r\n--XyZ--\r\n";
    char text[1024];
    int n = snprintf(text, sizeof(text),
                     "MESSAGE sip:b@192.0.2.1 SIP/2.0\r\n" HEADERS
                     "CSeq: 1 MESSAGE\r\nMIME-Version: 1.0\r\n"
                     "Content-Type: multipart/mixed;boundary=XyZ\r\nContent-Length: %zu\r\n\r\n%s",
                     sizeof(body) - 1, body);
    struct ingress got;
    cr_assert_eq(run(text, (size_t)n, &got), INGRESS_MESSAGE);
    char *out;
    size_t len;
    cr_assert_eq(sipmsg_serialize(got.msg, &out, &len), 0);
    cr_assert_geq(len, sizeof(body) - 1);
    cr_assert(memcmp(out + len - (sizeof(body) - 1), body, sizeof(body) - 1) == 0,
              "body changed:\n%s", out);
    char cl[64];
    snprintf(cl, sizeof(cl), "Content-Length: %zu\r\n\r\n", sizeof(body) - 1);
    cr_assert_not_null(strstr(out, cl));
    osip_free(out);
    osip_message_free(got.msg);
}

Test(ingress, register_contacts_are_kept_as_they_arrived)
{
    const char *text =
        "REGISTER sip:192.0.2.1 SIP/2.0\r\n" HEADERS "CSeq: 1 REGISTER\r\n"
        "Contact: <sip:%00@192.0.2.9:5060>;expires=60, \"Bob, B\" <sip:%00%00@192.0.2.9>\r\n"
        "m: sip:plain@192.0.2.9;q=0.5\r\nContent-Length: 0\r\n\r\n";
    struct ingress got;
    cr_assert_eq(run(text, strlen(text), &got), INGRESS_MESSAGE);
    cr_assert_eq(got.raw_contact_count, 3);
    /* escaped NULs as sip_nul.h holds them inside the proxy */
    const char *c = got.raw_contacts;
    cr_assert_str_eq(c, "sip:%C0%80@192.0.2.9:5060");
    c += strlen(c) + 1;
    cr_assert_str_eq(c, "sip:%C0%80%C0%80@192.0.2.9", "a comma inside quotes is no separator");
    c += strlen(c) + 1;
    cr_assert_str_eq(c, "sip:plain@192.0.2.9");
    free(got.raw_contacts);
    osip_message_free(got.msg);
}

/* --- ingress_receive: the step every transport shares --------------------- */

#include "switchboard/log.h"
#include "switchboard/stats.h"

struct replies {
    int count;
    char text[2048];
};

static void capture_reply(void *arg, const osip_message_t *req, const char *text, size_t len)
{
    struct replies *r = arg;
    cr_assert_not_null(req, "a reply answers a request");
    r->count++;
    snprintf(r->text, sizeof(r->text), "%.*s", (int)len, text);
}

static struct sb_counters counters;
static struct sb_log_limiter malformed_log;
static struct replies replies;

static struct sb_inbound *receive(const char *text, const struct ingress_origin *from)
{
    struct ingress_ctx x = {&counters, &malformed_log, NULL, capture_reply, &replies};
    size_t len = strlen(text);
    char *buf = malloc(len + 1);
    memcpy(buf, text, len);
    struct sb_inbound *in = ingress_receive(buf, len, from, &x, 1000);
    free(buf);
    return in;
}

static struct sb_local here;

static struct ingress_origin origin(void)
{
    sipmsg_host_to_addr("192.0.2.1", 5060, &here.addr);
    here.listen_index = 2;
    return (struct ingress_origin){
        .src = &src, .local = &here, .transport = SB_TCP, .fd = -1, .conn = 77, .received_ns = 123};
}

Test(ingress, receive_fills_the_inbound_from_its_origin)
{
    struct ingress_origin o = origin();
    struct sb_inbound *in = receive("OPTIONS sip:b@192.0.2.1 SIP/2.0\r\n" HEADERS
                                    "CSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n",
                                    &o);
    cr_assert_not_null(in);
    cr_assert(MSG_IS_OPTIONS(in->msg));
    cr_assert_eq(in->transport, SB_TCP);
    cr_assert_eq(in->conn, 77);
    cr_assert_eq(in->fd, -1);
    cr_assert_eq(in->received_ns, 123);
    cr_assert_eq(in->local.listen_index, 2);
    cr_assert_eq(memcmp(&in->src.ss, &src.ss, src.len), 0);
    cr_assert_not(in->send_failed);
    cr_assert_eq(replies.count, 0);
    sb_inbound_free(in);
}

Test(ingress, receive_counts_a_keepalive_and_keeps_nothing)
{
    struct ingress_origin o = origin();
    cr_assert_null(receive("\r\n\r\n", &o));
    cr_assert_eq(counters.value[SB_CNT_KEEPALIVES], 1);
    cr_assert_eq(replies.count, 0);
}

Test(ingress, receive_answers_a_bad_request_with_a_warning)
{
    struct ingress_origin o = origin();
    cr_assert_null(receive("OPTIONS sip:b@192.0.2.1 SIP/2.0\r\n" HEADERS
                           "CSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n",
                           &o));
    cr_assert_eq(counters.value[SB_CNT_MALFORMED], 1);
    cr_assert_eq(replies.count, 1);
    cr_assert(strncmp(replies.text, "SIP/2.0 400 ", 12) == 0, "%s", replies.text);
    cr_assert_not_null(strstr(replies.text, "Warning: 399 switchboard \""), "%s", replies.text);
}

Test(ingress, receive_never_answers_a_bad_ack)
{
    struct ingress_origin o = origin();
    cr_assert_null(receive("ACK sip:b@192.0.2.1 SIP/2.0\r\n" HEADERS
                           "CSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n",
                           &o));
    cr_assert_eq(counters.value[SB_CNT_MALFORMED], 1);
    cr_assert_eq(replies.count, 0, "RFC 3261 §17.1.1.3: no response to an ACK");
}

Test(ingress, receive_drops_what_cannot_be_answered)
{
    struct ingress_origin o = origin();
    cr_assert_null(receive("garbage that is not SIP at all\r\n\r\n", &o));
    cr_assert_eq(counters.value[SB_CNT_MALFORMED], 1);
    cr_assert_eq(replies.count, 0);
}
