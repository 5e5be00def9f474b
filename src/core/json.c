/* JSON text for the journal and the admin plane. See json.h. */
#include "switchboard/json.h"

#include <time.h>

#include "switchboard/buf.h"
#include "switchboard/utf8.h"

/* Writes @s as a JSON string. Bytes that are not valid UTF-8 become
 * U+FFFD, so every line parses whatever a phone put in its display name. */
void json_string(struct sb_buf *b, const char *s)
{
    if (!s) {
        sb_buf_puts(b, "null");
        return;
    }
    sb_buf_puts(b, "\"");
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        unsigned char c = *p;
        if (c == '"' || c == '\\') {
            char esc[2] = {'\\', (char)c};
            sb_buf_append(b, esc, 2);
            p++;
        } else if (c < 0x20) {
            sb_buf_printf(b, "\\u%04x", c);
            p++;
        } else if (c < 0x80) {
            sb_buf_append(b, (const char *)p, 1);
            p++;
        } else {
            /* the string ends at its NUL, which no continuation byte is */
            size_t n = utf8_sequence(p, 4);
            if (n) {
                sb_buf_append(b, (const char *)p, n);
                p += n;
            } else {
                sb_buf_puts(b, "\xef\xbf\xbd");
                p++;
            }
        }
    }
    sb_buf_puts(b, "\"");
}

void json_time(struct sb_buf *b, int64_t ms)
{
    if (ms <= 0) {
        sb_buf_puts(b, "null");
        return;
    }
    time_t sec = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&sec, &tm);
    sb_buf_printf(b, "\"%04d-%02d-%02dT%02d:%02d:%02d.%03dZ\"", tm.tm_year + 1900, tm.tm_mon + 1,
                  tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(ms % 1000));
}
