/* Our signed Record-Route. See record_route.h. */
#include "switchboard/record_route.h"

#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <osipparser2/osip_port.h>

#include "switchboard/error.h"
#include "switchboard/fixbuf.h"
#include "switchboard/flow.h"
#include "switchboard/secret.h"
#include "switchboard/types.h"

#define SIG_BYTES 16
#define SIG_TEXT 23      /* base64url of 16 bytes, with its NUL */
#define CLOCK_SKEW_S 300 /* another node's clock may run this far ahead */

/* What a MAC covers of the URI's ;sbt=, ;sbm= and ;sbc=: "ISSUED",
 * "ISSUED~ENGINE", "ISSUED^SHIFT" or "ISSUED~ENGINE^SHIFT", into @buf. */
static const char *stamp(const char *issued, const char *media, const char *cseq, char *buf,
                         size_t size)
{
    if (!media && !cseq)
        return issued;
    struct fixbuf t;
    fixbuf_init(&t, buf, size);
    fixbuf_puts(&t, issued);
    if (media) {
        fixbuf_char(&t, '~');
        fixbuf_puts(&t, media);
    }
    if (cseq) {
        fixbuf_char(&t, '^');
        fixbuf_puts(&t, cseq);
    }
    fixbuf_end(&t);
    return buf;
}

/* The URI's own stamp (stamp() of its parameters). */
static const char *uri_stamp(const osip_uri_t *uri, const char *issued, char *buf, size_t size);

static void sign(const struct secret *s, const struct record_route_binding *b, const char *tag,
                 const char *user, const char *issued, char *out)
{
    const char *parts[] = {"rr2",  b->call_id ? b->call_id : "", tag ? tag : "", user ? user : "",
                           issued, b->target ? b->target : ""};
    unsigned char mac[SECRET_MAC_BYTES];
    secret_mac(s, parts, sizeof(parts) / sizeof(parts[0]), mac);
    secret_b64url(mac, SIG_BYTES, out);
}

void record_route_target(const osip_uri_t *uri, char *buf, size_t size)
{
    const char *host = uri && uri->host ? uri->host : "";
    size_t n = 0;
    for (; host[n] && n + 1 < size; n++)
        buf[n] = (char)tolower((unsigned char)host[n]);
    struct fixbuf t;
    fixbuf_init(&t, buf + n, size - n);
    fixbuf_char(&t, ':');
    fixbuf_puts(&t, uri ? uri->port : NULL);
    fixbuf_end(&t);
}

/* The issuer's mark: over the dialog and the URI's token and issue time,
 * not its target, so that only a Route we made is ever re-signed. */
static void mark(const struct secret *s, const struct record_route_binding *b, const char *user,
                 const char *issued, char *out)
{
    const char *parts[] = {"rri", b->call_id ? b->call_id : "", b->tag ? b->tag : "",
                           user ? user : "", issued};
    unsigned char mac[SECRET_MAC_BYTES];
    secret_mac(s, parts, sizeof(parts) / sizeof(parts[0]), mac);
    secret_b64url(mac, SIG_BYTES, out);
}

/* "ISSUED" or "ISSUED-INSTANCE" in hex, into @buf. */
static void issued_text(const struct record_route_binding *b, char *buf, size_t size)
{
    struct fixbuf t;
    fixbuf_init(&t, buf, size);
    fixbuf_hex(&t, b->issued);
    if (b->instance) {
        fixbuf_char(&t, '-');
        fixbuf_hex(&t, b->instance);
    }
    fixbuf_end(&t);
}

/* "<sip:TOKEN@HOST:PORT;transport=T;lr;sbt=..;sbm=..;sbc=..;sbi=..;sbs=..>" */
static long uri_text(const char *token, int transport, const char *host, unsigned port,
                     const char *issued, const char *media, const char *cseq, const char *issuer,
                     const char *sig, char *out, size_t size)
{
    struct fixbuf t;
    bool v6 = strchr(host, ':') != NULL;
    fixbuf_init(&t, out, size);
    fixbuf_puts(&t, "<sip:");
    if (token[0]) {
        fixbuf_puts(&t, token);
        fixbuf_char(&t, '@');
    }
    fixbuf_puts(&t, v6 ? "[" : "");
    fixbuf_puts(&t, host);
    fixbuf_puts(&t, v6 ? "]:" : ":");
    fixbuf_uint(&t, port);
    fixbuf_puts(&t, sb_transport_uri_param(transport));
    fixbuf_puts(&t, ";lr;" RECORD_ROUTE_TIME_PARAM "=");
    fixbuf_puts(&t, issued);
    if (media) {
        fixbuf_puts(&t, ";" RECORD_ROUTE_MEDIA_PARAM "=");
        fixbuf_puts(&t, media);
    }
    if (cseq) {
        fixbuf_puts(&t, ";" RECORD_ROUTE_CSEQ_PARAM "=");
        fixbuf_puts(&t, cseq);
    }
    fixbuf_puts(&t, ";" RECORD_ROUTE_MARK_PARAM "=");
    fixbuf_puts(&t, issuer);
    fixbuf_puts(&t, ";" RECORD_ROUTE_SIG_PARAM "=");
    fixbuf_puts(&t, sig);
    fixbuf_char(&t, '>');
    return fixbuf_end(&t);
}

int record_route_format(const struct secret *s, int transport, const char *host, unsigned port,
                        const struct record_route_binding *b, const struct flow_side *caller,
                        const struct flow_side *callee, char *out, size_t size)
{
    char token[FLOW_TOKEN_MAX] = "", sig[SIG_TEXT], issuer[SIG_TEXT], issued[40];
    if (((caller && caller->present) || (callee && callee->present)) &&
        flow_token_format(caller, callee, token, sizeof(token)) != 0)
        return SB_ERANGE;
    if (b->media && strlen(b->media) > RECORD_ROUTE_MEDIA_MAX)
        return SB_ERANGE;
    issued_text(b, issued, sizeof(issued));
    char stamped[sizeof(issued) + RECORD_ROUTE_MEDIA_MAX + 16], shift[12];
    struct fixbuf t;
    fixbuf_init(&t, shift, sizeof(shift));
    fixbuf_uint(&t, b->cseq_shift);
    fixbuf_end(&t);
    const char *cseq = b->cseq_shift ? shift : NULL;
    const char *st = stamp(issued, b->media, cseq, stamped, sizeof(stamped));
    sign(s, b, b->tag, token, st, sig);
    mark(s, b, token, st, issuer);
    return uri_text(token, transport, host, port, issued, b->media, cseq, issuer, sig, out, size) <
                   0
               ? SB_ERANGE
               : 0;
}

static const char *param_value(const osip_uri_t *uri, const char *name)
{
    osip_uri_param_t *p = NULL;
    if (osip_uri_uparam_get_byname((osip_uri_t *)uri, (char *)name, &p) != 0 || !p)
        return NULL;
    return p->gvalue;
}

static const char *uri_stamp(const osip_uri_t *uri, const char *issued, char *buf, size_t size)
{
    return stamp(issued, param_value(uri, RECORD_ROUTE_MEDIA_PARAM),
                 param_value(uri, RECORD_ROUTE_CSEQ_PARAM), buf, size);
}

int record_route_resign(const struct secret *s, osip_uri_t *uri,
                        const struct record_route_binding *b)
{
    osip_uri_param_t *p = NULL;
    const char *issued = param_value(uri, RECORD_ROUTE_TIME_PARAM);
    const char *issuer = param_value(uri, RECORD_ROUTE_MARK_PARAM);
    char want[SIG_TEXT];
    if (!issued || !issuer || strlen(issuer) != SIG_TEXT - 1 ||
        osip_uri_uparam_get_byname(uri, RECORD_ROUTE_SIG_PARAM, &p) != 0 || !p)
        return SB_EMALFORMED;
    char stamped[RECORD_ROUTE_STAMP_MAX];
    issued = uri_stamp(uri, issued, stamped, sizeof(stamped));
    mark(s, b, uri->username, issued, want);
    if (!secret_equal(want, issuer, SIG_TEXT - 1))
        return SB_EMALFORMED; /* not ours, or not for this dialog */
    char sig[SIG_TEXT];
    sign(s, b, b->tag, uri->username, issued, sig);
    char *copy = osip_strdup(sig);
    if (!copy)
        return SB_ENOMEM;
    osip_free(p->gvalue);
    p->gvalue = copy;
    return 0;
}

/* Was @issued (hex seconds, then "-" and the issuer's instance) at most
 * @max_age_s before @now_s? */
static bool fresh(const char *issued, uint64_t now_s, uint64_t max_age_s)
{
    char *end;
    if (!issued || !isxdigit((unsigned char)*issued) || strlen(issued) > 16 + 1 + 8)
        return false;
    uint64_t t = strtoull(issued, &end, 16);
    if (*end && *end != '-')
        return false;
    return t <= now_s + CLOCK_SKEW_S && now_s - (t < now_s ? t : now_s) <= max_age_s;
}

bool record_route_signed(const struct secret *s, const osip_uri_t *uri,
                         const struct record_route_binding *b, const char *to_tag, uint64_t now_s,
                         uint64_t max_age_s, bool *from_creator)
{
    const char *sig = param_value(uri, RECORD_ROUTE_SIG_PARAM);
    const char *issued = param_value(uri, RECORD_ROUTE_TIME_PARAM);
    if (!sig || strlen(sig) != SIG_TEXT - 1 || !fresh(issued, now_s, max_age_s))
        return false;
    char want[SIG_TEXT], stamped[RECORD_ROUTE_STAMP_MAX];
    const char *st = uri_stamp(uri, issued, stamped, sizeof(stamped));
    const char *tags[2] = {b->tag, to_tag};
    for (int i = 0; i < 2; i++) {
        if (!tags[i])
            continue;
        sign(s, b, tags[i], uri->username, st, want);
        if (!secret_equal(want, sig, SIG_TEXT - 1))
            continue;
        if (from_creator)
            *from_creator = i == 0; /* its From tag made the dialog */
        return true;
    }
    return false;
}

const char *record_route_media(const osip_uri_t *uri)
{
    return param_value(uri, RECORD_ROUTE_MEDIA_PARAM);
}

unsigned record_route_cseq_shift(const osip_uri_t *uri)
{
    const char *v = param_value(uri, RECORD_ROUTE_CSEQ_PARAM);
    char *end;
    if (!v || !isdigit((unsigned char)*v) || strlen(v) > 4)
        return 0;
    unsigned long n = strtoul(v, &end, 10);
    return *end ? 0 : (unsigned)n;
}

uint32_t record_route_instance(const osip_uri_t *uri)
{
    const char *issued = param_value(uri, RECORD_ROUTE_TIME_PARAM);
    const char *dash = issued ? strchr(issued, '-') : NULL;
    if (!dash || !isxdigit((unsigned char)dash[1]) || strlen(dash + 1) > 8)
        return 0;
    char *end;
    unsigned long v = strtoul(dash + 1, &end, 16);
    return *end ? 0 : (uint32_t)v;
}
