/* A growing byte buffer (HAProxy keeps its struct buffer in chunk.c, on
 * the ground floor, for the same reason): for composing text by hand
 * where building a parsed structure would cost more (JSON, metrics,
 * messages the proxy writes itself). An allocation failure marks the
 * buffer failed and later appends do nothing, so callers check once at
 * the end. */
#ifndef SWITCHBOARD_BUF_H
#define SWITCHBOARD_BUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct sb_buf {
    char *data; /* NUL-terminated once anything was appended */
    size_t len;
    size_t cap;
    bool failed;
};

void sb_buf_append(struct sb_buf *b, const char *s, size_t len);
void sb_buf_puts(struct sb_buf *b, const char *s);
/* decimal, without printf: for the numbers written per message */
void sb_buf_uint(struct sb_buf *b, uint64_t v);
void sb_buf_int(struct sb_buf *b, int64_t v);
void sb_buf_printf(struct sb_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void sb_buf_free(struct sb_buf *b);

#endif
