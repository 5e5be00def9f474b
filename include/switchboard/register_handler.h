/* REGISTER processing (RFC 3261 §10.3): turns a REGISTER into registrar
 * changes and answers it through its server transaction. Runs on the
 * worker that owns the transaction. */
#ifndef SWITCHBOARD_REGISTER_HANDLER_H
#define SWITCHBOARD_REGISTER_HANDLER_H

#include "switchboard/config.h"
#include "switchboard/registrar.h"
#include "switchboard/transaction.h"

/* The address-of-record key for a URI of one of our domains: its user
 * part (all local domains share one namespace). Returns 0 or SB_EINVAL. */
int register_aor_key(const osip_uri_t *uri, char *buf, size_t size);

/* Answers the REGISTER of @st: 200 with the bindings, 400, 423, 500 or 503. */
void register_handle(const struct sb_config *cfg, struct registrar *reg, struct server_txn *st);

#endif
