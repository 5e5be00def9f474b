/* Unit tests for src/core/json.c: times as RFC 3339 UTC text with
 * milliseconds, the same as strftime() and printf write them; strings
 * escaped as RFC 8259 §7 wants, bytes that are not UTF-8 as U+FFFD. */
#include <stdio.h>
#include <time.h>

#include "switchboard/buf.h"
#include "switchboard/json.h"
#include "test_helpers.h"

Test(json, times_read_as_strftime_writes_them)
{
    static const int64_t values[] = {1,
                                     999,
                                     1000,
                                     86399999,
                                     951782400123 /* 2000-02-29 */,
                                     1796447366451,
                                     4102444799999 /* 2099-12-31 */};
    for (size_t i = 0; i < sizeof(values) / sizeof(values[0]); i++) {
        struct sb_buf b = {0};
        json_time(&b, values[i]);
        time_t sec = (time_t)(values[i] / 1000);
        struct tm tm;
        gmtime_r(&sec, &tm);
        char day[32], want[48];
        strftime(day, sizeof(day), "%Y-%m-%dT%H:%M:%S", &tm);
        snprintf(want, sizeof(want), "\"%s.%03dZ\"", day, (int)(values[i] % 1000));
        cr_assert_str_eq(b.data, want);
        sb_buf_free(&b);
    }
    struct sb_buf b = {0};
    json_time(&b, 0);
    cr_assert_str_eq(b.data, "null", "no time yet");
    sb_buf_free(&b);
}

static void string_reads(const char *in, const char *want)
{
    struct sb_buf b = {0};
    json_string(&b, in);
    cr_assert_not(b.failed);
    cr_assert_str_eq(b.data, want, "%s -> %s, not %s", in, b.data, want);
    sb_buf_free(&b);
}

Test(json, strings_escaped_where_json_needs_it_and_kept_elsewhere)
{
    string_reads("", "\"\"");
    string_reads("Alice <sip:alice@10.0.0.5>", "\"Alice <sip:alice@10.0.0.5>\"");
    string_reads("say \"hi\"\\now", "\"say \\\"hi\\\"\\\\now\"");
    string_reads("a\r\nb\x01\x7f", "\"a\\u000d\\u000ab\\u0001\x7f\"");
    string_reads("Z\xc3\xbcrich \xe2\x82\xac", "\"Z\xc3\xbcrich \xe2\x82\xac\"");
    /* not UTF-8: a lone continuation byte, a cut sequence */
    string_reads("x\x80y\xc3", "\"x\xef\xbf\xbdy\xef\xbf\xbd\"");
    struct sb_buf b = {0};
    json_string(&b, NULL);
    cr_assert_str_eq(b.data, "null");
    sb_buf_free(&b);
}
