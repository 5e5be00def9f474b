/* Per-source rate limiting (like Kamailio's pike), off by default: a token
 * bucket per source IP address in a fixed-size, direct-mapped table, so its
 * memory is bounded whatever the number of sources (a colliding source
 * takes the slot over, which can only make the limit more lenient).
 * One limiter per listener thread: no sharing, no locks. With several
 * listeners a source spread over several sockets gets up to that many
 * times the rate. */
#ifndef SWITCHBOARD_RATE_LIMIT_H
#define SWITCHBOARD_RATE_LIMIT_H

#include <stdbool.h>
#include <stdint.h>

#include "switchboard/types.h"

struct rate_limit;

/* @per_second messages a source may send, in bursts of twice that. */
int rate_limit_create(unsigned per_second, struct rate_limit **out);
void rate_limit_destroy(struct rate_limit *rl);

/* Takes a token for @src at @now_ms. Returns false when it has none left. */
bool rate_limit_allow(struct rate_limit *rl, const struct sb_addr *src, uint64_t now_ms);

#endif
