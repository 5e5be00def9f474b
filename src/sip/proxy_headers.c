/* Header helpers of the proxy core: where a message goes, our Via and
 * Record-Route (RFC 3261 §16.6), the Routes naming us (§16.4), the
 * signatures that make them ours.
 * See proxy_int.h. */
#include "proxy_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <osipparser2/osip_port.h>

#include "switchboard/error.h"
#include "switchboard/identity.h"
#include "switchboard/record_route.h"
#include "switchboard/secret.h"
#include "switchboard/sip_msg.h"

/* --- small helpers ------------------------------------------------------- */

void proxy_send_to(struct proxy *p, const struct sb_dest *dest, const char *data, size_t len)
{
    p->env.net->send(p->env.net_ctx, dest, data, len);
}

/* proxy_net_ops.resolve */
int proxy_resolve(const struct proxy *p, struct sb_dest *dest, const struct sb_local *from)
{
    return p->env.net->resolve(p->env.net_ctx, dest, from);
}

/* proxy_net_ops.conn_alive */
bool proxy_conn_alive(const struct proxy *p, uint64_t conn)
{
    return p->env.net->conn_alive(p->env.net_ctx, conn);
}

/* Where a response to @in goes without a transaction: over its connection,
 * or by its top Via (RFC 3261 §18.2.2). */
int proxy_reply_dest(const struct sb_inbound *in, struct sb_dest *dest)
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
struct flow_side proxy_inbound_flow(const struct sb_inbound *in, bool nat)
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

unsigned proxy_via_port(const osip_via_t *via)
{
    return via->port ? (unsigned)atoi(via->port) : 5060;
}

bool proxy_via_is_ours(const struct proxy *p, const osip_via_t *via)
{
    return via && identity_is_local(p->env.identity, via->host, proxy_via_port(via));
}

static void local_host(const struct sb_local *local, char *buf, size_t size, unsigned *port)
{
    *port = sipmsg_addr_host(&local->addr, buf, size);
}

/* RFC 3261 §16.3 step 4: our Via with the same loop hash means the very
 * same request came back. */
bool proxy_loop_detected(const struct proxy *p, const osip_message_t *req, uint32_t loop_hash)
{
    osip_via_t *via;
    for (int i = 0; (via = osip_list_get(&req->vias, i)) != NULL; i++) {
        uint32_t seen;
        if (proxy_via_is_ours(p, via) &&
            sipmsg_branch_loop_hash(sipmsg_via_param(via, "branch"), &seen) == 0 &&
            seen == loop_hash)
            return true;
    }
    return false;
}

struct dialog_msg proxy_dialog_msg_of(const osip_message_t *m)
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
bool proxy_our_signature(const struct proxy *p, const osip_message_t *req, const osip_uri_t *uri,
                         const osip_uri_t *target, bool *from_caller)
{
    char where[300];
    record_route_target(target, where, sizeof(where));
    if (signed_for(p, req, uri, where, from_caller))
        return true;
    if (!p->dialogs || record_route_instance(uri) != p->env.instance)
        return false;
    struct dialog_msg m = proxy_dialog_msg_of(req);
    const char *was = dialog_signed_for(p->dialogs, &m);
    return was && strcmp(was, where) != 0 && signed_for(p, req, uri, was, from_caller);
}

/* Where @req goes once the Routes naming us are gone: the last Route when
 * a strict router put our URI in the Request-URI (§16.4), else its
 * Request-URI. */
const osip_uri_t *proxy_remote_target(const osip_message_t *req, bool strict)
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
    if (!proxy_our_signature(p, req, uri, target, &from_caller)) {
        info->forged = true;
        return;
    }
    info->signed_route = true;
    info->from_caller = from_caller;
    info->instance = record_route_instance(uri);
    const char *media = record_route_media(uri);
    if (media && !info->media[0] && strlen(media) < sizeof(info->media))
        memcpy(info->media, media, strlen(media) + 1);
    if (!info->cseq_shift)
        info->cseq_shift = record_route_cseq_shift(uri);
    struct route_flow *flow = &info->flow;
    if (!flow->present && uri->username) {
        flow->present = flow_token_parse(uri->username, &flow->a, &flow->b) == 0;
        flow->from_caller = from_caller;
    }
}

/* §16.4: did a strict router put our Record-Route URI (ours, ;lr, signed
 * or not: note_route judges) into the Request-URI? Then the real target is
 * the last Route. */
bool proxy_strict_routed_to_us(const struct proxy *p, const osip_message_t *req)
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
void proxy_route_preprocess(const struct proxy *p, osip_message_t *req, struct route_info *info)
{
    memset(info, 0, sizeof(*info));
    if (proxy_strict_routed_to_us(p, req)) {
        note_route(p, req, req->req_uri, proxy_remote_target(req, true), info);
        int last = osip_list_size(&req->routes) - 1;
        osip_route_t *route = osip_list_get(&req->routes, last);
        osip_list_remove(&req->routes, last);
        sipmsg_mark_rewritten(req); /* a Route taken from the end */
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
static int push_record_route(struct proxy *p, osip_message_t *req, int transport,
                             const struct sb_local *local, const struct flow_side *caller,
                             const struct flow_side *callee, const struct proxy_rr_marks *marks,
                             const struct trunk *as)
{
    char host[64], text[400], call_id[512], target[300];
    unsigned port;
    local_host(local, host, sizeof(host), &port);
    if (as && as->advertise_host[0]) { /* behind NAT: what the carrier can reach */
        snprintf(host, sizeof(host), "%s", as->advertise_host);
        port = as->advertise_port;
    }
    /* the callee keeps this Route: it leads to the caller's Contact */
    osip_contact_t *contact = osip_list_get(&req->contacts, 0);
    record_route_target(contact ? contact->url : NULL, target, sizeof(target));
    struct record_route_binding b = {.call_id = call_id,
                                     .tag = sipmsg_from_tag(req),
                                     .target = target,
                                     .issued = (uint64_t)time(NULL),
                                     .instance = marks->instance,
                                     .media = marks->media,
                                     .cseq_shift = marks->cseq_shift};
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
    proxy_edit_pushed(p, rr, text);
    return 0;
}

/* Dialog-creating requests are record-routed so that every in-dialog
 * request of the call passes through us (§16.6 step 4). */
bool proxy_wants_record_route(const osip_message_t *req)
{
    if (sipmsg_to_tag(req))
        return false;
    return MSG_IS_INVITE(req) || MSG_IS_SUBSCRIBE(req) || MSG_IS_REFER(req) || MSG_IS_NOTIFY(req);
}

void proxy_pop_record_route(osip_message_t *req)
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
 * with it), each with @marks.
 * Returns how many were pushed (0 on error). */
int proxy_push_record_routes(struct proxy *p, osip_message_t *req, const struct sb_inbound *in,
                             const struct proxy_target *t, const struct flow_side *caller,
                             const struct proxy_rr_marks *marks)
{
    const struct sb_local *out = &t->dest.local;
    bool same = in->transport == t->dest.transport && in->local.listen_index == out->listen_index &&
                flow_addr_equal(&in->local.addr, &out->addr) && !marks->caller_trunk &&
                !marks->callee_trunk;
    if (same)
        return push_record_route(p, req, in->transport, out, caller, &t->flow, marks, NULL) == 0
                   ? 1
                   : 0;
    if (push_record_route(p, req, in->transport, &in->local, caller, &t->flow, marks,
                          marks->caller_trunk) != 0)
        return 0;
    if (push_record_route(p, req, t->dest.transport, out, caller, &t->flow, marks,
                          marks->callee_trunk) != 0) {
        proxy_pop_record_route(req);
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

int proxy_push_via(struct proxy *p, osip_message_t *req, const struct sb_dest *dest,
                   uint32_t loop_hash, uint64_t unique)
{
    char host[64], branch[96], mac[VIA_MAC_TEXT], text[PROXY_PUSHED_TEXT];
    unsigned port;
    local_host(&dest->local, host, sizeof(host), &port);
    sipmsg_branch_format(branch, sizeof(branch) - VIA_MAC_TEXT, loop_hash, unique);
    const osip_via_t *below = sipmsg_top_via(req);
    if (!below)
        return SB_EMALFORMED;
    via_mac(p, branch, below, mac);
    size_t len = strlen(branch);
    branch[len] = '.';
    memcpy(branch + len + 1, mac, VIA_MAC_TEXT);
    osip_via_t *via;
    if (sipmsg_via_format(dest->transport, host, port, branch, text, sizeof(text)) < 0)
        return SB_EMALFORMED;
    int rc = sipmsg_via_push_text(req, text, &via);
    if (rc == 0)
        proxy_edit_pushed(p, via, text);
    return rc;
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
bool proxy_peer_param_signed(const struct proxy *p, const osip_message_t *req,
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
bool proxy_sign_peer_param(const struct proxy *p, osip_message_t *req)
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
bool proxy_via_verified(const struct proxy *p, const osip_message_t *resp)
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

/* --- hints to answer without ringing ----------------------------------------- */

/* Does Call-Info or Alert-Info @h ask the phone to answer by itself
 * (answer-after=, Polycom's and Snom's auto-answer and intercom forms)? */
static bool asks_auto_answer(const osip_call_info_t *h)
{
    char *s = NULL;
    if (osip_call_info_to_str(h, &s) != 0 || !s)
        return false;
    bool yes = strcasestr(s, "answer-after") || strcasestr(s, "auto-answer") ||
               strcasestr(s, "autoanswer") || strcasestr(s, "intercom");
    osip_free(s);
    return yes;
}

static size_t drop_auto_answer(osip_list_t *list)
{
    size_t n = 0;
    for (int pos = 0; pos < osip_list_size(list);) {
        osip_call_info_t *h = osip_list_get(list, pos);
        if (!asks_auto_answer(h)) {
            pos++;
            continue;
        }
        osip_list_remove(list, pos);
        osip_call_info_free(h);
        n++;
    }
    return n;
}

size_t proxy_strip_auto_answer(osip_message_t *req)
{
    static const char *const names[] = {"answer-mode", "priv-answer-mode"}; /* RFC 5373 */
    size_t n = drop_auto_answer(&req->call_infos) + drop_auto_answer(&req->alert_infos);
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        osip_header_t *h;
        int pos;
        while ((pos = osip_message_header_get_byname(req, names[i], 0, &h)) >= 0) {
            osip_list_remove(&req->headers, pos);
            osip_header_free(h);
            n++;
        }
    }
    if (n)
        sipmsg_mark_rewritten(req);
    return n;
}
