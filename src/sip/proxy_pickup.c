/* Call pickup ([features] pickup = *8): a phone dials the code, alone
 * for a call ringing somebody of a group it is in, or followed by an
 * extension, user or group for a call ringing that one; the call stops
 * ringing there and rings the picker's devices instead.
 *
 * Why not RFC 3891 §7.1 (an INVITE with Replaces to the caller, taking
 * over its early dialog): Linphone treats such an INVITE as a second
 * incoming call, and a caller from outside (a trunk) never honours it.
 * Moving the ringing call works with every caller and every phone.
 *
 * Per pickup: the picker's worker claims a ringing call on the board
 * (where the call's own worker put it at its first 1xx, and takes it
 * off at its 2xx or end) and answers the code's INVITE `480
 * Picked Up, Ringing Here`; the call's own worker finds the claim on its
 * next look (PICKUP_LOOK_MS), CANCELs the call's ringing branches, and
 * once they ended (proxy_office_stage_ended) rings the picker's devices
 * as the call's next stage. No claimable call: `480 No Call to Pick
 * Up`. A claimed call answered meanwhile stays answered. */
#include "proxy_int.h"

#include <stdio.h>
#include <string.h>

#include "switchboard/dialplan.h"
#include "switchboard/pickup_board.h"
#include "switchboard/registrar.h"
#include "switchboard/sip_msg.h"
#include "switchboard/transaction.h"

#define PICKUP_LOOK_MS 50 /* how often a worker with ringing calls looks for claims */

/* Which ringing calls a pickup may take. */
struct pick {
    const struct dialplan *dp;
    const char *picker;           /* our user who dialled the code */
    struct dialplan_target named; /* directed: what followed the code */
    bool directed;
};

/* Does call @c ring @user (a user called, or a member of a group)? */
static bool rings(const struct dialplan *dp, const struct pickup_call *c, const char *user)
{
    if (!c->group)
        return !strcmp(c->callee, user);
    struct dialplan_target t;
    dialplan_resolve(dp, c->callee, &t);
    return t.kind == DIALPLAN_GROUP && dialplan_in_group(t.group, user);
}

static bool matches(void *arg, const struct pickup_call *c)
{
    const struct pick *k = arg;
    if (!strcmp(c->caller, k->picker) || (!c->group && !strcmp(c->callee, k->picker)))
        return false; /* its own call, or one for the picker alone: answer it */
    if (k->directed && k->named.kind == DIALPLAN_GROUP)
        return c->group ? !strcmp(c->callee, k->named.name)
                        : dialplan_in_group(k->named.group, c->callee);
    if (k->directed)
        return rings(k->dp, c, k->named.name);
    if (c->group) /* a group the picker is in */
        return rings(k->dp, c, k->picker);
    return dialplan_share_group(k->dp, c->callee, k->picker);
}

/* Who dialled: our user with a device to ring, by the From
 * (authenticated under [auth] require = all). */
static bool picker_of(struct proxy *p, const osip_message_t *req, char *user, size_t size)
{
    const osip_uri_t *from = req->from ? req->from->url : NULL;
    char key[320];
    if (!from || !from->username || strlen(from->username) >= size ||
        !proxy_watch_key(p, from, key, sizeof(key)) ||
        !registrar_has_live(p->env.registrar, key, timer_wheel_now(p->env.wheel)))
        return false;
    snprintf(user, size, "%s", from->username);
    return true;
}

/* The rest of the dialled name once @dp's pickup code is taken off;
 * NULL when @user does not begin with it. */
static const char *after_code(const struct dialplan *dp, const char *user)
{
    const char *code = dialplan_pickup(dp);
    size_t n = code ? strlen(code) : 0;
    return n && user && !strncmp(user, code, n) ? user + n : NULL;
}

static void pickup(struct proxy *p, struct server_txn *st, const osip_message_t *fwd,
                   const struct dialplan *dp, const char *rest)
{
    char picker[64];
    struct pick k = {.dp = dp, .picker = picker, .directed = rest[0] != '\0'};
    if (!picker_of(p, txn_server_request(st), picker, sizeof(picker))) {
        txn_server_respond_code(st, 403, "Pickup Is for Our Registered Users");
        return;
    }
    if (k.directed) {
        dialplan_resolve(dp, rest, &k.named);
        if (k.named.kind == DIALPLAN_URI) {
            txn_server_respond_code(st, 404, NULL);
            return;
        }
    }
    struct pickup_call c;
    if (!pickup_board_claim(p->env.pickup, matches, &k, picker, &c)) {
        sb_count(p->env.counters, SB_CNT_PICKUP_MISSES);
        SB_INFO("pickup: %s dialled %s, no call rings there", picker, fwd->req_uri->username);
        txn_server_respond_code(st, 480, "No Call to Pick Up");
        return;
    }
    SB_INFO("pickup: %s takes the call from %s to %s (%s)", picker,
            c.caller[0] ? c.caller : "outside", c.callee, c.call_id);
    txn_server_respond_code(st, 480, "Picked Up, Ringing Here");
}

bool proxy_route_pickup(struct proxy *p, struct server_txn *st, osip_message_t *fwd)
{
    if (!p->env.pickup || !p->env.plans || !MSG_IS_INVITE(fwd) || !fwd->req_uri->username)
        return false;
    struct dialplan *dp = dialplan_holder_get(p->env.plans);
    const char *rest = dp ? after_code(dp, fwd->req_uri->username) : NULL;
    if (rest)
        pickup(p, st, fwd, dp, rest);
    if (dp)
        dialplan_unref(dp);
    return rest != NULL;
}

/* --- the call's own worker ------------------------------------------------- */

void proxy_pickup_add(struct proxy *p, struct office_call *oc, const osip_message_t *req)
{
    if (sipmsg_call_id(req, oc->call_id, sizeof(oc->call_id)) != 0)
        return; /* a cut Call-ID names no call */
    if (proxy_from_our_user(p, req) && strlen(req->from->url->username) < sizeof(oc->caller))
        snprintf(oc->caller, sizeof(oc->caller), "%s", req->from->url->username);
    oc->pickable = true;
    oc->prev = NULL;
    oc->next = p->pickable;
    if (p->pickable)
        p->pickable->prev = oc;
    p->pickable = oc;
}

/* On the board: a call to one of our users or groups, not picked yet. */
void proxy_pickup_ringing(struct office_call *oc)
{
    struct proxy *p = oc->proxy;
    if (!oc->pickable || oc->on_board || oc->picked_by[0])
        return;
    struct dialplan_target t;
    dialplan_resolve(oc->dp, oc->dialled, &t);
    struct pickup_call c = {.group = t.kind == DIALPLAN_GROUP, .owner = p};
    if (t.kind == DIALPLAN_URI || strlen(t.name) >= sizeof(c.callee))
        return;
    snprintf(c.call_id, sizeof(c.call_id), "%s", oc->call_id);
    snprintf(c.caller, sizeof(c.caller), "%s", oc->caller);
    snprintf(c.callee, sizeof(c.callee), "%s", t.name);
    pickup_board_ring(p->env.pickup, &c);
    oc->on_board = true;
    if (p->pickup_ringing++ == 0 && !timer_pending(&p->pickup_timer))
        timer_schedule(p->env.wheel, &p->pickup_timer,
                       timer_wheel_now(p->env.wheel) + PICKUP_LOOK_MS);
}

/* Off the board: @gone, it was taken out already (claimed). */
static void off_board(struct office_call *oc, bool gone)
{
    if (!oc->on_board)
        return;
    if (!gone)
        pickup_board_gone(oc->proxy->env.pickup, oc->call_id);
    oc->on_board = false;
    oc->proxy->pickup_ringing--;
}

void proxy_pickup_answered(struct office_call *oc)
{
    off_board(oc, false);
}

void proxy_pickup_remove(struct proxy *p, struct office_call *oc)
{
    if (!oc->pickable)
        return;
    off_board(oc, false);
    if (oc->prev)
        oc->prev->next = oc->next;
    else
        p->pickable = oc->next;
    if (oc->next)
        oc->next->prev = oc->prev;
    oc->pickable = false;
}

/* Claim @c of ours: CANCEL what rings; the picker rings once that ended. */
static void move(struct proxy *p, const struct pickup_call *c)
{
    struct office_call *oc = p->pickable;
    while (oc && strcmp(oc->call_id, c->call_id) != 0)
        oc = oc->next;
    struct proxy_context *ctx = oc ? oc->ctx : NULL;
    if (oc)
        off_board(oc, true);
    if (!ctx || !ctx->st || ctx->answered || ctx->cancelled || txn_server_final_sent(ctx->st)) {
        SB_INFO("pickup: the call %s ended before %s could take it", c->call_id, c->picker);
        return;
    }
    sb_count(p->env.counters, SB_CNT_PICKUPS);
    snprintf(oc->picked_by, sizeof(oc->picked_by), "%s", c->picker);
    oc->pickup_pending = true;
    proxy_give_up(ctx);
}

static void on_look(struct timer *timer, void *arg)
{
    struct proxy *p = arg;
    struct pickup_call claimed[8];
    size_t n = pickup_board_claimed(p->env.pickup, p, claimed, 8);
    for (size_t i = 0; i < n; i++)
        move(p, &claimed[i]);
    if (p->pickup_ringing || n == 8)
        timer_schedule(p->env.wheel, timer, timer_wheel_now(p->env.wheel) + PICKUP_LOOK_MS);
}

bool proxy_pickup_stage(struct office_call *oc, struct callroute_stage *stage)
{
    if (!oc->pickup_pending)
        return false;
    oc->pickup_pending = false;
    oc->pickup_stage = true; /* office_run_stage: answer-after=0 */
    memset(stage, 0, sizeof(*stage));
    stage->kind = CALLROUTE_RING;
    stage->users[stage->count++] = oc->picked_by;
    stage->ring_s = dialplan_ring_timeout(oc->dp);
    return true;
}

void proxy_pickup_start(struct proxy *p)
{
    timer_init(&p->pickup_timer, on_look, p);
}

void proxy_pickup_stop(struct proxy *p)
{
    timer_cancel(&p->pickup_timer);
}
