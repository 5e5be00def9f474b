/* Unit tests for src/sip/sip_nul.c: the NULs SIP allows survive libosip2,
 * and what leaves is what arrived, byte for byte. */
#include "switchboard/error.h"
#include "switchboard/sip_msg.h"
#include "switchboard/sip_nul.h"
#include "test_helpers.h"

#define HEAD_A "OPTIONS sip:u%00@h SIP/2.0\r\nFrom: \"a\\"
#define HEAD_B " b \\\"q\\\" %00\" <sip:x%00%00@h>;tag=1\r\n"
static const char with_nuls[] = HEAD_A "\0" HEAD_B "\r\n\\\0%00";
#define WITH_NULS_LEN (sizeof(with_nuls) - 1)

Test(sip_nul, nothing_to_do_without_a_nul)
{
    const char *m = "OPTIONS sip:u@h SIP/2.0\r\nFrom: \"a%20b\" <sip:x@h>\r\n\r\n";
    char *out = (char *)1;
    const char *why = NULL;
    cr_assert_eq(sipnul_hide(m, strlen(m), &out, &(size_t){0}, &why), 0);
    cr_assert_null(out);
}

Test(sip_nul, hide_then_show_gives_back_the_bytes)
{
    char *out = NULL;
    size_t len = 0;
    const char *why = NULL;
    cr_assert_eq(sipnul_hide(with_nuls, WITH_NULS_LEN, &out, &len, &why), 0);
    cr_assert_not_null(out);
    size_t head = sipnul_head_length(out, len);
    cr_assert_null(memchr(out, '\0', head), "no NUL left in the headers");
    cr_assert_not_null(strstr(out, "sip:u%C0%80@h"));
    cr_assert_not_null(strstr(out, "sip:x%C0%80%C0%80@h"));
    cr_assert_not_null(strstr(out, "\"a\\\xff b"), "the quoted NUL is marked");
    cr_assert_eq(memcmp(out + len - 5, "\\\0%00", 5), 0, "the body is not touched");
    len = sipnul_show(out, len, head);
    cr_assert_eq(len, WITH_NULS_LEN);
    cr_assert_eq(memcmp(out, with_nuls, len), 0);
    free(out);
}

Test(sip_nul, a_nul_outside_a_quoted_string_is_left_alone)
{
    static const char m[] = "OPTIONS sip:u@h SIP/2.0\r\nX-A: a\\\0b\r\n\r\n";
    char *out = NULL;
    const char *why = NULL;
    cr_assert_eq(sipnul_hide(m, sizeof(m) - 1, &out, &(size_t){0}, &why), 0);
    cr_assert_null(out, "not a quoted-pair: libosip2 refuses it, as it should");
}

Test(sip_nul, the_markers_themselves_are_refused)
{
    static const char *const bad[] = {
        "OPTIONS sip:u%C0%80@h SIP/2.0\r\n\r\n",
        "OPTIONS sip:u%c0%80@h SIP/2.0\r\n\r\n",
        "OPTIONS sip:u@h SIP/2.0\r\nFrom: \"a\\\xff\" <sip:x@h>\r\n\r\n",
        "OPTIONS sip:u@h SIP/2.0\r\nX: \xff\r\n\r\n",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char *out = NULL;
        const char *why = NULL;
        cr_assert_eq(sipnul_hide(bad[i], strlen(bad[i]), &out, &(size_t){0}, &why), SB_EMALFORMED,
                     "accepted: %s", bad[i]);
        cr_assert_not_null(why);
        cr_assert_null(out);
    }
    /* in a body, the same bytes are nobody's business */
    const char *body = "OPTIONS sip:u@h SIP/2.0\r\nContent-Length: 7\r\n\r\n%C0%80\xff";
    char *out = NULL;
    const char *why = NULL;
    cr_assert_eq(sipnul_hide(body, strlen(body), &out, &(size_t){0}, &why), 0);
    cr_assert_null(out);
}

Test(sip_nul, a_folded_quoted_string_stays_quoted)
{
    static const char m[] = "OPTIONS sip:u@h SIP/2.0\r\nFrom: \"a\r\n b\\\0\" <sip:x@h>\r\n\r\n";
    char *out = NULL;
    size_t len = 0;
    const char *why = NULL;
    cr_assert_eq(sipnul_hide(m, sizeof(m) - 1, &out, &len, &why), 0);
    cr_assert_not_null(out, "the NUL is inside the folded string");
    len = sipnul_show(out, len, sipnul_head_length(out, len));
    cr_assert_eq(memcmp(out, m, sizeof(m) - 1), 0);
    free(out);
}

/* Through libosip2 and our serializer: the 200 to escnull's REGISTER
 * carries its user byte for byte. */
Test(sip_nul, a_response_keeps_escaped_nul_users)
{
    const char *reg = "REGISTER sip:h SIP/2.0\n" /* parse() makes the line ends CR LF */
                      "Via: SIP/2.0/UDP 10.0.0.1;branch=z9hG4bKkdjuw\n"
                      "To: sip:null-%00-null@h\nFrom: sip:null-%00-null@h;tag=1\n"
                      "Call-ID: escnull\nCSeq: 1 REGISTER\nContent-Length: 0\n\n";
    char *hidden = NULL;
    size_t len = 0;
    const char *why = NULL;
    cr_assert_eq(sipnul_hide(reg, strlen(reg), &hidden, &len, &why), 0);
    osip_message_t *msg = parse(hidden), *resp = NULL;
    free(hidden);
    cr_assert_eq(sipmsg_response_create(msg, 200, NULL, "t", &resp), 0);
    char *text = NULL;
    cr_assert_eq(sipmsg_serialize(resp, &text, &len), 0);
    cr_assert_not_null(strstr(text, "<sip:null-%00-null@h>;tag=1\r\n"), "%s", text);
    cr_assert_not_null(strstr(text, "To: <sip:null-%00-null@h>;tag=t\r\n"), "%s", text);
    cr_assert_eq(strlen(text), len);
    osip_free(text);
    osip_message_free(msg);
    osip_message_free(resp);
}

/* The blank line is found where memmem() finds it: CRLF CRLF first,
 * else LF LF. */
Test(sip_nul, the_blank_line_is_where_memmem_finds_it)
{
    const char *texts[] = {"a\r\n\r\nb",       "\r\n\r\n",   "\n\r\n\r\nx",
                           "a\n\nb\r\n\r\n",   "a\r\nb\n\n", "a\r\n\r",
                           "\r\r\n\n\r\n\r\n", "",           "x\n"};
    for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
        const char *t = texts[i];
        size_t len = strlen(t), sep = 0;
        const char *want = memmem(t, len, "\r\n\r\n", 4);
        size_t want_sep = 4;
        if (!want) {
            want = memmem(t, len, "\n\n", 2);
            want_sep = 2;
        }
        cr_assert_eq(sipnul_blank_line(t, len, &sep), want, "text %zu", i);
        if (want)
            cr_assert_eq(sep, want_sep, "text %zu", i);
    }
}
