/* Address ranges. See cidr.h. */
#include "switchboard/cidr.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "switchboard/error.h"
#include "switchboard/types.h"

static int parse_port(const char *text, unsigned *port)
{
    char *end;
    unsigned long v = strtoul(text, &end, 10);
    if (!*text || *end || v == 0 || v > 65535)
        return SB_EINVAL;
    *port = (unsigned)v;
    return 0;
}

/* "ADDR[/BITS]" into @r. */
static int parse_prefix(char *text, struct cidr_range *r)
{
    char *slash = strchr(text, '/');
    if (slash)
        *slash = '\0';
    unsigned max;
    if (inet_pton(AF_INET, text, r->addr) == 1) {
        r->family = AF_INET;
        max = 32;
    } else if (inet_pton(AF_INET6, text, r->addr) == 1) {
        r->family = AF_INET6;
        max = 128;
    } else {
        return SB_EINVAL;
    }
    r->bits = max;
    if (slash) {
        char *end;
        unsigned long bits = strtoul(slash + 1, &end, 10);
        if (!slash[1] || *end || bits > max)
            return SB_EINVAL;
        r->bits = (unsigned)bits;
    }
    for (unsigned i = r->bits; i < max; i++)
        r->addr[i / 8] &= (unsigned char)~(0x80u >> (i % 8));
    return 0;
}

/* One entry, trimmed: "[v6/bits]:port", "v4/bits:port" or either alone. */
static int parse_entry(char *text, struct cidr_range *r)
{
    memset(r, 0, sizeof(*r));
    char *port = NULL;
    if (text[0] == '[') {
        char *close = strchr(text, ']');
        if (!close || (close[1] && close[1] != ':'))
            return SB_EINVAL;
        *close = '\0';
        port = close[1] ? close + 2 : NULL;
        text++;
    } else if (strchr(text, ':') == strrchr(text, ':')) { /* v4: at most one colon */
        port = strchr(text, ':');
        if (port)
            *port++ = '\0';
    }
    if (port && parse_port(port, &r->port) != 0)
        return SB_EINVAL;
    return parse_prefix(text, r);
}

static char *trim(char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    char *end = s + strlen(s);
    while (end > s && (end[-1] == ' ' || end[-1] == '\t'))
        *--end = '\0';
    return s;
}

int cidr_list_parse(const char *text, struct cidr_list *out, char *err, size_t err_size)
{
    memset(out, 0, sizeof(*out));
    if (!text || !*text)
        return 0;
    char *copy = strdup(text);
    size_t cap = 1;
    for (const char *c = text; *c; c++)
        cap += *c == ',';
    out->items = calloc(cap, sizeof(*out->items));
    if (!copy || !out->items) {
        free(copy);
        cidr_list_free(out);
        return SB_ENOMEM;
    }
    char *save = NULL;
    for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        char *entry = trim(tok);
        char shown[128];
        snprintf(shown, sizeof(shown), "%s", entry);
        if (!*entry)
            continue;
        if (parse_entry(entry, &out->items[out->count]) != 0) {
            snprintf(err, err_size, "bad address range '%s' (want CIDR[:PORT])", shown);
            free(copy);
            cidr_list_free(out);
            return SB_EINVAL;
        }
        out->count++;
    }
    free(copy);
    return 0;
}

void cidr_list_free(struct cidr_list *list)
{
    free(list->items);
    list->items = NULL;
    list->count = 0;
}

static bool prefix_equal(const unsigned char *a, const unsigned char *net, unsigned bits)
{
    for (unsigned i = 0; i < bits / 8; i++)
        if (a[i] != net[i])
            return false;
    unsigned rest = bits % 8;
    if (rest == 0)
        return true;
    unsigned char mask = (unsigned char)(0xffu << (8 - rest));
    return (a[bits / 8] & mask) == net[bits / 8];
}

bool cidr_list_match(const struct cidr_list *list, const struct sb_addr *addr)
{
    const unsigned char *bytes;
    int family = addr->ss.ss_family;
    unsigned port;
    if (family == AF_INET) {
        const struct sockaddr_in *s4 = (const struct sockaddr_in *)&addr->ss;
        bytes = (const unsigned char *)&s4->sin_addr;
        port = ntohs(s4->sin_port);
    } else if (family == AF_INET6) {
        const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)&addr->ss;
        bytes = s6->sin6_addr.s6_addr;
        port = ntohs(s6->sin6_port);
        if (IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr)) {
            family = AF_INET;
            bytes += 12;
        }
    } else {
        return false;
    }
    for (size_t i = 0; i < list->count; i++) {
        const struct cidr_range *r = &list->items[i];
        if (r->family == family && (!r->port || r->port == port) &&
            prefix_equal(bytes, r->addr, r->bits))
            return true;
    }
    return false;
}
