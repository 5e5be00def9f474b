/* Unit tests for src/sip/pidf.c: RFC 3863 presence documents with RPID's
 * on-the-phone, the entity escaped. */
#include <criterion/criterion.h>
#include <string.h>

#include "switchboard/buf.h"
#include "switchboard/error.h"
#include "switchboard/pidf.h"

static char *doc(const char *entity, enum pidf_status s)
{
    struct sb_buf b = {0};
    pidf_write(&b, entity, s, NULL);
    sb_buf_append(&b, "", 1);
    cr_assert_not(b.failed);
    return b.data;
}

Test(pidf, each_status_as_a_document)
{
    char *off = doc("sip:bob@office.example", PIDF_OFFLINE);
    cr_assert_not_null(strstr(off, "<presence xmlns=\"urn:ietf:params:xml:ns:pidf\""));
    cr_assert_not_null(strstr(off, "entity=\"sip:bob@office.example\""));
    cr_assert_not_null(strstr(off, "<basic>closed</basic>"));
    cr_assert_null(strstr(off, "activities"));
    char *on = doc("sip:bob@office.example", PIDF_ONLINE);
    cr_assert_not_null(strstr(on, "<basic>open</basic>"));
    cr_assert_null(strstr(on, "activities"), "idle says no activity");
    char *busy = doc("sip:bob@office.example", PIDF_ON_THE_PHONE);
    cr_assert_not_null(strstr(busy, "<basic>open</basic>"));
    cr_assert_not_null(strstr(busy, "<rpid:activities><rpid:on-the-phone/></rpid:activities>"));
    cr_assert_not_null(strstr(busy, "xmlns:rpid=\"urn:ietf:params:xml:ns:pidf:rpid\""));
    cr_assert_not_null(strstr(busy, "</presence>\n"));
    free(off);
    free(on);
    free(busy);
}

Test(pidf, the_entity_is_escaped)
{
    char *d = doc("sip:\"a&b\"<x>@office.example", PIDF_ONLINE);
    cr_assert_not_null(strstr(d, "entity=\"sip:&quot;a&amp;b&quot;&lt;x&gt;@office.example\""),
                       "%s", d);
    free(d);
    cr_assert_str_eq(pidf_status_name(PIDF_ON_THE_PHONE), "on-the-phone");
    cr_assert_str_eq(pidf_status_name(PIDF_OFFLINE), "offline");
}

/* What Linphone 5.1 publishes (captured from linphonec with publish=1). */
static const char linphone_online[] =
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
    "<presence xmlns:dm=\"urn:ietf:params:xml:ns:pidf:data-model\" "
    "xmlns:rpid=\"urn:ietf:params:xml:ns:pidf:rpid\" "
    "xmlns:pidfonline=\"http://www.linphone.org/xsds/pidfonline.xsd\" "
    "entity=\"sip:bob@127.0.0.1:15160\" xmlns=\"urn:ietf:params:xml:ns:pidf\">\n"
    " <tuple id=\"ujispq\">\n  <status>\n   <basic>open</basic>\n   <pidfonline:online/>\n"
    "  </status>\n  <contact priority=\"0.8\">sip:bob@127.0.0.1:15160</contact>\n"
    "  <timestamp>2026-12-04T20:12:40Z</timestamp>\n </tuple>\n</presence>\n";

Test(pidf, reads_what_linphone_publishes)
{
    struct pidf_published p;
    cr_assert_eq(pidf_read(linphone_online, strlen(linphone_online), &p), 0);
    cr_assert_eq(p.basic, PIDF_BASIC_OPEN);
    cr_assert_str_eq(p.activity, "");
    cr_assert_str_eq(p.note, "");
}

Test(pidf, reads_activity_and_note_whatever_the_prefixes)
{
    static const char doc[] =
        "<presence xmlns='urn:ietf:params:xml:ns:pidf' xmlns:r='urn:ietf:params:xml:ns:pidf:rpid'"
        " xmlns:d='urn:ietf:params:xml:ns:pidf:data-model' entity='sip:a@b'>"
        "<!-- a comment <basic>closed</basic> -->"
        "<tuple id='t'><status><basic> closed </basic></status></tuple>"
        "<d:person id='p'><r:activities><r:vacation/><r:away/></r:activities>"
        "<d:note xml:lang='en'> back &lt;soon&gt; &amp; well </d:note></d:person></presence>";
    struct pidf_published p;
    cr_assert_eq(pidf_read(doc, strlen(doc), &p), 0);
    cr_assert_eq(p.basic, PIDF_BASIC_CLOSED);
    cr_assert_str_eq(p.activity, "vacation", "the first activity");
    cr_assert_str_eq(p.note, "back <soon> & well");
}

Test(pidf, refuses_what_is_not_presence_and_keeps_only_known_activities)
{
    struct pidf_published p;
    cr_assert_eq(pidf_read("<dialog-info/>", 14, &p), SB_EMALFORMED);
    cr_assert_eq(pidf_read("", 0, &p), SB_EMALFORMED);
    cr_assert_eq(pidf_read("<presence", 9, &p), SB_EMALFORMED, "no end of tag");
    static const char odd[] = "<presence><person><activities><x\"onload=alert(1)/>"
                              "</activities><note>cut";
    cr_assert_eq(pidf_read(odd, strlen(odd), &p), 0);
    cr_assert_str_eq(p.activity, "", "not an RFC 4480 activity");
    cr_assert_str_eq(p.note, "cut");
    /* written back: the activity and the note, escaped, while online only */
    struct pidf_published pub = {.basic = PIDF_BASIC_OPEN, .activity = "away", .note = "a<b"};
    struct sb_buf b = {0};
    pidf_write(&b, "sip:bob@pbx", PIDF_ONLINE, &pub);
    pidf_write(&b, "sip:bob@pbx", PIDF_ON_THE_PHONE, &pub);
    sb_buf_append(&b, "", 1);
    cr_assert_not_null(strstr(b.data, "<rpid:activities><rpid:away/></rpid:activities>"));
    cr_assert_not_null(strstr(b.data, "<dm:note>a&lt;b</dm:note>"));
    cr_assert_not_null(strstr(b.data, "<rpid:on-the-phone/>"));
    cr_assert_eq(strstr(strstr(b.data, "<rpid:on-the-phone/>"), "away"), NULL,
                 "on the phone, the published activity is not said");
    free(b.data);
}
