/* SIP over WebSocket: the handshake and the framing. See ws.h. */
#include "switchboard/ws.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/evp.h>
#include <wslay/wslay.h>

#include "switchboard/error.h"
#include "switchboard/utf8.h"

/* --- the opening handshake (RFC 6455 §4.2) -------------------------------- */

#define WS_GUID "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

static void request_bad(struct ws_request *r, int status, const char *why)
{
    r->kind = WS_REQUEST_BAD;
    r->status = status;
    r->why = why;
}

/* Copies @len bytes at @p into @out (@size with the NUL); false when they
 * do not fit. */
static bool copy_value(const char *p, size_t len, char *out, size_t size)
{
    if (len >= size)
        return false;
    memcpy(out, p, len);
    out[len] = '\0';
    return true;
}

/* Is @token one of the comma-separated tokens of @list (@len bytes),
 * compared without case (Connection, Upgrade, Sec-WebSocket-Protocol)? */
static bool list_has(const char *list, size_t len, const char *token)
{
    size_t want = strlen(token), i = 0;
    while (i < len) {
        while (i < len && (list[i] == ' ' || list[i] == '\t' || list[i] == ','))
            i++;
        size_t start = i;
        while (i < len && list[i] != ',')
            i++;
        size_t end = i;
        while (end > start && (list[end - 1] == ' ' || list[end - 1] == '\t'))
            end--;
        if (end - start == want && strncasecmp(list + start, token, want) == 0)
            return true;
    }
    return false;
}

/* What the headers a handshake needs say, as they are read. */
struct ws_headers {
    bool upgrade, connection_upgrade, sip, version13, has_version, too_long;
};

static void read_header(struct ws_request *r, struct ws_headers *h, const char *name,
                        size_t name_len, const char *v, size_t v_len)
{
#define IS(n) (name_len == sizeof(n) - 1 && strncasecmp(name, n, name_len) == 0)
    if (IS("Host"))
        h->too_long |= !copy_value(v, v_len, r->host, sizeof(r->host));
    else if (IS("Origin"))
        h->too_long |= !copy_value(v, v_len, r->origin, sizeof(r->origin));
    else if (IS("Sec-WebSocket-Key"))
        h->too_long |= !copy_value(v, v_len, r->key, sizeof(r->key));
    else if (IS("Authorization"))
        h->too_long |= !copy_value(v, v_len, r->authorization, sizeof(r->authorization));
    else if (IS("Upgrade"))
        h->upgrade |= list_has(v, v_len, "websocket");
    else if (IS("Connection"))
        h->connection_upgrade |= list_has(v, v_len, "upgrade");
    else if (IS("Sec-WebSocket-Protocol"))
        h->sip |= list_has(v, v_len, "sip");
    else if (IS("Sec-WebSocket-Version")) {
        h->has_version = true;
        h->version13 |= v_len == 2 && memcmp(v, "13", 2) == 0;
    }
#undef IS
}

/* Reads the header lines between @p and @end (each ending in CRLF).
 * Returns false on a line that is no header. */
static bool read_headers(struct ws_request *r, struct ws_headers *h, const char *p, const char *end)
{
    while (p < end) {
        const char *eol = memchr(p, '\r', (size_t)(end - p));
        if (!eol || eol + 1 >= end || eol[1] != '\n')
            return false;
        const char *colon = memchr(p, ':', (size_t)(eol - p));
        if (!colon || colon == p || *p == ' ' || *p == '\t')
            return false; /* no name, or an obsolete folded line */
        const char *v = colon + 1, *v_end = eol;
        while (v < v_end && (*v == ' ' || *v == '\t'))
            v++;
        while (v_end > v && (v_end[-1] == ' ' || v_end[-1] == '\t'))
            v_end--;
        read_header(r, h, p, (size_t)(colon - p), v, (size_t)(v_end - v));
        p = eol + 2;
    }
    return true;
}

/* "GET /path HTTP/1.1": returns the target's end, or NULL. */
static const char *read_request_line(struct ws_request *r, const char *p, const char *eol)
{
    size_t mlen = (size_t)(eol - p);
    if (mlen > 4 && memcmp(p, "GET ", 4) == 0)
        p += 4;
    else if (mlen > 5 && memcmp(p, "HEAD ", 5) == 0) {
        p += 5;
        r->head = true;
    } else {
        request_bad(r, 405, "only GET opens a WebSocket");
        return NULL;
    }
    const char *sp = memchr(p, ' ', (size_t)(eol - p));
    if (!sp || !copy_value(p, (size_t)(sp - p), r->path, sizeof(r->path)) || r->path[0] != '/') {
        request_bad(r, 400, "bad request line");
        return NULL;
    }
    size_t vlen = (size_t)(eol - sp - 1);
    if (vlen != 8 || (memcmp(sp + 1, "HTTP/1.1", 8) != 0 && memcmp(sp + 1, "HTTP/1.0", 8) != 0)) {
        request_bad(r, 400, "not HTTP/1.x");
        return NULL;
    }
    return sp;
}

/* The checks of RFC 6455 §4.2.1 and RFC 7118 §4 on an upgrade. */
static void judge_upgrade(struct ws_request *r, const struct ws_headers *h)
{
    if (!h->connection_upgrade)
        request_bad(r, 400, "Upgrade without Connection: Upgrade");
    else if (!h->version13)
        request_bad(r, 426, "only WebSocket version 13 is spoken");
    else if (strlen(r->key) != 24)
        request_bad(r, 400, "no usable Sec-WebSocket-Key");
    else if (!r->host[0])
        request_bad(r, 400, "no Host");
    else if (!h->sip)
        request_bad(r, 400, "the \"sip\" subprotocol is required (RFC 7118)");
    else if (r->head)
        request_bad(r, 405, "only GET opens a WebSocket");
    else
        r->kind = WS_REQUEST_UPGRADE;
}

void ws_request_parse(const char *buf, size_t len, struct ws_request *out)
{
    memset(out, 0, sizeof(*out));
    size_t look = len < WS_HANDSHAKE_MAX ? len : WS_HANDSHAKE_MAX;
    const char *blank = look >= 4 ? memmem(buf, look, "\r\n\r\n", 4) : NULL;
    if (!blank) {
        out->kind = WS_REQUEST_MORE;
        if (len >= WS_HANDSHAKE_MAX)
            request_bad(out, 431, "request headers too large");
        return;
    }
    out->length = (size_t)(blank - buf) + 4;
    if (memchr(buf, '\0', out->length)) {
        request_bad(out, 400, "a NUL in the request");
        return;
    }
    const char *eol = memmem(buf, out->length, "\r\n", 2);
    if (!read_request_line(out, buf, eol))
        return;
    struct ws_headers h = {0};
    if (!read_headers(out, &h, eol + 2, blank + 2)) {
        request_bad(out, 400, "a header line that is no header");
        return;
    }
    if (h.too_long) {
        request_bad(out, 400, "a header too long");
        return;
    }
    if (h.upgrade)
        judge_upgrade(out, &h);
    else
        out->kind = WS_REQUEST_GET;
}

/* The host[:port] of an Origin ("scheme://host[:port]"), or NULL. */
static const char *origin_authority(const char *origin)
{
    const char *sep = strstr(origin, "://");
    return sep && sep[3] ? sep + 3 : NULL;
}

bool ws_origin_allowed(const struct ws_request *r, const char *allowed)
{
    if (!r->origin[0])
        return true;
    if (!allowed || !allowed[0]) {
        const char *auth = origin_authority(r->origin);
        return auth && strcasecmp(auth, r->host) == 0;
    }
    size_t want = strlen(r->origin);
    for (const char *p = allowed; *p;) {
        p += strspn(p, " \t,");
        size_t n = strcspn(p, " \t,");
        if ((n == 1 && *p == '*') || (n == want && strncasecmp(p, r->origin, n) == 0))
            return true;
        p += n;
    }
    return false;
}

size_t ws_accept_response(const struct ws_request *r, char *out, size_t size)
{
    char joined[sizeof(r->key) + sizeof(WS_GUID)];
    int n = snprintf(joined, sizeof(joined), "%s%s", r->key, WS_GUID);
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned md_len = 0;
    if (n < 0 || !EVP_Digest(joined, (size_t)n, md, &md_len, EVP_sha1(), NULL))
        return 0;
    unsigned char accept[64];
    EVP_EncodeBlock(accept, md, (int)md_len);
    n = snprintf(out, size,
                 "HTTP/1.1 101 Switching Protocols\r\n"
                 "Upgrade: websocket\r\n"
                 "Connection: Upgrade\r\n"
                 "Sec-WebSocket-Accept: %s\r\n"
                 "Sec-WebSocket-Protocol: sip\r\n\r\n",
                 accept);
    return n > 0 && (size_t)n < size ? (size_t)n : 0;
}

static const char *status_reason(int status)
{
    switch (status) {
    case 400:
        return "Bad Request";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 426:
        return "Upgrade Required";
    case 431:
        return "Request Header Fields Too Large";
    case 503:
        return "Service Unavailable";
    default:
        return "Error";
    }
}

size_t ws_http_error(int status, const char *why, char *out, size_t size)
{
    int n = snprintf(out, size,
                     "HTTP/1.1 %d %s\r\n"
                     "Content-Type: text/plain; charset=utf-8\r\n"
                     "Content-Length: %zu\r\n"
                     "%s"
                     "Connection: close\r\n\r\n%s\n",
                     status, status_reason(status), strlen(why) + 1,
                     status == 426 ? "Sec-WebSocket-Version: 13\r\n" : "", why);
    return n > 0 && (size_t)n < size ? (size_t)n : 0;
}

/* --- the session ------------------------------------------------------------ */

struct ws_message {
    struct ws_message *next;
    size_t len;
    char data[]; /* len bytes and room for a NUL */
};

struct ws_session {
    wslay_event_context_ptr ctx;
    ws_write_fn write;
    void *write_ctx;
    bool write_failed;
    const char *in; /* what ws_session_feed was given, not yet read */
    size_t in_len;
    struct ws_message *head, *tail; /* received, not yet taken */
    struct ws_message *taken;       /* the one ws_session_next returned */
    unsigned long pings;
};

static ssize_t on_recv(wslay_event_context_ptr ctx, uint8_t *buf, size_t len, int flags, void *arg)
{
    (void)flags;
    struct ws_session *ws = arg;
    if (ws->in_len == 0) {
        wslay_event_set_error(ctx, WSLAY_ERR_WOULDBLOCK);
        return -1;
    }
    size_t n = len < ws->in_len ? len : ws->in_len;
    memcpy(buf, ws->in, n);
    ws->in += n;
    ws->in_len -= n;
    return (ssize_t)n;
}

static ssize_t on_send(wslay_event_context_ptr ctx, const uint8_t *data, size_t len, int flags,
                       void *arg)
{
    (void)flags;
    struct ws_session *ws = arg;
    if (!ws->write(ws->write_ctx, (const char *)data, len)) {
        ws->write_failed = true;
        wslay_event_set_error(ctx, WSLAY_ERR_CALLBACK_FAILURE);
        return -1;
    }
    return (ssize_t)len;
}

static void on_message(wslay_event_context_ptr ctx, const struct wslay_event_on_msg_recv_arg *m,
                       void *arg)
{
    (void)ctx;
    struct ws_session *ws = arg;
    if (m->opcode == WSLAY_PING || m->opcode == WSLAY_PONG)
        ws->pings++; /* wslay queued the pong */
    if (m->opcode != WSLAY_TEXT_FRAME && m->opcode != WSLAY_BINARY_FRAME)
        return;
    struct ws_message *msg = malloc(sizeof(*msg) + m->msg_length + 1);
    if (!msg)
        return; /* as if lost on the way: SIP retransmits */
    msg->next = NULL;
    msg->len = m->msg_length;
    if (m->msg_length)
        memcpy(msg->data, m->msg, m->msg_length);
    msg->data[m->msg_length] = '\0';
    if (ws->tail)
        ws->tail->next = msg;
    else
        ws->head = msg;
    ws->tail = msg;
}

int ws_session_new(size_t max_message, ws_write_fn write, void *ctx, struct ws_session **out)
{
    static const struct wslay_event_callbacks callbacks = {
        .recv_callback = on_recv, .send_callback = on_send, .on_msg_recv_callback = on_message};
    struct ws_session *ws = calloc(1, sizeof(*ws));
    if (!ws)
        return SB_ENOMEM;
    if (wslay_event_context_server_init(&ws->ctx, &callbacks, ws) != 0) {
        free(ws);
        return SB_ENOMEM;
    }
    wslay_event_config_set_max_recv_msg_length(ws->ctx, max_message);
    ws->write = write;
    ws->write_ctx = ctx;
    *out = ws;
    return 0;
}

static void messages_free(struct ws_message *m)
{
    while (m) {
        struct ws_message *next = m->next;
        free(m);
        m = next;
    }
}

void ws_session_free(struct ws_session *ws)
{
    if (!ws)
        return;
    wslay_event_context_free(ws->ctx);
    messages_free(ws->head);
    free(ws->taken);
    free(ws);
}

/* Writes what wslay queued and says where the session stands. */
static enum ws_state session_flush(struct ws_session *ws)
{
    if (!ws->write_failed && wslay_event_want_write(ws->ctx) && wslay_event_send(ws->ctx) != 0)
        ws->write_failed = true;
    if (ws->write_failed)
        return WS_FAILED;
    if (!wslay_event_get_read_enabled(ws->ctx) || wslay_event_get_close_sent(ws->ctx))
        return WS_CLOSING;
    return WS_OPEN;
}

enum ws_state ws_session_feed(struct ws_session *ws, const char *data, size_t len)
{
    ws->in = data;
    ws->in_len = len;
    int rc = wslay_event_get_read_enabled(ws->ctx) ? wslay_event_recv(ws->ctx) : 0;
    ws->in = NULL;
    ws->in_len = 0;
    if (rc != 0)
        return WS_FAILED;
    return session_flush(ws);
}

bool ws_session_next(struct ws_session *ws, char **buf, size_t *len)
{
    free(ws->taken);
    ws->taken = ws->head;
    if (!ws->taken)
        return false;
    ws->head = ws->taken->next;
    if (!ws->head)
        ws->tail = NULL;
    *buf = ws->taken->data;
    *len = ws->taken->len;
    return true;
}

static bool all_utf8(const char *data, size_t len)
{
    for (size_t i = 0; i < len;) {
        size_t n = utf8_sequence((const unsigned char *)data + i, len - i);
        if (n == 0)
            return false;
        i += n;
    }
    return true;
}

enum ws_state ws_session_send(struct ws_session *ws, const char *data, size_t len)
{
    struct wslay_event_msg m = {.opcode =
                                    all_utf8(data, len) ? WSLAY_TEXT_FRAME : WSLAY_BINARY_FRAME,
                                .msg = (const uint8_t *)data,
                                .msg_length = len};
    if (wslay_event_queue_msg(ws->ctx, &m) != 0)
        return ws->write_failed ? WS_FAILED : WS_CLOSING;
    return session_flush(ws);
}

enum ws_state ws_session_close(struct ws_session *ws, unsigned code)
{
    wslay_event_queue_close(ws->ctx, (uint16_t)code, NULL, 0);
    return session_flush(ws);
}

unsigned long ws_session_pings(const struct ws_session *ws)
{
    return ws->pings;
}
