/* Forwarding, RFC 3261 §16.5-16.6: a response context for a request,
 * one branch per target, the targets a user's registrations give.
 * See proxy_int.h. */
#include "proxy_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <osipparser2/osip_port.h>

#include "switchboard/error.h"
#include "switchboard/nat.h"
#include "switchboard/record_route.h"
#include "switchboard/register.h"
#include "switchboard/registrar.h"
#include "switchboard/sip_msg.h"

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
bool proxy_caller_behind_nat(const struct proxy *p, const struct sb_inbound *in)
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
struct proxy_context *proxy_context_new(struct proxy *p, const osip_message_t *req)
{
    struct proxy_context *ctx = calloc(1, sizeof(*ctx));
    if (!ctx)
        return NULL;
    ctx->proxy = p;
    ctx->invite = MSG_IS_INVITE(req);
    ctx->media = p->media_next; /* a relayed call's, else engine -1 */
    timer_init(&ctx->timer_c, proxy_on_timer_c, ctx);
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
    struct dialog_msg m = proxy_dialog_msg_of(req);
    return dialog_open(p->dialogs, &m, sipmsg_cseq_number(req), target) == 0;
}

/* Sends @fwd to each of @targets as a new branch of @ctx (§16.6).
 * Returns how many went out. */
size_t proxy_add_branches(struct proxy_context *ctx, struct server_txn *st, osip_message_t *fwd,
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
    bool record_route = proxy_wants_record_route(req);
    const struct sb_inbound *in = txn_server_inbound(st);
    struct flow_side caller =
        proxy_inbound_flow(in, record_route && proxy_caller_behind_nat(p, in));
    uint32_t instance = record_route && track_dialog(p, req) ? p->env.instance : 0;
    /* the same for every branch: worked out once */
    struct proxy_rr_marks marks = {.instance = instance,
                                   .media = proxy_media_name(p, ctx->media.engine),
                                   .cseq_shift = ctx->cseq_shift};
    if (record_route)
        proxy_trunk_sides(p, ctx, in, &marks);
    struct proxy_edit as_received; /* each branch: the bytes it came as, edited */
    proxy_edit_note(&as_received, in);
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
            if (!proxy_sign_peer_param(p, fwd))
                continue;
        }
        int pushed = record_route ? proxy_push_record_routes(p, fwd, in, t, &caller, &marks) : 0;
        if (record_route && pushed == 0)
            continue;
        struct proxy_branch *b = calloc(1, sizeof(*b));
        if (b && proxy_push_via(p, fwd, &t->dest, loop_hash,
                                p->branch_seed + ++p->branch_counter) == 0) {
            b->ctx = ctx;
            b->unsent_code = t->unsent_code;
            proxy_edit_arm(p, &as_received, fwd);
            int rc = txn_client_send(p->txn, fwd, &t->dest, b, &b->ct);
            proxy_edit_disarm(p);
            if (rc == 0) {
                ctx->branches[ctx->count++] = b;
                ctx->pending++;
                added++;
                b = NULL;
            }
            sipmsg_via_pop(fwd);
        }
        free(b);
        while (pushed-- > 0)
            proxy_pop_record_route(fwd);
    }
    return added;
}

/* Makes @ctx the response context of @st and starts Timer C (§16.8). */
void proxy_context_publish(struct proxy_context *ctx, struct server_txn *st)
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

void proxy_fork_request(struct proxy *p, struct server_txn *st, osip_message_t *fwd,
                        const struct proxy_target *targets, size_t count, uint32_t loop_hash)
{
    struct proxy_context *ctx = proxy_context_new(p, txn_server_request(st));
    if (!ctx || sipmsg_max_forwards_take(fwd) < 0 ||
        proxy_add_branches(ctx, st, fwd, targets, count, loop_hash) == 0) {
        if (ctx)
            proxy_context_free(ctx);
        txn_server_respond_code(st, 500, NULL);
        return;
    }
    proxy_context_publish(ctx, st);
}

/* A callee we open a connection to is a flow side too (its connection's
 * id is not known yet: 0), so in-dialog requests reuse that connection
 * whatever its Contact says. */
void proxy_stream_side(struct proxy_target *t)
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
    return proxy_resolve(p, &t->dest, NULL);
}

/* @t's destination from URI text @text (its host, port and transport),
 * resolved from @from. Returns 0 or a negative code. */
int proxy_uri_dest(struct proxy *p, const char *text, struct proxy_target *t,
                   const struct sb_local *from)
{
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
    proxy_stream_side(t);
    return proxy_resolve(p, &t->dest, from);
}

/* Where binding @b (of @aor) is reached: through the switchboard that
 * holds its connection when another one does (shared store); over its
 * connection while that lives (RFC 5626: the flow); a phone behind NAT
 * whose connection went is not reached at all (*gone set: never a new
 * connection to a NATed contact); a NAT mapping for one behind NAT over
 * UDP; else its Contact, over the transport the Contact asks for. Fills
 * *@t from scratch; returns 0 or a negative code. */
int proxy_binding_target(struct proxy *p, const struct registrar_binding *b, const char *aor,
                         struct proxy_target *t, bool *gone)
{
    memset(t, 0, sizeof(*t));
    if (b->node && b->transport != SB_UDP && peer_target(p, b, aor, t) == 0)
        return 0;
    t->ruri = b->uri;
    t->dest = (struct sb_dest){.transport = b->transport, .local = b->local, .fd = -1};
    if (b->transport != SB_UDP && b->conn && proxy_conn_alive(p, b->conn)) {
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
        return proxy_resolve(p, &t->dest, NULL);
    }
    return proxy_uri_dest(p, b->uri, t, NULL);
}

/* Is @t a second branch to a switchboard one of @targets[0..n) goes to? */
bool proxy_peer_repeated(const struct proxy_target *targets, size_t n, const struct proxy_target *t)
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
size_t proxy_registered_targets(struct proxy *p, const osip_uri_t *ruri, bool peer_only,
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
        if ((peer_only && b->node) ||
            proxy_binding_target(p, b, aor, &(*targets)[n], flows_gone) != 0)
            continue;
        if (!proxy_peer_repeated(*targets, n, &(*targets)[n]))
            n++;
    }
    return n;
}
