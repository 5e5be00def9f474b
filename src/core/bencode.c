/* Bencoding, written and read. See bencode.h. */
#include "switchboard/bencode.h"

#include <limits.h>
#include <stdint.h>
#include <string.h>

#include "switchboard/buf.h"
#include "switchboard/error.h"

/* --- writing ---------------------------------------------------------------- */

void bencode_str(struct sb_buf *b, const char *s, size_t len)
{
    sb_buf_uint(b, len);
    sb_buf_append(b, ":", 1);
    sb_buf_append(b, s, len);
}

void bencode_cstr(struct sb_buf *b, const char *s)
{
    bencode_str(b, s, strlen(s));
}

void bencode_int(struct sb_buf *b, long long v)
{
    sb_buf_append(b, "i", 1);
    sb_buf_int(b, v);
    sb_buf_append(b, "e", 1);
}

void bencode_list(struct sb_buf *b)
{
    sb_buf_append(b, "l", 1);
}

void bencode_dict(struct sb_buf *b)
{
    sb_buf_append(b, "d", 1);
}

void bencode_end(struct sb_buf *b)
{
    sb_buf_append(b, "e", 1);
}

/* --- reading ---------------------------------------------------------------- */

struct reader {
    const char *buf;
    size_t len, pos;
    struct bencode_node *nodes;
    size_t max, count;
};

/* Digits from r->pos up to @stop, as a number without a leading zero
 * (but "0" itself). Returns false on anything else or an overflow. */
static bool read_digits(struct reader *r, char stop, unsigned long long limit,
                        unsigned long long *out)
{
    size_t start = r->pos;
    unsigned long long v = 0;
    const unsigned long long most = limit / 10; /* v * 10 + d <= limit, divided once */
    const unsigned last = (unsigned)(limit % 10);
    while (r->pos < r->len && r->buf[r->pos] >= '0' && r->buf[r->pos] <= '9') {
        unsigned d = (unsigned)(r->buf[r->pos] - '0');
        if (v > most || (v == most && d > last))
            return false;
        v = v * 10 + d;
        r->pos++;
    }
    size_t n = r->pos - start;
    if (n == 0 || (n > 1 && r->buf[start] == '0') || r->pos >= r->len || r->buf[r->pos] != stop)
        return false;
    r->pos++;
    *out = v;
    return true;
}

static int read_string(struct reader *r, struct bencode_node *n)
{
    unsigned long long len;
    if (!read_digits(r, ':', SIZE_MAX, &len) || len > r->len - r->pos)
        return SB_EMALFORMED;
    n->type = BENCODE_STR;
    n->str = r->buf + r->pos;
    n->len = (size_t)len;
    r->pos += (size_t)len;
    return 0;
}

static int read_int(struct reader *r, struct bencode_node *n)
{
    r->pos++; /* 'i' */
    bool negative = r->pos < r->len && r->buf[r->pos] == '-';
    if (negative)
        r->pos++;
    unsigned long long v;
    unsigned long long limit = negative ? (unsigned long long)LLONG_MAX + 1 : LLONG_MAX;
    if (!read_digits(r, 'e', limit, &v) || (negative && v == 0)) /* "-0" is not canonical */
        return SB_EMALFORMED;
    n->type = BENCODE_INT;
    n->num = negative ? (long long)(0 - v) : (long long)v;
    return 0;
}

static int read_value(struct reader *r, unsigned depth);

/* The items of a list or dictionary up to its 'e'; a dictionary's keys
 * must be strings. */
static int read_items(struct reader *r, bool dict, unsigned depth)
{
    for (bool key = dict;; key = dict && !key) {
        if (r->pos >= r->len)
            return SB_EMALFORMED;
        if (r->buf[r->pos] == 'e') {
            r->pos++;
            return !dict || key ? 0 : SB_EMALFORMED; /* not a key without its value */
        }
        if (key && (r->buf[r->pos] < '0' || r->buf[r->pos] > '9'))
            return SB_EMALFORMED;
        int rc = read_value(r, depth + 1);
        if (rc != 0)
            return rc;
    }
}

static int read_value(struct reader *r, unsigned depth)
{
    if (depth > BENCODE_DEPTH || r->pos >= r->len)
        return SB_EMALFORMED;
    if (r->count == r->max)
        return SB_ELIMIT;
    size_t i = r->count++;
    struct bencode_node *n = &r->nodes[i];
    memset(n, 0, sizeof(*n));
    char c = r->buf[r->pos];
    int rc;
    if (c == 'i') {
        rc = read_int(r, n);
    } else if (c == 'l' || c == 'd') {
        n->type = c == 'l' ? BENCODE_LIST : BENCODE_DICT;
        r->pos++;
        rc = read_items(r, c == 'd', depth);
    } else {
        rc = read_string(r, n);
    }
    r->nodes[i].next = r->count;
    return rc;
}

long bencode_parse(const char *buf, size_t len, struct bencode_node *nodes, size_t max,
                   size_t *count)
{
    struct reader r = {.buf = buf, .len = len, .nodes = nodes, .max = max};
    int rc = len > LONG_MAX ? SB_ELIMIT : read_value(&r, 1);
    *count = rc == 0 ? r.count : 0;
    return rc == 0 ? (long)r.pos : rc;
}

bool bencode_is(const struct bencode_node *nodes, long i, const char *s)
{
    size_t n = strlen(s);
    return i >= 0 && nodes[i].type == BENCODE_STR && nodes[i].len == n &&
           memcmp(nodes[i].str, s, n) == 0;
}

long bencode_get(const struct bencode_node *nodes, size_t dict, const char *key)
{
    if (nodes[dict].type != BENCODE_DICT)
        return -1;
    for (size_t k = dict + 1; k < nodes[dict].next; k = nodes[k + 1].next)
        if (bencode_is(nodes, (long)k, key))
            return (long)k + 1;
    return -1;
}

void bencode_write(struct sb_buf *b, const struct bencode_node *nodes, size_t i)
{
    const struct bencode_node *n = &nodes[i];
    switch (n->type) {
    case BENCODE_STR:
        bencode_str(b, n->str, n->len);
        return;
    case BENCODE_INT:
        bencode_int(b, n->num);
        return;
    case BENCODE_LIST:
    case BENCODE_DICT:
        sb_buf_append(b, n->type == BENCODE_LIST ? "l" : "d", 1);
        for (size_t c = i + 1; c < n->next; c = nodes[c].next)
            bencode_write(b, nodes, c);
        bencode_end(b);
        return;
    }
}
