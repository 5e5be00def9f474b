/* Unit tests for src/sip/record_route.c and src/sip/secret.c: our Record-Route
 * verifies for its own dialog in both directions and for nothing else. */
#include <criterion/criterion.h>
#include <string.h>

#include <osipparser2/osip_parser.h>

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

Test(record_route, verifies_both_ways_for_its_dialog_only)
{
    char rr[320];
    cr_assert_eq(record_route_format(secret, SB_UDP, "192.0.2.1", 5060, "call-1@h", "alice-tag",
                                     NULL, NULL, rr, sizeof(rr)),
                 0);
    cr_assert(strncmp(rr, "<sip:192.0.2.1:5060;lr;sbs=", 27) == 0, "%s", rr);
    osip_uri_t *uri = uri_of(rr);
    cr_assert(record_route_signed(secret, uri, "call-1@h", "alice-tag", NULL), "caller to callee");
    cr_assert(record_route_signed(secret, uri, "call-1@h", "bob-tag", "alice-tag"),
              "callee to caller: the creator's tag is the To tag");
    cr_assert_not(record_route_signed(secret, uri, "call-2@h", "alice-tag", NULL),
                  "another dialog");
    cr_assert_not(record_route_signed(secret, uri, "call-1@h", "mallory", "forged"));
    osip_uri_free(uri);
}

Test(record_route, a_forged_or_altered_route_does_not_verify)
{
    osip_uri_t *plain = uri_of("<sip:192.0.2.1:5060;lr>");
    cr_assert_not(record_route_signed(secret, plain, "c", "t", NULL), "no signature");
    osip_uri_free(plain);
    struct flow_side nat = {.present = true, .transport = SB_UDP};
    sipmsg_host_to_addr("198.51.100.7", 40000, &nat.addr);
    char rr[320];
    cr_assert_eq(record_route_format(secret, SB_UDP, "192.0.2.1", 5060, "c", "t", NULL, &nat, rr,
                                     sizeof(rr)),
                 0);
    cr_assert(strstr(rr, "<sip:sbf.-.c6336407") == rr, "flow token in the user part: %s", rr);
    osip_uri_t *uri = uri_of(rr);
    cr_assert(record_route_signed(secret, uri, "c", "t", NULL));
    /* send the callee's requests elsewhere: the token is signed too */
    uri->username[strlen(uri->username) - 1] ^= 1;
    cr_assert_not(record_route_signed(secret, uri, "c", "t", NULL));
    osip_uri_free(uri);
    struct secret *other;
    static const char key[] = "another node's key, not ours!!";
    cr_assert_eq(secret_from_bytes(key, sizeof(key), &other), 0);
    uri = uri_of(rr);
    cr_assert_not(record_route_signed(other, uri, "c", "t", NULL), "another secret");
    osip_uri_free(uri);
    secret_free(other);
}

Test(record_route, a_stream_side_names_its_transport)
{
    char rr[320];
    cr_assert_eq(record_route_format(secret, SB_TCP, "192.0.2.1", 5060, "c", "t", NULL, NULL, rr,
                                     sizeof(rr)),
                 0);
    cr_assert(strncmp(rr, "<sip:192.0.2.1:5060;transport=tcp;lr;sbs=", 41) == 0, "%s", rr);
    cr_assert_eq(record_route_format(secret, SB_TLS, "2001:db8::1", 5061, "c", "t", NULL, NULL, rr,
                                     sizeof(rr)),
                 0);
    cr_assert(strncmp(rr, "<sip:[2001:db8::1]:5061;transport=tls;lr;sbs=", 45) == 0, "%s", rr);
    osip_uri_t *uri = uri_of(rr);
    cr_assert(record_route_signed(secret, uri, "c", "t", NULL));
    osip_uri_free(uri);
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
