/* Digest hashes and credentials. See digest.h. */
#include "switchboard/digest.h"

#include <ctype.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/evp.h>

#include "switchboard/error.h"

static const char *const alg_names[DIGEST_ALG_COUNT] = {"MD5", "SHA-256"};

int digest_alg_parse(const char *name, enum digest_alg *out)
{
    if (!name || !*name) {
        *out = DIGEST_MD5;
        return 0;
    }
    for (int i = 0; i < DIGEST_ALG_COUNT; i++) {
        if (!strcasecmp(name, alg_names[i])) {
            *out = (enum digest_alg)i;
            return 0;
        }
    }
    return SB_EINVAL;
}

int digest_alg_list_parse(const char *text, enum digest_alg offer[DIGEST_ALG_COUNT])
{
    char *copy = strdup(text ? text : "");
    if (!copy)
        return SB_ENOMEM;
    int n = 0;
    char *save = NULL;
    for (char *tok = strtok_r(copy, ", \t", &save); tok && n >= 0;
         tok = strtok_r(NULL, ", \t", &save)) {
        enum digest_alg alg;
        if (digest_alg_parse(tok, &alg) != 0 || n == DIGEST_ALG_COUNT) {
            n = SB_EINVAL;
            break;
        }
        for (int i = 0; i < n; i++)
            if (offer[i] == alg)
                n = SB_EINVAL;
        if (n >= 0)
            offer[n++] = alg;
    }
    free(copy);
    return n;
}

const char *digest_alg_name(enum digest_alg alg)
{
    return alg < DIGEST_ALG_COUNT ? alg_names[alg] : "?";
}

size_t digest_hex_len(enum digest_alg alg)
{
    return alg == DIGEST_SHA256 ? 64 : 32;
}

/* Fetched once for the process (never freed: they live as long as it).
 * EVP_md5() and EVP_sha256() would fetch again on every digest; fetched
 * EVP_MDs may be shared between threads. */
static EVP_MD *fetched_md5, *fetched_sha256;
static pthread_once_t fetch_once = PTHREAD_ONCE_INIT;

static void fetch_digests(void)
{
    fetched_md5 = EVP_MD_fetch(NULL, "MD5", NULL);
    fetched_sha256 = EVP_MD_fetch(NULL, "SHA2-256", NULL);
}

void digest_hash_hex(enum digest_alg alg, const void *data, size_t len, char *hex)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    pthread_once(&fetch_once, fetch_digests);
    const EVP_MD *type = alg == DIGEST_SHA256 ? fetched_sha256 : fetched_md5;
    if (!type || EVP_Digest(data, len, md, &n, type, NULL) != 1)
        n = 0; /* an empty hash never matches a response */
    static const char digits[] = "0123456789abcdef";
    for (unsigned int i = 0; i < n; i++) {
        hex[2 * i] = digits[md[i] >> 4];
        hex[2 * i + 1] = digits[md[i] & 15];
    }
    hex[2 * n] = '\0';
}

/* Hashes "a:b:c..." (@count parts joined by colons). */
static void hash_parts(enum digest_alg alg, const char *const *parts, size_t count, char *hex)
{
    size_t total = 0;
    for (size_t i = 0; i < count; i++)
        total += strlen(parts[i]) + 1;
    char stack[1024];
    char *buf = total <= sizeof(stack) ? stack : malloc(total);
    if (!buf) {
        hex[0] = '\0';
        return;
    }
    size_t n = 0;
    for (size_t i = 0; i < count; i++) {
        size_t len = strlen(parts[i]);
        memcpy(buf + n, parts[i], len);
        n += len;
        if (i + 1 < count)
            buf[n++] = ':';
    }
    digest_hash_hex(alg, buf, n, hex);
    if (buf != stack)
        free(buf);
}

void digest_ha1(enum digest_alg alg, const char *user, const char *realm, const char *password,
                char *hex)
{
    const char *parts[] = {user, realm, password};
    hash_parts(alg, parts, 3, hex);
}

void digest_response(enum digest_alg alg, const char *ha1_hex, const char *nonce, const char *nc,
                     const char *cnonce, const char *method, const char *uri, char *hex)
{
    char ha2[DIGEST_HEX_MAX];
    const char *a2[] = {method, uri};
    hash_parts(alg, a2, 2, ha2);
    const char *parts[] = {ha1_hex, nonce, nc, cnonce, "auth", ha2};
    hash_parts(alg, parts, 6, hex);
}

/* Copies @value into @out (@size), without the quotes of a quoted-string
 * and with its backslash escapes undone. Returns 0, or SB_EMALFORMED when
 * missing or too long. */
static int unquote(const char *value, char *out, size_t size)
{
    if (!value)
        return SB_EMALFORMED;
    size_t len = strlen(value);
    size_t n = 0;
    if (len >= 2 && value[0] == '"' && value[len - 1] == '"') {
        for (size_t i = 1; i + 1 < len; i++) {
            char c = value[i];
            if (c == '\\' && i + 2 < len)
                c = value[++i];
            if (n + 1 >= size)
                return SB_EMALFORMED;
            out[n++] = c;
        }
    } else {
        if (len >= size || len == 0 || value[0] == '"')
            return SB_EMALFORMED;
        memcpy(out, value, len);
        n = len;
    }
    out[n] = '\0';
    return 0;
}

static bool is_hex(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (!isxdigit((unsigned char)s[i]))
            return false;
    return s[len] == '\0';
}

/* qop and nc, which belong together (RFC 7616 §3.4). */
static int read_qop(const osip_authorization_t *a, struct digest_credentials *out)
{
    char qop[16];
    out->qop_auth = false;
    if (!a->message_qop)
        return a->nonce_count || a->cnonce ? SB_EMALFORMED : 0;
    if (unquote(a->message_qop, qop, sizeof(qop)) != 0 || strcasecmp(qop, "auth") != 0)
        return SB_EMALFORMED;
    if (unquote(a->nonce_count, out->nc, sizeof(out->nc)) != 0 || strlen(out->nc) != 8 ||
        !is_hex(out->nc, 8) || unquote(a->cnonce, out->cnonce, sizeof(out->cnonce)) != 0)
        return SB_EMALFORMED;
    out->nc_value = (uint32_t)strtoul(out->nc, NULL, 16);
    out->qop_auth = true;
    return 0;
}

int digest_credentials_read(const osip_authorization_t *a, struct digest_credentials *out)
{
    char alg[16] = "";
    memset(out, 0, sizeof(*out));
    if (!a->auth_type || strcasecmp(a->auth_type, "Digest") != 0)
        return SB_EMALFORMED;
    if (unquote(a->username, out->username, sizeof(out->username)) != 0 ||
        unquote(a->realm, out->realm, sizeof(out->realm)) != 0 ||
        unquote(a->nonce, out->nonce, sizeof(out->nonce)) != 0 ||
        unquote(a->uri, out->uri, sizeof(out->uri)) != 0 ||
        unquote(a->response, out->response, sizeof(out->response)) != 0)
        return SB_EMALFORMED;
    if (a->algorithm && unquote(a->algorithm, alg, sizeof(alg)) != 0)
        return SB_EMALFORMED;
    if (digest_alg_parse(alg, &out->alg) != 0)
        return SB_EMALFORMED;
    size_t want = digest_hex_len(out->alg);
    if (strlen(out->response) != want || !is_hex(out->response, want))
        return SB_EMALFORMED;
    for (char *c = out->response; *c; c++)
        *c = (char)tolower((unsigned char)*c);
    return read_qop(a, out);
}

/* Does the challenge's qop list ("auth,auth-int") offer auth? */
static bool offers_auth(const char *qop)
{
    char list[128];
    if (unquote(qop, list, sizeof(list)) != 0)
        return false;
    for (char *save, *t = strtok_r(list, ", ", &save); t; t = strtok_r(NULL, ", ", &save))
        if (!strcasecmp(t, "auth"))
            return true;
    return false;
}

int digest_client_answer(const osip_www_authenticate_t *chal, const struct digest_client *c,
                         char *out, size_t size)
{
    char realm[128], nonce[256], opaque[256] = "", alg_name[16] = "MD5";
    enum digest_alg alg;
    if (!chal->auth_type || strcasecmp(chal->auth_type, "Digest") != 0 ||
        unquote(chal->realm, realm, sizeof(realm)) != 0 ||
        unquote(chal->nonce, nonce, sizeof(nonce)) != 0 ||
        (chal->opaque && unquote(chal->opaque, opaque, sizeof(opaque)) != 0) ||
        (chal->algorithm && unquote(chal->algorithm, alg_name, sizeof(alg_name)) != 0) ||
        digest_alg_parse(alg_name, &alg) != 0)
        return SB_EINVAL;
    bool qop = chal->qop_options != NULL;
    if (qop && !offers_auth(chal->qop_options))
        return SB_EINVAL; /* auth-int only */
    char ha1[DIGEST_HEX_MAX], resp[DIGEST_HEX_MAX], nc[9];
    digest_ha1(alg, c->user, realm, c->password, ha1);
    snprintf(nc, sizeof(nc), "%08x", c->nc);
    if (qop) {
        digest_response(alg, ha1, nonce, nc, c->cnonce, c->method, c->uri, resp);
    } else {
        char ha2[DIGEST_HEX_MAX];
        const char *a2[] = {c->method, c->uri};
        hash_parts(alg, a2, 2, ha2);
        const char *parts[] = {ha1, nonce, ha2}; /* RFC 2069 */
        hash_parts(alg, parts, 3, resp);
    }
    int n = snprintf(out, size,
                     "Digest username=\"%s\", realm=\"%s\", nonce=\"%s\", uri=\"%s\", "
                     "response=\"%s\", algorithm=%s%s%s%s",
                     c->user, realm, nonce, c->uri, resp, digest_alg_name(alg),
                     opaque[0] ? ", opaque=\"" : "", opaque, opaque[0] ? "\"" : "");
    if (n >= 0 && (size_t)n < size && qop)
        n += snprintf(out + n, size - (size_t)n, ", qop=auth, nc=%s, cnonce=\"%s\"", nc, c->cnonce);
    return n < 0 || (size_t)n >= size ? SB_ERANGE : 0;
}
