/* GET /directory on a ws: or wss: listener: the office directory
 * (directory.h) for the softphone page, as JSON, behind HTTP Digest
 * (RFC 7616) with the SIP users, realm and nonces (auth.h) whenever a
 * users file is in force; open when [auth] require = none (then anyone
 * who reaches the exchange may register as anyone anyway). Called by an
 * I/O thread: memory only, never blocking. */
#ifndef SWITCHBOARD_WS_DIRECTORY_H
#define SWITCHBOARD_WS_DIRECTORY_H

#include <stdbool.h>

struct auth;
struct dialplan_holder;
struct sb_addr;
struct sb_buf;
struct ws_request;

struct ws_directory {
    struct auth *auth;             /* NULL: [auth] require = none */
    struct dialplan_holder *plans; /* NULL: no plan */
};

/* Is @r a request for the directory? */
bool ws_directory_wanted(const struct ws_request *r);

/* The whole HTTP response to @r from @peer into @out: 200 with the
 * directory, 401 with a challenge (stale when the nonce was), 403 when
 * the source or user is throttled. */
void ws_directory_reply(const struct ws_directory *d, const struct ws_request *r,
                        const struct sb_addr *peer, struct sb_buf *out);

#endif
