/* Text into a fixed buffer. See fixbuf.h. */
#include "switchboard/fixbuf.h"

#include <string.h>

#include "switchboard/chars.h"

void fixbuf_init(struct fixbuf *b, char *data, size_t size)
{
    *b = (struct fixbuf){.data = data, .size = size};
    data[0] = '\0';
}

void fixbuf_put(struct fixbuf *b, const char *s, size_t len)
{
    if (b->over)
        return;
    if (len >= b->size - b->len) {
        b->over = true;
        return;
    }
    memcpy(b->data + b->len, s, len);
    b->len += len;
}

void fixbuf_puts(struct fixbuf *b, const char *s)
{
    if (s)
        fixbuf_put(b, s, strlen(s));
}

void fixbuf_char(struct fixbuf *b, char c)
{
    fixbuf_put(b, &c, 1);
}

void fixbuf_uint(struct fixbuf *b, uint64_t v)
{
    char digits[CHARS_UINT_MAX];
    size_t n = chars_uint(digits, v);
    fixbuf_put(b, digits + n, sizeof(digits) - n);
}

static const char hex_digits[] = "0123456789abcdef";

void fixbuf_hex(struct fixbuf *b, uint64_t v)
{
    char digits[16];
    size_t n = sizeof(digits);
    do {
        digits[--n] = hex_digits[v & 15];
        v >>= 4;
    } while (v);
    fixbuf_put(b, digits + n, sizeof(digits) - n);
}

void fixbuf_hex_width(struct fixbuf *b, uint64_t v, unsigned width)
{
    char digits[16];
    if (width > sizeof(digits))
        width = sizeof(digits);
    for (unsigned i = width; i-- > 0; v >>= 4)
        digits[i] = hex_digits[v & 15];
    fixbuf_put(b, digits, width);
}

long fixbuf_end(struct fixbuf *b)
{
    b->data[b->len] = '\0';
    return b->over ? -1 : (long)b->len;
}
