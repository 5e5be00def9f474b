/* Text composed into a caller's fixed buffer without printf: for the
 * header values the proxy writes on every forwarded message (our Via and
 * Record-Route, keys), where vfprintf's format parsing and the strlen()
 * of each argument cost more than the copy. Overflow marks the buffer
 * and later appends do nothing, so callers check once, at fixbuf_end(). */
#ifndef SWITCHBOARD_FIXBUF_H
#define SWITCHBOARD_FIXBUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct fixbuf {
    char *data;
    size_t len;
    size_t size; /* of data, its NUL included */
    bool over;
};

/* @data, @size bytes (at least 1), starts empty. */
void fixbuf_init(struct fixbuf *b, char *data, size_t size);
void fixbuf_put(struct fixbuf *b, const char *s, size_t len);
void fixbuf_puts(struct fixbuf *b, const char *s); /* NULL puts nothing */
void fixbuf_char(struct fixbuf *b, char c);
void fixbuf_uint(struct fixbuf *b, uint64_t v); /* decimal */
void fixbuf_hex(struct fixbuf *b, uint64_t v);  /* lower-case, no leading zeros */
/* the low @width hex digits of @v (at most 16), zero-padded */
void fixbuf_hex_width(struct fixbuf *b, uint64_t v, unsigned width);
/* NUL-terminates. Returns the length, or -1 if it did not fit (the
 * buffer then holds a truncated, still terminated, text). */
long fixbuf_end(struct fixbuf *b);

#endif
