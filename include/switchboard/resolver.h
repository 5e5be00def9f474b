/* Where each trunk is, per RFC 3263 (NAPTR -> SRV -> A/AAAA), looked up on a
 * thread of its own and published to the workers through RCU
 * (trunk_set_targets): no SIP thread ever waits on DNS. Lookups follow
 * /etc/resolv.conf and, for addresses, /etc/hosts.
 *
 * DESIGN: the thread sleeps until the first trunk's records expire (their
 * smallest TTL, kept within [30 s, 1 h]), looks it up again and publishes
 * what changed; a lookup that fails keeps the old targets and is retried
 * every 30 s. */
#ifndef SWITCHBOARD_RESOLVER_H
#define SWITCHBOARD_RESOLVER_H

#include <stdbool.h>
#include <stddef.h>

struct trunk;
struct trunk_plan;
struct trunk_targets;
struct resolver;

#define RESOLVER_TTL_MIN 30
#define RESOLVER_TTL_MAX 3600
#define RESOLVER_TTL_HOSTS 300 /* an address with no DNS record of its own */

/* What we can send over, the @reach of resolver_lookup() and
 * resolver_start(): a bit per transport (enum sb_transport) and address
 * family we have a listen address of. An address of a family we cannot
 * send from is no target. */
#define RESOLVER_REACH(transport, v6) (1u << ((unsigned)(transport) + ((v6) ? 8u : 0u)))

/* Looks @t up now (blocking): NAPTR records choose the transport (only
 * among @reach's, and only t->transport when the config named one),
 * their SRV records the hosts and ports in RFC 2782 order, each host's
 * addresses (A and AAAA, in getaddrinfo()'s RFC 6724 order, those @reach
 * allows) the targets; without NAPTR, SRV for each transport; without
 * SRV, the host itself on the transport's default port. A port in the
 * trunk's uri means the host's addresses only (§4.2). Returns 0 (@out
 * filled), or SB_ENOTFOUND / SB_EUNRESOLVED with why in @why. */
int resolver_lookup(const struct trunk *t, unsigned reach, struct trunk_targets *out, char *why,
                    size_t size);

/* Looks every named trunk of @plan up once, here (start-up, before any
 * SIP thread runs: a failure is logged and left to the thread), then
 * keeps them fresh from a thread, which also answers resolver_query()
 * when @relay. *@out is NULL when there is nothing to do. @plan may be
 * NULL. */
int resolver_start(struct trunk_plan *plan, unsigned reach, bool relay, struct resolver **out);
/* Stops the thread (before the plan is freed). NULL is fine. */
void resolver_stop(struct resolver *r);

/* For requests relayed to a domain of somebody else's ([proxy] relay =
 * yes): where sip:@host[:@port][;transport=] is, per RFC 3263, from a
 * cache this thread fills. Any thread; never waits on DNS: a name not
 * known yet is queued for the thread and SB_EAGAIN returned (ask again
 * shortly). Returns 0 (@out filled, fresh), SB_EAGAIN, or SB_ENOTFOUND
 * (it does not resolve; remembered for RESOLVER_TTL_MIN). */
int resolver_query(struct resolver *r, const char *host, unsigned port, int transport,
                   bool transport_set, struct trunk_targets *out);

#endif
