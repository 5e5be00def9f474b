/* The office's dial plan: extensions, groups, per-user forwarding and
 * do-not-disturb, call pickup, read from the main config file's
 * [extensions], [groups], [forward], [users] and [features] sections
 * (README "Office features").
 *
 * DESIGN: a plan is built once (start-up, SIGHUP), never changed, and
 * shared by every worker: published with RCU by its holder, and pinned by
 * a reference for as long as a call uses it (a call outlives any RCU read
 * section). Lookups are hash lookups of read-only tables. */
#ifndef SWITCHBOARD_DIALPLAN_H
#define SWITCHBOARD_DIALPLAN_H

#include <stdbool.h>
#include <stddef.h>

#define DIALPLAN_MAX_MEMBERS 32
#define DIALPLAN_MAX_HOPS 8 /* forwards one call may take */

struct dialplan;

enum dialplan_forward {
    DIALPLAN_ALWAYS,      /* without ringing */
    DIALPLAN_BUSY,        /* every device said 486/600, or DND */
    DIALPLAN_NOANSWER,    /* rang for its seconds */
    DIALPLAN_UNAVAILABLE, /* no device registered */
    DIALPLAN_FORWARDS
};

struct dialplan_group {
    const char *name;
    bool hunt;        /* one member after another; else all at once */
    unsigned seconds; /* hunt: how long each member rings */
    size_t count;
    const char *members[DIALPLAN_MAX_MEMBERS]; /* user names */
};

struct dialplan_user {
    const char *name;
    const char *forward[DIALPLAN_FORWARDS]; /* target names; NULL: none */
    unsigned noanswer_s;                    /* with forward[NOANSWER] */
    unsigned ring_s;                        /* its own ring timeout; 0: the plan's */
    bool dnd;
};

/* Parses the office sections of @text (a whole config file named @name;
 * other sections are skipped). Returns 0 and a plan (empty when the file
 * has none of them), or SB_EINVAL with "NAME:LINE: what is wrong" in
 * @err, or SB_ENOMEM. */
int dialplan_parse(const char *text, const char *name, struct dialplan **out, char *err,
                   size_t errsize);
/* Reads @path and parses it. */
int dialplan_load(const char *path, struct dialplan **out, char *err, size_t errsize);

void dialplan_ref(struct dialplan *dp);
void dialplan_unref(struct dialplan *dp);

/* Nothing configured: the proxy routes by user name alone. */
bool dialplan_empty(const struct dialplan *dp);
/* [users] ring_timeout: seconds a user's devices ring before the proxy
 * gives up (480, journaled "missed"); 0 = no limit but Timer C. */
unsigned dialplan_ring_timeout(const struct dialplan *dp);

/* [features] pickup: the code a phone dials (alone: a ringing call of a
 * group it is in; followed by a name: that one's) to answer a
 * colleague's ringing call; NULL when not set. */
const char *dialplan_pickup(const struct dialplan *dp);
/* Is @user a member of @g (NULL: no)? */
bool dialplan_in_group(const struct dialplan_group *g, const char *user);
/* Are users @a and @b in one group? */
bool dialplan_share_group(const struct dialplan *dp, const char *a, const char *b);

/* What a dialled name or forward target is, after [extensions]. */
enum dialplan_kind { DIALPLAN_NAME, DIALPLAN_GROUP, DIALPLAN_URI };
struct dialplan_target {
    enum dialplan_kind kind;
    const char *name;                   /* user name, group name or URI */
    const struct dialplan_group *group; /* DIALPLAN_GROUP */
};
void dialplan_resolve(const struct dialplan *dp, const char *name, struct dialplan_target *out);

/* Calls @fn with each extension of [extensions] and the name it dials
 * (a user, a group or a URI), in no order. */
void dialplan_each_extension(const struct dialplan *dp,
                             void (*fn)(void *arg, const char *extension, const char *target),
                             void *arg);

/* Calls @fn with each group of [groups], in no order. */
void dialplan_each_group(const struct dialplan *dp,
                         void (*fn)(void *arg, const struct dialplan_group *g), void *arg);

/* A user's settings, or NULL when [forward] and [users] say nothing. */
const struct dialplan_user *dialplan_user(const struct dialplan *dp, const char *name);

/* The current plan and the users set DND at run time, for every worker.
 * Readers are threads registered with liburcu; setters any one thread at
 * a time (main on SIGHUP, the admin plane). */
struct dialplan_holder;
/* Takes @initial (may be NULL: an empty plan). */
int dialplan_holder_create(struct dialplan *initial, struct dialplan_holder **out);
void dialplan_holder_destroy(struct dialplan_holder *h);
/* The current plan with a reference (dialplan_unref it), or NULL when it
 * is empty: calls are then routed by user name alone. */
struct dialplan *dialplan_holder_get(struct dialplan_holder *h);
/* Publishes @dp (taken); the old plan goes once no call holds it. */
void dialplan_holder_set(struct dialplan_holder *h, struct dialplan *dp);
/* Run-time do-not-disturb. */
bool dialplan_holder_dnd(struct dialplan_holder *h, const char *user);
int dialplan_holder_set_dnd(struct dialplan_holder *h, const char *user, bool on);
/* The users DND at run time, comma-separated (for the store and the
 * API), as a string of its own to free(); NULL when out of memory. Any
 * number of users, none cut short. */
char *dialplan_holder_dnd_list(struct dialplan_holder *h);
/* Replaces the run-time DND set by a comma-separated list (at start-up,
 * from the store). */
int dialplan_holder_load_dnd(struct dialplan_holder *h, const char *list);

/* "busy", "noanswer", ...: as in the config and the journal. */
const char *dialplan_forward_name(enum dialplan_forward f);

#endif
