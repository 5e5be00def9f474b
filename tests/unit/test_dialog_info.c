/* Unit tests for src/sip/dialog_info.c: RFC 4235 documents, and values
 * a caller chose kept inside their quotes. */
#include <criterion/criterion.h>
#include <string.h>

#include "switchboard/buf.h"
#include "switchboard/dialog_info.h"

static struct dinfo_dialog ringing(void)
{
    struct dinfo_dialog d;
    memset(&d, 0, sizeof(d));
    dinfo_set(d.id, sizeof(d.id), "d1");
    dinfo_set(d.call_id, sizeof(d.call_id), "abc@10.0.0.1");
    dinfo_set(d.local_tag, sizeof(d.local_tag), "bobtag");
    dinfo_set(d.remote_tag, sizeof(d.remote_tag), "alicetag");
    dinfo_set(d.remote, sizeof(d.remote), "sip:alice@example.com");
    d.state = DINFO_EARLY;
    d.code = 180;
    return d;
}

static char *write(const struct dinfo_dialog *d, size_t n, bool full)
{
    struct sb_buf b = {0};
    dinfo_write(&b, "sip:bob@example.com", 3, full, d, n, 65000);
    cr_assert(!b.failed);
    return b.data;
}

Test(dialog_info, a_ringing_callee)
{
    struct dinfo_dialog d = ringing();
    char *doc = write(&d, 1, true);
    cr_assert(strstr(doc, "<dialog-info xmlns=\"urn:ietf:params:xml:ns:dialog-info\" "
                          "version=\"3\" state=\"full\" entity=\"sip:bob@example.com\">"),
              "%s", doc);
    cr_assert(strstr(doc, "<dialog id=\"d1\" call-id=\"abc@10.0.0.1\" local-tag=\"bobtag\" "
                          "remote-tag=\"alicetag\" direction=\"recipient\">"),
              "%s", doc);
    cr_assert(strstr(doc, "<state code=\"180\">early</state>"), "%s", doc);
    cr_assert(strstr(doc, "<identity>sip:alice@example.com</identity>"), "%s", doc);
    cr_assert(strstr(doc, "<target uri=\"sip:alice@example.com\"/>"), "%s", doc);
    cr_assert_null(strstr(doc, "<duration>"), "only confirmed dialogs last");
    cr_assert(strstr(doc, "</dialog-info>\n"));
    free(doc);
}

Test(dialog_info, terminated_says_why_confirmed_says_how_long)
{
    struct dinfo_dialog d[2] = {ringing(), ringing()};
    d[0].state = DINFO_TERMINATED;
    d[0].event = DINFO_EV_CANCELLED;
    d[0].code = 487;
    d[1].state = DINFO_CONFIRMED;
    d[1].code = 0;
    d[1].initiator = true;
    d[1].since_ms = 5000;
    d[1].remote[0] = '\0'; /* withheld: no <remote> at all */
    char *doc = write(d, 2, false);
    cr_assert(strstr(doc, "state=\"partial\""), "%s", doc);
    cr_assert(strstr(doc, "<state event=\"cancelled\" code=\"487\">terminated</state>"), "%s", doc);
    cr_assert(strstr(doc, "direction=\"initiator\">\n    <state>confirmed</state>\n"
                          "    <duration>60</duration>\n  </dialog>"),
              "%s", doc);
    free(doc);
}

Test(dialog_info, no_dialogs_is_an_empty_full_document)
{
    char *doc = write(NULL, 0, true);
    cr_assert(strstr(doc, "state=\"full\" entity=\"sip:bob@example.com\">\n</dialog-info>\n"), "%s",
              doc);
    free(doc);
}

Test(dialog_info, what_strangers_chose_stays_quoted)
{
    struct dinfo_dialog d = ringing();
    dinfo_set(d.remote_display, sizeof(d.remote_display), "\"><evil a='1'>&");
    dinfo_set(d.call_id, sizeof(d.call_id), "x\"/><dialog id=\"y");
    dinfo_set(d.remote, sizeof(d.remote), "sip:a@b\x01\xff<");
    char *doc = write(&d, 1, true);
    cr_assert(strstr(doc, "display=\"&quot;&gt;&lt;evil a=&apos;1&apos;&gt;&amp;\""), "%s", doc);
    cr_assert(strstr(doc, "call-id=\"x&quot;/&gt;&lt;dialog id=&quot;y\""), "%s", doc);
    /* a control character and a byte that is not UTF-8: U+FFFD each */
    cr_assert(strstr(doc, ">sip:a@b\xEF\xBF\xBD\xEF\xBF\xBD&lt;</identity>"), "%s", doc);
    cr_assert_eq(strstr(doc, "<evil"), NULL);
    free(doc);
}

Test(dialog_info, long_values_are_cut_between_characters)
{
    char field[6];
    dinfo_set(field, sizeof(field), "ab\xC3\xA9\xC3\xA9"); /* "abéé": 6 bytes */
    cr_assert_str_eq(field, "ab\xC3\xA9", "5 bytes fit, the second é does not");
    dinfo_set(field, sizeof(field), NULL);
    cr_assert_str_eq(field, "");
    cr_assert_str_eq(dinfo_state_name(DINFO_PROCEEDING), "proceeding");
    cr_assert_null(dinfo_event_name(DINFO_EV_NONE));
    cr_assert_str_eq(dinfo_event_name(DINFO_EV_REMOTE_BYE), "remote-bye");
}
