/* Unit tests for src/io/stream_frame.c: where a SIP message ends on a TCP or
 * TLS stream (RFC 3261 §18.3) and the CRLF keep-alives of RFC 5626 §4.4.1. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "switchboard/stream_frame.h"

#define OPTIONS_HEAD                                                                               \
    "OPTIONS sip:sb@127.0.0.1 SIP/2.0\r\n"                                                         \
    "Via: SIP/2.0/TCP 127.0.0.1:5070;branch=z9hG4bK1\r\n"                                          \
    "From: <sip:a@127.0.0.1>;tag=1\r\n"                                                            \
    "To: <sip:sb@127.0.0.1>\r\n"                                                                   \
    "Call-ID: frame@test\r\n"                                                                      \
    "CSeq: 1 OPTIONS\r\n"

static const char *const MESSAGE = OPTIONS_HEAD "Content-Length: 5\r\n\r\nhello";

static struct stream_frame frame(const char *buf, size_t len)
{
    struct stream_frame f;
    stream_frame_next(buf, len, NULL, &f);
    return f;
}

Test(stream_frame, one_whole_message)
{
    struct stream_frame f = frame(MESSAGE, strlen(MESSAGE));
    cr_assert_eq(f.kind, STREAM_FRAME_MESSAGE);
    cr_assert_eq(f.skip, 0);
    cr_assert_eq(f.length, strlen(MESSAGE));
    cr_assert_eq(f.header_length, strlen(MESSAGE) - 5);
}

Test(stream_frame, every_prefix_asks_for_more)
{
    size_t n = strlen(MESSAGE);
    for (size_t i = 0; i < n; i++)
        cr_assert_eq(frame(MESSAGE, i).kind, STREAM_FRAME_MORE, "prefix of %zu bytes", i);
}

Test(stream_frame, two_coalesced_messages_split_at_the_length)
{
    size_t n = strlen(MESSAGE);
    char *two = malloc(2 * n);
    memcpy(two, MESSAGE, n);
    memcpy(two + n, MESSAGE, n);
    struct stream_frame f = frame(two, 2 * n - 3);
    cr_assert_eq(f.kind, STREAM_FRAME_MESSAGE);
    cr_assert_eq(f.length, n);
    cr_assert_eq(frame(two + n, n - 3).kind, STREAM_FRAME_MORE);
    cr_assert_eq(frame(two + n, n).kind, STREAM_FRAME_MESSAGE);
    free(two);
}

Test(stream_frame, compact_form_and_spacing)
{
    const char *m = OPTIONS_HEAD "l : 2\r\n\r\nhi";
    struct stream_frame f = frame(m, strlen(m));
    cr_assert_eq(f.kind, STREAM_FRAME_MESSAGE);
    cr_assert_eq(f.length, strlen(m));
    const char *lower = OPTIONS_HEAD "content-length:\t0\r\n\r\n";
    cr_assert_eq(frame(lower, strlen(lower)).kind, STREAM_FRAME_MESSAGE);
}

Test(stream_frame, a_header_merely_containing_the_name_does_not_count)
{
    const char *m = OPTIONS_HEAD "X-Note: Content-Length: 3\r\n\r\n";
    cr_assert_eq(frame(m, strlen(m)).kind, STREAM_FRAME_NO_LENGTH);
}

Test(stream_frame, missing_length_and_bad_lengths)
{
    const char *none = OPTIONS_HEAD "\r\n";
    cr_assert_eq(frame(none, strlen(none)).kind, STREAM_FRAME_NO_LENGTH);
    const char *word = OPTIONS_HEAD "Content-Length: five\r\n\r\n";
    cr_assert_eq(frame(word, strlen(word)).kind, STREAM_FRAME_BAD);
    const char *neg = OPTIONS_HEAD "Content-Length: -1\r\n\r\n";
    cr_assert_eq(frame(neg, strlen(neg)).kind, STREAM_FRAME_BAD);
    const char *huge = OPTIONS_HEAD "Content-Length: 99999999999999999999\r\n\r\n";
    cr_assert_eq(frame(huge, strlen(huge)).kind, STREAM_FRAME_BAD);
    const char *two = OPTIONS_HEAD "Content-Length: 1\r\nl: 2\r\n\r\nab";
    cr_assert_eq(frame(two, strlen(two)).kind, STREAM_FRAME_BAD);
    const char *same = OPTIONS_HEAD "Content-Length: 2\r\nl: 2\r\n\r\nab";
    cr_assert_eq(frame(same, strlen(same)).kind, STREAM_FRAME_MESSAGE);
}

Test(stream_frame, a_body_past_the_bound_is_too_big_before_it_arrives)
{
    const char *m = OPTIONS_HEAD "Content-Length: 70000\r\n\r\n";
    cr_assert_eq(frame(m, strlen(m)).kind, STREAM_FRAME_TOO_BIG);
}

Test(stream_frame, headers_that_never_end_are_too_big_at_the_bound)
{
    char *junk = malloc(STREAM_FRAME_MAX);
    memset(junk, 'a', STREAM_FRAME_MAX);
    cr_assert_eq(frame(junk, STREAM_FRAME_MAX - 1).kind, STREAM_FRAME_MORE);
    cr_assert_eq(frame(junk, STREAM_FRAME_MAX).kind, STREAM_FRAME_TOO_BIG);
    free(junk);
}

Test(stream_frame, keepalive_ping_and_pong)
{
    struct stream_frame f = frame("\r\n\r\n", 4);
    cr_assert_eq(f.kind, STREAM_FRAME_PING);
    cr_assert_eq(f.skip, 4);
    /* half a ping waits for the rest */
    cr_assert_eq(frame("\r\n", 2).kind, STREAM_FRAME_MORE);
    cr_assert_eq(frame("\r\n\r", 3).kind, STREAM_FRAME_MORE);
    /* a lone CRLF before a message is a pong (or padding): skipped */
    f = frame("\r\nOPTIONS", 9);
    cr_assert_eq(f.kind, STREAM_FRAME_PONG);
    cr_assert_eq(f.skip, 2);
}

/* A peer sending a byte at a time: each look resumes where the last one
 * stopped (never the whole buffer again) and frames the same message. */
Test(stream_frame, a_byte_at_a_time_resumes_where_it_stopped)
{
    const char *two = "OPTIONS sip:sb@127.0.0.1 SIP/2.0\r\nContent-Length: 3\r\n\r\nabc";
    size_t n = strlen(two);
    struct stream_scan scan = {0};
    struct stream_frame f;
    for (size_t i = 1; i < n; i++) {
        stream_frame_next(two, i, &scan, &f);
        cr_assert_eq(f.kind, STREAM_FRAME_MORE, "prefix of %zu bytes", i);
        size_t head = strlen(two) - 3;
        if (i < head)
            cr_assert_eq(scan.scanned, i, "headers looked at up to the end of the read");
        else
            cr_assert_eq(scan.total, n, "once the headers are in, only the length counts");
    }
    stream_frame_next(two, n, &scan, &f);
    cr_assert_eq(f.kind, STREAM_FRAME_MESSAGE);
    cr_assert_eq(f.length, n);
}

/* The blank line split across two reads is still found. */
Test(stream_frame, a_blank_line_split_between_reads)
{
    const char *m = "OPTIONS sip:sb@127.0.0.1 SIP/2.0\r\nContent-Length: 0\r\n\r\n";
    size_t n = strlen(m);
    for (size_t cut = n - 4; cut < n; cut++) {
        struct stream_scan scan = {0};
        struct stream_frame f;
        stream_frame_next(m, cut, &scan, &f);
        cr_assert_eq(f.kind, STREAM_FRAME_MORE);
        stream_frame_next(m, n, &scan, &f);
        cr_assert_eq(f.kind, STREAM_FRAME_MESSAGE, "cut at %zu", cut);
        cr_assert_eq(f.length, n);
    }
}
