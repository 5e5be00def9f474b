/* Our Record-Route URI (RFC 3261 §16.6 step 4): the proxy's address, the
 * flow token of a side behind NAT (flow.h) in its user part, ;lr, when it
 * was issued (;sbt=, wall-clock seconds in hex, then "-" and the issuing
 * process's instance when it tracks the dialog) and a signature ;sbs=<HMAC>
 * over the dialog's Call-ID, the From tag of the request that created it,
 * the user part, the issue time and the remote target the requests that
 * follow this Route go to (host:port of the Contact of the side that will
 * receive them); ;sbi= marks it as ours for re-signing.
 *
 * The signature is what keeps a forged in-dialog request from using us as
 * a relay: anyone can write Route: <sip:PROXY;lr> and an invented To tag,
 * but only a Route we inserted for that very dialog verifies; and one
 * copied from a real call (anyone who rang a phone saw it in the 180)
 * takes requests only to that call's own phones, and only for the
 * maximum call length ([proxy] max_call_length) after it was issued.
 *
 * The two sides of a call hold different route sets: the callee keeps the
 * Record-Route of the request (it leads to the caller: signed for the
 * caller's Contact), the caller the one of the response, which the proxy
 * re-signs for the callee's Contact on the way up (§16.7 lets a proxy
 * rewrite its own Record-Route in a response).
 *
 * A call whose media we relay names its rtpengine in ;sbm=ADDRESS:PORT,
 * under the signature: every later message of the call (on another node,
 * after a restart) goes to the engine that holds its session (issue 26).
 * A call out through a trunk whose carrier challenged us (issue 27) names
 * the CSeq shift of the caller's requests in ;sbc=N, signed likewise: no
 * state of ours holds it. In-dialog requests travel
 * both ways, so a Route verifies with the request's From tag (caller to
 * callee) or its To tag (callee to caller).
 * Pure functions over a secret; any thread. */
#ifndef SWITCHBOARD_RECORD_ROUTE_H
#define SWITCHBOARD_RECORD_ROUTE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <osipparser2/osip_uri.h>

struct secret;
struct flow_side;

#define RECORD_ROUTE_SIG_PARAM "sbs"
#define RECORD_ROUTE_TIME_PARAM "sbt"
#define RECORD_ROUTE_MARK_PARAM "sbi"
#define RECORD_ROUTE_MEDIA_PARAM "sbm"
#define RECORD_ROUTE_CSEQ_PARAM "sbc"
#define RECORD_ROUTE_MEDIA_MAX 64  /* an engine's name: "127.0.0.1:2223" */
#define RECORD_ROUTE_STAMP_MAX 128 /* ;sbt=, ;sbm= and ;sbc= as signed */

/* What a signature binds a Route of ours to. */
struct record_route_binding {
    const char *call_id;
    const char *tag;    /* the From tag of the request that created the dialog */
    const char *target; /* record_route_target() of the remote target */
    uint64_t issued;    /* wall-clock seconds */
    uint32_t instance;  /* the issuing process, which tracks the dialog (dialog.h); 0: none */
    const char *media;  /* the media relay the call uses (ng.h), or NULL: ;sbm=, signed */
    /* what we add to the CSeq of the caller's requests toward the callee
     * (we answered a trunk's challenge with a request of our own: RFC
     * 3261 §22.2 wants its CSeq one higher), 0: none; ;sbc=, signed */
    unsigned cseq_shift;
};

/* The remote target as signatures name it: "host:port" of @uri, the host
 * in lower case, the port as written ("" when absent), into @buf. */
void record_route_target(const osip_uri_t *uri, char *buf, size_t size);

/* Writes "<sip:[token@]host:port[;transport=tcp|tls];lr;sbt=...;sbs=...>"
 * into @out: our address on one side of the call, over @transport (enum
 * sb_transport). @caller and @callee (either may be NULL or absent) are
 * the sides reached over a flow (flow.h). Returns 0 or SB_ERANGE. */
int record_route_format(const struct secret *s, int transport, const char *host, unsigned port,
                        const struct record_route_binding *b, const struct flow_side *caller,
                        const struct flow_side *callee, char *out, size_t size);

/* Signs @uri, one of ours, again for @b's target, keeping its token and
 * issue time (b->issued is ignored). Only a URI whose issuer mark (;sbi=,
 * an HMAC over the dialog, token and issue time, never used to let a
 * request through) verifies for b->call_id and b->tag is re-signed: a
 * callee cannot have us sign a Route it made up. Returns 0, or
 * SB_EMALFORMED when @uri is not one of ours for this dialog. */
int record_route_resign(const struct secret *s, osip_uri_t *uri,
                        const struct record_route_binding *b);

/* Does @uri carry a signature we made for this dialog (b->tag or @to_tag,
 * either may be NULL, being the tag of its creator) and b->target, issued
 * at most @max_age_s seconds before @now_s? When it does, *@from_creator
 * (may be NULL) says which tag it was: b->tag (the request's From tag)
 * means the request comes from the side that created the dialog (its
 * caller), @to_tag from the other side: the direction of an in-dialog
 * request, whichever connection it came over. */
bool record_route_signed(const struct secret *s, const osip_uri_t *uri,
                         const struct record_route_binding *b, const char *to_tag, uint64_t now_s,
                         uint64_t max_age_s, bool *from_creator);

/* The engine ;sbm= of a Route of ours names, or NULL. Trust it only once
 * record_route_signed() said the URI is ours. */
const char *record_route_media(const osip_uri_t *uri);

/* Its ;sbc= (0 when none). Trust it only once record_route_signed()
 * said the URI is ours. */
unsigned record_route_cseq_shift(const osip_uri_t *uri);

/* The instance a Route of ours was issued by (its ;sbt=), 0 when none.
 * Trust it only once record_route_signed() said the URI is ours. */
uint32_t record_route_instance(const osip_uri_t *uri);

#endif
