/* The proxy's secret key: it signs digest nonces (so they need no state)
 * and our Record-Route URIs (so a forged Route cannot use us as a relay).
 * Taken from [auth] secret_file when set (several nodes and restarts then
 * agree), else kept in the registration store (restarts of this node
 * agree), else drawn at random at start. Immutable once made; any thread
 * may use it. */
#ifndef SWITCHBOARD_SECRET_H
#define SWITCHBOARD_SECRET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SECRET_KEY_BYTES 32
#define SECRET_MAC_BYTES 32

struct secret;

/* The key is @len bytes (at least 16), hashed with SHA-256. */
int secret_from_bytes(const void *key, size_t len, struct secret **out);
/* The key is the content of @path (at least 16 bytes). Returns 0,
 * SB_ESYS (unreadable) or SB_EINVAL (too short). */
int secret_from_file(const char *path, struct secret **out);
/* A fresh random key; @key_out (may be NULL) receives it, to be kept. */
int secret_random(struct secret **out, unsigned char key_out[SECRET_KEY_BYTES]);
void secret_free(struct secret *s);

/* HMAC-SHA-256 over @count strings, each framed by its length so that no
 * two different lists give the same input. */
void secret_mac(const struct secret *s, const char *const *parts, size_t count,
                unsigned char out[SECRET_MAC_BYTES]);

/* Compares @len bytes in constant time (for MACs and digests). */
bool secret_equal(const void *a, const void *b, size_t len);

/* Base64url without padding of @len bytes into @out (4 * ceil(len / 3) + 1
 * bytes are enough). Returns the length written. */
size_t secret_b64url(const unsigned char *data, size_t len, char *out);
/* Decodes base64url without padding into @out (at most @size bytes).
 * Returns the byte count, or -1 when @text is not base64url. */
long secret_b64url_decode(const char *text, size_t len, unsigned char *out, size_t size);

#endif
