/* Locating a SIP server in DNS (RFC 3263): reading NAPTR, SRV and A
 * answers off the wire, NAPTR records in RFC 3263 §4.1's order, SRV
 * records in RFC 2782's (priority, then a weighted random draw). Pure
 * functions over answer bytes; the lookups themselves are resolver.h's,
 * on a thread of their own: no SIP thread ever waits on DNS. */
#ifndef SWITCHBOARD_SIPDNS_H
#define SWITCHBOARD_SIPDNS_H

#include <stddef.h>
#include <stdint.h>

#include <netinet/in.h>

#define SIPDNS_NAME_MAX 256

enum sipdns_type { SIPDNS_A = 1, SIPDNS_SRV = 33, SIPDNS_NAPTR = 35 };

/* One answer record of the type asked for. */
struct sipdns_rr {
    uint16_t type;
    uint32_t ttl;
    /* NAPTR (RFC 3403 §4.1) */
    uint16_t order, pref;
    char flags[8], service[32];
    char replacement[SIPDNS_NAME_MAX];
    /* SRV (RFC 2782) */
    uint16_t priority, weight, port;
    char target[SIPDNS_NAME_MAX];
    /* A */
    struct in_addr a;
};

/* Reads the answer records of @type from the DNS message @msg (what
 * res_nquery returned) into @out (at most @max). Returns how many, or
 * SB_EMALFORMED when the message does not parse. */
int sipdns_parse(const unsigned char *msg, size_t len, enum sipdns_type type, struct sipdns_rr *out,
                 size_t max);

/* RFC 3263 §4.1: keeps the NAPTR records a SIP client can use (flag "s",
 * service SIP+D2U, SIP+D2T or SIPS+D2T), lowest order then preference
 * first. @transport >= 0 keeps only that transport's. Returns how many
 * are left at the front of @rr. */
size_t sipdns_naptr_usable(struct sipdns_rr *rr, size_t n, int transport);
/* The transport (enum sb_transport) a usable NAPTR record's service
 * names, or -1. */
int sipdns_naptr_transport(const struct sipdns_rr *rr);

/* RFC 2782: orders SRV records by priority, and within one priority by
 * repeated weighted random draws (each draw takes a 32-bit value from
 * @next). A record with target "." means none: dropped. Returns how many
 * are left. */
size_t sipdns_srv_order(struct sipdns_rr *rr, size_t n, uint32_t (*next)(void *ctx), void *ctx);

/* "_sip._udp.", "_sip._tcp.", "_sips._tcp.": the SRV prefix of a
 * transport (RFC 3263 §4.2). */
const char *sipdns_srv_prefix(int transport);

#endif
