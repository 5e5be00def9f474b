/* The proxy core, RFC 3261 §16. See the DESIGN note in proxy.h.
 *
 * Every request but ACK gets a server transaction; requests for our own
 * domains are answered here (REGISTER, OPTIONS) or forked to the
 * registered contacts; the rest follow Route or, in dialog, the
 * Request-URI. A proxy_context is the "response context" of §16.7: it
 * lives until its server transaction and every branch are gone. */
#include "proxy_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include <osipparser2/osip_port.h>

#include "switchboard/call_index.h"
#include "switchboard/error.h"
#include "switchboard/identity.h"
#include "switchboard/rate_limit.h"
#include "switchboard/reasons.h"
#include "switchboard/record_route.h"
#include "switchboard/registrar.h"
#include "switchboard/route_policy.h"
#include "switchboard/sip_msg.h"
#include "switchboard/trunk.h"

static bool take_peer_param(const struct proxy *p, const osip_message_t *req, osip_uri_t *uri)
{
    bool ok = proxy_peer_param_signed(p, req, uri);
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
/* RFC 3891: an INVITE with Replaces naming a call this process routes
 * (an attended transfer, RFC 5589 §7) is for the device in that call.
 * It goes to the user's own devices, where that one takes it and any
 * other answers 481 (§3); never through the dial plan, whose DND,
 * forwards and groups would ring somebody else. */
static bool replaces_our_call(const struct proxy *p, const osip_message_t *req)
{
    char call_id[256];
    return p->env.call_index && MSG_IS_INVITE(req) &&
           sipmsg_replaces_call_id(req, call_id, sizeof(call_id)) &&
           call_index_has(p->env.call_index, call_id);
}

static void route_local(struct proxy *p, struct server_txn *st, osip_message_t *fwd,
                        uint32_t loop_hash)
{
    const osip_message_t *req = txn_server_request(st);
    if (!fwd->req_uri->username) {
        if (MSG_IS_OPTIONS(req))
            proxy_respond_options(st);
        else
            txn_server_respond_code(st, 404, NULL);
        return;
    }
    if (MSG_IS_PUBLISH(req)) {
        /* ours are answered by proxy_notify_request(); nobody else's
         * compositor is reached through us */
        txn_server_respond_code(st, 501, NULL);
        return;
    }
    /* from another switchboard: it applied the dial plan already */
    bool peer = take_peer_param(p, req, fwd->req_uri);
    /* taking over a call of ours: the user's own devices, no dial plan */
    bool replaces = replaces_our_call(p, fwd);
    if (!peer && !replaces && proxy_route_pickup(p, st, fwd))
        return;
    if (!peer && !replaces && proxy_route_trunk(p, st, fwd, loop_hash))
        return;
    if (!peer && proxy_route_office(p, st, fwd, loop_hash, replaces))
        return;
    struct registrar_set *set;
    struct proxy_target *targets;
    bool flows_gone;
    size_t count = proxy_registered_targets(p, fwd->req_uri, peer, &set, &targets, &flows_gone);
    if (count == 0 && flows_gone) {
        /* RFC 5626 §5.3: registered, but only over connections that are
         * gone; it will be back when it registers again */
        SB_DEBUG("%s: %s's connections are gone", req->sip_method, fwd->req_uri->username);
        txn_server_respond_code(st, 480, NULL);
    } else if (count == 0) {
        SB_DEBUG("%s: no live binding for %s", req->sip_method, fwd->req_uri->username);
        txn_server_respond_code(st, 404, NULL);
    } else {
        proxy_fork_request(p, st, fwd, targets, count, loop_hash);
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
    if (side->transport == SB_UDP || !side->conn || proxy_conn_alive(p, side->conn))
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
        return proxy_resolve(p, &t->dest, &in->local);
    }
    const osip_uri_t *uri = route ? route->url : fwd->req_uri;
    int transport = sipmsg_uri_transport(uri);
    if (transport < 0)
        return transport;
    t->dest.transport = (uint8_t)transport;
    int rc = sipmsg_uri_to_addr(uri, &t->dest.peer);
    proxy_stream_side(t);
    return rc != 0 ? rc : proxy_resolve(p, &t->dest, &in->local);
}

/* What the dialog table says of @fwd, on a signed Route @info. */
static enum route_dialog route_dialog_of(const struct proxy *p, const osip_message_t *fwd,
                                         const struct route_info *info)
{
    if (!info->signed_route || !p->dialogs || info->instance != p->env.instance)
        return ROUTE_DIALOG_UNTRACKED;
    char target[300];
    record_route_target(fwd->req_uri, target, sizeof(target));
    struct dialog_msg m = proxy_dialog_msg_of(fwd);
    switch (dialog_check(p->dialogs, &m, target)) {
    case DIALOG_OK:
        return ROUTE_DIALOG_LIVE;
    case DIALOG_WRONG_TARGET:
        return ROUTE_DIALOG_MISDIRECTED;
    default:
        return ROUTE_DIALOG_GONE;
    }
}

/* The policy's facts about @fwd once proxy_route_preprocess() took our Routes. */
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
        proxy_note_refusal(p, SB_CNT_PRELOADED_ROUTE, "out of dialog, a Route that is not ours",
                           in->msg, &in->src);
    else if (v == ROUTE_DENY_NO_DIALOG)
        proxy_note_refusal(p, SB_CNT_DIALOG_GONE, "the Route of a call that has ended", in->msg,
                           &in->src);
    else if (v == ROUTE_DENY_WRONG_TARGET)
        proxy_note_refusal(p, SB_CNT_DIALOG_TARGET,
                           "in a call, to another target than its other side", in->msg, &in->src);
    else if (info->forged)
        proxy_note_refusal(p, SB_CNT_FORGED_ROUTE, "a Route naming us that we did not sign",
                           in->msg, &in->src);
}

/* route_policy_target() for a next hop the request named itself; counted
 * and logged when refused. Returns true when @t may be used. */
bool proxy_target_allowed(struct proxy *p, const struct sb_inbound *in,
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
    proxy_note_refusal(p, SB_CNT_FORBIDDEN_TARGET, what, in->msg, &in->src);
    return false;
}

/* The caller's in-dialog request toward a callee that saw its INVITE
 * with a higher CSeq (we answered a trunk's challenge: ;sbc=) follows
 * that numbering (RFC 3261 §12.2.1.1). Returns 0 or a negative code. */
static int shift_cseq(osip_message_t *req, const struct route_info *info)
{
    if (!info->cseq_shift || !info->from_caller)
        return 0;
    return sipmsg_set_cseq_number(req, sipmsg_cseq_number(req) + info->cseq_shift);
}

/* Forwards @fwd to the one next hop it names, as the policy allowed; a
 * host name waits for DNS (proxy_dns.c) when we relay. */
void proxy_route_onward(struct proxy *p, struct server_txn *st, osip_message_t *fwd,
                        const struct route_info *info, uint32_t loop_hash)
{
    const struct sb_inbound *in = txn_server_inbound(st);
    struct proxy_target target;
    struct trunk_targets dns = {0};
    int rc = next_hop(p, fwd, &info->flow, in, &target);
    if (rc == SB_EUNRESOLVED)
        rc = proxy_dns_target(p, fwd, in, &target, &dns);
    if (rc == SB_EAGAIN && proxy_dns_park(p, st, fwd, info, loop_hash))
        return; /* routing resumes with the answer */
    if (rc == 0 && shift_cseq(fwd, info) != 0)
        rc = SB_ENOMEM;
    if (rc == SB_ENOTFOUND || rc == SB_EAGAIN) {
        txn_server_respond_code(st, 500, "Unresolvable Destination");
    } else if (rc == SB_EUNRESOLVED) {
        proxy_note_refusal(p, SB_CNT_UNRESOLVED, "a host name as next hop", in->msg, &in->src);
        txn_server_respond_code(st, 500, "Unresolvable Destination");
    } else if (rc != 0) {
        txn_server_respond_code(st, 500, "Unresolvable Destination");
    } else if (!proxy_target_allowed(p, in, &target)) {
        txn_server_respond_code(st, 403, "Forbidden Destination");
    } else {
        proxy_fork_request(p, st, fwd, &target, 1, loop_hash);
        struct proxy_context *ctx = txn_server_tu(st);
        if (ctx && info->from_caller)
            ctx->cseq_shift = info->cseq_shift;                /* its responses go back shifted */
        proxy_trunk_in_dialog(p, st, fwd, &target, loop_hash); /* a carrier may challenge it */
        proxy_relay_failover(p, st, fwd, &dns, loop_hash);     /* DNS's next servers */
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
            proxy_respond_options(st);
        else
            txn_server_respond_code(st, 483, NULL);
        return;
    }
    uint32_t loop_hash = sipmsg_loop_hash(req);
    if (proxy_loop_detected(p, req, loop_hash)) {
        txn_server_respond_code(st, 482, NULL);
        return;
    }
    const char *proxy_require = sipmsg_header(req, "proxy-require");
    if (proxy_require) {
        proxy_respond_unsupported(st, proxy_require); /* §16.3 step 5: we support none */
        return;
    }
    osip_message_t *fwd;
    if (osip_message_clone(req, &fwd) != 0) {
        txn_server_respond_code(st, 500, NULL);
        return;
    }
    struct route_info info;
    proxy_route_preprocess(p, fwd, &info);
    struct route_facts facts = route_facts_of(p, fwd, &info);
    enum route_verdict verdict = route_policy_decide(&facts);
    /* a relayed call's offer goes to the engine first: routing resumes
     * with its answer (proxy_media.c) */
    if (!proxy_media_park_request(p, st, fwd, &info, (int)verdict, loop_hash))
        proxy_route_decided(p, st, fwd, &info, (int)verdict, loop_hash);
}

/* Routes @fwd as the policy decided (@verdict, enum route_verdict) and
 * frees it. */
void proxy_route_decided(struct proxy *p, struct server_txn *st, osip_message_t *fwd,
                         const struct route_info *info, int verdict, uint32_t loop_hash)
{
    const struct sb_inbound *in = txn_server_inbound(st);
    switch ((enum route_verdict)verdict) {
    case ROUTE_LOCAL:
        route_local(p, st, fwd, loop_hash);
        break;
    case ROUTE_FORWARD:
        if (MSG_IS_BYE(fwd) && route_dialog_of(p, fwd, info) == ROUTE_DIALOG_LIVE) {
            struct dialog_msg m = proxy_dialog_msg_of(fwd);
            dialog_close(p->dialogs, &m); /* the call ends: its Route no longer leads anywhere */
        }
        /* (before forwarding: an answer of ours ends @st and frees req) */
        proxy_route_onward(p, st, fwd, info, loop_hash);
        break;
    case ROUTE_DENY_NO_DIALOG:
        note_route_refusal(p, (enum route_verdict)verdict, info, in);
        txn_server_respond_code(st, 481, NULL);
        break;
    case ROUTE_DENY_WRONG_TARGET:
        note_route_refusal(p, (enum route_verdict)verdict, info, in);
        txn_server_respond_code(st, 403, "Forbidden (not this call's other side)");
        break;
    case ROUTE_DENY_PRELOADED:
    case ROUTE_DENY_RELAY:
        /* no open relay: neither through a Route we did not sign nor a
         * preloaded one (RFC 3261 §16.4 leaves that to local policy) */
        note_route_refusal(p, (enum route_verdict)verdict, info, in);
        txn_server_respond_code(st, 403,
                                verdict == ROUTE_DENY_PRELOADED ? "Preloaded Route denied"
                                                                : "Relaying Forbidden");
        break;
    }
    osip_message_free(fwd);
}

/* Ends a stateless forward: sends @in's message (prepared when @ready) to
 * @dest, counts the outcome either way, and frees @in. */
void proxy_finish_stateless(struct proxy *p, struct sb_inbound *in, bool ready,
                            const struct sb_dest *dest)
{
    char *text = NULL;
    size_t len;
    if (ready && proxy_write(p, in->msg, &text, &len) == 0) {
        proxy_send_to(p, dest, text, len);
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
    size_t count = proxy_registered_targets(p, ack->req_uri, peer, &set, &targets, &gone);
    osip_uri_t *uri = NULL;
    bool ok = count > 0 && osip_uri_init(&uri) == 0 && osip_uri_parse(uri, targets[0].ruri) == 0;
    if (ok) {
        osip_uri_free(ack->req_uri);
        ack->req_uri = uri;
        *dest = targets[0].dest;
        ok = proxy_sign_peer_param(p, ack);
    } else {
        osip_uri_free(uri);
    }
    free(targets);
    registrar_set_free(set);
    return ok;
}

/* Routes an ACK from @in without state and adds our Via; @engine gets
 * the call's media engine from our Route (""). Returns false to drop it. */
static bool prepare_ack(struct proxy *p, const struct sb_inbound *in, struct sb_dest *dest,
                        char engine[RECORD_ROUTE_MEDIA_MAX + 1])
{
    osip_message_t *ack = in->msg;
    if (sipmsg_max_forwards(ack) <= 0)
        return false;
    uint32_t loop_hash = sipmsg_loop_hash(ack);
    struct route_info info;
    proxy_route_preprocess(p, ack, &info);
    memcpy(engine, info.media, sizeof(info.media));
    struct route_facts facts = route_facts_of(p, ack, &info);
    enum route_verdict verdict = route_policy_decide(&facts);
    bool routed = false;
    if (verdict == ROUTE_LOCAL) {
        routed = ack_to_binding(p, ack, dest);
    } else if (verdict == ROUTE_FORWARD) {
        struct proxy_target t;
        int rc = next_hop(p, ack, &info.flow, in, &t);
        if (rc == SB_EUNRESOLVED) /* only a name already known: an ACK never waits */
            rc = proxy_dns_target(p, ack, in, &t, NULL);
        routed = rc == 0 && proxy_target_allowed(p, in, &t);
        *dest = t.dest;
    } else {
        note_route_refusal(p, verdict, &info, in);
    }
    if (!routed || shift_cseq(ack, &info) != 0)
        return false;
    /* the same incoming branch always maps to the same outgoing one */
    const char *in_branch = sipmsg_via_param(sipmsg_top_via(ack), "branch");
    uint64_t unique = in_branch ? sb_hash(in_branch, strlen(in_branch)) : p->branch_counter++;
    return sipmsg_max_forwards_take(ack) >= 0 &&
           proxy_push_via(p, ack, dest, loop_hash, unique) == 0;
}

/* ACK for a 2xx (and any ACK without a transaction) travels end to end
 * without state (§16.11, §17.2.3). */
static void forward_ack(struct proxy *p, struct sb_inbound *in)
{
    struct sb_dest dest;
    char engine[RECORD_ROUTE_MEDIA_MAX + 1] = "";
    struct proxy_edit as_received;
    proxy_edit_note(&as_received, in);
    bool ready = prepare_ack(p, in, &dest, engine);
    /* a late offer's answer (media.h) goes to the engine first */
    if (ready && proxy_media_hold_stateless(p, in, &dest, engine))
        return;
    proxy_edit_arm(p, &as_received, in->msg);
    proxy_finish_stateless(p, in, ready, &dest);
    proxy_edit_disarm(p);
}

static void handle_cancel(struct proxy *p, struct sb_inbound *in)
{
    struct server_txn *invite = txn_server_match_cancelled(p->txn, in->msg);
    struct server_txn *st;
    if (txn_server_create(p->txn, in, NULL, &st) != 0) {
        proxy_respond_overloaded(p, in);
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
    if (!ctx && proxy_dns_cancel(p, invite))
        return; /* it was still waiting for DNS: 487 */
    if (ctx && !ctx->answered && !txn_server_final_sent(invite)) {
        ctx->cancelled = true;
        proxy_cancel_pending(ctx);
        proxy_media_cancelled(p, ctx);
    }
}

/* The engine our Record-Route in @resp names (""): a relayed call's. */
static const char *our_media_route(const struct proxy *p, const osip_message_t *resp)
{
    osip_record_route_t *rr;
    for (int i = 0; (rr = osip_list_get(&resp->record_routes, i)) != NULL; i++) {
        const char *media = rr->url && identity_is_local_uri(p->env.identity, rr->url)
                                ? record_route_media(rr->url)
                                : NULL;
        if (media)
            return media;
    }
    return "";
}

/* A response no client transaction claims: forward it by its Via if the
 * top one is ours (§16.7: stateless forwarding of strays, e.g. 2xx
 * retransmissions after the transaction ended). */
static void forward_stray_response(struct proxy *p, struct sb_inbound *in)
{
    osip_message_t *resp = in->msg;
    struct sb_dest dest = {0};
    struct proxy_edit as_received;
    proxy_edit_note(&as_received, in);
    bool ready = proxy_via_is_ours(p, sipmsg_top_via(resp)) && osip_list_size(&resp->vias) >= 2;
    if (ready && !proxy_via_verified(p, resp)) {
        sb_count(p->env.counters, SB_CNT_STRAY_UNVERIFIED);
        ready = false;
    }
    if (ready) {
        sipmsg_via_pop(resp);
        proxy_resign_record_routes(p, resp); /* a 2xx after its transaction ended */
        proxy_dialog_note_response(p, NULL, resp);
        const osip_via_t *via = sipmsg_top_via(resp);
        int transport = sipmsg_via_transport(via);
        dest.transport = (uint8_t)(transport < 0 ? SB_UDP : transport);
        ready = transport >= 0 && sipmsg_via_destination(via, &dest.peer) == 0 &&
                proxy_resolve(p, &dest, &in->local) == 0;
    }
    /* a relayed call's 2xx, again: its SDP goes through the engine too */
    if (ready && proxy_media_hold_stateless(p, in, &dest, our_media_route(p, resp)))
        return;
    proxy_edit_arm(p, &as_received, resp);
    proxy_finish_stateless(p, in, ready, &dest);
    proxy_edit_disarm(p);
}

/* --- entry points --------------------------------------------------------- */

/* Does the configuration listen on ws: or wss:? */
static bool listens_on_ws(const struct sb_config *cfg)
{
    for (size_t i = 0; i < cfg->listen_count; i++) {
        char host[256];
        unsigned port;
        int transport;
        if (config_parse_listen(cfg->listen[i], &transport, host, sizeof(host), &port) == 0 &&
            sb_transport_is_ws(transport))
            return true;
    }
    return false;
}

int proxy_create(const struct proxy_env *env, struct proxy **out)
{
    struct proxy *p = calloc(1, sizeof(*p));
    if (!p)
        return SB_ENOMEM;
    p->env = *env;
    p->local_hint = CALL_END_LOCAL;
    p->media_next.engine = -1;
    p->browsers = listens_on_ws(env->config);
    const char *verify = getenv("SB_EDIT_VERIFY");
    p->verify_edits = verify && strcmp(verify, "0") != 0;
    proxy_pickup_start(p);
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
    if (rc == 0 && (proxy_trunk_reg_start(p) != 0 || proxy_natping_start(p) != 0 ||
                    proxy_notify_start(p) != 0)) {
        proxy_trunk_reg_stop(p);
        proxy_natping_stop(p);
        proxy_notify_stop(p);
        proxy_pickup_stop(p);
        txn_layer_destroy(p->txn);
        rc = SB_ENOMEM;
    }
    if (rc != 0) {
        call_journal_destroy(p->calls);
        dialog_table_destroy(p->dialogs);
        rate_limit_destroy(p->register_rate);
        cidr_list_free(&p->forbidden);
        free(p);
        return rc;
    }
    if (env->watch || env->call_index)
        call_journal_watch(p->calls, proxy_watch_call, p);
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
    proxy_dns_destroy(p);
    proxy_trunk_reg_stop(p);
    proxy_natping_stop(p);
    proxy_notify_stop(p);
    proxy_media_destroy(p);
    while (p->contexts)
        proxy_context_free(p->contexts);
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

/* A new INVITE's 100, at once: phones stop retransmitting (§16.2). */
static void send_trying(struct proxy *p, struct server_txn *st)
{
    char phrase[64]; /* [reasons] may name it */
    bool ours = reasons_lookup(p->env.reasons, 100, phrase, sizeof(phrase)) == 0;
    txn_server_trying(st, ours ? phrase : NULL);
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
    send_trying(p, st);
    return true;
}

/* A request that opened server transaction @st: authorized, followed by
 * the journal, routed. A call from outside (a trunk, another domain)
 * loses what would make a phone answer without ringing: such a header
 * from a stranger is a way to listen into the office. */
static void handle_new_request(struct proxy *p, struct server_txn *st)
{
    const struct sb_inbound *in = txn_server_inbound(st);
    const osip_message_t *msg = in->msg;
    /* a carrier cannot answer our challenge: a trunk is known by its
     * address or our registration's Contact, and reaches only [inbound] */
    const struct trunk *trunk = proxy_trunk_source(p, in);
    if (!trunk && !proxy_authorize(p, st))
        return;
    if (!trunk && proxy_notify_request(p, st))
        return; /* a busy lamp's SUBSCRIBE: ours to answer (RFC 4235) */
    if (MSG_IS_INVITE(msg) || MSG_IS_BYE(msg) || MSG_IS_REFER(msg))
        call_journal_request(p->calls, msg, call_journal_now());
    if (MSG_IS_INVITE(msg) && !sipmsg_to_tag(msg) && (trunk || !proxy_from_our_user(p, msg)) &&
        proxy_strip_auto_answer(in->msg))
        sb_count(p->env.counters, SB_CNT_AUTO_ANSWER_STRIPPED);
    if (trunk && proxy_trunk_inbound(p, st, trunk))
        return;
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
        proxy_edit_note(&p->received, in);
        p->received.msg = msg;
        bool claimed = txn_client_receive(p->txn, &in->msg);
        p->received = (struct proxy_edit){0};
        if (!claimed) {
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
    if (registration && !proxy_register_rate_ok(p, in)) {
        proxy_refuse_register_rate(p, in);
        sb_inbound_free(in);
        return;
    }
    int rc = txn_server_create(p->txn, in, NULL, &st);
    if (rc != 0) {
        proxy_respond_overloaded(p, in);
        sb_inbound_free(in);
        return;
    }
    if (registration) {
        proxy_handle_register(p, st);
        return;
    }
    if (MSG_IS_INVITE(msg))
        send_trying(p, st);
    handle_new_request(p, st);
}
