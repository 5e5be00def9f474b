/* Is a registering UA behind NAT? The rule the registrar applies before it
 * decides where a binding is reached (README "Registrar and NAT").
 *
 * RFC 3261 §10.3 says a registrar stores the Contact; a UA behind NAT puts
 * an address there that nobody outside its network can reach. We reach a UA
 * at the address its REGISTER came from only when the evidence says NAT
 * (as Kamailio's nat_uac_test + fix_nated_register do):
 *   - the source address differs from the top Via's sent-by host, or the
 *     source port from its sent-by port (what RFC 3581 received/rport
 *     record), or
 *   - the Contact's host is a private, shared (CGN), link-local or loopback
 *     address while the source address is not of the same kind.
 * Pure functions; any thread. */
#ifndef SWITCHBOARD_NAT_H
#define SWITCHBOARD_NAT_H

#include <stdbool.h>

struct sb_addr;

enum nat_mode {
    NAT_AUTO,   /* reach at the source when the evidence says NAT */
    NAT_ALWAYS, /* reach every UA that registers itself at its source */
    NAT_NEVER,  /* always use the Contact */
};

/* Parses "auto", "always" or "never". Returns 0 or SB_EINVAL. */
int nat_mode_parse(const char *text, enum nat_mode *out);

enum nat_addr_kind {
    NAT_ADDR_NAME, /* not an IP literal */
    NAT_ADDR_PUBLIC,
    NAT_ADDR_PRIVATE,    /* RFC 1918, RFC 4193 (fc00::/7) */
    NAT_ADDR_SHARED,     /* RFC 6598 carrier-grade NAT, 100.64.0.0/10 */
    NAT_ADDR_LINK_LOCAL, /* 169.254.0.0/16, fe80::/10 */
    NAT_ADDR_LOOPBACK,   /* 127.0.0.0/8, ::1 */
};

/* The kind of an IP literal (brackets allowed), or NAT_ADDR_NAME. */
enum nat_addr_kind nat_addr_kind(const char *host);

/* What the registrar knows of one REGISTER. */
struct nat_facts {
    const char *via_host;         /* top Via sent-by host */
    const char *via_port;         /* its port, NULL when absent */
    const char *via_transport;    /* "UDP", "TCP", "TLS", ... (default port) */
    const char *contact_host;     /* the Contact URI's host */
    const struct sb_addr *source; /* where the REGISTER came from */
    bool stream;                  /* over TCP/TLS: the source port is an ephemeral
                                   * one, so only addresses are evidence */
};

/* True when the UA should be reached at its source address. */
bool nat_detect(enum nat_mode mode, const struct nat_facts *f);

#endif
