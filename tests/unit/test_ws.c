/* Unit tests for src/io/ws.c: the WebSocket opening handshake (RFC 6455
 * §4.2, with RFC 7118's "sip" subprotocol) and a session's framing. */
#include <criterion/criterion.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "switchboard/ws.h"

#define UPGRADE_HEAD                                                                               \
    "GET / HTTP/1.1\r\n"                                                                           \
    "Host: pbx.test:5066\r\n"                                                                      \
    "Upgrade: websocket\r\n"                                                                       \
    "Connection: keep-alive, Upgrade\r\n"                                                          \
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"                                              \
    "Sec-WebSocket-Version: 13\r\n"

static struct ws_request parse(const char *text)
{
    struct ws_request r;
    ws_request_parse(text, strlen(text), &r);
    return r;
}

Test(ws_request, an_upgrade_offering_sip)
{
    const char *text = UPGRADE_HEAD "Sec-WebSocket-Protocol: sip\r\n"
                                    "Origin: https://pbx.test:5066\r\n\r\nextra";
    struct ws_request r = parse(text);
    cr_assert_eq(r.kind, WS_REQUEST_UPGRADE, "%s", r.why);
    cr_assert_eq(r.length, strlen(text) - 5);
    cr_assert_str_eq(r.path, "/");
    cr_assert_str_eq(r.host, "pbx.test:5066");
    cr_assert_str_eq(r.origin, "https://pbx.test:5066");
    cr_assert(ws_origin_allowed(&r, NULL));
}

Test(ws_request, the_accept_key_of_rfc_6455)
{
    struct ws_request r = parse(UPGRADE_HEAD "Sec-WebSocket-Protocol: foo, sip\r\n\r\n");
    cr_assert_eq(r.kind, WS_REQUEST_UPGRADE);
    char out[512];
    size_t n = ws_accept_response(&r, out, sizeof(out));
    cr_assert_gt(n, 0);
    /* RFC 6455 §1.3's example */
    cr_assert_not_null(strstr(out, "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"));
    cr_assert_not_null(strstr(out, "Sec-WebSocket-Protocol: sip\r\n"));
    cr_assert(strncmp(out, "HTTP/1.1 101 ", 13) == 0);
}

Test(ws_request, without_sip_it_is_refused)
{
    struct ws_request r = parse(UPGRADE_HEAD "Sec-WebSocket-Protocol: chat\r\n\r\n");
    cr_assert_eq(r.kind, WS_REQUEST_BAD);
    cr_assert_eq(r.status, 400);
    r = parse(UPGRADE_HEAD "\r\n");
    cr_assert_eq(r.kind, WS_REQUEST_BAD);
}

Test(ws_request, other_versions_and_methods)
{
    struct ws_request r = parse("GET / HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\n"
                                "Connection: Upgrade\r\nSec-WebSocket-Key: "
                                "dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 8\r\n"
                                "Sec-WebSocket-Protocol: sip\r\n\r\n");
    cr_assert_eq(r.status, 426);
    char out[512];
    cr_assert_gt(ws_http_error(426, "version", out, sizeof(out)), 0);
    cr_assert_not_null(strstr(out, "Sec-WebSocket-Version: 13\r\n"));
    r = parse("POST / HTTP/1.1\r\nHost: h\r\n\r\n");
    cr_assert_eq(r.status, 405);
    r = parse("GET / HTTP/2\r\nHost: h\r\n\r\n");
    cr_assert_eq(r.status, 400);
    r = parse("GET / HTTP/1.1\r\n folded\r\n\r\n");
    cr_assert_eq(r.status, 400);
}

Test(ws_request, a_plain_get_is_a_page)
{
    struct ws_request r = parse("GET /phone.js HTTP/1.1\r\nHost: h\r\n\r\n");
    cr_assert_eq(r.kind, WS_REQUEST_GET);
    cr_assert_str_eq(r.path, "/phone.js");
    r = parse("HEAD / HTTP/1.1\r\nHost: h\r\n\r\n");
    cr_assert_eq(r.kind, WS_REQUEST_GET);
    cr_assert(r.head);
}

Test(ws_request, more_until_the_blank_line_then_too_large)
{
    struct ws_request r = parse("GET / HTTP/1.1\r\nHost: h\r\n");
    cr_assert_eq(r.kind, WS_REQUEST_MORE);
    char *big = malloc(WS_HANDSHAKE_MAX + 10);
    memset(big, 'a', WS_HANDSHAKE_MAX + 9);
    big[WS_HANDSHAKE_MAX + 9] = '\0';
    r = parse(big);
    cr_assert_eq(r.kind, WS_REQUEST_BAD);
    cr_assert_eq(r.status, 431);
    free(big);
}

Test(ws_request, origins)
{
    struct ws_request r = parse(UPGRADE_HEAD "Sec-WebSocket-Protocol: sip\r\n"
                                             "Origin: https://evil.test\r\n\r\n");
    cr_assert_not(ws_origin_allowed(&r, NULL));
    cr_assert_not(ws_origin_allowed(&r, "https://pbx.test:5066"));
    cr_assert(ws_origin_allowed(&r, "https://pbx.test:5066, https://EVIL.test"));
    cr_assert(ws_origin_allowed(&r, "*"));
    r = parse(UPGRADE_HEAD "Sec-WebSocket-Protocol: sip\r\nOrigin: https://pbx.test\r\n\r\n");
    cr_assert_not(ws_origin_allowed(&r, NULL), "another port is another origin");
    r = parse(UPGRADE_HEAD "Sec-WebSocket-Protocol: sip\r\n\r\n");
    cr_assert(ws_origin_allowed(&r, "https://pbx.test"), "no Origin: no browser page");
}

/* --- the session --- */

struct sink {
    char data[70000];
    size_t len;
    bool refuse;
};

static bool sink_write(void *ctx, const char *data, size_t len)
{
    struct sink *s = ctx;
    if (s->refuse || s->len + len > sizeof(s->data))
        return false;
    memcpy(s->data + s->len, data, len);
    s->len += len;
    return true;
}

/* A client's frame (RFC 6455 §5.2), masked unless @mask is false. */
static size_t client_frame(unsigned char *out, bool fin, unsigned opcode, const char *payload,
                           size_t len, bool mask)
{
    static const unsigned char key[4] = {0x12, 0x34, 0x56, 0x78};
    size_t n = 0;
    out[n++] = (unsigned char)((fin ? 0x80 : 0) | opcode);
    unsigned char m = mask ? 0x80 : 0;
    if (len < 126) {
        out[n++] = (unsigned char)(m | len);
    } else if (len < 65536) {
        out[n++] = m | 126;
        out[n++] = (unsigned char)(len >> 8);
        out[n++] = (unsigned char)len;
    } else {
        out[n++] = m | 127;
        for (int i = 7; i >= 0; i--)
            out[n++] = (unsigned char)((uint64_t)len >> (8 * i));
    }
    if (mask) {
        memcpy(out + n, key, 4);
        n += 4;
    }
    for (size_t i = 0; i < len; i++)
        out[n + i] = (unsigned char)payload[i] ^ (mask ? key[i % 4] : 0);
    return n + len;
}

static struct ws_session *session(struct sink *s, size_t max)
{
    struct ws_session *ws;
    cr_assert_eq(ws_session_new(max, sink_write, s, &ws), 0);
    return ws;
}

Test(ws_session, a_masked_message_byte_by_byte)
{
    static struct sink s;
    struct ws_session *ws = session(&s, 65536);
    unsigned char f[256];
    size_t n = client_frame(f, true, 1, "OPTIONS sip:x SIP/2.0\r\n\r\n", 25, true);
    for (size_t i = 0; i < n; i++)
        cr_assert_eq(ws_session_feed(ws, (const char *)f + i, 1), WS_OPEN);
    char *buf;
    size_t len;
    cr_assert(ws_session_next(ws, &buf, &len));
    cr_assert_eq(len, 25);
    cr_assert(memcmp(buf, "OPTIONS sip:x SIP/2.0\r\n\r\n", 25) == 0);
    cr_assert_eq(buf[len], '\0');
    cr_assert_not(ws_session_next(ws, &buf, &len));
    ws_session_free(ws);
}

Test(ws_session, fragments_with_a_ping_between)
{
    static struct sink s;
    struct ws_session *ws = session(&s, 65536);
    unsigned char f[512];
    size_t n = client_frame(f, false, 1, "SIP/2.0 200", 11, true);
    n += client_frame(f + n, true, 9, "hi", 2, true); /* a ping inside the message */
    n += client_frame(f + n, true, 0, " OK\r\n\r\n", 7, true);
    cr_assert_eq(ws_session_feed(ws, (const char *)f, n), WS_OPEN);
    char *buf;
    size_t len;
    cr_assert(ws_session_next(ws, &buf, &len));
    cr_assert_eq(len, 18);
    cr_assert(memcmp(buf, "SIP/2.0 200 OK\r\n\r\n", 18) == 0);
    /* the pong: unmasked, same payload */
    cr_assert_eq(s.len, 4);
    cr_assert(memcmp(s.data, "\x8a\x02hi", 4) == 0);
    cr_assert_eq(ws_session_pings(ws), 1);
    ws_session_free(ws);
}

Test(ws_session, an_unmasked_client_frame_is_a_protocol_error)
{
    static struct sink s;
    struct ws_session *ws = session(&s, 65536);
    unsigned char f[64];
    size_t n = client_frame(f, true, 1, "hello", 5, false);
    cr_assert_eq(ws_session_feed(ws, (const char *)f, n), WS_CLOSING);
    char *buf;
    size_t len;
    cr_assert_not(ws_session_next(ws, &buf, &len));
    /* close 1002 */
    cr_assert_geq(s.len, 4);
    cr_assert_eq((unsigned char)s.data[0], 0x88);
    cr_assert_eq((unsigned char)s.data[2] << 8 | (unsigned char)s.data[3], 1002);
    ws_session_free(ws);
}

Test(ws_session, a_message_past_the_limit_closes_with_1009)
{
    static struct sink s;
    struct ws_session *ws = session(&s, 100);
    static unsigned char f[300];
    static char payload[200];
    memset(payload, 'x', sizeof(payload));
    size_t n = client_frame(f, true, 2, payload, sizeof(payload), true);
    cr_assert_eq(ws_session_feed(ws, (const char *)f, n), WS_CLOSING);
    cr_assert_eq((unsigned char)s.data[2] << 8 | (unsigned char)s.data[3], 1009);
    ws_session_free(ws);
}

Test(ws_session, a_close_mid_message_is_answered_and_the_part_dropped)
{
    static struct sink s;
    struct ws_session *ws = session(&s, 65536);
    unsigned char f[128];
    size_t n = client_frame(f, false, 1, "INVITE sip:", 11, true);
    n += client_frame(f + n, true, 8, "\x03\xe8", 2, true);
    cr_assert_eq(ws_session_feed(ws, (const char *)f, n), WS_CLOSING);
    char *buf;
    size_t len;
    cr_assert_not(ws_session_next(ws, &buf, &len));
    cr_assert_eq((unsigned char)s.data[0], 0x88);
    ws_session_free(ws);
}

Test(ws_session, sending_frames_text_or_binary)
{
    static struct sink s;
    struct ws_session *ws = session(&s, 65536);
    cr_assert_eq(ws_session_send(ws, "SIP/2.0 200 OK\r\n\r\n", 18), WS_OPEN);
    cr_assert_eq(s.len, 20);
    cr_assert_eq((unsigned char)s.data[0], 0x81); /* fin, text */
    cr_assert_eq((unsigned char)s.data[1], 18);   /* unmasked */
    s.len = 0;
    cr_assert_eq(ws_session_send(ws, "\xff\xfe", 2), WS_OPEN);
    cr_assert_eq((unsigned char)s.data[0], 0x82); /* not UTF-8: binary */
    s.refuse = true;
    cr_assert_eq(ws_session_send(ws, "x", 1), WS_FAILED);
    ws_session_free(ws);
}

Test(ws_session, our_close)
{
    static struct sink s;
    struct ws_session *ws = session(&s, 65536);
    cr_assert_eq(ws_session_close(ws, 1001), WS_CLOSING);
    cr_assert_eq((unsigned char)s.data[0], 0x88);
    cr_assert_eq(ws_session_send(ws, "x", 1), WS_CLOSING);
    ws_session_free(ws);
}
