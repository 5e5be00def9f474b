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

/* libosip2's text of @text as a Via value: what two Vias that mean the
 * same write out as. */
static char *via_canonical(const char *text)
{
    osip_via_t *via;
    char *out = NULL;
    osip_via_init(&via);
    cr_assert_eq(osip_via_parse(via, text), 0, "%s", text);
    osip_via_to_str(via, &out);
    osip_via_free(via);
    return out;
}

/* The stamped Via written over the bytes it came as reads as libosip2's
 * own text of the stamped parse: the first rport and received take the
 * source, any other parameter and case stay as sent. */
Test(sip_msg, a_stamped_via_written_over_its_bytes)
{
    const char *vias[] = {
        "10.0.0.5:5070;branch=z9hG4bK1;rport",
        "10.0.0.5:5070;branch=z9hG4bK1;RPORT",
        "10.0.0.5:5070 ;branch=z9hG4bK1;rport=99;x=1",
        "10.0.0.5:5070;branch=z9hG4bK1;received=198.51.100.66",
        "10.0.0.5:5070;rport;branch=z9hG4bK1;rport=7;received=1.1.1.1;received=2.2.2.2",
        "phone.example;branch=z9hG4bK1",
        "10.0.0.5:5070;branch=z9hG4bK1",
    };
    for (size_t i = 0; i < sizeof(vias) / sizeof(vias[0]); i++) {
        osip_message_t *req = options_from(vias[i], "10.0.0.9", 40000);
        char raw[256], text[256];
        snprintf(raw, sizeof(raw), "SIP/2.0/UDP %s", vias[i]);
        cr_assert_gt(
            sipmsg_via_stamped_text(raw, strlen(raw), sipmsg_top_via(req), text, sizeof(text)), 0,
            "%s", vias[i]);
        char *want = NULL;
        osip_via_to_str(sipmsg_top_via(req), &want);
        char *got = via_canonical(text);
        cr_assert_str_eq(got, want, "%s", vias[i]);
        osip_free(got);
        osip_free(want);
        cr_assert_eq(sipmsg_via_stamped_text(raw, strlen(raw), sipmsg_top_via(req), text, 16), -1);
        osip_message_free(req);
    }
    /* libosip2 writes these: a comment; "x=" and ";" read differently
     * once ";received=" follows them (the fuzzer's find); blanks inside
     * the parameters */
    const char *odd[] = {"10.0.0.5 (a phone);branch=z9hG4bK1", "10.0.0.5;branch=z9hG4bK1;rpor:=",
                         "10.0.0.5;branch=z9hG4bK1;x= ", "10.0.0.5;branch=z9hG4bK1;",
                         "10.0.0.5:5070 ; branch=z9hG4bK1 ; rport = 99;x=1"};
    for (size_t i = 0; i < sizeof(odd) / sizeof(odd[0]); i++) {
        osip_message_t *req = options_from(odd[i], "10.0.0.9", 1);
        char raw[256], text[256];
        snprintf(raw, sizeof(raw), "SIP/2.0/UDP %s", odd[i]);
        cr_assert_not_null(req, "%s", odd[i]);
        cr_assert_eq(
            sipmsg_via_stamped_text(raw, strlen(raw), sipmsg_top_via(req), text, sizeof(text)), -1,
            "%s", odd[i]);
        osip_message_free(req);
    }
    /* libosip2 reads a ';' ahead of the first blank as the protocol's */
    const char *odd_proto = "SIP/2.0/UDP;rport=1 10.0.0.5;rport=2";
    osip_via_t *via;
    osip_via_init(&via);
    cr_assert_eq(osip_via_parse(via, odd_proto), 0);
    struct sb_addr src = addr4("10.0.0.9", 40000);
    sipmsg_via_stamp_source(via, &src);
    char text[256];
    cr_assert_eq(sipmsg_via_stamped_text(odd_proto, strlen(odd_proto), via, text, sizeof(text)),
                 -1);
    osip_via_free(via);
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

Test(sip_msg, loop_hash_reads_the_uri_parameters)
{
    const char *uris[] = {"sip:bob@10.0.0.9",
                          "sip:bob@10.0.0.9;transport=tcp",
                          "sip:bob@10.0.0.9;transport=udp",
                          "sip:bob@10.0.0.9?subject=x",
                          "sip:bo@b10.0.0.9",
                          "sips:bob@10.0.0.9"};
    uint32_t seen[6];
    for (size_t i = 0; i < 6; i++) {
        osip_message_t *m = parse(INVITE_TEXT);
        osip_uri_free(m->req_uri);
        osip_uri_init(&m->req_uri);
        cr_assert_eq(osip_uri_parse(m->req_uri, uris[i]), 0);
        seen[i] = sipmsg_loop_hash(m);
        for (size_t j = 0; j < i; j++)
            cr_assert_neq(seen[i], seen[j], "%s and %s", uris[i], uris[j]);
        osip_message_free(m);
    }
}

Test(sip_msg, uris_are_the_same_when_their_parts_are)
{
    osip_uri_t *a, *b;
    const char *pairs[][2] = {{"sip:bob@10.0.0.9:5062;lr;x=1", "sip:bob@10.0.0.9:5062;lr;x=1"},
                              {"sip:bob@10.0.0.9", "sip:bob@10.0.0.9:5060"},
                              {"sip:bob@10.0.0.9;x=1", "sip:bob@10.0.0.9;x=2"},
                              {"sip:bob@10.0.0.9;x", "sip:bob@10.0.0.9;x=1"},
                              {"sip:bob@10.0.0.9", "sip:bob@10.0.0.9?h=1"},
                              {"sip:bob@10.0.0.9", "sip:alice@10.0.0.9"}};
    for (size_t i = 0; i < sizeof(pairs) / sizeof(pairs[0]); i++) {
        osip_uri_init(&a);
        osip_uri_init(&b);
        cr_assert_eq(osip_uri_parse(a, pairs[i][0]), 0);
        cr_assert_eq(osip_uri_parse(b, pairs[i][1]), 0);
        cr_assert_eq(sipmsg_uri_same(a, b), i == 0, "%s vs %s", pairs[i][0], pairs[i][1]);
        cr_assert(sipmsg_uri_same(a, a));
        osip_uri_free(a);
        osip_uri_free(b);
    }
    cr_assert(sipmsg_uri_same(NULL, NULL));
}

Test(sip_msg, via_text_as_printf_wrote_it)
{
    char text[128];
    cr_assert_eq(sipmsg_via_format(SB_TCP, "::1", 5061, "z9hG4bK-x", text, sizeof(text)),
                 (long)strlen("SIP/2.0/TCP [::1]:5061;branch=z9hG4bK-x"));
    cr_assert_str_eq(text, "SIP/2.0/TCP [::1]:5061;branch=z9hG4bK-x");
    cr_assert_eq(sipmsg_via_format(SB_UDP, "10.0.0.1", 5060, "z9hG4bK-x", text, 20), -1);
    char branch[64];
    sipmsg_branch_format(branch, sizeof(branch), 0xbeef, 0x1234abcdull);
    cr_assert_str_eq(branch, "z9hG4bK-sb0000beef.1234abcd");
}

Test(sip_msg, ipv4_addresses_read_as_inet_ntop_writes_them)
{
    const char *ips[] = {"0.0.0.0", "127.0.0.1", "10.20.30.40", "192.168.100.255",
                         "255.255.255.255"};
    for (size_t i = 0; i < sizeof(ips) / sizeof(ips[0]); i++) {
        struct sb_addr a = {0};
        struct sockaddr_in *s4 = (struct sockaddr_in *)&a.ss;
        s4->sin_family = AF_INET;
        s4->sin_port = htons(5060);
        inet_pton(AF_INET, ips[i], &s4->sin_addr);
        char ip[INET6_ADDRSTRLEN];
        cr_assert_eq(sipmsg_addr_host(&a, ip, sizeof(ip)), 5060);
        cr_assert_str_eq(ip, ips[i]);
        cr_assert_eq(sipmsg_addr_host(&a, ip, 7), 5060);
        cr_assert_str_eq(ip, "", "a short buffer holds no part of an address");
    }
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
