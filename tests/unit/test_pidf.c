/* Unit tests for src/sip/pidf.c: RFC 3863 presence documents with RPID's
 * on-the-phone, the entity escaped. */
#include <criterion/criterion.h>
#include <string.h>

#include "switchboard/buf.h"
#include "switchboard/pidf.h"

static char *doc(const char *entity, enum pidf_status s)
{
    struct sb_buf b = {0};
    pidf_write(&b, entity, s);
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
