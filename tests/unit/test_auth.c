/* Unit tests for src/sip/auth.c: nonces (their MAC, age and slots),
 * nonce-count replay and retransmission, the user who authenticated,
 * failures counted per source, and reloading the users file. */
#include <stdio.h>
#include <unistd.h>
#include <urcu.h>

#include "switchboard/auth.h"
#include "switchboard/fixbuf.h"
#include "switchboard/error.h"
#include "switchboard/log.h"
#include "switchboard/secret.h"
#include "switchboard/sip_msg.h"
#include "test_helpers.h"

#define REALM "pbx.test"

static struct secret *secret;
static struct auth *auth;
static char users_path[64];
static struct sb_addr src;

/* alice/wonderland (MD5 and SHA-256), carol/secret (MD5). */
static void write_users(const char *extra)
{
    FILE *f = fopen(users_path, "w");
    fprintf(f,
            "alice:" REALM ":6f69092e95e8cc81524113b2c5738422\n"
            "alice:" REALM ":4501b553c0d08987ba1aedec32919164dcfd35e7168aba425fd93663f97f9d23\n"
            "carol:" REALM ":2784e233ef54787379267134f89f2330\n%s",
            extra);
    fclose(f);
}

static unsigned max_user_failures = 20;

static void make_auth(unsigned ttl, unsigned max_failures)
{
    struct auth_options o = {.mode = AUTH_MODE_ALL,
                             .realm = REALM,
                             .users_path = users_path,
                             .offer = {DIGEST_MD5},
                             .offer_count = 1,
                             .nonce_ttl_s = ttl,
                             .max_failures = max_failures,
                             .block_s = 60,
                             .max_user_failures = max_user_failures,
                             .user_block_s = 600};
    cr_assert_eq(auth_create(&o, secret, &auth), 0);
}

static void setup(void)
{
    rcu_register_thread();
    sb_log_set_level(SB_LOG_ERROR);
    snprintf(users_path, sizeof(users_path), "/tmp/sb-auth-users-%d", (int)getpid());
    write_users("");
    static const char key[] = "unit tests' key, thirty-two bytes";
    cr_assert_eq(secret_from_bytes(key, sizeof(key), &secret), 0);
    sipmsg_host_to_addr("192.0.2.10", 5060, &src);
    make_auth(300, 5);
}

static void teardown(void)
{
    auth_destroy(auth);
    secret_free(secret);
    unlink(users_path);
    rcu_unregister_thread();
}

TestSuite(auth, .init = setup, .fini = teardown, .timeout = 30);

/* A REGISTER for @aor with credentials of @user/@password for @nonce and
 * nonce-count @nc, with Via branch @branch. */
static osip_message_t *signed_register(const char *aor, const char *user, const char *password,
                                       const char *nonce, unsigned nc, const char *branch)
{
    char ha1[DIGEST_HEX_MAX], resp[DIGEST_HEX_MAX], ncs[9], text[2048];
    snprintf(ncs, sizeof(ncs), "%08x", nc);
    digest_ha1(DIGEST_MD5, user, REALM, password, ha1);
    digest_response(DIGEST_MD5, ha1, nonce, ncs, "cn1", "REGISTER", "sip:" REALM, resp);
    snprintf(text, sizeof(text),
             "REGISTER sip:" REALM " SIP/2.0\n"
             "Via: SIP/2.0/UDP 192.0.2.10:5060;branch=%s\n"
             "From: <sip:%s@" REALM ">;tag=f1\n"
             "To: <sip:%s@" REALM ">\n"
             "Call-ID: auth-test\n"
             "CSeq: %u REGISTER\n"
             "Authorization: Digest username=\"%s\", realm=\"" REALM "\", nonce=\"%s\", "
             "uri=\"sip:" REALM "\", response=\"%s\", algorithm=MD5, qop=auth, nc=%s, "
             "cnonce=\"cn1\"\n"
             "Content-Length: 0\n\n",
             branch, aor, aor, nc, user, nonce, resp, ncs);
    return parse(text);
}

static bool over_tcp; /* the next checks come over a stream */

static enum auth_result check(const char *aor, const char *user, const char *password,
                              const char *nonce, unsigned nc, const char *branch)
{
    osip_message_t *m = signed_register(aor, user, password, nonce, nc, branch);
    enum auth_result r = auth_check(auth, m, false, aor, &src, over_tcp, NULL);
    osip_message_free(m);
    return r;
}

/* check() from @ip. */
static enum auth_result check_from(const char *ip, const char *password, const char *nonce,
                                   unsigned nc, const char *branch)
{
    struct sb_addr was = src;
    sipmsg_host_to_addr(ip, 5060, &src);
    enum auth_result r = check("alice", "alice", password, nonce, nc, branch);
    src = was;
    return r;
}

Test(auth, right_password_passes_and_counts_up)
{
    char nonce[64];
    auth_nonce_make(auth, nonce, NULL);
    cr_assert_eq(check("alice", "alice", "wonderland", nonce, 1, "z9hG4bK-1"), AUTH_OK);
    cr_assert_eq(check("alice", "alice", "wonderland", nonce, 2, "z9hG4bK-2"), AUTH_OK);
    cr_assert_eq(check("alice", "alice", "wonderland", nonce, 5, "z9hG4bK-3"), AUTH_OK,
                 "gaps are allowed, only going back is not");
}

/* A retransmission is answered by its server transaction before
 * authentication; a repeated nonce-count reaching auth_check is a copy,
 * refused even with the very same Via branch. */
Test(auth, a_repeated_nonce_count_is_a_replay_even_with_the_same_branch)
{
    char nonce[64];
    auth_nonce_make(auth, nonce, NULL);
    cr_assert_eq(check("alice", "alice", "wonderland", nonce, 1, "z9hG4bK-a"), AUTH_OK);
    cr_assert_eq(check("alice", "alice", "wonderland", nonce, 1, "z9hG4bK-a"), AUTH_REPLAY,
                 "a copy, branch and all");
    cr_assert_eq(check("alice", "alice", "wonderland", nonce, 1, "z9hG4bK-b"), AUTH_REPLAY);
    cr_assert_eq(check("alice", "alice", "wonderland", nonce, 0, "z9hG4bK-c"), AUTH_STALE,
                 "nc 0 is never valid: start over");
}

Test(auth, wrong_password_and_wrong_user)
{
    char nonce[64];
    auth_nonce_make(auth, nonce, NULL);
    cr_assert_eq(check("alice", "alice", "letmein", nonce, 1, "z9hG4bK-1"), AUTH_BAD_CREDENTIALS);
    cr_assert_eq(check("alice", "mallory", "x", nonce, 1, "z9hG4bK-2"), AUTH_BAD_CREDENTIALS,
                 "an unknown user");
    cr_assert_eq(check("alice", "carol", "secret", nonce, 1, "z9hG4bK-3"), AUTH_WRONG_USER,
                 "carol's password cannot register alice");
}

Test(auth, a_nonce_not_ours_is_challenged_again)
{
    char nonce[64];
    auth_nonce_make(auth, nonce, NULL);
    nonce[5] = nonce[5] == 'A' ? 'B' : 'A';
    cr_assert_eq(check("alice", "alice", "wonderland", nonce, 1, "z9hG4bK-1"), AUTH_NO_CREDENTIALS);
    cr_assert_eq(check("alice", "alice", "wonderland", "short", 1, "z9hG4bK-2"),
                 AUTH_NO_CREDENTIALS);
}

Test(auth, an_old_nonce_is_stale_only_with_the_right_password)
{
    auth_destroy(auth);
    make_auth(1, 5);
    char nonce[64];
    auth_nonce_make(auth, nonce, NULL);
    usleep(1100 * 1000);
    cr_assert_eq(check("alice", "alice", "wonderland", nonce, 1, "z9hG4bK-1"), AUTH_STALE);
    cr_assert_eq(check("alice", "alice", "guess", nonce, 1, "z9hG4bK-2"), AUTH_BAD_CREDENTIALS);
}

Test(auth, a_nonce_whose_slot_was_reused_is_stale)
{
    char nonce[64], other[64];
    auth_nonce_make(auth, nonce, NULL);
    for (int i = 0; i < (1 << 18); i++)
        auth_nonce_make(auth, other, NULL);
    cr_assert_eq(check("alice", "alice", "wonderland", nonce, 1, "z9hG4bK-1"), AUTH_STALE);
}

Test(auth, failures_from_one_address_are_throttled)
{
    char nonce[64];
    auth_nonce_make(auth, nonce, NULL);
    for (int i = 0; i < 5; i++)
        cr_assert_eq(check("alice", "alice", "guess", nonce, 1, "z9hG4bK-x"), AUTH_BAD_CREDENTIALS);
    cr_assert_eq(check("alice", "alice", "wonderland", nonce, 1, "z9hG4bK-y"), AUTH_THROTTLED,
                 "blocked, even with the right password");
    struct sb_addr elsewhere = src;
    sipmsg_host_to_addr("192.0.2.11", 5060, &src);
    cr_assert_eq(check("alice", "alice", "wonderland", nonce, 1, "z9hG4bK-z"), AUTH_OK,
                 "another address is not");
    src = elsewhere;
}

Test(auth, reload_swaps_users_and_keeps_them_on_a_broken_file)
{
    char nonce[64];
    auth_nonce_make(auth, nonce, NULL);
    write_users("dave:" REALM ":0123456789abcdef0123456789abcdef\n");
    cr_assert_eq(auth_reload(auth), 0);
    write_users("broken line\n");
    cr_assert_eq(auth_reload(auth), SB_EINVAL);
    cr_assert_eq(check("alice", "alice", "wonderland", nonce, 1, "z9hG4bK-1"), AUTH_OK,
                 "the table from before the broken file");
}

Test(auth, challenge_headers_name_realm_algorithm_and_qop)
{
    osip_message_t *req = parse("REGISTER sip:" REALM " SIP/2.0\n"
                                "Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK-c\n"
                                "From: <sip:alice@" REALM ">;tag=f1\nTo: <sip:alice@" REALM ">\n"
                                "Call-ID: c\nCSeq: 1 REGISTER\nContent-Length: 0\n\n");
    cr_assert_eq(auth_check(auth, req, false, "alice", &src, false, NULL), AUTH_NO_CREDENTIALS);
    char text[1024];
    struct fixbuf b;
    fixbuf_init(&b, text, sizeof(text));
    auth_challenge(auth, &b, false, true, NULL);
    cr_assert_gt(fixbuf_end(&b), 0);
    cr_assert(strncmp(text, "WWW-Authenticate: Digest realm=\"" REALM "\", nonce=\"",
                      strlen("WWW-Authenticate: Digest realm=\"" REALM "\", nonce=\"")) == 0,
              "%s", text);
    cr_assert(strstr(text, "algorithm=MD5, qop=\"auth\", stale=true\r\n") != NULL, "%s", text);
    /* a header line libosip2 reads back, as a phone would */
    char wire[1400];
    snprintf(wire, sizeof(wire),
             "SIP/2.0 401 Unauthorized\r\nVia: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK-c\r\n"
             "From: <sip:alice@" REALM ">;tag=f1\r\nTo: <sip:alice@" REALM ">;tag=t\r\n"
             "Call-ID: c\r\nCSeq: 1 REGISTER\r\n%sContent-Length: 0\r\n\r\n",
             text);
    osip_message_t *resp;
    cr_assert_eq(osip_message_init(&resp), 0);
    cr_assert_eq(osip_message_parse(resp, wire, strlen(wire)), 0);
    osip_www_authenticate_t *w = NULL;
    osip_message_get_www_authenticate(resp, 0, &w);
    cr_assert_not_null(w);
    cr_assert_str_eq(w->realm, "\"" REALM "\"");
    cr_assert_str_eq(w->stale, "true");
    osip_message_free(resp);
    osip_message_free(req);
}

/* Guesses for one user are bounded across addresses: past
 * max_user_failures, every address that never gave alice's password is
 * refused, while her own phone (it did, from 192.0.2.10) goes on. */
Test(auth, guesses_for_one_user_are_bounded_across_addresses)
{
    auth_destroy(auth);
    max_user_failures = 3;
    make_auth(300, 5);
    max_user_failures = 20;
    char nonce[64];
    auth_nonce_make(auth, nonce, NULL);
    cr_assert_eq(check_from("192.0.2.10", "wonderland", nonce, 1, "z9hG4bK-ok"), AUTH_OK);
    cr_assert_eq(check_from("198.51.100.1", "guess1", nonce, 2, "z9hG4bK-1"), AUTH_BAD_CREDENTIALS);
    cr_assert_eq(check_from("198.51.100.2", "guess2", nonce, 3, "z9hG4bK-2"), AUTH_BAD_CREDENTIALS);
    cr_assert_eq(check_from("198.51.100.3", "guess3", nonce, 4, "z9hG4bK-3"), AUTH_BAD_CREDENTIALS);
    cr_assert_eq(check_from("198.51.100.4", "wonderland", nonce, 5, "z9hG4bK-4"), AUTH_THROTTLED,
                 "a new address, even with the right password");
    cr_assert_eq(check_from("192.0.2.10", "wonderland", nonce, 6, "z9hG4bK-5"), AUTH_OK,
                 "alice's own phone is not locked out");
    cr_assert_eq(check_from("198.51.100.4", "secret", nonce, 7, "z9hG4bK-6"), AUTH_THROTTLED);
}

/* Datagrams can be spoofed: failures over UDP block UDP from that address,
 * not a TCP/TLS phone there, and not a phone that authenticated from it
 * before. */
Test(auth, spoofed_datagrams_lock_out_no_phone)
{
    char nonce[64];
    auth_nonce_make(auth, nonce, NULL);
    cr_assert_eq(check_from("192.0.2.20", "wonderland", nonce, 1, "z9hG4bK-ok"), AUTH_OK);
    for (int i = 0; i < 5; i++)
        cr_assert_eq(check_from("192.0.2.21", "guess", nonce, 2 + (unsigned)i, "z9hG4bK-g"),
                     AUTH_BAD_CREDENTIALS);
    cr_assert_eq(check_from("192.0.2.21", "wonderland", nonce, 10, "z9hG4bK-u"), AUTH_THROTTLED,
                 "UDP from the guessing address");
    over_tcp = true;
    cr_assert_eq(check_from("192.0.2.21", "wonderland", nonce, 11, "z9hG4bK-t"), AUTH_OK,
                 "a TCP phone at that address");
    over_tcp = false;
    for (int i = 0; i < 5; i++) /* forged as if from the phone's address */
        check_from("192.0.2.20", "guess", nonce, 20 + (unsigned)i, "z9hG4bK-f");
    cr_assert_eq(check_from("192.0.2.20", "wonderland", nonce, 30, "z9hG4bK-p"), AUTH_OK,
                 "the phone that authenticated from there before");
}

/* RFC 7616 §3.4: an answer with an algorithm we did not offer (SHA-256
 * here, where only MD5 is offered) is no answer to our challenge. */
Test(auth, only_an_offered_algorithm_is_accepted)
{
    char nonce[64], ha1[DIGEST_HEX_MAX], resp[DIGEST_HEX_MAX], text[2048];
    auth_nonce_make(auth, nonce, NULL);
    digest_ha1(DIGEST_SHA256, "alice", REALM, "wonderland", ha1);
    digest_response(DIGEST_SHA256, ha1, nonce, "00000001", "cn1", "REGISTER", "sip:" REALM, resp);
    snprintf(text, sizeof(text),
             "REGISTER sip:" REALM " SIP/2.0\nVia: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK-s\n"
             "From: <sip:alice@" REALM ">;tag=f1\nTo: <sip:alice@" REALM ">\n"
             "Call-ID: auth-alg\nCSeq: 1 REGISTER\n"
             "Authorization: Digest username=\"alice\", realm=\"" REALM "\", nonce=\"%s\", "
             "uri=\"sip:" REALM "\", response=\"%s\", algorithm=SHA-256, qop=auth, "
             "nc=00000001, cnonce=\"cn1\"\nContent-Length: 0\n\n",
             nonce, resp);
    osip_message_t *m = parse(text);
    cr_assert_eq(auth_check(auth, m, false, "alice", &src, false, NULL), AUTH_MALFORMED);
    osip_message_free(m);
}

/* A REGISTER for @user@@domain with credentials for @realm. */
static osip_message_t *register_in_realm(const char *user, const char *domain, const char *realm,
                                         const char *password, const char *nonce)
{
    char ha1[DIGEST_HEX_MAX], resp[DIGEST_HEX_MAX], uri[160], text[2048];
    snprintf(uri, sizeof(uri), "sip:%s", domain);
    digest_ha1(DIGEST_MD5, user, realm, password, ha1);
    digest_response(DIGEST_MD5, ha1, nonce, "00000001", "cn1", "REGISTER", uri, resp);
    snprintf(text, sizeof(text),
             "REGISTER %s SIP/2.0\n"
             "Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK-%s-%s\n"
             "From: <sip:%s@%s>;tag=f1\nTo: <sip:%s@%s>\n"
             "Call-ID: realm-test\nCSeq: 1 REGISTER\n"
             "Authorization: Digest username=\"%s\", realm=\"%s\", nonce=\"%s\", uri=\"%s\", "
             "response=\"%s\", algorithm=MD5, qop=auth, nc=00000001, cnonce=\"cn1\"\n"
             "Content-Length: 0\n\n",
             uri, realm, password, user, domain, user, domain, user, realm, nonce, uri, resp);
    return parse(text);
}

static enum auth_result check_in_realm(const char *expected, const char *realm,
                                       const char *password)
{
    char nonce[64];
    auth_nonce_make(auth, nonce, NULL);
    const char *at = strchr(expected, '@');
    char user[64];
    snprintf(user, sizeof(user), "%.*s", (int)(at - expected), expected);
    osip_message_t *m = register_in_realm(user, at + 1, realm, password, nonce);
    enum auth_result r = auth_check(auth, m, false, expected, &src, false, NULL);
    osip_message_free(m);
    return r;
}

/* [registrar] use_domain: each domain is its own realm, and alice of one
 * domain is not alice of the other: her credentials are read in the realm
 * her address names, and pass only for that domain's line. */
Test(auth, per_domain_credentials_are_for_user_at_domain)
{
    auth_destroy(auth);
    char ha1a[DIGEST_HEX_MAX], ha1b[DIGEST_HEX_MAX], lines[256];
    digest_ha1(DIGEST_MD5, "alice", "a.example", "apple", ha1a);
    digest_ha1(DIGEST_MD5, "alice", "b.example", "banana", ha1b);
    snprintf(lines, sizeof(lines), "alice:a.example:%s\nalice:b.example:%s\n", ha1a, ha1b);
    write_users(lines);
    struct auth_options o = {.mode = AUTH_MODE_REGISTER,
                             .realm = REALM,
                             .per_domain = true,
                             .users_path = users_path,
                             .offer = {DIGEST_MD5},
                             .offer_count = 1,
                             .nonce_ttl_s = 300,
                             .max_failures = 50,
                             .block_s = 60,
                             .max_user_failures = 50,
                             .user_block_s = 600};
    cr_assert_eq(auth_create(&o, secret, &auth), 0);
    cr_assert_eq(check_in_realm("alice@a.example", "a.example", "apple"), AUTH_OK);
    cr_assert_eq(check_in_realm("alice@b.example", "b.example", "banana"), AUTH_OK);
    cr_assert_eq(check_in_realm("alice@b.example", "b.example", "apple"), AUTH_BAD_CREDENTIALS,
                 "a.example's password is not b.example's");
    cr_assert_eq(check_in_realm("alice@b.example", "a.example", "apple"), AUTH_NO_CREDENTIALS,
                 "credentials for another domain's realm answer nothing asked");
    cr_assert_eq(check_in_realm("alice@c.example", "c.example", "apple"), AUTH_BAD_CREDENTIALS,
                 "no such user in that domain");

    osip_message_t *req = parse("REGISTER sip:b.example SIP/2.0\n"
                                "Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK-d\n"
                                "From: <sip:alice@b.example>;tag=f1\nTo: <sip:alice@b.example>\n"
                                "Call-ID: d\nCSeq: 1 REGISTER\nContent-Length: 0\n\n");
    char text[2048];
    struct fixbuf b;
    fixbuf_init(&b, text, sizeof(text));
    auth_challenge(auth, &b, false, false, "alice@b.example");
    auth_challenge(auth, &b, true, false, NULL);
    cr_assert_gt(fixbuf_end(&b), 0);
    cr_assert(strstr(text, "WWW-Authenticate: Digest realm=\"b.example\"") != NULL, "%s", text);
    cr_assert(strstr(text, "Proxy-Authenticate: Digest realm=\"" REALM "\"") != NULL,
              "nobody named: the configured realm; %s", text);
    osip_message_free(req);
}

/* An Authorization value for GET @uri as a browser sends it (RFC 7616). */
static void http_credentials(const char *user, const char *password, const char *nonce, unsigned nc,
                             const char *uri, char *out, size_t size)
{
    char ha1[DIGEST_HEX_MAX], resp[DIGEST_HEX_MAX], ncs[9];
    snprintf(ncs, sizeof(ncs), "%08x", nc);
    digest_ha1(DIGEST_MD5, user, REALM, password, ha1);
    digest_response(DIGEST_MD5, ha1, nonce, ncs, "c0ffee", "GET", uri, resp);
    snprintf(out, size,
             "Digest username=\"%s\", realm=\"" REALM "\", nonce=\"%s\", uri=\"%s\", "
             "algorithm=MD5, response=\"%s\", qop=auth, nc=%s, cnonce=\"c0ffee\"",
             user, nonce, uri, resp, ncs);
}

/* The office directory's HTTP Digest: any user of the table with the
 * right password passes (and is named); the digest-uri must be the
 * request-target; a wrong password counts as a failure; a replayed
 * nonce-count, another realm or nothing at all is refused; the
 * challenge is a WWW-Authenticate line per algorithm. */
Test(auth, http_digest_for_the_directory)
{
    char nonce[64], value[1024], who[260] = "";
    auth_nonce_make(auth, nonce, NULL);
    http_credentials("carol", "secret", nonce, 1, "/directory", value, sizeof(value));
    cr_assert_eq(auth_check_http(auth, "GET", "/directory", value, &src, who), AUTH_OK);
    cr_assert_str_eq(who, "carol");
    cr_assert_eq(auth_check_http(auth, "GET", "/directory", value, &src, who), AUTH_REPLAY,
                 "the same nonce-count again");
    http_credentials("carol", "secret", nonce, 2, "/directory", value, sizeof(value));
    cr_assert_eq(auth_check_http(auth, "GET", "/directory", value, &src, NULL), AUTH_OK,
                 "the next nonce-count (a browser reusing its nonce)");
    http_credentials("carol", "secret", nonce, 3, "/directory", value, sizeof(value));
    cr_assert_eq(auth_check_http(auth, "GET", "/other", value, &src, NULL), AUTH_MALFORMED,
                 "signed for another target");
    http_credentials("carol", "wrong", nonce, 4, "/directory", value, sizeof(value));
    cr_assert_eq(auth_check_http(auth, "GET", "/directory", value, &src, NULL),
                 AUTH_BAD_CREDENTIALS);
    http_credentials("nobody", "x", nonce, 5, "/directory", value, sizeof(value));
    cr_assert_eq(auth_check_http(auth, "GET", "/directory", value, &src, NULL),
                 AUTH_BAD_CREDENTIALS, "no such user");
    cr_assert_eq(auth_check_http(auth, "GET", "/directory", "", &src, NULL), AUTH_NO_CREDENTIALS);
    cr_assert_eq(auth_check_http(auth, "GET", "/directory", NULL, &src, NULL), AUTH_NO_CREDENTIALS);
    cr_assert_eq(auth_check_http(auth, "GET", "/directory", "Basic Y2Fyb2w6c2VjcmV0", &src, NULL),
                 AUTH_MALFORMED, "Basic is not offered");
    char other[1024];
    http_credentials("carol", "secret", nonce, 6, "/directory", value, sizeof(value));
    char *r = strstr(value, REALM);
    snprintf(other, sizeof(other), "%.*sother.test%s", (int)(r - value), value, r + strlen(REALM));
    cr_assert_eq(auth_check_http(auth, "GET", "/directory", other, &src, NULL), AUTH_MALFORMED,
                 "another realm");
    char challenge[512];
    size_t n = auth_http_challenge(auth, false, challenge, sizeof(challenge));
    cr_assert_gt(n, 0);
    cr_assert(!strncmp(challenge, "WWW-Authenticate: Digest realm=\"" REALM "\", nonce=\"", 48));
    cr_assert(strstr(challenge, "algorithm=MD5, qop=\"auth\"\r\n"));
    cr_assert_eq(auth_http_challenge(auth, false, challenge, 20), 0, "no room");
}
