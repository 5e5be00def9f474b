/* Flow tokens in our Record-Route. See flow.h. */
#include "switchboard/flow.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include "switchboard/error.h"
#include "switchboard/types.h"

#define TOKEN_PREFIX "sbf."
/* each stream transport's letter in a token (enum sb_transport; UDP has
 * no connection) */
static const char STREAM_LETTERS[SB_TRANSPORT_COUNT + 1] = "-tswx";

/* Appends one side: hex address bytes, 4 hex digits of port, then for a
 * stream its transport letter and connection id. */
static size_t side_format(const struct flow_side *side, char *out)
{
    if (!side || !side->present) {
        out[0] = '-';
        return 1;
    }
    const struct sb_addr *s = &side->addr;
    const unsigned char *bytes;
    size_t n;
    unsigned port;
    if (s->ss.ss_family == AF_INET6) {
        const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)&s->ss;
        bytes = s6->sin6_addr.s6_addr;
        n = 16;
        port = ntohs(s6->sin6_port);
    } else {
        const struct sockaddr_in *s4 = (const struct sockaddr_in *)&s->ss;
        bytes = (const unsigned char *)&s4->sin_addr.s_addr;
        n = 4;
        port = ntohs(s4->sin_port);
    }
    size_t len = 0;
    for (size_t i = 0; i < n; i++)
        len += (size_t)sprintf(out + len, "%02x", bytes[i]);
    len += (size_t)sprintf(out + len, "%04x", port);
    if (side->transport != SB_UDP && side->transport < SB_TRANSPORT_COUNT)
        len += (size_t)sprintf(out + len, "%c%llx", STREAM_LETTERS[side->transport],
                               (unsigned long long)side->conn);
    return len;
}

int flow_token_format(const struct flow_side *a, const struct flow_side *b, char *buf, size_t size)
{
    if ((!(a && a->present) && !(b && b->present)) || size < FLOW_TOKEN_MAX)
        return SB_EINVAL;
    size_t len = sizeof(TOKEN_PREFIX) - 1;
    memcpy(buf, TOKEN_PREFIX, len);
    len += side_format(a, buf + len);
    buf[len++] = '.';
    len += side_format(b, buf + len);
    buf[len] = '\0';
    return 0;
}

static int hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Reads @len hex digits into @out (len / 2 bytes). */
static bool hex_read(const char *text, size_t len, unsigned char *out)
{
    for (size_t i = 0; i < len; i += 2) {
        int hi = hex_value(text[i]), lo = hex_value(text[i + 1]);
        if (hi < 0 || lo < 0)
            return false;
        out[i / 2] = (unsigned char)(hi << 4 | lo);
    }
    return true;
}

/* Reads the connection suffix "t<hex>" / "s<hex>" of a side. */
static bool conn_parse(const char *text, size_t len, struct flow_side *out)
{
    const char *letter = len ? memchr(STREAM_LETTERS + 1, text[0], SB_TRANSPORT_COUNT - 1) : NULL;
    if (len < 2 || len > 17 || !letter || !text[0])
        return false;
    uint64_t id = 0;
    for (size_t i = 1; i < len; i++) {
        int v = hex_value(text[i]);
        if (v < 0)
            return false;
        id = id << 4 | (uint64_t)v;
    }
    out->transport = (uint8_t)(letter - STREAM_LETTERS);
    out->conn = id;
    return true;
}

/* Parses one side of @len characters. */
static int side_parse(const char *text, size_t len, struct flow_side *out)
{
    unsigned char raw[18];
    memset(out, 0, sizeof(*out));
    if (len == 1 && text[0] == '-')
        return 0;
    size_t addr_len = len >= 36 && (len == 36 || text[36] == 't' || text[36] == 's') ? 36 : 12;
    if (len < addr_len || !hex_read(text, addr_len, raw))
        return SB_ENOTFOUND;
    if (len > addr_len && !conn_parse(text + addr_len, len - addr_len, out))
        return SB_ENOTFOUND;
    struct sb_addr *a = &out->addr;
    if (addr_len == 12) {
        struct sockaddr_in *s4 = (struct sockaddr_in *)&a->ss;
        s4->sin_family = AF_INET;
        memcpy(&s4->sin_addr.s_addr, raw, 4);
        s4->sin_port = htons((uint16_t)(raw[4] << 8 | raw[5]));
        a->len = sizeof(*s4);
    } else {
        struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&a->ss;
        s6->sin6_family = AF_INET6;
        memcpy(s6->sin6_addr.s6_addr, raw, 16);
        s6->sin6_port = htons((uint16_t)(raw[16] << 8 | raw[17]));
        a->len = sizeof(*s6);
    }
    out->present = true;
    return 0;
}

int flow_token_parse(const char *user, struct flow_side *a, struct flow_side *b)
{
    size_t plen = sizeof(TOKEN_PREFIX) - 1;
    if (!user || strncmp(user, TOKEN_PREFIX, plen) != 0)
        return SB_ENOTFOUND;
    const char *first = user + plen;
    const char *dot = strchr(first, '.');
    if (!dot)
        return SB_ENOTFOUND;
    const char *second = dot + 1;
    if (side_parse(first, (size_t)(dot - first), a) != 0 ||
        side_parse(second, strlen(second), b) != 0 || (!a->present && !b->present))
        return SB_ENOTFOUND;
    return 0;
}

bool flow_addr_equal(const struct sb_addr *x, const struct sb_addr *y)
{
    if (x->ss.ss_family != y->ss.ss_family)
        return false;
    if (x->ss.ss_family == AF_INET6) {
        const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)&x->ss;
        const struct sockaddr_in6 *b = (const struct sockaddr_in6 *)&y->ss;
        return a->sin6_port == b->sin6_port &&
               memcmp(&a->sin6_addr, &b->sin6_addr, sizeof(a->sin6_addr)) == 0;
    }
    const struct sockaddr_in *a = (const struct sockaddr_in *)&x->ss;
    const struct sockaddr_in *b = (const struct sockaddr_in *)&y->ss;
    return a->sin_port == b->sin_port && a->sin_addr.s_addr == b->sin_addr.s_addr;
}

const struct flow_side *flow_token_target(bool from_a, const struct flow_side *a,
                                          const struct flow_side *b)
{
    const struct flow_side *to = from_a ? b : a;
    return to->present ? to : NULL; /* the other side's flow, or by R-URI */
}
