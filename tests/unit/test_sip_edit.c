/* Unit tests for src/sip/sip_edit.c: the received bytes with edits
 * applied, everything else byte for byte. */
#include "switchboard/error.h"
#include "switchboard/sip_edit.h"
#include "test_helpers.h"

#define INVITE_HEAD                                                                                \
    "INVITE sip:bob@example.com;x=1 SIP/2.0\r\n"                                                   \
    "v: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKa, SIP/2.0/TCP \"odd,host\";branch=z9hG4bKb\r\n"   \
    "ViA: SIP/2.0/UDP 10.0.0.3;branch=z9hG4bKc\r\n"                                                \
    "Route: <sip:proxy.example.com;lr>,\r\n <sip:next.example.com;lr>\r\n"                         \
    "Max-Forwards:   70\r\n"                                                                       \
    "From: \"A, b\" <sip:a@x>;tag=1\r\n"                                                           \
    "To: <sip:bob@example.com>\r\n"                                                                \
    "Call-ID: c1\r\n"                                                                              \
    "CSeq: 1 INVITE\r\n"                                                                           \
    "l: 4\r\n\r\n"

static const char invite[] = INVITE_HEAD "bodyTRAILING";

static char *render(struct sipedit *e, size_t *len)
{
    char *out = NULL;
    cr_assert_eq(sipedit_render(e, &out, len), 0);
    return out;
}

static void assert_rendered(struct sipedit *e, const char *want)
{
    size_t len;
    char *out = render(e, &len);
    cr_assert_str_eq(out, want);
    cr_assert_eq(len, strlen(want));
    free(out);
}

Test(sip_edit, no_edit_gives_the_message_without_what_follows_its_body)
{
    struct sipedit e;
    cr_assert_eq(sipedit_open(&e, invite, strlen(invite)), 0);
    cr_assert(e.request);
    size_t n;
    const char *uri = sipedit_first(&e, &n);
    cr_assert_eq(n, strlen("sip:bob@example.com;x=1"));
    cr_assert_eq(memcmp(uri, "sip:bob@example.com;x=1", n), 0);
    cr_assert_eq(sipedit_count(&e, SIPEDIT_VIA), 3, "compact form, quotes and case");
    cr_assert_eq(sipedit_count(&e, SIPEDIT_ROUTE), 2, "a folded field");
    assert_rendered(&e, INVITE_HEAD "body");
}

Test(sip_edit, a_proxy_forwards_by_editing)
{
    struct sipedit e;
    cr_assert_eq(sipedit_open(&e, invite, strlen(invite)), 0);
    sipedit_insert_field(&e, SIPEDIT_VIA, "Via", "SIP/2.0/UDP us;branch=z9hG4bKus");
    sipedit_drop_values(&e, SIPEDIT_ROUTE, 1);
    sipedit_insert_field(&e, SIPEDIT_RECORD_ROUTE, "Record-Route", "<sip:us;lr>");
    sipedit_set_field(&e, SIPEDIT_MAX_FORWARDS, "Max-Forwards", "69");
    sipedit_set_first(&e, "sip:bob@10.0.0.9:5062");
    assert_rendered(&e, "INVITE sip:bob@10.0.0.9:5062 SIP/2.0\r\n"
                        "Via: SIP/2.0/UDP us;branch=z9hG4bKus\r\n"
                        "v: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKa, SIP/2.0/TCP "
                        "\"odd,host\";branch=z9hG4bKb\r\n"
                        "ViA: SIP/2.0/UDP 10.0.0.3;branch=z9hG4bKc\r\n"
                        "Record-Route: <sip:us;lr>\r\n"
                        "Route: <sip:next.example.com;lr>\r\n"
                        "Max-Forwards:   69\r\n"
                        "From: \"A, b\" <sip:a@x>;tag=1\r\n"
                        "To: <sip:bob@example.com>\r\n"
                        "Call-ID: c1\r\n"
                        "CSeq: 1 INVITE\r\n"
                        "l: 4\r\n\r\nbody");
}

Test(sip_edit, dropping_every_value_of_a_field_drops_the_field)
{
    struct sipedit e;
    cr_assert_eq(sipedit_open(&e, invite, strlen(invite)), 0);
    sipedit_drop_values(&e, SIPEDIT_VIA, 3);
    sipedit_drop_values(&e, SIPEDIT_ROUTE, 2);
    size_t len;
    char *out = render(&e, &len);
    cr_assert_null(strstr(out, "Via"));
    cr_assert_null(strstr(out, "v:"));
    cr_assert_null(strstr(out, "Route"));
    cr_assert_not_null(strstr(out, "SIP/2.0\r\nMax-Forwards:   70\r\n"));
    free(out);
    cr_assert_eq(sipedit_open(&e, invite, strlen(invite)), 0);
    sipedit_drop_values(&e, SIPEDIT_ROUTE, 3);
    cr_assert_eq(sipedit_render(&e, &out, &len), SB_EAGAIN, "fewer values than asked");
}

Test(sip_edit, a_response_loses_its_top_via_and_keeps_the_rest)
{
    static const char resp[] =
        "SIP/2.0 180 Ringing\r\n"
        "Via: SIP/2.0/UDP us;branch=z9hG4bKus, SIP/2.0/UDP a;branch=z9hG4bKa\r\n"
        "Record-Route: <sip:us;lr;sig=old>, <sip:them;lr>\r\n"
        "CSeq: 7 INVITE\r\n"
        "Content-Length: 0\r\n\r\n";
    struct sipedit e;
    cr_assert_eq(sipedit_open(&e, resp, strlen(resp)), 0);
    cr_assert_not(e.request);
    size_t n;
    const char *reason = sipedit_first(&e, &n);
    cr_assert_eq(n, 7);
    cr_assert_eq(memcmp(reason, "Ringing", 7), 0);
    sipedit_drop_values(&e, SIPEDIT_VIA, 1);
    sipedit_replace_value(&e, SIPEDIT_RECORD_ROUTE, 0, "<sip:us;lr;sig=new>");
    sipedit_set_field(&e, SIPEDIT_CSEQ, "CSeq", "5 INVITE");
    sipedit_set_first(&e, "Ringing Here");
    assert_rendered(&e, "SIP/2.0 180 Ringing Here\r\n"
                        "Via: SIP/2.0/UDP a;branch=z9hG4bKa\r\n"
                        "Record-Route: <sip:us;lr;sig=new>, <sip:them;lr>\r\n"
                        "CSeq: 5 INVITE\r\n"
                        "Content-Length: 0\r\n\r\n");
}

Test(sip_edit, a_new_body_sets_content_length)
{
    struct sipedit e;
    cr_assert_eq(sipedit_open(&e, invite, strlen(invite)), 0);
    size_t n;
    const char *body = sipedit_body(&e, &n);
    cr_assert_eq(n, 4);
    cr_assert_eq(memcmp(body, "body", 4), 0);
    sipedit_set_body(&e, "v=0\r\n", 5);
    size_t len;
    char *out = render(&e, &len);
    cr_assert_not_null(strstr(out, "CSeq: 1 INVITE\r\nl: 5\r\n\r\nv=0\r\n"));
    cr_assert_eq(len, strlen(out));
    free(out);

    static const char bare[] = "BYE sip:b@h SIP/2.0\r\nCall-ID: x\r\n\r\n";
    cr_assert_eq(sipedit_open(&e, bare, strlen(bare)), 0);
    sipedit_set_body(&e, "", 0);
    assert_rendered(&e, "BYE sip:b@h SIP/2.0\r\nCall-ID: x\r\nContent-Length: 0\r\n\r\n");
}

Test(sip_edit, shapes_it_does_not_edit_are_refused)
{
    static const char *const refused[] = {
        "INVITE sip:b@h SIP/2.0\nVia: x\n\n",                         /* bare LF */
        "INVITE sip:b@h SIP/2.0\r\nVia: x\r\n",                       /* no blank line */
        "INVITE sip:b@h SIP/3.0\r\nVia: x\r\n\r\n",                   /* version */
        "INVITE sip:b@h SIP/2.0\r\n Via: x\r\n\r\n",                  /* continuation first */
        "INVITE sip:b@h SIP/2.0\r\nNo colon\r\n\r\n",                 /* not a field */
        "INVITE sip:b@h SIP/2.0\r\nl: 1\r\nl: 2\r\n\r\nab",           /* two lengths */
        "INVITE sip:b@h SIP/2.0\r\nCSeq: 1 INVITE\r\r\nX: y\r\n\r\n", /* a bare CR */
        "INVITE sip:b@h SIP/2.0\r\nl:\r\n\r\n 0",                     /* no digits */
        "INVITE sip:b@h SIP/2.0\r\nl: 1x\r\n\r\na",                   /* not a number */
        "",
    };
    struct sipedit e;
    for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
        cr_assert_eq(sipedit_open(&e, refused[i], strlen(refused[i])), SB_EMALFORMED, "case %zu",
                     i);
        char *out;
        size_t len;
        cr_assert_eq(sipedit_render(&e, &out, &len), SB_EAGAIN);
    }
}

Test(sip_edit, overlapping_edits_fail_rather_than_guess)
{
    struct sipedit e;
    cr_assert_eq(sipedit_open(&e, invite, strlen(invite)), 0);
    sipedit_drop_values(&e, SIPEDIT_VIA, 1);
    sipedit_replace_value(&e, SIPEDIT_VIA, 0, "SIP/2.0/UDP z");
    char *out;
    size_t len;
    cr_assert_eq(sipedit_render(&e, &out, &len), SB_EAGAIN);
}

Test(sip_edit, the_text_store_is_bounded)
{
    struct sipedit e;
    cr_assert_eq(sipedit_open(&e, invite, strlen(invite)), 0);
    char big[SIPEDIT_TEXT];
    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    sipedit_set_first(&e, big);
    sipedit_set_first(&e, big);
    char *out;
    size_t len;
    cr_assert_eq(sipedit_render(&e, &out, &len), SB_EAGAIN);
}

Test(sip_edit, values_read_as_they_arrived)
{
    struct sipedit e;
    cr_assert_eq(sipedit_open(&e, invite, strlen(invite)), 0);
    size_t n;
    const char *v = sipedit_value(&e, SIPEDIT_VIA, 1, &n);
    cr_assert_not_null(v);
    cr_assert_eq(n, strlen("SIP/2.0/TCP \"odd,host\";branch=z9hG4bKb"));
    cr_assert_eq(memcmp(v, "SIP/2.0/TCP \"odd,host\";branch=z9hG4bKb", n), 0);
    v = sipedit_value(&e, SIPEDIT_ROUTE, 1, &n);
    cr_assert_eq(memcmp(v, "<sip:next.example.com;lr>", n), 0, "after the fold");
    cr_assert_null(sipedit_value(&e, SIPEDIT_ROUTE, 2, &n));
    cr_assert_null(sipedit_value(&e, SIPEDIT_RECORD_ROUTE, 0, &n));
}

/* A final response of ours carries our To tag (§8.2.6.2): after the
 * field's value, whatever shape the To came in. */
Test(sip_edit, a_reply_adds_our_tag_after_the_to_value)
{
    static const struct {
        const char *to, *want;
    } cases[] = {
        {"To: <sip:b@h>\r\n", "To: <sip:b@h>;tag=sb1\r\n"},
        {"t: sip:b@h;user=phone  \r\n", "t: sip:b@h;user=phone;tag=sb1\r\n"},
        {"To: \"B\"\r\n <sip:b@h>;x=1\r\n", "To: \"B\"\r\n <sip:b@h>;x=1;tag=sb1\r\n"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char req[512], want[512];
        snprintf(req, sizeof(req),
                 "BYE sip:b@h SIP/2.0\r\nVia: SIP/2.0/UDP a;branch=z9hG4bK1\r\n"
                 "From: <sip:a@x>;tag=1\r\n%sCall-ID: c1\r\nCSeq: 2 BYE\r\n\r\n",
                 cases[i].to);
        snprintf(want, sizeof(want),
                 "SIP/2.0 481 Call Does Not Exist\r\nVia: v\r\nFrom: <sip:a@x>;tag=1\r\n"
                 "%sCall-ID: c1\r\nCSeq: 2 BYE\r\nContent-Length: 0\r\n\r\n",
                 cases[i].want);
        struct sipedit e;
        cr_assert_eq(sipedit_open(&e, req, strlen(req)), 0, "%s", cases[i].to);
        char *out;
        size_t len;
        cr_assert_eq(
            sipedit_reply(&e, "481", "Call Does Not Exist", "v", "sb1", NULL, NULL, &out, &len), 0);
        cr_assert_str_eq(out, want);
        cr_assert_eq(len, strlen(out));
        free(out);
    }
}

Test(sip_edit, a_reply_is_written_from_the_request_lines)
{
    static const char req[] =
        "INVITE sip:b@h SIP/2.0\r\n"
        "v: SIP/2.0/UDP a;branch=z9hG4bK1;rport, SIP/2.0/UDP b;branch=z9hG4bK2\r\n"
        "Via: SIP/2.0/UDP c;branch=z9hG4bK3\r\n"
        "f: \"A, b\" <sip:a@x>;tag=1\r\n"
        "Max-Forwards: 70\r\n"
        "To: <sip:b@h>\r\n"
        "i: c1\r\n"
        "cseq:  1 INVITE\r\n"
        "Subject: not copied\r\n"
        "Content-Length: 4\r\n\r\nbody";
    struct sipedit e;
    cr_assert_eq(sipedit_open(&e, req, strlen(req)), 0);
    char *out;
    size_t len;
    cr_assert_eq(sipedit_reply(&e, "100", "Trying",
                               "SIP/2.0/UDP a;branch=z9hG4bK1;rport=5060;received=10.0.0.1", NULL,
                               NULL, "sb", &out, &len),
                 0);
    cr_assert_str_eq(out, "SIP/2.0 100 Trying\r\n"
                          "Via: SIP/2.0/UDP a;branch=z9hG4bK1;rport=5060;received=10.0.0.1\r\n"
                          "Via: SIP/2.0/UDP b;branch=z9hG4bK2\r\n"
                          "Via: SIP/2.0/UDP c;branch=z9hG4bK3\r\n"
                          "f: \"A, b\" <sip:a@x>;tag=1\r\n"
                          "To: <sip:b@h>\r\n"
                          "i: c1\r\n"
                          "cseq:  1 INVITE\r\n"
                          "Server: sb\r\n"
                          "Content-Length: 0\r\n\r\n");
    cr_assert_eq(len, strlen(out));
    free(out);
    static const char resp[] = "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP a\r\n\r\n";
    cr_assert_eq(sipedit_open(&e, resp, strlen(resp)), 0);
    cr_assert_eq(sipedit_reply(&e, "100", "Trying", "x", NULL, NULL, NULL, &out, &len), SB_EAGAIN,
                 "no reply to a response");
}
