/* Who "we" are: the addresses the proxy listens on, the host's interface
 * addresses and name when it listens on a wildcard, and configured domains.
 * Answers "is this URI for us?" for routing and loop detection. Immutable
 * after creation, so any thread may call it. */
#ifndef SWITCHBOARD_IDENTITY_H
#define SWITCHBOARD_IDENTITY_H

#include <stdbool.h>
#include <osipparser2/osip_uri.h>

#include "switchboard/config.h"

struct identity;

int identity_create(const struct sb_config *cfg, struct identity **out);
void identity_destroy(struct identity *id);

/* True when @host (with @port, 0 meaning "not given", i.e. 5060) names this
 * proxy: a listen address, an interface address, the host name or a
 * configured domain (domains match any port). */
bool identity_is_local(const struct identity *id, const char *host, unsigned port);

/* identity_is_local() for a URI's host and port. */
bool identity_is_local_uri(const struct identity *id, const osip_uri_t *uri);

#endif
