/* Stream framing, RFC 3261 §18.3. See stream_frame.h. */
#include "switchboard/stream_frame.h"

#include <stdbool.h>
#include <string.h>

#include "switchboard/chars.h"

static char lower(char c)
{
    return (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
}

/* Does the header line at @line (@len bytes, no CRLF) have the name @name
 * (lower case)? Then *value points past the colon. */
static bool header_named(const char *line, size_t len, const char *name, const char **value)
{
    size_t n = strlen(name), i;
    if (len < n)
        return false;
    for (i = 0; i < n; i++)
        if (lower(line[i]) != name[i])
            return false;
    while (i < len && chars_blank(line[i]))
        i++;
    if (i >= len || line[i] != ':')
        return false;
    *value = line + i + 1;
    return true;
}

/* Parses the value of a Content-Length line ending at @end. Returns the
 * length, or -1 when it is not a number of at most 9 digits. */
static long length_value(const char *p, const char *end)
{
    while (p < end && chars_blank(*p))
        p++;
    long v = 0;
    int digits = 0;
    for (; p < end && *p >= '0' && *p <= '9'; p++, digits++) {
        if (digits == 9)
            return -1;
        v = v * 10 + (*p - '0');
    }
    while (p < end && chars_blank(*p))
        p++;
    return (digits == 0 || p != end) ? -1 : v;
}

/* Finds Content-Length (or its compact form "l", RFC 3261 §7.3.3) among
 * the header lines of the @len bytes at @head (the start line first).
 * Returns the value, -1 when absent, -2 when unusable (not a number, or two
 * that disagree). */
static long content_length(const char *head, size_t len)
{
    long found = -1;
    const char *end = head + len;
    const char *line = memchr(head, '\n', len); /* skip the start line */
    while (line && ++line < end) {
        const char *eol = memchr(line, '\n', (size_t)(end - line));
        const char *stop = eol ? eol : end;
        if (stop > line && stop[-1] == '\r')
            stop--;
        const char *value;
        size_t n = (size_t)(stop - line);
        if (header_named(line, n, "content-length", &value) || header_named(line, n, "l", &value)) {
            long v = length_value(value, stop);
            if (v < 0 || (found >= 0 && v != found))
                return -2;
            found = v;
        }
        line = eol;
    }
    return found;
}

void stream_frame_next(const char *buf, size_t len, struct stream_scan *scan,
                       struct stream_frame *out)
{
    struct stream_scan none = {0};
    if (!scan)
        scan = &none;
    memset(out, 0, sizeof(*out));
    if (scan->total && len < scan->total) {
        out->kind = STREAM_FRAME_MORE; /* the body is still coming */
        return;
    }
    /* keep-alives between messages (RFC 5626 §4.4.1); a lone CRLF before a
     * start line is ignored too (RFC 3261 §7.5) */
    if (len >= 4 && memcmp(buf, "\r\n\r\n", 4) == 0) {
        out->kind = STREAM_FRAME_PING;
        out->skip = 4;
        return;
    }
    if (len >= 2 && memcmp(buf, "\r\n", 2) == 0) {
        bool ping_half = len == 2 || (len == 3 && buf[2] == '\r');
        out->kind = ping_half ? STREAM_FRAME_MORE : STREAM_FRAME_PONG;
        out->skip = ping_half ? 0 : 2;
        return;
    }
    /* resume three bytes back: the blank line may straddle two reads */
    size_t from = scan->scanned > 3 ? scan->scanned - 3 : 0;
    const char *blank = len >= from + 4 ? memmem(buf + from, len - from, "\r\n\r\n", 4) : NULL;
    if (!blank) {
        out->kind = len >= STREAM_FRAME_MAX ? STREAM_FRAME_TOO_BIG : STREAM_FRAME_MORE;
        scan->scanned = len;
        return;
    }
    size_t head = (size_t)(blank - buf) + 4;
    out->header_length = head;
    long body = content_length(buf, head - 2);
    if (body == -1) {
        out->kind = STREAM_FRAME_NO_LENGTH;
        return;
    }
    if (body < 0) {
        out->kind = STREAM_FRAME_BAD;
        return;
    }
    size_t total = head + (size_t)body;
    if (total > STREAM_FRAME_MAX) {
        out->kind = STREAM_FRAME_TOO_BIG;
        return;
    }
    if (len < total) {
        out->kind = STREAM_FRAME_MORE;
        scan->total = total;
        return;
    }
    out->kind = STREAM_FRAME_MESSAGE;
    out->length = total;
}
