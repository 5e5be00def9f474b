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
    sb_buf_append(b, "\"", 1);
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        unsigned char c = *p;
        size_t plain = 0; /* a run that needs no escape goes in one append */
        while (p[plain] >= 0x20 && p[plain] < 0x80 && p[plain] != '"' && p[plain] != '\\')
            plain++;
        if (plain) {
            sb_buf_append(b, (const char *)p, plain);
            p += plain;
        } else if (c == '"' || c == '\\') {
            char esc[2] = {'\\', (char)c};
            sb_buf_append(b, esc, 2);
            p++;
        } else if (c < 0x20) {
            sb_buf_printf(b, "\\u%04x", c);
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
    sb_buf_append(b, "\"", 1);
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
    /* "YYYY-MM-DDTHH:MM:SS.mmmZ" by hand: four per call record, where
     * printf cost more than the rest of the record */
    char t[] = "\"0000-00-00T00:00:00.000Z\"";
    const int parts[][3] = {{tm.tm_year + 1900, 1, 4}, {tm.tm_mon + 1, 6, 2}, {tm.tm_mday, 9, 2},
                            {tm.tm_hour, 12, 2},       {tm.tm_min, 15, 2},    {tm.tm_sec, 18, 2},
                            {(int)(ms % 1000), 21, 3}};
    if (tm.tm_year + 1900 > 9999) {
        sb_buf_puts(b, "null");
        return;
    }
    for (size_t i = 0; i < sizeof(parts) / sizeof(parts[0]); i++)
        for (int v = parts[i][0], d = parts[i][2]; d-- > 0; v /= 10)
            t[parts[i][1] + d] = (char)('0' + v % 10);
    sb_buf_append(b, t, sizeof(t) - 1);
}
