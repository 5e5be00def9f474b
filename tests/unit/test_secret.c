/* Unit tests for src/sip/secret.c: the MAC is HMAC-SHA-256 (RFC 2104)
 * keyed with SHA-256 of the secret, over the parts each framed by its
 * length, as OpenSSL's own HMAC() computes it; from several threads at
 * once it stays the same. */
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <pthread.h>
#include <string.h>

#include "switchboard/secret.h"
#include "test_helpers.h"

static void reference(const char *key, const char *const *parts, size_t count,
                      unsigned char out[SECRET_MAC_BYTES])
{
    unsigned char k[32], input[1024];
    unsigned int n = 0;
    size_t len = 0;
    EVP_Digest(key, strlen(key), k, &n, EVP_sha256(), NULL);
    for (size_t i = 0; i < count; i++) {
        uint32_t l = (uint32_t)strlen(parts[i]);
        unsigned char frame[4] = {l >> 24, l >> 16, l >> 8, l};
        memcpy(input + len, frame, 4);
        memcpy(input + len + 4, parts[i], l);
        len += 4 + l;
    }
    HMAC(EVP_sha256(), k, 32, input, len, out, &n);
}

static const char *const parts[] = {"rr2", "call-1@10.0.0.5", "tag-a", "", "65a3f0c1",
                                    "10.0.0.9:5062"};
static const char key[] = "a secret of at least sixteen bytes";

Test(secret, the_mac_is_hmac_sha256)
{
    struct secret *s;
    cr_assert_eq(secret_from_bytes(key, strlen(key), &s), 0);
    unsigned char got[SECRET_MAC_BYTES], want[SECRET_MAC_BYTES];
    for (size_t count = 0; count <= 6; count++) {
        secret_mac(s, parts, count, got);
        reference(key, parts, count, want);
        cr_assert(memcmp(got, want, sizeof(got)) == 0, "%zu parts", count);
    }
    secret_free(s);
}

static void *mac_many(void *arg)
{
    struct secret *s = arg;
    unsigned char first[SECRET_MAC_BYTES], again[SECRET_MAC_BYTES];
    secret_mac(s, parts, 6, first);
    for (int i = 0; i < 2000; i++) {
        secret_mac(s, parts, 6, again);
        if (memcmp(first, again, sizeof(first)) != 0)
            return (void *)1;
    }
    return NULL;
}

Test(secret, threads_share_one_secret)
{
    struct secret *s;
    cr_assert_eq(secret_from_bytes(key, strlen(key), &s), 0);
    pthread_t t[4];
    for (int i = 0; i < 4; i++)
        pthread_create(&t[i], NULL, mac_many, s);
    for (int i = 0; i < 4; i++) {
        void *rc;
        pthread_join(t[i], &rc);
        cr_assert_null(rc);
    }
    unsigned char got[SECRET_MAC_BYTES], want[SECRET_MAC_BYTES];
    secret_mac(s, parts, 6, got);
    reference(key, parts, 6, want);
    cr_assert(memcmp(got, want, sizeof(got)) == 0);
    secret_free(s);
}
