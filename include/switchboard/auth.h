/* Digest authentication (RFC 3261 §22, RFC 7616, RFC 8760): who must
 * authenticate, the challenges, and checking what comes back.
 *
 * DESIGN: nonces carry their own proof: base64url(time || id || HMAC), so
 * any worker (or another node with the same secret) verifies them without
 * shared state. Replay protection is the one shared thing: a table of
 * atomic 64-bit slots, one per recently issued nonce id, holding the
 * highest nonce-count seen, updated with compare-and-swap (no lock); a slot
 * reused by a newer nonce makes the old one stale, and the client simply
 * authenticates again. Failed attempts are counted per source address in a
 * table of the same kind. The users table is immutable and swapped under
 * RCU on reload. Any thread registered with liburcu may call auth_check()
 * and auth_challenge(); auth_reload() is for main only. */
#ifndef SWITCHBOARD_AUTH_H
#define SWITCHBOARD_AUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <osipparser2/osip_message.h>

#include "switchboard/digest.h"

struct auth;
struct fixbuf;
struct secret;
struct sb_addr;

enum auth_mode {
    AUTH_MODE_NONE,     /* nobody is challenged (a closed LAN) */
    AUTH_MODE_REGISTER, /* REGISTER is */
    AUTH_MODE_ALL,      /* REGISTER and every request from our users */
};

/* "none", "register", "all". Returns 0 or SB_EINVAL. */
int auth_mode_parse(const char *text, enum auth_mode *out);

struct auth_options {
    enum auth_mode mode;
    const char *realm; /* the one realm, or under per_domain the one for requests naming nobody */
    bool per_domain;   /* [registrar] use_domain: each domain is its own realm, users "u@domain" */
    const char *users_path;
    enum digest_alg offer[DIGEST_ALG_COUNT]; /* challenge order */
    size_t offer_count;
    unsigned nonce_ttl_s;       /* a nonce older than this is stale */
    unsigned max_failures;      /* per source address, then it is blocked... */
    unsigned block_s;           /* ...for this long */
    unsigned max_user_failures; /* per user from any address, then new addresses... */
    unsigned user_block_s;      /* ...are refused for this long */
};

enum auth_result {
    AUTH_OK,
    AUTH_NO_CREDENTIALS,  /* none for our realm, or a nonce not ours: challenge */
    AUTH_STALE,           /* right password, old nonce: challenge with stale=true */
    AUTH_BAD_CREDENTIALS, /* wrong password or unknown user: challenge again */
    AUTH_WRONG_USER,      /* authenticated as someone else: 403 */
    AUTH_REPLAY,          /* a nonce-count already used: 403 */
    AUTH_MALFORMED,       /* credentials that do not parse, or name another URI: 400 */
    AUTH_THROTTLED,       /* too many failures from this address: 403 */
};

/* Loads the users file (a broken one fails start-up, saying where).
 * @secret must outlive the auth. */
int auth_create(const struct auth_options *o, const struct secret *secret, struct auth **out);
void auth_destroy(struct auth *a);

/* Re-reads the users file; a broken one is refused (logged with its line)
 * and the old table stays. Main thread only. Returns 0 or the error. */
int auth_reload(struct auth *a);

enum auth_mode auth_mode(const struct auth *a);
const char *auth_realm(const struct auth *a);

/* Checks @req's Authorization (@proxy: Proxy-Authorization) header for our
 * realm: the nonce, an algorithm we offered, the response, the
 * nonce-count, and that the user who authenticated is @expected_user.
 * Under per_domain @expected_user is "user@domain", the credentials must
 * be for the realm named by its domain, and they authenticate
 * "username@realm".
 * @src is where @req came from, over a stream when @reliable: failures
 * are counted against it (UDP and streams apart, so spoofed datagrams
 * cannot block a TCP/TLS phone) and against the user from any address,
 * and either past its limit refuses (AUTH_THROTTLED) every address that
 * has not given this user's right password before (within 7 days). On
 * AUTH_OK, *user_out (may be NULL) receives the authenticated user (260
 * bytes). */
enum auth_result auth_check(struct auth *a, const osip_message_t *req, bool proxy,
                            const char *expected_user, const struct sb_addr *src, bool reliable,
                            char *user_out);

/* Appends one WWW-Authenticate (@proxy: Proxy-Authenticate) header line
 * per offered algorithm to @out, "Name: value" and CRLF, each with a fresh
 * nonce, for the realm @for_user (as auth_check's @expected_user; may be
 * NULL) answers in. Written without printf; @out says if it overflowed. */
void auth_challenge(struct auth *a, struct fixbuf *out, bool proxy, bool stale,
                    const char *for_user);

/* Calls @fn with each user of the users file, in no order (under
 * rcu_read_lock: @fn must not block). */
void auth_each_user(struct auth *a, void (*fn)(void *arg, const char *name), void *arg);

/* HTTP Digest (RFC 7616) with the same users, realm and nonces: the
 * office directory a signed-in softphone page reads. @authorization is
 * the Authorization header's value (NULL or "": none yet), for @method
 * and request-target @target (the digest-uri must be it); any user of
 * the table may pass (its name into @user_out, 260 bytes, may be NULL).
 * Failures count as auth_check's do, against @src over a stream. */
enum auth_result auth_check_http(struct auth *a, const char *method, const char *target,
                                 const char *authorization, const struct sb_addr *src,
                                 char *user_out);

/* Writes the WWW-Authenticate header lines (CRLF each) of an HTTP 401
 * into @out. Returns their length, or 0 when @size is too small. */
size_t auth_http_challenge(struct auth *a, bool stale, char *out, size_t size);

/* For tests: a nonce as auth_challenge would issue now, into @out (64
 * bytes), and the nonce id it carries. */
void auth_nonce_make(struct auth *a, char *out, uint64_t *id);

#endif
