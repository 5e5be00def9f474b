/* Unit tests for src/sip/digest.c: RFC 7616's own example for MD5 and SHA-256,
 * HA1 as htdigest writes it, algorithm lists, and reading credentials. */
#include <criterion/criterion.h>
#include <string.h>

#include <osipparser2/osip_parser.h>

#include "switchboard/digest.h"
#include "switchboard/error.h"

#define RFC_REALM "http-auth@example.org"
#define RFC_NONCE "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v"
#define RFC_CNONCE "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ"

/* RFC 7616 §3.9.1 */
Test(digest, rfc7616_example_md5_and_sha256)
{
    char ha1[DIGEST_HEX_MAX], resp[DIGEST_HEX_MAX];
    digest_ha1(DIGEST_MD5, "Mufasa", RFC_REALM, "Circle of Life", ha1);
    digest_response(DIGEST_MD5, ha1, RFC_NONCE, "00000001", RFC_CNONCE, "GET", "/dir/index.html",
                    resp);
    cr_assert_str_eq(resp, "8ca523f5e9506fed4657c9700eebdbec");
    digest_ha1(DIGEST_SHA256, "Mufasa", RFC_REALM, "Circle of Life", ha1);
    digest_response(DIGEST_SHA256, ha1, RFC_NONCE, "00000001", RFC_CNONCE, "GET", "/dir/index.html",
                    resp);
    cr_assert_str_eq(resp, "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1");
}

/* What `htdigest` stores: MD5(user:realm:password). */
Test(digest, ha1_as_htdigest_writes_it)
{
    char ha1[DIGEST_HEX_MAX];
    digest_ha1(DIGEST_MD5, "alice", "pbx.test", "wonderland", ha1);
    cr_assert_str_eq(ha1, "6f69092e95e8cc81524113b2c5738422");
    digest_ha1(DIGEST_SHA256, "alice", "pbx.test", "wonderland", ha1);
    cr_assert_str_eq(ha1, "4501b553c0d08987ba1aedec32919164dcfd35e7168aba425fd93663f97f9d23");
}

Test(digest, algorithm_names_and_lists)
{
    enum digest_alg a, offer[DIGEST_ALG_COUNT];
    cr_assert_eq(digest_alg_parse("sha-256", &a), 0);
    cr_assert_eq(a, DIGEST_SHA256);
    cr_assert_eq(digest_alg_parse(NULL, &a), 0, "no algorithm means MD5");
    cr_assert_eq(a, DIGEST_MD5);
    cr_assert_eq(digest_alg_parse("SHA-512-256", &a), SB_EINVAL);
    cr_assert_eq(digest_alg_list_parse("SHA-256, MD5", offer), 2);
    cr_assert_eq(offer[0], DIGEST_SHA256);
    cr_assert_eq(offer[1], DIGEST_MD5);
    cr_assert_eq(digest_alg_list_parse("MD5,MD5", offer), SB_EINVAL, "twice");
    cr_assert_eq(digest_alg_list_parse("MD5, RC4", offer), SB_EINVAL);
    cr_assert_eq(digest_alg_list_parse("", offer), 0);
}

static int read_header(const char *value, struct digest_credentials *c)
{
    static int initialised;
    if (!initialised) {
        parser_init();
        initialised = 1;
    }
    osip_authorization_t *a;
    cr_assert_eq(osip_authorization_init(&a), 0);
    int rc = osip_authorization_parse(a, value) == 0 ? digest_credentials_read(a, c) : -100;
    osip_authorization_free(a);
    return rc;
}

Test(digest, credentials_are_read_unquoted)
{
    struct digest_credentials c;
    cr_assert_eq(read_header("Digest username=\"alice\", realm=\"pbx.test\", nonce=\"n1\", "
                             "uri=\"sip:pbx.test\", response=\"6F69092E95E8CC81524113B2C5738422\", "
                             "algorithm=MD5, qop=auth, nc=0000000a, cnonce=\"c1\"",
                             &c),
                 0);
    cr_assert_str_eq(c.username, "alice");
    cr_assert_str_eq(c.realm, "pbx.test");
    cr_assert_str_eq(c.uri, "sip:pbx.test");
    cr_assert_str_eq(c.response, "6f69092e95e8cc81524113b2c5738422", "lower-cased");
    cr_assert_eq(c.nc_value, 10);
    cr_assert(c.qop_auth);
    cr_assert_eq(c.alg, DIGEST_MD5);
}

Test(digest, bad_credentials_are_malformed)
{
    struct digest_credentials c;
    const char *bad[] = {
        /* Basic is not digest */
        "Basic YWxpY2U6c2VjcmV0",
        /* a SHA-256 response must be 64 hex digits */
        "Digest username=\"a\", realm=\"r\", nonce=\"n\", uri=\"sip:r\", "
        "response=\"6f69092e95e8cc81524113b2c5738422\", algorithm=SHA-256, qop=auth, "
        "nc=00000001, cnonce=\"c\"",
        /* nc must be eight hex digits */
        "Digest username=\"a\", realm=\"r\", nonce=\"n\", uri=\"sip:r\", "
        "response=\"6f69092e95e8cc81524113b2c5738422\", qop=auth, nc=1, cnonce=\"c\"",
        /* qop without a cnonce */
        "Digest username=\"a\", realm=\"r\", nonce=\"n\", uri=\"sip:r\", "
        "response=\"6f69092e95e8cc81524113b2c5738422\", qop=auth, nc=00000001",
        /* auth-int is not offered */
        "Digest username=\"a\", realm=\"r\", nonce=\"n\", uri=\"sip:r\", "
        "response=\"6f69092e95e8cc81524113b2c5738422\", qop=auth-int, nc=00000001, cnonce=\"c\"",
        /* no username */
        "Digest realm=\"r\", nonce=\"n\", uri=\"sip:r\", "
        "response=\"6f69092e95e8cc81524113b2c5738422\"",
        /* an unknown algorithm */
        "Digest username=\"a\", realm=\"r\", nonce=\"n\", uri=\"sip:r\", "
        "response=\"6f69092e95e8cc81524113b2c5738422\", algorithm=MD5-sess",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        cr_expect_neq(read_header(bad[i], &c), 0, "accepted: %s", bad[i]);
}

Test(digest, rfc2069_credentials_have_no_qop)
{
    struct digest_credentials c;
    cr_assert_eq(read_header("Digest username=\"a\", realm=\"r\", nonce=\"n\", uri=\"sip:r\", "
                             "response=\"6f69092e95e8cc81524113b2c5738422\"",
                             &c),
                 0);
    cr_assert_not(c.qop_auth, "the caller refuses these: we always offer qop=auth");
}

static osip_www_authenticate_t *challenge(const char *text)
{
    osip_www_authenticate_t *w = NULL;
    cr_assert_eq(osip_www_authenticate_init(&w), 0);
    cr_assert_eq(osip_www_authenticate_parse(w, text), 0, "%s", text);
    return w;
}

/* RFC 2617 §3.5's example, as our answer to a carrier's challenge. */
Test(digest, client_answers_a_qop_challenge)
{
    osip_www_authenticate_t *w =
        challenge("Digest realm=\"testrealm@host.com\", qop=\"auth,auth-int\", "
                  "nonce=\"dcd98b7102dd2f0e8b11d0f600bfb0c093\", "
                  "opaque=\"5ccc069c403ebaf9f0171e9517f40e41\"");
    struct digest_client c = {.user = "Mufasa",
                              .password = "Circle Of Life",
                              .method = "GET",
                              .uri = "/dir/index.html",
                              .cnonce = "0a4f113b",
                              .nc = 1};
    char out[1024];
    cr_assert_eq(digest_client_answer(w, &c, out, sizeof(out)), 0);
    cr_assert(strstr(out, "response=\"6629fae49393a05397450978507c4ef1\""), "%s", out);
    cr_assert(strstr(out, "qop=auth, nc=00000001, cnonce=\"0a4f113b\""), "%s", out);
    cr_assert(strstr(out, "opaque=\"5ccc069c403ebaf9f0171e9517f40e41\""), "%s", out);
    cr_assert_eq(digest_client_answer(w, &c, out, 40), SB_ERANGE);
    osip_www_authenticate_free(w);
}

/* Without qop: RFC 2069's H(HA1:nonce:HA2); and what we cannot answer. */
Test(digest, client_answers_without_qop_and_refuses_the_rest)
{
    osip_www_authenticate_t *w =
        challenge("Digest realm=\"carrier.test\", nonce=\"abc\", algorithm=MD5");
    struct digest_client c = {.user = "u",
                              .password = "p",
                              .method = "INVITE",
                              .uri = "sip:+4930@carrier.test",
                              .cnonce = "c",
                              .nc = 1};
    char out[1024], ha1[DIGEST_HEX_MAX], ha2[DIGEST_HEX_MAX], want[DIGEST_HEX_MAX], text[256];
    cr_assert_eq(digest_client_answer(w, &c, out, sizeof(out)), 0);
    digest_ha1(DIGEST_MD5, "u", "carrier.test", "p", ha1);
    snprintf(text, sizeof(text), "INVITE:sip:+4930@carrier.test");
    digest_hash_hex(DIGEST_MD5, text, strlen(text), ha2);
    snprintf(text, sizeof(text), "%s:abc:%s", ha1, ha2);
    digest_hash_hex(DIGEST_MD5, text, strlen(text), want);
    cr_assert(strstr(out, want), "%s lacks %s", out, want);
    cr_assert_null(strstr(out, "qop="), "%s", out);
    osip_www_authenticate_free(w);
    w = challenge("Digest realm=\"r\", nonce=\"n\", qop=\"auth-int\"");
    cr_assert_eq(digest_client_answer(w, &c, out, sizeof(out)), SB_EINVAL, "auth-int only");
    osip_www_authenticate_free(w);
    w = challenge("Digest realm=\"r\", nonce=\"n\", algorithm=MD5-sess");
    cr_assert_eq(digest_client_answer(w, &c, out, sizeof(out)), SB_EINVAL);
    osip_www_authenticate_free(w);
    w = challenge("Basic realm=\"r\"");
    cr_assert_eq(digest_client_answer(w, &c, out, sizeof(out)), SB_EINVAL);
    osip_www_authenticate_free(w);
}
