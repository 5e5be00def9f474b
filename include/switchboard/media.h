/* Media relay through rtpengine (issue 26): which calls are relayed, when
 * a message's SDP goes to the engine and as what, the "ng" commands, and
 * the SDP body swapped in place. Pure functions over messages; the
 * proxy's side (parking a request or response while the engine answers)
 * is proxy_media.c.
 *
 * When (Kamailio's rtpengine_manage is the reference):
 *   INVITE/UPDATE with SDP              offer   (re-INVITEs too)
 *   18x/2xx with SDP to one with SDP    answer
 *   18x/2xx with SDP to one without     offer   (late offer...)
 *   ACK with SDP                        answer  (...answered on the ACK)
 *   BYE, CANCEL                         delete
 *   a final failure of an initial INVITE delete
 * An offer's from-tag is the tag of the side that made it: a late offer
 * (in a response) and its answer (in the ACK) swap From and To tags. */
#ifndef SWITCHBOARD_MEDIA_H
#define SWITCHBOARD_MEDIA_H

#include <stdbool.h>
#include <stddef.h>

#include <osipparser2/osip_message.h>

struct sb_addr;
struct sb_buf;
struct ng_reply;

enum media_relay {
    MEDIA_RELAY_NEVER,  /* signalling only (the default: a LAN exchange) */
    MEDIA_RELAY_NAT,    /* calls with a party behind NAT */
    MEDIA_RELAY_ALWAYS, /* every call */
};

enum media_on_failure {
    MEDIA_FAIL_CONTINUE, /* the engine did not answer: signal on unrelayed */
    MEDIA_FAIL_REFUSE,   /* ...refuse the call with 503 */
};

/* Parse "never" | "nat" | "always", "continue" | "refuse". 0 or SB_EINVAL. */
int media_relay_parse(const char *text, enum media_relay *out);
int media_on_failure_parse(const char *text, enum media_on_failure *out);

enum media_op { MEDIA_NONE, MEDIA_OFFER, MEDIA_ANSWER, MEDIA_DELETE };

/* What the decision needs to know of a message. */
struct media_event {
    const char *method; /* a request's method, or a response's CSeq method */
    int status;         /* 0 for a request */
    bool sdp;           /* it carries an SDP body */
    bool in_dialog;     /* a request with a To tag, or a response to one */
    bool request_sdp;   /* a response: its INVITE carried SDP */
};

/* The ng command @e calls for (see the table above). */
enum media_op media_op_of(const struct media_event *e);

/* Does @op on @e name the tags the other way round (the side that sent
 * this message is the answerer of a late offer, or its offerer)? */
bool media_tags_swapped(const struct media_event *e, enum media_op op);

/* @msg's SDP body (Content-Type application/sdp, one part), or NULL. */
osip_body_t *media_sdp(const osip_message_t *msg);

/* Would the other side fail to reach the address @sdp names for media?
 * True when its connection address (c=, session or first media) is a
 * private, shared or link-local one that is not @source's own address:
 * the sender is behind NAT. */
bool media_sdp_behind_nat(const char *sdp, size_t len, const struct sb_addr *source);

/* What the SDP is made into for the side that receives it, in a call
 * with a browser (RFC 7118 clients speak WebRTC: ICE, DTLS-SRTP,
 * rtcp-mux, AVPF) or not. */
enum media_profile {
    MEDIA_PROFILE_ASIS,   /* no browser in the call: the transport stays */
    MEDIA_PROFILE_WEBRTC, /* to a browser: ICE forced, UDP/TLS/RTP/SAVPF, DTLS
                           * passive, rtcp-mux offered, no SDES */
    MEDIA_PROFILE_RTP,    /* to a phone, from a browser: ICE removed, RTP/AVP,
                           * rtcp-mux split back, no DTLS */
};

/* The profile for the side that receives an SDP: a browser or not
 * (@to_browser), in a call whose other side is one or not. */
enum media_profile media_profile_for(bool to_browser, bool from_browser);

/* What an ng offer or answer carries. */
struct media_ng_args {
    const char *call_id;
    const char *from_tag;
    const char *to_tag;     /* NULL: none yet */
    const char *via_branch; /* NULL: none */
    const char *sdp;
    size_t sdp_len;
    const struct sb_addr *received; /* where the message came from */
    enum media_profile profile;     /* what the SDP becomes for its recipient */
};

/* Bencodes the dictionary of "offer"/"answer" (@op) into @b: ICE
 * removed (or forced, to a browser), origin and session connection
 * replaced, strict source, symmetric latching (the engine's default),
 * and what @a->profile asks of the transport; an offer between a
 * browser and a phone also lists the codecs the recipient can always
 * take, for the engine to transcode to when the two share none. */
void media_ng_offer_answer(struct sb_buf *b, enum media_op op, const struct media_ng_args *a);

/* Bencodes "delete" of call @call_id: side @from_tag and what hangs on
 * it, or the whole call when @from_tag is NULL. */
void media_ng_delete(struct sb_buf *b, const char *call_id, const char *from_tag);

/* Bencodes "query" of call @call_id (for tests and the journal). */
void media_ng_simple(struct sb_buf *b, const char *command, const char *call_id);

/* Replaces @msg's SDP body with @sdp[0..len) (the engine's); serialising
 * writes its Content-Length. Returns 0 or SB_ENOMEM / SB_EINVAL (no SDP
 * body to replace). */
int media_sdp_replace(osip_message_t *msg, const char *sdp, size_t len);

/* What a delete's reply says of the media of one call: per direction
 * (caller to callee, callee to caller) packets and bytes the engine
 * received (per tag: what came from that side's endpoint), and the
 * errors of its "totals"; -1 where absent. */
struct media_stats {
    long long packets[2], bytes[2];
    long long errors; /* RTP packets the engine could not relay, -1: not given */
};

/* Reads @r (the reply to a delete) for the side tagged @caller_tag.
 * Returns true when it held any figure. */
bool media_stats_of(const struct ng_reply *r, const char *caller_tag, struct media_stats *out);

#endif
