/* Forwarding by editing (sip_edit.h): what the proxy changed in a message
 * it relays, applied to the bytes the message arrived as. Only the values
 * the proxy owns are written from libosip2's structures: our Via and
 * Record-Routes, a Via we stamped (RFC 3581), a Request-URI we retargeted,
 * Max-Forwards, a CSeq we shifted, a body the media engine rewrote, a
 * reason phrase of ours. Anything else changed marks the message
 * rewritten (sip_msg.h), and it is serialized as before. See
 * proxy_int.h. */
#include "proxy_int.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <osipparser2/osip_port.h>

#include "switchboard/chars.h"
#include "switchboard/error.h"
#include "switchboard/fixbuf.h"
#include "switchboard/identity.h"
#include "switchboard/log.h"
#include "switchboard/record_route.h"
#include "switchboard/sip_edit.h"
#include "switchboard/sip_msg.h"

void proxy_edit_note(struct proxy_edit *x, const struct sb_inbound *in)
{
    const osip_message_t *m = in->msg;
    *x = (struct proxy_edit){0};
    if (!in->raw || !m || sipmsg_rewritten(m))
        return;
    x->from = m;
    x->raw = in->raw;
    x->raw_len = in->raw_len;
    x->vias = osip_list_size(&m->vias);
    x->routes = osip_list_size(&m->routes);
    x->record_routes = osip_list_size(&m->record_routes);
    x->cseq = sipmsg_cseq_number(m);
}

void proxy_edit_arm(struct proxy *p, const struct proxy_edit *x, const osip_message_t *msg)
{
    p->edit = *x;
    p->edit.msg = msg;
}

void proxy_edit_disarm(struct proxy *p)
{
    p->edit = (struct proxy_edit){0};
    for (size_t i = 0; i < PROXY_PUSHED_MAX; i++)
        p->pushed[i].header = NULL;
}

void proxy_edit_pushed(struct proxy *p, const void *header, const char *text)
{
    struct proxy_pushed *slot = NULL;
    size_t len = strlen(text);
    for (size_t i = 0; i < PROXY_PUSHED_MAX; i++) {
        if (p->pushed[i].header == header) /* an address freed and made again */
            p->pushed[i].header = NULL;
        if (!slot && !p->pushed[i].header)
            slot = &p->pushed[i];
    }
    if (!slot || len >= sizeof(slot->text))
        return; /* not kept: written from libosip2's parse */
    slot->header = header;
    memcpy(slot->text, text, len + 1);
}

static const char *pushed_text(const struct proxy *p, const void *header)
{
    for (size_t i = 0; i < PROXY_PUSHED_MAX; i++)
        if (header && p->pushed[i].header == header)
            return p->pushed[i].text;
    return NULL;
}

/* Do @n bytes at @s read @text? */
static bool same(const char *s, size_t n, const char *text)
{
    return s && strlen(text) == n && memcmp(s, text, n) == 0;
}

/* --- what changed --------------------------------------------------------- */

typedef int (*to_str_fn)(const void *value, char **out);

/* Value @index of @kind becomes @value's text when that differs. */
static void edit_value(struct sipedit *e, enum sipedit_kind kind, unsigned index, const void *value,
                       to_str_fn to_str)
{
    char *text = NULL;
    size_t n = 0;
    if (to_str(value, &text) != 0 || !text) {
        e->failed = true;
        return;
    }
    if (!same(sipedit_value(e, kind, index, &n), n, text))
        sipedit_replace_value(e, kind, index, text);
    osip_free(text);
}

static void insert_value(const struct proxy *p, struct sipedit *e, enum sipedit_kind kind,
                         const char *name, const void *value, to_str_fn to_str)
{
    const char *ours = pushed_text(p, value);
    if (ours) {
        sipedit_insert_field(e, kind, name, ours);
        return;
    }
    char *text = NULL;
    if (to_str(value, &text) != 0 || !text) {
        e->failed = true;
        return;
    }
    sipedit_insert_field(e, kind, name, text);
    osip_free(text);
}

static void edit_cseq(struct sipedit *e, const struct proxy_edit *x, const osip_message_t *msg)
{
    uint32_t n = sipmsg_cseq_number(msg);
    if (n == x->cseq)
        return;
    char text[96];
    int len = snprintf(text, sizeof(text), "%u %s", n, msg->cseq->method);
    if (len < 0 || (size_t)len >= sizeof(text))
        e->failed = true;
    else
        sipedit_set_field(e, SIPEDIT_CSEQ, "CSeq", text);
}

/* The body libosip2 holds (sipmsg_keep_raw_body(), or the engine's). */
static void edit_body(struct sipedit *e, const osip_message_t *msg)
{
    const osip_body_t *b = osip_list_get(&msg->bodies, 0);
    if (osip_list_size(&msg->bodies) > 1 || (b && !b->body)) {
        e->failed = true;
        return;
    }
    size_t n = b ? b->length : 0, had, l;
    const char *raw = sipedit_body(e, &had);
    if (n != had || (n && memcmp(raw, b->body, n) != 0)) {
        sipedit_set_body(e, b ? b->body : "", n);
    } else if (!sipedit_value(e, SIPEDIT_CONTENT_LENGTH, 0, &l)) {
        /* over UDP it may be left out, not over TCP (§18.3, §20.14) */
        char text[24];
        snprintf(text, sizeof(text), "%zu", n);
        sipedit_set_field(e, SIPEDIT_CONTENT_LENGTH, "Content-Length", text);
    }
}

static void edit_request_uri(struct sipedit *e, const struct proxy_edit *x,
                             const osip_message_t *msg)
{
    /* a clone that kept the URI it came with: its bytes stand (one
     * edited in place, a stateless ACK, is compared as text) */
    if (x->from && x->from != msg && sipmsg_uri_same(msg->req_uri, x->from->req_uri))
        return;
    char *uri = NULL;
    size_t n;
    if (osip_uri_to_str(msg->req_uri, &uri) != 0 || !uri) {
        e->failed = true;
        return;
    }
    if (!same(sipedit_first(e, &n), n, uri))
        sipedit_set_first(e, uri);
    osip_free(uri);
}

/* The sender's Via with the received and rport ingress stamped on it:
 * written over the bytes it came as when it can be. */
static void edit_stamped_via(struct sipedit *e, const osip_via_t *via)
{
    size_t n;
    const char *v = sipedit_value(e, SIPEDIT_VIA, 0, &n);
    char text[PROXY_PUSHED_TEXT];
    long len = v ? sipmsg_via_stamped_text(v, n, via, text, sizeof(text)) : -1;
    if (len < 0)
        edit_value(e, SIPEDIT_VIA, 0, via, (to_str_fn)osip_via_to_str);
    else if (!same(v, n, text))
        sipedit_replace_value(e, SIPEDIT_VIA, 0, text);
}

/* Does a Via hold what RFC 3581 and §18.2.1 make us stamp on it? */
static bool stamped(const osip_via_t *via)
{
    return sipmsg_via_param(via, "received") || sipmsg_via_param(via, "rport");
}

static void edit_max_forwards(struct sipedit *e, const osip_message_t *msg)
{
    osip_header_t *h = NULL;
    size_t n;
    osip_message_get_max_forwards(msg, 0, &h);
    if (!h || !h->hvalue)
        return;
    if (!same(sipedit_value(e, SIPEDIT_MAX_FORWARDS, 0, &n), n, h->hvalue))
        sipedit_set_field(e, SIPEDIT_MAX_FORWARDS, "Max-Forwards", h->hvalue);
}

/* A request on its way downstream: our Via on top (the sender's stamped),
 * our Routes gone from the top, our Record-Routes on top, Max-Forwards,
 * maybe a new Request-URI, CSeq or body (§16.6). */
static int edit_request(const struct proxy *p, struct sipedit *e, const struct proxy_edit *x,
                        const osip_message_t *msg)
{
    int vias = (int)sipedit_count(e, SIPEDIT_VIA);
    int routes = (int)sipedit_count(e, SIPEDIT_ROUTE);
    int rrs = (int)sipedit_count(e, SIPEDIT_RECORD_ROUTE);
    int pushed = osip_list_size(&msg->record_routes) - rrs;
    /* the index and libosip2 must read the same values */
    if (vias != x->vias || routes != x->routes || rrs != x->record_routes ||
        osip_list_size(&msg->vias) != vias + 1 || osip_list_size(&msg->routes) > routes ||
        pushed < 0)
        return SB_EAGAIN;
    edit_request_uri(e, x, msg);
    const osip_via_t *theirs = osip_list_get(&msg->vias, 1);
    if (theirs && stamped(theirs))
        edit_stamped_via(e, theirs);
    insert_value(p, e, SIPEDIT_VIA, "Via", osip_list_get(&msg->vias, 0),
                 (to_str_fn)osip_via_to_str);
    sipedit_drop_values(e, SIPEDIT_ROUTE, (unsigned)(routes - osip_list_size(&msg->routes)));
    for (int i = 0; i < pushed; i++)
        insert_value(p, e, SIPEDIT_RECORD_ROUTE, "Record-Route",
                     osip_list_get(&msg->record_routes, i), (to_str_fn)osip_record_route_to_str);
    edit_max_forwards(e, msg);
    edit_cseq(e, x, msg);
    edit_body(e, msg);
    return 0;
}

/* The ;sbs= value in our Record-Route's bytes @v (@n long): *@at and
 * *@len. False unless it is there once, ahead of the URI's end, as we
 * write it (base64url): another spelling may read otherwise once
 * replaced, and is left to libosip2 to write. */
static bool sig_span(const char *v, size_t n, size_t *at, size_t *len)
{
    static const char name[] = ";" RECORD_ROUTE_SIG_PARAM "=";
    const size_t k = sizeof(name) - 1;
    const char *end = memchr(v, '>', n);
    const char *hit = NULL;
    for (const char *c = v; end && c + k <= end; c++) {
        if (strncasecmp(c, name, k) != 0) /* as libosip2 finds it */
            continue;
        if (hit)
            return false;
        hit = c + k;
    }
    if (!hit)
        return false;
    const char *stop = hit;
    while (stop < end && *stop != ';')
        if (!chars_b64url(*stop++))
            return false;
    if (stop == hit)
        return false;
    *at = (size_t)(hit - v);
    *len = (size_t)(stop - hit);
    return true;
}

/* Our Record-Route @index in a response, signed again for the callee
 * (record_route_resign() changed only its ;sbs=): that value replaced in
 * the bytes it came as, else the whole value written by libosip2. */
static void edit_resigned(struct sipedit *e, unsigned index, const osip_record_route_t *rr)
{
    osip_uri_param_t *sig = NULL;
    size_t n, at, len;
    const char *v = sipedit_value(e, SIPEDIT_RECORD_ROUTE, index, &n);
    char text[PROXY_PUSHED_TEXT];
    if (osip_uri_uparam_get_byname(rr->url, RECORD_ROUTE_SIG_PARAM, &sig) != 0 || !sig ||
        !sig->gvalue || !v || !sig_span(v, n, &at, &len) ||
        n - len + strlen(sig->gvalue) >= sizeof(text)) {
        edit_value(e, SIPEDIT_RECORD_ROUTE, index, rr, (to_str_fn)osip_record_route_to_str);
        return;
    }
    if (same(v + at, len, sig->gvalue))
        return;
    struct fixbuf b;
    fixbuf_init(&b, text, sizeof(text));
    fixbuf_put(&b, v, at);
    fixbuf_puts(&b, sig->gvalue);
    fixbuf_put(&b, v + at + len, n - at - len);
    if (fixbuf_end(&b) < 0)
        e->failed = true;
    else
        sipedit_replace_value(e, SIPEDIT_RECORD_ROUTE, index, text);
}

/* A response on its way upstream: our Via gone, our Record-Routes as we
 * signed them again (§16.7), the caller's CSeq, our reason phrase, the
 * engine's body. */
static int edit_response(const struct proxy *p, struct sipedit *e, const struct proxy_edit *x,
                         const osip_message_t *msg)
{
    int vias = (int)sipedit_count(e, SIPEDIT_VIA);
    int rrs = (int)sipedit_count(e, SIPEDIT_RECORD_ROUTE);
    if (vias != x->vias || rrs != x->record_routes || osip_list_size(&msg->vias) + 1 != vias ||
        osip_list_size(&msg->record_routes) != rrs || !msg->reason_phrase)
        return SB_EAGAIN;
    sipedit_drop_values(e, SIPEDIT_VIA, 1);
    const osip_record_route_t *rr;
    for (int i = 0; (rr = osip_list_get(&msg->record_routes, i)) != NULL; i++)
        if (rr->url && identity_is_local_uri(p->env.identity, rr->url))
            edit_resigned(e, (unsigned)i, rr);
    size_t n;
    if (!same(sipedit_first(e, &n), n, msg->reason_phrase))
        sipedit_set_first(e, msg->reason_phrase);
    edit_cseq(e, x, msg);
    edit_body(e, msg);
    return 0;
}

/* --- checking ------------------------------------------------------------- */

/* @text parsed and written again by libosip2 (*@out, osip_free()d), so
 * two messages that mean the same compare equal. Returns 0, or an error
 * when it does not parse. */
static int canonical(const char *text, size_t len, char **out)
{
    osip_message_t *m = NULL;
    size_t n;
    int rc = osip_message_init(&m) == 0 ? 0 : SB_ENOMEM;
    if (rc == 0 && osip_message_parse(m, text, len) != 0)
        rc = SB_EMALFORMED;
    if (rc == 0)
        rc = sipmsg_keep_raw_body(m, text, len);
    if (rc == 0)
        rc = sipmsg_serialize(m, out, &n);
    osip_message_free(m);
    return rc;
}

/* Header names in lower case: libosip2 writes a name it read as
 * "Max-forwards", one it was given as it was given. */
static void lower_names(char *text)
{
    char *line = strstr(text, "\r\n");
    while (line && line[2] != '\r') {
        line += 2;
        for (char *c = line; *c && *c != ':' && *c != '\r'; c++)
            *c = (char)tolower((unsigned char)*c);
        line = strstr(line, "\r\n");
    }
}

/* The length of the line at @s (up to its CRLF or the end). */
static size_t line_len(const char *s)
{
    const char *crlf = strstr(s, "\r\n");
    return crlf ? (size_t)(crlf - s) : strlen(s);
}

/* Is the value of @line (@n bytes, "name: value") a whole value of a
 * field of the edited bytes @text (@len)? Then libosip2 wrote it for the
 * edit as the old serialization did. */
static bool written_as_meant(const char *line, size_t n, const char *text, size_t len)
{
    const char *colon = memchr(line, ':', n);
    if (!colon || (size_t)(colon - line) + 2 > n)
        return false;
    const char *value = colon + 2, *stop = text + len; /* libosip2 writes "name: value" */
    size_t k = n - (size_t)(value - line);
    for (const char *at = text; k && (at = memmem(at, (size_t)(stop - at), value, k)) != NULL;
         at++) {
        const char *before = at, *after = at + k;
        while (before > text && chars_blank(before[-1]))
            before--;
        while (after < stop && chars_blank(*after))
            after++;
        bool starts = before > text && (before[-1] == ':' || before[-1] == ',');
        bool ends = after < stop && (*after == ',' || (*after == '\r' && after + 1 < stop));
        if (starts && ends)
            return true;
    }
    return false;
}

/* Does each line of @read equal the same line of @meant, or else is that
 * line of @meant what the edited bytes @text (@len) carry? */
static bool lines_agree(const char *read, const char *meant, const char *text, size_t len)
{
    for (;;) {
        size_t r = line_len(read), m = line_len(meant);
        if ((r != m || memcmp(read, meant, r) != 0) && !written_as_meant(meant, m, text, len))
            return false;
        if (!read[r] || !meant[m])
            return !read[r] && !meant[m];
        read += r + 2;
        meant += m + 2;
    }
}

/* SB_EDIT_VERIFY: libosip2 must read the edited bytes as the message the
 * proxy meant, @msg. Both written by libosip2, each line must be @msg's
 * own text, or that text must be in the edited bytes as it is: the first
 * holds for bytes kept as they came (for some fields libosip2 accepts,
 * writing is not the inverse of reading), the second for a value the
 * edit had libosip2 write, an odd Via say, which the old serialization
 * sent the same. A difference is a bug in an edit, and ends the
 * process. */
static void verify(osip_message_t *msg, const char *text, size_t len)
{
    char *meant = NULL, *read = NULL;
    size_t meant_len;
    if (sipmsg_serialize(msg, &meant, &meant_len) != 0)
        return;
    if (canonical(text, len, &read) != 0)
        read = NULL;
    if (read) {
        lower_names(read);
        lower_names(meant);
    }
    if (!read || (strcmp(read, meant) != 0 && !lines_agree(read, meant, text, len))) {
        SB_ERROR("forwarding by editing differs from serializing:\n--- edited\n%s\n--- "
                 "read back\n%s\n--- serialized\n%s",
                 text, read ? read : "(unreadable)", meant);
        abort();
    }
    osip_free(read);
    osip_free(meant);
}

/* --- the hook ------------------------------------------------------------- */

int proxy_edit_render(void *user, const osip_message_t *msg, char **out, size_t *len)
{
    struct proxy *p = user;
    const struct proxy_edit *x = &p->edit;
    if (!x->msg || x->msg != msg)
        return SB_EAGAIN; /* not one we relay: ours, or held */
    int rc = SB_EAGAIN;
    struct sipedit e;
    if (x->raw && !sipmsg_rewritten(msg) && sipedit_open(&e, x->raw, x->raw_len) == 0)
        rc = MSG_IS_RESPONSE(msg) ? edit_response(p, &e, x, msg) : edit_request(p, &e, x, msg);
    if (rc == 0)
        rc = sipedit_render(&e, out, len);
    sb_count(p->env.counters, rc == 0 ? SB_CNT_FORWARD_EDITED : SB_CNT_FORWARD_SERIALIZED);
    if (rc == 0 && p->verify_edits)
        verify((osip_message_t *)msg, *out, *len);
    return rc;
}

int proxy_write(struct proxy *p, osip_message_t *msg, char **out, size_t *len)
{
    if (proxy_edit_render(p, msg, out, len) == 0)
        return 0;
    return sipmsg_serialize(msg, out, len);
}
