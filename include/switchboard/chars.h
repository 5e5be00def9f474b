/* Character classes the parsers and editors share (RFC 3261 §25.1). */
#ifndef SWITCHBOARD_CHARS_H
#define SWITCHBOARD_CHARS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A blank inside a line: SP or HTAB (LWS without its CRLF). */
static inline bool chars_blank(char c)
{
    return c == ' ' || c == '\t';
}

static inline bool chars_alnum(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

/* RFC 3261 §25.1 token: alphanum and -.!%*_+`'~ */
static inline bool chars_token(char c)
{
    switch (c) {
    case '-':
    case '.':
    case '!':
    case '%':
    case '*':
    case '_':
    case '+':
    case '`':
    case '\'':
    case '~':
        return true;
    default:
        return chars_alnum(c);
    }
}

/* Base64url's alphabet (RFC 4648 §5), as secret_b64url() writes it. */
static inline bool chars_b64url(char c)
{
    return chars_alnum(c) || c == '-' || c == '_';
}

/* @v in decimal at the end of @out; returns where its digits start
 * (they run to CHARS_UINT_MAX). */
#define CHARS_UINT_MAX 20
static inline size_t chars_uint(char out[CHARS_UINT_MAX], uint64_t v)
{
    size_t n = CHARS_UINT_MAX;
    do {
        out[--n] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    return n;
}

#endif
