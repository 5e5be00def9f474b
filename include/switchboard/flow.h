/* Flow tokens (RFC 5626 §5.3, the way an edge proxy keeps reaching a UA
 * behind NAT inside a dialog).
 *
 * A UA behind NAT puts its private address in its Contact, so the Request-
 * URI of every in-dialog request sent to it names an address nobody can
 * reach. When the proxy record-routes a dialog whose caller or callee is
 * reached at a NAT mapping (registrar binding with use_source, or a caller
 * whose INVITE shows NAT), the user part of its Record-Route URI carries a
 * token naming that mapping (one for each side, either may be absent):
 *
 *     sbf.<side A>.<side B>     side: hex IPv4/IPv6 address + hex port, or "-"
 *
 * A side reached over TCP or TLS (a phone registered over a connection, a
 * caller whose INVITE came over one) also names the connection: "t" (TCP)
 * or "s" (TLS) and the connection id in hex follow its address, and
 * requests to that side go over that very connection (RFC 5626 §5.3; if it
 * is gone the request fails with 430 Flow Failed, never a new connection).
 * A side we connected to ourselves has id 0: requests to it reuse a
 * connection to its address, or open one.
 *
 * Every in-dialog request comes back with that URI in its Route. A request
 * from one side goes on to the other side's mapping (or, if the other side
 * is not behind NAT, by its Request-URI); which side sent it is told by the
 * tags its Route's signature verified with, not by the connection it came
 * over, which a phone that reconnected has changed.
 * Pure functions; any thread. */
#ifndef SWITCHBOARD_FLOW_H
#define SWITCHBOARD_FLOW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "switchboard/types.h"

#define FLOW_TOKEN_MAX 128

/* One side of a dialog as a flow token names it. */
struct flow_side {
    bool present;
    uint8_t transport; /* enum sb_transport */
    uint64_t conn;     /* TCP/TLS: the connection; 0 for UDP, or for any to ->addr */
    struct sb_addr addr;
};

/* Writes the token for sides @a and @b (absent ones as "-"; not both) into
 * @buf (FLOW_TOKEN_MAX bytes). Returns 0 or SB_EINVAL. */
int flow_token_format(const struct flow_side *a, const struct flow_side *b, char *buf, size_t size);

/* Parses a Route URI's user part into *a and *b. Returns 0, or
 * SB_ENOTFOUND when @user is not a flow token. */
int flow_token_parse(const char *user, struct flow_side *a, struct flow_side *b);

/* Where an in-dialog request goes: from side A (the dialog's caller:
 * @from_a, which the Route's signature tells, record_route.h) to B's
 * flow, from B to A's; NULL when that side has none (by its Request-URI).
 * The direction, not the connection a request came over, decides: a
 * phone that reconnected (our restart, a roam, a NAT that timed out)
 * sends over a new one, and must reach its peer, never its own old flow. */
const struct flow_side *flow_token_target(bool from_a, const struct flow_side *a,
                                          const struct flow_side *b);

/* Same IP and port? */
bool flow_addr_equal(const struct sb_addr *x, const struct sb_addr *y);

#endif
