/* The office's dial plan (callroute.h) run in a response context: its
 * stages one after another, Diversion and History-Info for each forward.
 * See proxy_int.h. */
#include "proxy_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "switchboard/dialplan.h"
#include "switchboard/error.h"
#include "switchboard/registrar.h"
#include "switchboard/sip_msg.h"

/* --- the office's dial plan ----------------------------------------------- */

void proxy_office_free(struct office_call *oc)
{
    if (!oc)
        return;
    timer_cancel(&oc->ring);
    proxy_pickup_remove(oc->proxy, oc);
    osip_message_free(oc->fwd);
    dialplan_unref(oc->dp);
    free(oc);
}

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

size_t proxy_office_first_aors(struct proxy *p, const osip_uri_t *ruri, char (*aors)[320],
                               size_t max)
{
    struct dialplan *dp = dialplan_holder_get(p->env.plans);
    if (!dp)
        return 0;
    struct office_call oc = {.proxy = p};
    snprintf(oc.domain, sizeof(oc.domain), "%s", ruri->host ? ruri->host : "localhost");
    struct callroute_env env = office_env(&oc);
    struct callroute route;
    struct callroute_stage stage;
    size_t n = 0;
    if (ruri->username) {
        callroute_start(&route, dp, ruri->username, &env, &stage);
        for (size_t i = 0; stage.kind == CALLROUTE_RING && i < stage.count && n < max; i++)
            office_aor(&oc, stage.users[i], aors[n++], sizeof(aors[0]));
    }
    dialplan_unref(dp);
    return n;
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
    sipmsg_mark_rewritten(msg);
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
    return proxy_uri_dest(p, text, t, &in->local);
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
            if (proxy_binding_target(p, &sets[i]->bindings[b], stage->users[i], t, &gone) == 0 &&
                !proxy_peer_repeated(*targets, n, t))
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
    if (!oc->fwd && (callroute_may_continue(&oc->route) || oc->pickable) &&
        osip_message_clone(base, &oc->fwd) != 0)
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
    if (oc->pickup_stage) { /* the picker asked for it: phones that can, answer at once */
        char info[300];
        snprintf(info, sizeof(info), "<sip:%s>;answer-after=0", oc->domain);
        osip_message_set_header(fwd, "Call-Info", info);
        sipmsg_mark_rewritten(fwd);
        oc->pickup_stage = false;
    }
    struct registrar_set *sets[DIALPLAN_MAX_MEMBERS] = {0};
    struct proxy_target *targets;
    size_t n = office_targets(oc, stage, txn_server_inbound(st), &targets, sets);
    size_t added = n ? proxy_add_branches(ctx, st, fwd, targets, n, oc->loop_hash) : 0;
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
void proxy_office_stage_ended(struct proxy_context *ctx)
{
    struct office_call *oc = ctx->office;
    struct server_txn *st = ctx->st;
    if (!st || ctx->answered || ctx->cancelled || ctx->timed_out || txn_server_final_sent(st) ||
        oc->replaces) {
        proxy_send_best(ctx);
        return;
    }
    struct callroute_stage picked; /* [features] pickup: the picker's devices */
    if (proxy_pickup_stage(oc, &picked)) {
        if (!office_advance(ctx, st, &picked, NULL) && !txn_server_final_sent(st))
            proxy_send_best(ctx);
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
        proxy_send_best(ctx);
    }
}

/* The stage rang for its time: CANCEL what rings, give up on the silent;
 * proxy_office_stage_ended() goes on once they all ended. */
static void on_ring_timeout(struct timer *timer, void *arg)
{
    struct proxy_context *ctx = arg;
    (void)timer;
    ctx->office->ring_expired = true;
    proxy_give_up(ctx);
}

/* A request for one of our users while a dial plan is set: resolve the
 * dialled name and run its first stage. Returns false when the plan has
 * nothing to say about the name (the plain registrar lookup follows). */
/* The one stage of an INVITE with Replaces for @name: its user, or all
 * of its group's members; DND and forwards do not apply (the device in
 * the replaced call is among them, the others answer 481). A URI stays
 * as the plan says. */
static void replaces_stage(const struct dialplan *dp, const char *name,
                           struct callroute_stage *stage)
{
    struct dialplan_target t;
    dialplan_resolve(dp, name, &t);
    if (t.kind == DIALPLAN_URI)
        return;
    memset(stage, 0, sizeof(*stage));
    stage->kind = CALLROUTE_RING;
    if (t.kind == DIALPLAN_NAME) {
        stage->users[stage->count++] = t.name;
        return;
    }
    for (size_t i = 0; i < t.group->count && i < DIALPLAN_MAX_MEMBERS; i++)
        stage->users[stage->count++] = t.group->members[i];
}

bool proxy_route_office(struct proxy *p, struct server_txn *st, osip_message_t *fwd,
                        uint32_t loop_hash, bool replaces)
{
    struct dialplan *dp = dialplan_holder_get(p->env.plans);
    if (!dp)
        return false;
    const osip_message_t *req = txn_server_request(st);
    struct proxy_context *ctx = proxy_context_new(p, req);
    struct office_call *oc = calloc(1, sizeof(*oc));
    if (oc)
        timer_init(&oc->ring, on_ring_timeout, ctx);
    if (!ctx || !oc || sipmsg_max_forwards_take(fwd) < 0) {
        free(ctx);
        proxy_office_free(oc);
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
    oc->ctx = ctx;
    if (!replaces && p->env.pickup && dialplan_pickup(dp) && ctx->invite)
        proxy_pickup_add(p, oc, req);
    struct callroute_env env = office_env(oc);
    struct callroute_stage stage;
    callroute_start(&oc->route, dp, oc->dialled, &env, &stage);
    if (replaces) {
        oc->replaces = true;
        replaces_stage(dp, oc->dialled, &stage);
    }
    if (office_advance(ctx, st, &stage, fwd)) {
        proxy_context_publish(ctx, st);
        return true;
    }
    if (!txn_server_final_sent(st))
        txn_server_respond_code(st, 480, NULL); /* nobody could be reached */
    proxy_context_free(ctx);
    return true;
}

/* Removes PEER_PARAM from @uri, a Request-URI of @req; returns whether
 * it was there with our MAC. */
