/* Unit tests for src/core/bencode.c: rtpengine's ng messages as they are
 * written and read (an offer and its answer), the strict forms (canonical
 * integers, string keys, bounded depth and node count), and that what is
 * read re-encodes to the very bytes. */
#include <criterion/criterion.h>
#include <limits.h>
#include <string.h>

#include "switchboard/bencode.h"
#include "switchboard/buf.h"
#include "switchboard/error.h"

static struct bencode_node nodes[64];
static size_t count;

static long parse(const char *text)
{
    return bencode_parse(text, strlen(text), nodes, 64, &count);
}

Test(bencode, an_offer_is_written_as_rtpengine_reads_it)
{
    struct sb_buf b = {0};
    bencode_dict(&b);
    bencode_cstr(&b, "command");
    bencode_cstr(&b, "offer");
    bencode_cstr(&b, "flags");
    bencode_list(&b);
    bencode_cstr(&b, "trust-address");
    bencode_end(&b);
    bencode_cstr(&b, "ttl");
    bencode_int(&b, -12);
    bencode_end(&b);
    cr_assert_not(b.failed);
    cr_assert_str_eq(b.data, "d7:command5:offer5:flagsl13:trust-addresse3:ttli-12ee");
    sb_buf_free(&b);
}

Test(bencode, numbers_are_written_in_full_at_their_limits)
{
    struct sb_buf b = {0};
    bencode_int(&b, 0);
    bencode_int(&b, LLONG_MAX);
    bencode_int(&b, LLONG_MIN);
    bencode_str(&b, "", 0);
    bencode_str(&b, "0123456789", 10);
    cr_assert_not(b.failed);
    cr_assert_str_eq(b.data, "i0ei9223372036854775807ei-9223372036854775808e0:10:0123456789");
    sb_buf_free(&b);
}

Test(bencode, an_answer_is_read_and_looked_up)
{
    const char *text = "d3:sdp12:v=0\r\no=- 1 16:result2:ok4:tagsl1:a1:bee";
    long took = parse(text);
    cr_assert_eq(took, (long)strlen(text));
    cr_assert_eq(nodes[0].type, BENCODE_DICT);
    cr_assert_eq(nodes[0].next, count);
    cr_assert(bencode_is(nodes, bencode_get(nodes, 0, "result"), "ok"));
    long sdp = bencode_get(nodes, 0, "sdp");
    cr_assert_eq(nodes[sdp].len, 12, "a string may hold CR LF and spaces");
    long tags = bencode_get(nodes, 0, "tags");
    cr_assert_eq(nodes[tags].type, BENCODE_LIST);
    cr_assert(bencode_is(nodes, tags + 1, "a"));
    cr_assert(bencode_is(nodes, (long)nodes[tags + 1].next, "b"));
    cr_assert_eq(bencode_get(nodes, 0, "missing"), -1);
    cr_assert_eq(bencode_get(nodes, (size_t)tags, "a"), -1, "a list has no keys");
}

Test(bencode, what_follows_the_value_is_left_alone)
{
    cr_assert_eq(parse("i42etrailing"), 4);
    cr_assert_eq(nodes[0].num, 42);
    cr_assert_eq(count, 1);
}

Test(bencode, integers_only_in_their_canonical_form)
{
    cr_assert_eq(parse("i0e"), 3);
    cr_assert_eq(parse("i-9223372036854775808e"), 22);
    cr_assert_eq(nodes[0].num, (-9223372036854775807LL - 1));
    cr_assert_eq(parse("i9223372036854775807e"), 21);
    cr_assert_eq(nodes[0].num, 9223372036854775807LL);
    const char *bad[] = {"i-0e",
                         "i03e",
                         "ie",
                         "i-e",
                         "i1",
                         "i9223372036854775808e",
                         "i-9223372036854775809e",
                         "i92233720368547758070e",
                         "i+1e",
                         "i1.5e"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        cr_assert_eq(parse(bad[i]), SB_EMALFORMED, "%s", bad[i]);
}

Test(bencode, broken_structures_are_refused)
{
    const char *bad[] = {"",
                         "5:abc",
                         "05:abcde",
                         "l",
                         "d3:keye",
                         "di1e1:ve",
                         "l1:ae1:b",
                         "x",
                         "3abc",
                         "dle",
                         "18446744073709551616:x",
                         "d1:a",
                         "li1ei2e",
                         "-1:a"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        long rc = parse(bad[i]);
        /* "l1:ae1:b" is a whole list followed by other bytes: 5 taken */
        if (!strcmp(bad[i], "l1:ae1:b"))
            cr_assert_eq(rc, 5);
        else
            cr_assert_eq(rc, SB_EMALFORMED, "%s gave %ld", bad[i], rc);
    }
    cr_assert_eq(count, 0, "a failed parse leaves no nodes");
}

Test(bencode, nesting_and_size_are_bounded)
{
    char deep[2 * BENCODE_DEPTH + 3];
    memset(deep, 'l', BENCODE_DEPTH);
    memset(deep + BENCODE_DEPTH, 'e', BENCODE_DEPTH);
    deep[2 * BENCODE_DEPTH] = '\0';
    cr_assert_eq(parse(deep), 2 * BENCODE_DEPTH, "%d levels are fine", BENCODE_DEPTH);
    memmove(deep + 1, deep, 2 * BENCODE_DEPTH + 1);
    deep[0] = 'l';
    strcat(deep, "e");
    cr_assert_eq(parse(deep), SB_EMALFORMED, "one more is too deep");
    struct bencode_node few[2];
    size_t n;
    cr_assert_eq(bencode_parse("li1ei2ee", 8, few, 2, &n), SB_ELIMIT);
}

Test(bencode, what_is_read_writes_back_byte_for_byte)
{
    const char *text = "d4:listli-7e0:d1:xi0eee3:str5:hello4:zeroi0ee";
    long took = parse(text);
    cr_assert_eq(took, (long)strlen(text));
    struct sb_buf b = {0};
    bencode_write(&b, nodes, 0);
    cr_assert_str_eq(b.data, text);
    sb_buf_free(&b);
}
