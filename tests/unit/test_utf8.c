/* Unit tests for src/core/utf8.c and its users: what strangers send is
 * written to the journal as valid UTF-8 (json.c) and to logs and
 * terminals without control characters (log.c). */
#include "switchboard/buf.h"
#include "switchboard/json.h"
#include "switchboard/sip_msg.h"
#include "switchboard/utf8.h"
#include "test_helpers.h"

static size_t seq(const char *bytes)
{
    return utf8_sequence((const unsigned char *)bytes, strlen(bytes));
}

Test(utf8, sequences_as_rfc_3629_defines_them)
{
    cr_assert_eq(seq("a"), 1);
    cr_assert_eq(seq("\xc3\xa9"), 2);         /* é */
    cr_assert_eq(seq("\xe2\x82\xac"), 3);     /* € */
    cr_assert_eq(seq("\xf0\x9f\x93\x9e"), 4); /* 📞 */
    cr_assert_eq(seq("\xc0\xaf"), 0, "overlong");
    cr_assert_eq(seq("\xe0\x80\xaf"), 0, "overlong");
    cr_assert_eq(seq("\xf0\x80\x80\xaf"), 0, "overlong");
    cr_assert_eq(seq("\xed\xa0\x80"), 0, "a surrogate");
    cr_assert_eq(seq("\xf4\x90\x80\x80"), 0, "above U+10FFFF");
    cr_assert_eq(seq("\xf5\x80\x80\x80"), 0);
    cr_assert_eq(seq("\x80"), 0, "a lone continuation");
    cr_assert_eq(seq("\xe2\x82"), 0, "cut short");
}

Test(utf8, controls_are_escaped_for_a_terminal)
{
    char out[128];
    const char in[] = "ali\x1b[2Jce\r\nX-Injected: 1\x7f\xff\tok \xc5\xbe";
    utf8_escape_controls(in, sizeof(in) - 1, out, sizeof(out));
    cr_assert_str_eq(out, "ali\\x1b[2Jce\\x0d\\x0aX-Injected: 1\\x7f\\xff\tok \xc5\xbe");
    utf8_escape_controls("abcdef", 6, out, 4);
    cr_assert_str_eq(out, "abc", "cut to fit, NUL-terminated");
}

Test(utf8, the_journal_writes_valid_utf8_only)
{
    struct sb_buf b = {0};
    json_string(&b, "Ob\xc5\xbe"
                    "a\xed\xa0\x80\xc0\xaf\x01\"");
    /* each byte of the surrogate and of the overlong form becomes U+FFFD */
    cr_assert_str_eq(b.data, "\"Ob\xc5\xbe"
                             "a\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"
                             "\\u0001\\\"\"");
    sb_buf_free(&b);
}
