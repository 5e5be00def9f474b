/* Our Record-Route URI (RFC 3261 §16.6 step 4): the proxy's address, the
 * flow token of a side behind NAT (flow.h) in its user part, ;lr, and a
 * signature ;sbs=<HMAC> over the dialog's Call-ID, the From tag of the
 * request that created it, and the user part.
 *
 * The signature is what keeps a forged in-dialog request from using us as
 * a relay: anyone can write Route: <sip:PROXY;lr> and an invented To tag,
 * but only a Route we inserted for that very dialog verifies. In-dialog
 * requests travel both ways, so a Route verifies with the request's From
 * tag (caller to callee) or its To tag (callee to caller).
 * Pure functions over a secret; any thread. */
#ifndef SWITCHBOARD_RECORD_ROUTE_H
#define SWITCHBOARD_RECORD_ROUTE_H

#include <stdbool.h>
#include <stddef.h>

#include <osipparser2/osip_uri.h>

struct secret;
struct flow_side;

#define RECORD_ROUTE_SIG_PARAM "sbs"

/* Writes "<sip:[token@]host:port[;transport=tcp|tls];lr;sbs=...>" into
 * @out: our address on one side of the call, over @transport (enum
 * sb_transport). @caller and @callee (either may be NULL or absent) are
 * the sides reached over a flow (flow.h). Returns 0 or SB_ERANGE. */
int record_route_format(const struct secret *s, int transport, const char *host, unsigned port,
                        const char *call_id, const char *from_tag, const struct flow_side *caller,
                        const struct flow_side *callee, char *out, size_t size);

/* Does @uri carry a signature we made for this dialog (@from_tag or
 * @to_tag, either may be NULL, being the tag of its creator)? */
bool record_route_signed(const struct secret *s, const osip_uri_t *uri, const char *call_id,
                         const char *from_tag, const char *to_tag);

#endif
