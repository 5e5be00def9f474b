/* UTF-8 as RFC 3629 defines it: no overlong forms, no surrogates, nothing
 * above U+10FFFF. For writing what strangers sent (display names, user
 * parts, User-Agent) into logs and the journal. Pure functions. */
#ifndef SWITCHBOARD_UTF8_H
#define SWITCHBOARD_UTF8_H

#include <stddef.h>

/* The length (1-4) of the valid UTF-8 sequence @p starts with, reading at
 * most @avail bytes; 0 when it is not one (a byte to replace). */
size_t utf8_sequence(const unsigned char *p, size_t avail);

/* Copies @len bytes of @in into @out (NUL-terminated, at most @size
 * bytes with the NUL) for a terminal or a log file: control characters
 * (but \t) and bytes that are not valid UTF-8 become "\xNN". Returns the
 * length written. */
size_t utf8_escape_controls(const char *in, size_t len, char *out, size_t size);

#endif
