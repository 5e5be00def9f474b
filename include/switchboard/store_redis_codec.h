/* What the Redis backend reads and writes, without a connection: its URL
 * and a binding as a hash field and value (store_redis.h: DATA MODEL).
 * Pure; the backend, the settings and the fuzzer use it. */
#ifndef SWITCHBOARD_STORE_REDIS_CODEC_H
#define SWITCHBOARD_STORE_REDIS_CODEC_H

#include <stddef.h>
#include <stdint.h>

struct registrar_binding;
struct sb_buf;

/* redis://[[USER]:PASSWORD@]HOST[:PORT][/DB] */
struct store_redis_url {
    char host[256];
    int port;
    int db;
    char user[128];
    char password[256];
};

/* Parses @url. Returns 0 or SB_EINVAL. */
int store_redis_parse_url(const char *url, struct store_redis_url *out);

/* The hash field naming binding @b into @out. */
void store_redis_field(const struct registrar_binding *b, struct sb_buf *out);

/* Appends binding @b as stored: netstrings "LEN:BYTES," (a NULL string is
 * "~,") for cseq, expiry (Unix ms: expires_at_ms + @wall_offset_ms),
 * Call-ID, @node, contact, URI, instance, User-Agent, q, nat, transport,
 * listen index, source, local address and connection id. The first three
 * are what the script compares. */
void store_redis_encode(const struct registrar_binding *b, int64_t wall_offset_ms, const char *node,
                        struct sb_buf *out);

/* Decodes what store_redis_encode() wrote, in place: @text (NUL-terminated,
 * @len bytes) is modified and *@b's strings point into it; expires_at_ms is
 * Unix ms. Returns 0 or SB_EMALFORMED. */
int store_redis_decode(char *text, size_t len, struct registrar_binding *b);

#endif
