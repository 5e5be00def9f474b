/* REGISTER processing, RFC 3261 §10.3. */
#include "switchboard/register.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <osipparser2/osip_message.h>
#include <osipparser2/osip_port.h>

#include "switchboard/buf.h"
#include "switchboard/error.h"
#include "switchboard/log.h"
#include "switchboard/nat.h"
#include "switchboard/sip_msg.h"

#define REGISTER_MAX_CONTACTS 64
#define USER_AGENT_MAX 128 /* bytes of User-Agent kept with a binding */

/* Appends '@' and the URI's host, lower-cased, to the key in @buf. */
static int append_domain(const osip_uri_t *uri, char *buf, size_t n, size_t size)
{
    char bare[256];
    const char *host = uri->host ? sipmsg_bare_host(uri->host, bare, sizeof(bare)) : "";
    if (n + 1 + strlen(host) + 1 > size)
        return SB_EINVAL;
    buf[n++] = '@';
    for (; *host; host++)
        buf[n++] = (char)tolower((unsigned char)*host);
    buf[n] = '\0';
    return 0;
}

int register_aor_key(const osip_uri_t *uri, bool use_domain, char *buf, size_t size)
{
    if (!uri || !uri->username || !*uri->username)
        return SB_EINVAL;
    /* libosip2 has unescaped the user part already (%41 is A): unescaping
     * again would make sip:a%2541@h the user "aA" */
    size_t n = strlen(uri->username);
    if (n + 1 > size)
        return SB_EINVAL;
    memcpy(buf, uri->username, n + 1);
    return use_domain ? append_domain(uri, buf, n, size) : 0;
}

/* RFC 3261 §10.2: a REGISTER whose From names someone else than its To is
 * a third-party registration; its Contact is kept as given. */
static bool is_third_party(const osip_message_t *req)
{
    char from[256], to[256];
    if (!req->from || register_aor_key(req->from->url, true, from, sizeof(from)) != 0)
        return true;
    return register_aor_key(req->to->url, true, to, sizeof(to)) != 0 || strcmp(from, to) != 0;
}

/* Reads a delta-seconds value; anything else is malformed. */
static int parse_expires(const char *text, unsigned *out)
{
    if (!text)
        return SB_ENOTFOUND;
    while (*text == ' ' || *text == '\t')
        text++;
    char *end;
    errno = 0;
    unsigned long long v = strtoull(text, &end, 10);
    if (end == text || text[0] == '-')
        return SB_EMALFORMED;
    while (*end == ' ' || *end == '\t')
        end++;
    if (*end)
        return SB_EMALFORMED;
    /* §20.19: values past 2^32-1 are taken as that; we cap at max later */
    *out = (errno == ERANGE || v > 0xffffffffull) ? 0xffffffffu : (unsigned)v;
    return 0;
}

static bool is_wildcard(const osip_contact_t *c)
{
    return c->displayname && strcmp(c->displayname, "*") == 0 && !c->url;
}

static unsigned parse_q(const osip_contact_t *c)
{
    osip_generic_param_t *q = NULL;
    if (osip_contact_param_get_byname((osip_contact_t *)c, "q", &q) != 0 || !q || !q->gvalue)
        return 1000;
    double v = strtod(q->gvalue, NULL);
    if (v < 0 || v > 1)
        return 1000;
    return (unsigned)(v * 1000 + 0.5);
}

/* The Contact as we store and list it, built around the URI as it arrived
 * (@raw_uri): libosip2 unescapes user parts, and sip:%00@h would come back
 * as sip:@h. Without expires, which each 200 OK gets fresh. */
static char *contact_text_raw(const osip_contact_t *c, const char *raw_uri)
{
    struct sb_buf b = {0};
    if (c->displayname && *c->displayname)
        sb_buf_printf(&b, "%s ", c->displayname);
    sb_buf_printf(&b, "<%s>", raw_uri);
    osip_generic_param_t *p;
    for (int i = 0; (p = osip_list_get(&c->gen_params, i)) != NULL; i++) {
        if (!p->gname || strcasecmp(p->gname, "expires") == 0)
            continue;
        sb_buf_printf(&b, ";%s%s%s", p->gname, p->gvalue ? "=" : "", p->gvalue ? p->gvalue : "");
    }
    if (b.failed) {
        sb_buf_free(&b);
        return NULL;
    }
    return b.data;
}

/* The Contact as we store and list it: without expires, which we add fresh
 * in each 200 OK. */
static char *contact_text(const osip_contact_t *c)
{
    osip_contact_t *copy = NULL;
    char *text = NULL;
    if (osip_contact_clone(c, &copy) != 0)
        return NULL;
    osip_generic_param_t *p;
    for (int i = 0; (p = osip_list_get(&copy->gen_params, i)) != NULL;) {
        if (p->gname && strcasecmp(p->gname, "expires") == 0) {
            osip_list_remove(&copy->gen_params, i);
            osip_generic_param_free(p);
        } else {
            i++;
        }
    }
    if (osip_contact_to_str(copy, &text) != 0)
        text = NULL;
    osip_contact_free(copy);
    return text;
}

struct register_request {
    struct registrar_change changes[REGISTER_MAX_CONTACTS];
    char *owned[REGISTER_MAX_CONTACTS * 2];
    char user_agent[USER_AGENT_MAX + 1]; /* cut short: it is copied into every binding */
    size_t count, owned_count;
    bool remove_all;
    unsigned too_brief; /* set when some contact asked for less than min */
};

static void request_free(struct register_request *r)
{
    for (size_t i = 0; i < r->owned_count; i++)
        osip_free(r->owned[i]);
}

/* The bytes of @req's Call-ID, which every binding keeps. */
static size_t call_id_bytes(const osip_message_t *req)
{
    const osip_call_id_t *id = req->call_id;
    return (id && id->number ? strlen(id->number) : 0) + (id && id->host ? strlen(id->host) : 0);
}

/* Builds the list of changes. Returns 0 or the status code to answer. */
static int request_parse(const struct sb_config *cfg, const struct sb_inbound *in,
                         struct register_request *r, uint64_t now_ms)
{
    const osip_message_t *req = in->msg;
    unsigned header_expires = cfg->default_expires;
    const char *expires_text = sipmsg_header(req, "expires");
    if (expires_text && parse_expires(expires_text, &header_expires) != 0)
        return 400;
    const char *user_agent = sipmsg_header(req, "user-agent");
    if (user_agent) {
        snprintf(r->user_agent, sizeof(r->user_agent), "%s", user_agent);
        user_agent = r->user_agent;
    }
    size_t fixed = (user_agent ? strlen(user_agent) : 0) + call_id_bytes(req);
    osip_via_t *via = sipmsg_top_via(req);
    bool third_party = is_third_party(req);
    osip_contact_t *c;
    int total = osip_list_size(&req->contacts);
    if (total > REGISTER_MAX_CONTACTS)
        return 403;
    /* the raw URIs only when they line up with libosip2's contacts */
    const char *raw =
        in->raw_contacts && in->raw_contact_count == (unsigned)total ? in->raw_contacts : NULL;
    for (int i = 0; (c = osip_list_get(&req->contacts, i)) != NULL; i++) {
        if (is_wildcard(c)) {
            /* §10.3 step 6: "*" only alone and with Expires: 0 */
            if (total != 1 || !expires_text || header_expires != 0)
                return 400;
            r->remove_all = true;
            return 0;
        }
        if (!c->url || !c->url->host)
            return 400;
        unsigned expires = header_expires;
        osip_generic_param_t *p = NULL;
        if (osip_contact_param_get_byname(c, "expires", &p) == 0 && p &&
            parse_expires(p->gvalue, &expires) != 0)
            return 400;
        if (expires != 0 && expires < cfg->min_expires) {
            r->too_brief = 1;
            if (raw)
                raw += strlen(raw) + 1;
            continue;
        }
        if (expires > cfg->max_expires)
            expires = cfg->max_expires;
        char *uri = NULL, *text;
        if (raw) {
            /* the URI as it arrived: escaped user parts stay distinct */
            text = contact_text_raw(c, raw);
            uri = strdup(raw);
            raw += strlen(raw) + 1;
        } else {
            text = contact_text(c);
            if (osip_uri_to_str(c->url, &uri) != 0)
                uri = NULL;
        }
        if (!text || !uri) {
            osip_free(text);
            osip_free(uri);
            return 500;
        }
        r->owned[r->owned_count++] = text;
        r->owned[r->owned_count++] = uri;
        if (fixed + strlen(text) + strlen(uri) > cfg->max_binding_bytes)
            return 413; /* more than a binding may keep */
        struct registrar_change *ch = &r->changes[r->count++];
        memset(ch, 0, sizeof(*ch));
        ch->remove = expires == 0;
        struct registrar_binding *b = &ch->binding;
        b->contact = text;
        b->uri = uri;
        osip_generic_param_t *instance = NULL;
        if (osip_contact_param_get_byname(c, "+sip.instance", &instance) == 0 && instance)
            b->instance = instance->gvalue;
        b->user_agent = user_agent;
        b->expires_at_ms = now_ms + (uint64_t)expires * 1000u;
        b->q = parse_q(c);
        /* §10.3 stores the Contact; a UA evidently behind NAT is reached
         * where its packets come from instead (nat.h has the rule). A
         * third-party registration keeps the Contact address. */
        struct nat_facts facts = {
            .via_host = via ? via->host : NULL,
            .via_port = via ? via->port : NULL,
            .via_transport = via ? via->protocol : NULL,
            .contact_host = c->url->host,
            .source = &in->src,
            .stream = in->transport != SB_UDP,
        };
        b->use_source = !third_party && nat_detect((enum nat_mode)cfg->nat_mode, &facts);
        b->source = in->src;
        b->local = in->local;
        b->transport = in->transport;
        /* a UA registering itself over a connection is reached over it
         * (RFC 5626 §6); a third party's connection is not the UA's */
        b->conn = third_party ? 0 : in->conn;
    }
    return r->too_brief ? 423 : 0;
}

static osip_message_t *answer_bindings(const osip_message_t *req, const char *to_tag,
                                       const struct registrar_set *set, uint64_t now_ms)
{
    osip_message_t *resp;
    if (sipmsg_response_create(req, 200, NULL, to_tag, &resp) != 0)
        return NULL;
    for (size_t i = 0; set && i < set->count; i++) {
        const struct registrar_binding *b = &set->bindings[i];
        char value[2048];
        unsigned long remaining = (unsigned long)((b->expires_at_ms - now_ms + 999) / 1000);
        int n = snprintf(value, sizeof(value), "%s;expires=%lu", b->contact, remaining);
        if (n > 0 && (size_t)n < sizeof(value))
            osip_message_set_contact(resp, value);
    }
    char date[64];
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S GMT", &tm);
    osip_message_set_header(resp, "Date", date);
    return resp;
}

static osip_message_t *answer_code(const osip_message_t *req, const char *to_tag, int code,
                                   const char *reason)
{
    osip_message_t *resp;
    return sipmsg_response_create(req, code, reason, to_tag, &resp) == 0 ? resp : NULL;
}

static osip_message_t *answer_too_brief(const struct sb_config *cfg, const osip_message_t *req,
                                        const char *to_tag)
{
    osip_message_t *resp = answer_code(req, to_tag, 423, NULL);
    char min[16];
    snprintf(min, sizeof(min), "%u", cfg->min_expires);
    if (resp)
        osip_message_set_header(resp, "Min-Expires", min);
    return resp;
}

osip_message_t *register_process(const struct sb_config *cfg, struct registrar *reg,
                                 const struct sb_inbound *in, const char *to_tag, uint64_t now,
                                 struct sb_counters *counters)
{
    const osip_message_t *req = in->msg;
    char aor[256], call_id[512];
    if (register_aor_key(req->to->url, cfg->use_domain, aor, sizeof(aor)) != 0)
        return answer_code(req, to_tag, 404, NULL); /* §10.3 step 3: no valid AOR */
    if (sipmsg_call_id(req, call_id, sizeof(call_id)) != 0)
        return answer_code(req, to_tag, 400, NULL);
    struct register_request r = {0};
    int code = request_parse(cfg, in, &r, now);
    if (code != 0) {
        request_free(&r);
        if (code == 413 && counters)
            sb_count(counters, SB_CNT_REGISTER_TOO_LARGE);
        return code == 423 ? answer_too_brief(cfg, req, to_tag)
                           : answer_code(req, to_tag, code, NULL);
    }
    struct registrar_set *after = NULL;
    int rc;
    if (r.count == 0 && !r.remove_all) {
        /* a query: list the bindings (§10.3 step 8) */
        rc = registrar_lookup(reg, aor, now, &after);
        if (rc == SB_ENOTFOUND)
            rc = 0;
    } else {
        rc = registrar_update(reg, aor, r.changes, r.count, r.remove_all, call_id,
                              sipmsg_cseq_number(req), now, &after);
    }
    osip_message_t *resp;
    switch (rc) {
    case 0:
        resp = answer_bindings(req, to_tag, after, now);
        SB_DEBUG("REGISTER %s: %zu binding(s)", aor, after ? after->count : 0);
        break;
    case SB_EOUTOFORDER:
        resp = answer_code(req, to_tag, 500, "Out of order CSeq");
        break;
    case SB_ELIMIT:
        resp = answer_code(req, to_tag, 503, "Too many registrations");
        break;
    case SB_EQUOTA:
        if (counters)
            sb_count(counters, SB_CNT_REGISTER_QUOTA);
        resp = answer_code(req, to_tag, 403, "Too many users registered from this address");
        break;
    case SB_EDOMAINFULL:
        if (counters)
            sb_count(counters, SB_CNT_REGISTER_DOMAIN_FULL);
        resp = answer_code(req, to_tag, 403, "Too many users registered in this domain");
        break;
    default:
        resp = answer_code(req, to_tag, 500, NULL);
        break;
    }
    registrar_set_free(after);
    request_free(&r);
    return resp;
}
