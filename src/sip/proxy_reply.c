/* The response context, RFC 3261 §16.7: a request's branches, their
 * responses, the best of them upstream, CANCEL of the rest, Timer C.
 * See proxy_int.h. */
#include "proxy_int.h"

#include <stdlib.h>
#include <string.h>

#include "switchboard/identity.h"
#include "switchboard/reasons.h"
#include "switchboard/record_route.h"
#include "switchboard/sip_msg.h"

/* --- response context ----------------------------------------------------- */

void proxy_context_free(struct proxy_context *ctx)
{
    if (ctx->pprev) {
        *ctx->pprev = ctx->next;
        if (ctx->next)
            ctx->next->pprev = ctx->pprev;
    }
    timer_cancel(&ctx->timer_c);
    proxy_media_context_free(ctx);
    osip_message_free(ctx->best);
    proxy_office_free(ctx->office);
    proxy_trunk_call_free(ctx->trunk);
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
    proxy_context_free(ctx);
}

void proxy_cancel_pending(struct proxy_context *ctx)
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

/* §16.7: a proxy may rewrite its own Record-Route in a response. The
 * caller keeps the route set of a 18x/2xx to its dialog-creating request,
 * so each Route of ours in it, signed for the caller's Contact when the
 * request passed, is signed again for the callee's (the response's
 * Contact): then a Route copied from the call reaches only its two
 * phones. record_route_resign() re-signs only values it marked as ours
 * for this dialog, never one the callee made up. */
void proxy_resign_record_routes(const struct proxy *p, osip_message_t *resp)
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

/* Sends a downstream response upstream without our Via. */
static void forward_upstream(struct proxy_context *ctx, osip_message_t **resp)
{
    if (!ctx->st)
        return;
    struct proxy *p = ctx->proxy;
    osip_message_t *r = *resp;
    bool received = p->received.msg == r; /* the bytes it came as are at hand */
    *resp = NULL;
    sipmsg_via_pop(r);
    if (ctx->cseq_shift) /* the caller's own numbering */
        sipmsg_set_cseq_number(r, sipmsg_cseq_number(r) - ctx->cseq_shift);
    /* from the response alone: once a 2xx went up the transaction no
     * longer holds its request (2xx retransmissions, other branches) */
    proxy_resign_record_routes(ctx->proxy, r);
    /* a relayed call's SDP: the engine's first */
    if (proxy_media_hold_response(ctx, &r, received ? &p->received : NULL))
        return;
    static const struct proxy_edit gone = {0}; /* its bytes are: serialized */
    proxy_edit_arm(p, received ? &p->received : &gone, r);
    txn_server_respond(ctx->st, r);
    proxy_edit_disarm(p);
}

/* All branches ended without a 2xx: send the best final response. */
void proxy_send_best(struct proxy_context *ctx)
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

void proxy_branch_final(struct proxy_branch *b, int code, osip_message_t **resp)
{
    struct proxy_context *ctx = b->ctx;
    if (b->final_code)
        return;
    if (ctx->trunk && resp && *resp && proxy_trunk_challenged(b, code, *resp))
        return; /* answered with the trunk's credentials: a new branch */
    b->final_code = code;
    ctx->pending--;
    keep_best(ctx, code, resp);
    if (ctx->office && code != 486 && code != 600)
        ctx->office->stage_busy = false;
    if (code >= 600)
        proxy_cancel_pending(ctx); /* §16.7 step 5 */
    if (ctx->pending == 0) {
        timer_cancel(&ctx->timer_c);
        if (ctx->office)
            proxy_office_stage_ended(ctx);      /* the next stage, or proxy_send_best */
        else if (!proxy_trunk_stage_ended(ctx)) /* the next trunk */
            proxy_send_best(ctx);
    }
}

static void on_response(void *user, struct client_txn *ct, void *tu, osip_message_t **resp)
{
    struct proxy_branch *b = tu;
    struct proxy_context *ctx = b->ctx;
    struct proxy *p = user;
    int code = (*resp)->status_code;
    (void)ct;
    if (!ctx && b->nat) {
        if (code >= 200)
            proxy_natping_answered(b); /* any answer: it is there */
        return;
    }
    if (!ctx && b->notifier) {
        proxy_notify_answered(b, code);
        return;
    }
    if (!ctx) {
        proxy_trunk_reg_response(b, *resp); /* one of our own requests */
        return;
    }
    if (code == 100)
        return; /* hop by hop: we sent our own */
    if (code < 200) {
        b->provisional = true;
        if (b->final_code || ctx->answered || !ctx->st || txn_server_final_sent(ctx->st))
            return;
        if (ctx->invite) /* §16.8: a provisional response restarts Timer C */
            timer_schedule(p->env.wheel, &ctx->timer_c,
                           timer_wheel_now(p->env.wheel) + p->env.config->timer_c_ms);
        if (ctx->office)
            proxy_pickup_ringing(ctx->office);
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
        if (ctx->office) {
            timer_cancel(&ctx->office->ring);
            proxy_pickup_answered(ctx->office);
        }
        proxy_cancel_pending(ctx);   /* §16.7 step 10: the other branches lose */
        forward_upstream(ctx, resp); /* every 2xx, retransmissions too */
        return;
    }
    proxy_branch_final(b, code, resp);
}

static void on_timeout(void *user, struct client_txn *ct, void *tu)
{
    struct proxy_branch *b = tu;
    (void)user;
    (void)ct;
    if (b->nat)
        proxy_natping_lost(b);
    else if (b->notifier)
        proxy_notify_lost(b);
    else if (!b->ctx)
        proxy_trunk_reg_ended(b, 408);
    else
        proxy_branch_final(b, 408, NULL);
}

/* The branch's request could not be sent (its connection is gone). */
static void on_transport_error(void *user, struct client_txn *ct, void *tu)
{
    struct proxy_branch *b = tu;
    (void)user;
    (void)ct;
    if (b->nat)
        proxy_natping_lost(b);
    else if (b->notifier)
        proxy_notify_lost(b);
    else if (!b->ctx)
        proxy_trunk_reg_ended(b, 503);
    else
        proxy_branch_final(b, b->unsent_code ? b->unsent_code : 503, NULL);
}

static void on_client_gone(void *user, struct client_txn *ct, void *tu)
{
    struct proxy_branch *b = tu;
    (void)user;
    (void)ct;
    b->ct = NULL;
    if (b->nat) {
        proxy_natping_gone(b);
        return;
    }
    if (b->notifier) {
        proxy_notify_gone(b);
        return;
    }
    if (!b->ctx) {
        proxy_trunk_reg_gone(b);
        return;
    }
    if (!b->final_code)
        proxy_branch_final(b, 408, NULL);
    context_release_if_done(b->ctx);
}

/* Everything that goes upstream gets our reason phrases, and what answers
 * an INVITE (initial or re-INVITE) is noted in the call journal. */
/* A response to INVITE or UPDATE on its way up (from @st, or NULL when
 * forwarded without one) moves its dialog along (dialog.h): callees
 * answering the INVITE that opened it, the end of a call that never
 * began, target refreshes. */
void proxy_dialog_note_response(struct proxy *p, struct server_txn *st, const osip_message_t *resp)
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
    struct dialog_msg m = proxy_dialog_msg_of(resp);
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
    proxy_dialog_note_response(p, st, resp);
    const osip_message_t *req = txn_server_request(st);
    if (ctx && req)
        proxy_media_final(p, ctx, req, resp); /* a failed call's session goes */
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
    proxy_cancel_pending(ctx); /* nobody is left to answer */
    context_release_if_done(ctx);
}

/* Time ran out for @ctx's branches: CANCEL those that ring (§9.1), give
 * up on the silent ones with a 408 of our own (a CANCEL cannot end a
 * branch that never answered). The last one's end goes on as any other
 * (the next stage, or the best response upstream): branches a next stage
 * adds meanwhile are its own, and not given up on. */
void proxy_give_up(struct proxy_context *ctx)
{
    size_t count = ctx->count;
    for (size_t i = 0; i < count; i++) {
        struct proxy_branch *b = ctx->branches[i];
        if (b->final_code || !b->ct)
            continue;
        txn_client_cancel(b->ct);
        if (!b->provisional)
            proxy_branch_final(b, 408, NULL);
    }
}

/* §16.8 Timer C: CANCEL branches that ring, give up on silent ones. */
void proxy_on_timer_c(struct timer *timer, void *arg)
{
    struct proxy_context *ctx = arg;
    (void)timer;
    ctx->timed_out = true;
    proxy_give_up(ctx);
}

const struct txn_user_ops proxy_txn_ops = {
    .on_response = on_response,
    .on_timeout = on_timeout,
    .on_transport_error = on_transport_error,
    .on_client_gone = on_client_gone,
    .on_server_gone = on_server_gone,
    .on_server_respond = on_server_respond,
    .render = proxy_edit_render,
};
