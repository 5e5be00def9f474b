/* A call's stages by the dial plan. See callroute.h. */
#include "switchboard/callroute.h"

#include <string.h>

const char *callroute_why_name(enum callroute_why why)
{
    return why == CALLROUTE_DND ? "dnd" : dialplan_forward_name((enum dialplan_forward)why);
}

static bool visited(const struct callroute *r, const char *name)
{
    for (size_t i = 0; i < r->nvisited; i++)
        if (!strcmp(r->visited[i], name))
            return true;
    return false;
}

static void visit(struct callroute *r, const char *name)
{
    if (r->nvisited < sizeof(r->visited) / sizeof(r->visited[0]))
        r->visited[r->nvisited++] = name;
}

static bool is_dnd(const struct callroute *r, const struct callroute_env *env, const char *user)
{
    const struct dialplan_user *u = dialplan_user(r->dp, user);
    return (u && u->dnd) || (env->dnd && env->dnd(env->ctx, user));
}

static void refuse(struct callroute_stage *out, int code)
{
    memset(out, 0, sizeof(*out));
    out->kind = CALLROUTE_REFUSE;
    out->code = code;
}

static void ring(struct callroute *r, struct callroute_stage *out, const char *user,
                 unsigned ring_s)
{
    memset(out, 0, sizeof(*out));
    out->kind = CALLROUTE_RING;
    out->users[0] = user;
    out->count = 1;
    out->ring_s = ring_s;
    r->rang = true;
}

static void go_target(struct callroute *r, const char *name, const struct callroute_env *env,
                      struct callroute_stage *out);

/* Leaves the current user for @to, because of @why. */
static void follow(struct callroute *r, const char *to, enum callroute_why why,
                   const struct callroute_env *env, struct callroute_stage *out)
{
    if (r->nhops == DIALPLAN_MAX_HOPS) {
        refuse(out, 482); /* a chain the load-time check could not see */
        return;
    }
    r->hops[r->nhops++] = (struct callroute_hop){.from = r->user, .to = to, .why = why};
    go_target(r, to, env, out);
    out->hops_added = true;
}

/* A user: DND, always, unregistered, else their devices ring. */
static void go_user(struct callroute *r, const char *name, const struct callroute_env *env,
                    struct callroute_stage *out)
{
    if (visited(r, name)) {
        refuse(out, 482); /* this call was here already */
        return;
    }
    visit(r, name);
    r->user = name;
    r->group = NULL;
    const struct dialplan_user *u = dialplan_user(r->dp, name);
    const char *const *fwd = u ? u->forward : (const char *const[DIALPLAN_FORWARDS]){0};
    if (is_dnd(r, env, name)) {
        if (fwd[DIALPLAN_BUSY]) {
            follow(r, fwd[DIALPLAN_BUSY], CALLROUTE_DND, env, out);
        } else {
            refuse(out, 486);
            out->dnd = true;
        }
        return;
    }
    if (fwd[DIALPLAN_ALWAYS]) {
        follow(r, fwd[DIALPLAN_ALWAYS], CALLROUTE_ALWAYS, env, out);
        return;
    }
    if (!env->registered(env->ctx, name)) {
        if (fwd[DIALPLAN_UNAVAILABLE])
            follow(r, fwd[DIALPLAN_UNAVAILABLE], CALLROUTE_UNAVAILABLE, env, out);
        else
            refuse(out, 404);
        return;
    }
    unsigned ring_s = dialplan_ring_timeout(r->dp);
    if (u && u->ring_s)
        ring_s = u->ring_s;
    if (fwd[DIALPLAN_NOANSWER])
        ring_s = u->noanswer_s;
    ring(r, out, name, ring_s);
}

/* The next member of a hunt group who can ring, or END. */
static void hunt_next(struct callroute *r, const struct callroute_env *env,
                      struct callroute_stage *out)
{
    const struct dialplan_group *g = r->group;
    while (r->next_member < g->count) {
        const char *m = g->members[r->next_member++];
        if (visited(r, m) || is_dnd(r, env, m) || !env->registered(env->ctx, m))
            continue; /* skipped: members do not forward */
        visit(r, m);
        ring(r, out, m, g->seconds);
        return;
    }
    if (r->rang) {
        memset(out, 0, sizeof(*out));
        out->kind = CALLROUTE_END;
    } else {
        refuse(out, 480); /* nobody in the group could ring */
    }
}

/* Every member of an "all" group who can ring, at once. */
static void ring_all(struct callroute *r, const struct callroute_env *env,
                     struct callroute_stage *out)
{
    const struct dialplan_group *g = r->group;
    memset(out, 0, sizeof(*out));
    out->kind = CALLROUTE_RING;
    out->ring_s = dialplan_ring_timeout(r->dp);
    for (size_t i = 0; i < g->count; i++) {
        const char *m = g->members[i];
        if (visited(r, m) || is_dnd(r, env, m) || !env->registered(env->ctx, m))
            continue;
        visit(r, m);
        out->users[out->count++] = m;
    }
    if (out->count == 0)
        refuse(out, 480);
    else
        r->rang = true;
}

static void go_target(struct callroute *r, const char *name, const struct callroute_env *env,
                      struct callroute_stage *out)
{
    struct dialplan_target t;
    dialplan_resolve(r->dp, name, &t);
    r->user = NULL;
    r->group = NULL;
    if (t.kind == DIALPLAN_URI) {
        memset(out, 0, sizeof(*out));
        out->kind = CALLROUTE_URI;
        out->uri = t.name;
        r->rang = true;
    } else if (t.kind == DIALPLAN_GROUP) {
        r->group = t.group;
        r->next_member = 0;
        if (t.group->hunt)
            hunt_next(r, env, out);
        else
            ring_all(r, env, out);
    } else {
        go_user(r, t.name, env, out);
    }
}

void callroute_start(struct callroute *r, const struct dialplan *dp, const char *dialled,
                     const struct callroute_env *env, struct callroute_stage *out)
{
    memset(r, 0, sizeof(*r));
    r->dp = dp;
    r->dialled = dialled;
    struct dialplan_target t;
    dialplan_resolve(dp, dialled, &t);
    r->resolved = t.name;
    go_target(r, dialled, env, out);
}

void callroute_next(struct callroute *r, enum callroute_event ev, const struct callroute_env *env,
                    struct callroute_stage *out)
{
    if (r->group && r->group->hunt) {
        hunt_next(r, env, out);
        return;
    }
    const struct dialplan_user *u = r->user ? dialplan_user(r->dp, r->user) : NULL;
    if (u && ev == CALLROUTE_BUSY && u->forward[DIALPLAN_BUSY]) {
        follow(r, u->forward[DIALPLAN_BUSY], CALLROUTE_WHY_BUSY, env, out);
    } else if (u && ev == CALLROUTE_NOANSWER && u->forward[DIALPLAN_NOANSWER]) {
        follow(r, u->forward[DIALPLAN_NOANSWER], CALLROUTE_WHY_NOANSWER, env, out);
    } else {
        memset(out, 0, sizeof(*out));
        out->kind = CALLROUTE_END;
    }
}

bool callroute_may_continue(const struct callroute *r)
{
    if (r->group)
        return r->group->hunt;
    const struct dialplan_user *u = r->user ? dialplan_user(r->dp, r->user) : NULL;
    return u && (u->forward[DIALPLAN_BUSY] || u->forward[DIALPLAN_NOANSWER]);
}
