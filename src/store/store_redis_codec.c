/* How one binding is spelled in the Redis store, and the store's URL. Pure
 * functions (any thread), kept apart from the connection code so that the
 * unit tests and the fuzzer reach them without a server. See
 * store_redis.h. */
#include "switchboard/store_redis_codec.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "switchboard/buf.h"
#include "switchboard/error.h"
#include "switchboard/registrar.h"
#include "switchboard/sip_msg.h"

/* --- the URL ------------------------------------------------------------------ */

static int copy_part(char *dst, size_t size, const char *src, size_t len)
{
    if (len >= size)
        return SB_EINVAL;
    memcpy(dst, src, len);
    dst[len] = '\0';
    return 0;
}

static bool parse_int(const char *s, size_t len, long lo, long hi, int *out)
{
    char buf[16];
    if (len == 0 || len >= sizeof(buf))
        return false;
    memcpy(buf, s, len);
    buf[len] = '\0';
    char *end;
    errno = 0;
    long v = strtol(buf, &end, 10);
    if (errno || *end || v < lo || v > hi || buf[0] == '-' || buf[0] == '+')
        return false;
    *out = (int)v;
    return true;
}

/* [USER]:PASSWORD before the '@' */
static int parse_userinfo(const char *s, size_t len, struct store_redis_url *u)
{
    const char *colon = memchr(s, ':', len);
    if (!colon)
        return copy_part(u->password, sizeof(u->password), s, len); /* redis://PASSWORD@ */
    if (copy_part(u->user, sizeof(u->user), s, (size_t)(colon - s)) != 0)
        return SB_EINVAL;
    return copy_part(u->password, sizeof(u->password), colon + 1, len - (size_t)(colon - s) - 1);
}

/* HOST[:PORT], HOST possibly a bracketed IPv6 address */
static int parse_hostport(const char *s, size_t len, struct store_redis_url *u)
{
    const char *port = NULL;
    if (len && s[0] == '[') {
        const char *close = memchr(s, ']', len);
        if (!close || copy_part(u->host, sizeof(u->host), s + 1, (size_t)(close - s - 1)) != 0)
            return SB_EINVAL;
        if (close + 1 < s + len) {
            if (close[1] != ':')
                return SB_EINVAL;
            port = close + 2;
        }
    } else {
        const char *colon = memchr(s, ':', len);
        size_t hlen = colon ? (size_t)(colon - s) : len;
        if (copy_part(u->host, sizeof(u->host), s, hlen) != 0)
            return SB_EINVAL;
        port = colon ? colon + 1 : NULL;
    }
    if (!u->host[0])
        return SB_EINVAL;
    if (port && !parse_int(port, (size_t)(s + len - port), 1, 65535, &u->port))
        return SB_EINVAL;
    return 0;
}

int store_redis_parse_url(const char *url, struct store_redis_url *out)
{
    memset(out, 0, sizeof(*out));
    out->port = 6379;
    if (strncmp(url, "redis://", 8) != 0)
        return SB_EINVAL;
    const char *s = url + 8;
    const char *slash = strchr(s, '/');
    const char *end = slash ? slash : s + strlen(s);
    const char *at = memchr(s, '@', (size_t)(end - s));
    if (at) {
        if (parse_userinfo(s, (size_t)(at - s), out) != 0)
            return SB_EINVAL;
        s = at + 1;
    }
    if (parse_hostport(s, (size_t)(end - s), out) != 0)
        return SB_EINVAL;
    if (slash && slash[1] && !parse_int(slash + 1, strlen(slash + 1), 0, 1000000, &out->db))
        return SB_EINVAL;
    return 0;
}

/* --- one binding ---------------------------------------------------------------- */

void store_redis_field(const struct registrar_binding *b, struct sb_buf *out)
{
    sb_buf_puts(out, b->instance ? "i:" : "u:");
    sb_buf_puts(out, b->instance ? b->instance : b->uri);
}

static void put_str(struct sb_buf *out, const char *s)
{
    if (!s) {
        sb_buf_puts(out, "~,");
        return;
    }
    size_t len = strlen(s);
    sb_buf_printf(out, "%zu:", len);
    sb_buf_append(out, s, len);
    sb_buf_puts(out, ",");
}

static void put_num(struct sb_buf *out, long long v)
{
    char num[24];
    snprintf(num, sizeof(num), "%lld", v);
    put_str(out, num);
}

void store_redis_encode(const struct registrar_binding *b, int64_t wall_offset_ms, const char *node,
                        struct sb_buf *out)
{
    char source[64], local[64];
    sipmsg_addr_format(&b->source, source, sizeof(source));
    sipmsg_addr_format(&b->local.addr, local, sizeof(local));
    put_num(out, b->cseq);
    put_num(out, (long long)b->expires_at_ms + wall_offset_ms);
    put_str(out, b->call_id ? b->call_id : "");
    put_str(out, node);
    put_str(out, b->contact);
    put_str(out, b->uri);
    put_str(out, b->instance);
    put_str(out, b->user_agent);
    put_num(out, b->q);
    put_num(out, b->use_source);
    put_num(out, b->transport);
    put_num(out, b->local.listen_index);
    put_str(out, source);
    put_str(out, local);
    put_num(out, (long long)b->conn);
}

/* Takes the next netstring at *@pos; NULL for "~,". Sets *@bad when the
 * text is not a netstring. */
static const char *take(char *text, size_t len, size_t *pos, bool *bad)
{
    if (*bad || *pos >= len) {
        *bad = true;
        return NULL;
    }
    if (text[*pos] == '~') {
        *bad = *pos + 1 >= len || text[*pos + 1] != ',';
        *pos += 2;
        return NULL;
    }
    size_t n = 0, i = *pos;
    while (i < len && text[i] >= '0' && text[i] <= '9' && n < len)
        n = n * 10 + (size_t)(text[i++] - '0');
    if (i == *pos || i >= len || text[i] != ':' || n > len - i - 1 || i + 1 + n >= len ||
        text[i + 1 + n] != ',') {
        *bad = true;
        return NULL;
    }
    char *s = text + i + 1;
    s[n] = '\0'; /* the comma */
    if (strlen(s) != n)
        *bad = true; /* a NUL inside */
    *pos = i + 2 + n;
    return s;
}

static long long take_num(char *text, size_t len, size_t *pos, long long lo, long long hi,
                          bool *bad)
{
    const char *s = take(text, len, pos, bad);
    if (!s || !*s) {
        *bad = true;
        return 0;
    }
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || *end || v < lo || v > hi)
        *bad = true;
    return v;
}

int store_redis_decode(char *text, size_t len, struct registrar_binding *b)
{
    memset(b, 0, sizeof(*b));
    size_t pos = 0;
    bool bad = false;
    b->cseq = (uint32_t)take_num(text, len, &pos, 0, UINT32_MAX, &bad);
    b->expires_at_ms = (uint64_t)take_num(text, len, &pos, 0, INT64_MAX / 2, &bad);
    b->call_id = take(text, len, &pos, &bad);
    b->node = take(text, len, &pos, &bad);
    b->contact = take(text, len, &pos, &bad);
    b->uri = take(text, len, &pos, &bad);
    b->instance = take(text, len, &pos, &bad);
    b->user_agent = take(text, len, &pos, &bad);
    b->q = (unsigned)take_num(text, len, &pos, 0, 1000, &bad);
    b->use_source = take_num(text, len, &pos, 0, 1, &bad) != 0;
    b->transport = (uint8_t)take_num(text, len, &pos, 0, 2, &bad);
    b->local.listen_index = (unsigned)take_num(text, len, &pos, 0, 1024, &bad);
    const char *source = take(text, len, &pos, &bad);
    const char *local = take(text, len, &pos, &bad);
    b->conn = (uint64_t)take_num(text, len, &pos, 0, INT64_MAX, &bad);
    if (bad || pos != len || !b->call_id || !b->node || !b->contact || !b->uri || !source ||
        !local || sipmsg_addr_parse(source, &b->source) != 0 ||
        sipmsg_addr_parse(local, &b->local.addr) != 0)
        return SB_EMALFORMED;
    return 0;
}
