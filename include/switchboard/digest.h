/* HTTP digest as SIP uses it (RFC 3261 §22.4, RFC 7616, RFC 8760): hashes,
 * the response a client must send, and reading the credentials out of an
 * Authorization or Proxy-Authorization header. Pure functions: no secrets,
 * no state; any thread. */
#ifndef SWITCHBOARD_DIGEST_H
#define SWITCHBOARD_DIGEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <osipparser2/headers/osip_authorization.h>
#include <osipparser2/headers/osip_www_authenticate.h>

enum digest_alg {
    DIGEST_MD5,    /* "MD5", RFC 2617 */
    DIGEST_SHA256, /* "SHA-256", RFC 7616 / RFC 8760 */
    DIGEST_ALG_COUNT,
};

#define DIGEST_HEX_MAX 65 /* SHA-256 in hex, with its NUL */

/* What a client sent, unquoted. The strings are bounded copies, so the
 * message may go while they are used. */
struct digest_credentials {
    enum digest_alg alg;
    char username[128];
    char realm[128];
    char nonce[128];
    char uri[512];
    char response[DIGEST_HEX_MAX];
    char cnonce[128];
    char nc[9]; /* eight hex digits, as sent */
    uint32_t nc_value;
    bool qop_auth; /* qop=auth (the only qop we offer) */
};

/* "MD5" / "SHA-256" (names are case-insensitive; a missing algorithm is
 * MD5). Returns 0 or SB_EINVAL. */
int digest_alg_parse(const char *name, enum digest_alg *out);
const char *digest_alg_name(enum digest_alg alg);
/* Reads a list like "SHA-256, MD5" into @offer, in order, each at most
 * once. Returns how many, or SB_EINVAL / SB_ENOMEM. */
int digest_alg_list_parse(const char *text, enum digest_alg offer[DIGEST_ALG_COUNT]);
/* Hex length of the algorithm's hash (32 or 64). */
size_t digest_hex_len(enum digest_alg alg);

/* Hashes @len bytes into lower-case hex (@hex: DIGEST_HEX_MAX bytes). */
void digest_hash_hex(enum digest_alg alg, const void *data, size_t len, char *hex);

/* HA1 = H(user:realm:password), what htdigest stores, into @hex. */
void digest_ha1(enum digest_alg alg, const char *user, const char *realm, const char *password,
                char *hex);

/* The response a client sends with qop=auth (RFC 7616 §3.4.1):
 * H(HA1:nonce:nc:cnonce:auth:H(method:uri)), into @hex. */
void digest_response(enum digest_alg alg, const char *ha1_hex, const char *nonce, const char *nc,
                     const char *cnonce, const char *method, const char *uri, char *hex);

/* Reads a parsed Authorization / Proxy-Authorization header. Returns 0,
 * SB_EMALFORMED (not Digest, a parameter missing or too long, a bad nc,
 * an unknown algorithm). qop other than auth is malformed; a missing qop
 * leaves qop_auth false (the caller refuses it: we always offer auth). */
int digest_credentials_read(const osip_authorization_t *a, struct digest_credentials *out);

/* What we, as a client, answer a challenge with (RFC 3261 §22.2-22.4). */
struct digest_client {
    const char *user, *password;
    const char *method, *uri; /* the request's method and Request-URI */
    const char *cnonce;       /* ours for qop=auth: random, no quotes */
    unsigned nc;              /* how many times this nonce was used, from 1 */
};

/* The value of an Authorization / Proxy-Authorization header answering
 * @chal (a WWW- or Proxy-Authenticate; MD5 or SHA-256, with qop=auth when
 * offered, else RFC 2069's response) into @out. Returns 0, SB_EINVAL (not
 * Digest, an algorithm or qop we cannot do, no nonce) or SB_ERANGE. */
int digest_client_answer(const osip_www_authenticate_t *chal, const struct digest_client *c,
                         char *out, size_t size);

#endif
