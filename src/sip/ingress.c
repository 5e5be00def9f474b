/* Datagram to validated message. See ingress.h. */
#include "switchboard/ingress.h"

#include <ctype.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <osipparser2/osip_message.h>
#include <osipparser2/osip_port.h>

#include "switchboard/error.h"
#include "switchboard/log.h"
#include "switchboard/reasons.h"
#include "switchboard/sip_edit.h"
#include "switchboard/sip_msg.h"
#include "switchboard/sip_nul.h"
#include "switchboard/stats.h"

#define SALVAGE_MAX 8192 /* the headers a reply needs, rebuilt */

/* The headers a reply copies (RFC 3261 §8.2.6.2), full and compact names. */
static const struct {
    const char *name, *compact;
} reply_headers[] = {
    {"via", "v"}, {"from", "f"}, {"to", "t"}, {"call-id", "i"}, {"cseq", NULL},
};
enum { REPLY_HEADERS = sizeof(reply_headers) / sizeof(reply_headers[0]) };

/* Which reply header a line of @len bytes starts, or -1. */
static int reply_header(const char *line, size_t len)
{
    const char *colon = memchr(line, ':', len);
    if (!colon)
        return -1;
    size_t n = (size_t)(colon - line);
    while (n && (line[n - 1] == ' ' || line[n - 1] == '\t'))
        n--;
    for (int i = 0; i < REPLY_HEADERS; i++) {
        const char *c = reply_headers[i].compact;
        if ((strlen(reply_headers[i].name) == n && !strncasecmp(line, reply_headers[i].name, n)) ||
            (c && n == 1 && tolower((unsigned char)line[0]) == c[0]))
            return i;
    }
    return -1;
}

/* The Request-URI's scheme in a request line "METHOD URI SIP/2.0", into
 * @scheme. Returns false when the line is not a request line. */
static bool request_line_scheme(const char *buf, size_t len, char *scheme, size_t size)
{
    const char *eol = memchr(buf, '\n', len);
    size_t n = eol ? (size_t)(eol - buf) : len;
    const char *sp1 = memchr(buf, ' ', n);
    if (!sp1 || n < 9 || memcmp(buf + n - (buf[n - 1] == '\r' ? 8 : 7), "SIP/2.0", 7) != 0)
        return false;
    const char *uri = sp1 + 1;
    size_t i = 0;
    while (uri + i < buf + n && uri[i] != ':' && uri[i] != ' ' && i + 1 < size) {
        scheme[i] = uri[i];
        i++;
    }
    scheme[i] = '\0';
    return uri + i < buf + n && uri[i] == ':';
}

/* The header lines of @buf[0..len), one per call: starts after the
 * request line (*@line NULL on the first call), stops at the blank line or
 * the end. Sets *@line and *@l (the line without its CR LF); returns
 * whether there is one. */
static bool next_header_line(const char *buf, size_t len, const char **line, size_t *l)
{
    const char *end = buf + len;
    const char *at = *line ? *line + *l : buf;
    const char *nl = memchr(at, '\n', (size_t)(end - at));
    if (!nl || nl + 1 >= end)
        return false;
    const char *start = nl + 1;
    const char *eol = memchr(start, '\n', (size_t)(end - start));
    size_t n = eol ? (size_t)(eol - start) : (size_t)(end - start);
    *line = start;
    *l = n;
    if (n > 0 && start[n - 1] == '\r')
        n--;
    if (n == 0)
        return false; /* the blank line: end of headers */
    *l = n;
    return true;
}

/* A request libosip2 could not parse may still say where to answer: RFC
 * 3261 §8.2 wants an answer whenever one can be built. Rebuilds a minimal
 * request from the first Via, From, To, Call-ID and CSeq lines and parses
 * that. Returns it (the caller answers 416 or 400) or NULL. */
static osip_message_t *salvage(const char *buf, size_t len)
{
    char scheme[32];
    if (!request_line_scheme(buf, len, scheme, sizeof(scheme)))
        return NULL;
    char *text = malloc(SALVAGE_MAX);
    if (!text)
        return NULL;
    size_t n = (size_t)snprintf(text, SALVAGE_MAX, "OPTIONS sip:invalid.invalid SIP/2.0\r\n");
    bool seen[REPLY_HEADERS] = {false};
    const char *line = NULL;
    size_t l = 0;
    while (next_header_line(buf, len, &line, &l)) {
        int h = reply_header(line, l);
        if (h >= 0 && !seen[h] && !memchr(line, '\0', l) && n + l + 3 < SALVAGE_MAX) {
            memcpy(text + n, line, l);
            memcpy(text + n + l, "\r\n", 2);
            n += l + 2;
            seen[h] = true;
        }
    }
    osip_message_t *msg = NULL;
    bool all = true;
    for (int i = 0; i < REPLY_HEADERS; i++)
        all &= seen[i];
    n += (size_t)snprintf(text + n, SALVAGE_MAX - n, "Content-Length: 0\r\n\r\n");
    if (all && osip_message_init(&msg) == 0 && osip_message_parse(msg, text, n) != 0) {
        osip_message_free(msg);
        msg = NULL;
    }
    free(text);
    return msg;
}

/* Is this header line a Contact (or its compact form m)? Returns where its
 * value starts, or NULL. */
static const char *contact_value(const char *line, size_t len)
{
    const char *colon = memchr(line, ':', len);
    if (!colon)
        return NULL;
    size_t n = (size_t)(colon - line);
    while (n && (line[n - 1] == ' ' || line[n - 1] == '\t'))
        n--;
    if (!((n == 7 && !strncasecmp(line, "contact", 7)) || (n == 1 && (line[0] | 32) == 'm')))
        return NULL;
    return colon + 1;
}

/* Appends each contact URI of one Contact value (entries split at commas
 * outside quotes and angle brackets; the URI inside <>, or up to ';'
 * without them). Returns false on a shape it does not know. */
static bool split_contacts(const char *v, const char *end, char *out, size_t *used, size_t cap,
                           unsigned *count)
{
    while (v < end) {
        while (v < end && (*v == ' ' || *v == '\t' || *v == ','))
            v++;
        if (v == end)
            break;
        const char *lt = NULL, *start, *stop;
        bool quoted = false;
        const char *p = v;
        for (; p < end && (quoted || *p != ','); p++) {
            if (*p == '"' && (p == v || p[-1] != '\\'))
                quoted = !quoted;
            else if (!quoted && *p == '<' && !lt)
                lt = p;
            else if (!quoted && lt && *p == '>')
                break;
        }
        if (lt) {
            start = lt + 1;
            stop = memchr(start, '>', (size_t)(end - start));
            if (!stop)
                return false;
        } else {
            start = v;
            for (stop = v; stop < end && *stop != ';' && *stop != ',' && *stop != ' '; stop++)
                ;
        }
        size_t n = (size_t)(stop - start);
        if (*used + n + 1 > cap || memchr(start, '\0', n))
            return false;
        memcpy(out + *used, start, n);
        out[*used + n] = '\0';
        *used += n + 1;
        (*count)++;
        v = stop;
        while (v < end && *v != ',') /* skip this contact's parameters */
            v++;
    }
    return true;
}

/* REGISTER: keeps each Contact URI's text as it arrived (see struct
 * sb_inbound). Leaves nothing captured when the headers are folded or
 * unusual: the caller then has libosip2's view only. */
static void capture_contacts(const char *buf, size_t len, struct ingress *out)
{
    char *block = malloc(len + 1);
    size_t used = 0;
    unsigned count = 0;
    bool ok = block != NULL;
    const char *line = NULL;
    size_t l = 0;
    while (ok && next_header_line(buf, len, &line, &l)) {
        if (line[0] == ' ' || line[0] == '\t')
            ok = false; /* folded: leave it to libosip2 */
        const char *value = contact_value(line, l);
        if (ok && value)
            ok = split_contacts(value, line + l, block, &used, len + 1, &count);
    }
    if (!ok || count == 0) {
        free(block);
        return;
    }
    out->raw_contacts = block;
    out->raw_contact_count = count;
}

/* RFC 3261 §8.2.2.1: 416 for a Request-URI scheme we do not serve. */
static bool scheme_served(const char *scheme)
{
    return !strcasecmp(scheme, "sip") || !strcasecmp(scheme, "sips") || !strcasecmp(scheme, "tel");
}

/* What to answer a request libosip2 could not parse; DROP if nothing. */
static enum ingress_kind reject_unparsable(const char *buf, size_t len, const struct sb_addr *src,
                                           struct ingress *out)
{
    osip_message_t *msg = salvage(buf, len);
    if (!msg || !msg->cseq || !msg->cseq->method || !strcasecmp(msg->cseq->method, "ACK") ||
        osip_list_size(&msg->vias) < 1) {
        osip_message_free(msg);
        return INGRESS_DROP; /* no reply possible (or wanted, for ACK) */
    }
    char scheme[32];
    request_line_scheme(buf, len, scheme, sizeof(scheme));
    sipmsg_via_stamp_source(sipmsg_top_via(msg), src);
    out->msg = msg;
    out->code = scheme_served(scheme) ? 400 : 416;
    out->why = out->code == 416 ? "unsupported URI scheme" : "unparsable request";
    return INGRESS_REJECT;
}

/* ingress_parse() on @buf, a NUL after its @len bytes. */
static enum ingress_kind parse_text(char *buf, size_t len, const struct sb_addr *src,
                                    struct ingress *out)
{
    osip_message_t *msg = NULL;
    if (osip_message_init(&msg) != 0)
        return INGRESS_DROP;
    if (osip_message_parse(msg, buf, len) != 0) {
        osip_message_free(msg);
        out->why = "unparsable";
        return reject_unparsable(buf, len, src, out);
    }
    out->code = sipmsg_validate(msg, buf, len, &out->why);
    if (out->code == 0 && sipmsg_keep_raw_body(msg, buf, len) != 0) {
        osip_message_free(msg);
        return INGRESS_DROP; /* out of memory: the sender retransmits */
    }
    bool can_reply = MSG_IS_REQUEST(msg) && !MSG_IS_ACK(msg) && osip_list_size(&msg->vias) > 0;
    if (MSG_IS_REQUEST(msg) && osip_list_size(&msg->vias) > 0)
        sipmsg_via_stamp_source(sipmsg_top_via(msg), src);
    if (out->code == 0) {
        if (MSG_IS_REGISTER(msg))
            capture_contacts(buf, len, out);
        out->msg = msg;
        return INGRESS_MESSAGE;
    }
    if (can_reply) {
        out->msg = msg;
        return INGRESS_REJECT;
    }
    osip_message_free(msg);
    return INGRESS_DROP;
}

/* A parsed message refused after all (@why): answered 400 when a reply
 * is possible, else dropped. */
static enum ingress_kind refuse_parsed(struct ingress *out, const char *why)
{
    osip_message_t *msg = out->msg;
    free(out->raw_contacts);
    out->raw_contacts = NULL;
    out->raw_contact_count = 0;
    out->code = 400;
    out->why = why;
    if (MSG_IS_REQUEST(msg) && !MSG_IS_ACK(msg) && osip_list_size(&msg->vias) > 0)
        return INGRESS_REJECT;
    osip_message_free(msg);
    out->msg = NULL;
    return INGRESS_DROP;
}

enum ingress_kind ingress_parse(char *buf, size_t len, const struct sb_addr *src,
                                struct ingress *out)
{
    out->msg = NULL;
    out->code = 0;
    out->why = NULL;
    out->raw_contacts = NULL;
    out->raw_contact_count = 0;
    out->exact = false;
    if (sipmsg_is_keepalive(buf, len))
        return INGRESS_KEEPALIVE;
    buf[len] = '\0';
    char *hidden = NULL;
    const char *refused = NULL;
    size_t hidden_len = 0;
    int rc = sipnul_hide(buf, len, &hidden, &hidden_len, &refused);
    if (rc == SB_ENOMEM)
        return INGRESS_DROP; /* the sender retransmits */
    enum ingress_kind kind =
        hidden ? parse_text(hidden, hidden_len, src, out) : parse_text(buf, len, src, out);
    out->exact = !hidden;
    free(hidden);
    if (refused && kind == INGRESS_MESSAGE)
        kind = refuse_parsed(out, refused); /* it holds our markers (sip_nul.h) */
    return kind;
}

/* --- the step every transport shares ---------------------------------- */

void ingress_report_malformed(const struct ingress_ctx *x, const struct ingress_origin *from,
                              const char *why, uint64_t now_ms)
{
    sb_count(x->counters, SB_CNT_MALFORMED);
    uint64_t more;
    if (!sb_log_limiter_ready(x->malformed_log, now_ms, &more))
        return;
    char peer[64];
    sipmsg_addr_format(from->src, peer, sizeof(peer));
    SB_WARN("malformed SIP from %s over %s: %s (%llu more since the last report)", peer,
            sb_transport_name(from->transport), why, (unsigned long long)more);
}

void ingress_answer(const struct ingress_ctx *x, const osip_message_t *req, int code,
                    const char *why)
{
    osip_message_t *resp;
    char *text = NULL;
    size_t len;
    if (!req || !MSG_IS_REQUEST(req) || MSG_IS_ACK(req) || osip_list_size(&req->vias) < 1 ||
        sipmsg_response_create(req, code, NULL, "sb400", &resp) != 0)
        return;
    if (why) {
        char warning[256];
        snprintf(warning, sizeof(warning), "399 switchboard \"%s\"", why);
        osip_message_set_header(resp, "Warning", warning);
    }
    reasons_apply(x->reasons, resp);
    if (sipmsg_serialize(resp, &text, &len) == 0)
        x->reply(x->arg, req, text, len);
    osip_free(text);
    osip_message_free(resp);
}

struct sb_inbound *ingress_receive(char *buf, size_t len, const struct ingress_origin *from,
                                   const struct ingress_ctx *x, uint64_t now_ms)
{
    struct ingress got;
    switch (ingress_parse(buf, len, from->src, &got)) {
    case INGRESS_KEEPALIVE:
        sb_count(x->counters, SB_CNT_KEEPALIVES);
        return NULL;
    case INGRESS_DROP:
        ingress_report_malformed(x, from, got.why ? got.why : "unusable", now_ms);
        return NULL;
    case INGRESS_REJECT:
        ingress_report_malformed(x, from, got.why, now_ms);
        ingress_answer(x, got.msg, got.code, got.why);
        osip_message_free(got.msg);
        return NULL;
    case INGRESS_MESSAGE:
        break;
    }
    /* the bytes ride in the same allocation, for forwarding by editing */
    size_t raw_len = got.exact ? len : 0;
    struct sb_inbound *in = malloc(sizeof(*in) + raw_len + 1);
    if (!in) {
        osip_message_free(got.msg);
        free(got.raw_contacts);
        return NULL;
    }
    *in = (struct sb_inbound){.msg = got.msg,
                              .src = *from->src,
                              .local = *from->local,
                              .transport = from->transport,
                              .fd = from->fd,
                              .conn = from->conn,
                              .received_ns = from->received_ns,
                              .raw_contacts = got.raw_contacts,
                              .raw_contact_count = got.raw_contact_count};
    if (got.exact) {
        char *raw = (char *)(in + 1);
        memcpy(raw, buf, len);
        raw[len] = '\0';
        in->raw = raw;
        in->raw_len = len;
    }
    return in;
}

int ingress_reply(const struct sb_inbound *in, int code, const char *reason, const char *to_tag,
                  const char *extra, char **out, size_t *len)
{
    if (!in->raw || !in->msg || !MSG_IS_REQUEST(in->msg) || sipmsg_rewritten(in->msg) ||
        code < 100 || code > 699 || !reason)
        return SB_EAGAIN;
    const char status[4] = {(char)('0' + code / 100), (char)('0' + code / 10 % 10),
                            (char)('0' + code % 10), '\0'};
    struct sipedit e;
    char via[1024];
    size_t n;
    const char *v;
    if (sipedit_open(&e, in->raw, in->raw_len) != 0 ||
        !(v = sipedit_value(&e, SIPEDIT_VIA, 0, &n)) ||
        sipmsg_via_stamped_text(v, n, sipmsg_top_via(in->msg), via, sizeof(via)) < 0)
        return SB_EAGAIN; /* the caller builds it the old way */
    if (code == 100 || sipmsg_to_tag(in->msg))
        to_tag = NULL; /* as sipmsg_response_create(): a To has one tag */
    return sipedit_reply(&e, status, reason, via, to_tag, extra, sipmsg_server_header(), out, len);
}

int ingress_trying(const struct sb_inbound *in, const char *reason, char **out, size_t *len)
{
    if (!in->msg || !MSG_IS_INVITE(in->msg))
        return SB_EAGAIN;
    return ingress_reply(in, 100, reason ? reason : "Trying", NULL, NULL, out, len);
}
