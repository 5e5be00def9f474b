/* RFC 3263 records. See sipdns.h. */
#include "switchboard/sipdns.h"

#include <arpa/nameser.h>
#include <resolv.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "switchboard/error.h"
#include "switchboard/types.h"

/* A <character-string> (RFC 1035 §3.3): length byte, bytes. Returns the
 * bytes it took, or -1. */
static int char_string(const unsigned char *p, const unsigned char *end, char *out, size_t size)
{
    if (p >= end || p + 1 + *p > end)
        return -1;
    size_t n = *p;
    size_t copy = n < size - 1 ? n : size - 1;
    memcpy(out, p + 1, copy);
    out[copy] = '\0';
    return (int)n + 1;
}

static int read_naptr(const unsigned char *msg, size_t len, const unsigned char *rd, size_t rdlen,
                      struct sipdns_rr *rr)
{
    const unsigned char *end = rd + rdlen, *p = rd + 4;
    char regexp[256];
    if (rdlen < 4)
        return SB_EMALFORMED;
    rr->order = (uint16_t)(rd[0] << 8 | rd[1]);
    rr->pref = (uint16_t)(rd[2] << 8 | rd[3]);
    int n = char_string(p, end, rr->flags, sizeof(rr->flags));
    if (n < 0)
        return SB_EMALFORMED;
    p += n;
    if ((n = char_string(p, end, rr->service, sizeof(rr->service))) < 0)
        return SB_EMALFORMED;
    p += n;
    if ((n = char_string(p, end, regexp, sizeof(regexp))) < 0)
        return SB_EMALFORMED;
    p += n;
    if (p >= end || dn_expand(msg, msg + len, p, rr->replacement, sizeof(rr->replacement)) < 0)
        return SB_EMALFORMED;
    return 0;
}

static int read_srv(const unsigned char *msg, size_t len, const unsigned char *rd, size_t rdlen,
                    struct sipdns_rr *rr)
{
    if (rdlen < 7)
        return SB_EMALFORMED;
    rr->priority = (uint16_t)(rd[0] << 8 | rd[1]);
    rr->weight = (uint16_t)(rd[2] << 8 | rd[3]);
    rr->port = (uint16_t)(rd[4] << 8 | rd[5]);
    if (dn_expand(msg, msg + len, rd + 6, rr->target, sizeof(rr->target)) < 0)
        return SB_EMALFORMED;
    if (!rr->target[0])
        strcpy(rr->target, "."); /* the root: no service (RFC 2782) */
    return 0;
}

int sipdns_parse(const unsigned char *msg, size_t len, enum sipdns_type type, struct sipdns_rr *out,
                 size_t max)
{
    ns_msg handle;
    if (len > 65535 || ns_initparse(msg, (int)len, &handle) < 0)
        return SB_EMALFORMED;
    size_t count = 0;
    int answers = ns_msg_count(handle, ns_s_an);
    for (int i = 0; i < answers && count < max; i++) {
        ns_rr rr;
        if (ns_parserr(&handle, ns_s_an, i, &rr) < 0)
            return SB_EMALFORMED;
        if ((int)ns_rr_type(rr) != (int)type || ns_rr_class(rr) != ns_c_in)
            continue; /* a CNAME on the way, say */
        struct sipdns_rr *r = &out[count];
        memset(r, 0, sizeof(*r));
        r->type = (uint16_t)type;
        r->ttl = ns_rr_ttl(rr);
        const unsigned char *rd = ns_rr_rdata(rr);
        size_t rdlen = ns_rr_rdlen(rr);
        int rc = 0;
        if (type == SIPDNS_NAPTR)
            rc = read_naptr(msg, len, rd, rdlen, r);
        else if (type == SIPDNS_SRV)
            rc = read_srv(msg, len, rd, rdlen, r);
        else if (rdlen == 4)
            memcpy(&r->a, rd, 4);
        else
            rc = SB_EMALFORMED;
        if (rc != 0)
            return rc;
        count++;
    }
    return (int)count;
}

/* --- NAPTR: RFC 3263 §4.1 --------------------------------------------- */

int sipdns_naptr_transport(const struct sipdns_rr *rr)
{
    if (!strcasecmp(rr->service, "SIP+D2U"))
        return SB_UDP;
    if (!strcasecmp(rr->service, "SIP+D2T"))
        return SB_TCP;
    if (!strcasecmp(rr->service, "SIPS+D2T"))
        return SB_TLS;
    return -1;
}

static int naptr_compare(const void *a, const void *b)
{
    const struct sipdns_rr *x = a, *y = b;
    if (x->order != y->order)
        return x->order < y->order ? -1 : 1;
    return x->pref < y->pref ? -1 : x->pref > y->pref;
}

size_t sipdns_naptr_usable(struct sipdns_rr *rr, size_t n, int transport)
{
    size_t kept = 0;
    for (size_t i = 0; i < n; i++) {
        int t = sipdns_naptr_transport(&rr[i]);
        /* "s": the replacement is an SRV name (§4.1); others lead
         * elsewhere (A records, further NAPTR) we do not follow */
        if (t < 0 || strcasecmp(rr[i].flags, "s") != 0 || (transport >= 0 && t != transport))
            continue;
        if (kept != i)
            rr[kept] = rr[i];
        kept++;
    }
    qsort(rr, kept, sizeof(*rr), naptr_compare); /* stable enough: ties are equal */
    return kept;
}

/* --- SRV: RFC 2782 ------------------------------------------------------ */

static int priority_compare(const void *a, const void *b)
{
    const struct sipdns_rr *x = a, *y = b;
    if (x->priority != y->priority)
        return x->priority < y->priority ? -1 : 1;
    return x->weight < y->weight ? -1 : x->weight > y->weight; /* zero weights first */
}

/* Orders rr[from..to) (one priority) by weighted draws. */
static void draw_by_weight(struct sipdns_rr *rr, size_t from, size_t to,
                           uint32_t (*next)(void *ctx), void *ctx)
{
    for (size_t i = from; i + 1 < to; i++) {
        uint64_t total = 0;
        for (size_t k = i; k < to; k++)
            total += rr[k].weight;
        uint64_t pick = total ? next(ctx) % (total + 1) : 0;
        uint64_t running = 0;
        size_t chosen = i;
        for (size_t k = i; k < to; k++) {
            running += rr[k].weight;
            if (running >= pick) {
                chosen = k;
                break;
            }
        }
        struct sipdns_rr t = rr[i];
        rr[i] = rr[chosen];
        rr[chosen] = t;
    }
}

size_t sipdns_srv_order(struct sipdns_rr *rr, size_t n, uint32_t (*next)(void *ctx), void *ctx)
{
    size_t kept = 0;
    for (size_t i = 0; i < n; i++) {
        if (!strcmp(rr[i].target, "."))
            continue;
        if (kept != i)
            rr[kept] = rr[i];
        kept++;
    }
    qsort(rr, kept, sizeof(*rr), priority_compare);
    for (size_t from = 0; from < kept;) {
        size_t to = from + 1;
        while (to < kept && rr[to].priority == rr[from].priority)
            to++;
        draw_by_weight(rr, from, to, next, ctx);
        from = to;
    }
    return kept;
}

const char *sipdns_srv_prefix(int transport)
{
    return transport == SB_TLS ? "_sips._tcp." : transport == SB_TCP ? "_sip._tcp." : "_sip._udp.";
}
