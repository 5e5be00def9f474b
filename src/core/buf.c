/* A growing byte buffer. See buf.h. */
#include "switchboard/buf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "switchboard/chars.h"

void sb_buf_append(struct sb_buf *b, const char *s, size_t len)
{
    if (b->failed)
        return;
    if (b->len + len + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + len + 1)
            cap *= 2;
        char *data = realloc(b->data, cap);
        if (!data) {
            b->failed = true;
            return;
        }
        b->data = data;
        b->cap = cap;
    }
    memcpy(b->data + b->len, s, len);
    b->len += len;
    b->data[b->len] = '\0';
}

void sb_buf_puts(struct sb_buf *b, const char *s)
{
    sb_buf_append(b, s, strlen(s));
}

void sb_buf_uint(struct sb_buf *b, uint64_t v)
{
    char digits[CHARS_UINT_MAX];
    size_t n = chars_uint(digits, v);
    sb_buf_append(b, digits + n, sizeof(digits) - n);
}

void sb_buf_int(struct sb_buf *b, int64_t v)
{
    if (v >= 0) {
        sb_buf_uint(b, (uint64_t)v);
        return;
    }
    sb_buf_append(b, "-", 1);
    sb_buf_uint(b, (uint64_t)0 - (uint64_t)v); /* INT64_MIN too */
}

void sb_buf_printf(struct sb_buf *b, const char *fmt, ...)
{
    char tmp[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
    va_end(ap);
    if (n < 0) {
        b->failed = true;
        return;
    }
    if ((size_t)n < sizeof(tmp)) {
        sb_buf_append(b, tmp, (size_t)n);
        return;
    }
    char *big = malloc((size_t)n + 1);
    if (!big) {
        b->failed = true;
        return;
    }
    va_start(ap, fmt);
    vsnprintf(big, (size_t)n + 1, fmt, ap);
    va_end(ap);
    sb_buf_append(b, big, (size_t)n);
    free(big);
}

void sb_buf_free(struct sb_buf *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}
