/* Writing JSON values into an sb_buf (buf.h). */
#ifndef SWITCHBOARD_JSON_H
#define SWITCHBOARD_JSON_H

#include <stdint.h>

struct sb_buf;

/* @s as a JSON string, or null when NULL. Bytes that are not valid UTF-8
 * become U+FFFD, so the text parses whatever a phone put in a header. */
void json_string(struct sb_buf *b, const char *s);
/* Wall-clock milliseconds as an RFC 3339 UTC string; null when <= 0. */
void json_time(struct sb_buf *b, int64_t ms);

#endif
