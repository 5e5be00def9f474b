/* The proxy core's private header: what proxy.c and the files split
 * from it at their seams share (Kamailio tm's t_funcs.h over t_fwd.c,
 * t_reply.c). Nothing outside src/sip/proxy*.c includes it.
 *
 *   proxy.c          routing a request, ACK, CANCEL, strays; entry points
 *   proxy_headers.c  Via, Record-Route, Route, signatures
 *   proxy_auth.c     our own answers, authorization, REGISTER
 *   proxy_reply.c    the response context (§16.7)
 *   proxy_fwd.c      branches and the targets registrations give
 *   proxy_office.c   the office's dial-plan stages
 *   proxy_trunk.c    calls out through trunks and in from them
 *   proxy_watch.c    calls of watched users, as RFC 4235 dialogs
 *   proxy_notify.c   SUBSCRIBE/NOTIFY for the dialog event package
 *   proxy_pickup.c   call pickup: a ringing call to the picker
 *   proxy_edit.c     forwarding by editing the bytes a message came as */
#ifndef SWITCHBOARD_PROXY_INT_H
#define SWITCHBOARD_PROXY_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <osipparser2/osip_message.h>

#include "switchboard/call_journal.h"
#include "switchboard/callroute.h"
#include "switchboard/cidr.h"
#include "switchboard/dialog.h"
#include "switchboard/flow.h"
#include "switchboard/log.h"
#include "switchboard/media.h"
#include "switchboard/proxy.h"
#include "switchboard/record_route.h"
#include "switchboard/stats.h"
#include "switchboard/timer_wheel.h"
#include "switchboard/trunk.h"

struct rate_limit;
struct registrar_binding;
struct registrar_set;
struct media_stateless;
struct media_leg;
struct trunk;
struct trunk_call;
struct trunk_reg;
struct natping;
struct dns_park;
struct notifier;
struct subscription;

#define ALLOW_METHODS                                                                              \
    "INVITE, ACK, CANCEL, BYE, OPTIONS, REGISTER, REFER, NOTIFY, SUBSCRIBE, MESSAGE, INFO, "       \
    "UPDATE, PRACK"

/* The flow token of the Route of ours a request came back with (flow.h). */
struct route_flow {
    bool present;
    struct flow_side a, b; /* the caller's side, the callee's */
    bool from_caller;      /* the request comes from side a (its signature says) */
};

/* What proxy_route_preprocess found among the Routes naming us. */
struct route_info {
    bool signed_route; /* a Record-Route we signed for this dialog */
    bool forged;       /* one naming us without our signature */
    uint32_t instance; /* the process that issued the signed one (record_route.h) */
    struct route_flow flow;
    char media[RECORD_ROUTE_MEDIA_MAX + 1]; /* its ;sbm=, the call's engine; "" */
    bool from_caller;    /* the signed one says the request comes from the caller */
    unsigned cseq_shift; /* its ;sbc=: added to the caller's CSeq toward the callee */
};

/* What our Record-Routes of one request carry besides the dialog
 * (record_route.h): the tracking instance (0: none), the engine (NULL:
 * not relayed), the CSeq shift (0: none). */
struct proxy_rr_marks {
    uint32_t instance;
    const char *media;
    unsigned cseq_shift;
    /* a side that is a trunk with advertise = (trunk.h): our address on
     * that side as its carrier sees it; NULL: our own */
    const struct trunk *caller_trunk, *callee_trunk;
};

/* A call's media relay as one response context sees it (media.h). */
struct proxy_media {
    int engine;       /* -1: not relayed */
    bool request_sdp; /* the request carried SDP (else the offer is in the 2xx) */
    bool deleted;     /* its session is being deleted */
    bool sender_ws;   /* the request's sender is a browser (RFC 7118) */
    bool target_ws;   /* ...its recipient is */
};

/* A request held while the engine rewrites its offer (proxy_media.c): how
 * it was to be routed, resumed by proxy_route_decided(). */
struct media_park {
    osip_message_t *fwd;
    struct route_info info;
    int verdict; /* enum route_verdict */
    uint32_t loop_hash;
};

/* A message the proxy relays, as it arrived (forwarding by editing,
 * sip_edit.h): its bytes and how many values libosip2 read of what the
 * proxy edits, noted before any edit. Armed with the message about to
 * leave (@msg) only around its send: the render hook edits the bytes
 * when it is that message, else it is serialized. */
struct proxy_edit {
    const osip_message_t *msg;  /* NULL: not armed */
    const osip_message_t *from; /* the message as libosip2 read it */
    const char *raw;            /* NULL: serialize (sb_inbound.raw) */
    size_t raw_len;
    int vias, routes, record_routes;
    uint32_t cseq;
};

/* A response held while the engine rewrites its SDP; a context's are
 * released in the order they came, edited from a copy of the bytes they
 * came as (edit.raw points at @raw) or, without one, serialized. */
struct media_held {
    struct media_held *next;
    osip_message_t *resp;
    struct proxy_edit edit;
    char raw[];
};

/* The text of a Via or Record-Route the proxy pushed onto the message
 * about to leave: rendering copies it rather than writing libosip2's
 * parse of it out again. Noted at the push, forgotten at the disarm. */
#define PROXY_PUSHED_MAX 3 /* our Via and one or two Record-Routes */
#define PROXY_PUSHED_TEXT 512
struct proxy_pushed {
    const void *header; /* osip_via_t or osip_record_route_t; NULL: free */
    char text[PROXY_PUSHED_TEXT];
};

struct proxy {
    struct proxy_env env;
    struct txn_layer *txn;
    uint64_t branch_seed;
    uint64_t branch_counter;
    struct proxy_context *contexts; /* every live context, for shutdown */
    struct call_journal *calls;
    struct sb_log_limiter overload_log, refusal_log, media_log;
    enum call_end_hint local_hint;    /* what our own answers mean to the journal */
    unsigned cancels_held;            /* CANCELs past proxy_accept, not yet handled */
    struct cidr_list forbidden;       /* [proxy] forbidden_targets */
    struct rate_limit *register_rate; /* REGISTERs per source; NULL: off */
    struct dialog_table *dialogs;     /* NULL: env.instance is 0, no dialog tracked */
    /* the media of the context proxy_context_new() makes next (set around
     * routing a request whose offer the engine rewrote) */
    struct proxy_media media_next;
    bool browsers; /* we listen on ws: or wss: (a call may have a browser) */
    struct media_stateless *media_stateless; /* ACKs and strays held for the engine */
    struct trunk_reg *regs[TRUNK_MAX];       /* the registrations this worker runs */
    size_t reg_count;
    struct natping *natping;     /* NULL: another worker pings, or nobody */
    struct dns_park *dns_parked; /* requests waiting for a name (proxy_dns.c) */
    struct timer dns_timer;      /* polls for their answers while any waits */
    struct notifier *notifier;   /* NULL: no dialog event notifier (env.watch) */
    /* [features] pickup (proxy_pickup.c): the office calls that may be
     * picked up, how many of ours are on the board, and the timer that
     * looks for claims while any is */
    struct office_call *pickable;
    unsigned pickup_ringing;
    struct timer pickup_timer;
    struct proxy_edit edit;     /* the message leaving now (proxy_edit.c) */
    struct proxy_edit received; /* the response being handled */
    bool verify_edits;          /* SB_EDIT_VERIFY: compare each edit with serializing */
    struct proxy_pushed pushed[PROXY_PUSHED_MAX];
};

struct proxy_branch {
    struct proxy_context *ctx; /* NULL: one of our own requests (reg) */
    struct trunk_reg *reg;     /* a trunk's REGISTER (proxy_trunk_reg.c)... */
    struct natping *nat;       /* ...or a phone's keep-alive (proxy_natping.c)... */
    char *nat_key;             /* (its "AOR SOURCE") */
    struct notifier *notifier; /* ...or a NOTIFY (proxy_notify.c) */
    struct subscription *sub;  /* (its subscription; NULL once that ended) */
    struct proxy_branch *next; /* ...among its others with a transaction */
    struct client_txn *ct;     /* NULL once the transaction is gone */
    int final_code;            /* 0 while no final response */
    int unsent_code;           /* what it ends with if it cannot be sent */
    bool provisional;          /* a 101-199 came: CANCEL may be sent (§9.1) */
};

struct proxy_context {
    struct proxy *proxy;
    struct proxy_context *next, **pprev;
    struct server_txn *st; /* NULL once the transaction is gone */
    bool invite;
    bool cancelled; /* the caller sent CANCEL */
    bool timed_out; /* Timer C fired */
    bool answered;  /* a 2xx went upstream */
    osip_message_t *best;
    int best_code;
    struct timer timer_c;
    struct office_call *office; /* NULL: not routed by the dial plan */
    struct trunk_call *trunk;   /* NULL: not out through a trunk */
    /* added to the caller's CSeq toward the callee, taken off the
     * responses on the way back (a trunk's challenge answered by us,
     * record_route.h ;sbc=) */
    unsigned cseq_shift;
    size_t count, pending, cap;
    struct proxy_media media;
    struct media_park *park; /* the request, while its offer is with the engine */
    struct media_held *held; /* responses with the engine, oldest first */
    struct media_leg *early; /* callees whose early media the engine relays */
    uint64_t media_req;      /* the ng request in flight (park or held's head) */
    bool media_waiting;
    /* each branch its own allocation: client transactions point at them,
     * and a dial plan's later stages add branches */
    struct proxy_branch **branches;
};

/* A call routed by the office's dial plan (callroute.h): its stages run
 * one after another in one response context.
 * States: RINGING (a stage's branches are out) -> stage ended without a
 * 2xx -> the next stage RINGING, or the caller's final response. */
struct office_call {
    struct proxy *proxy;
    struct dialplan *dp; /* pinned for the call */
    struct callroute route;
    char dialled[128];
    char domain[256];    /* the Request-URI's host: AoRs and Diversion URIs */
    osip_message_t *fwd; /* the request before any stage's changes; kept
                          * only when a later stage may need it */
    uint32_t loop_hash;
    struct timer ring; /* the stage's ring time */
    bool ring_expired; /* the stage ended because its ring time ran out */
    bool stage_busy;   /* every final response of the stage was 486 or 600 */
    bool missed;       /* the call ends unanswered at a ring timeout */
    bool replaces;     /* an INVITE with Replaces: one stage, nothing after */
    /* [features] pickup: in proxy->pickable while routed; picked_by the
     * user whose devices ring once the ringing ones are cancelled */
    struct proxy_context *ctx;
    struct office_call *prev, *next;
    bool pickable, on_board, pickup_pending, pickup_stage;
    char call_id[256];
    char caller[64];    /* our user who called; "" when not ours */
    char picked_by[64]; /* "" until picked up */
};

/* Where one branch goes. */
struct proxy_target {
    const char *ruri; /* new Request-URI, or NULL to keep it */
    struct sb_dest dest;
    /* the callee reached over a flow (a NAT mapping, or its connection):
     * our Record-Route names it, so in-dialog requests find it again */
    struct flow_side flow;
    /* if the branch cannot even be sent: 480 for a registered phone whose
     * connection went (RFC 5626 §5.3 / §7), 430 for a dialog's flow, else
     * 503 (RFC 3261 §8.1.3.1) */
    int unsent_code;
    /* named by the request itself (Route, Request-URI): route_policy_target()
     * must allow it before it is used */
    bool checked;
    /* shared store: the Request-URI for the switchboard that holds the
     * callee's connection ("sip:USER@NODE;sb-peer"), ruri points here */
    char peer_uri[320];
};

/* The Request-URI parameter by which one switchboard asks another (that
 * shares its location service and its secret) to reach a user over the
 * connections only it holds: no dial plan, only the bindings made there,
 * and no second challenge (the first node authorized the call). Its value
 * is an HMAC over the Call-ID and the user (peer_mac()): a stranger's
 * ;sb-peer is dropped and the request routed as any other. */
#define PEER_PARAM "sb-peer"

/* proxy_headers.c: where a message goes, Via, Record-Route, Route, signatures */
void proxy_send_to(struct proxy *p, const struct sb_dest *dest, const char *data, size_t len);
int proxy_reply_dest(const struct sb_inbound *in, struct sb_dest *dest);
bool proxy_our_signature(const struct proxy *p, const osip_message_t *req, const osip_uri_t *uri,
                         const osip_uri_t *target, bool *from_caller);
const osip_uri_t *proxy_remote_target(const osip_message_t *req, bool strict);
bool proxy_strict_routed_to_us(const struct proxy *p, const osip_message_t *req);
bool proxy_peer_param_signed(const struct proxy *p, const osip_message_t *req,
                             const osip_uri_t *uri);
struct dialog_msg proxy_dialog_msg_of(const osip_message_t *m);
int proxy_resolve(const struct proxy *p, struct sb_dest *dest, const struct sb_local *from);
bool proxy_conn_alive(const struct proxy *p, uint64_t conn);
struct flow_side proxy_inbound_flow(const struct sb_inbound *in, bool nat);
unsigned proxy_via_port(const osip_via_t *via);
bool proxy_wants_record_route(const osip_message_t *req);
void proxy_pop_record_route(osip_message_t *req);
int proxy_push_record_routes(struct proxy *p, osip_message_t *req, const struct sb_inbound *in,
                             const struct proxy_target *t, const struct flow_side *caller,
                             const struct proxy_rr_marks *marks);
int proxy_push_via(struct proxy *p, osip_message_t *req, const struct sb_dest *dest,
                   uint32_t loop_hash, uint64_t unique);
bool proxy_sign_peer_param(const struct proxy *p, osip_message_t *req);
bool proxy_via_is_ours(const struct proxy *p, const osip_via_t *via);
bool proxy_loop_detected(const struct proxy *p, const osip_message_t *req, uint32_t loop_hash);
void proxy_route_preprocess(const struct proxy *p, osip_message_t *req, struct route_info *info);
bool proxy_via_verified(const struct proxy *p, const osip_message_t *resp);

/* proxy_auth.c: our own answers, authorization (§22), REGISTER (§10) */
/* Does @msg's From name one of our users? (Under [auth] require = all
 * the credentials said so; a trunk's or another domain's caller never.) */
bool proxy_from_our_user(const struct proxy *p, const osip_message_t *msg);
void proxy_respond_options(struct server_txn *st);
void proxy_respond_unsupported(struct server_txn *st, const char *extensions);
void proxy_respond_overloaded(struct proxy *p, const struct sb_inbound *in);
void proxy_note_refusal(struct proxy *p, enum sb_counter why, const char *what,
                        const osip_message_t *req, const struct sb_addr *src);
bool proxy_authorize(struct proxy *p, struct server_txn *st);
bool proxy_register_rate_ok(struct proxy *p, const struct sb_inbound *in);
void proxy_handle_register(struct proxy *p, struct server_txn *st);
void proxy_refuse_register_rate(struct proxy *p, const struct sb_inbound *in);

/* proxy_reply.c: the response context (§16.7) and the transaction callbacks */
void proxy_context_free(struct proxy_context *ctx);
void proxy_on_timer_c(struct timer *timer, void *arg);
void proxy_send_best(struct proxy_context *ctx);
void proxy_branch_final(struct proxy_branch *b, int code, osip_message_t **resp);
void proxy_cancel_pending(struct proxy_context *ctx);
void proxy_give_up(struct proxy_context *ctx);
void proxy_resign_record_routes(const struct proxy *p, osip_message_t *resp);
void proxy_dialog_note_response(struct proxy *p, struct server_txn *st, const osip_message_t *resp);
extern const struct txn_user_ops proxy_txn_ops;

/* proxy_fwd.c: a context and its branches (§16.5-16.6), registered targets */
struct proxy_context *proxy_context_new(struct proxy *p, const osip_message_t *req);
size_t proxy_add_branches(struct proxy_context *ctx, struct server_txn *st, osip_message_t *fwd,
                          const struct proxy_target *targets, size_t count, uint32_t loop_hash);
void proxy_context_publish(struct proxy_context *ctx, struct server_txn *st);
void proxy_stream_side(struct proxy_target *t);
int proxy_uri_dest(struct proxy *p, const char *text, struct proxy_target *t,
                   const struct sb_local *from);
int proxy_binding_target(struct proxy *p, const struct registrar_binding *b, const char *aor,
                         struct proxy_target *t, bool *gone);
bool proxy_peer_repeated(const struct proxy_target *targets, size_t n,
                         const struct proxy_target *t);
void proxy_fork_request(struct proxy *p, struct server_txn *st, osip_message_t *fwd,
                        const struct proxy_target *targets, size_t count, uint32_t loop_hash);
size_t proxy_registered_targets(struct proxy *p, const osip_uri_t *ruri, bool peer_only,
                                struct registrar_set **set, struct proxy_target **targets,
                                bool *flows_gone);

/* proxy.c */
void proxy_route_decided(struct proxy *p, struct server_txn *st, osip_message_t *fwd,
                         const struct route_info *info, int verdict, uint32_t loop_hash);
/* proxy_edit.c: notes @in before the proxy edits its message; arms
 * @p->edit with @x for @msg (proxy_edit_disarm() after the send); the
 * txn layer's render hook; @msg for the wire, by editing when armed for
 * it, else serialized (*@out osip_free()d). */
void proxy_edit_note(struct proxy_edit *x, const struct sb_inbound *in);
void proxy_edit_arm(struct proxy *p, const struct proxy_edit *x, const osip_message_t *msg);
void proxy_edit_disarm(struct proxy *p);
/* @header, just pushed, reads @text (proxy_pushed). */
void proxy_edit_pushed(struct proxy *p, const void *header, const char *text);
int proxy_edit_render(void *user, const osip_message_t *msg, char **out, size_t *len);
int proxy_write(struct proxy *p, osip_message_t *msg, char **out, size_t *len);

void proxy_finish_stateless(struct proxy *p, struct sb_inbound *in, bool ready,
                            const struct sb_dest *dest);

/* proxy_media.c: the media relay's points in a call (media.h) */
bool proxy_media_park_request(struct proxy *p, struct server_txn *st, osip_message_t *fwd,
                              const struct route_info *info, int verdict, uint32_t loop_hash);
bool proxy_media_hold_response(struct proxy_context *ctx, osip_message_t **resp,
                               const struct proxy_edit *as_received);
void proxy_media_final(struct proxy *p, struct proxy_context *ctx, const osip_message_t *req,
                       const osip_message_t *resp);
void proxy_media_cancelled(struct proxy *p, struct proxy_context *ctx);
bool proxy_media_hold_stateless(struct proxy *p, struct sb_inbound *in, const struct sb_dest *dest,
                                const char *engine);
void proxy_media_context_free(struct proxy_context *ctx);
void proxy_media_destroy(struct proxy *p);
const char *proxy_media_name(const struct proxy *p, int engine);
bool proxy_caller_behind_nat(const struct proxy *p, const struct sb_inbound *in);

/* proxy_office.c: the office's dial-plan stages */
void proxy_office_stage_ended(struct proxy_context *ctx);
void proxy_office_free(struct office_call *oc);
/* The AoRs of the users the dial plan rings first for @ruri's user, into
 * @aors[0..max); how many (0: no plan, or it rings nobody first). */
size_t proxy_office_first_aors(struct proxy *p, const osip_uri_t *ruri, char (*aors)[320],
                               size_t max);
/* @replaces: the request takes over a call of ours (RFC 3891): one
 * stage, every device of the name's users (a group's members all at
 * once), without DND or forwards. */
bool proxy_route_office(struct proxy *p, struct server_txn *st, osip_message_t *fwd,
                        uint32_t loop_hash, bool replaces);

/* proxy_watch.c: calls of watched users (dialog_watch.h) */
/* The key the registrar knows the user @uri names by (an extension
 * stands for its user); false for a group, a URI of somebody else's, or
 * no user. */
bool proxy_watch_key(struct proxy *p, const osip_uri_t *uri, char *buf, size_t size);
/* The call journal's hook (call_journal_watch). */
void proxy_watch_call(void *ctx, const struct call_event *ev, void **state);

/* proxy_headers.c: takes out of @req what asks a phone to answer
 * without ringing (Call-Info answer-after, Alert-Info auto-answer or
 * intercom, RFC 5373 Answer-Mode); returns how many headers went. */
size_t proxy_strip_auto_answer(osip_message_t *req);

/* proxy_pickup.c: [features] pickup. Handles @fwd when its user is the
 * pickup code (alone or before a name): true when it did. */
bool proxy_route_pickup(struct proxy *p, struct server_txn *st, osip_message_t *fwd);
/* Office call @oc, for @req, may be picked up (from its first stage to
 * its end); it is on the board from its first ringing to its answer. */
void proxy_pickup_add(struct proxy *p, struct office_call *oc, const osip_message_t *req);
void proxy_pickup_ringing(struct office_call *oc);
void proxy_pickup_answered(struct office_call *oc);
void proxy_pickup_remove(struct proxy *p, struct office_call *oc);
/* The stage to run when @oc's ringing stage ended because it was picked
 * up; false when it was not. */
bool proxy_pickup_stage(struct office_call *oc, struct callroute_stage *stage);
void proxy_pickup_start(struct proxy *p);
void proxy_pickup_stop(struct proxy *p);

/* proxy_notify.c: the dialog event package's notifier (RFC 4235, 6665) */
int proxy_notify_start(struct proxy *p);
void proxy_notify_stop(struct proxy *p);
/* Answers @st's request when it is a SUBSCRIBE for the dialog or the
 * presence package to one of our users, or in one of our subscriptions,
 * or a PUBLISH to one of our users (RFC 3903); false: route it. */
bool proxy_notify_request(struct proxy *p, struct server_txn *st);
void proxy_notify_answered(struct proxy_branch *b, int code);
void proxy_notify_lost(struct proxy_branch *b);
void proxy_notify_gone(struct proxy_branch *b);

/* proxy_trunk.c: calls out through trunks and in from them (trunk.h) */
void proxy_trunk_call_free(struct trunk_call *tc);
bool proxy_route_trunk(struct proxy *p, struct server_txn *st, osip_message_t *fwd,
                       uint32_t loop_hash);
int proxy_trunk_credentials(const struct trunk *t, osip_message_t *req, const osip_message_t *chal);
bool proxy_trunk_challenged(struct proxy_branch *b, int code, const osip_message_t *resp);
bool proxy_trunk_stage_ended(struct proxy_context *ctx);
void proxy_relay_failover(struct proxy *p, struct server_txn *st, const osip_message_t *fwd,
                          const struct trunk_targets *targets, uint32_t loop_hash);
void proxy_trunk_in_dialog(struct proxy *p, struct server_txn *st, const osip_message_t *fwd,
                           const struct proxy_target *target, uint32_t loop_hash);
const struct trunk *proxy_trunk_source(const struct proxy *p, const struct sb_inbound *in);
bool proxy_trunk_inbound(struct proxy *p, struct server_txn *st, const struct trunk *t);
void proxy_trunk_sides(const struct proxy *p, const struct proxy_context *ctx,
                       const struct sb_inbound *in, struct proxy_rr_marks *marks);

/* proxy_own.c: our own requests (REGISTER, OPTIONS) and their branches */
uint64_t proxy_random64(void);
/* @text as snprintf() wrote it (@n of @size) into *@out. */
int proxy_own_parse(const char *text, int n, size_t size, osip_message_t **out);
/* Sends @req over a client transaction for @b (ctx NULL), kept on @list. */
int proxy_own_send(struct proxy *p, osip_message_t *req, const struct sb_dest *dest,
                   struct proxy_branch *b, struct proxy_branch **list);
void proxy_own_unlink(struct proxy_branch **list, struct proxy_branch *b);
void proxy_own_free_all(struct proxy_branch **list);

/* proxy_trunk_reg.c: trunks' registrations with their carriers */
int proxy_trunk_reg_start(struct proxy *p);
void proxy_trunk_reg_stop(struct proxy *p);
void proxy_trunk_reg_response(struct proxy_branch *b, const osip_message_t *resp);
void proxy_trunk_reg_ended(struct proxy_branch *b, int code);
void proxy_trunk_reg_gone(struct proxy_branch *b);

/* proxy_natping.c: keep-alives to phones behind NAT */
int proxy_natping_start(struct proxy *p);
void proxy_natping_stop(struct proxy *p);
void proxy_natping_answered(struct proxy_branch *b);
void proxy_natping_lost(struct proxy_branch *b);
void proxy_natping_gone(struct proxy_branch *b);

/* proxy_dns.c: requests relayed to a domain by name, per RFC 3263 */
int proxy_dns_target(struct proxy *p, const osip_message_t *fwd, const struct sb_inbound *in,
                     struct proxy_target *t, struct trunk_targets *all);
int proxy_dns_use(struct proxy *p, const struct trunk_targets *targets, size_t i,
                  const struct sb_local *from, struct proxy_target *t);
bool proxy_dns_park(struct proxy *p, struct server_txn *st, const osip_message_t *fwd,
                    const struct route_info *info, uint32_t loop_hash);
bool proxy_dns_cancel(struct proxy *p, struct server_txn *st);
void proxy_dns_destroy(struct proxy *p);
/* proxy.c */
bool proxy_target_allowed(struct proxy *p, const struct sb_inbound *in,
                          const struct proxy_target *t);
void proxy_route_onward(struct proxy *p, struct server_txn *st, osip_message_t *fwd,
                        const struct route_info *info, uint32_t loop_hash);

#endif
