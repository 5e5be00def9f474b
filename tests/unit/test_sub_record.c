/* Unit tests for src/sip/sub_record.c: a subscription's record comes back
 * field for field, and a record cut short, with a field missing, of the
 * wrong type or out of range, or with bytes after it, is refused. */
#include <criterion/criterion.h>
#include <string.h>

#include "switchboard/buf.h"
#include "switchboard/error.h"
#include "switchboard/sub_record.h"

static struct sub_record sample(void)
{
    return (struct sub_record){
        .pkg = 2,
        .user = "bob",
        .source = "192.0.2.7",
        .entity = "sip:bob@example.com",
        .their_from = "<sip:lamp@example.com>;tag=s1",
        .their_to = "<sip:bob@example.com>",
        .our_tag = "sb-42",
        .target = "sip:lamp@192.0.2.7:5062",
        .routes = "Route: <sip:edge;lr>\r\n",
        .event = "presence;id=7",
        .call_id = "blf-1@192.0.2.7",
        .transport = 1,
        .peer = "192.0.2.7:5062",
        .local = "192.0.2.1:5060",
        .listen_index = 3,
        .cseq = 4000000000u,
        .doc_version = 12,
    };
}

Test(sub_record, every_field_comes_back)
{
    struct sub_record in = sample(), out;
    struct sb_buf b = {0};
    sub_record_write(&b, &in);
    cr_assert_not(b.failed);
    cr_assert_eq(sub_record_read(b.data, b.len, &out), 0);
    cr_assert_eq(out.pkg, 2);
    cr_assert_str_eq(out.user, "bob");
    cr_assert_str_eq(out.source, "192.0.2.7");
    cr_assert_str_eq(out.entity, in.entity);
    cr_assert_str_eq(out.their_from, in.their_from);
    cr_assert_str_eq(out.their_to, in.their_to);
    cr_assert_str_eq(out.our_tag, "sb-42");
    cr_assert_str_eq(out.target, in.target);
    cr_assert_str_eq(out.routes, in.routes);
    cr_assert_str_eq(out.event, "presence;id=7");
    cr_assert_str_eq(out.call_id, in.call_id);
    cr_assert_eq(out.transport, 1);
    cr_assert_str_eq(out.peer, in.peer);
    cr_assert_str_eq(out.local, in.local);
    cr_assert_eq(out.listen_index, 3);
    cr_assert_eq(out.cseq, 4000000000u);
    cr_assert_eq(out.doc_version, 12);
    sub_record_free(&out);
    cr_assert_null(out.user);
    sb_buf_free(&b);
}

Test(sub_record, a_damaged_record_is_refused)
{
    struct sub_record in = sample(), out;
    struct sb_buf b = {0};
    sub_record_write(&b, &in);
    cr_assert_eq(sub_record_read(b.data, b.len - 1, &out), SB_EMALFORMED, "cut short");
    struct sb_buf more = {0};
    sb_buf_append(&more, b.data, b.len);
    sb_buf_puts(&more, "x");
    cr_assert_eq(sub_record_read(more.data, more.len, &out), SB_EMALFORMED, "bytes after it");
    const char *missing = "d4:cseqi1e11:doc_versioni1ee";
    cr_assert_eq(sub_record_read(missing, strlen(missing), &out), SB_EMALFORMED);
    /* the CSeq past 32 bits */
    struct sb_buf big = {0};
    const char *at = strstr(b.data, "4:cseqi4000000000e");
    cr_assert_not_null(at);
    sb_buf_append(&big, b.data, (size_t)(at - b.data));
    sb_buf_puts(&big, "4:cseqi4294967296e");
    sb_buf_puts(&big, at + strlen("4:cseqi4000000000e"));
    cr_assert_eq(sub_record_read(big.data, big.len, &out), SB_EMALFORMED, "CSeq out of range");
    /* a text field as an integer */
    struct sb_buf typed = {0};
    at = strstr(b.data, "4:user3:bob");
    cr_assert_not_null(at);
    sb_buf_append(&typed, b.data, (size_t)(at - b.data));
    sb_buf_puts(&typed, "4:useri7e");
    sb_buf_puts(&typed, at + strlen("4:user3:bob"));
    cr_assert_eq(sub_record_read(typed.data, typed.len, &out), SB_EMALFORMED, "user not a string");
    cr_assert_eq(sub_record_read("", 0, &out), SB_EMALFORMED);
    sb_buf_free(&b);
    sb_buf_free(&more);
    sb_buf_free(&big);
    sb_buf_free(&typed);
}
