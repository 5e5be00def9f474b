/* The proxy's secret and its HMAC. See secret.h. HMAC-SHA-256 is computed
 * from its definition (RFC 2104) over two EVP digests. The key's two pad
 * blocks are hashed once, into two contexts no thread changes: each MAC
 * starts from a copy of them (EVP_MD_CTX_copy_ex() reads its source
 * only), which saves two of the five SHA-256 blocks a short MAC costs.
 * The digest is fetched once: EVP_sha256() would fetch it from the
 * provider again on every EVP_DigestInit_ex(), and fetched EVP_MDs may be
 * shared (OpenSSL 3 "Fetching algorithms"). */
#include "switchboard/secret.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include <openssl/evp.h>

#include "switchboard/error.h"
#include "switchboard/log.h"

#define BLOCK 64 /* SHA-256 block size */

struct secret {
    EVP_MD *sha256;    /* owned; read-only once made */
    EVP_MD_CTX *inner; /* the key ^ ipad block hashed; read-only once made */
    EVP_MD_CTX *outer; /* the key ^ opad block hashed; likewise */
};

/* A context that has hashed @key ^ @pad (one block). */
static EVP_MD_CTX *pad_context(const EVP_MD *md, const unsigned char k[BLOCK], unsigned char pad)
{
    unsigned char block[BLOCK];
    for (size_t i = 0; i < BLOCK; i++)
        block[i] = k[i] ^ pad;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    if (ctx &&
        (EVP_DigestInit_ex(ctx, md, NULL) != 1 || EVP_DigestUpdate(ctx, block, BLOCK) != 1)) {
        EVP_MD_CTX_free(ctx);
        ctx = NULL;
    }
    return ctx;
}

int secret_from_bytes(const void *key, size_t len, struct secret **out)
{
    if (len < 16)
        return SB_EINVAL;
    struct secret *s = calloc(1, sizeof(*s));
    if (!s)
        return SB_ENOMEM;
    unsigned char k[BLOCK] = {0};
    unsigned int n = 0;
    s->sha256 = EVP_MD_fetch(NULL, "SHA2-256", NULL);
    if (!s->sha256 || EVP_Digest(key, len, k, &n, s->sha256, NULL) != 1) {
        secret_free(s);
        return SB_ENOMEM;
    }
    s->inner = pad_context(s->sha256, k, 0x36);
    s->outer = pad_context(s->sha256, k, 0x5c);
    if (!s->inner || !s->outer) {
        secret_free(s);
        return SB_ENOMEM;
    }
    *out = s;
    return 0;
}

int secret_from_file(const char *path, struct secret **out)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        SB_ERROR("secret file %s: %s", path, strerror(errno));
        return SB_ESYS;
    }
    unsigned char buf[4096];
    size_t len = fread(buf, 1, sizeof(buf), f);
    fclose(f);
    int rc = secret_from_bytes(buf, len, out);
    if (rc == SB_EINVAL)
        SB_ERROR("secret file %s: needs at least 16 bytes (e.g. head -c 32 /dev/urandom)", path);
    return rc;
}

int secret_random(struct secret **out, unsigned char key_out[SECRET_KEY_BYTES])
{
    unsigned char key[SECRET_KEY_BYTES];
    if (getrandom(key, sizeof(key), 0) != (ssize_t)sizeof(key))
        return SB_ESYS;
    if (key_out)
        memcpy(key_out, key, sizeof(key));
    return secret_from_bytes(key, sizeof(key), out);
}

void secret_free(struct secret *s)
{
    if (!s)
        return;
    EVP_MD_CTX_free(s->inner);
    EVP_MD_CTX_free(s->outer);
    EVP_MD_free(s->sha256);
    free(s);
}

/* Each thread's MAC context, kept: making and freeing one per MAC cost
 * more than hashing a short input. Freed when the thread ends. */
static pthread_key_t ctx_key;
static pthread_once_t ctx_once = PTHREAD_ONCE_INIT;

static void ctx_free(void *ctx)
{
    EVP_MD_CTX_free(ctx);
}

static void ctx_key_make(void)
{
    if (pthread_key_create(&ctx_key, ctx_free) != 0)
        abort(); /* only at start-up, and only out of keys */
}

static EVP_MD_CTX *thread_ctx(void)
{
    pthread_once(&ctx_once, ctx_key_make);
    EVP_MD_CTX *ctx = pthread_getspecific(ctx_key);
    if (!ctx && (ctx = EVP_MD_CTX_new()) != NULL && pthread_setspecific(ctx_key, ctx) != 0) {
        EVP_MD_CTX_free(ctx);
        ctx = NULL;
    }
    return ctx;
}

/* The parts, each after its length (4 bytes, big-endian), hashed into
 * @ctx: gathered into one update when they fit, as they nearly always do
 * (each EVP_DigestUpdate() goes through the provider). */
static bool hash_parts(EVP_MD_CTX *ctx, const char *const *parts, size_t count)
{
    unsigned char buf[1024];
    size_t used = 0;
    for (size_t i = 0; i < count; i++) {
        const char *p = parts[i] ? parts[i] : "";
        size_t len = strlen(p);
        if (len > UINT32_MAX)
            return false;
        unsigned char frame[4] = {len >> 24, len >> 16, len >> 8, len};
        if (used + 4 + len > sizeof(buf)) {
            if (EVP_DigestUpdate(ctx, buf, used) != 1 || EVP_DigestUpdate(ctx, frame, 4) != 1 ||
                EVP_DigestUpdate(ctx, p, len) != 1)
                return false;
            used = 0;
            continue;
        }
        memcpy(buf + used, frame, 4);
        memcpy(buf + used + 4, p, len);
        used += 4 + len;
    }
    return EVP_DigestUpdate(ctx, buf, used) == 1;
}

void secret_mac(const struct secret *s, const char *const *parts, size_t count,
                unsigned char out[SECRET_MAC_BYTES])
{
    unsigned char inner[SECRET_MAC_BYTES];
    unsigned int n = 0;
    EVP_MD_CTX *ctx = thread_ctx();
    bool ok = ctx && EVP_MD_CTX_copy_ex(ctx, s->inner) == 1 && hash_parts(ctx, parts, count) &&
              EVP_DigestFinal_ex(ctx, inner, &n) == 1 && EVP_MD_CTX_copy_ex(ctx, s->outer) == 1 &&
              EVP_DigestUpdate(ctx, inner, n) == 1 && EVP_DigestFinal_ex(ctx, out, &n) == 1;
    if (!ok)
        memset(out, 0, SECRET_MAC_BYTES); /* never equals a real MAC by chance */
}

bool secret_equal(const void *a, const void *b, size_t len)
{
    const unsigned char *x = a, *y = b;
    unsigned char diff = 0;
    for (size_t i = 0; i < len; i++)
        diff |= (unsigned char)(x[i] ^ y[i]);
    return diff == 0;
}

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

size_t secret_b64url(const unsigned char *data, size_t len, char *out)
{
    size_t n = 0;
    for (size_t i = 0; i < len; i += 3) {
        uint32_t v = (uint32_t)data[i] << 16;
        if (i + 1 < len)
            v |= (uint32_t)data[i + 1] << 8;
        if (i + 2 < len)
            v |= data[i + 2];
        out[n++] = b64[(v >> 18) & 63];
        out[n++] = b64[(v >> 12) & 63];
        if (i + 1 < len)
            out[n++] = b64[(v >> 6) & 63];
        if (i + 2 < len)
            out[n++] = b64[v & 63];
    }
    out[n] = '\0';
    return n;
}

static int b64_value(char c)
{
    const char *p = c ? strchr(b64, c) : NULL;
    return p ? (int)(p - b64) : -1;
}

long secret_b64url_decode(const char *text, size_t len, unsigned char *out, size_t size)
{
    if (len % 4 == 1)
        return -1;
    size_t n = 0;
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < len; i++) {
        int v = b64_value(text[i]);
        if (v < 0)
            return -1;
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            if (n == size)
                return -1;
            out[n++] = (unsigned char)(acc >> bits);
        }
    }
    return (long)n;
}
