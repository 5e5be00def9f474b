/* The proxy core, RFC 3261 §16. See the DESIGN note in proxy.h.
 *
 * Every request but ACK gets a server transaction; requests for our own
 * domains are answered here (REGISTER, OPTIONS) or forked to the
 * registered contacts; the rest follow Route or, in dialog, the
 * Request-URI. A proxy_context is the "response context" of §16.7: it
 * lives until its server transaction and every branch are gone. */
#include "switchboard/proxy.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include <osipparser2/osip_message.h>
#include <osipparser2/osip_port.h>

#include "switchboard/auth.h"
#include "switchboard/call_journal.h"
#include "switchboard/callroute.h"
#include "switchboard/cidr.h"
#include "switchboard/dialplan.h"
#include "switchboard/error.h"
#include "switchboard/flow.h"
#include "switchboard/log.h"
#include "switchboard/nat.h"
#include "switchboard/rate_limit.h"
#include "switchboard/dialog.h"
#include "switchboard/record_route.h"
#include "switchboard/register.h"
#include "switchboard/route_policy.h"
#include "switchboard/secret.h"
#include "switchboard/sip_msg.h"

#define ALLOW_METHODS                                                                              \
    "INVITE, ACK, CANCEL, BYE, OPTIONS, REGISTER, REFER, NOTIFY, SUBSCRIBE, MESSAGE, INFO, "       \
    "UPDATE, PRACK"

struct proxy_context;

struct proxy {
    struct proxy_env env;
    struct txn_layer *txn;
    uint64_t branch_seed;
    uint64_t branch_counter;
    struct proxy_context *contexts; /* every live context, for shutdown */
    struct call_journal *calls;
    struct sb_log_limiter overload_log, refusal_log;
    enum call_end_hint local_hint;    /* what our own answers mean to the journal */
    unsigned cancels_held;            /* CANCELs past proxy_accept, not yet handled */
    struct cidr_list forbidden;       /* [proxy] forbidden_targets */
    struct rate_limit *register_rate; /* REGISTERs per source; NULL: off */
    struct dialog_table *dialogs;     /* NULL: env.instance is 0, no dialog tracked */
};

struct proxy_context;

struct proxy_branch {
    struct proxy_context *ctx;
    struct client_txn *ct; /* NULL once the transaction is gone */
    int final_code;        /* 0 while no final response */
    int unsent_code;       /* what it ends with if it cannot be sent */
    bool provisional;      /* a 101-199 came: CANCEL may be sent (§9.1) */
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
    size_t count, pending, cap;
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

/* The flow token of the Route of ours a request came back with (flow.h). */
struct route_flow {
    bool present;
    struct flow_side a, b; /* the caller's side, the callee's */
    bool from_caller;      /* the request comes from side a (its signature says) */
};

/* --- small helpers ------------------------------------------------------- */

static void send_to(struct proxy *p, const struct sb_dest *dest, const char *data, size_t len)
{
    p->env.net->send(p->env.net_ctx, dest, data, len);
}

/* proxy_net_ops.resolve */
static int resolve(const struct proxy *p, struct sb_dest *dest, const struct sb_local *from)
{
    return p->env.net->resolve(p->env.net_ctx, dest, from);
}

/* proxy_net_ops.conn_alive */
static bool conn_alive(const struct proxy *p, uint64_t conn)
{
    return p->env.net->conn_alive(p->env.net_ctx, conn);
}

/* Where a response to @in goes without a transaction: over its connection,
 * or by its top Via (RFC 3261 §18.2.2). */
static int reply_dest(const struct sb_inbound *in, struct sb_dest *dest)
{
    *dest = (struct sb_dest){
        .transport = in->transport, .fd = in->fd, .conn = in->conn, .local = in->local};
    if (in->transport != SB_UDP) {
        dest->peer = in->src;
        return 0;
    }
    return sipmsg_via_destination(sipmsg_top_via(in->msg), &dest->peer);
}

/* The side of a dialog that sent @in, as a flow token names it: its
 * connection, else its NAT mapping when @nat, else nothing. */
static struct flow_side inbound_flow(const struct sb_inbound *in, bool nat)
{
    struct flow_side side = {0};
    if (in->transport != SB_UDP || nat) {
        side.present = true;
        side.transport = in->transport;
        side.conn = in->transport != SB_UDP ? in->conn : 0;
        side.addr = in->src;
    }
    return side;
}

static unsigned via_port(const osip_via_t *via)
{
    return via->port ? (unsigned)atoi(via->port) : 5060;
}

static bool via_is_ours(const struct proxy *p, const osip_via_t *via)
{
    return via && identity_is_local(p->env.identity, via->host, via_port(via));
}

static void local_host(const struct sb_local *local, char *buf, size_t size, unsigned *port)
{
    *port = sipmsg_addr_host(&local->addr, buf, size);
}

/* RFC 3261 §16.3 step 4: our Via with the same loop hash means the very
 * same request came back. */
static bool loop_detected(const struct proxy *p, const osip_message_t *req, uint32_t loop_hash)
{
    osip_via_t *via;
    for (int i = 0; (via = osip_list_get(&req->vias, i)) != NULL; i++) {
        uint32_t seen;
        if (via_is_ours(p, via) &&
            sipmsg_branch_loop_hash(sipmsg_via_param(via, "branch"), &seen) == 0 &&
            seen == loop_hash)
            return true;
    }
    return false;
}

/* What route_preprocess found among the Routes naming us. */
struct route_info {
    bool signed_route; /* a Record-Route we signed for this dialog */
    bool forged;       /* one naming us without our signature */
    uint32_t instance; /* the process that issued the signed one (record_route.h) */
    struct route_flow flow;
};

static struct dialog_msg dialog_msg_of(const osip_message_t *m)
{
    return (struct dialog_msg){.call_id = m->call_id ? m->call_id->number : NULL,
                               .call_host = m->call_id ? m->call_id->host : NULL,
                               .from_tag = sipmsg_from_tag(m),
                               .to_tag = sipmsg_to_tag(m)};
}

/* Is @uri, a Route naming us, one we signed for @req's dialog and for
 * the remote target @where, within the maximum call length? */
static bool signed_for(const struct proxy *p, const osip_message_t *req, const osip_uri_t *uri,
                       const char *where, bool *from_caller)
{
    char call_id[512];
    if (sipmsg_call_id(req, call_id, sizeof(call_id)) != 0)
        return false;
    struct record_route_binding b = {
        .call_id = call_id, .tag = sipmsg_from_tag(req), .target = where};
    return record_route_signed(p->env.secret, uri, &b, sipmsg_to_tag(req), (uint64_t)time(NULL),
                               p->env.config->max_call_length, from_caller);
}

/* Is @uri, a Route naming us, one we signed for @req's dialog, for the
 * remote target @target (where @req goes: its Request-URI, or the last
 * Route a strict router left), within the maximum call length? After a
 * target refresh the Route still names the target it was signed for:
 * when this process tracks the dialog, that one (dialog.h). */
static bool our_signature(const struct proxy *p, const osip_message_t *req, const osip_uri_t *uri,
                          const osip_uri_t *target, bool *from_caller)
{
    char where[300];
    record_route_target(target, where, sizeof(where));
    if (signed_for(p, req, uri, where, from_caller))
        return true;
    if (!p->dialogs || record_route_instance(uri) != p->env.instance)
        return false;
    struct dialog_msg m = dialog_msg_of(req);
    const char *was = dialog_signed_for(p->dialogs, &m);
    return was && strcmp(was, where) != 0 && signed_for(p, req, uri, was, from_caller);
}

/* Where @req goes once the Routes naming us are gone: the last Route when
 * a strict router put our URI in the Request-URI (§16.4), else its
 * Request-URI. */
static const osip_uri_t *remote_target(const osip_message_t *req, bool strict)
{
    if (!strict)
        return req->req_uri;
    osip_route_t *last = osip_list_get(&req->routes, osip_list_size(&req->routes) - 1);
    return last ? last->url : NULL;
}

/* Notes one Route URI of ours: signed, it may carry a flow token (flow.h);
 * unsigned, it is forged. */
static void note_route(const struct proxy *p, const osip_message_t *req, const osip_uri_t *uri,
                       const osip_uri_t *target, struct route_info *info)
{
    bool from_caller = false;
    if (!our_signature(p, req, uri, target, &from_caller)) {
        info->forged = true;
        return;
    }
    info->signed_route = true;
    info->instance = record_route_instance(uri);
    struct route_flow *flow = &info->flow;
    if (!flow->present && uri->username) {
        flow->present = flow_token_parse(uri->username, &flow->a, &flow->b) == 0;
        flow->from_caller = from_caller;
    }
}

/* §16.4: did a strict router put our Record-Route URI (ours, ;lr, signed
 * or not: note_route judges) into the Request-URI? Then the real target is
 * the last Route. */
static bool strict_routed_to_us(const struct proxy *p, const osip_message_t *req)
{
    osip_uri_param_t *lr = NULL, *sig = NULL;
    const osip_uri_t *uri = req->req_uri;
    return osip_list_size(&req->routes) > 0 && uri &&
           osip_uri_uparam_get_byname((osip_uri_t *)uri, "lr", &lr) == 0 && lr &&
           osip_uri_uparam_get_byname((osip_uri_t *)uri, RECORD_ROUTE_SIG_PARAM, &sig) == 0 &&
           sig && identity_is_local_uri(p->env.identity, uri);
}

/* Applies §16.4 to @req in place: the strict-routing fix-up, then drops
 * the Route entries naming us. *info says whether one was a Record-Route
 * we signed for this dialog (the request belongs to a dialog we serve),
 * whether one was forged, and the flow token of a signed one. */
static void route_preprocess(const struct proxy *p, osip_message_t *req, struct route_info *info)
{
    memset(info, 0, sizeof(*info));
    if (strict_routed_to_us(p, req)) {
        note_route(p, req, req->req_uri, remote_target(req, true), info);
        int last = osip_list_size(&req->routes) - 1;
        osip_route_t *route = osip_list_get(&req->routes, last);
        osip_list_remove(&req->routes, last);
        osip_uri_free(req->req_uri);
        req->req_uri = route->url;
        route->url = NULL;
        osip_route_free(route);
    }
    osip_route_t *top;
    while ((top = osip_list_get(&req->routes, 0)) != NULL &&
           identity_is_local_uri(p->env.identity, top->url)) {
        note_route(p, req, top->url, req->req_uri, info);
        osip_list_remove(&req->routes, 0);
        osip_route_free(top);
    }
}

/* Our signed Record-Route for one side of @req's dialog: our address
 * @local over @transport; with a flow token when the caller or the callee
 * is reached over a flow, so in-dialog requests find it again. */
static int push_record_route(const struct proxy *p, osip_message_t *req, int transport,
                             const struct sb_local *local, const struct flow_side *caller,
                             const struct flow_side *callee, uint32_t instance)
{
    char host[64], text[400], call_id[512], target[300];
    unsigned port;
    local_host(local, host, sizeof(host), &port);
    /* the callee keeps this Route: it leads to the caller's Contact */
    osip_contact_t *contact = osip_list_get(&req->contacts, 0);
    record_route_target(contact ? contact->url : NULL, target, sizeof(target));
    struct record_route_binding b = {.call_id = call_id,
                                     .tag = sipmsg_from_tag(req),
                                     .target = target,
                                     .issued = (uint64_t)time(NULL),
                                     .instance = instance};
    if (sipmsg_call_id(req, call_id, sizeof(call_id)) != 0 ||
        record_route_format(p->env.secret, transport, host, port, &b, caller, callee, text,
                            sizeof(text)) != 0)
        return SB_EMALFORMED;
    osip_record_route_t *rr;
    if (osip_record_route_init(&rr) != 0)
        return SB_ENOMEM;
    if (osip_record_route_parse(rr, text) != 0 || osip_list_add(&req->record_routes, rr, 0) < 0) {
        osip_record_route_free(rr);
        return SB_EMALFORMED;
    }
    return 0;
}

/* Dialog-creating requests are record-routed so that every in-dialog
 * request of the call passes through us (§16.6 step 4). */
static bool wants_record_route(const osip_message_t *req)
{
    if (sipmsg_to_tag(req))
        return false;
    return MSG_IS_INVITE(req) || MSG_IS_SUBSCRIBE(req) || MSG_IS_REFER(req) || MSG_IS_NOTIFY(req);
}

static void pop_record_route(osip_message_t *req)
{
    osip_record_route_t *rr = osip_list_get(&req->record_routes, 0);
    if (rr) {
        osip_list_remove(&req->record_routes, 0);
        osip_record_route_free(rr);
    }
}

/* RFC 5658: a request that leaves by another interface or transport than
 * it came in on gets two Record-Routes, one naming each side, so either
 * phone sends its in-dialog requests to an address it can reach: the
 * caller's side first, the callee's on top (the callee's route set starts
 * with it). @instance: ours when this process tracks the dialog, else 0.
 * Returns how many were pushed (0 on error). */
static int push_record_routes(const struct proxy *p, osip_message_t *req,
                              const struct sb_inbound *in, const struct proxy_target *t,
                              const struct flow_side *caller, uint32_t instance)
{
    const struct sb_local *out = &t->dest.local;
    bool same = in->transport == t->dest.transport && in->local.listen_index == out->listen_index &&
                flow_addr_equal(&in->local.addr, &out->addr);
    if (same)
        return push_record_route(p, req, in->transport, out, caller, &t->flow, instance) == 0 ? 1
                                                                                              : 0;
    if (push_record_route(p, req, in->transport, &in->local, caller, &t->flow, instance) != 0)
        return 0;
    if (push_record_route(p, req, t->dest.transport, out, caller, &t->flow, instance) != 0) {
        pop_record_route(req);
        return 0;
    }
    return 2;
}

#define VIA_MAC_TEXT 12 /* base64url of 8 bytes, with its NUL */

/* The MAC our branch ends with: over the branch before it and the Via
 * below ours (the hop the request came from, as ingress stamped it with
 * received/rport). A response that no transaction claims is forwarded
 * only when it verifies (§16.7's stateless forwarding of strays), so a
 * forged response cannot make us send to a host of its choosing. */
static void via_mac(const struct proxy *p, const char *prefix, const osip_via_t *below,
                    char out[VIA_MAC_TEXT])
{
    const char *received = sipmsg_via_param(below, "received");
    const char *rport = sipmsg_via_param(below, "rport");
    const char *parts[] = {"via",
                           prefix,
                           below->protocol ? below->protocol : "",
                           below->host ? below->host : "",
                           below->port ? below->port : "",
                           received ? received : "",
                           rport ? rport : ""};
    unsigned char mac[SECRET_MAC_BYTES];
    secret_mac(p->env.secret, parts, sizeof(parts) / sizeof(parts[0]), mac);
    secret_b64url(mac, 8, out);
}

static int push_via(const struct proxy *p, osip_message_t *req, const struct sb_dest *dest,
                    uint32_t loop_hash, uint64_t unique)
{
    char host[64], branch[96], mac[VIA_MAC_TEXT];
    unsigned port;
    local_host(&dest->local, host, sizeof(host), &port);
    sipmsg_branch_format(branch, sizeof(branch) - VIA_MAC_TEXT, loop_hash, unique);
    const osip_via_t *below = sipmsg_top_via(req);
    if (!below)
        return SB_EMALFORMED;
    via_mac(p, branch, below, mac);
    size_t len = strlen(branch);
    snprintf(branch + len, sizeof(branch) - len, ".%s", mac);
    return sipmsg_via_push(req, dest->transport, host, port, branch);
}

/* The value of PEER_PARAM for @user in @req's call. False when the
 * request has no usable Call-ID. */
static bool peer_mac(const struct proxy *p, const osip_message_t *req, const char *user,
                     char out[VIA_MAC_TEXT])
{
    const osip_call_id_t *id = req->call_id;
    if (!id || !id->number)
        return false;
    const char *parts[] = {"peer", id->number, id->host ? id->host : "", user ? user : ""};
    unsigned char mac[SECRET_MAC_BYTES];
    secret_mac(p->env.secret, parts, sizeof(parts) / sizeof(parts[0]), mac);
    secret_b64url(mac, 8, out);
    return true;
}

/* Does @uri, @req's Request-URI, carry PEER_PARAM with our MAC? */
static bool peer_param_signed(const struct proxy *p, const osip_message_t *req,
                              const osip_uri_t *uri)
{
    osip_uri_param_t *param = NULL;
    char want[VIA_MAC_TEXT];
    return osip_uri_uparam_get_byname((osip_uri_t *)uri, PEER_PARAM, &param) == 0 && param &&
           param->gvalue && strlen(param->gvalue) == VIA_MAC_TEXT - 1 &&
           peer_mac(p, req, uri->username, want) &&
           secret_equal(want, param->gvalue, VIA_MAC_TEXT - 1);
}

/* Gives the PEER_PARAM of @req's Request-URI (set by peer_target) its
 * MAC. Returns false when it cannot. */
static bool sign_peer_param(const struct proxy *p, osip_message_t *req)
{
    osip_uri_param_t *param = NULL;
    if (osip_uri_uparam_get_byname(req->req_uri, PEER_PARAM, &param) != 0 || !param)
        return true;
    char mac[VIA_MAC_TEXT];
    if (!peer_mac(p, req, req->req_uri->username, mac))
        return false;
    osip_free(param->gvalue);
    param->gvalue = osip_strdup(mac);
    return param->gvalue != NULL;
}

/* Does @resp's top Via (ours) carry the MAC of the Via below it? */
static bool via_verified(const struct proxy *p, const osip_message_t *resp)
{
    const osip_via_t *ours = osip_list_get(&resp->vias, 0), *below = osip_list_get(&resp->vias, 1);
    const char *branch = ours ? sipmsg_via_param(ours, "branch") : NULL;
    const char *dot = branch ? strrchr(branch, '.') : NULL;
    if (!below || !dot || strlen(dot + 1) != VIA_MAC_TEXT - 1 || (size_t)(dot - branch) >= 96)
        return false;
    char prefix[96], want[VIA_MAC_TEXT];
    memcpy(prefix, branch, (size_t)(dot - branch));
    prefix[dot - branch] = '\0';
    via_mac(p, prefix, below, want);
    return secret_equal(want, dot + 1, VIA_MAC_TEXT - 1);
}

/* --- responding ----------------------------------------------------------- */

static void respond_options(struct server_txn *st)
{
    osip_message_t *resp;
    if (!txn_server_request(st) || sipmsg_response_create(txn_server_request(st), 200, NULL,
                                                          txn_server_local_tag(st), &resp) != 0)
        return;
    osip_message_set_header(resp, "Allow", ALLOW_METHODS);
    osip_message_set_header(resp, "Accept", "application/sdp");
    txn_server_respond(st, resp);
}

static void respond_unsupported(struct server_txn *st, const char *extensions)
{
    osip_message_t *resp;
    if (sipmsg_response_create(txn_server_request(st), 420, NULL, txn_server_local_tag(st),
                               &resp) != 0)
        return;
    osip_message_set_header(resp, "Unsupported", extensions);
    txn_server_respond(st, resp);
}

/* Sends @resp (consumed) back the way @in came, with no transaction. */
static void respond_stateless(struct proxy *p, const struct sb_inbound *in, osip_message_t *resp)
{
    struct sb_dest dest;
    char *text = NULL;
    size_t len;
    reasons_apply(p->env.reasons, resp);
    if (reply_dest(in, &dest) == 0 && sipmsg_serialize(resp, &text, &len) == 0)
        send_to(p, &dest, text, len);
    osip_free(text);
    osip_message_free(resp);
}

/* Without a transaction to spare: answer 503 and forget (§21.5.4). */
static void respond_overloaded(struct proxy *p, const struct sb_inbound *in)
{
    osip_message_t *resp;
    sb_count(p->env.counters, SB_CNT_OVERLOAD);
    uint64_t more;
    if (sb_log_limiter_ready(&p->overload_log, timer_wheel_now(p->env.wheel), &more))
        SB_WARN("transaction limit (%u) reached: answering 503 (%llu more since the last report)",
                p->env.config->max_transactions, (unsigned long long)more);
    if (sipmsg_response_create(in->msg, 503, NULL, "sb503", &resp) != 0)
        return;
    osip_message_set_header(resp, "Retry-After", "5");
    respond_stateless(p, in, resp);
}

/* --- authorization (RFC 3261 §22) ------------------------------------------- */

/* Counts a refusal and logs it, at most once a second. */
static void note_refusal(struct proxy *p, enum sb_counter why, const char *what,
                         const osip_message_t *req, const struct sb_addr *src)
{
    sb_count(p->env.counters, why);
    uint64_t more;
    if (!sb_log_limiter_ready(&p->refusal_log, timer_wheel_now(p->env.wheel), &more))
        return;
    char ip[64];
    unsigned port = sipmsg_addr_host(src, ip, sizeof(ip));
    const char *user = req->from->url->username ? req->from->url->username : "-";
    SB_WARN("%s from %s at %s:%u refused: %s (%llu more refusals since the last report)",
            req->sip_method, user, ip, port, what, (unsigned long long)more);
}

/* The answer to a request whose credentials did not pass (@r), counted
 * and logged: a challenge (401, or 407 when @proxy) in the realm @user
 * answers in (auth_challenge), 403 or 400. NULL when out of memory. */
static osip_message_t *auth_answer(struct proxy *p, const struct sb_inbound *in, const char *tag,
                                   enum auth_result r, bool proxy, const char *user)
{
    const osip_message_t *req = in->msg;
    int code = proxy ? 407 : 401;
    const char *reason = NULL;
    bool stale = r == AUTH_STALE;
    switch (r) {
    case AUTH_OK:
        return NULL;
    case AUTH_NO_CREDENTIALS:
    case AUTH_STALE:
        sb_count(p->env.counters, SB_CNT_AUTH_CHALLENGED);
        break;
    case AUTH_BAD_CREDENTIALS:
        note_refusal(p, SB_CNT_AUTH_FAILED, "wrong password or unknown user", req, &in->src);
        break;
    case AUTH_WRONG_USER:
        code = 403;
        reason = "Forbidden (credentials of another user)";
        note_refusal(p, SB_CNT_AUTH_WRONG_USER, "credentials of another user", req, &in->src);
        break;
    case AUTH_REPLAY:
        code = 403;
        reason = "Forbidden (credentials replayed)";
        note_refusal(p, SB_CNT_AUTH_REPLAYED, "credentials replayed", req, &in->src);
        break;
    case AUTH_MALFORMED:
        code = 400;
        reason = "Bad Request (credentials)";
        note_refusal(p, SB_CNT_AUTH_MALFORMED, "malformed credentials", req, &in->src);
        break;
    case AUTH_THROTTLED:
        code = 403;
        reason = "Forbidden (too many failed attempts)";
        note_refusal(p, SB_CNT_AUTH_THROTTLED, "too many failed attempts from there", req,
                     &in->src);
        break;
    }
    osip_message_t *resp;
    if (sipmsg_response_create(req, code, reason, tag, &resp) != 0)
        return NULL;
    if ((code == 401 || code == 407) &&
        auth_challenge(p->env.auth, resp, proxy, stale, user) != 0) {
        osip_message_free(resp);
        return NULL;
    }
    return resp;
}

/* The user a request from (or REGISTER for) @uri must authenticate as,
 * into @buf: the user part, or under use_domain "user@domain" when the
 * domain is one we serve. A foreign domain under use_domain names nobody
 * we know: the user part alone, which no per-domain credentials match
 * (so the stranger is challenged in our realm, as anyone is, and refused).
 * False when @uri has no user. */
static bool auth_user_key(const struct proxy *p, const osip_uri_t *uri, char *buf, size_t size)
{
    bool domain = p->env.config->use_domain && uri->host &&
                  identity_is_local_host(p->env.identity, uri->host);
    return register_aor_key(uri, domain, buf, size) == 0;
}

/* Does @req follow a Record-Route we signed for its dialog (its top Route,
 * or a Request-URI a strict router put there)? Looks, changes nothing. */
static bool follows_our_route(const struct proxy *p, const osip_message_t *req)
{
    if (strict_routed_to_us(p, req))
        return our_signature(p, req, req->req_uri, remote_target(req, true), NULL);
    osip_route_t *top = osip_list_get(&req->routes, 0);
    return top && identity_is_local_uri(p->env.identity, top->url) &&
           our_signature(p, req, top->url, req->req_uri, NULL);
}

/* RFC 3261 §22.3: with require = all, every request proves who sent it
 * (its From user), whatever its From names: a call to one of our users
 * with a made-up caller ID from a domain we do not serve, and one relayed
 * elsewhere with relay = yes, are challenged alike; so existing and
 * missing users get the same 407 until credentials pass (no enumeration).
 * Exempt: a request that follows a Record-Route we signed (its dialog was
 * authorized as it began), one another switchboard sent with its signed
 * PEER_PARAM (it authorized the call), and one asking the proxy itself
 * (OPTIONS with no user). Returns true when @st's request may go on;
 * otherwise it has been answered, and journaled as "refused" when it was
 * a real attempt (credentials given, not accepted). */
static bool authorize(struct proxy *p, struct server_txn *st)
{
    const struct sb_inbound *in = txn_server_inbound(st);
    const osip_message_t *req = in->msg;
    if (auth_mode(p->env.auth) != AUTH_MODE_ALL ||
        (!req->req_uri->username && identity_is_local_uri(p->env.identity, req->req_uri)) ||
        follows_our_route(p, req) || peer_param_signed(p, req, req->req_uri))
        return true;
    char user[256];
    bool named = auth_user_key(p, req->from->url, user, sizeof(user));
    enum auth_result r = auth_check(p->env.auth, req, true, named ? user : NULL, &in->src,
                                    in->transport != SB_UDP, NULL);
    if (r == AUTH_OK)
        return true;
    osip_message_t *resp =
        auth_answer(p, in, txn_server_local_tag(st), r, true, named ? user : NULL);
    bool attempt = r != AUTH_NO_CREDENTIALS && r != AUTH_STALE &&
                   osip_list_size(&req->proxy_authorizations) > 0;
    if (attempt && MSG_IS_INVITE(req))
        call_journal_request(p->calls, req, call_journal_now());
    p->local_hint = attempt ? CALL_END_REFUSED : CALL_END_LOCAL;
    if (resp)
        txn_server_respond_own(st, resp);
    else
        txn_server_respond_code(st, 500, NULL);
    p->local_hint = CALL_END_LOCAL;
    return false;
}

/* With require = register or all, a REGISTER proves its sender is the
 * AoR's user (carol's password cannot bind alice: 403). Returns true when
 * it may go on; otherwise @st has been answered. */
static bool authorize_register(struct proxy *p, struct server_txn *st)
{
    if (auth_mode(p->env.auth) == AUTH_MODE_NONE)
        return true;
    const struct sb_inbound *in = txn_server_inbound(st);
    char user[256];
    bool named = auth_user_key(p, in->msg->to->url, user, sizeof(user));
    enum auth_result r = auth_check(p->env.auth, in->msg, false, named ? user : NULL, &in->src,
                                    in->transport != SB_UDP, NULL);
    if (r == AUTH_OK)
        return true;
    osip_message_t *resp =
        auth_answer(p, in, txn_server_local_tag(st), r, false, named ? user : NULL);
    if (!resp || txn_server_respond_own(st, resp) != 0)
        txn_server_respond_code(st, 500, NULL);
    return false;
}

/* §10.3 lets a registrar refuse a binding by local policy: a Contact on
 * loopback, link-local or our own sockets is one only a sender of that
 * same kind may register (else anyone could aim calls at 127.0.0.1:6379);
 * likewise [proxy] forbidden_targets. Host names are not judged here:
 * they are never resolved on the way out (route_policy.h). Returns true
 * when every Contact may be bound. */
static bool contacts_allowed(struct proxy *p, const struct sb_inbound *in)
{
    osip_contact_t *c;
    for (int i = 0; (c = osip_list_get(&in->msg->contacts, i)) != NULL; i++) {
        struct sb_addr addr;
        if (!c->url || !c->url->host || nat_addr_kind(c->url->host) == NAT_ADDR_NAME ||
            sipmsg_uri_to_addr(c->url, &addr) != 0)
            continue;
        enum target_verdict v =
            route_policy_target(p->env.identity, &p->forbidden, &addr, &in->src);
        if (v != TARGET_OK) {
            char what[96];
            snprintf(what, sizeof(what), "a Contact on %s", route_policy_target_name(v));
            note_refusal(p, SB_CNT_FORBIDDEN_TARGET, what, in->msg, &in->src);
            return false;
        }
    }
    return true;
}

/* [registrar] register_rate: REGISTERs one source address may send per
 * second (in bursts of twice that), so one stranger cannot keep the
 * registrar and the store writing; the proxy's own host (SIPp load tests)
 * is not limited. Per worker: with N workers a source may get up to N
 * times the rate. Counted when refused. */
static bool register_rate_ok(struct proxy *p, const struct sb_inbound *in)
{
    char ip[64];
    if (!p->register_rate)
        return true;
    sipmsg_addr_host(&in->src, ip, sizeof(ip));
    if (nat_addr_kind(ip) == NAT_ADDR_LOOPBACK ||
        rate_limit_allow(p->register_rate, &in->src, timer_wheel_now(p->env.wheel)))
        return true;
    sb_count(p->env.counters, SB_CNT_REGISTER_RATE);
    return false;
}

/* Under use_domain each domain has its own users, so a REGISTER binds
 * only addresses of record in a domain we serve (§10.3 step 1's "domain
 * this registrar is responsible for", read for the To): else a stranger
 * could fill the location service with users of any domain. Counted and
 * logged when refused. */
static bool domain_served(struct proxy *p, const struct sb_inbound *in)
{
    const osip_uri_t *to = in->msg->to->url;
    if (!p->env.config->use_domain ||
        (to->host && identity_is_local_host(p->env.identity, to->host)))
        return true;
    note_refusal(p, SB_CNT_REGISTER_DOMAIN, "a REGISTER for a domain not served here", in->msg,
                 &in->src);
    return false;
}

/* REGISTER for one of our domains, in its server transaction @st: a
 * retransmission is answered from the transaction (§17.2.2), never
 * authorized or applied again, so a copied request (Via branch and all)
 * gets no second pass through digest's replay check. The To tag is the
 * transaction's. */
static void handle_register(struct proxy *p, struct server_txn *st)
{
    const struct sb_inbound *in = txn_server_inbound(st);
    const char *tag = txn_server_local_tag(st);
    if (!domain_served(p, in)) {
        txn_server_respond_code(st, 403, "Forbidden (domain not served here)");
    } else if (!contacts_allowed(p, in)) {
        txn_server_respond_code(st, 403, "Forbidden Contact");
    } else if (authorize_register(p, st)) {
        osip_message_t *resp = register_process(p->env.config, p->env.registrar, in, tag,
                                                timer_wheel_now(p->env.wheel), p->env.counters);
        if (!resp || txn_server_respond_own(st, resp) != 0)
            txn_server_respond_code(st, 500, NULL);
    }
}

/* A REGISTER past register_rate: 503 with Retry-After, statelessly (a
 * flood costs no transaction), with a To tag derived from the request so
 * a retransmission gets the same answer (§8.2.6.2). */
static void refuse_register_rate(struct proxy *p, const struct sb_inbound *in)
{
    char id[512], tag[24];
    if (sipmsg_call_id(in->msg, id, sizeof(id)) != 0)
        id[0] = '\0';
    uint64_t h = sb_hash(id, strlen(id)) ^ sipmsg_cseq_number(in->msg);
    snprintf(tag, sizeof(tag), "sb%016llx", (unsigned long long)h);
    osip_message_t *refusal;
    if (sipmsg_response_create(in->msg, 503, "Too many REGISTERs from this address", tag,
                               &refusal) != 0)
        return;
    osip_message_set_header(refusal, "Retry-After", "2");
    respond_stateless(p, in, refusal);
}

/* --- response context ----------------------------------------------------- */

static void office_free(struct office_call *oc)
{
    if (!oc)
        return;
    timer_cancel(&oc->ring);
    osip_message_free(oc->fwd);
    dialplan_unref(oc->dp);
    free(oc);
}

static void context_free(struct proxy_context *ctx)
{
    if (ctx->pprev) {
        *ctx->pprev = ctx->next;
        if (ctx->next)
            ctx->next->pprev = ctx->pprev;
    }
    timer_cancel(&ctx->timer_c);
    osip_message_free(ctx->best);
    office_free(ctx->office);
    for (size_t i = 0; i < ctx->count; i++)
        free(ctx->branches[i]);
    free(ctx->branches);
    free(ctx);
}

static void context_release_if_done(struct proxy_context *ctx)
{
    if (ctx->st)
        return;
    for (size_t i = 0; i < ctx->count; i++)
        if (ctx->branches[i]->ct)
            return;
    context_free(ctx);
}

static void cancel_pending(struct proxy_context *ctx)
{
    for (size_t i = 0; i < ctx->count; i++) {
        struct proxy_branch *b = ctx->branches[i];
        if (b->final_code == 0 && b->ct)
            txn_client_cancel(b->ct);
    }
}

/* §16.7 step 6: 6xx first, else the lowest class; the first of a class. */
static int response_rank(int code)
{
    return code >= 600 ? 0 : code / 100;
}

static void keep_best(struct proxy_context *ctx, int code, osip_message_t **resp)
{
    if (ctx->best_code && response_rank(code) >= response_rank(ctx->best_code))
        return;
    osip_message_free(ctx->best);
    ctx->best = NULL;
    ctx->best_code = code;
    if (resp) {
        ctx->best = *resp;
        *resp = NULL;
    }
}

/* Sends a downstream response upstream without our Via. */
/* §16.7: a proxy may rewrite its own Record-Route in a response. The
 * caller keeps the route set of a 18x/2xx to its dialog-creating request,
 * so each Route of ours in it, signed for the caller's Contact when the
 * request passed, is signed again for the callee's (the response's
 * Contact): then a Route copied from the call reaches only its two
 * phones. record_route_resign() re-signs only values it marked as ours
 * for this dialog, never one the callee made up. */
static void resign_record_routes(const struct proxy *p, osip_message_t *resp)
{
    osip_contact_t *callee = osip_list_get(&resp->contacts, 0);
    if (!callee || resp->status_code < 101 || resp->status_code >= 300 || !resp->cseq ||
        !resp->cseq->method || osip_list_size(&resp->record_routes) == 0)
        return;
    char call_id[512], callee_at[300];
    if (sipmsg_call_id(resp, call_id, sizeof(call_id)) != 0)
        return;
    record_route_target(callee->url, callee_at, sizeof(callee_at));
    struct record_route_binding b = {
        .call_id = call_id, .tag = sipmsg_from_tag(resp), .target = callee_at};
    osip_record_route_t *rr;
    for (int i = 0; (rr = osip_list_get(&resp->record_routes, i)) != NULL; i++)
        if (rr->url && identity_is_local_uri(p->env.identity, rr->url))
            record_route_resign(p->env.secret, rr->url, &b);
}

static void forward_upstream(struct proxy_context *ctx, osip_message_t **resp)
{
    if (!ctx->st)
        return;
    osip_message_t *r = *resp;
    *resp = NULL;
    sipmsg_via_pop(r);
    /* from the response alone: once a 2xx went up the transaction no
     * longer holds its request (2xx retransmissions, other branches) */
    resign_record_routes(ctx->proxy, r);
    txn_server_respond(ctx->st, r);
}

/* All branches ended without a 2xx: send the best final response. */
static void send_best(struct proxy_context *ctx)
{
    struct server_txn *st = ctx->st;
    if (!st || ctx->answered || txn_server_final_sent(st))
        return;
    int code = ctx->best_code;
    if (ctx->timed_out && (code == 0 || code == 408 || code == 487)) {
        txn_server_respond_code(st, 408, NULL); /* Timer C: nobody answered */
    } else if (ctx->cancelled && code < 600) {
        /* the caller gave up: whatever the branches said short of a 6xx
         * (a dead flow's 480, a 408), the INVITE was cancelled (§9.2) */
        txn_server_respond_code(st, 487, NULL);
    } else if (code == 0) {
        txn_server_respond_code(st, 408, NULL);
    } else if (code == 503) {
        txn_server_respond_code(st, 500, NULL); /* §16.7 step 6 */
    } else if (ctx->best) {
        forward_upstream(ctx, &ctx->best);
    } else {
        txn_server_respond_code(st, code, code == 430 ? "Flow Failed" : NULL);
    }
}

static void office_stage_ended(struct proxy_context *ctx);

static void branch_final(struct proxy_branch *b, int code, osip_message_t **resp)
{
    struct proxy_context *ctx = b->ctx;
    if (b->final_code)
        return;
    b->final_code = code;
    ctx->pending--;
    keep_best(ctx, code, resp);
    if (ctx->office && code != 486 && code != 600)
        ctx->office->stage_busy = false;
    if (code >= 600)
        cancel_pending(ctx); /* §16.7 step 5 */
    if (ctx->pending == 0) {
        timer_cancel(&ctx->timer_c);
        if (ctx->office)
            office_stage_ended(ctx); /* the next stage, or send_best */
        else
            send_best(ctx);
    }
}

static void on_response(void *user, struct client_txn *ct, void *tu, osip_message_t **resp)
{
    struct proxy_branch *b = tu;
    struct proxy_context *ctx = b->ctx;
    struct proxy *p = user;
    int code = (*resp)->status_code;
    (void)ct;
    if (code == 100)
        return; /* hop by hop: we sent our own */
    if (code < 200) {
        b->provisional = true;
        if (b->final_code || ctx->answered || !ctx->st || txn_server_final_sent(ctx->st))
            return;
        if (ctx->invite) /* §16.8: a provisional response restarts Timer C */
            timer_schedule(p->env.wheel, &ctx->timer_c,
                           timer_wheel_now(p->env.wheel) + p->env.config->timer_c_ms);
        forward_upstream(ctx, resp);
        return;
    }
    if (code < 300) {
        if (!b->final_code) {
            b->final_code = code;
            ctx->pending--;
        }
        ctx->answered = true;
        timer_cancel(&ctx->timer_c);
        if (ctx->office)
            timer_cancel(&ctx->office->ring);
        cancel_pending(ctx);         /* §16.7 step 10: the other branches lose */
        forward_upstream(ctx, resp); /* every 2xx, retransmissions too */
        return;
    }
    branch_final(b, code, resp);
}

static void on_timeout(void *user, struct client_txn *ct, void *tu)
{
    struct proxy_branch *b = tu;
    (void)user;
    (void)ct;
    branch_final(b, 408, NULL);
}

/* The branch's request could not be sent (its connection is gone). */
static void on_transport_error(void *user, struct client_txn *ct, void *tu)
{
    struct proxy_branch *b = tu;
    (void)user;
    (void)ct;
    branch_final(b, b->unsent_code ? b->unsent_code : 503, NULL);
}

static void on_client_gone(void *user, struct client_txn *ct, void *tu)
{
    struct proxy_branch *b = tu;
    (void)user;
    (void)ct;
    b->ct = NULL;
    if (!b->final_code)
        branch_final(b, 408, NULL);
    context_release_if_done(b->ctx);
}

/* Everything that goes upstream gets our reason phrases, and what answers
 * an INVITE (initial or re-INVITE) is noted in the call journal. */
/* A response to INVITE or UPDATE on its way up (from @st, or NULL when
 * forwarded without one) moves its dialog along (dialog.h): callees
 * answering the INVITE that opened it, the end of a call that never
 * began, target refreshes. */
static void dialog_note_response(struct proxy *p, struct server_txn *st, const osip_message_t *resp)
{
    const char *method = resp->cseq ? resp->cseq->method : NULL;
    if (!p->dialogs || !method || resp->status_code <= 100 ||
        (strcmp(method, "INVITE") != 0 && strcmp(method, "UPDATE") != 0))
        return; /* a 100 moves no dialog: every INVITE's own, sent at once */
    const osip_message_t *req = st ? txn_server_request(st) : NULL;
    osip_contact_t *c = osip_list_get(&resp->contacts, 0);
    osip_contact_t *rc = req ? osip_list_get(&req->contacts, 0) : NULL;
    char contact[300] = "", request_contact[300] = "";
    if (c && c->url)
        record_route_target(c->url, contact, sizeof(contact));
    if (rc && rc->url)
        record_route_target(rc->url, request_contact, sizeof(request_contact));
    struct dialog_msg m = dialog_msg_of(resp);
    bool invite = !strcmp(method, "INVITE");
    dialog_on_response(p->dialogs, &m, resp->status_code, sipmsg_cseq_number(resp), invite, contact,
                       request_contact);
}

static void on_server_respond(void *user, struct server_txn *st, void *tu, osip_message_t *resp,
                              bool local)
{
    struct proxy *p = user;
    struct proxy_context *ctx = tu;
    reasons_apply(p->env.reasons, resp);
    dialog_note_response(p, st, resp);
    const osip_message_t *req = txn_server_request(st);
    if (!txn_server_is_invite(st) || !req)
        return;
    enum call_end_hint hint = CALL_END_RELAYED;
    if (ctx && ctx->office && ctx->office->missed)
        hint = CALL_END_MISSED;
    else if (ctx && ctx->timed_out)
        hint = CALL_END_TIMER_C;
    else if (local)
        hint = p->local_hint;
    call_journal_response(p->calls, req, resp, hint, call_journal_now());
}

static void on_server_gone(void *user, struct server_txn *st, void *tu)
{
    struct proxy_context *ctx = tu;
    (void)user;
    (void)st;
    if (!ctx)
        return; /* a REGISTER's: the registrar keeps no context */
    ctx->st = NULL;
    timer_cancel(&ctx->timer_c);
    cancel_pending(ctx); /* nobody is left to answer */
    context_release_if_done(ctx);
}

/* §16.8 Timer C: CANCEL branches that ring, give up on silent ones. */
static void on_timer_c(struct timer *timer, void *arg)
{
    struct proxy_context *ctx = arg;
    (void)timer;
    ctx->timed_out = true;
    for (size_t i = 0; i < ctx->count; i++) {
        struct proxy_branch *b = ctx->branches[i];
        if (b->final_code || !b->ct)
            continue;
        txn_client_cancel(b->ct);
        if (!b->provisional)
            branch_final(b, 408, NULL);
    }
}

/* --- forwarding ----------------------------------------------------------- */

/* URI parameters that say how to reach a binding (RFC 3261 §19.1.1), so a
 * retargeted request keeps the binding's, never the caller's. */
static bool is_transport_param(const char *name)
{
    static const char *const names[] = {"transport", "maddr", "ttl", "lr", "user", "method"};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (osip_strcasecmp(name, names[i]) == 0)
            return true;
    return false;
}

/* Parameters the caller put on the Request-URI that the binding lacks (such
 * as Linphone's conf-id, naming a conference at its host) travel on with the
 * retargeted request. */
static int carry_uri_params(osip_uri_t *target, const osip_uri_t *original)
{
    osip_list_iterator_t it;
    for (osip_uri_param_t *param = osip_list_get_first(&original->url_params, &it); param;
         param = osip_list_get_next(&it)) {
        osip_uri_param_t *have = NULL;
        if (!param->gname || is_transport_param(param->gname) ||
            osip_strcasecmp(param->gname, PEER_PARAM) == 0 ||
            osip_uri_uparam_get_byname(target, param->gname, &have) == 0)
            continue;
        char *name = osip_strdup(param->gname);
        char *value = param->gvalue ? osip_strdup(param->gvalue) : NULL;
        if (!name || osip_uri_uparam_add(target, name, value) != 0) {
            osip_free(name);
            osip_free(value);
            return SB_ENOMEM;
        }
    }
    return 0;
}

/* Does the caller of a dialog-creating request show NAT (nat.h)? Then our
 * Record-Route names its mapping, the address the request came from. */
static bool caller_behind_nat(const struct proxy *p, const struct sb_inbound *in)
{
    const osip_message_t *req = in->msg;
    const osip_via_t *via = sipmsg_top_via(req);
    const osip_contact_t *contact = osip_list_get(&req->contacts, 0);
    if (!via || !contact || !contact->url)
        return false;
    struct nat_facts facts = {
        .via_host = via->host,
        .via_port = via->port,
        .via_transport = via->protocol,
        .contact_host = contact->url->host,
        .source = &in->src,
    };
    return nat_detect((enum nat_mode)p->env.config->nat_mode, &facts);
}

/* Sends @fwd (already route-processed) to every target as a branch of a
 * new response context for @st. */
static struct proxy_context *context_new(struct proxy *p, const osip_message_t *req)
{
    struct proxy_context *ctx = calloc(1, sizeof(*ctx));
    if (!ctx)
        return NULL;
    ctx->proxy = p;
    ctx->invite = MSG_IS_INVITE(req);
    timer_init(&ctx->timer_c, on_timer_c, ctx);
    return ctx;
}

/* An INVITE we record-route opens a dialog this process follows until
 * its BYE (dialog.h); its Record-Route then carries our instance. False
 * when it is not tracked (not an INVITE, table full): its Route is then
 * vouched for by its signature alone. */
static bool track_dialog(struct proxy *p, const osip_message_t *req)
{
    if (!p->dialogs || !MSG_IS_INVITE(req))
        return false;
    osip_contact_t *contact = osip_list_get(&req->contacts, 0);
    char target[300];
    record_route_target(contact ? contact->url : NULL, target, sizeof(target));
    struct dialog_msg m = dialog_msg_of(req);
    return dialog_open(p->dialogs, &m, sipmsg_cseq_number(req), target) == 0;
}

/* Sends @fwd to each of @targets as a new branch of @ctx (§16.6).
 * Returns how many went out. */
static size_t add_branches(struct proxy_context *ctx, struct server_txn *st, osip_message_t *fwd,
                           const struct proxy_target *targets, size_t count, uint32_t loop_hash)
{
    struct proxy *p = ctx->proxy;
    const osip_message_t *req = txn_server_request(st);
    if (ctx->count + count > ctx->cap) {
        size_t cap = ctx->count + count + 4;
        struct proxy_branch **grown = realloc(ctx->branches, cap * sizeof(*grown));
        if (!grown)
            return 0;
        ctx->branches = grown;
        ctx->cap = cap;
    }
    bool record_route = wants_record_route(req);
    const struct sb_inbound *in = txn_server_inbound(st);
    struct flow_side caller = inbound_flow(in, record_route && caller_behind_nat(p, in));
    uint32_t instance = record_route && track_dialog(p, req) ? p->env.instance : 0;
    size_t added = 0;
    for (size_t i = 0; i < count; i++) {
        const struct proxy_target *t = &targets[i];
        if (t->ruri) {
            osip_uri_t *uri;
            if (osip_uri_init(&uri) != 0)
                continue;
            if (osip_uri_parse(uri, t->ruri) != 0 || carry_uri_params(uri, req->req_uri) != 0) {
                osip_uri_free(uri);
                continue;
            }
            osip_uri_free(fwd->req_uri);
            fwd->req_uri = uri;
            if (!sign_peer_param(p, fwd))
                continue;
        }
        int pushed = record_route ? push_record_routes(p, fwd, in, t, &caller, instance) : 0;
        if (record_route && pushed == 0)
            continue;
        struct proxy_branch *b = calloc(1, sizeof(*b));
        if (b && push_via(p, fwd, &t->dest, loop_hash, p->branch_seed + ++p->branch_counter) == 0) {
            b->ctx = ctx;
            b->unsent_code = t->unsent_code;
            if (txn_client_send(p->txn, fwd, &t->dest, b, &b->ct) == 0) {
                ctx->branches[ctx->count++] = b;
                ctx->pending++;
                added++;
                b = NULL;
            }
            sipmsg_via_pop(fwd);
        }
        free(b);
        while (pushed-- > 0)
            pop_record_route(fwd);
    }
    return added;
}

/* Makes @ctx the response context of @st and starts Timer C (§16.8). */
static void context_publish(struct proxy_context *ctx, struct server_txn *st)
{
    struct proxy *p = ctx->proxy;
    ctx->st = st;
    txn_server_set_tu(st, ctx);
    ctx->next = p->contexts;
    if (ctx->next)
        ctx->next->pprev = &ctx->next;
    p->contexts = ctx;
    ctx->pprev = &p->contexts;
    if (ctx->invite)
        timer_schedule(p->env.wheel, &ctx->timer_c,
                       timer_wheel_now(p->env.wheel) + p->env.config->timer_c_ms);
}

static void fork_request(struct proxy *p, struct server_txn *st, osip_message_t *fwd,
                         const struct proxy_target *targets, size_t count, uint32_t loop_hash)
{
    struct proxy_context *ctx = context_new(p, txn_server_request(st));
    if (!ctx || sipmsg_max_forwards_take(fwd) < 0 ||
        add_branches(ctx, st, fwd, targets, count, loop_hash) == 0) {
        if (ctx)
            context_free(ctx);
        txn_server_respond_code(st, 500, NULL);
        return;
    }
    context_publish(ctx, st);
}

/* A callee we open a connection to is a flow side too (its connection's
 * id is not known yet: 0), so in-dialog requests reuse that connection
 * whatever its Contact says. */
static void stream_side(struct proxy_target *t)
{
    if (t->dest.transport != SB_UDP)
        t->flow = (struct flow_side){
            .present = true, .transport = t->dest.transport, .addr = t->dest.peer};
}

/* A binding made at another switchboard over TCP or TLS: its connection
 * is there (the flow), so the request goes to that switchboard, which
 * reaches the phone over it. @aor's user goes into the Request-URI.
 * Returns 0, or a negative code when the node's name is not an address. */
static int peer_target(struct proxy *p, const struct registrar_binding *b, const char *aor,
                       struct proxy_target *t)
{
    size_t user = strcspn(aor, "@");
    t->dest = (struct sb_dest){.transport = SB_UDP, .local = b->local, .fd = -1};
    if (sipmsg_addr_parse(b->node, &t->dest.peer) != 0)
        return SB_EINVAL;
    int n = snprintf(t->peer_uri, sizeof(t->peer_uri), "sip:%.*s@%s;" PEER_PARAM, (int)user, aor,
                     b->node);
    if (n < 0 || (size_t)n >= sizeof(t->peer_uri))
        return SB_ERANGE;
    t->ruri = t->peer_uri;
    t->unsent_code = 480;
    return resolve(p, &t->dest, NULL);
}

/* Where binding @b (of @aor) is reached: through the switchboard that
 * holds its connection when another one does (shared store); over its
 * connection while that lives (RFC 5626: the flow); a phone behind NAT
 * whose connection went is not reached at all (*gone set: never a new
 * connection to a NATed contact); a NAT mapping for one behind NAT over
 * UDP; else its Contact, over the transport the Contact asks for. Fills
 * *@t from scratch; returns 0 or a negative code. */
static int binding_target(struct proxy *p, const struct registrar_binding *b, const char *aor,
                          struct proxy_target *t, bool *gone)
{
    memset(t, 0, sizeof(*t));
    if (b->node && b->transport != SB_UDP && peer_target(p, b, aor, t) == 0)
        return 0;
    t->ruri = b->uri;
    t->dest = (struct sb_dest){.transport = b->transport, .local = b->local, .fd = -1};
    if (b->transport != SB_UDP && b->conn && conn_alive(p, b->conn)) {
        t->dest.conn = b->conn;
        t->dest.flow = true;
        t->dest.peer = b->source;
        t->unsent_code = 480;
        t->flow = (struct flow_side){
            .present = true, .transport = b->transport, .conn = b->conn, .addr = b->source};
        return 0;
    }
    if (b->transport != SB_UDP && b->use_source) {
        *gone = true;
        return SB_ENOTFOUND;
    }
    t->unsent_code = 480;
    if (b->use_source) {
        t->dest.transport = SB_UDP;
        t->dest.peer = b->source;
        t->flow = (struct flow_side){.present = true, .transport = SB_UDP, .addr = b->source};
        return resolve(p, &t->dest, NULL);
    }
    osip_uri_t *uri;
    if (osip_uri_init(&uri) != 0)
        return SB_ENOMEM;
    int rc =
        osip_uri_parse(uri, b->uri) == 0 ? sipmsg_uri_to_addr(uri, &t->dest.peer) : SB_EMALFORMED;
    int transport = sipmsg_uri_transport(uri);
    osip_uri_free(uri);
    if (rc != 0 || transport < 0)
        return rc != 0 ? rc : SB_EINVAL;
    t->dest.transport = (uint8_t)transport;
    stream_side(t);
    return resolve(p, &t->dest, NULL);
}

/* Is @t a second branch to a switchboard one of @targets[0..n) goes to? */
static bool peer_repeated(const struct proxy_target *targets, size_t n,
                          const struct proxy_target *t)
{
    for (size_t i = 0; t->ruri == t->peer_uri && i < n; i++)
        if (targets[i].ruri == targets[i].peer_uri && !strcmp(targets[i].peer_uri, t->peer_uri))
            return true;
    return false;
}

/* Targets for a request to one of our users: every live binding we can
 * reach. Returns the count (0: none); *flows_gone says some were phones
 * whose connection went. *set must be freed by the caller.
 * @peer_only: the request came from a switchboard sharing our location
 * service for the phones connected here (PEER_PARAM): only the bindings
 * made here. */
static size_t registered_targets(struct proxy *p, const osip_uri_t *ruri, bool peer_only,
                                 struct registrar_set **set, struct proxy_target **targets,
                                 bool *flows_gone)
{
    char aor[256];
    *set = NULL;
    *targets = NULL;
    *flows_gone = false;
    if (register_aor_key(ruri, p->env.config->use_domain, aor, sizeof(aor)) != 0)
        return 0;
    if (registrar_lookup(p->env.registrar, aor, timer_wheel_now(p->env.wheel), set) != 0)
        return 0;
    *targets = calloc((*set)->count, sizeof(**targets));
    if (!*targets)
        return 0;
    size_t n = 0;
    for (size_t i = 0; i < (*set)->count; i++) {
        const struct registrar_binding *b = &(*set)->bindings[i];
        if ((peer_only && b->node) || binding_target(p, b, aor, &(*targets)[n], flows_gone) != 0)
            continue;
        if (!peer_repeated(*targets, n, &(*targets)[n]))
            n++;
    }
    return n;
}

/* --- the office's dial plan ----------------------------------------------- */

/* A user name as the registrar keys it (with the domain under use_domain). */
static void office_aor(const struct office_call *oc, const char *user, char *buf, size_t size)
{
    if (oc->proxy->env.config->use_domain)
        snprintf(buf, size, "%s@%s", user, oc->domain);
    else
        snprintf(buf, size, "%s", user);
}

static bool office_registered(void *arg, const char *user)
{
    struct office_call *oc = arg;
    struct proxy *p = oc->proxy;
    char aor[320];
    office_aor(oc, user, aor, sizeof(aor));
    return registrar_has_live(p->env.registrar, aor, timer_wheel_now(p->env.wheel));
}

static bool office_dnd(void *arg, const char *user)
{
    struct office_call *oc = arg;
    return dialplan_holder_dnd(oc->proxy->env.plans, user);
}

static struct callroute_env office_env(struct office_call *oc)
{
    return (struct callroute_env){.registered = office_registered, .dnd = office_dnd, .ctx = oc};
}

/* RFC 5806 reasons and RFC 4458 causes, by why a call left a user. */
static const char *diversion_reason(enum callroute_why why)
{
    static const char *const names[] = {"unconditional", "user-busy", "no-answer", "unavailable",
                                        "do-not-disturb"};
    return names[why];
}

static int history_cause(enum callroute_why why)
{
    static const int causes[] = {302, 486, 408, 404, 486};
    return causes[why];
}

/* Diversion (RFC 5806, newest first) and History-Info (RFC 7044) naming
 * every forward the call took, so the phone that rings can show "from
 * bob, busy". */
static void office_add_history(const struct office_call *oc, osip_message_t *msg)
{
    const struct callroute *r = &oc->route;
    char value[512], index[2 * DIALPLAN_MAX_HOPS + 2] = "1";
    for (size_t i = r->nhops; i-- > 0;) {
        snprintf(value, sizeof(value), "<sip:%s@%s>;reason=%s;counter=%zu",
                 r->hops[i].from ? r->hops[i].from : r->dialled, oc->domain,
                 diversion_reason(r->hops[i].why), i + 1);
        osip_message_set_header(msg, "Diversion", value);
    }
    snprintf(value, sizeof(value), "<sip:%s@%s>;index=1", r->dialled, oc->domain);
    osip_message_set_header(msg, "History-Info", value);
    for (size_t i = 0; i < r->nhops; i++) {
        char prev[sizeof(index)];
        snprintf(prev, sizeof(prev), "%s", index);
        strncat(index, ".1", sizeof(index) - strlen(index) - 1);
        const char *to = r->hops[i].to;
        if (!strncasecmp(to, "sip:", 4) || !strncasecmp(to, "sips:", 5))
            snprintf(value, sizeof(value), "<%s;cause=%d>;index=%s;mp=%s", to,
                     history_cause(r->hops[i].why), index, prev);
        else
            snprintf(value, sizeof(value), "<sip:%s@%s;cause=%d>;index=%s;mp=%s", to, oc->domain,
                     history_cause(r->hops[i].why), index, prev);
        osip_message_set_header(msg, "History-Info", value);
    }
}

/* Where a stage's URI target goes: like a Request-URI of ours to a host
 * elsewhere. Returns 0 or a negative code. */
static int office_uri_target(struct proxy *p, const char *text, const struct sb_inbound *in,
                             struct proxy_target *t)
{
    memset(t, 0, sizeof(*t));
    t->unsent_code = 503;
    t->ruri = text;
    osip_uri_t *uri;
    if (osip_uri_init(&uri) != 0)
        return SB_ENOMEM;
    int rc =
        osip_uri_parse(uri, text) == 0 ? sipmsg_uri_to_addr(uri, &t->dest.peer) : SB_EMALFORMED;
    int transport = sipmsg_uri_transport(uri);
    osip_uri_free(uri);
    if (rc != 0 || transport < 0)
        return rc != 0 ? rc : SB_EINVAL;
    t->dest.transport = (uint8_t)transport;
    stream_side(t);
    return resolve(p, &t->dest, &in->local);
}

/* Every reachable device of the stage's users (or its URI) as targets;
 * @sets keeps the bindings the targets point into. Returns the count. */
static size_t office_targets(struct office_call *oc, const struct callroute_stage *stage,
                             const struct sb_inbound *in, struct proxy_target **targets,
                             struct registrar_set **sets)
{
    struct proxy *p = oc->proxy;
    *targets = NULL;
    if (stage->kind == CALLROUTE_URI) {
        *targets = calloc(1, sizeof(**targets));
        return *targets && office_uri_target(p, stage->uri, in, *targets) == 0 ? 1 : 0;
    }
    size_t total = 0, n = 0;
    for (size_t i = 0; i < stage->count; i++) {
        char aor[320];
        office_aor(oc, stage->users[i], aor, sizeof(aor));
        if (registrar_lookup(p->env.registrar, aor, timer_wheel_now(p->env.wheel), &sets[i]) != 0)
            sets[i] = NULL;
        total += sets[i] ? sets[i]->count : 0;
    }
    *targets = calloc(total ? total : 1, sizeof(**targets));
    bool gone = false;
    for (size_t i = 0; *targets && i < stage->count; i++)
        for (size_t b = 0; sets[i] && b < sets[i]->count; b++) {
            struct proxy_target *t = &(*targets)[n];
            if (binding_target(p, &sets[i]->bindings[b], stage->users[i], t, &gone) == 0 &&
                !peer_repeated(*targets, n, t))
                n++;
        }
    return n;
}

static void on_ring_timeout(struct timer *timer, void *arg);

/* The message a stage sends: @base itself for the first stage (copied
 * first as the template when a later stage may follow), else a copy of
 * the template. NULL on failure. */
static osip_message_t *office_stage_message(struct office_call *oc, osip_message_t *base)
{
    osip_message_t *fwd = NULL;
    if (!base)
        return oc->fwd && osip_message_clone(oc->fwd, &fwd) == 0 ? fwd : NULL;
    if (!oc->fwd && callroute_may_continue(&oc->route) && osip_message_clone(base, &oc->fwd) != 0)
        return NULL;
    return base;
}

/* Sends the stage's branches (@base: see office_stage_message). Returns
 * whether any went out. */
static bool office_run_stage(struct proxy_context *ctx, struct server_txn *st,
                             const struct callroute_stage *stage, osip_message_t *base)
{
    struct office_call *oc = ctx->office;
    struct proxy *p = ctx->proxy;
    osip_message_t *fwd = office_stage_message(oc, base);
    if (!fwd)
        return false;
    if (oc->route.nhops)
        office_add_history(oc, fwd);
    struct registrar_set *sets[DIALPLAN_MAX_MEMBERS] = {0};
    struct proxy_target *targets;
    size_t n = office_targets(oc, stage, txn_server_inbound(st), &targets, sets);
    size_t added = n ? add_branches(ctx, st, fwd, targets, n, oc->loop_hash) : 0;
    free(targets);
    for (size_t i = 0; i < DIALPLAN_MAX_MEMBERS; i++)
        registrar_set_free(sets[i]);
    if (fwd != base)
        osip_message_free(fwd);
    if (added == 0)
        return false;
    /* the caller hears how this stage ends, not an earlier one */
    osip_message_free(ctx->best);
    ctx->best = NULL;
    ctx->best_code = 0;
    oc->stage_busy = true;
    oc->ring_expired = false;
    uint64_t now = timer_wheel_now(p->env.wheel);
    if (ctx->invite && stage->ring_s)
        timer_schedule(p->env.wheel, &oc->ring, now + stage->ring_s * 1000u);
    else
        timer_cancel(&oc->ring);
    if (ctx->invite)
        timer_schedule(p->env.wheel, &ctx->timer_c, now + p->env.config->timer_c_ms);
    if (ctx->invite)
        call_journal_route(p->calls, txn_server_request(st), &oc->route);
    return true;
}

/* Runs stages from @stage on until one rings or the call is answered
 * here (@base: the caller's request for the first stage, else NULL).
 * Returns whether a stage rings. */
static bool office_advance(struct proxy_context *ctx, struct server_txn *st,
                           struct callroute_stage *stage, osip_message_t *base)
{
    struct office_call *oc = ctx->office;
    struct callroute_env env = office_env(oc);
    for (;;) {
        if (stage->kind == CALLROUTE_REFUSE) {
            if (ctx->invite)
                call_journal_route(oc->proxy->calls, txn_server_request(st), &oc->route);
            oc->proxy->local_hint = stage->dnd ? CALL_END_DND : CALL_END_LOCAL;
            txn_server_respond_code(st, stage->code, stage->code == 482 ? "Loop Detected" : NULL);
            oc->proxy->local_hint = CALL_END_LOCAL;
            return false;
        }
        if (stage->kind == CALLROUTE_END)
            return false;
        if (office_run_stage(ctx, st, stage, base))
            return true;
        base = NULL; /* changed by its stage: later ones start from the template */
        /* nobody of the stage could be reached (their connections went) */
        callroute_next(&oc->route, CALLROUTE_FAILED, &env, stage);
    }
}

/* A stage ended without a 2xx: the next stage, or the caller's answer —
 * 480 when the last one rang out (a missed call), else the best one. */
static void office_stage_ended(struct proxy_context *ctx)
{
    struct office_call *oc = ctx->office;
    struct server_txn *st = ctx->st;
    if (!st || ctx->answered || ctx->cancelled || ctx->timed_out || txn_server_final_sent(st)) {
        send_best(ctx);
        return;
    }
    enum callroute_event ev = oc->ring_expired ? CALLROUTE_NOANSWER
                              : oc->stage_busy ? CALLROUTE_BUSY
                                               : CALLROUTE_FAILED;
    struct callroute_env env = office_env(oc);
    struct callroute_stage stage;
    callroute_next(&oc->route, ev, &env, &stage);
    if (office_advance(ctx, st, &stage, NULL) || txn_server_final_sent(st))
        return;
    if (ev == CALLROUTE_NOANSWER) {
        oc->missed = true;
        txn_server_respond_code(st, 480, NULL); /* rang out: a missed call */
    } else {
        send_best(ctx);
    }
}

/* The stage rang for its time: CANCEL what rings, give up on the silent;
 * office_stage_ended() goes on once they all ended. */
static void on_ring_timeout(struct timer *timer, void *arg)
{
    struct proxy_context *ctx = arg;
    (void)timer;
    ctx->office->ring_expired = true;
    for (size_t i = 0; i < ctx->count; i++) {
        struct proxy_branch *b = ctx->branches[i];
        if (b->final_code || !b->ct)
            continue;
        txn_client_cancel(b->ct);
        if (!b->provisional)
            branch_final(b, 408, NULL);
    }
}

/* A request for one of our users while a dial plan is set: resolve the
 * dialled name and run its first stage. Returns false when the plan has
 * nothing to say about the name (the plain registrar lookup follows). */
static bool route_office(struct proxy *p, struct server_txn *st, osip_message_t *fwd,
                         uint32_t loop_hash)
{
    struct dialplan *dp = dialplan_holder_get(p->env.plans);
    if (!dp)
        return false;
    const osip_message_t *req = txn_server_request(st);
    struct proxy_context *ctx = context_new(p, req);
    struct office_call *oc = calloc(1, sizeof(*oc));
    if (oc)
        timer_init(&oc->ring, on_ring_timeout, ctx);
    if (!ctx || !oc || sipmsg_max_forwards_take(fwd) < 0) {
        free(ctx);
        office_free(oc);
        dialplan_unref(dp);
        txn_server_respond_code(st, 500, NULL);
        return true;
    }
    oc->proxy = p;
    oc->dp = dp;
    oc->loop_hash = loop_hash;
    snprintf(oc->dialled, sizeof(oc->dialled), "%s", fwd->req_uri->username);
    snprintf(oc->domain, sizeof(oc->domain), "%s",
             fwd->req_uri->host ? fwd->req_uri->host : "localhost");
    ctx->office = oc;
    struct callroute_env env = office_env(oc);
    struct callroute_stage stage;
    callroute_start(&oc->route, dp, oc->dialled, &env, &stage);
    if (office_advance(ctx, st, &stage, fwd)) {
        context_publish(ctx, st);
        return true;
    }
    if (!txn_server_final_sent(st))
        txn_server_respond_code(st, 480, NULL); /* nobody could be reached */
    context_free(ctx);
    return true;
}

/* Removes PEER_PARAM from @uri, a Request-URI of @req; returns whether
 * it was there with our MAC. */
static bool take_peer_param(const struct proxy *p, const osip_message_t *req, osip_uri_t *uri)
{
    bool ok = peer_param_signed(p, req, uri);
    osip_list_iterator_t it;
    int pos = 0;
    for (osip_uri_param_t *param = osip_list_get_first(&uri->url_params, &it); param;
         param = osip_list_get_next(&it), pos++) {
        if (param->gname && osip_strcasecmp(param->gname, PEER_PARAM) == 0) {
            osip_list_remove(&uri->url_params, pos);
            osip_uri_param_free(param);
            break;
        }
    }
    return ok;
}

/* Answers requests addressed to the proxy itself or its users. */
static void route_local(struct proxy *p, struct server_txn *st, osip_message_t *fwd,
                        uint32_t loop_hash)
{
    const osip_message_t *req = txn_server_request(st);
    if (!fwd->req_uri->username) {
        if (MSG_IS_OPTIONS(req))
            respond_options(st);
        else
            txn_server_respond_code(st, 404, NULL);
        return;
    }
    if (MSG_IS_PUBLISH(req)) {
        /* presence needs an event state compositor, which we are not */
        txn_server_respond_code(st, 501, NULL);
        return;
    }
    /* from another switchboard: it applied the dial plan already */
    bool peer = take_peer_param(p, req, fwd->req_uri);
    if (!peer && route_office(p, st, fwd, loop_hash))
        return;
    struct registrar_set *set;
    struct proxy_target *targets;
    bool flows_gone;
    size_t count = registered_targets(p, fwd->req_uri, peer, &set, &targets, &flows_gone);
    if (count == 0 && flows_gone) {
        /* RFC 5626 §5.3: registered, but only over connections that are
         * gone; it will be back when it registers again */
        SB_DEBUG("%s: %s's connections are gone", req->sip_method, fwd->req_uri->username);
        txn_server_respond_code(st, 480, NULL);
    } else if (count == 0) {
        SB_DEBUG("%s: no live binding for %s", req->sip_method, fwd->req_uri->username);
        txn_server_respond_code(st, 404, NULL);
    } else {
        fork_request(p, st, fwd, targets, count, loop_hash);
    }
    free(targets);
    registrar_set_free(set);
}

/* Can an in-dialog request still go over @side's flow? A connection that
 * is gone (our restart, the phone's roam or NAT timeout) cannot carry it;
 * then, rather than 430 at once (RFC 5626 §5.3), the request goes to its
 * remote target @ruri when that names the very address the flow came
 * from (a phone on our network, reached by a new connection to its
 * Contact). A private Contact behind NAT is never tried: its address may
 * be somebody else's here. */
static bool flow_usable(const struct proxy *p, const struct flow_side *side, const osip_uri_t *ruri)
{
    if (side->transport == SB_UDP || !side->conn || conn_alive(p, side->conn))
        return true;
    struct sb_addr contact;
    return !(ruri && sipmsg_uri_to_addr(ruri, &contact) == 0 &&
             sipmsg_addr_same_ip(&contact, &side->addr));
}

/* The next hop of a request that is not for our users: the first Route;
 * else the flow our Record-Route's token names for it (a UA behind NAT,
 * whose Request-URI is a private Contact, or one reached over its
 * connection); else the Request-URI, over the transport each asks for.
 * Returns 0 (*t filled and resolved), or a negative code. */
static int next_hop(struct proxy *p, const osip_message_t *fwd, const struct route_flow *flow,
                    const struct sb_inbound *in, struct proxy_target *t)
{
    memset(t, 0, sizeof(*t));
    t->checked = true;
    t->unsent_code = 503;
    osip_route_t *route = osip_list_get(&fwd->routes, 0);
    const struct flow_side *side =
        !route && flow->present ? flow_token_target(flow->from_caller, &flow->a, &flow->b) : NULL;
    if (side && !flow_usable(p, side, fwd->req_uri)) {
        side = NULL; /* gone: the phone's own Contact, new connection */
        t->unsent_code = 430;
    }
    if (side) {
        t->dest.transport = side->transport;
        t->dest.peer = side->addr;
        t->dest.conn = side->conn;
        t->dest.flow = side->conn != 0;
        if (t->dest.flow)
            t->unsent_code = 430; /* RFC 5626 §5.3: Flow Failed */
        t->checked = false;       /* where the phone's own messages came from: signed */
        return resolve(p, &t->dest, &in->local);
    }
    const osip_uri_t *uri = route ? route->url : fwd->req_uri;
    int transport = sipmsg_uri_transport(uri);
    if (transport < 0)
        return transport;
    t->dest.transport = (uint8_t)transport;
    int rc = sipmsg_uri_to_addr(uri, &t->dest.peer);
    stream_side(t);
    return rc != 0 ? rc : resolve(p, &t->dest, &in->local);
}

/* What the dialog table says of @fwd, on a signed Route @info. */
static enum route_dialog route_dialog_of(const struct proxy *p, const osip_message_t *fwd,
                                         const struct route_info *info)
{
    if (!info->signed_route || !p->dialogs || info->instance != p->env.instance)
        return ROUTE_DIALOG_UNTRACKED;
    char target[300];
    record_route_target(fwd->req_uri, target, sizeof(target));
    struct dialog_msg m = dialog_msg_of(fwd);
    switch (dialog_check(p->dialogs, &m, target)) {
    case DIALOG_OK:
        return ROUTE_DIALOG_LIVE;
    case DIALOG_WRONG_TARGET:
        return ROUTE_DIALOG_MISDIRECTED;
    default:
        return ROUTE_DIALOG_GONE;
    }
}

/* The policy's facts about @fwd once route_preprocess() took our Routes. */
static struct route_facts route_facts_of(const struct proxy *p, const osip_message_t *fwd,
                                         const struct route_info *info)
{
    bool routes_left = osip_list_size(&fwd->routes) > 0;
    return (struct route_facts){
        .routes_left = routes_left,
        .for_us = !routes_left && identity_is_local_uri(p->env.identity, fwd->req_uri),
        .signed_route = info->signed_route,
        .relay = p->env.config->relay,
        .dialog = route_dialog_of(p, fwd, info),
    };
}

/* Counts and logs (once a second) a request the policy refused. */
static void note_route_refusal(struct proxy *p, enum route_verdict v, const struct route_info *info,
                               const struct sb_inbound *in)
{
    if (v == ROUTE_DENY_PRELOADED)
        note_refusal(p, SB_CNT_PRELOADED_ROUTE, "out of dialog, a Route that is not ours", in->msg,
                     &in->src);
    else if (v == ROUTE_DENY_NO_DIALOG)
        note_refusal(p, SB_CNT_DIALOG_GONE, "the Route of a call that has ended", in->msg,
                     &in->src);
    else if (v == ROUTE_DENY_WRONG_TARGET)
        note_refusal(p, SB_CNT_DIALOG_TARGET, "in a call, to another target than its other side",
                     in->msg, &in->src);
    else if (info->forged)
        note_refusal(p, SB_CNT_FORGED_ROUTE, "a Route naming us that we did not sign", in->msg,
                     &in->src);
}

/* route_policy_target() for a next hop the request named itself; counted
 * and logged when refused. Returns true when @t may be used. */
static bool target_allowed(struct proxy *p, const struct sb_inbound *in,
                           const struct proxy_target *t)
{
    if (!t->checked)
        return true;
    enum target_verdict v =
        route_policy_target(p->env.identity, &p->forbidden, &t->dest.peer, &in->src);
    if (v == TARGET_OK)
        return true;
    char what[96];
    snprintf(what, sizeof(what), "a destination on %s", route_policy_target_name(v));
    note_refusal(p, SB_CNT_FORBIDDEN_TARGET, what, in->msg, &in->src);
    return false;
}

/* Forwards @fwd to the one next hop it names, as the policy allowed. */
static void route_onward(struct proxy *p, struct server_txn *st, osip_message_t *fwd,
                         const struct route_info *info, uint32_t loop_hash)
{
    const struct sb_inbound *in = txn_server_inbound(st);
    struct proxy_target target;
    int rc = next_hop(p, fwd, &info->flow, in, &target);
    if (rc == SB_EUNRESOLVED) {
        note_refusal(p, SB_CNT_UNRESOLVED, "a host name as next hop", in->msg, &in->src);
        txn_server_respond_code(st, 500, "Unresolvable Destination");
    } else if (rc != 0) {
        txn_server_respond_code(st, 500, "Unresolvable Destination");
    } else if (!target_allowed(p, in, &target)) {
        txn_server_respond_code(st, 403, "Forbidden Destination");
    } else {
        fork_request(p, st, fwd, &target, 1, loop_hash);
    }
}

static void route_request(struct proxy *p, struct server_txn *st)
{
    const struct sb_inbound *in = txn_server_inbound(st);
    const osip_message_t *req = in->msg;
    int max_forwards = sipmsg_max_forwards(req);
    bool for_us = identity_is_local_uri(p->env.identity, req->req_uri);
    if (max_forwards == 0) {
        /* §16.3 step 3: OPTIONS for the proxy itself may still be answered */
        if (MSG_IS_OPTIONS(req) && for_us && !req->req_uri->username)
            respond_options(st);
        else
            txn_server_respond_code(st, 483, NULL);
        return;
    }
    uint32_t loop_hash = sipmsg_loop_hash(req);
    if (loop_detected(p, req, loop_hash)) {
        txn_server_respond_code(st, 482, NULL);
        return;
    }
    const char *proxy_require = sipmsg_header(req, "proxy-require");
    if (proxy_require) {
        respond_unsupported(st, proxy_require); /* §16.3 step 5: we support none */
        return;
    }
    osip_message_t *fwd;
    if (osip_message_clone(req, &fwd) != 0) {
        txn_server_respond_code(st, 500, NULL);
        return;
    }
    struct route_info info;
    route_preprocess(p, fwd, &info);
    struct route_facts facts = route_facts_of(p, fwd, &info);
    enum route_verdict verdict = route_policy_decide(&facts);
    switch (verdict) {
    case ROUTE_LOCAL:
        route_local(p, st, fwd, loop_hash);
        break;
    case ROUTE_FORWARD:
        if (MSG_IS_BYE(fwd) && facts.dialog == ROUTE_DIALOG_LIVE) {
            struct dialog_msg m = dialog_msg_of(fwd);
            dialog_close(p->dialogs, &m); /* the call ends: its Route no longer leads anywhere */
        }
        /* (before forwarding: an answer of ours ends @st and frees req) */
        route_onward(p, st, fwd, &info, loop_hash);
        break;
    case ROUTE_DENY_NO_DIALOG:
        note_route_refusal(p, verdict, &info, in);
        txn_server_respond_code(st, 481, NULL);
        break;
    case ROUTE_DENY_WRONG_TARGET:
        note_route_refusal(p, verdict, &info, in);
        txn_server_respond_code(st, 403, "Forbidden (not this call's other side)");
        break;
    case ROUTE_DENY_PRELOADED:
    case ROUTE_DENY_RELAY:
        /* no open relay: neither through a Route we did not sign nor a
         * preloaded one (RFC 3261 §16.4 leaves that to local policy) */
        note_route_refusal(p, verdict, &info, in);
        txn_server_respond_code(st, 403,
                                verdict == ROUTE_DENY_PRELOADED ? "Preloaded Route denied"
                                                                : "Relaying Forbidden");
        break;
    }
    osip_message_free(fwd);
}

/* Ends a stateless forward: sends @in's message (prepared when @ready) to
 * @dest, counts the outcome either way, and frees @in. */
static void finish_stateless(struct proxy *p, struct sb_inbound *in, bool ready,
                             const struct sb_dest *dest)
{
    char *text = NULL;
    size_t len;
    if (ready && sipmsg_serialize(in->msg, &text, &len) == 0) {
        send_to(p, dest, text, len);
        sb_count(p->env.counters, SB_CNT_STATELESS);
    } else {
        sb_count(p->env.counters, SB_CNT_DROPPED);
    }
    osip_free(text);
    sb_inbound_free(in);
}

/* Where an ACK for one of our users goes: its first live binding. */
static bool ack_to_binding(struct proxy *p, osip_message_t *ack, struct sb_dest *dest)
{
    struct registrar_set *set;
    struct proxy_target *targets;
    bool gone;
    bool peer = take_peer_param(p, ack, ack->req_uri);
    size_t count = registered_targets(p, ack->req_uri, peer, &set, &targets, &gone);
    osip_uri_t *uri = NULL;
    bool ok = count > 0 && osip_uri_init(&uri) == 0 && osip_uri_parse(uri, targets[0].ruri) == 0;
    if (ok) {
        osip_uri_free(ack->req_uri);
        ack->req_uri = uri;
        *dest = targets[0].dest;
        ok = sign_peer_param(p, ack);
    } else {
        osip_uri_free(uri);
    }
    free(targets);
    registrar_set_free(set);
    return ok;
}

/* Routes an ACK from @in without state and adds our Via. Returns false
 * to drop it. */
static bool prepare_ack(struct proxy *p, const struct sb_inbound *in, struct sb_dest *dest)
{
    osip_message_t *ack = in->msg;
    if (sipmsg_max_forwards(ack) <= 0)
        return false;
    uint32_t loop_hash = sipmsg_loop_hash(ack);
    struct route_info info;
    route_preprocess(p, ack, &info);
    struct route_facts facts = route_facts_of(p, ack, &info);
    enum route_verdict verdict = route_policy_decide(&facts);
    bool routed = false;
    if (verdict == ROUTE_LOCAL) {
        routed = ack_to_binding(p, ack, dest);
    } else if (verdict == ROUTE_FORWARD) {
        struct proxy_target t;
        routed = next_hop(p, ack, &info.flow, in, &t) == 0 && target_allowed(p, in, &t);
        *dest = t.dest;
    } else {
        note_route_refusal(p, verdict, &info, in);
    }
    if (!routed)
        return false;
    /* the same incoming branch always maps to the same outgoing one */
    const char *in_branch = sipmsg_via_param(sipmsg_top_via(ack), "branch");
    uint64_t unique = in_branch ? sb_hash(in_branch, strlen(in_branch)) : p->branch_counter++;
    return sipmsg_max_forwards_take(ack) >= 0 && push_via(p, ack, dest, loop_hash, unique) == 0;
}

/* ACK for a 2xx (and any ACK without a transaction) travels end to end
 * without state (§16.11, §17.2.3). */
static void forward_ack(struct proxy *p, struct sb_inbound *in)
{
    struct sb_dest dest;
    bool ready = prepare_ack(p, in, &dest);
    finish_stateless(p, in, ready, &dest);
}

static void handle_cancel(struct proxy *p, struct sb_inbound *in)
{
    struct server_txn *invite = txn_server_match_cancelled(p->txn, in->msg);
    struct server_txn *st;
    if (txn_server_create(p->txn, in, NULL, &st) != 0) {
        respond_overloaded(p, in);
        sb_inbound_free(in);
        return;
    }
    if (!invite) {
        txn_server_respond_code(st, 481, NULL);
        return;
    }
    /* §16.10: answer the CANCEL ourselves, then cancel every pending branch */
    txn_server_respond_code(st, 200, NULL);
    struct proxy_context *ctx = txn_server_tu(invite);
    if (ctx && !ctx->answered && !txn_server_final_sent(invite)) {
        ctx->cancelled = true;
        cancel_pending(ctx);
    }
}

/* A response no client transaction claims: forward it by its Via if the
 * top one is ours (§16.7: stateless forwarding of strays, e.g. 2xx
 * retransmissions after the transaction ended). */
static void forward_stray_response(struct proxy *p, struct sb_inbound *in)
{
    osip_message_t *resp = in->msg;
    struct sb_dest dest = {0};
    bool ready = via_is_ours(p, sipmsg_top_via(resp)) && osip_list_size(&resp->vias) >= 2;
    if (ready && !via_verified(p, resp)) {
        sb_count(p->env.counters, SB_CNT_STRAY_UNVERIFIED);
        ready = false;
    }
    if (ready) {
        sipmsg_via_pop(resp);
        resign_record_routes(p, resp); /* a 2xx after its transaction ended */
        dialog_note_response(p, NULL, resp);
        const osip_via_t *via = sipmsg_top_via(resp);
        int transport = sipmsg_via_transport(via);
        dest.transport = (uint8_t)(transport < 0 ? SB_UDP : transport);
        ready = transport >= 0 && sipmsg_via_destination(via, &dest.peer) == 0 &&
                resolve(p, &dest, &in->local) == 0;
    }
    finish_stateless(p, in, ready, &dest);
}

/* --- entry points --------------------------------------------------------- */

static const struct txn_user_ops proxy_txn_ops = {
    .on_response = on_response,
    .on_timeout = on_timeout,
    .on_transport_error = on_transport_error,
    .on_client_gone = on_client_gone,
    .on_server_gone = on_server_gone,
    .on_server_respond = on_server_respond,
};

int proxy_create(const struct proxy_env *env, struct proxy **out)
{
    struct proxy *p = calloc(1, sizeof(*p));
    if (!p)
        return SB_ENOMEM;
    p->env = *env;
    p->local_hint = CALL_END_LOCAL;
    if (getrandom(&p->branch_seed, sizeof(p->branch_seed), 0) != sizeof(p->branch_seed))
        p->branch_seed = (uint64_t)(uintptr_t)p ^ sb_now_ms();
    struct txn_config tc = {
        .t1_ms = env->config->t1_ms,
        .t2_ms = env->config->t2_ms,
        .t4_ms = env->config->t4_ms,
        .max_server = env->config->max_transactions,
        /* RFC 3261 §18.1.1: within 200 bytes of the path MTU */
        .udp_max = env->config->udp_to_tcp ? env->config->path_mtu - 200 : 0,
    };
    struct txn_io io = {
        .send = env->net->send, .retarget = env->net->retarget, .ctx = env->net_ctx};
    char why[160];
    int rc = cidr_list_parse(env->config->forbidden_targets, &p->forbidden, why, sizeof(why));
    if (rc == 0 && env->config->register_rate)
        rc = rate_limit_create(env->config->register_rate, &p->register_rate);
    if (rc == 0 && env->instance)
        rc = dialog_table_create(env->wheel, env->config->max_transactions,
                                 (uint64_t)env->config->max_call_length * 1000u,
                                 128u * env->config->t1_ms, &p->dialogs);
    if (rc == 0)
        rc = call_journal_create(env->journal, env->counters, &p->calls);
    if (rc != 0) {
        dialog_table_destroy(p->dialogs);
        rate_limit_destroy(p->register_rate);
        cidr_list_free(&p->forbidden);
        free(p);
        return rc;
    }
    rc = txn_layer_create(&tc, env->wheel, &io, &proxy_txn_ops, p, &p->txn);
    if (rc != 0) {
        call_journal_destroy(p->calls);
        dialog_table_destroy(p->dialogs);
        rate_limit_destroy(p->register_rate);
        cidr_list_free(&p->forbidden);
        free(p);
        return rc;
    }
    *out = p;
    return 0;
}

void proxy_destroy(struct proxy *p)
{
    if (!p)
        return;
    /* the layer frees its transactions without callbacks; then the
     * contexts they pointed to go */
    txn_layer_destroy(p->txn);
    while (p->contexts)
        context_free(p->contexts);
    call_journal_destroy(p->calls); /* open calls are written as interrupted */
    dialog_table_destroy(p->dialogs);
    rate_limit_destroy(p->register_rate);
    cidr_list_free(&p->forbidden);
    free(p);
}

struct call_journal *proxy_calls(struct proxy *p)
{
    return p->calls;
}

size_t proxy_transaction_count(const struct proxy *p)
{
    return txn_layer_server_count(p->txn) + txn_layer_client_count(p->txn);
}

/* A new INVITE's 100 (Trying) leaves before the other messages read with
 * it are handled (§17.2.1: it is what stops the phone's retransmissions).
 * Only the transaction is made here; proxy_handle() routes it in its
 * turn. Behind a CANCEL of the same batch no INVITE is taken early: that
 * CANCEL still finds no transaction, as it would have in order. */
bool proxy_accept(struct proxy *p, struct sb_inbound *in)
{
    const osip_message_t *msg = in->msg;
    if (in->send_failed || MSG_IS_RESPONSE(msg))
        return false;
    if (MSG_IS_CANCEL(msg))
        p->cancels_held++;
    struct server_txn *st;
    if (!MSG_IS_INVITE(msg) || p->cancels_held || txn_server_match(p->txn, msg) ||
        txn_server_create(p->txn, in, NULL, &st) != 0)
        return false; /* overload: proxy_handle() answers 503 */
    txn_server_respond_code(st, 100, NULL);
    return true;
}

/* A request that opened server transaction @st: authorized, followed by
 * the journal, routed. */
static void handle_new_request(struct proxy *p, struct server_txn *st)
{
    const osip_message_t *msg = txn_server_inbound(st)->msg;
    if (!authorize(p, st))
        return;
    if (MSG_IS_INVITE(msg) || MSG_IS_BYE(msg) || MSG_IS_REFER(msg))
        call_journal_request(p->calls, msg, call_journal_now());
    route_request(p, st);
}

void proxy_handle(struct proxy *p, struct sb_inbound *in)
{
    osip_message_t *msg = in->msg;
    if (in->send_failed) {
        /* one of ours, back from an I/O thread that could not send it */
        txn_client_send_failed(p->txn, msg);
        sb_inbound_free(in);
        return;
    }
    if (MSG_IS_RESPONSE(msg)) {
        sb_count(p->env.counters, SB_CNT_RESPONSES);
        if (msg->status_code >= 100 && msg->status_code < 700)
            sb_count(p->env.counters, SB_CNT_C_1XX + msg->status_code / 100 - 1);
        if (!txn_client_receive(p->txn, &in->msg)) {
            forward_stray_response(p, in);
            return;
        }
        sb_inbound_free(in);
        return;
    }
    sb_count(p->env.counters, SB_CNT_REQUESTS);
    sb_count(p->env.counters, sb_method_counter(msg->sip_method));
    struct server_txn *st = txn_server_match(p->txn, msg);
    if (st && txn_server_inbound(st) == in) {
        handle_new_request(p, st); /* proxy_accept() made it and sent the 100 */
        return;
    }
    if (MSG_IS_ACK(msg)) {
        if (st && txn_server_ack(st)) {
            sb_inbound_free(in); /* ACK for our non-2xx: hop by hop, absorbed */
            return;
        }
        forward_ack(p, in);
        return;
    }
    if (MSG_IS_CANCEL(msg) && p->cancels_held)
        p->cancels_held--;
    if (st) {
        sb_count(p->env.counters, SB_CNT_RETRANSMISSIONS);
        txn_server_retransmission(st);
        sb_inbound_free(in);
        return;
    }
    if (MSG_IS_CANCEL(msg)) {
        handle_cancel(p, in);
        return;
    }
    bool registration =
        MSG_IS_REGISTER(msg) && identity_is_local_uri(p->env.identity, msg->req_uri);
    if (registration && !register_rate_ok(p, in)) {
        refuse_register_rate(p, in);
        sb_inbound_free(in);
        return;
    }
    int rc = txn_server_create(p->txn, in, NULL, &st);
    if (rc != 0) {
        respond_overloaded(p, in);
        sb_inbound_free(in);
        return;
    }
    if (registration) {
        handle_register(p, st);
        return;
    }
    if (MSG_IS_INVITE(msg))
        txn_server_respond_code(st, 100, NULL); /* at once: phones stop retransmitting */
    handle_new_request(p, st);
}
