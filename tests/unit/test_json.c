/* Unit tests for src/core/json.c: times as RFC 3339 UTC text with
 * milliseconds, the same as strftime() and printf write them. */
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
