/* The ng protocol without a socket. See ng.h. */
#include "switchboard/ng.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "switchboard/bencode.h"
#include "switchboard/buf.h"
#include "switchboard/config.h"
#include "switchboard/error.h"
#include "switchboard/hash.h"
#include "switchboard/sip_msg.h"

/* --- the engines -------------------------------------------------------------- */

/* Trims blanks at both ends of @s (modified in place). */
static char *trim(char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    size_t n = strlen(s);
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t'))
        s[--n] = '\0';
    return s;
}

/* ";weight=N" and nothing else after the address. */
static int engine_params(char *params, unsigned *weight)
{
    *weight = 1;
    if (!params)
        return 0;
    if (strncmp(params, "weight=", 7) != 0)
        return SB_EINVAL;
    return config_parse_unsigned(params + 7, 1, NG_MAX_WEIGHT, weight);
}

static int engine_parse(char *text, struct ng_engine *e, char *why, size_t why_size)
{
    char *params = strchr(text, ';');
    if (params)
        *params++ = '\0';
    char host[64];
    unsigned port;
    if (strncmp(text, "udp:", 4) != 0 ||
        config_parse_hostport(text + 4, host, sizeof(host), &port) != 0) {
        snprintf(why, why_size, "'%s': want udp:ADDRESS:PORT[;weight=N]", text);
        return SB_EINVAL;
    }
    if (sipmsg_host_to_addr(host, port, &e->addr) != 0) {
        snprintf(why, why_size, "'%s': an IP address, not a name", text);
        return SB_EINVAL;
    }
    if (engine_params(params, &e->weight) != 0) {
        snprintf(why, why_size, "'%s': the only parameter is weight=1..%d", text, NG_MAX_WEIGHT);
        return SB_EINVAL;
    }
    char at[64];
    sipmsg_addr_format(&e->addr, at, sizeof(at));
    snprintf(e->name, sizeof(e->name), "udp:%s", at);
    return 0;
}

int ng_engines_parse(const char *spec, struct ng_engine *out, size_t max, size_t *count, char *why,
                     size_t why_size)
{
    *count = 0;
    char *copy = strdup(spec ? spec : "");
    if (!copy)
        return SB_ENOMEM;
    int rc = 0;
    char *save = NULL;
    for (char *tok = strtok_r(copy, ",", &save); tok && rc == 0; tok = strtok_r(NULL, ",", &save)) {
        char *item = trim(tok);
        if (!*item)
            continue;
        if (*count == max) {
            snprintf(why, why_size, "more than %zu engines", max);
            rc = SB_ELIMIT;
            break;
        }
        rc = engine_parse(item, &out[*count], why, why_size);
        if (rc == 0)
            (*count)++;
    }
    free(copy);
    return rc;
}

int ng_engine_pick(const struct ng_engine *e, size_t n, const bool *up, const char *key,
                   size_t key_len)
{
    uint64_t total = 0;
    for (size_t i = 0; i < n; i++)
        if (up[i])
            total += e[i].weight;
    if (total == 0)
        return -1;
    uint64_t at = sb_hash(key, key_len) % total;
    for (size_t i = 0; i < n; i++) {
        if (!up[i])
            continue;
        if (at < e[i].weight)
            return (int)i;
        at -= e[i].weight;
    }
    return -1; /* not reached */
}

/* --- datagrams --------------------------------------------------------------- */

size_t ng_cookie(char *buf, size_t size, uint32_t instance, uint64_t seq)
{
    int n = snprintf(buf, size, "%08" PRIx32 "-%" PRIx64, instance, seq);
    return n < 0 ? 0 : (size_t)n < size ? (size_t)n : size - 1;
}

void ng_begin(struct sb_buf *b, const char *cookie)
{
    sb_buf_puts(b, cookie);
    sb_buf_append(b, " ", 1);
}

static enum ng_result result_of(const struct bencode_node *nodes, long v)
{
    if (bencode_is(nodes, v, "ok"))
        return NG_OK;
    if (bencode_is(nodes, v, "pong"))
        return NG_PONG;
    if (bencode_is(nodes, v, "error"))
        return NG_ERROR;
    return NG_UNKNOWN;
}

static void string_of(const struct bencode_node *nodes, long v, const char **s, size_t *len)
{
    *s = NULL;
    *len = 0;
    if (v >= 0 && nodes[v].type == BENCODE_STR) {
        *s = nodes[v].str;
        *len = nodes[v].len;
    }
}

int ng_reply_parse(const char *buf, size_t len, struct bencode_node *nodes, size_t max,
                   struct ng_reply *out)
{
    const char *space = memchr(buf, ' ', len);
    if (!space || space == buf)
        return SB_EMALFORMED;
    size_t head = (size_t)(space - buf) + 1, count;
    long took = bencode_parse(buf + head, len - head, nodes, max, &count);
    if (took < 0 || (size_t)took != len - head || nodes[0].type != BENCODE_DICT)
        return SB_EMALFORMED;
    long result = bencode_get(nodes, 0, "result");
    if (result < 0 || nodes[result].type != BENCODE_STR)
        return SB_EMALFORMED;
    out->cookie = buf;
    out->cookie_len = head - 1;
    out->result = result_of(nodes, result);
    string_of(nodes, bencode_get(nodes, 0, "sdp"), &out->sdp, &out->sdp_len);
    string_of(nodes, bencode_get(nodes, 0, "error-reason"), &out->reason, &out->reason_len);
    out->nodes = nodes;
    out->count = count;
    return 0;
}
