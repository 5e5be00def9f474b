/* Unit tests for src/core/fixbuf.c: numbers as printf writes them, text
 * that just fits, and text one byte too long, which is refused and left
 * terminated. */
#include "switchboard/fixbuf.h"
#include "test_helpers.h"

#include <inttypes.h>
#include <stdio.h>

Test(fixbuf, numbers_read_as_printf_writes_them)
{
    static const uint64_t values[] = {0, 1, 9, 10, 255, 4096, 65535, 1234567890123ull, UINT64_MAX};
    for (size_t i = 0; i < sizeof(values) / sizeof(values[0]); i++) {
        char got[128], want[128];
        struct fixbuf b;
        fixbuf_init(&b, got, sizeof(got));
        fixbuf_uint(&b, values[i]);
        fixbuf_char(&b, '|');
        fixbuf_hex(&b, values[i]);
        fixbuf_char(&b, '|');
        fixbuf_hex_width(&b, values[i] & 0xffffffffu, 8);
        cr_assert_gt(fixbuf_end(&b), 0);
        snprintf(want, sizeof(want), "%" PRIu64 "|%" PRIx64 "|%08" PRIx64, values[i], values[i],
                 values[i] & 0xffffffffu);
        cr_assert_str_eq(got, want);
    }
}

Test(fixbuf, text_that_fits_and_text_that_does_not)
{
    char buf[8];
    struct fixbuf b;
    fixbuf_init(&b, buf, sizeof(buf));
    fixbuf_puts(&b, "abc");
    fixbuf_puts(&b, NULL);
    fixbuf_put(&b, "defg", 4);
    cr_assert_eq(fixbuf_end(&b), 7);
    cr_assert_str_eq(buf, "abcdefg");

    fixbuf_init(&b, buf, sizeof(buf));
    fixbuf_puts(&b, "abcd");
    fixbuf_uint(&b, 1234); /* one digit too many: refused whole */
    fixbuf_char(&b, 'x');  /* and nothing after it */
    cr_assert_eq(fixbuf_end(&b), -1);
    cr_assert_str_eq(buf, "abcd");
}
