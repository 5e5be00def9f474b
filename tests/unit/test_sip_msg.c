/* Unit tests for src/sip/sip_msg.c: validation, responses, Via and branch handling. */
#include <arpa/inet.h>

#include "switchboard/error.h"
#include "switchboard/sip_msg.h"
#include "test_helpers.h"

static int validate(const char *text, const char **why)
{
    char *raw = crlf(text);
    osip_message_t *m = parse(text);
    int code = sipmsg_validate(m, raw, strlen(raw), why);
    osip_message_free(m);
    free(raw);
    return code;
}

Test(sip_msg, a_good_invite_validates)
{
    const char *why = NULL;
    cr_assert_eq(validate(INVITE_TEXT, &why), 0);
}

Test(sip_msg, missing_call_id_is_400)
{
    const char *why = NULL;
    cr_assert_eq(validate("OPTIONS sip:a@b SIP/2.0\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\n"
                          "From: <sip:x@y>;tag=1\nTo: <sip:a@b>\nCSeq: 1 OPTIONS\n\n",
                          &why),
                 400);
    cr_assert_str_eq(why, "missing Call-ID");
}

Test(sip_msg, cseq_method_must_match)
{
    const char *why = NULL;
    cr_assert_eq(validate("BYE sip:a@b SIP/2.0\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\n"
                          "From: <sip:x@y>;tag=1\nTo: <sip:a@b>\nCall-ID: c\nCSeq: 1 INVITE\n\n",
                          &why),
                 400);
}

Test(sip_msg, content_length_past_the_datagram_is_400)
{
    const char *why = NULL;
    cr_assert_eq(validate("MESSAGE sip:a@b SIP/2.0\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\n"
                          "From: <sip:x@y>;tag=1\nTo: <sip:a@b>\nCall-ID: c\nCSeq: 1 MESSAGE\n"
                          "Content-Length: 50\n\nhello",
                          &why),
                 400);
}

Test(sip_msg, bad_max_forwards_is_400)
{
    const char *why = NULL;
    cr_assert_eq(validate("OPTIONS sip:a@b SIP/2.0\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\n"
                          "Max-Forwards: many\nFrom: <sip:x@y>;tag=1\nTo: <sip:a@b>\n"
                          "Call-ID: c\nCSeq: 1 OPTIONS\n\n",
                          &why),
                 400);
}

Test(sip_msg, keepalives_are_recognised)
{
    cr_assert(sipmsg_is_keepalive("\r\n\r\n", 4));
    cr_assert(sipmsg_is_keepalive("\r\n", 2));
    cr_assert_not(sipmsg_is_keepalive("\r\nX", 3));
}

Test(sip_msg, response_copies_dialog_headers_and_adds_to_tag)
{
    osip_message_t *req = parse(INVITE_TEXT), *resp;
    cr_assert_eq(sipmsg_response_create(req, 486, NULL, "totag9", &resp), 0);
    cr_assert_eq(resp->status_code, 486);
    cr_assert_str_eq(resp->reason_phrase, "Busy Here");
    cr_assert_str_eq(sipmsg_to_tag(resp), "totag9");
    cr_assert_str_eq(sipmsg_from_tag(resp), "from1");
    cr_assert_eq(osip_list_size(&resp->vias), 1);
    cr_assert_eq(sipmsg_cseq_number(resp), 7);
    char *text;
    size_t len;
    cr_assert_eq(sipmsg_serialize(resp, &text, &len), 0);
    cr_assert_not_null(strstr(text, "SIP/2.0 486 Busy Here\r\n"));
    cr_assert_not_null(strstr(text, "Call-ID: call-1@10.0.0.5\r\n"));
    osip_free(text);
    osip_message_free(resp);
    cr_assert_eq(sipmsg_response_create(req, 100, NULL, "totag9", &resp), 0);
    cr_assert_null(sipmsg_to_tag(resp), "100 Trying carries no To tag");
    osip_message_free(resp);
    osip_message_free(req);
}

static struct sb_addr addr4(const char *ip, unsigned port)
{
    struct sb_addr a;
    cr_assert_eq(sipmsg_host_to_addr(ip, port, &a), 0);
    return a;
}

Test(sip_msg, via_gets_received_and_rport_and_answers_go_there)
{
    osip_message_t *req = parse(INVITE_TEXT);
    struct sb_addr src = addr4("192.0.2.10", 40000); /* behind NAT */
    cr_assert_eq(sipmsg_via_stamp_source(sipmsg_top_via(req), &src), 0);
    osip_via_t *via = sipmsg_top_via(req);
    cr_assert_str_eq(sipmsg_via_param(via, "received"), "192.0.2.10");
    cr_assert_str_eq(sipmsg_via_param(via, "rport"), "40000");
    struct sb_addr dst;
    cr_assert_eq(sipmsg_via_destination(via, &dst), 0);
    char ip[64];
    cr_assert_eq(sipmsg_addr_host(&dst, ip, sizeof(ip)), 40000);
    cr_assert_str_eq(ip, "192.0.2.10");
    osip_message_free(req);
}

/* An OPTIONS whose top Via is "SIP/2.0/UDP @via", as if it came from
 * @src_ip:@src_port (its Via stamped as ingress does). */
static osip_message_t *options_from(const char *via, const char *src_ip, unsigned src_port)
{
    char text[512];
    snprintf(text, sizeof(text),
             "OPTIONS sip:a@b SIP/2.0\nVia: SIP/2.0/UDP %s\n"
             "From: <sip:x@y>;tag=1\nTo: <sip:a@b>\nCall-ID: c\nCSeq: 1 OPTIONS\n\n",
             via);
    osip_message_t *req = parse(text);
    struct sb_addr src = addr4(src_ip, src_port);
    sipmsg_via_stamp_source(sipmsg_top_via(req), &src);
    return req;
}

/* Where the answer to @req goes: its port, the address into @ip. */
static unsigned answer_to(const osip_message_t *req, char *ip, size_t size)
{
    struct sb_addr dst;
    cr_assert_eq(sipmsg_via_destination(sipmsg_top_via(req), &dst), 0);
    return sipmsg_addr_host(&dst, ip, size);
}

Test(sip_msg, without_rport_answers_go_to_sent_by_port)
{
    osip_message_t *req = options_from("10.0.0.5:5070;branch=z9hG4bK1", "10.0.0.5", 33333);
    cr_assert_null(sipmsg_via_param(sipmsg_top_via(req), "received"), "same host: no received");
    char ip[64];
    cr_assert_eq(answer_to(req, ip, sizeof(ip)), 5070);
    osip_message_free(req);
}

/* A received= the sender wrote itself is replaced by the real source, so
 * neither the answer nor Timer G's retransmissions go to a third party. */
Test(sip_msg, a_forged_received_is_replaced_by_the_source)
{
    osip_message_t *req =
        options_from("10.0.0.5:5070;branch=z9hG4bK1;received=198.51.100.66", "10.0.0.5", 5070);
    cr_assert_str_eq(sipmsg_via_param(sipmsg_top_via(req), "received"), "10.0.0.5");
    char ip[64];
    cr_assert_eq(answer_to(req, ip, sizeof(ip)), 5070);
    cr_assert_str_eq(ip, "10.0.0.5");
    osip_message_free(req);
}

/* Names are never resolved on the way: a Via naming a host gets received=
 * (its name differs from the source) and the answer goes there. */
Test(sip_msg, a_via_host_name_is_never_resolved)
{
    osip_message_t *req =
        parse("OPTIONS sip:a@b SIP/2.0\nVia: SIP/2.0/UDP phone.example:5070;branch=z9hG4bK1\n"
              "From: <sip:x@y>;tag=1\nTo: <sip:a@b>\nCall-ID: c\nCSeq: 1 OPTIONS\n\n");
    struct sb_addr dst;
    cr_assert_eq(sipmsg_via_destination(sipmsg_top_via(req), &dst), SB_EUNRESOLVED);
    struct sb_addr src = addr4("10.0.0.5", 40000);
    sipmsg_via_stamp_source(sipmsg_top_via(req), &src);
    cr_assert_eq(sipmsg_via_destination(sipmsg_top_via(req), &dst), 0);
    osip_message_free(req);
}

Test(sip_msg, via_push_and_pop)
{
    osip_message_t *req = parse(INVITE_TEXT);
    cr_assert_eq(sipmsg_via_push(req, SB_UDP, "127.0.0.1", 5060, "z9hG4bK-sb00000001.2"), 0);
    cr_assert_eq(osip_list_size(&req->vias), 2);
    cr_assert_str_eq(sipmsg_top_via(req)->host, "127.0.0.1");
    cr_assert_str_eq(sipmsg_via_param(sipmsg_top_via(req), "branch"), "z9hG4bK-sb00000001.2");
    sipmsg_via_pop(req);
    cr_assert_str_eq(sipmsg_top_via(req)->host, "10.0.0.5");
    osip_message_free(req);
}

Test(sip_msg, branch_carries_the_loop_hash)
{
    char branch[64];
    uint32_t h = 0;
    sipmsg_branch_format(branch, sizeof(branch), 0xdeadbeef, 42);
    cr_assert_eq(strncmp(branch, "z9hG4bK", 7), 0, "RFC 3261 magic cookie");
    cr_assert_eq(sipmsg_branch_loop_hash(branch, &h), 0);
    cr_assert_eq(h, 0xdeadbeef);
    cr_assert_eq(sipmsg_branch_loop_hash("z9hG4bK-other", &h), SB_ENOTFOUND);
}

Test(sip_msg, loop_hash_depends_on_request_uri)
{
    osip_message_t *a = parse(INVITE_TEXT);
    osip_message_t *b = parse(INVITE_TEXT);
    cr_assert_eq(sipmsg_loop_hash(a), sipmsg_loop_hash(b));
    osip_uri_free(b->req_uri);
    osip_uri_init(&b->req_uri);
    osip_uri_parse(b->req_uri, "sip:bob@10.0.0.9:5062");
    cr_assert_neq(sipmsg_loop_hash(a), sipmsg_loop_hash(b));
    osip_message_free(a);
    osip_message_free(b);
}

Test(sip_msg, max_forwards_counts_down)
{
    osip_message_t *req = parse(INVITE_TEXT);
    cr_assert_eq(sipmsg_max_forwards_take(req), 70);
    cr_assert_eq(sipmsg_max_forwards(req), 69);
    osip_message_free(req);
}

Test(sip_msg, full_call_id_is_rebuilt)
{
    osip_message_t *req = parse(INVITE_TEXT);
    char id[64];
    cr_assert_eq(sipmsg_call_id(req, id, sizeof(id)), 0);
    cr_assert_str_eq(id, "call-1@10.0.0.5");
    osip_message_free(req);
}

Test(sip_msg, replaces_names_a_call_id)
{
    osip_message_t *req = parse(INVITE_TEXT);
    char id[64];
    cr_assert_not(sipmsg_replaces_call_id(req, id, sizeof(id)), "no Replaces");
    osip_message_set_header(req, "Replaces",
                            " 425928@bobster.example.org ;to-tag=7743;from-tag=6472");
    cr_assert(sipmsg_replaces_call_id(req, id, sizeof(id)));
    cr_assert_str_eq(id, "425928@bobster.example.org");
    cr_assert_not(sipmsg_replaces_call_id(req, id, 8), "too long for the buffer");
    osip_message_free(req);
    req = parse(INVITE_TEXT);
    osip_message_set_header(req, "Replaces", ";to-tag=1");
    cr_assert_not(sipmsg_replaces_call_id(req, id, sizeof(id)), "no Call-ID in it");
    osip_message_free(req);
}
