/* Helpers over libosip2 messages. See include/switchboard/sip_msg.h. */
#include "switchboard/sip_msg.h"
#include "switchboard/sip_nul.h"

#include <arpa/inet.h>
#include <assert.h>
#include <ctype.h>
#include <errno.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <osipparser2/osip_message.h>
#include <inttypes.h>

#include <osipparser2/osip_port.h>

#include "switchboard/buf.h"
#include "switchboard/chars.h"
#include "switchboard/error.h"
#include "switchboard/fixbuf.h"
#include "switchboard/thread_role.h"

static const char *const TRANSPORT_NAMES[SB_TRANSPORT_COUNT] = {"UDP", "TCP", "TLS", "WS", "WSS"};
static const char *const TRANSPORT_PARAMS[SB_TRANSPORT_COUNT] = {
    "", ";transport=tcp", ";transport=tls", ";transport=ws", ";transport=wss"};

const char *sb_transport_name(int transport)
{
    return transport > 0 && transport < SB_TRANSPORT_COUNT ? TRANSPORT_NAMES[transport] : "UDP";
}

const char *sb_transport_uri_param(int transport)
{
    return transport > 0 && transport < SB_TRANSPORT_COUNT ? TRANSPORT_PARAMS[transport] : "";
}

/* The transport named @name (case ignored), or SB_EINVAL. */
static int transport_named(const char *name)
{
    for (int t = 0; t < SB_TRANSPORT_COUNT; t++)
        if (!strcasecmp(name, TRANSPORT_NAMES[t]))
            return t;
    return SB_EINVAL;
}

void sb_inbound_free(struct sb_inbound *in)
{
    if (!in)
        return;
    osip_message_free(in->msg);
    free(in->raw_contacts);
    free(in->trying);
    free(in);
}

bool sipmsg_is_keepalive(const char *buf, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (buf[i] != '\r' && buf[i] != '\n')
            return false;
    return true;
}

static bool all_digits(const char *s, size_t max_len)
{
    size_t n = 0;
    if (!s || !*s)
        return false;
    for (; *s; s++, n++)
        if (!isdigit((unsigned char)*s) || n >= max_len)
            return false;
    return true;
}

/* Where the body starts in a raw message, or NULL. */
static const char *body_start(const char *raw, size_t len)
{
    size_t sep;
    const char *end = sipnul_blank_line(raw, len, &sep);
    return end ? end + sep : NULL;
}

/* The body length as it arrived: bytes after the blank line. */
static long raw_body_length(const char *raw, size_t len)
{
    const char *start = body_start(raw, len);
    return start ? (long)(len - (size_t)(start - raw)) : 0;
}

int sipmsg_validate(const osip_message_t *msg, const char *raw, size_t raw_len, const char **why)
{
    if (!msg->sip_version || strcmp(msg->sip_version, "SIP/2.0") != 0) {
        *why = "unsupported SIP version";
        return 505;
    }
    if (MSG_IS_REQUEST(msg)) {
        const char *scheme = msg->req_uri ? msg->req_uri->scheme : NULL;
        bool tel = scheme && !strcasecmp(scheme, "tel");
        if (scheme && !tel && strcasecmp(scheme, "sip") && strcasecmp(scheme, "sips")) {
            *why = "unsupported URI scheme";
            return 416; /* RFC 3261 §8.2.2.1 */
        }
        if (!msg->req_uri || (!tel && !msg->req_uri->host)) {
            *why = "bad Request-URI";
            return 400;
        }
    } else if (msg->status_code < 100 || msg->status_code > 699) {
        *why = "bad status code";
        return 400;
    }
    if (osip_list_size(&msg->vias) < 1) {
        *why = "missing Via";
        return 400;
    }
    if (!msg->from || !msg->from->url) {
        *why = "missing From";
        return 400;
    }
    if (!msg->to || !msg->to->url) {
        *why = "missing To";
        return 400;
    }
    if (!msg->call_id || !msg->call_id->number || !*msg->call_id->number) {
        *why = "missing Call-ID";
        return 400;
    }
    if (!msg->cseq || !msg->cseq->method || !all_digits(msg->cseq->number, 10) ||
        strtoul(msg->cseq->number, NULL, 10) > 0x7fffffffUL) {
        *why = "missing or bad CSeq";
        return 400;
    }
    if (MSG_IS_REQUEST(msg) && strcmp(msg->cseq->method, msg->sip_method) != 0) {
        *why = "CSeq method differs from request method";
        return 400;
    }
    osip_via_t *via = sipmsg_top_via(msg);
    if (!via || !via->host || !via->protocol) {
        *why = "bad Via";
        return 400;
    }
    if (MSG_IS_REQUEST(msg) && sipmsg_max_forwards(msg) < 0) {
        *why = "bad Max-Forwards";
        return 400;
    }
    if (msg->content_length && msg->content_length->value) {
        if (!all_digits(msg->content_length->value, 9)) {
            *why = "bad Content-Length";
            return 400;
        }
        /* RFC 3261 §18.3: a body shorter than Content-Length over UDP */
        if (strtol(msg->content_length->value, NULL, 10) > raw_body_length(raw, raw_len)) {
            *why = "Content-Length larger than the body";
            return 400;
        }
    }
    return 0;
}

static const char *server_header = SB_SERVER_NAME;

const char *sipmsg_server_header(void)
{
    return server_header;
}

void sipmsg_set_server_header(const char *value)
{
    server_header = value ? value : SB_SERVER_NAME;
}

int sipmsg_response_create(const osip_message_t *req, int code, const char *reason,
                           const char *to_tag, osip_message_t **out)
{
    osip_message_t *r;
    if (osip_message_init(&r) != 0)
        return SB_ENOMEM;
    osip_message_set_version(r, osip_strdup("SIP/2.0"));
    osip_message_set_status_code(r, code);
    if (!reason)
        reason = osip_message_get_reason(code);
    osip_message_set_reason_phrase(r, osip_strdup(reason ? reason : "Unknown"));
    /* a malformed request may lack any of these; answer with what it has */
    int rc = osip_list_clone(&req->vias, &r->vias, (int (*)(void *, void **))osip_via_clone);
    if (rc == 0 && req->from)
        rc = osip_from_clone(req->from, &r->from);
    if (rc == 0 && req->to)
        rc = osip_to_clone(req->to, &r->to);
    if (rc == 0 && req->call_id)
        rc = osip_call_id_clone(req->call_id, &r->call_id);
    if (rc == 0 && req->cseq)
        rc = osip_cseq_clone(req->cseq, &r->cseq);
    if (rc == 0 && code > 100 && to_tag && r->to) {
        osip_generic_param_t *tag = NULL;
        if (osip_to_get_tag(r->to, &tag) != 0)
            rc = osip_to_set_tag(r->to, osip_strdup(to_tag));
    }
    if (rc == 0 && *server_header)
        rc = osip_message_set_header(r, "Server", server_header);
    if (rc == 0)
        rc = osip_message_set_content_length(r, "0");
    if (rc != 0) {
        osip_message_free(r);
        return SB_ENOMEM;
    }
    *out = r;
    return 0;
}

/* @extra's header lines into the serialized response *@text (no body),
 * before its blank line. */
static int insert_lines(char **text, size_t *len, const char *extra)
{
    size_t n = strlen(extra);
    if (*len < 4 || memcmp(*text + *len - 4, "\r\n\r\n", 4) != 0)
        return SB_EMALFORMED;
    char *grown = osip_realloc(*text, *len + n + 1);
    if (!grown)
        return SB_ENOMEM;
    memmove(grown + *len - 2 + n, grown + *len - 2, 3); /* the blank line and NUL */
    memcpy(grown + *len - 2, extra, n);
    *text = grown;
    *len += n;
    return 0;
}

int sipmsg_response_text(const osip_message_t *req, int code, const char *reason,
                         const char *to_tag, const char *extra, char **out, size_t *len)
{
    osip_message_t *resp;
    int rc = sipmsg_response_create(req, code, reason, to_tag, &resp);
    if (rc != 0)
        return rc;
    rc = sipmsg_serialize(resp, out, len);
    osip_message_free(resp);
    if (rc == 0 && extra && (rc = insert_lines(out, len, extra)) != 0) {
        osip_free(*out);
        *out = NULL;
    }
    return rc;
}

int sipmsg_response_lend(const osip_message_t *req, int code, const char *reason,
                         const char *to_tag, osip_message_t **out)
{
    osip_message_t *r;
    if (osip_message_init(&r) != 0)
        return SB_ENOMEM;
    osip_message_set_status_code(r, code);
    if (!reason)
        reason = osip_message_get_reason(code);
    r->reason_phrase = osip_strdup(reason ? reason : "Unknown");
    r->from = req->from;
    r->call_id = req->call_id;
    r->cseq = req->cseq;
    int rc = r->reason_phrase ? 0 : SB_ENOMEM;
    if (rc == 0 && req->to)
        rc = osip_to_clone(req->to, &r->to) == 0 ? 0 : SB_ENOMEM;
    osip_generic_param_t *tag = NULL;
    if (rc == 0 && code > 100 && to_tag && r->to && osip_to_get_tag(r->to, &tag) != 0)
        rc = osip_to_set_tag(r->to, osip_strdup(to_tag)) == 0 ? 0 : SB_ENOMEM;
    if (rc != 0) {
        sipmsg_response_unlend(r);
        return rc;
    }
    *out = r;
    return 0;
}

void sipmsg_response_unlend(osip_message_t *resp)
{
    if (!resp)
        return;
    resp->from = NULL; /* the request's */
    resp->call_id = NULL;
    resp->cseq = NULL;
    osip_message_free(resp);
}

int sipmsg_keep_raw_body(osip_message_t *msg, const char *raw, size_t raw_len)
{
    const char *start = body_start(raw, raw_len);
    size_t n = start ? raw_len - (size_t)(start - raw) : 0;
    if (msg->content_length && msg->content_length->value) {
        unsigned long declared = strtoul(msg->content_length->value, NULL, 10);
        if (declared < n)
            n = declared; /* what follows is not the body (§18.3) */
    }
    osip_list_special_free(&msg->bodies, (void (*)(void *))osip_body_free);
    if (n == 0)
        return 0;
    osip_body_t *body;
    if (osip_body_init(&body) != 0)
        return SB_ENOMEM;
    body->body = osip_malloc(n + 1);
    if (!body->body) {
        osip_body_free(body);
        return SB_ENOMEM;
    }
    memcpy(body->body, start, n);
    body->body[n] = '\0'; /* for readers of SDP; the length is what counts */
    body->length = n;
    if (osip_list_add(&msg->bodies, body, -1) < 0) {
        osip_body_free(body);
        return SB_ENOMEM;
    }
    return 0;
}

/* Is @msg's body one sipmsg_keep_raw_body() kept (one part, no headers of
 * its own)? */
static osip_body_t *raw_body(const osip_message_t *msg)
{
    osip_body_t *b = osip_list_get(&msg->bodies, 0);
    if (!b || osip_list_size(&msg->bodies) != 1 || b->content_type ||
        osip_list_size(b->headers) > 0)
        return NULL;
    return b;
}

/* osip_message_to_str() without the bodies (so it cannot re-serialise
 * them) ends with "Content-Length: 0" and the blank line: that tail is
 * replaced by the real length and the body's own bytes. */
static int serialize_raw(osip_message_t *msg, osip_body_t *body, char **out, size_t *len)
{
    static const char tail[] = "Content-Length: 0\r\n\r\n";
    const size_t tail_len = sizeof(tail) - 1;
    osip_list_t bodies = msg->bodies;
    osip_list_init(&msg->bodies);
    osip_message_force_update(msg);
    char *head = NULL;
    size_t head_len = 0;
    int rc = osip_message_to_str(msg, &head, &head_len);
    msg->bodies = bodies;
    if (rc != 0)
        return SB_EMALFORMED;
    if (head_len < tail_len || memcmp(head + head_len - tail_len, tail, tail_len) != 0) {
        osip_free(head);
        return SB_EAGAIN; /* not the shape expected: let osip do it all */
    }
    char cl[48];
    int cl_len = snprintf(cl, sizeof(cl), "Content-Length: %zu\r\n\r\n", body->length);
    size_t base = head_len - tail_len;
    char *text = osip_malloc(base + (size_t)cl_len + body->length + 1);
    if (!text) {
        osip_free(head);
        return SB_ENOMEM;
    }
    memcpy(text, head, base);
    memcpy(text + base, cl, (size_t)cl_len);
    memcpy(text + base + (size_t)cl_len, body->body, body->length);
    *len = base + (size_t)cl_len + body->length;
    text[*len] = '\0';
    osip_free(head);
    if (memchr(text, '%', base) || memchr(text, '\xff', base))
        *len = sipnul_show(text, *len, base);
    *out = text;
    return 0;
}

int sipmsg_serialize(osip_message_t *msg, char **out, size_t *len)
{
    osip_body_t *body = raw_body(msg);
    if (body) {
        int rc = serialize_raw(msg, body, out, len);
        if (rc != SB_EAGAIN)
            return rc;
    }
    osip_message_force_update(msg);
    if (osip_message_to_str(msg, out, len) != 0)
        return SB_EMALFORMED;
    if (memchr(*out, '%', *len) || memchr(*out, '\xff', *len))
        *len = sipnul_show(*out, *len, sipnul_head_length(*out, *len));
    return 0;
}

osip_via_t *sipmsg_top_via(const osip_message_t *msg)
{
    return osip_list_get(&msg->vias, 0);
}

const char *sipmsg_via_param(const osip_via_t *via, const char *name)
{
    osip_generic_param_t *p = NULL;
    if (osip_generic_param_get_byname((osip_list_t *)&via->via_params, (char *)name, &p) != 0 || !p)
        return NULL;
    return p->gvalue ? p->gvalue : "";
}

unsigned sipmsg_addr_host(const struct sb_addr *addr, char *buf, size_t size)
{
    if (addr->ss.ss_family == AF_INET6) {
        const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)&addr->ss;
        inet_ntop(AF_INET6, &s6->sin6_addr, buf, (socklen_t)size);
        return ntohs(s6->sin6_port);
    }
    /* by hand: glibc's inet_ntop() sprintf()s the four numbers, on
     * every request (received, our Via) */
    const struct sockaddr_in *s4 = (const struct sockaddr_in *)&addr->ss;
    const unsigned char *octet = (const unsigned char *)&s4->sin_addr;
    struct fixbuf b;
    fixbuf_init(&b, buf, size);
    for (int i = 0; i < 4; i++) {
        if (i)
            fixbuf_char(&b, '.');
        fixbuf_uint(&b, octet[i]);
    }
    if (fixbuf_end(&b) < 0)
        buf[0] = '\0'; /* as inet_ntop() leaves no address it could not fit */
    return ntohs(s4->sin_port);
}

bool sipmsg_addr_same_ip(const struct sb_addr *a, const struct sb_addr *b)
{
    if (a->ss.ss_family != b->ss.ss_family)
        return false;
    if (a->ss.ss_family == AF_INET)
        return ((const struct sockaddr_in *)&a->ss)->sin_addr.s_addr ==
               ((const struct sockaddr_in *)&b->ss)->sin_addr.s_addr;
    return memcmp(&((const struct sockaddr_in6 *)&a->ss)->sin6_addr,
                  &((const struct sockaddr_in6 *)&b->ss)->sin6_addr, sizeof(struct in6_addr)) == 0;
}

void sipmsg_addr_format(const struct sb_addr *addr, char *buf, size_t size)
{
    char ip[INET6_ADDRSTRLEN];
    unsigned port = sipmsg_addr_host(addr, ip, sizeof(ip));
    bool v6 = addr->ss.ss_family == AF_INET6;
    snprintf(buf, size, "%s%s%s:%u", v6 ? "[" : "", ip, v6 ? "]" : "", port);
}

int sipmsg_addr_parse(const char *text, struct sb_addr *addr)
{
    char host[INET6_ADDRSTRLEN + 2];
    const char *colon = strrchr(text, ':');
    if (!colon || (size_t)(colon - text) >= sizeof(host))
        return SB_EMALFORMED;
    memcpy(host, text, (size_t)(colon - text));
    host[colon - text] = '\0';
    char *end;
    unsigned long port = strtoul(colon + 1, &end, 10);
    if (*end || port > 65535 || colon[1] == '\0')
        return SB_EMALFORMED;
    char bare[INET6_ADDRSTRLEN];
    const char *h = sipmsg_bare_host(host, bare, sizeof(bare));
    struct in6_addr probe;
    if (inet_pton(AF_INET, h, &probe) != 1 && inet_pton(AF_INET6, h, &probe) != 1)
        return SB_EMALFORMED; /* numeric only: never a resolver call */
    return sipmsg_host_to_addr(h, (unsigned)port, addr) == 0 ? 0 : SB_EMALFORMED;
}

int sipmsg_via_stamp_source(osip_via_t *via, const struct sb_addr *src)
{
    char ip[INET6_ADDRSTRLEN];
    unsigned port = sipmsg_addr_host(src, ip, sizeof(ip));
    osip_generic_param_t *rport = NULL;
    osip_generic_param_get_byname(&via->via_params, "rport", &rport);
    bool host_differs = !via->host || strcasecmp(via->host, ip) != 0;
    osip_generic_param_t *received = NULL;
    osip_generic_param_get_byname(&via->via_params, "received", &received);
    /* §18.2.1 adds received when the sent-by differs; one the sender
     * wrote itself is replaced too, so no answer (nor Timer G) goes to a
     * third party it names */
    if (host_differs || rport || received) {
        if (received) {
            osip_free(received->gvalue);
            received->gvalue = osip_strdup(ip);
        } else if (osip_generic_param_add(&via->via_params, osip_strdup("received"),
                                          osip_strdup(ip)) != 0) {
            return SB_ENOMEM;
        }
    }
    if (rport) {
        char port_text[8];
        struct fixbuf b;
        fixbuf_init(&b, port_text, sizeof(port_text));
        fixbuf_uint(&b, port);
        fixbuf_end(&b);
        osip_free(rport->gvalue);
        rport->gvalue = osip_strdup(port_text);
    }
    return 0;
}

/* The parameter of @v (@n bytes) that starts at the ';' @at: how far it
 * runs. */
static size_t via_param_end(const char *v, size_t n, size_t at)
{
    size_t end = at + 1;
    while (end < n && v[end] != ';')
        end++;
    return end;
}

/* A host or a value: token characters, and ':', '[' and ']' of an
 * address. */
static bool via_word_char(char c)
{
    return chars_token(c) || c == ':' || c == '[' || c == ']';
}

/* "SIP/2.0/UDP host:port" as §20.42 writes it, then blanks: where the
 * parameters start, or 0 for anything odder (libosip2 splits some odd
 * ones elsewhere, as "SIP/2.0/UDP;x host"). */
static size_t via_sent_by_end(const char *v, size_t n)
{
    static const char version[] = "SIP/2.0/";
    size_t i = sizeof(version) - 1, start;
    if (n < i || strncasecmp(v, version, i) != 0)
        return 0;
    for (start = i; i < n && chars_token(v[i]); i++)
        ;
    if (i == start || i == n || !chars_blank(v[i]))
        return 0;
    while (i < n && chars_blank(v[i]))
        i++;
    for (start = i; i < n && via_word_char(v[i]); i++)
        ;
    if (i == start)
        return 0;
    while (i < n && chars_blank(v[i]))
        i++;
    return i == n || v[i] == ';' ? i : 0;
}

/* A parameter at @at..@end of @v that reads the same whatever follows
 * it: a name, and a value after any '=', of plain characters only.
 * libosip2 takes "x=" at the end of a Via but not before another
 * ";param"; anything odder is left to libosip2 to write. */
static bool via_param_plain(const char *v, size_t at, size_t end)
{
    size_t eq = 0;
    for (size_t i = at + 1; i < end; i++) {
        if (v[i] == '=' && !eq)
            eq = i;
        else if (!via_word_char(v[i]))
            return false;
    }
    return eq ? eq > at + 1 && eq + 1 < end : end > at + 1;
}

/* Where the name of the parameter at @at..@end of @v ends. */
static size_t via_param_name_end(const char *v, size_t at, size_t end)
{
    const char *eq = memchr(v + at, '=', end - at);
    return eq ? (size_t)(eq - v) : end;
}

static bool via_param_named(const char *v, size_t at, size_t end, const char *name)
{
    size_t k = strlen(name);
    return via_param_name_end(v, at, end) - at - 1 == k && strncasecmp(v + at + 1, name, k) == 0;
}

/* The parameter at @at..@end of @v with @value: its name as it came. */
static void put_via_param(struct fixbuf *b, const char *v, size_t at, size_t end, const char *value)
{
    fixbuf_put(b, v + at, via_param_name_end(v, at, end) - at);
    if (value) {
        fixbuf_char(b, '=');
        fixbuf_puts(b, value);
    }
}

long sipmsg_via_stamped_text(const char *v, size_t n, const osip_via_t *via, char *buf, size_t size)
{
    const char *received = sipmsg_via_param(via, "received");
    osip_generic_param_t *rport = NULL;
    osip_generic_param_get_byname((osip_list_t *)&via->via_params, "rport", &rport);
    size_t at = via_sent_by_end(v, n);
    if (at == 0)
        return -1; /* an odd sent-by: libosip2 writes it */
    struct fixbuf b;
    fixbuf_init(&b, buf, size);
    fixbuf_put(&b, v, at);
    /* the first of each is the one libosip2 finds, and the stamp set */
    bool had_rport = false, had_received = false;
    while (at < n) {
        size_t end = via_param_end(v, n, at);
        if (!via_param_plain(v, at, end))
            return -1;
        if (rport && !had_rport && via_param_named(v, at, end, "rport")) {
            put_via_param(&b, v, at, end, rport->gvalue);
            had_rport = true;
        } else if (received && !had_received && via_param_named(v, at, end, "received")) {
            put_via_param(&b, v, at, end, received);
            had_received = true;
        } else {
            fixbuf_put(&b, v + at, end - at);
        }
        at = end;
    }
    if (received && !had_received) {
        fixbuf_puts(&b, ";received=");
        fixbuf_puts(&b, received);
    }
    return fixbuf_end(&b);
}

const char *sipmsg_bare_host(const char *host, char *buf, size_t size)
{
    size_t len = strlen(host);
    if (len < 2 || host[0] != '[' || host[len - 1] != ']' || len - 2 >= size)
        return host;
    memcpy(buf, host + 1, len - 2);
    buf[len - 2] = '\0';
    return buf;
}

int sipmsg_host_to_addr(const char *host, unsigned port, struct sb_addr *dst)
{
    char bare[256];
    host = sipmsg_bare_host(host, bare, sizeof(bare));
    memset(dst, 0, sizeof(*dst));
    struct sockaddr_in *s4 = (struct sockaddr_in *)&dst->ss;
    struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&dst->ss;
    if (inet_pton(AF_INET, host, &s4->sin_addr) == 1) {
        s4->sin_family = AF_INET;
        s4->sin_port = htons((uint16_t)port);
        dst->len = sizeof(*s4);
        return 0;
    }
    if (inet_pton(AF_INET6, host, &s6->sin6_addr) == 1) {
        s6->sin6_family = AF_INET6;
        s6->sin6_port = htons((uint16_t)port);
        dst->len = sizeof(*s6);
        return 0;
    }
    /* a name: resolving blocks, so never here (sipmsg_host_resolve) */
    return SB_EUNRESOLVED;
}

int sipmsg_host_resolve(const char *host, unsigned port, struct sb_addr *dst)
{
    if (sipmsg_host_to_addr(host, port, dst) == 0)
        return 0;
    assert(!sb_thread_is_sip() && "name resolution on a SIP thread");
    struct addrinfo hints = {.ai_family = AF_INET, .ai_socktype = SOCK_DGRAM};
    struct addrinfo *res = NULL;
    if (getaddrinfo(host, NULL, &hints, &res) != 0 || !res)
        return SB_EUNRESOLVED;
    memcpy(&dst->ss, res->ai_addr, res->ai_addrlen);
    dst->len = res->ai_addrlen;
    ((struct sockaddr_in *)&dst->ss)->sin_port = htons((uint16_t)port);
    freeaddrinfo(res);
    return 0;
}

static int parse_port(const char *text, unsigned fallback, unsigned *port)
{
    if (!text || !*text) {
        *port = fallback;
        return 0;
    }
    if (!all_digits(text, 5))
        return SB_EMALFORMED;
    unsigned long v = strtoul(text, NULL, 10);
    if (v == 0 || v > 65535)
        return SB_EMALFORMED;
    *port = (unsigned)v;
    return 0;
}

int sipmsg_via_destination(const osip_via_t *via, struct sb_addr *dst)
{
    const char *received = sipmsg_via_param(via, "received");
    const char *rport = sipmsg_via_param(via, "rport");
    const char *host = received && *received ? received : via->host;
    unsigned port;
    if (!host)
        return SB_EMALFORMED;
    if (rport && *rport) {
        if (parse_port(rport, 5060, &port) != 0)
            return SB_EMALFORMED;
    } else if (parse_port(via->port, 5060, &port) != 0) {
        return SB_EMALFORMED;
    }
    return sipmsg_host_to_addr(host, port, dst);
}

long sipmsg_via_format(int transport, const char *host, unsigned port, const char *branch,
                       char *buf, size_t size)
{
    struct fixbuf b;
    bool v6 = strchr(host, ':') != NULL;
    fixbuf_init(&b, buf, size);
    fixbuf_puts(&b, "SIP/2.0/");
    fixbuf_puts(&b, sb_transport_name(transport));
    fixbuf_puts(&b, v6 ? " [" : " ");
    fixbuf_puts(&b, host);
    fixbuf_puts(&b, v6 ? "]:" : ":");
    fixbuf_uint(&b, port);
    fixbuf_puts(&b, ";branch=");
    fixbuf_puts(&b, branch);
    return fixbuf_end(&b);
}

int sipmsg_via_push_text(osip_message_t *msg, const char *text, osip_via_t **pushed)
{
    osip_via_t *via;
    if (osip_via_init(&via) != 0)
        return SB_ENOMEM;
    if (osip_via_parse(via, text) != 0 || osip_list_add(&msg->vias, via, 0) < 0) {
        osip_via_free(via);
        return SB_EMALFORMED;
    }
    if (pushed)
        *pushed = via;
    return 0;
}

int sipmsg_via_push(osip_message_t *msg, int transport, const char *host, unsigned port,
                    const char *branch)
{
    char text[512];
    if (sipmsg_via_format(transport, host, port, branch, text, sizeof(text)) < 0)
        return SB_EMALFORMED;
    return sipmsg_via_push_text(msg, text, NULL);
}

void sipmsg_via_pop(osip_message_t *msg)
{
    osip_via_t *via = osip_list_get(&msg->vias, 0);
    if (via) {
        osip_list_remove(&msg->vias, 0);
        osip_via_free(via);
    }
}

static uint64_t hash_mix(uint64_t h, const char *s)
{
    if (!s)
        s = "";
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 1099511628211ull;
    }
    h ^= 0xff; /* separator, so "ab"+"c" differs from "a"+"bc" */
    return h * 1099511628211ull;
}

static uint64_t hash_params(uint64_t h, const osip_list_t *params)
{
    const osip_uri_param_t *param;
    for (int i = 0; (param = osip_list_get(params, i)) != NULL; i++) {
        h = hash_mix(h, param->gname);
        h = hash_mix(h, param->gvalue);
    }
    return hash_mix(h, NULL);
}

/* Over the URI's parts as parsed, not its text: writing it out would cost
 * a formatting per request, and any change to it still moves the hash. */
static uint64_t hash_uri(uint64_t h, const osip_uri_t *uri)
{
    if (!uri)
        return hash_mix(h, NULL);
    h = hash_mix(h, uri->scheme);
    h = hash_mix(h, uri->username);
    h = hash_mix(h, uri->password);
    h = hash_mix(h, uri->host);
    h = hash_mix(h, uri->port);
    h = hash_mix(h, uri->string); /* a non-SIP URI */
    h = hash_params(h, &uri->url_params);
    return hash_params(h, &uri->url_headers);
}

static bool same_text(const char *a, const char *b)
{
    return a == b || (a && b && strcmp(a, b) == 0);
}

static bool same_params(const osip_list_t *a, const osip_list_t *b)
{
    if (osip_list_size(a) != osip_list_size(b))
        return false;
    const osip_uri_param_t *x, *y;
    for (int i = 0; (x = osip_list_get(a, i)) != NULL; i++) {
        y = osip_list_get(b, i);
        if (!same_text(x->gname, y->gname) || !same_text(x->gvalue, y->gvalue))
            return false;
    }
    return true;
}

bool sipmsg_uri_same(const osip_uri_t *a, const osip_uri_t *b)
{
    if (!a || !b)
        return a == b;
    return same_text(a->scheme, b->scheme) && same_text(a->username, b->username) &&
           same_text(a->password, b->password) && same_text(a->host, b->host) &&
           same_text(a->port, b->port) && same_text(a->string, b->string) &&
           same_params(&a->url_params, &b->url_params) &&
           same_params(&a->url_headers, &b->url_headers);
}

uint32_t sipmsg_loop_hash(const osip_message_t *req)
{
    uint64_t h = 1469598103934665603ull;
    h = hash_uri(h, req->req_uri);
    h = hash_mix(h, sipmsg_from_tag(req));
    h = hash_mix(h, sipmsg_to_tag(req));
    h = hash_mix(h, req->call_id ? req->call_id->number : NULL);
    h = hash_mix(h, req->cseq ? req->cseq->number : NULL);
    osip_route_t *route = osip_list_get(&req->routes, 0);
    if (route && route->url)
        h = hash_mix(h, route->url->host);
    return (uint32_t)(h ^ (h >> 32));
}

void sipmsg_branch_format(char *buf, size_t size, uint32_t loop_hash, uint64_t unique)
{
    struct fixbuf b;
    fixbuf_init(&b, buf, size);
    fixbuf_puts(&b, SB_BRANCH_COOKIE "-sb");
    fixbuf_hex_width(&b, loop_hash, 8);
    fixbuf_char(&b, '.');
    fixbuf_hex(&b, unique);
    fixbuf_end(&b);
}

int sipmsg_branch_loop_hash(const char *branch, uint32_t *loop_hash)
{
    static const char prefix[] = SB_BRANCH_COOKIE "-sb";
    if (!branch || strncmp(branch, prefix, sizeof(prefix) - 1) != 0)
        return SB_ENOTFOUND;
    const char *hex = branch + sizeof(prefix) - 1;
    char *end;
    unsigned long v = strtoul(hex, &end, 16);
    if (end != hex + 8 || *end != '.')
        return SB_ENOTFOUND;
    *loop_hash = (uint32_t)v;
    return 0;
}

int sipmsg_uri_transport(const osip_uri_t *uri)
{
    if (uri && uri->scheme && !strcasecmp(uri->scheme, "sips"))
        return SB_TLS;
    osip_uri_param_t *param = NULL;
    if (!uri || osip_uri_uparam_get_byname((osip_uri_t *)uri, "transport", &param) != 0 || !param ||
        !param->gvalue)
        return SB_UDP;
    return transport_named(param->gvalue);
}

int sipmsg_via_transport(const osip_via_t *via)
{
    const char *p = via ? via->protocol : NULL;
    return p ? transport_named(p) : SB_UDP;
}

int sipmsg_uri_to_addr(const osip_uri_t *uri, struct sb_addr *dst)
{
    unsigned port;
    if (!uri || !uri->host)
        return SB_EMALFORMED;
    unsigned fallback = sb_transport_is_tls(sipmsg_uri_transport(uri)) ? 5061 : 5060;
    if (parse_port(uri->port, fallback, &port) != 0)
        return SB_EMALFORMED;
    return sipmsg_host_to_addr(uri->host, port, dst);
}

int sipmsg_max_forwards(const osip_message_t *req)
{
    osip_header_t *mf = NULL;
    osip_message_get_max_forwards(req, 0, &mf);
    if (!mf || !mf->hvalue)
        return 70;
    const char *v = mf->hvalue;
    while (*v == ' ' || *v == '\t')
        v++;
    if (!all_digits(v, 9))
        return SB_EMALFORMED;
    long n = strtol(v, NULL, 10);
    return n > 255 ? 255 : (int)n;
}

int sipmsg_max_forwards_take(osip_message_t *req)
{
    int value = sipmsg_max_forwards(req);
    if (value < 0)
        return value;
    char text[16];
    struct fixbuf b;
    fixbuf_init(&b, text, sizeof(text));
    fixbuf_uint(&b, (uint64_t)(value > 0 ? value - 1 : 0));
    fixbuf_end(&b);
    osip_header_t *mf = NULL;
    osip_message_get_max_forwards(req, 0, &mf);
    if (mf) {
        osip_free(mf->hvalue);
        mf->hvalue = osip_strdup(text);
    } else if (osip_message_set_max_forwards(req, text) != 0) {
        return SB_ENOMEM;
    }
    return value;
}

const char *sipmsg_header(const osip_message_t *msg, const char *name)
{
    osip_header_t *h = NULL;
    if (osip_message_header_get_byname(msg, name, 0, &h) < 0 || !h)
        return NULL;
    return h->hvalue;
}

const char *sipmsg_to_tag(const osip_message_t *msg)
{
    osip_generic_param_t *tag = NULL;
    if (!msg->to || osip_to_get_tag(msg->to, &tag) != 0 || !tag)
        return NULL;
    return tag->gvalue;
}

const char *sipmsg_from_tag(const osip_message_t *msg)
{
    osip_generic_param_t *tag = NULL;
    if (!msg->from || osip_from_get_tag(msg->from, &tag) != 0 || !tag)
        return NULL;
    return tag->gvalue;
}

int sipmsg_call_id(const osip_message_t *msg, char *buf, size_t size)
{
    const osip_call_id_t *id = msg->call_id;
    if (!id || !id->number)
        return SB_EMALFORMED;
    struct fixbuf b;
    fixbuf_init(&b, buf, size);
    fixbuf_puts(&b, id->number);
    if (id->host) {
        fixbuf_char(&b, '@');
        fixbuf_puts(&b, id->host);
    }
    return fixbuf_end(&b) < 0 ? SB_ERANGE : 0;
}

uint32_t sipmsg_cseq_number(const osip_message_t *msg)
{
    if (!msg->cseq || !msg->cseq->number)
        return 0;
    return (uint32_t)strtoul(msg->cseq->number, NULL, 10);
}

int sipmsg_set_cseq_number(osip_message_t *msg, uint32_t number)
{
    if (!msg->cseq)
        return SB_EMALFORMED;
    char text[12];
    snprintf(text, sizeof(text), "%" PRIu32, number);
    char *copy = osip_strdup(text);
    if (!copy)
        return SB_ENOMEM;
    osip_free(msg->cseq->number);
    msg->cseq->number = copy;
    return 0;
}

char *sipmsg_route_lines(const osip_list_t *list)
{
    struct sb_buf b = {0};
    osip_route_t *route;
    for (int i = 0; (route = osip_list_get(list, i)) != NULL; i++) {
        char *s = NULL;
        if (osip_route_to_str(route, &s) != 0)
            continue;
        sb_buf_printf(&b, "Route: %s\r\n", s);
        osip_free(s);
    }
    if (b.failed) {
        sb_buf_free(&b);
        return NULL;
    }
    return b.data ? b.data : strdup("");
}

bool sipmsg_replaces_call_id(const osip_message_t *msg, char *buf, size_t size)
{
    const char *h = sipmsg_header(msg, "replaces");
    if (!h)
        return false;
    while (*h == ' ' || *h == '\t')
        h++;
    size_t len = strcspn(h, ";");
    while (len && (h[len - 1] == ' ' || h[len - 1] == '\t'))
        len--;
    if (len == 0 || len >= size)
        return false;
    memcpy(buf, h, len);
    buf[len] = '\0';
    return true;
}
