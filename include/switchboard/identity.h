/* Who "we" are: the addresses the proxy listens on, the host's interface
 * addresses and name when it listens on a wildcard, and configured domains.
 * Answers "is this URI for us?" for routing and loop detection.
 *
 * DESIGN: fixed after creation except for the interface addresses, which
 * identity_refresh() swaps under RCU when the host gains or loses one
 * (addr_watch.h). Any thread registered with liburcu may call the
 * identity_is_local* functions at any time, concurrently with a refresh. */
#ifndef SWITCHBOARD_IDENTITY_H
#define SWITCHBOARD_IDENTITY_H

#include <stdbool.h>
#include <osipparser2/osip_uri.h>

#include "switchboard/config.h"

struct identity;

int identity_create(const struct sb_config *cfg, struct identity **out);
void identity_destroy(struct identity *id);

/* Re-reads the host's interface addresses and publishes them (logging what
 * appeared and what went). Call from one thread at a time; it waits for an
 * RCU grace period, so never from a SIP thread. Returns 0 or SB_ESYS. */
int identity_refresh(struct identity *id);

/* Does any listen address use a wildcard (so interface addresses count)? */
bool identity_has_wildcard(const struct identity *id);

/* Another address that is ours (a NAT router's public address a trunk
 * sees us at, trunk.h's advertise): start-up only, before any reader. */
int identity_add_alias(struct identity *id, const char *host, unsigned port);

/* True when @host (with @port, 0 meaning "not given", i.e. 5060) names this
 * proxy: a listen address, an interface address, the host name or a
 * configured domain (domains match any port). */
bool identity_is_local(const struct identity *id, const char *host, unsigned port);

/* True when @ip (bare) and @port are one of the proxy's own sockets: a
 * listen address, or an interface address on a wildcard's port. Unlike
 * identity_is_local(), a configured domain that happens to be an IP does
 * not make every port of it ours. */
bool identity_is_socket(const struct identity *id, const char *ip, unsigned port);

/* True when @host names this proxy on any port (a listen address, an
 * interface address when listening on a wildcard, the host name or a
 * domain): the domain part of one of our users' addresses, which phones
 * often write without our port. */
bool identity_is_local_host(const struct identity *id, const char *host);

/* identity_is_local() for a URI's host and port. */
bool identity_is_local_uri(const struct identity *id, const osip_uri_t *uri);

#endif
