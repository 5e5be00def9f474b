/* Unit tests for src/sip/record_route.c and src/sip/secret.c: our Record-Route
 * verifies for its own dialog in both directions and for nothing else. */
#include <criterion/criterion.h>
#include <string.h>

#include <osipparser2/osip_parser.h>

#include "switchboard/error.h"
#include "switchboard/flow.h"
#include "switchboard/record_route.h"
#include "switchboard/types.h"
#include "switchboard/secret.h"
#include "switchboard/sip_msg.h"

static struct secret *secret;

static void setup(void)
{
    static const char key[] = "a key for signing record-routes";
    cr_assert_eq(secret_from_bytes(key, sizeof(key), &secret), 0);
    parser_init();
}

static void teardown(void)
{
    secret_free(secret);
}

TestSuite(record_route, .init = setup, .fini = teardown);

/* Parses the URI inside "<...>". */
static osip_uri_t *uri_of(const char *rr)
{
    char text[512];
    size_t len = strlen(rr);
    cr_assert(len > 2 && rr[0] == '<' && rr[len - 1] == '>');
    memcpy(text, rr + 1, len - 2);
    text[len - 2] = '\0';
    osip_uri_t *uri;
    osip_uri_init(&uri);
    cr_assert_eq(osip_uri_parse(uri, text), 0, "%s", text);
    return uri;
}

#define NOW 1800000000ull
#define DAY 86400ull

/* A binding for call @id created by @tag, toward @target, issued @issued. */
static struct record_route_binding bind_to(const char *id, const char *tag, const char *target,
                                           uint64_t issued)
{
    return (struct record_route_binding){
        .call_id = id, .tag = tag, .target = target, .issued = issued};
}

/* Our UDP Record-Route at 192.0.2.1:5060 for @b, into @rr. */
static void udp_route(const struct record_route_binding *b, char *rr, size_t size)
{
    cr_assert_eq(record_route_format(secret, SB_UDP, "192.0.2.1", 5060, b, NULL, NULL, rr, size),
                 0);
}

static bool verifies(const osip_uri_t *uri, const char *id, const char *from_tag,
                     const char *to_tag, const char *target, uint64_t now)
{
    struct record_route_binding b = bind_to(id, from_tag, target, 0);
    return record_route_signed(secret, uri, &b, to_tag, now, DAY / 2, NULL);
}

Test(record_route, verifies_both_ways_for_its_dialog_only)
{
    char rr[320];
    struct record_route_binding b = bind_to("call-1@h", "alice-tag", "10.0.0.3:5080", NOW);
    udp_route(&b, rr, sizeof(rr));
    cr_assert(strncmp(rr, "<sip:192.0.2.1:5060;lr;sbt=6b49d200;sbi=", 40) == 0, "%s", rr);
    osip_uri_t *uri = uri_of(rr);
    cr_assert(verifies(uri, "call-1@h", "alice-tag", NULL, "10.0.0.3:5080", NOW),
              "caller to callee");
    cr_assert(verifies(uri, "call-1@h", "bob-tag", "alice-tag", "10.0.0.3:5080", NOW + 60),
              "callee to caller: the creator's tag is the To tag");
    cr_assert_not(verifies(uri, "call-2@h", "alice-tag", NULL, "10.0.0.3:5080", NOW),
                  "another dialog");
    cr_assert_not(verifies(uri, "call-1@h", "mallory", "forged", "10.0.0.3:5080", NOW));
    /* which tag verified is the request's direction */
    bool from_creator = false;
    struct record_route_binding caller = bind_to("call-1@h", "alice-tag", "10.0.0.3:5080", 0);
    cr_assert(record_route_signed(secret, uri, &caller, "bob-tag", NOW, DAY, &from_creator));
    cr_assert(from_creator, "alice's From tag made the dialog: from the caller");
    struct record_route_binding callee = bind_to("call-1@h", "bob-tag", "10.0.0.3:5080", 0);
    cr_assert(record_route_signed(secret, uri, &callee, "alice-tag", NOW, DAY, &from_creator));
    cr_assert_not(from_creator, "alice's tag is the To tag: from the callee");
    osip_uri_free(uri);
}

/* A Route copied from a real call: aimed at another target, or replayed
 * after the maximum call length, it no longer verifies. */
Test(record_route, a_copied_route_reaches_only_its_target_for_a_while)
{
    char rr[320];
    struct record_route_binding b = bind_to("c", "t", "10.0.0.3:5080", NOW);
    udp_route(&b, rr, sizeof(rr));
    osip_uri_t *uri = uri_of(rr);
    cr_assert(verifies(uri, "c", "t", NULL, "10.0.0.3:5080", NOW + DAY / 2));
    cr_assert_not(verifies(uri, "c", "t", NULL, "198.51.100.7:5060", NOW), "another target");
    cr_assert_not(verifies(uri, "c", "t", NULL, "10.0.0.3:5080", NOW + DAY / 2 + 1), "too old");
    cr_assert_not(verifies(uri, "c", "t", NULL, "10.0.0.3:5080", NOW - 3600), "from the future");
    /* the issue time is signed too */
    osip_uri_param_t *t = NULL;
    osip_uri_uparam_get_byname(uri, "sbt", &t);
    cr_assert_not_null(t);
    t->gvalue[strlen(t->gvalue) - 1] ^= 1;
    cr_assert_not(verifies(uri, "c", "t", NULL, "10.0.0.3:5080", NOW));
    osip_uri_free(uri);
}

/* The caller's copy, re-signed on the way up for the callee's Contact,
 * keeps its issue time and token and verifies for that target only. */
Test(record_route, resigned_for_the_other_side)
{
    char rr[320];
    struct record_route_binding b = bind_to("c", "t", "10.0.0.3:5080", NOW);
    udp_route(&b, rr, sizeof(rr));
    osip_uri_t *uri = uri_of(rr);
    struct record_route_binding callee = bind_to("c", "t", "10.0.0.4:5070", 0);
    cr_assert_eq(record_route_resign(secret, uri, &callee), 0);
    cr_assert(verifies(uri, "c", "t", NULL, "10.0.0.4:5070", NOW + 10));
    cr_assert_not(verifies(uri, "c", "t", NULL, "10.0.0.3:5080", NOW + 10));
    osip_uri_free(uri);
    osip_uri_t *plain = uri_of("<sip:192.0.2.1:5060;lr;sbs=AAAAAAAAAAAAAAAAAAAAAA>");
    cr_assert_eq(record_route_resign(secret, plain, &callee), SB_EMALFORMED, "not one of ours");
    osip_uri_free(plain);
    /* one a callee made up, with a time and a mark it invented */
    osip_uri_t *made_up = uri_of("<sip:sbf.x@192.0.2.1:5060;lr;sbt=6b49d200;"
                                 "sbi=AAAAAAAAAAAAAAAAAAAAAA;sbs=AAAAAAAAAAAAAAAAAAAAAA>");
    cr_assert_eq(record_route_resign(secret, made_up, &callee), SB_EMALFORMED);
    cr_assert_not(verifies(made_up, "c", "t", NULL, "10.0.0.4:5070", NOW));
    osip_uri_free(made_up);
    /* ours, but for another dialog */
    uri = uri_of(rr);
    struct record_route_binding other = bind_to("other-call", "t", "10.0.0.4:5070", 0);
    cr_assert_eq(record_route_resign(secret, uri, &other), SB_EMALFORMED);
    osip_uri_free(uri);
}

Test(record_route, a_forged_or_altered_route_does_not_verify)
{
    osip_uri_t *plain = uri_of("<sip:192.0.2.1:5060;lr>");
    cr_assert_not(verifies(plain, "c", "t", NULL, "x:", NOW), "no signature");
    osip_uri_free(plain);
    struct flow_side nat = {.present = true, .transport = SB_UDP};
    sipmsg_host_to_addr("198.51.100.7", 40000, &nat.addr);
    char rr[320];
    struct record_route_binding b = bind_to("c", "t", "x:", NOW);
    cr_assert_eq(
        record_route_format(secret, SB_UDP, "192.0.2.1", 5060, &b, NULL, &nat, rr, sizeof(rr)), 0);
    cr_assert(strstr(rr, "<sip:sbf.-.c6336407") == rr, "flow token in the user part: %s", rr);
    osip_uri_t *uri = uri_of(rr);
    cr_assert(verifies(uri, "c", "t", NULL, "x:", NOW));
    /* send the callee's requests elsewhere: the token is signed too */
    uri->username[strlen(uri->username) - 1] ^= 1;
    cr_assert_not(verifies(uri, "c", "t", NULL, "x:", NOW));
    osip_uri_free(uri);
    struct secret *other;
    static const char key[] = "another node's key, not ours!!";
    cr_assert_eq(secret_from_bytes(key, sizeof(key), &other), 0);
    uri = uri_of(rr);
    struct record_route_binding ob = bind_to("c", "t", "x:", 0);
    cr_assert_not(record_route_signed(other, uri, &ob, NULL, NOW, DAY, NULL), "another secret");
    osip_uri_free(uri);
    secret_free(other);
}

Test(record_route, a_stream_side_names_its_transport)
{
    char rr[320];
    struct record_route_binding b = bind_to("c", "t", "x:", NOW);
    cr_assert_eq(
        record_route_format(secret, SB_TCP, "192.0.2.1", 5060, &b, NULL, NULL, rr, sizeof(rr)), 0);
    cr_assert(strncmp(rr, "<sip:192.0.2.1:5060;transport=tcp;lr;sbt=", 41) == 0, "%s", rr);
    cr_assert_eq(
        record_route_format(secret, SB_TLS, "2001:db8::1", 5061, &b, NULL, NULL, rr, sizeof(rr)),
        0);
    cr_assert(strncmp(rr, "<sip:[2001:db8::1]:5061;transport=tls;lr;sbt=", 45) == 0, "%s", rr);
    osip_uri_t *uri = uri_of(rr);
    cr_assert(verifies(uri, "c", "t", NULL, "x:", NOW));
    osip_uri_free(uri);
}

Test(record_route, the_target_is_host_and_port_as_written)
{
    osip_uri_t *uri;
    char buf[64];
    osip_uri_init(&uri);
    cr_assert_eq(osip_uri_parse(uri, "sip:bob@Phone.Example:5070;transport=udp"), 0);
    record_route_target(uri, buf, sizeof(buf));
    cr_assert_str_eq(buf, "phone.example:5070");
    osip_uri_free(uri);
    osip_uri_init(&uri);
    cr_assert_eq(osip_uri_parse(uri, "sip:bob@10.0.0.4"), 0);
    record_route_target(uri, buf, sizeof(buf));
    cr_assert_str_eq(buf, "10.0.0.4:");
    osip_uri_free(uri);
    record_route_target(NULL, buf, sizeof(buf));
    cr_assert_str_eq(buf, ":");
}

Test(record_route, base64url_round_trip)
{
    unsigned char in[32], out[40];
    for (int i = 0; i < 32; i++)
        in[i] = (unsigned char)(i * 37 + 11);
    char text[64];
    for (size_t len = 0; len <= 32; len++) {
        size_t n = secret_b64url(in, len, text);
        cr_assert_eq(n, (len * 4 + 2) / 3);
        cr_assert_eq(secret_b64url_decode(text, n, out, sizeof(out)), (long)len);
        cr_assert(memcmp(in, out, len) == 0);
    }
    cr_assert_eq(secret_b64url_decode("a+b=", 4, out, sizeof(out)), -1);
}

/* The issuing process's instance rides in ;sbt=, under the signature:
 * it is read back, and a Route whose instance was changed (to pass as
 * one this process never tracked) no longer verifies. */
Test(record_route, the_instance_is_signed_with_the_issue_time)
{
    struct record_route_binding b = bind_to("c-inst", "t1", "10.0.0.4:5070", NOW);
    b.instance = 0x8badf00d;
    char rr[512];
    udp_route(&b, rr, sizeof(rr));
    cr_assert(strstr(rr, ";sbt=") != NULL && strstr(rr, "-8badf00d;") != NULL, "%s", rr);
    osip_uri_t *uri = uri_of(rr);
    cr_assert_eq(record_route_instance(uri), 0x8badf00d);
    cr_assert(record_route_signed(secret, uri, &b, NULL, NOW + 10, DAY, NULL));
    osip_uri_free(uri);

    char *dash = strstr(rr, "-8badf00d;");
    memcpy(dash, "-00000001", 9);
    uri = uri_of(rr);
    cr_assert_eq(record_route_instance(uri), 1);
    cr_assert_not(record_route_signed(secret, uri, &b, NULL, NOW + 10, DAY, NULL));
    osip_uri_free(uri);

    b.instance = 0;
    udp_route(&b, rr, sizeof(rr));
    uri = uri_of(rr);
    cr_assert_eq(record_route_instance(uri), 0, "no instance: an untracked dialog");
    cr_assert(record_route_signed(secret, uri, &b, NULL, NOW + 10, DAY, NULL));
    osip_uri_free(uri);
}

/* A relayed call's engine (issue 26) rides in ;sbm= under the signature:
 * read back as written, re-signed with it, and a Route whose engine was
 * changed (to send a call's media control elsewhere) does not verify. */
Test(record_route, the_media_engine_is_signed)
{
    struct record_route_binding b = bind_to("c-media", "t1", "10.0.0.4:5070", NOW);
    b.media = "192.0.2.9:2223";
    char rr[512];
    udp_route(&b, rr, sizeof(rr));
    cr_assert(strstr(rr, ";sbm=192.0.2.9:2223;") != NULL, "%s", rr);
    osip_uri_t *uri = uri_of(rr);
    cr_assert_str_eq(record_route_media(uri), "192.0.2.9:2223");
    cr_assert(record_route_signed(secret, uri, &b, NULL, NOW + 10, DAY, NULL));
    struct record_route_binding other = b;
    other.target = "10.0.0.5:5070";
    cr_assert_eq(record_route_resign(secret, uri, &other), 0, "ours: re-signed, engine kept");
    cr_assert(record_route_signed(secret, uri, &other, NULL, NOW + 10, DAY, NULL));
    osip_uri_free(uri);

    char *at = strstr(rr, "192.0.2.9:2223;");
    memcpy(at, "192.0.2.8", 9);
    uri = uri_of(rr);
    cr_assert_str_eq(record_route_media(uri), "192.0.2.8:2223");
    cr_assert_not(record_route_signed(secret, uri, &b, NULL, NOW + 10, DAY, NULL));
    osip_uri_free(uri);

    b.media = NULL;
    udp_route(&b, rr, sizeof(rr));
    cr_assert_null(strstr(rr, ";sbm="), "%s", rr);
    uri = uri_of(rr);
    cr_assert_null(record_route_media(uri));
    osip_uri_free(uri);
}

/* The CSeq shift of a call whose carrier challenged us (issue 27) rides
 * in ;sbc= under the signature, with or without an engine: read back,
 * kept by a re-signing, and a Route whose shift was changed (to make us
 * renumber another call's requests) does not verify. */
Test(record_route, the_cseq_shift_is_signed)
{
    struct record_route_binding b = bind_to("c-cseq", "t1", "10.0.0.4:5070", NOW);
    b.cseq_shift = 1;
    b.media = "192.0.2.9:2223";
    char rr[512];
    udp_route(&b, rr, sizeof(rr));
    cr_assert(strstr(rr, ";sbm=192.0.2.9:2223;sbc=1;") != NULL, "%s", rr);
    osip_uri_t *uri = uri_of(rr);
    cr_assert_eq(record_route_cseq_shift(uri), 1);
    cr_assert(record_route_signed(secret, uri, &b, NULL, NOW + 10, DAY, NULL));
    struct record_route_binding other = b;
    other.target = "10.0.0.5:5070";
    cr_assert_eq(record_route_resign(secret, uri, &other), 0, "ours: re-signed, shift kept");
    cr_assert(record_route_signed(secret, uri, &other, NULL, NOW + 10, DAY, NULL));
    osip_uri_free(uri);

    *strstr(rr, ";sbc=1;") = '\0';
    char forged[600];
    snprintf(forged, sizeof(forged), "%s;sbc=7;%s", rr, rr + strlen(rr) + 7);
    uri = uri_of(forged);
    cr_assert_eq(record_route_cseq_shift(uri), 7);
    cr_assert_not(record_route_signed(secret, uri, &b, NULL, NOW + 10, DAY, NULL));
    osip_uri_free(uri);

    b.cseq_shift = 0;
    b.media = NULL;
    udp_route(&b, rr, sizeof(rr));
    cr_assert_null(strstr(rr, ";sbc="), "%s", rr);
    uri = uri_of(rr);
    cr_assert_eq(record_route_cseq_shift(uri), 0);
    osip_uri_free(uri);
}
