/* Digest authentication. See the DESIGN note in auth.h.
 *
 * A nonce is 32 bytes in base64url (43 characters):
 *     issued-at (8 bytes, Unix ms) | id (8 bytes) | HMAC(realm, both)[16]
 * A nonce's life, as auth_check sees it:
 *     issued --used, nc > highest seen--> in use --nc again--> replay
 *     any --older than nonce_ttl, or its slot taken by a newer id--> stale */
#include "switchboard/auth.h"

#include <ctype.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <time.h>

#include <osipparser2/osip_port.h>
#include <urcu.h>

#include "switchboard/auth_users.h"
#include "switchboard/error.h"
#include "switchboard/fixbuf.h"
#include "switchboard/log.h"
#include "switchboard/secret.h"
#include "switchboard/sip_msg.h"
#include "switchboard/types.h"
#include "switchboard/utf8.h"
#include "tsan_annotate.h"

#define NONCE_BYTES 32
#define NONCE_MAC_BYTES 16
#define NC_SLOTS (1u << 18) /* nonces tracked at once */
#define NC_BITS 24          /* highest nonce-count kept per slot */
#define NC_MAX ((1u << NC_BITS) - 1)
#define TAG_MASK ((UINT64_C(1) << (64 - NC_BITS)) - 1)
#define FAIL_SLOTS (1u << 16) /* source addresses tracked at once */
#define CRED_USER_MAX 260     /* username (127) '@' realm (127) */

struct auth {
    struct auth_options opts;
    char *realm;
    char *users_path;
    const struct secret *secret;
    struct auth_users *users; /* RCU */
    atomic_uint_fast64_t next_id;
    _Atomic uint64_t *nc;            /* tag << NC_BITS | highest nc */
    _Atomic uint64_t *failures;      /* per source: see "failures and trust" */
    _Atomic uint64_t *user_failures; /* per user */
    _Atomic uint64_t *trusted;       /* per (source address, user) */
};

int auth_mode_parse(const char *text, enum auth_mode *out)
{
    if (!strcmp(text, "none"))
        *out = AUTH_MODE_NONE;
    else if (!strcmp(text, "register"))
        *out = AUTH_MODE_REGISTER;
    else if (!strcmp(text, "all"))
        *out = AUTH_MODE_ALL;
    else
        return SB_EINVAL;
    return 0;
}

static uint64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void load_be64(uint64_t *v, const unsigned char *p)
{
    *v = 0;
    for (int i = 0; i < 8; i++)
        *v = *v << 8 | p[i];
}

static void store_be64(unsigned char *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--, v >>= 8)
        p[i] = (unsigned char)v;
}

/* --- users ------------------------------------------------------------------ */

static int users_read(struct auth *a, struct auth_users **out)
{
    char err[256];
    const char *realm = a->opts.per_domain ? NULL : a->realm;
    int rc = auth_users_load(a->users_path, realm, out, err, sizeof(err));
    if (rc != 0)
        SB_ERROR("auth users file %s: %s", a->users_path, err);
    return rc;
}

static void users_log(const struct auth *a, const struct auth_users *u, const char *verb)
{
    if (a->opts.per_domain) {
        SB_INFO("auth: %s %zu user(s), each in the realm of its domain, from %s", verb,
                auth_users_count(u), a->users_path);
        return;
    }
    SB_INFO("auth: %s %zu user(s) for realm \"%s\" from %s%s", verb, auth_users_count(u), a->realm,
            a->users_path, auth_users_other_realms(u) ? " (lines for other realms skipped)" : "");
}

int auth_reload(struct auth *a)
{
    struct auth_users *next;
    int rc = users_read(a, &next);
    if (rc != 0) {
        SB_ERROR("auth: keeping the users loaded before");
        return rc;
    }
    tsan_publish(next);
    struct auth_users *old = rcu_xchg_pointer(&a->users, next);
    synchronize_rcu();
    tsan_rcu_reclaim(old);
    auth_users_free(old);
    users_log(a, next, "reloaded");
    return 0;
}

/* --- create / destroy ------------------------------------------------------- */

int auth_create(const struct auth_options *o, const struct secret *secret, struct auth **out)
{
    struct auth *a = calloc(1, sizeof(*a));
    if (!a)
        return SB_ENOMEM;
    a->opts = *o;
    a->secret = secret;
    a->realm = strdup(o->realm);
    a->users_path = o->users_path ? strdup(o->users_path) : NULL;
    a->nc = calloc(NC_SLOTS, sizeof(*a->nc));
    a->failures = calloc(FAIL_SLOTS, sizeof(*a->failures));
    a->user_failures = calloc(FAIL_SLOTS, sizeof(*a->user_failures));
    a->trusted = calloc(FAIL_SLOTS, sizeof(*a->trusted));
    uint64_t start;
    if (getrandom(&start, sizeof(start), 0) != sizeof(start))
        start = wall_ms();
    /* ids of an earlier run (or another node) never match our slots */
    atomic_init(&a->next_id, start & (TAG_MASK << 18));
    int rc = (!a->realm || (o->users_path && !a->users_path) || !a->nc || !a->failures ||
              !a->user_failures || !a->trusted)
                 ? SB_ENOMEM
                 : 0;
    if (rc == 0 && a->users_path)
        rc = users_read(a, &a->users);
    if (rc != 0) {
        auth_destroy(a);
        return rc;
    }
    if (a->users)
        users_log(a, a->users, "loaded");
    *out = a;
    return 0;
}

void auth_destroy(struct auth *a)
{
    if (!a)
        return;
    auth_users_free(a->users);
    free((void *)a->nc);
    free((void *)a->failures);
    free((void *)a->user_failures);
    free((void *)a->trusted);
    free(a->realm);
    free(a->users_path);
    free(a);
}

enum auth_mode auth_mode(const struct auth *a)
{
    return a ? a->opts.mode : AUTH_MODE_NONE;
}

const char *auth_realm(const struct auth *a)
{
    return a->realm;
}

/* --- nonces ------------------------------------------------------------------- */

static void nonce_mac(const struct auth *a, const unsigned char *head, unsigned char *mac)
{
    char hex[33];
    static const char digits[] = "0123456789abcdef";
    for (int i = 0; i < 16; i++) {
        hex[2 * i] = digits[head[i] >> 4];
        hex[2 * i + 1] = digits[head[i] & 15];
    }
    hex[32] = '\0';
    const char *parts[] = {"nonce", a->realm, hex};
    unsigned char full[SECRET_MAC_BYTES];
    secret_mac(a->secret, parts, 3, full);
    memcpy(mac, full, NONCE_MAC_BYTES);
}

void auth_nonce_make(struct auth *a, char *out, uint64_t *id_out)
{
    unsigned char raw[NONCE_BYTES];
    uint64_t id = atomic_fetch_add_explicit(&a->next_id, 1, memory_order_relaxed);
    store_be64(raw, wall_ms());
    store_be64(raw + 8, id);
    nonce_mac(a, raw, raw + 16);
    /* a fresh slot: this id, nothing used yet */
    atomic_store_explicit(&a->nc[id & (NC_SLOTS - 1)], ((id >> 18) & TAG_MASK) << NC_BITS,
                          memory_order_relaxed);
    secret_b64url(raw, NONCE_BYTES, out);
    if (id_out)
        *id_out = id;
}

/* Checks the nonce's MAC and age. Returns AUTH_OK (with *id),
 * AUTH_NO_CREDENTIALS (not ours) or AUTH_STALE (too old). */
static enum auth_result nonce_verify(const struct auth *a, const char *nonce, uint64_t *id)
{
    unsigned char raw[NONCE_BYTES + 3], mac[NONCE_MAC_BYTES];
    if (secret_b64url_decode(nonce, strlen(nonce), raw, sizeof(raw)) != NONCE_BYTES)
        return AUTH_NO_CREDENTIALS;
    nonce_mac(a, raw, mac);
    if (!secret_equal((const char *)mac, (const char *)raw + 16, NONCE_MAC_BYTES))
        return AUTH_NO_CREDENTIALS;
    uint64_t issued, now = wall_ms();
    load_be64(&issued, raw);
    load_be64(id, raw + 8);
    if (issued > now + 60000 || now - issued > (uint64_t)a->opts.nonce_ttl_s * 1000u)
        return AUTH_STALE;
    return AUTH_OK;
}

/* RFC 7616 §3.3: each use of a nonce carries a higher nonce-count; one
 * seen before is a replay, whatever else the request repeats (a
 * retransmission never gets here: its server transaction answers it).
 * Returns AUTH_OK, AUTH_REPLAY or AUTH_STALE. */
static enum auth_result nc_check(struct auth *a, uint64_t id, uint32_t nc)
{
    size_t slot = id & (NC_SLOTS - 1);
    uint64_t tag = (id >> 18) & TAG_MASK;
    if (nc == 0 || nc > NC_MAX)
        return AUTH_STALE; /* start over with a new nonce */
    for (;;) {
        uint64_t v = atomic_load_explicit(&a->nc[slot], memory_order_acquire);
        if (v >> NC_BITS != tag)
            return AUTH_STALE; /* the slot went to a newer nonce */
        uint32_t seen = (uint32_t)(v & NC_MAX);
        if (nc <= seen)
            return AUTH_REPLAY;
        if (atomic_compare_exchange_weak_explicit(&a->nc[slot], &v, tag << NC_BITS | nc,
                                                  memory_order_acq_rel, memory_order_acquire))
            return AUTH_OK;
    }
}

/* --- failures and trust ------------------------------------------------------- */

/* Three keyed tables of 64-bit slots, chosen by the keyed hash of a key
 * string (a stranger cannot aim at another's slot, nor reset it with a
 * collision: a slot answers only to its 24-bit tag):
 *   failures  per source ("d|IP" for datagrams, "s|IP" for streams):
 *             tag 24 | count 8 | window start s 32
 *   user_fail per user ("u|USER"): the same
 *   trusted   per source address and user ("IP|USER"): tag 32 | last
 *             success s 32, so a phone that authenticated from there
 *             before passes both blocks: a stranger (or a spoofed UDP
 *             source) cannot lock it out.
 * A block and its end are logged once each. */
#define TRUST_S (7u * 86400u) /* a source stays trusted for a user this long */

static uint32_t now_s(void)
{
    return (uint32_t)(sb_now_ms() / 1000u);
}

static uint64_t key_hash(const char *a, const char *b, const char *c)
{
    char key[400];
    int n = snprintf(key, sizeof(key), "%s|%s|%s", a, b, c ? c : "");
    return sb_hash(key, n < 0 ? 0 : (size_t)n < sizeof(key) ? (size_t)n : sizeof(key) - 1);
}

/* Is the window of slot @h over @max failures and still running? An
 * expired block is cleared (and logged once). */
static bool blocked(_Atomic uint64_t *table, uint64_t h, unsigned max, unsigned window_s,
                    const char *what)
{
    _Atomic uint64_t *slot = &table[h & (FAIL_SLOTS - 1)];
    uint64_t v = atomic_load_explicit(slot, memory_order_relaxed);
    if (v >> 40 != (h >> 40 & 0xffffff))
        return false;
    uint32_t count = (uint32_t)(v >> 32 & 0xff), start = (uint32_t)v;
    if (count < max)
        return false;
    if (now_s() - start < window_s)
        return true;
    if (atomic_compare_exchange_strong_explicit(slot, &v, 0, memory_order_relaxed,
                                                memory_order_relaxed))
        SB_INFO("auth: %s unblocked", what);
    return false;
}

/* Counts one failure in slot @h; logs the block when it starts. */
static void count_failure(_Atomic uint64_t *table, uint64_t h, unsigned max, unsigned window_s,
                          const char *what)
{
    uint64_t tag = h >> 40 & 0xffffff;
    _Atomic uint64_t *slot = &table[h & (FAIL_SLOTS - 1)];
    uint32_t now = now_s(), count;
    uint64_t v = atomic_load_explicit(slot, memory_order_relaxed), next;
    do {
        uint32_t was = (uint32_t)(v >> 32 & 0xff), start = (uint32_t)v;
        bool fresh = v >> 40 != tag || now - start >= window_s;
        count = fresh ? 1 : was < 255 ? was + 1 : 255;
        next = tag << 40 | (uint64_t)count << 32 | (fresh ? now : start);
    } while (!atomic_compare_exchange_weak_explicit(slot, &v, next, memory_order_relaxed,
                                                    memory_order_relaxed));
    if (count == max)
        SB_WARN("auth: %s blocked for %u s after %u failed attempts", what, window_s, count);
}

static bool trusted(struct auth *a, const char *ip, const char *user)
{
    uint64_t h = key_hash("t", ip, user);
    uint64_t v = atomic_load_explicit(&a->trusted[h & (FAIL_SLOTS - 1)], memory_order_relaxed);
    return v >> 32 == (h >> 32) && now_s() - (uint32_t)v < TRUST_S;
}

static void trust(struct auth *a, const char *ip, const char *user)
{
    uint64_t h = key_hash("t", ip, user);
    atomic_store_explicit(&a->trusted[h & (FAIL_SLOTS - 1)], (h >> 32) << 32 | now_s(),
                          memory_order_relaxed);
}

/* Where a check stands for one (source, user) pair. */
struct attempt {
    char ip[64];
    bool reliable; /* TCP/TLS: the source address cannot be spoofed */
    const char *user;
    char source_what[256], user_what[256];
};

static void attempt_init(struct attempt *t, const struct sb_addr *src, bool reliable,
                         const char *user)
{
    sipmsg_addr_host(src, t->ip, sizeof(t->ip));
    t->reliable = reliable;
    t->user = user;
    char safe[96];
    utf8_escape_controls(user, strlen(user), safe, sizeof(safe));
    snprintf(t->source_what, sizeof(t->source_what), "%s (%s, user %s)", t->ip,
             reliable ? "TCP/TLS" : "UDP", safe);
    snprintf(t->user_what, sizeof(t->user_what), "user %s (last from %s)", safe, t->ip);
}

static bool attempt_throttled(struct auth *a, struct attempt *t)
{
    if (trusted(a, t->ip, t->user))
        return false;
    const struct auth_options *o = &a->opts;
    return blocked(a->failures, key_hash(t->reliable ? "s" : "d", t->ip, NULL), o->max_failures,
                   o->block_s, t->source_what) ||
           blocked(a->user_failures, key_hash("u", t->user, NULL), o->max_user_failures,
                   o->user_block_s, t->user_what);
}

static void attempt_failed(struct auth *a, struct attempt *t)
{
    const struct auth_options *o = &a->opts;
    count_failure(a->failures, key_hash(t->reliable ? "s" : "d", t->ip, NULL), o->max_failures,
                  o->block_s, t->source_what);
    count_failure(a->user_failures, key_hash("u", t->user, NULL), o->max_user_failures,
                  o->user_block_s, t->user_what);
}

/* --- checking -------------------------------------------------------------------- */

/* The realm @expected_user answers in: under per_domain the domain of
 * "user@domain", else (and for a request naming nobody) the configured
 * one. */
static const char *wanted_realm(const struct auth *a, const char *expected_user)
{
    const char *at = a->opts.per_domain && expected_user ? strrchr(expected_user, '@') : NULL;
    return at ? at + 1 : a->realm;
}

/* Who @cred authenticates, as the users table keys it, into @out
 * (CRED_USER_MAX bytes): the user, or under per_domain "user@realm". */
static void credential_user(const struct auth *a, const struct digest_credentials *cred, char *out)
{
    if (!a->opts.per_domain) {
        snprintf(out, CRED_USER_MAX, "%s", cred->username);
        return;
    }
    snprintf(out, CRED_USER_MAX, "%s@%s", cred->username, cred->realm);
    for (char *d = strchr(out, '@') + 1; *d; d++) /* the user has no '@': the first is ours */
        *d = (char)tolower((unsigned char)*d);
}

/* The credentials for @realm in @req, read into @cred. */
static enum auth_result find_credentials(const osip_message_t *req, bool proxy, const char *realm,
                                         struct digest_credentials *cred)
{
    const osip_list_t *list = proxy ? &req->proxy_authorizations : &req->authorizations;
    osip_authorization_t *h;
    bool malformed = false;
    for (int i = 0; (h = osip_list_get(list, i)) != NULL; i++) {
        if (digest_credentials_read(h, cred) != 0) {
            malformed = true;
            continue;
        }
        if (!strcasecmp(cred->realm, realm))
            return cred->qop_auth ? AUTH_OK : AUTH_MALFORMED; /* we always offer qop=auth */
    }
    return malformed ? AUTH_MALFORMED : AUTH_NO_CREDENTIALS;
}

/* RFC 7616 §3.4.6: the digest-uri names the Request-URI. Its host and
 * port must be the Request-URI's, and so must its user when it has one:
 * SIPp (and some phones) sign the proxy's address without the user. */
static bool uri_matches(const char *text, const osip_uri_t *ruri)
{
    osip_uri_t *uri = NULL;
    bool same = false;
    if (osip_uri_init(&uri) == 0 && osip_uri_parse(uri, text) == 0 && uri->host && ruri->host) {
        const char *p1 = uri->port ? uri->port : "5060", *p2 = ruri->port ? ruri->port : "5060";
        same = !osip_strcasecmp(uri->host, ruri->host) && !strcmp(p1, p2) &&
               (!uri->username || (ruri->username && !strcmp(uri->username, ruri->username)));
    }
    osip_uri_free(uri);
    return same;
}

/* The response is right for the HA1 of @user (credential_user). */
static bool response_ok(struct auth *a, const char *method, const char *user,
                        const struct digest_credentials *cred)
{
    char ha1[DIGEST_HEX_MAX] = "", want[DIGEST_HEX_MAX];
    rcu_read_lock();
    struct auth_users *u = rcu_dereference(a->users);
    tsan_observe(u);
    const char *found = auth_users_ha1(u, user, cred->alg);
    if (found)
        strcpy(ha1, found);
    tsan_rcu_read_done(u);
    rcu_read_unlock();
    if (!ha1[0])
        return false;
    digest_response(cred->alg, ha1, cred->nonce, cred->nc, cred->cnonce, method, cred->uri, want);
    size_t len = digest_hex_len(cred->alg);
    return strlen(want) == len && secret_equal(want, cred->response, len);
}

/* Was @alg one we offer? RFC 7616 §3.4: the client answers a challenge
 * we sent, so any other is not an answer to ours. */
static bool offered(const struct auth *a, enum digest_alg alg)
{
    for (size_t i = 0; i < a->opts.offer_count; i++)
        if (a->opts.offer[i] == alg)
            return true;
    return false;
}

/* What a request asks of its credentials, whatever carries it. */
struct claim {
    const char *method;
    const osip_uri_t *ruri; /* SIP: the Request-URI the digest-uri must name */
    const char *target;     /* HTTP: the request-target it must be */
};

/* auth_check's steps once @cred was found for our realm: throttling,
 * the digest-uri, the algorithm, the nonce, the response, the
 * nonce-count. On AUTH_OK (and AUTH_WRONG_USER) @who is the user. */
static enum auth_result check_credentials(struct auth *a, const struct claim *c,
                                          const struct digest_credentials *cred,
                                          const struct sb_addr *src, bool reliable, char *who)
{
    credential_user(a, cred, who);
    struct attempt t;
    attempt_init(&t, src, reliable, who);
    if (attempt_throttled(a, &t))
        return AUTH_THROTTLED;
    bool uri_ok = c->ruri ? uri_matches(cred->uri, c->ruri) : !strcmp(cred->uri, c->target);
    if (!uri_ok || !offered(a, cred->alg))
        return AUTH_MALFORMED;
    uint64_t id;
    enum auth_result fresh = nonce_verify(a, cred->nonce, &id);
    if (fresh == AUTH_NO_CREDENTIALS)
        return fresh;
    if (!response_ok(a, c->method, who, cred)) {
        attempt_failed(a, &t);
        return AUTH_BAD_CREDENTIALS;
    }
    trust(a, t.ip, who); /* the right password from here */
    if (fresh == AUTH_STALE)
        return AUTH_STALE; /* right password: RFC 7616 stale=true */
    return nc_check(a, id, cred->nc_value);
}

enum auth_result auth_check(struct auth *a, const osip_message_t *req, bool proxy,
                            const char *expected_user, const struct sb_addr *src, bool reliable,
                            char *user_out)
{
    struct digest_credentials cred;
    enum auth_result r = find_credentials(req, proxy, wanted_realm(a, expected_user), &cred);
    if (r != AUTH_OK)
        return r; /* a first attempt, with no credentials yet, is no failure */
    char who[CRED_USER_MAX];
    struct claim c = {.method = req->sip_method, .ruri = req->req_uri};
    r = check_credentials(a, &c, &cred, src, reliable, who);
    if (r != AUTH_OK)
        return r;
    if (!expected_user || strcmp(who, expected_user) != 0)
        return AUTH_WRONG_USER;
    if (user_out)
        strcpy(user_out, who);
    return AUTH_OK;
}

enum auth_result auth_check_http(struct auth *a, const char *method, const char *target,
                                 const char *authorization, const struct sb_addr *src,
                                 char *user_out)
{
    if (!authorization || !authorization[0])
        return AUTH_NO_CREDENTIALS;
    osip_authorization_t *h = NULL;
    struct digest_credentials cred;
    enum auth_result r = AUTH_MALFORMED;
    if (osip_authorization_init(&h) == 0 && osip_authorization_parse(h, authorization) == 0 &&
        digest_credentials_read(h, &cred) == 0 && cred.qop_auth &&
        !strcasecmp(cred.realm, wanted_realm(a, NULL))) {
        char who[CRED_USER_MAX];
        struct claim c = {.method = method, .target = target};
        r = check_credentials(a, &c, &cred, src, true, who);
        if (r == AUTH_OK && user_out)
            strcpy(user_out, who);
    }
    osip_authorization_free(h);
    return r;
}

void auth_each_user(struct auth *a, void (*fn)(void *arg, const char *name), void *arg)
{
    rcu_read_lock();
    struct auth_users *u = rcu_dereference(a->users);
    tsan_observe(u);
    auth_users_each(u, fn, arg);
    tsan_rcu_read_done(u);
    rcu_read_unlock();
}

size_t auth_http_challenge(struct auth *a, bool stale, char *out, size_t size)
{
    size_t n = 0;
    for (size_t i = 0; i < a->opts.offer_count; i++) {
        char nonce[64];
        auth_nonce_make(a, nonce, NULL);
        int w = snprintf(out + n, size - n,
                         "WWW-Authenticate: Digest realm=\"%s\", nonce=\"%s\", algorithm=%s, "
                         "qop=\"auth\"%s\r\n",
                         wanted_realm(a, NULL), nonce, digest_alg_name(a->opts.offer[i]),
                         stale ? ", stale=true" : "");
        if (w < 0 || (size_t)w >= size - n)
            return 0;
        n += (size_t)w;
    }
    return n;
}

void auth_challenge(struct auth *a, struct fixbuf *out, bool proxy, bool stale,
                    const char *for_user)
{
    const char *realm = wanted_realm(a, for_user);
    for (size_t i = 0; i < a->opts.offer_count; i++) {
        char nonce[64];
        auth_nonce_make(a, nonce, NULL);
        fixbuf_puts(out, proxy ? "Proxy-Authenticate: Digest realm=\""
                               : "WWW-Authenticate: Digest realm=\"");
        fixbuf_puts(out, realm);
        fixbuf_puts(out, "\", nonce=\"");
        fixbuf_puts(out, nonce);
        fixbuf_puts(out, "\", algorithm=");
        fixbuf_puts(out, digest_alg_name(a->opts.offer[i]));
        fixbuf_puts(out, stale ? ", qop=\"auth\", stale=true\r\n" : ", qop=\"auth\"\r\n");
    }
}
