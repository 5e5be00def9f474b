/* Unit tests for src/sip/sipdns.c: NAPTR, SRV and A answers read off the
 * wire (built here byte by byte), RFC 3263 §4.1's NAPTR order and
 * RFC 2782's SRV order. */
#include <arpa/inet.h>

#include "switchboard/error.h"
#include "switchboard/sipdns.h"
#include "switchboard/types.h"
#include "test_helpers.h"

/* A DNS answer under construction. */
struct msg {
    unsigned char b[2048];
    size_t n;
    size_t answers_at; /* offset of ANCOUNT */
};

static void put8(struct msg *m, unsigned v)
{
    m->b[m->n++] = (unsigned char)v;
}

static void put16(struct msg *m, unsigned v)
{
    put8(m, v >> 8);
    put8(m, v & 0xff);
}

static void put_name(struct msg *m, const char *name)
{
    while (*name) {
        const char *dot = strchr(name, '.');
        size_t len = dot ? (size_t)(dot - name) : strlen(name);
        put8(m, (unsigned)len);
        memcpy(m->b + m->n, name, len);
        m->n += len;
        name += len + (dot ? 1 : 0);
    }
    put8(m, 0);
}

static void put_string(struct msg *m, const char *s)
{
    put8(m, (unsigned)strlen(s));
    memcpy(m->b + m->n, s, strlen(s));
    m->n += strlen(s);
}

static void begin(struct msg *m, const char *qname, unsigned qtype)
{
    memset(m, 0, sizeof(*m));
    put16(m, 0x1234);
    put16(m, 0x8180); /* a response, recursion available, no error */
    put16(m, 1);
    m->answers_at = m->n;
    put16(m, 0);
    put16(m, 0);
    put16(m, 0);
    put_name(m, qname);
    put16(m, qtype);
    put16(m, 1);
}

/* Starts an answer record of @type for the question's name; returns
 * where its RDLENGTH goes (end_rr() fills it). */
static size_t begin_rr(struct msg *m, unsigned type, unsigned ttl)
{
    unsigned count = (unsigned)(m->b[m->answers_at] << 8 | m->b[m->answers_at + 1]) + 1;
    m->b[m->answers_at] = (unsigned char)(count >> 8);
    m->b[m->answers_at + 1] = (unsigned char)count;
    put16(m, 0xc00c); /* the question's name */
    put16(m, type);
    put16(m, 1);
    put16(m, ttl >> 16);
    put16(m, ttl & 0xffff);
    size_t at = m->n;
    put16(m, 0);
    return at;
}

static void end_rr(struct msg *m, size_t at)
{
    size_t len = m->n - at - 2;
    m->b[at] = (unsigned char)(len >> 8);
    m->b[at + 1] = (unsigned char)len;
}

static void naptr(struct msg *m, unsigned order, unsigned pref, const char *flags,
                  const char *service, const char *replacement, unsigned ttl)
{
    size_t at = begin_rr(m, SIPDNS_NAPTR, ttl);
    put16(m, order);
    put16(m, pref);
    put_string(m, flags);
    put_string(m, service);
    put_string(m, "");
    put_name(m, replacement);
    end_rr(m, at);
}

static void srv(struct msg *m, unsigned prio, unsigned weight, unsigned port, const char *target)
{
    size_t at = begin_rr(m, SIPDNS_SRV, 300);
    put16(m, prio);
    put16(m, weight);
    put16(m, port);
    put_name(m, target);
    end_rr(m, at);
}

Test(sipdns, naptr_records_in_rfc3263_order)
{
    struct msg m;
    begin(&m, "carrier.test", SIPDNS_NAPTR);
    naptr(&m, 100, 50, "s", "SIP+D2U", "_sip._udp.carrier.test", 3600);
    naptr(&m, 90, 50, "s", "SIP+D2T", "_sip._tcp.carrier.test", 600);
    naptr(&m, 50, 50, "s", "SIPS+D2T", "_sips._tcp.carrier.test", 3600);
    naptr(&m, 10, 10, "u", "E2U+sip", ".", 3600);                 /* ENUM: not ours */
    naptr(&m, 20, 10, "a", "SIP+D2U", "host.carrier.test", 3600); /* not an SRV name */
    struct sipdns_rr rr[8];
    int n = sipdns_parse(m.b, m.n, SIPDNS_NAPTR, rr, 8);
    cr_assert_eq(n, 5);
    cr_assert_eq(rr[1].ttl, 600);
    cr_assert_str_eq(rr[1].replacement, "_sip._tcp.carrier.test");
    size_t kept = sipdns_naptr_usable(rr, (size_t)n, -1);
    cr_assert_eq(kept, 3);
    cr_assert_eq(sipdns_naptr_transport(&rr[0]), SB_TLS, "lowest order first");
    cr_assert_eq(sipdns_naptr_transport(&rr[1]), SB_TCP);
    cr_assert_eq(sipdns_naptr_transport(&rr[2]), SB_UDP);
    n = sipdns_parse(m.b, m.n, SIPDNS_NAPTR, rr, 8);
    kept = sipdns_naptr_usable(rr, (size_t)n, SB_UDP);
    cr_assert_eq(kept, 1, "only the configured transport");
    cr_assert_str_eq(rr[0].replacement, "_sip._udp.carrier.test");
}

Test(sipdns, naptr_preference_breaks_ties)
{
    struct msg m;
    begin(&m, "carrier.test", SIPDNS_NAPTR);
    naptr(&m, 10, 20, "S", "SIP+D2T", "_sip._tcp.b.test", 60); /* flags are case-blind */
    naptr(&m, 10, 10, "s", "SIP+D2U", "_sip._udp.a.test", 60);
    struct sipdns_rr rr[4];
    int n = sipdns_parse(m.b, m.n, SIPDNS_NAPTR, rr, 4);
    cr_assert_eq(sipdns_naptr_usable(rr, (size_t)n, -1), 2);
    cr_assert_str_eq(rr[0].replacement, "_sip._udp.a.test");
}

static uint32_t draws[16];
static size_t draw_at;

static uint32_t next_draw(void *ctx)
{
    (void)ctx;
    return draws[draw_at++ % 16];
}

Test(sipdns, srv_by_priority_then_weight)
{
    struct msg m;
    begin(&m, "_sip._udp.carrier.test", SIPDNS_SRV);
    srv(&m, 20, 0, 5060, "backup.carrier.test");
    srv(&m, 10, 60, 5060, "a.carrier.test");
    srv(&m, 10, 40, 5062, "b.carrier.test");
    srv(&m, 10, 0, 5064, "zero.carrier.test");
    struct sipdns_rr rr[8];
    int n = sipdns_parse(m.b, m.n, SIPDNS_SRV, rr, 8);
    cr_assert_eq(n, 4);
    cr_assert_eq(rr[2].port, 5062);
    /* priority 10 (weights 0, 40, 60 once sorted: running sums 0, 40,
     * 100 for zero, b, a): a draw of 100 picks a, then 0 picks zero */
    draws[0] = 100;
    draws[1] = 0;
    draw_at = 0;
    size_t kept = sipdns_srv_order(rr, (size_t)n, next_draw, NULL);
    cr_assert_eq(kept, 4);
    cr_assert_str_eq(rr[0].target, "a.carrier.test", "%s", rr[0].target);
    cr_assert_str_eq(rr[3].target, "backup.carrier.test", "the higher priority value last");
    /* a draw of 0 takes a zero-weight record first (RFC 2782) */
    n = sipdns_parse(m.b, m.n, SIPDNS_SRV, rr, 8);
    draws[0] = 0;
    draw_at = 0;
    sipdns_srv_order(rr, (size_t)n, next_draw, NULL);
    cr_assert_str_eq(rr[0].target, "zero.carrier.test");
}

Test(sipdns, srv_weights_shape_the_draws)
{
    struct msg m;
    begin(&m, "_sip._udp.carrier.test", SIPDNS_SRV);
    srv(&m, 10, 90, 5060, "heavy.test");
    srv(&m, 10, 10, 5060, "light.test");
    unsigned heavy_first = 0;
    for (uint32_t i = 0; i <= 100; i++) {
        struct sipdns_rr rr[4];
        int n = sipdns_parse(m.b, m.n, SIPDNS_SRV, rr, 4);
        draws[0] = i; /* every value of the draw once */
        draw_at = 0;
        sipdns_srv_order(rr, (size_t)n, next_draw, NULL);
        heavy_first += !strcmp(rr[0].target, "heavy.test");
    }
    cr_assert(heavy_first >= 85 && heavy_first <= 95, "heavy first %u times in 101", heavy_first);
}

Test(sipdns, srv_root_target_means_no_service)
{
    struct msg m;
    begin(&m, "_sip._tcp.carrier.test", SIPDNS_SRV);
    srv(&m, 0, 0, 0, "");
    struct sipdns_rr rr[2];
    int n = sipdns_parse(m.b, m.n, SIPDNS_SRV, rr, 2);
    cr_assert_eq(n, 1);
    cr_assert_eq(sipdns_srv_order(rr, 1, next_draw, NULL), 0);
    cr_assert_str_eq(sipdns_srv_prefix(SB_TLS), "_sips._tcp.");
    cr_assert_str_eq(sipdns_srv_prefix(SB_UDP), "_sip._udp.");
}

Test(sipdns, a_records_and_other_types_skipped)
{
    struct msg m;
    begin(&m, "host.carrier.test", SIPDNS_A);
    size_t at = begin_rr(&m, 5, 60); /* a CNAME on the way */
    put_name(&m, "real.carrier.test");
    end_rr(&m, at);
    at = begin_rr(&m, SIPDNS_A, 120);
    put8(&m, 192);
    put8(&m, 0);
    put8(&m, 2);
    put8(&m, 7);
    end_rr(&m, at);
    struct sipdns_rr rr[4];
    cr_assert_eq(sipdns_parse(m.b, m.n, SIPDNS_A, rr, 4), 1);
    char text[16];
    inet_ntop(AF_INET, &rr[0].a, text, sizeof(text));
    cr_assert_str_eq(text, "192.0.2.7");
    cr_assert_eq(rr[0].ttl, 120);
}

Test(sipdns, malformed_answers)
{
    struct msg m;
    begin(&m, "carrier.test", SIPDNS_NAPTR);
    naptr(&m, 10, 10, "s", "SIP+D2U", "_sip._udp.carrier.test", 60);
    struct sipdns_rr rr[2];
    for (size_t cut = 0; cut < m.n; cut++)
        cr_assert_lt(sipdns_parse(m.b, cut, SIPDNS_NAPTR, rr, 2), 1, "cut at %zu", cut);
    /* a NAPTR whose strings run past its data */
    begin(&m, "carrier.test", SIPDNS_NAPTR);
    size_t at = begin_rr(&m, SIPDNS_NAPTR, 60);
    put16(&m, 10);
    put16(&m, 10);
    put8(&m, 40); /* a 40-byte flags string in 5 bytes */
    put16(&m, 0);
    end_rr(&m, at);
    cr_assert_eq(sipdns_parse(m.b, m.n, SIPDNS_NAPTR, rr, 2), SB_EMALFORMED);
    /* an A record of 3 bytes */
    begin(&m, "h.test", SIPDNS_A);
    at = begin_rr(&m, SIPDNS_A, 60);
    put8(&m, 1);
    put8(&m, 2);
    put8(&m, 3);
    end_rr(&m, at);
    cr_assert_eq(sipdns_parse(m.b, m.n, SIPDNS_A, rr, 2), SB_EMALFORMED);
}
