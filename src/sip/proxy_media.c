/* The media relay's points in a call (media.h): a request, response or
 * ACK whose SDP the engine must rewrite is held, its ng request sent, and
 * the worker carries on; the engine's answer (or the give-up) resumes it
 * from the worker's loop. No SIP thread ever waits on an engine.
 *
 * A parked request (an offer): PARKED --engine's SDP--> routed as before
 *   PARKED --no answer--> routed unrelayed (continue) or 503 (refuse)
 *   PARKED --CANCEL--> 487 once the engine answered; its session deleted
 * Held responses (answers): one at a time, oldest first, each sent
 * upstream with the engine's SDP (or its own when the engine fails).
 * See proxy_int.h. */
#include "proxy_int.h"

#include <stdlib.h>
#include <string.h>

#include "switchboard/buf.h"
#include "switchboard/dialplan.h"
#include "switchboard/error.h"
#include "switchboard/register.h"
#include "switchboard/registrar.h"
#include "switchboard/route_policy.h"
#include "switchboard/sip_msg.h"

/* An ACK or a stray 2xx held while the engine rewrites its SDP. */
struct media_stateless {
    struct media_stateless *next, **pprev;
    struct proxy *p;
    struct sb_inbound *in;
    struct sb_dest dest;
    uint64_t id;
};

const char *proxy_media_name(const struct proxy *p, int engine)
{
    if (engine < 0 || !p->env.media)
        return NULL;
    return p->env.media->name(p->env.media_ctx, (unsigned)engine);
}

static struct media_event event_of(const osip_message_t *m, bool request_sdp, bool in_dialog)
{
    struct media_event e = {.sdp = media_sdp(m) != NULL, .request_sdp = request_sdp};
    if (MSG_IS_REQUEST(m)) {
        e.method = m->sip_method;
        e.in_dialog = sipmsg_to_tag(m) != NULL;
    } else {
        e.method = m->cseq ? m->cseq->method : NULL;
        e.status = m->status_code;
        e.in_dialog = in_dialog;
    }
    return e;
}

static bool ng_ok(int rc, const struct ng_reply *r)
{
    return rc == 0 && r && r->result == NG_OK;
}

/* Sends @body to @engine; counted either way. */
static int ng_send(struct proxy *p, int engine, const struct sb_buf *body, enum ng_pace pace,
                   ng_done_fn done, void *arg, uint64_t *id)
{
    sb_count(p->env.counters, SB_CNT_MEDIA_NG_REQUESTS);
    int rc = body->failed ? SB_ENOMEM
                          : p->env.media->send(p->env.media_ctx, (unsigned)engine, body, pace, done,
                                               arg, id);
    if (rc != 0)
        sb_count(p->env.counters, SB_CNT_MEDIA_NG_FAILURES);
    return rc;
}

/* Counts and logs (at most once a second) an engine that did not help. */
static void note_failure(struct proxy *p, const char *what, int rc, const struct ng_reply *r)
{
    sb_count(p->env.counters, SB_CNT_MEDIA_NG_FAILURES);
    uint64_t suppressed;
    if (!sb_log_limiter_ready(&p->media_log, timer_wheel_now(p->env.wheel), &suppressed))
        return;
    if (rc != 0)
        SB_WARN("media: rtpengine gave no answer to %s (%s)", what, sb_strerror(rc));
    else
        SB_WARN("media: rtpengine refused %s: %.*s", what, r && r->reason ? (int)r->reason_len : 0,
                r && r->reason ? r->reason : "");
}

/* The ng offer or answer for @m's SDP into @b (from where @from says,
 * or NULL). Returns 0 or SB_EMALFORMED (no SDP, Call-ID or tag). */
static int build_sdp_command(struct sb_buf *b, const osip_message_t *m, enum media_op op,
                             bool swapped, const struct sb_addr *from, enum media_profile profile)
{
    char call_id[512];
    osip_body_t *sdp = media_sdp(m);
    const char *from_tag = sipmsg_from_tag(m), *to_tag = sipmsg_to_tag(m);
    if (swapped) {
        const char *t = from_tag;
        from_tag = to_tag;
        to_tag = t;
    }
    if (!sdp || !from_tag || sipmsg_call_id(m, call_id, sizeof(call_id)) != 0)
        return SB_EMALFORMED;
    struct media_ng_args a = {.call_id = call_id,
                              .from_tag = from_tag,
                              .to_tag = to_tag,
                              .sdp = sdp->body,
                              .sdp_len = sdp->length,
                              .received = from,
                              .profile = profile};
    media_ng_offer_answer(b, op, &a);
    return 0;
}

/* A delete on its way: the journal's line of the call waits for it. */
struct media_delete {
    struct proxy *p;
    char call_id[];
};

static void on_deleted(void *arg, int rc, const struct ng_reply *reply)
{
    struct media_delete *d = arg;
    bool ok = ng_ok(rc, reply);
    if (!ok)
        note_failure(d->p, "a delete", rc, reply);
    call_journal_media(d->p->calls, d->call_id, ok ? reply : NULL);
    free(d);
}

/* Deletes @m's call at @engine, not waiting: named by its caller's tag
 * @caller_tag, the engine drops every branch (callee) with it and says
 * what it relayed. */
static void delete_call(struct proxy *p, int engine, const osip_message_t *m,
                        const char *caller_tag)
{
    char call_id[512];
    if (engine < 0 || sipmsg_call_id(m, call_id, sizeof(call_id)) != 0)
        return;
    size_t len = strlen(call_id) + 1;
    struct media_delete *d = malloc(sizeof(*d) + len);
    if (!d)
        return;
    d->p = p;
    memcpy(d->call_id, call_id, len);
    struct sb_buf b = {0};
    media_ng_delete(&b, call_id, caller_tag);
    uint64_t id;
    if (ng_send(p, engine, &b, NG_UNHURRIED, on_deleted, d, &id) != 0) {
        call_journal_media(p->calls, call_id, NULL);
        free(d);
    }
    sb_buf_free(&b);
}

/* --- a new call: relayed or not -------------------------------------- */

typedef bool (*binding_test_fn)(const struct registrar_binding *b);

/* Does a binding of @aor pass @test? */
static bool aor_any(struct proxy *p, const char *aor, binding_test_fn test)
{
    struct registrar_set *set;
    if (registrar_lookup(p->env.registrar, aor, timer_wheel_now(p->env.wheel), &set) != 0)
        return false;
    bool any = false;
    for (size_t i = 0; i < set->count && !any; i++)
        any = test(&set->bindings[i]);
    registrar_set_free(set);
    return any;
}

/* The registrar reaches it at its source: it is behind NAT. */
static bool binding_behind_nat(const struct registrar_binding *b)
{
    return b->use_source;
}

/* It registered over a WebSocket: a browser. */
static bool binding_on_ws(const struct registrar_binding *b)
{
    return sb_transport_is_ws(b->transport);
}

/* Does a callee of a call to @ruri pass @test: the user it names, or one
 * the office's dial plan rings first for it (a ring group's members, an
 * extension's user)? */
static bool callee_any(struct proxy *p, const osip_uri_t *ruri, binding_test_fn test)
{
    char aors[DIALPLAN_MAX_MEMBERS][320];
    size_t n = proxy_office_first_aors(p, ruri, aors, DIALPLAN_MAX_MEMBERS);
    for (size_t i = 0; i < n; i++)
        if (aor_any(p, aors[i], test))
            return true;
    char aor[256];
    return ruri && ruri->username &&
           register_aor_key(ruri, p->env.config->use_domain, aor, sizeof(aor)) == 0 &&
           aor_any(p, aor, test);
}

/* Which ends of @fwd are browsers: its sender by the transport it came
 * over; its recipient by its flow in our Route (in a call) or by the
 * bindings the Request-URI rings first (a new call). */
static void browsers_of(struct proxy *p, const struct sb_inbound *in, const osip_message_t *fwd,
                        const struct route_info *info, struct proxy_media *m)
{
    m->sender_ws = sb_transport_is_ws(in->transport);
    m->target_ws = false;
    if (!p->browsers)
        return; /* no ws: listener here: no browser to look up */
    if (!sipmsg_to_tag(fwd)) {
        m->target_ws = callee_any(p, fwd->req_uri, binding_on_ws);
        return;
    }
    const struct flow_side *to = info->flow.from_caller ? &info->flow.b : &info->flow.a;
    m->target_ws = info->flow.present && to->present && sb_transport_is_ws(to->transport);
}

/* A browser's call, whatever [media] relay says (its ICE, DTLS-SRTP and
 * rtcp-mux must meet what phones speak); else relay = always; or nat,
 * and the caller shows NAT (its Via or Contact, or an SDP address that
 * is not where it sends from), or the callee registered from behind one. */
static bool wants_relay(struct proxy *p, struct server_txn *st, const osip_message_t *fwd,
                        int verdict, const struct proxy_media *ends)
{
    int mode = p->env.config->media_relay;
    if (mode == MEDIA_RELAY_ALWAYS || ends->sender_ws || ends->target_ws)
        return true;
    if (mode != MEDIA_RELAY_NAT)
        return false;
    const struct sb_inbound *in = txn_server_inbound(st);
    osip_body_t *sdp = media_sdp(fwd);
    if (proxy_caller_behind_nat(p, in) ||
        (sdp && media_sdp_behind_nat(sdp->body, sdp->length, &in->src)))
        return true;
    return verdict == ROUTE_LOCAL && callee_any(p, fwd->req_uri, binding_behind_nat);
}

#define ENGINE_NONE (-1) /* not relayed */
#define ENGINE_DOWN (-2) /* to be relayed, but no engine answers */

static int call_engine(struct proxy *p, struct server_txn *st, const osip_message_t *fwd,
                       const struct route_info *info, int verdict, const struct proxy_media *ends)
{
    if (sipmsg_to_tag(fwd)) /* in a call: the engine our Route names, if any */
        return info->signed_route && info->media[0]
                   ? p->env.media->find(p->env.media_ctx, info->media)
                   : ENGINE_NONE;
    if (!wants_relay(p, st, fwd, verdict, ends))
        return ENGINE_NONE;
    char call_id[512];
    if (sipmsg_call_id(fwd, call_id, sizeof(call_id)) != 0)
        return ENGINE_NONE;
    int e = p->env.media->pick(p->env.media_ctx, call_id, strlen(call_id));
    return e >= 0 ? e : ENGINE_DOWN;
}

/* No engine for a call that wants one: [media] on_failure. Returns true
 * when the call was refused (503) and @fwd freed. */
static bool unrelayed(struct proxy *p, struct server_txn *st, osip_message_t *fwd)
{
    if (p->env.config->media_on_failure == MEDIA_FAIL_REFUSE) {
        sb_count(p->env.counters, SB_CNT_MEDIA_REFUSED);
        txn_server_respond_code(st, 503, "No Media Relay");
        osip_message_free(fwd);
        return true;
    }
    sb_count(p->env.counters, SB_CNT_MEDIA_UNRELAYED);
    return false;
}

/* --- a request's offer ----------------------------------------------- */

/* A new call is relayed by @engine: counted, and in its journal line. */
static void note_relayed(struct proxy *p, const osip_message_t *invite, int engine)
{
    sb_count(p->env.counters, SB_CNT_MEDIA_RELAYED);
    call_journal_relayed(p->calls, invite, proxy_media_name(p, engine));
}

static void park_free(struct media_park *park)
{
    if (!park)
        return;
    osip_message_free(park->fwd);
    free(park);
}

/* The engine answered (or not) @ctx's parked offer: route it as decided,
 * with the engine's SDP. */
static void on_offer(void *arg, int rc, const struct ng_reply *reply)
{
    struct proxy_context *ctx = arg;
    struct proxy *p = ctx->proxy;
    struct server_txn *st = ctx->st; /* alive: else ctx and this request were gone */
    struct media_park *park = ctx->park;
    ctx->park = NULL;
    ctx->media_waiting = false;
    bool ok = ng_ok(rc, reply) && reply->sdp &&
              media_sdp_replace(park->fwd, reply->sdp, reply->sdp_len) == 0;
    if (!ok) {
        note_failure(p, "an offer", rc, reply);
        ctx->media.engine = ENGINE_NONE; /* nothing to delete */
    }
    if (ctx->cancelled) { /* the caller gave up meanwhile (§9.2) */
        txn_server_respond_code(st, 487, NULL);
        park_free(park);
        return;
    }
    bool initial = !sipmsg_to_tag(park->fwd);
    struct proxy_media media = ctx->media;
    if (!ok && initial && unrelayed(p, st, park->fwd)) {
        free(park);
        return;
    }
    if (ok && initial)
        note_relayed(p, park->fwd, media.engine);
    /* the holding context goes; routing makes the real one */
    txn_server_set_tu(st, NULL);
    ctx->st = NULL;
    proxy_context_free(ctx);
    p->media_next = media;
    proxy_route_decided(p, st, park->fwd, &park->info, park->verdict, park->loop_hash);
    p->media_next.engine = ENGINE_NONE;
    free(park);
}

/* Holds @fwd in a context of its own while @engine rewrites its offer.
 * Returns false when the offer could not even be sent. */
static bool park(struct proxy *p, struct server_txn *st, osip_message_t *fwd,
                 const struct route_info *info, int verdict, uint32_t loop_hash,
                 const struct proxy_media *media)
{
    struct proxy_context *ctx = proxy_context_new(p, txn_server_request(st));
    struct media_park *pk = calloc(1, sizeof(*pk));
    struct sb_buf b = {0};
    int engine = media->engine;
    enum media_profile profile = media_profile_for(media->target_ws, media->sender_ws);
    bool sent = ctx && pk &&
                build_sdp_command(&b, fwd, MEDIA_OFFER, false, &txn_server_inbound(st)->src,
                                  profile) == 0 &&
                ng_send(p, engine, &b, NG_PROMPT, on_offer, ctx, &ctx->media_req) == 0;
    sb_buf_free(&b);
    if (!sent) {
        free(pk);
        if (ctx)
            proxy_context_free(ctx);
        return false;
    }
    *pk =
        (struct media_park){.fwd = fwd, .info = *info, .verdict = verdict, .loop_hash = loop_hash};
    ctx->park = pk;
    ctx->media = *media;
    ctx->media_waiting = true;
    proxy_context_publish(ctx, st); /* CANCEL and the transaction's end find it */
    return true;
}

/* A BYE ends its call's session (the journal's line waits for the
 * engine's figures, or goes at once when there is nothing to ask). */
static void bye(struct proxy *p, const osip_message_t *fwd, const struct route_info *info,
                bool routed)
{
    int engine =
        routed && info->media[0] ? p->env.media->find(p->env.media_ctx, info->media) : ENGINE_NONE;
    char call_id[512];
    if (engine >= 0) /* the caller's tag: From when it hangs up, else To */
        delete_call(p, engine, fwd, info->from_caller ? sipmsg_from_tag(fwd) : sipmsg_to_tag(fwd));
    else if (sipmsg_call_id(fwd, call_id, sizeof(call_id)) == 0)
        call_journal_media(p->calls, call_id, NULL);
}

bool proxy_media_park_request(struct proxy *p, struct server_txn *st, osip_message_t *fwd,
                              const struct route_info *info, int verdict, uint32_t loop_hash)
{
    if (!p->env.media)
        return false;
    bool routed = verdict == ROUTE_LOCAL || verdict == ROUTE_FORWARD;
    if (MSG_IS_BYE(fwd)) {
        bye(p, fwd, info, routed);
        return false;
    }
    struct media_event e = event_of(fwd, false, false);
    enum media_op op = media_op_of(&e);
    bool late = !e.sdp && MSG_IS_INVITE(fwd); /* the offer comes in the 2xx */
    if (!routed || (op != MEDIA_OFFER && !late))
        return false;
    struct proxy_media media = {.request_sdp = !late};
    browsers_of(p, txn_server_inbound(st), fwd, info, &media);
    int engine = call_engine(p, st, fwd, info, verdict, &media);
    if (engine == ENGINE_NONE)
        return false;
    if (engine == ENGINE_DOWN)
        return unrelayed(p, st, fwd);
    media.engine = engine;
    if (late) {
        if (!sipmsg_to_tag(fwd))
            note_relayed(p, fwd, engine);
        p->media_next = media;
        proxy_route_decided(p, st, fwd, info, verdict, loop_hash);
        p->media_next.engine = ENGINE_NONE;
        return true;
    }
    if (park(p, st, fwd, info, verdict, loop_hash, &media))
        return true;
    note_failure(p, "an offer", SB_ESYS, NULL);
    return sipmsg_to_tag(fwd) ? false : unrelayed(p, st, fwd);
}

void proxy_media_cancelled(struct proxy *p, struct proxy_context *ctx)
{
    /* a parked offer is deleted once the engine answered it (on_offer) */
    if (ctx->media.engine < 0 || ctx->media.deleted || ctx->park || !ctx->st)
        return;
    ctx->media.deleted = true;
    const osip_message_t *invite = txn_server_request(ctx->st);
    delete_call(p, ctx->media.engine, invite, sipmsg_from_tag(invite));
}

void proxy_media_final(struct proxy *p, struct proxy_context *ctx, const osip_message_t *req,
                       const osip_message_t *resp)
{
    if (ctx->media.engine < 0 || ctx->media.deleted || ctx->park)
        return;
    struct media_event e = event_of(resp, ctx->media.request_sdp, sipmsg_to_tag(req) != NULL);
    if (media_op_of(&e) != MEDIA_DELETE)
        return;
    ctx->media.deleted = true;
    delete_call(p, ctx->media.engine, req, sipmsg_from_tag(req));
}

/* --- forks: the losers' legs ------------------------------------------ */

/* A callee (its To tag) whose early media (a 18x's SDP) the engine
 * answered: a leg of its own in the call's session. */
struct media_leg {
    struct media_leg *next;
    char tag[];
};

static void remember_leg(struct proxy_context *ctx, const char *tag)
{
    for (struct media_leg *l = ctx->early; l; l = l->next)
        if (!strcmp(l->tag, tag))
            return;
    size_t len = strlen(tag) + 1;
    struct media_leg *l = malloc(sizeof(*l) + len);
    if (!l)
        return; /* its leg goes with the call */
    memcpy(l->tag, tag, len);
    l->next = ctx->early;
    ctx->early = l;
}

static void forget_legs(struct proxy_context *ctx)
{
    while (ctx->early) {
        struct media_leg *l = ctx->early;
        ctx->early = l->next;
        free(l);
    }
}

static void on_leg_deleted(void *arg, int rc, const struct ng_reply *reply)
{
    if (!ng_ok(rc, reply))
        note_failure(arg, "a lost branch's delete", rc, reply);
}

/* A 2xx from @resp's callee won, and the engine has its answer: the legs
 * of the callees that lost are deleted (a delete naming a callee's tag
 * drops that leg alone; before the winner's answer it would have been
 * the call's last and taken the call with it), so their ports go back
 * now, not when the call ends. */
static void drop_losers(struct proxy_context *ctx, const osip_message_t *resp)
{
    struct proxy *p = ctx->proxy;
    const char *winner = sipmsg_to_tag(resp);
    char call_id[512];
    if (ctx->media.engine < 0 || !ctx->early || sipmsg_call_id(resp, call_id, sizeof(call_id)) != 0)
        return;
    for (struct media_leg *l = ctx->early; l; l = l->next) {
        if (winner && !strcmp(l->tag, winner))
            continue;
        struct sb_buf b = {0};
        media_ng_delete(&b, call_id, l->tag);
        uint64_t id;
        ng_send(p, ctx->media.engine, &b, NG_UNHURRIED, on_leg_deleted, p, &id);
        sb_buf_free(&b);
    }
    forget_legs(ctx);
}

/* --- responses' answers ---------------------------------------------- */

static void send_held(struct proxy_context *ctx);

/* @resp held with a copy of the bytes @as_received notes (when they are
 * at hand), so that its release edits them like any relayed response's. */
static struct media_held *held_new(osip_message_t *resp, const struct proxy_edit *as_received)
{
    size_t len = as_received && as_received->raw ? as_received->raw_len : 0;
    struct media_held *h = calloc(1, sizeof(*h) + len);
    if (!h)
        return NULL;
    h->resp = resp;
    if (len) {
        memcpy(h->raw, as_received->raw, len);
        h->edit = *as_received;
        h->edit.raw = h->raw;
    }
    return h;
}

/* Sends the oldest held response upstream, with @reply's SDP when the
 * engine gave one. */
static void release_held(struct proxy_context *ctx, const struct ng_reply *reply)
{
    struct media_held *h = ctx->held;
    ctx->held = h->next;
    if (reply && reply->sdp)
        media_sdp_replace(h->resp, reply->sdp, reply->sdp_len);
    if (h->resp->status_code >= 200)
        drop_losers(ctx, h->resp);
    if (ctx->st) {
        proxy_edit_arm(ctx->proxy, &h->edit, h->resp); /* without bytes: serialized */
        txn_server_respond(ctx->st, h->resp);
        proxy_edit_disarm(ctx->proxy);
    } else
        osip_message_free(h->resp);
    free(h);
}

static void on_answer(void *arg, int rc, const struct ng_reply *reply)
{
    struct proxy_context *ctx = arg;
    ctx->media_waiting = false;
    bool ok = ng_ok(rc, reply) && reply->sdp;
    if (!ok)
        note_failure(ctx->proxy, "an answer", rc, reply);
    release_held(ctx, ok ? reply : NULL);
    send_held(ctx);
}

static void send_held(struct proxy_context *ctx)
{
    struct proxy *p = ctx->proxy;
    while (ctx->held && !ctx->media_waiting) {
        const osip_message_t *r = ctx->held->resp;
        struct media_event e = event_of(r, ctx->media.request_sdp, false);
        enum media_op op = media_op_of(&e);
        struct sb_buf b = {0};
        /* a response's SDP goes to the request's sender */
        enum media_profile profile = media_profile_for(ctx->media.sender_ws, ctx->media.target_ws);
        ctx->media_waiting =
            build_sdp_command(&b, r, op, media_tags_swapped(&e, op), NULL, profile) == 0 &&
            ng_send(p, ctx->media.engine, &b, NG_PROMPT, on_answer, ctx, &ctx->media_req) == 0;
        sb_buf_free(&b);
        if (!ctx->media_waiting)
            release_held(ctx, NULL);
    }
}

bool proxy_media_hold_response(struct proxy_context *ctx, osip_message_t **resp,
                               const struct proxy_edit *as_received)
{
    if (ctx->media.engine < 0 || ctx->media.deleted || !ctx->proxy->env.media)
        return false;
    struct media_event e = event_of(*resp, ctx->media.request_sdp, false);
    enum media_op op = media_op_of(&e);
    if (op != MEDIA_OFFER && op != MEDIA_ANSWER)
        return false;
    const char *tag = sipmsg_to_tag(*resp);
    if (op == MEDIA_ANSWER && (*resp)->status_code < 200 && tag && !ctx->answered)
        remember_leg(ctx, tag);
    struct media_held *h = held_new(*resp, as_received);
    if (!h)
        return false;
    *resp = NULL;
    struct media_held **tail = &ctx->held;
    while (*tail)
        tail = &(*tail)->next;
    *tail = h;
    send_held(ctx);
    return true;
}

/* --- ACKs and strays --------------------------------------------------- */

static void stateless_unlink(struct media_stateless *s)
{
    *s->pprev = s->next;
    if (s->next)
        s->next->pprev = s->pprev;
}

static void on_stateless(void *arg, int rc, const struct ng_reply *reply)
{
    struct media_stateless *s = arg;
    stateless_unlink(s);
    if (ng_ok(rc, reply) && reply->sdp)
        media_sdp_replace(s->in->msg, reply->sdp, reply->sdp_len);
    else
        note_failure(s->p, "an answer", rc, reply);
    static const struct proxy_edit gone = {0}; /* edited by the engine: serialized */
    proxy_edit_arm(s->p, &gone, s->in->msg);
    proxy_finish_stateless(s->p, s->in, true, &s->dest);
    proxy_edit_disarm(s->p);
    free(s);
}

bool proxy_media_hold_stateless(struct proxy *p, struct sb_inbound *in, const struct sb_dest *dest,
                                const char *engine)
{
    if (!p->env.media || !engine || !engine[0])
        return false;
    int e = p->env.media->find(p->env.media_ctx, engine);
    const osip_message_t *m = in->msg;
    struct media_event ev = event_of(m, true, false);
    enum media_op op = media_op_of(&ev);
    if (e < 0 || op != MEDIA_ANSWER)
        return false;
    struct media_stateless *s = calloc(1, sizeof(*s));
    struct sb_buf b = {0};
    enum media_profile profile =
        media_profile_for(sb_transport_is_ws(dest->transport), sb_transport_is_ws(in->transport));
    bool sent = s &&
                build_sdp_command(&b, m, op, media_tags_swapped(&ev, op), &in->src, profile) == 0 &&
                ng_send(p, e, &b, NG_PROMPT, on_stateless, s, &s->id) == 0;
    sb_buf_free(&b);
    if (!sent) {
        free(s);
        return false;
    }
    *s = (struct media_stateless){.next = p->media_stateless,
                                  .pprev = &p->media_stateless,
                                  .p = p,
                                  .in = in,
                                  .dest = *dest,
                                  .id = s->id};
    if (s->next)
        s->next->pprev = &s->next;
    p->media_stateless = s;
    return true;
}

/* --- the end ----------------------------------------------------------- */

void proxy_media_context_free(struct proxy_context *ctx)
{
    if (ctx->media_waiting && ctx->proxy->env.media)
        ctx->proxy->env.media->cancel(ctx->proxy->env.media_ctx, ctx->media_req);
    ctx->media_waiting = false;
    park_free(ctx->park);
    ctx->park = NULL;
    forget_legs(ctx);
    while (ctx->held) {
        struct media_held *h = ctx->held;
        ctx->held = h->next;
        osip_message_free(h->resp);
        free(h);
    }
}

void proxy_media_destroy(struct proxy *p)
{
    while (p->media_stateless) {
        struct media_stateless *s = p->media_stateless;
        stateless_unlink(s);
        p->env.media->cancel(p->env.media_ctx, s->id);
        sb_inbound_free(s->in);
        free(s);
    }
}
