/* Where one call goes, stage after stage, by the office's dial plan
 * (dialplan.h): an extension or name resolves to a user, a group or a
 * URI; a user may be forwarded (always, on DND, busy, no answer, when
 * unregistered); a hunt group rings its members one after another.
 *
 * States: START -> RING (some users' devices, or a URI) -> RING ... ->
 * END (answer with the best response; after a ring timeout, 480) or
 * REFUSE (a code). The proxy asks for the first stage when the INVITE
 * arrives and for the next when a stage ends without an answer: BUSY
 * (every device said 486/600), NOANSWER (its ring time ran out) or
 * FAILED (anything else). Forwards taken are kept as hops, for
 * Diversion (RFC 5806), History-Info (RFC 7044) and the journal.
 * Pure: what is registered and who is DND come from callbacks. */
#ifndef SWITCHBOARD_CALLROUTE_H
#define SWITCHBOARD_CALLROUTE_H

#include <stdbool.h>
#include <stddef.h>

#include "switchboard/dialplan.h"

enum callroute_event { CALLROUTE_BUSY, CALLROUTE_NOANSWER, CALLROUTE_FAILED };

/* Why a call left a user: a forward condition, or DND (then the busy
 * forward, if any, is taken). */
enum callroute_why {
    CALLROUTE_ALWAYS = DIALPLAN_ALWAYS,
    CALLROUTE_WHY_BUSY = DIALPLAN_BUSY,
    CALLROUTE_WHY_NOANSWER = DIALPLAN_NOANSWER,
    CALLROUTE_UNAVAILABLE = DIALPLAN_UNAVAILABLE,
    CALLROUTE_DND,
};

struct callroute_hop {
    const char *from; /* the user the call left */
    const char *to;   /* the target name or URI it went to */
    enum callroute_why why;
};

enum callroute_kind { CALLROUTE_RING, CALLROUTE_URI, CALLROUTE_REFUSE, CALLROUTE_END };

struct callroute_stage {
    enum callroute_kind kind;
    const char *users[DIALPLAN_MAX_MEMBERS]; /* RING: whose devices ring */
    size_t count;
    const char *uri; /* URI: where the request goes */
    int code;        /* REFUSE: 404, 480, 482, 486 */
    bool dnd;        /* REFUSE: 486 because the user is on DND */
    unsigned ring_s; /* RING: seconds before NOANSWER; 0: no limit */
    bool hops_added; /* this stage follows a forward taken just now */
};

struct callroute_env {
    bool (*registered)(void *ctx, const char *user); /* has a live binding */
    bool (*dnd)(void *ctx, const char *user);        /* DND set at run time */
    void *ctx;
};

struct callroute {
    const struct dialplan *dp;
    const char *dialled;  /* as the caller dialled it */
    const char *resolved; /* the user, group or URI it stood for */
    const char *user;     /* the user whose devices ring now (NULL: group, URI) */
    const struct dialplan_group *group;
    size_t next_member;
    bool rang; /* some stage rang someone */
    const char *visited[DIALPLAN_MAX_HOPS + DIALPLAN_MAX_MEMBERS + 1];
    size_t nvisited;
    struct callroute_hop hops[DIALPLAN_MAX_HOPS];
    size_t nhops;
};

/* The first stage for @dialled (a user part). @dp and @dialled must
 * outlive @r. */
void callroute_start(struct callroute *r, const struct dialplan *dp, const char *dialled,
                     const struct callroute_env *env, struct callroute_stage *out);
/* The stage after one that ended with @ev. */
void callroute_next(struct callroute *r, enum callroute_event ev, const struct callroute_env *env,
                    struct callroute_stage *out);

/* Whether a stage after the current one is possible (a hunt group, or a
 * user with a busy or noanswer forward); if not, callroute_next() ends. */
bool callroute_may_continue(const struct callroute *r);

/* "busy", "noanswer", "dnd", ...: the journal's words. */
const char *callroute_why_name(enum callroute_why why);

#endif
