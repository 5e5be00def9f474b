/* REGISTER processing (RFC 3261 §10.3): turns a REGISTER into registrar
 * changes and builds the answer. The proxy runs each REGISTER in a server
 * transaction, so a retransmission is answered from it (§17.2.2) and never
 * applied or authorized twice. */
#ifndef SWITCHBOARD_REGISTER_H
#define SWITCHBOARD_REGISTER_H

#include "switchboard/config.h"
#include "switchboard/registrar.h"
#include "switchboard/stats.h"
#include "switchboard/types.h"

/* The address-of-record key for a URI of one of our domains: its user
 * part, unescaped (all local domains share one namespace), or with
 * @use_domain "user@domain" with the domain lower-cased (Kamailio's
 * use_domain). Returns 0 or SB_EINVAL. */
int register_aor_key(const osip_uri_t *uri, bool use_domain, char *buf, size_t size);

/* Builds the answer to the REGISTER in @in at monotonic time @now: 200
 * with the bindings, or 400, 403, 404, 413, 423, 500, 503, with To tag
 * @to_tag. Refusals by the limits on what strangers
 * may store are counted in @counters (may be NULL). Returns NULL only
 * when out of memory. */
osip_message_t *register_process(const struct sb_config *cfg, struct registrar *reg,
                                 const struct sb_inbound *in, const char *to_tag, uint64_t now,
                                 struct sb_counters *counters);

#endif
