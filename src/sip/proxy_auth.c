/* What the proxy answers itself: OPTIONS, overload, unsupported
 * extensions (RFC 3261 §8.2.2), authorization (§22) and REGISTER (§10).
 * See proxy_int.h. */
#include "proxy_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <osipparser2/osip_port.h>

#include "switchboard/auth.h"
#include "switchboard/fixbuf.h"
#include "switchboard/identity.h"
#include "switchboard/ingress.h"
#include "switchboard/nat.h"
#include "switchboard/rate_limit.h"
#include "switchboard/reasons.h"
#include "switchboard/register.h"
#include "switchboard/route_policy.h"
#include "switchboard/sip_msg.h"

/* --- responding ----------------------------------------------------------- */

void proxy_respond_options(struct server_txn *st)
{
    osip_message_t *resp;
    if (!txn_server_request(st) || sipmsg_response_create(txn_server_request(st), 200, NULL,
                                                          txn_server_local_tag(st), &resp) != 0)
        return;
    osip_message_set_header(resp, "Allow", ALLOW_METHODS);
    osip_message_set_header(resp, "Accept", "application/sdp");
    txn_server_respond(st, resp);
}

void proxy_respond_unsupported(struct server_txn *st, const char *extensions)
{
    char line[512];
    struct fixbuf b;
    fixbuf_init(&b, line, sizeof(line));
    fixbuf_puts(&b, "Unsupported: ");
    fixbuf_puts(&b, extensions);
    fixbuf_puts(&b, "\r\n");
    if (fixbuf_end(&b) >= 0 && !strpbrk(extensions, "\r\n")) {
        txn_server_respond_extra(st, 420, NULL, line);
        return;
    }
    osip_message_t *resp; /* long, or folded: libosip2 writes it */
    if (sipmsg_response_create(txn_server_request(st), 420, NULL, txn_server_local_tag(st),
                               &resp) != 0)
        return;
    osip_message_set_header(resp, "Unsupported", extensions);
    txn_server_respond(st, resp);
}

/* Answers @in @code with no transaction, back the way it came: @reason
 * unless the reason table names the code (the standard phrase without
 * either), @tag on a To without one, @extra's header lines after the
 * CSeq. Written from the request's lines (§8.2.6), else built from its
 * parse. */
static void respond_stateless(struct proxy *p, const struct sb_inbound *in, int code,
                              const char *reason, const char *tag, const char *extra)
{
    struct sb_dest dest;
    char phrase[128];
    if (reasons_lookup(p->env.reasons, code, phrase, sizeof(phrase)) == 0)
        reason = phrase;
    else if (!reason)
        reason = osip_message_get_reason(code);
    char *text = NULL;
    size_t len;
    if (proxy_reply_dest(in, &dest) == 0 &&
        (ingress_reply(in, code, reason, tag, extra, &text, &len) == 0 ||
         sipmsg_response_text(in->msg, code, reason, tag, extra, &text, &len) == 0))
        proxy_send_to(p, &dest, text, len);
    osip_free(text);
}

/* Without a transaction to spare: answer 503 and forget (§21.5.4). */
void proxy_respond_overloaded(struct proxy *p, const struct sb_inbound *in)
{
    sb_count(p->env.counters, SB_CNT_OVERLOAD);
    uint64_t more;
    if (sb_log_limiter_ready(&p->overload_log, timer_wheel_now(p->env.wheel), &more))
        SB_WARN("transaction limit (%u) reached: answering 503 (%llu more since the last report)",
                p->env.config->max_transactions, (unsigned long long)more);
    respond_stateless(p, in, 503, NULL, "sb503", "Retry-After: 5\r\n");
}

/* --- authorization (RFC 3261 §22) ------------------------------------------- */

/* Counts a refusal and logs it, at most once a second. */
void proxy_note_refusal(struct proxy *p, enum sb_counter why, const char *what,
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

/* What a request whose credentials did not pass is answered. */
struct auth_answer {
    int code;
    const char *reason;   /* NULL: the standard phrase */
    char challenge[1024]; /* header lines (auth_challenge()), or "" */
};

/* The answer to a request whose credentials did not pass (@r), counted
 * and logged: a challenge (401, or 407 when @proxy) in the realm @user
 * answers in (auth_challenge), 403 or 400. False when the challenge did
 * not fit. */
static bool auth_answer(struct proxy *p, const struct sb_inbound *in, enum auth_result r,
                        bool proxy, const char *user, struct auth_answer *a)
{
    const osip_message_t *req = in->msg;
    int code = proxy ? 407 : 401;
    const char *reason = NULL;
    bool stale = r == AUTH_STALE;
    switch (r) {
    case AUTH_OK:
        return false;
    case AUTH_NO_CREDENTIALS:
    case AUTH_STALE:
        sb_count(p->env.counters, SB_CNT_AUTH_CHALLENGED);
        break;
    case AUTH_BAD_CREDENTIALS:
        proxy_note_refusal(p, SB_CNT_AUTH_FAILED, "wrong password or unknown user", req, &in->src);
        break;
    case AUTH_WRONG_USER:
        code = 403;
        reason = "Forbidden (credentials of another user)";
        proxy_note_refusal(p, SB_CNT_AUTH_WRONG_USER, "credentials of another user", req, &in->src);
        break;
    case AUTH_REPLAY:
        code = 403;
        reason = "Forbidden (credentials replayed)";
        proxy_note_refusal(p, SB_CNT_AUTH_REPLAYED, "credentials replayed", req, &in->src);
        break;
    case AUTH_MALFORMED:
        code = 400;
        reason = "Bad Request (credentials)";
        proxy_note_refusal(p, SB_CNT_AUTH_MALFORMED, "malformed credentials", req, &in->src);
        break;
    case AUTH_THROTTLED:
        code = 403;
        reason = "Forbidden (too many failed attempts)";
        proxy_note_refusal(p, SB_CNT_AUTH_THROTTLED, "too many failed attempts from there", req,
                           &in->src);
        break;
    }
    a->code = code;
    a->reason = reason;
    struct fixbuf b;
    fixbuf_init(&b, a->challenge, sizeof(a->challenge));
    if (code == 401 || code == 407)
        auth_challenge(p->env.auth, &b, proxy, stale, user);
    return fixbuf_end(&b) >= 0;
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
    if (proxy_strict_routed_to_us(p, req))
        return proxy_our_signature(p, req, req->req_uri, proxy_remote_target(req, true), NULL);
    osip_route_t *top = osip_list_get(&req->routes, 0);
    return top && identity_is_local_uri(p->env.identity, top->url) &&
           proxy_our_signature(p, req, top->url, req->req_uri, NULL);
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
bool proxy_authorize(struct proxy *p, struct server_txn *st)
{
    const struct sb_inbound *in = txn_server_inbound(st);
    const osip_message_t *req = in->msg;
    if (auth_mode(p->env.auth) != AUTH_MODE_ALL ||
        (!req->req_uri->username && identity_is_local_uri(p->env.identity, req->req_uri)) ||
        follows_our_route(p, req) || proxy_peer_param_signed(p, req, req->req_uri))
        return true;
    char user[256];
    bool named = auth_user_key(p, req->from->url, user, sizeof(user));
    enum auth_result r = auth_check(p->env.auth, req, true, named ? user : NULL, &in->src,
                                    in->transport != SB_UDP, NULL);
    if (r == AUTH_OK)
        return true;
    struct auth_answer a;
    bool answer = auth_answer(p, in, r, true, named ? user : NULL, &a);
    bool attempt = r != AUTH_NO_CREDENTIALS && r != AUTH_STALE &&
                   osip_list_size(&req->proxy_authorizations) > 0;
    if (attempt && MSG_IS_INVITE(req))
        call_journal_request(p->calls, req, call_journal_now());
    p->local_hint = attempt ? CALL_END_REFUSED : CALL_END_LOCAL;
    if (answer)
        txn_server_respond_extra(st, a.code, a.reason, a.challenge);
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
    struct auth_answer a;
    if (!auth_answer(p, in, r, false, named ? user : NULL, &a) ||
        txn_server_respond_extra(st, a.code, a.reason, a.challenge) != 0)
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
            proxy_note_refusal(p, SB_CNT_FORBIDDEN_TARGET, what, in->msg, &in->src);
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
bool proxy_register_rate_ok(struct proxy *p, const struct sb_inbound *in)
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
    proxy_note_refusal(p, SB_CNT_REGISTER_DOMAIN, "a REGISTER for a domain not served here",
                       in->msg, &in->src);
    return false;
}

/* REGISTER for one of our domains, in its server transaction @st: a
 * retransmission is answered from the transaction (§17.2.2), never
 * authorized or applied again, so a copied request (Via branch and all)
 * gets no second pass through digest's replay check. The To tag is the
 * transaction's. */
void proxy_handle_register(struct proxy *p, struct server_txn *st)
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
void proxy_refuse_register_rate(struct proxy *p, const struct sb_inbound *in)
{
    char id[512], tag[24];
    if (sipmsg_call_id(in->msg, id, sizeof(id)) != 0)
        id[0] = '\0';
    uint64_t h = sb_hash(id, strlen(id)) ^ sipmsg_cseq_number(in->msg);
    snprintf(tag, sizeof(tag), "sb%016llx", (unsigned long long)h);
    respond_stateless(p, in, 503, "Too many REGISTERs from this address", tag,
                      "Retry-After: 2\r\n");
}

bool proxy_from_our_user(const struct proxy *p, const osip_message_t *msg)
{
    return msg->from && msg->from->url && msg->from->url->username &&
           identity_is_local_uri(p->env.identity, msg->from->url);
}
