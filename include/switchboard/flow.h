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
 * Every in-dialog request comes back with that URI in its Route. A request
 * that came *from* one side's mapping goes on to the other side's mapping
 * (or, if the other side is not behind NAT, by its Request-URI); a request
 * from anywhere else goes to the one mapping there is (RFC 5626 §5.3:
 * "not from the flow: forward over the flow").
 * Pure functions; any thread. */
#ifndef SWITCHBOARD_FLOW_H
#define SWITCHBOARD_FLOW_H

#include <stdbool.h>
#include <stddef.h>

struct sb_addr;

#define FLOW_TOKEN_MAX 96

/* Writes the token for @a and @b (either may be NULL; not both) into @buf
 * (FLOW_TOKEN_MAX bytes). Returns 0 or SB_EINVAL. */
int flow_token_format(const struct sb_addr *a, const struct sb_addr *b, char *buf, size_t size);

/* Parses a Route URI's user part. Returns 0 (sides in *a / *b, *has_a /
 * *has_b say which), or SB_ENOTFOUND when @user is not a flow token. */
int flow_token_parse(const char *user, struct sb_addr *a, bool *has_a, struct sb_addr *b,
                     bool *has_b);

/* Where an in-dialog request from @src goes, given a parsed token: 0 with
 * *dst set, or SB_ENOTFOUND to route it by its Request-URI. */
int flow_token_target(const struct sb_addr *src, const struct sb_addr *a, bool has_a,
                      const struct sb_addr *b, bool has_b, struct sb_addr *dst);

/* Same IP and port? */
bool flow_addr_equal(const struct sb_addr *x, const struct sb_addr *y);

#endif
