/* Calls through the office's trunks (trunk.h): out through an [outbound]
 * route's trunks one after another, answering a carrier's challenge with
 * the trunk's credentials; in from a trunk to the number [inbound] maps.
 * See proxy_int.h.
 *
 * A call out is one response context; its states:
 *   SENT (one branch to trunk i) --401/407, first time--> SENT again with
 *   credentials and CSeq + 1 (RFC 3261 §22.2) --408, 5xx, no answer-->
 *   SENT to trunk i + 1, or the best final response to the caller. */
#include "proxy_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <urcu.h>

#include "switchboard/digest.h"
#include "switchboard/error.h"
#include "switchboard/identity.h"
#include "switchboard/sip_msg.h"
#include "switchboard/trunk.h"

/* Has the office any trunk? Everything here is skipped without. */
static bool has_trunks(const struct proxy *p)
{
    return p->env.trunks && p->env.trunks->count;
}

struct trunk_call {
    const struct trunk *trunks[TRUNK_MAX_PER_ROUTE];
    size_t count, at;
    size_t target;       /* trunk at's target (trunk.h) being tried */
    osip_message_t *fwd; /* the request before any trunk's changes */
    char dialled[TRUNK_NUMBER_MAX + 2];
    char caller_id[TRUNK_NUMBER_MAX + 2]; /* the route's; "": each trunk's */
    uint32_t loop_hash;
    bool authorized; /* credentials went to trunk at */
    /* an in-dialog request toward a trunk (fwd as sent, less our Via):
     * only its challenge is answered, to the same target */
    bool in_dialog;
    struct proxy_target dest;
    unsigned base_shift; /* ctx->cseq_shift as fwd was sent */
    /* a request relayed to a domain by name (proxy_dns.c): DNS's servers,
     * tried in turn (RFC 3263 §4.3); no trunk */
    bool relay;
    struct trunk_targets servers;
};

void proxy_trunk_call_free(struct trunk_call *tc)
{
    if (!tc)
        return;
    osip_message_free(tc->fwd);
    free(tc);
}

/* --- the request a trunk gets --------------------------------------- */

/* sip:NUMBER@HOST[:PORT][;transport=tcp|tls] */
static int trunk_ruri(const struct trunk *t, const char *number, osip_message_t *req)
{
    char text[400];
    char port[12] = "";
    if (t->port)
        snprintf(port, sizeof(port), ":%u", t->port);
    /* DNS decides unless the config did (RFC 3263 §4.1) */
    const char *tp = t->transport_set ? sb_transport_uri_param(t->transport) : "";
    snprintf(text, sizeof(text), "sip:%s@%s%s%s", number, t->host, port, tp);
    osip_uri_t *uri;
    if (osip_uri_init(&uri) != 0)
        return SB_ENOMEM;
    if (osip_uri_parse(uri, text) != 0) {
        osip_uri_free(uri);
        return SB_EMALFORMED;
    }
    osip_uri_free(req->req_uri);
    req->req_uri = uri;
    return 0;
}

/* RFC 3325 §9.1: the identity the trunk shows the called party. A
 * caller's own P-Asserted-Identity goes: only we assert, toward it. */
static int assert_caller(const struct trunk *t, const char *caller_id, osip_message_t *req)
{
    osip_header_t *h;
    int pos;
    sipmsg_mark_rewritten(req);
    while ((pos = osip_message_header_get_byname(req, "p-asserted-identity", 0, &h)) >= 0) {
        osip_list_remove(&req->headers, pos);
        osip_header_free(h);
    }
    if (!caller_id[0])
        caller_id = t->caller_id;
    if (!caller_id[0])
        return 0;
    char value[400];
    snprintf(value, sizeof(value), "<sip:%s@%s>", caller_id, t->host);
    return osip_message_set_header(req, "P-Asserted-Identity", value) == 0 ? 0 : SB_ENOMEM;
}

/* The caller's credentials were for us (§22.3: the proxy of their realm
 * consumes them); a carrier must neither see them nor take them for ours. */
static void drop_credentials(osip_message_t *req)
{
    osip_authorization_t *a;
    sipmsg_mark_rewritten(req);
    while ((a = osip_list_get(&req->proxy_authorizations, 0)) != NULL) {
        osip_list_remove(&req->proxy_authorizations, 0);
        osip_authorization_free(a);
    }
    while ((a = osip_list_get(&req->authorizations, 0)) != NULL) {
        osip_list_remove(&req->authorizations, 0);
        osip_authorization_free(a);
    }
}

/* Our answer to @chal (a 401's WWW-Authenticate or a 407's
 * Proxy-Authenticate) on @req, for @t. */
int proxy_trunk_credentials(const struct trunk *t, osip_message_t *req, const osip_message_t *chal)
{
    bool proxy = chal->status_code == 407;
    const osip_www_authenticate_t *w =
        osip_list_get(proxy ? &chal->proxy_authenticates : &chal->www_authenticates, 0);
    char *uri = NULL;
    if (!w || osip_uri_to_str(req->req_uri, &uri) != 0)
        return SB_EINVAL;
    char cnonce[20], value[1024];
    snprintf(cnonce, sizeof(cnonce), "%016llx", (unsigned long long)proxy_random64());
    struct digest_client c = {.user = t->username,
                              .password = t->password,
                              .method = req->sip_method,
                              .uri = uri,
                              .cnonce = cnonce,
                              .nc = 1};
    int rc = digest_client_answer(w, &c, value, sizeof(value));
    osip_free(uri);
    if (rc != 0)
        return rc;
    sipmsg_mark_rewritten(req);
    rc = proxy ? osip_message_set_proxy_authorization(req, value)
               : osip_message_set_authorization(req, value);
    return rc == 0 ? 0 : SB_ENOMEM;
}

/* Sends the call to trunk tc->at's target tc->target as a new branch of
 * @ctx, answering @chal when given. Returns true when a branch went out. */
static bool send_to_trunk(struct proxy_context *ctx, const osip_message_t *chal)
{
    struct proxy *p = ctx->proxy;
    struct trunk_call *tc = ctx->trunk;
    const struct trunk *t = tc->trunks[tc->at];
    char number[TRUNK_NUMBER_MAX + 2];
    osip_message_t *req = NULL;
    struct proxy_target target = {.unsent_code = 503};
    int transport = SB_UDP;
    const struct sb_inbound *in = ctx->st ? txn_server_inbound(ctx->st) : NULL;
    if (!trunk_target(t, tc->target, &target.dest.peer, &transport))
        return false; /* not resolved (yet) */
    target.dest.transport = (uint8_t)transport;
    bool ok = in && trunk_normalise(t, tc->dialled, number, sizeof(number)) == 0 &&
              osip_message_clone(tc->fwd, &req) == 0 && trunk_ruri(t, number, req) == 0 &&
              assert_caller(t, tc->caller_id, req) == 0 &&
              sipmsg_set_cseq_number(req, sipmsg_cseq_number(tc->fwd) + ctx->cseq_shift) == 0 &&
              (!chal || proxy_trunk_credentials(t, req, chal) == 0) &&
              proxy_resolve(p, &target.dest, &in->local) == 0;
    if (ok) {
        proxy_stream_side(&target);
        ok = proxy_add_branches(ctx, ctx->st, req, &target, 1, tc->loop_hash) == 1;
    }
    osip_message_free(req);
    if (ok) {
        call_journal_trunk(p->calls, tc->fwd, t->name, true, tc->dialled, number);
        atomic_fetch_add(&((struct trunk *)t)->status.calls_out, chal ? 0 : 1);
        SB_INFO("call to %s out through trunk %s as %s%s", tc->dialled, t->name, number,
                chal ? " (with credentials)" : "");
    }
    return ok;
}

/* After trunk at's target failed: its next target (RFC 3263 §4.3: the
 * next SRV target), else the next trunk's first. Returns false when
 * nothing is left. */
static bool advance(struct trunk_call *tc)
{
    struct sb_addr addr;
    int transport;
    if (trunk_target(tc->trunks[tc->at], tc->target + 1, &addr, &transport)) {
        tc->target++;
    } else if (tc->at + 1 < tc->count) {
        tc->at++;
        tc->target = 0;
    } else {
        return false;
    }
    tc->authorized = false;
    return true;
}

/* --- out ----------------------------------------------------------------- */

bool proxy_route_trunk(struct proxy *p, struct server_txn *st, osip_message_t *fwd,
                       uint32_t loop_hash)
{
    const struct trunk_plan *plan = p->env.trunks;
    char dialled[TRUNK_NUMBER_MAX + 2];
    const struct trunk *trunks[TRUNK_MAX_PER_ROUTE];
    if (!plan || !plan->route_count || sipmsg_to_tag(fwd) ||
        trunk_dialled(fwd->req_uri->username, dialled, sizeof(dialled)) != 0)
        return false;
    size_t count = trunk_outbound(plan, dialled, trunks, TRUNK_MAX_PER_ROUTE);
    if (count == 0)
        return false;
    const struct trunk_route *route = trunk_route_of(plan, dialled);
    struct proxy_context *ctx = proxy_context_new(p, txn_server_request(st));
    struct trunk_call *tc = calloc(1, sizeof(*tc));
    bool ok =
        ctx && tc && sipmsg_max_forwards_take(fwd) >= 0 && osip_message_clone(fwd, &tc->fwd) == 0;
    if (ok) {
        drop_credentials(tc->fwd);
        memcpy(tc->trunks, trunks, sizeof(trunks));
        tc->count = count;
        tc->loop_hash = loop_hash;
        snprintf(tc->dialled, sizeof(tc->dialled), "%s", dialled);
        snprintf(tc->caller_id, sizeof(tc->caller_id), "%s", route->caller_id);
        ctx->trunk = tc;
        tc = NULL;
        ctx->st = st; /* send_to_trunk() reads it; published below */
        while (!(ok = send_to_trunk(ctx, NULL)) && advance(ctx->trunk))
            ;
        ctx->st = NULL;
    }
    proxy_trunk_call_free(tc);
    if (!ok) {
        if (ctx)
            proxy_context_free(ctx);
        txn_server_respond_code(st, 503, "No Trunk Available");
        return true;
    }
    proxy_context_publish(ctx, st);
    return true;
}

/* The in-dialog request again, with credentials and the next CSeq. */
static bool resend_in_dialog(struct proxy_context *ctx, const osip_message_t *chal)
{
    struct trunk_call *tc = ctx->trunk;
    osip_message_t *req = NULL;
    uint32_t cseq = sipmsg_cseq_number(tc->fwd) + ctx->cseq_shift - tc->base_shift;
    bool ok = osip_message_clone(tc->fwd, &req) == 0 && sipmsg_set_cseq_number(req, cseq) == 0 &&
              proxy_trunk_credentials(tc->trunks[0], req, chal) == 0 &&
              proxy_add_branches(ctx, ctx->st, req, &tc->dest, 1, tc->loop_hash) == 1;
    osip_message_free(req);
    if (ok)
        SB_INFO("trunk %s: %s in a call answered with credentials", tc->trunks[0]->name,
                tc->fwd->sip_method);
    return ok;
}

void proxy_trunk_in_dialog(struct proxy *p, struct server_txn *st, const osip_message_t *fwd,
                           const struct proxy_target *target, uint32_t loop_hash)
{
    struct proxy_context *ctx = txn_server_tu(st);
    if (!has_trunks(p) || !ctx || ctx->trunk || !sipmsg_to_tag(fwd))
        return;
    rcu_read_lock();
    const struct trunk *t = trunk_of_source(p->env.trunks, &target->dest.peer);
    rcu_read_unlock();
    if (!t || !t->password[0])
        return;
    struct trunk_call *tc = calloc(1, sizeof(*tc));
    if (!tc || osip_message_clone(fwd, &tc->fwd) != 0) {
        free(tc);
        return; /* a challenge then goes to the phone */
    }
    tc->in_dialog = true;
    tc->trunks[0] = t;
    tc->count = 1;
    tc->dest = *target;
    tc->loop_hash = loop_hash;
    tc->base_shift = ctx->cseq_shift;
    ctx->trunk = tc;
}

bool proxy_trunk_challenged(struct proxy_branch *b, int code, const osip_message_t *resp)
{
    struct proxy_context *ctx = b->ctx;
    struct trunk_call *tc = ctx->trunk;
    if (!tc || tc->relay || (code != 401 && code != 407) || !resp || tc->authorized ||
        ctx->cancelled || !ctx->st || txn_server_final_sent(ctx->st))
        return false;
    const struct trunk *t = tc->trunks[tc->at];
    if (!t->password[0])
        return false;
    tc->authorized = true;
    ctx->cseq_shift++; /* §22.2: the new request's CSeq is one higher */
    b->final_code = code;
    ctx->pending--;
    if (!(tc->in_dialog ? resend_in_dialog(ctx, resp) : send_to_trunk(ctx, resp))) {
        ctx->cseq_shift--;
        ctx->pending++;
        b->final_code = 0;
        return false; /* the challenge goes to the caller */
    }
    atomic_fetch_add(&((struct trunk *)t)->status.challenges, 1);
    return true;
}

/* §16.7 lets a proxy try more targets once a branch failed: a trunk that
 * timed out, failed or could not be reached hands the call to the next. */
static bool fails_over(int code)
{
    return code == 0 || code == 408 || code == 480 || (code >= 500 && code < 600);
}

void proxy_relay_failover(struct proxy *p, struct server_txn *st, const osip_message_t *fwd,
                          const struct trunk_targets *targets, uint32_t loop_hash)
{
    struct proxy_context *ctx = txn_server_tu(st);
    if (!ctx || ctx->trunk || targets->count < 2 || sipmsg_to_tag(fwd))
        return;
    struct trunk_call *tc = calloc(1, sizeof(*tc));
    if (!tc || osip_message_clone(fwd, &tc->fwd) != 0) {
        free(tc);
        return; /* the first server's answer goes to the caller */
    }
    tc->relay = true;
    tc->servers = *targets;
    tc->loop_hash = loop_hash;
    ctx->trunk = tc;
    (void)p;
}

/* The relayed request to DNS's next server that policy allows. */
static bool relay_next(struct proxy_context *ctx)
{
    struct trunk_call *tc = ctx->trunk;
    const struct sb_inbound *in = txn_server_inbound(ctx->st);
    while (++tc->target < tc->servers.count) {
        struct proxy_target t;
        if (proxy_dns_use(ctx->proxy, &tc->servers, tc->target, &in->local, &t) != 0 ||
            !proxy_target_allowed(ctx->proxy, in, &t))
            continue;
        osip_message_t *req = NULL;
        bool ok = osip_message_clone(tc->fwd, &req) == 0 &&
                  proxy_add_branches(ctx, ctx->st, req, &t, 1, tc->loop_hash) == 1;
        osip_message_free(req);
        if (ok) {
            SB_INFO("relay: %d from a server, trying its next (%zu of %zu)", ctx->best_code,
                    tc->target + 1, tc->servers.count);
            return true;
        }
    }
    return false;
}

bool proxy_trunk_stage_ended(struct proxy_context *ctx)
{
    struct trunk_call *tc = ctx->trunk;
    if (tc && tc->relay && !ctx->cancelled && !ctx->timed_out && ctx->st &&
        !txn_server_final_sent(ctx->st) && fails_over(ctx->best_code))
        return relay_next(ctx);
    if (!tc || tc->in_dialog || tc->relay || ctx->cancelled || ctx->timed_out || !ctx->st ||
        txn_server_final_sent(ctx->st))
        return false;
    while (fails_over(ctx->best_code)) {
        const struct trunk *failed = tc->trunks[tc->at];
        if (!advance(tc))
            return false;
        SB_WARN("trunk %s: %d for %s, trying %s%s", failed->name, ctx->best_code, tc->dialled,
                tc->trunks[tc->at]->name, tc->target ? " at its next address" : "");
        if (send_to_trunk(ctx, NULL))
            return true;
    }
    return false;
}

/* --- in -------------------------------------------------------------------- */

/* The trunk an out-of-dialog request comes in from: by its source, or
 * by the Request-URI our registration's Contact gave the carrier. */
const struct trunk *proxy_trunk_source(const struct proxy *p, const struct sb_inbound *in)
{
    const osip_message_t *req = in->msg;
    if (!has_trunks(p) || sipmsg_to_tag(req) || MSG_IS_ACK(req))
        return NULL;
    rcu_read_lock();
    const struct trunk *t = trunk_of_source(p->env.trunks, &in->src);
    rcu_read_unlock(); /* the plan lives as long as the process */
    if (!t && identity_is_local_uri(p->env.identity, req->req_uri))
        t = trunk_of_contact_user(p->env.trunks, req->req_uri->username);
    return t;
}

static int set_part(char **part, const char *value)
{
    char *copy = value ? osip_strdup(value) : NULL;
    if (value && !copy)
        return SB_ENOMEM;
    osip_free(*part);
    *part = copy;
    return 0;
}

/* @uri becomes @user at a host of ours: kept when it is one (our
 * address, as a registration's Contact names it), else our first domain
 * or the address the request came in on (an IP-authenticated carrier
 * may write the office's public address). */
static int set_local_target(const struct proxy *p, const struct sb_inbound *in, osip_uri_t *uri,
                            const char *user)
{
    if (set_part(&uri->username, user) != 0)
        return SB_ENOMEM;
    if (identity_is_local_uri(p->env.identity, uri))
        return 0;
    char host[64] = "";
    unsigned port = 0;
    const struct sb_config *cfg = p->env.config;
    if (cfg->domain_count)
        snprintf(host, sizeof(host), "%s", cfg->domains[0]);
    else
        port = sipmsg_addr_host(&in->local.addr, host, sizeof(host));
    char text[8];
    snprintf(text, sizeof(text), "%u", port);
    return set_part(&uri->host, host) == 0 && set_part(&uri->port, port ? text : NULL) == 0
               ? 0
               : SB_ENOMEM;
}

bool proxy_trunk_inbound(struct proxy *p, struct server_txn *st, const struct trunk *t)
{
    const struct sb_inbound *in = txn_server_inbound(st);
    osip_message_t *req = in->msg;
    if (MSG_IS_OPTIONS(req) &&
        (!req->req_uri->username || !strcmp(req->req_uri->username, t->username))) {
        proxy_respond_options(st); /* the carrier's keep-alive */
        return true;
    }
    /* the number: the Request-URI's, unless it is our Contact's user
     * (a registration-based carrier) and the To names it */
    const char *number = req->req_uri->username;
    if (t->reg && number && !strcmp(number, t->username) && req->to->url->username)
        number = req->to->url->username;
    const char *target = number ? trunk_inbound(p->env.trunks, t, number) : NULL;
    if (!target) {
        /* anyone can ring our Contact: logged at most once a second, the
         * number cut short */
        uint64_t more;
        if (sb_log_limiter_ready(&p->refusal_log, timer_wheel_now(p->env.wheel), &more))
            SB_WARN("trunk %s: call to %.40s, not one of our numbers (%llu more since the last "
                    "report)",
                    t->name, number ? number : "(none)", (unsigned long long)more);
        txn_server_respond_code(st, 404, NULL);
        return true;
    }
    /* into the dial plan as if dialled here */
    if (set_local_target(p, in, req->req_uri, target) != 0) {
        txn_server_respond_code(st, 500, NULL);
        return true;
    }
    call_journal_trunk(p->calls, req, t->name, false, number, NULL);
    atomic_fetch_add(&((struct trunk *)t)->status.calls_in, 1);
    SB_INFO("trunk %s: call to %s rings %s", t->name, number, target);
    return false; /* routed as any other request for our users */
}

/* Which sides of a call being record-routed are trunks (their advertise
 * names our address there): the callee of a call out, the caller of one
 * in (it came from a trunk's address). */
void proxy_trunk_sides(const struct proxy *p, const struct proxy_context *ctx,
                       const struct sb_inbound *in, struct proxy_rr_marks *marks)
{
    if (!has_trunks(p))
        return;
    if (ctx->trunk)
        marks->callee_trunk = ctx->trunk->trunks[ctx->trunk->at];
    rcu_read_lock();
    marks->caller_trunk = trunk_of_source(p->env.trunks, &in->src);
    rcu_read_unlock();
    if (marks->callee_trunk && !marks->callee_trunk->advertise_host[0])
        marks->callee_trunk = NULL;
    if (marks->caller_trunk && !marks->caller_trunk->advertise_host[0])
        marks->caller_trunk = NULL;
}
