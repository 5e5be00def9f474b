/* The office's dial plan. See dialplan.h. */
#include "switchboard/dialplan.h"

#include <ctype.h>
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <pthread.h>

#include <urcu.h>

#include "switchboard/buf.h"
#include "switchboard/conftext.h"
#include "switchboard/sip_msg.h"
#include "switchboard/error.h"
#include "switchboard/strmap.h"
#include "tsan_annotate.h"

struct ext_entry {
    struct strmap_link link; /* key: the extension */
    char *target;
};

struct group_entry {
    struct strmap_link link; /* key: the group's name */
    int line;
    struct dialplan_group group;
    char *names[DIALPLAN_MAX_MEMBERS];
};

struct user_entry {
    struct strmap_link link; /* key: the user's name */
    int line;                /* of its [forward] line */
    struct dialplan_user user;
    char *targets[DIALPLAN_FORWARDS];
    /* the loop check's walk: WHITE not seen, GREY on the path, BLACK done
     * (then ->steps is the longest forward chain from here) */
    unsigned char color;
    int steps;
};

struct dialplan {
    atomic_uint refs;
    struct strmap extensions, groups, users;
    unsigned ring_timeout_s;
    char pickup[16]; /* [features] pickup; "" = off */
    bool empty;
};

/* What the parser of one file needs. */
struct parse {
    struct dialplan *dp;
    struct conftext_pos pos;
};

static const char *const forward_names[DIALPLAN_FORWARDS] = {"always", "busy", "noanswer",
                                                             "unavailable"};

const char *dialplan_forward_name(enum dialplan_forward f)
{
    return f < DIALPLAN_FORWARDS ? forward_names[f] : "?";
}

/* --- words ----------------------------------------------------------------- */

/* A user, group or extension name: letters, digits and . _ - + */
static bool name_valid(const char *s)
{
    if (!*s || strlen(s) > 63)
        return false;
    for (; *s; s++)
        if (!isalnum((unsigned char)*s) && !strchr("._-+", *s))
            return false;
    return true;
}

static bool target_valid(const char *s)
{
    if (!strncasecmp(s, "sip:", 4) || !strncasecmp(s, "sips:", 5))
        return strlen(s) < 256 && !strpbrk(s, " \t;,");
    return name_valid(s);
}

static bool parse_seconds(const char *s, unsigned max, unsigned *out)
{
    char *end;
    errno = 0;
    unsigned long v = strtoul(s, &end, 10);
    if (end == s || *end || errno || v > max || !isdigit((unsigned char)*s))
        return false;
    *out = (unsigned)v;
    return true;
}

/* --- the tables ------------------------------------------------------------ */

static void ext_free(struct strmap_link *l)
{
    struct ext_entry *e = (struct ext_entry *)l;
    free(e->target);
    free(l->key);
    free(e);
}

static void group_free(struct strmap_link *l)
{
    struct group_entry *g = (struct group_entry *)l;
    for (size_t i = 0; i < g->group.count; i++)
        free(g->names[i]);
    free(l->key);
    free(g);
}

static void user_free(struct strmap_link *l)
{
    struct user_entry *u = (struct user_entry *)l;
    for (int i = 0; i < DIALPLAN_FORWARDS; i++)
        free(u->targets[i]);
    free(l->key);
    free(u);
}

static void *find(const struct strmap *m, const char *key)
{
    return strmap_find(m, key, strlen(key));
}

/* Inserts @entry under a copy of @key; the caller checked it is new. */
static int insert(struct strmap *m, struct strmap_link *entry, const char *key)
{
    char *copy = strdup(key);
    if (!copy)
        return SB_ENOMEM;
    strmap_insert(m, entry, copy, strlen(copy));
    return 0;
}

static struct user_entry *user_get(struct parse *p, const char *name)
{
    struct user_entry *u = find(&p->dp->users, name);
    if (u)
        return u;
    u = calloc(1, sizeof(*u));
    if (!u || insert(&p->dp->users, &u->link, name) != 0) {
        free(u);
        return NULL;
    }
    u->user.name = u->link.key;
    return u;
}

/* --- sections -------------------------------------------------------------- */

static int extension_line(struct parse *p, const char *key, const char *value)
{
    if (!name_valid(key))
        return conftext_fail(&p->pos, "extension '%s': use letters, digits and . _ - +", key);
    if (!target_valid(value))
        return conftext_fail(&p->pos, "extension %s: '%s' is no user, group or sip: URI", key,
                             value);
    if (find(&p->dp->extensions, key))
        return conftext_fail(&p->pos, "extension %s is defined twice", key);
    struct ext_entry *e = calloc(1, sizeof(*e));
    if (!e || !(e->target = strdup(value)) || insert(&p->dp->extensions, &e->link, key) != 0) {
        if (e)
            free(e->target);
        free(e);
        return SB_ENOMEM;
    }
    return 0;
}

static void add_member(struct dialplan_group *g, const char *name)
{
    g->members[g->count] = name;
    g->count++;
}

/* "all: a, b, c" or "hunt 15: a, b, c" */
static int group_line(struct parse *p, const char *key, char *value)
{
    if (!name_valid(key))
        return conftext_fail(&p->pos, "group '%s': use letters, digits and . _ - +", key);
    if (find(&p->dp->groups, key))
        return conftext_fail(&p->pos, "group %s is defined twice", key);
    char *colon = strchr(value, ':');
    if (!colon)
        return conftext_fail(&p->pos, "group %s: want 'all: MEMBERS' or 'hunt SECONDS: MEMBERS'",
                             key);
    *colon = '\0';
    char *mode = conftext_trim(value);
    struct group_entry *g = calloc(1, sizeof(*g));
    if (!g)
        return SB_ENOMEM;
    int rc = 0;
    if (!strcasecmp(mode, "all")) {
        g->group.hunt = false;
    } else if (!strncasecmp(mode, "hunt", 4) && isspace((unsigned char)mode[4]) &&
               parse_seconds(conftext_trim(mode + 5), 600, &g->group.seconds) &&
               g->group.seconds > 0) {
        g->group.hunt = true;
    } else {
        rc = conftext_fail(&p->pos, "group %s: '%s' is neither 'all' nor 'hunt SECONDS' (1-600)",
                           key, mode);
    }
    char *save = NULL;
    for (char *m = strtok_r(colon + 1, ",", &save); m && rc == 0; m = strtok_r(NULL, ",", &save)) {
        m = conftext_trim(m);
        if (!name_valid(m))
            rc = conftext_fail(&p->pos, "group %s: member '%s' is no user name", key, m);
        else if (g->group.count == DIALPLAN_MAX_MEMBERS)
            rc =
                conftext_fail(&p->pos, "group %s: more than %d members", key, DIALPLAN_MAX_MEMBERS);
        else if (!(g->names[g->group.count] = strdup(m)))
            rc = SB_ENOMEM;
        else
            add_member(&g->group, g->names[g->group.count]);
    }
    if (rc == 0 && g->group.count == 0)
        rc = conftext_fail(&p->pos, "group %s has no members", key);
    g->line = p->pos.line;
    if (rc == 0)
        rc = insert(&p->dp->groups, &g->link, key);
    if (rc != 0) {
        for (size_t i = 0; i < g->group.count; i++)
            free(g->names[i]);
        free(g);
        return rc;
    }
    g->group.name = g->link.key;
    return 0;
}

/* One rule of a [forward] line: "busy: T", "noanswer 20: T", ... */
static int forward_rule(struct parse *p, const char *user, struct user_entry *u, char *rule)
{
    char *colon = strchr(rule, ':');
    if (!colon || !strncasecmp(conftext_trim(colon + 1), "//", 2))
        return conftext_fail(&p->pos, "forward %s: want 'CONDITION: TARGET' in '%s'", user,
                             conftext_trim(rule));
    *colon = '\0';
    char *cond = conftext_trim(rule), *target = conftext_trim(colon + 1);
    unsigned seconds = 0;
    int kind = -1;
    for (int i = 0; i < DIALPLAN_FORWARDS; i++)
        if (!strcasecmp(cond, forward_names[i]))
            kind = i;
    if (!strncasecmp(cond, "noanswer", 8) && isspace((unsigned char)cond[8])) {
        if (!parse_seconds(conftext_trim(cond + 9), 600, &seconds) || seconds == 0)
            return conftext_fail(&p->pos, "forward %s: noanswer wants seconds from 1 to 600", user);
        kind = DIALPLAN_NOANSWER;
    } else if (kind == DIALPLAN_NOANSWER) {
        return conftext_fail(
            &p->pos, "forward %s: noanswer wants its seconds, e.g. 'noanswer 20: carol'", user);
    }
    if (kind < 0)
        return conftext_fail(
            &p->pos, "forward %s: '%s' is not always, busy, noanswer N or unavailable", user, cond);
    if (!target_valid(target))
        return conftext_fail(&p->pos, "forward %s: '%s' is no user, group, extension or sip: URI",
                             user, target);
    if (u->targets[kind])
        return conftext_fail(&p->pos, "forward %s: %s given twice", user, forward_names[kind]);
    if (!(u->targets[kind] = strdup(target)))
        return SB_ENOMEM;
    u->user.forward[kind] = u->targets[kind];
    if (kind == DIALPLAN_NOANSWER)
        u->user.noanswer_s = seconds;
    return 0;
}

static int forward_line(struct parse *p, const char *key, char *value)
{
    if (!name_valid(key))
        return conftext_fail(&p->pos, "forward: '%s' is no user name", key);
    struct user_entry *u = user_get(p, key);
    if (!u)
        return SB_ENOMEM;
    for (int i = 0; i < DIALPLAN_FORWARDS; i++)
        if (u->targets[i])
            return conftext_fail(&p->pos, "forward %s is defined twice", key);
    u->line = p->pos.line;
    char *save = NULL;
    int rc = 0, rules = 0;
    for (char *r = strtok_r(value, ";", &save); r && rc == 0; r = strtok_r(NULL, ";", &save)) {
        if (!*conftext_trim(r))
            continue;
        rc = forward_rule(p, key, u, r);
        rules++;
    }
    return rc != 0 ? rc : rules ? 0 : conftext_fail(&p->pos, "forward %s: no rule", key);
}

static int yes_no(const char *v, bool *out)
{
    if (!strcasecmp(v, "yes") || !strcasecmp(v, "true") || !strcmp(v, "1") || !strcasecmp(v, "on"))
        *out = true;
    else if (!strcasecmp(v, "no") || !strcasecmp(v, "false") || !strcmp(v, "0") ||
             !strcasecmp(v, "off"))
        *out = false;
    else
        return -1;
    return 0;
}

/* "ring_timeout = 25", "carol.dnd = yes", "carol.ring_timeout = 40" */
static int users_line(struct parse *p, const char *key, const char *value)
{
    if (!strcmp(key, "ring_timeout")) {
        if (!parse_seconds(value, 3600, &p->dp->ring_timeout_s))
            return conftext_fail(
                &p->pos, "ring_timeout: want seconds from 0 (none) to 3600, not '%s'", value);
        return 0;
    }
    const char *dot = strrchr(key, '.');
    char user[64];
    if (!dot || dot == key || (size_t)(dot - key) >= sizeof(user))
        return conftext_fail(&p->pos,
                             "unknown setting '%s' in [users] (want ring_timeout, USER.dnd or "
                             "USER.ring_timeout)",
                             key);
    memcpy(user, key, (size_t)(dot - key));
    user[dot - key] = '\0';
    if (!name_valid(user))
        return conftext_fail(&p->pos, "[users] %s: '%s' is no user name", key, user);
    struct user_entry *u = user_get(p, user);
    if (!u)
        return SB_ENOMEM;
    if (!strcmp(dot + 1, "dnd")) {
        if (yes_no(value, &u->user.dnd) != 0)
            return conftext_fail(&p->pos, "%s: want yes or no, not '%s'", key, value);
    } else if (!strcmp(dot + 1, "ring_timeout")) {
        if (!parse_seconds(value, 3600, &u->user.ring_s))
            return conftext_fail(&p->pos, "%s: want seconds from 0 to 3600, not '%s'", key, value);
    } else {
        return conftext_fail(&p->pos, "unknown setting '%s' in [users] (want dnd or ring_timeout)",
                             dot + 1);
    }
    return 0;
}

/* [features] pickup = CODE: what a phone dials to pick up a ringing
 * call; digits, '*' and '#', at most 15. */
static int features_line(struct parse *p, const char *key, const char *value)
{
    if (strcmp(key, "pickup") != 0)
        return conftext_fail(&p->pos, "unknown setting '%s' in [features] (want pickup)", key);
    size_t n = strlen(value);
    if (n == 0 || n >= sizeof(p->dp->pickup) || strspn(value, "0123456789*#") != n)
        return conftext_fail(&p->pos, "pickup: want digits, '*' and '#' (at most 15), not '%s'",
                             value);
    memcpy(p->dp->pickup, value, n + 1);
    return 0;
}

/* --- checks across sections ------------------------------------------------ */

void dialplan_resolve(const struct dialplan *dp, const char *name, struct dialplan_target *out)
{
    const struct ext_entry *e = find(&dp->extensions, name);
    if (e)
        name = e->target;
    out->name = name;
    out->group = NULL;
    if (!strncasecmp(name, "sip:", 4) || !strncasecmp(name, "sips:", 5)) {
        out->kind = DIALPLAN_URI;
        return;
    }
    const struct group_entry *g = find(&dp->groups, name);
    out->kind = g ? DIALPLAN_GROUP : DIALPLAN_NAME;
    if (g)
        out->group = &g->group;
}

void dialplan_each_extension(const struct dialplan *dp,
                             void (*fn)(void *arg, const char *extension, const char *target),
                             void *arg)
{
    for (size_t b = 0; b <= dp->extensions.mask; b++)
        for (const struct strmap_link *l = dp->extensions.buckets[b]; l; l = l->next)
            fn(arg, l->key, ((const struct ext_entry *)l)->target);
}

void dialplan_each_group(const struct dialplan *dp,
                         void (*fn)(void *arg, const struct dialplan_group *g), void *arg)
{
    for (size_t b = 0; b <= dp->groups.mask; b++)
        for (const struct strmap_link *l = dp->groups.buckets[b]; l; l = l->next)
            fn(arg, &((const struct group_entry *)l)->group);
}

/* Group members must be users, not groups (a group rings people). */
static int check_groups(struct parse *p)
{
    for (size_t i = 0; i <= p->dp->groups.mask; i++) {
        for (struct strmap_link *l = p->dp->groups.buckets[i]; l; l = l->next) {
            struct group_entry *g = (struct group_entry *)l;
            for (size_t m = 0; m < g->group.count; m++) {
                struct dialplan_target t;
                dialplan_resolve(p->dp, g->group.members[m], &t);
                p->pos.line = g->line;
                if (t.kind != DIALPLAN_NAME)
                    return conftext_fail(&p->pos,
                                         "group %s: member %s is a group or URI, not a user",
                                         g->group.name, g->group.members[m]);
                g->group.members[m] = t.name; /* an extension stands for its user */
            }
        }
    }
    return 0;
}

/* A forward chain that comes back to where it started would ring in circles:
 * refused at load time, naming the circle; and one longer than a call may
 * follow is refused too. One depth-first walk over users and forwards,
 * each visited once (linear in their number, however they branch): a
 * forward to a user on the current path (GREY) closes a circle; a user
 * done (BLACK) knows the longest chain below it. */
enum { WHITE, GREY, BLACK };

struct walk_step {
    struct user_entry *u;
    int next; /* the forward kind to follow next */
};

/* The user a forward of @u leads to (of kind @k), or NULL. */
static struct user_entry *forward_user(struct parse *p, const struct user_entry *u, int k)
{
    if (!u->user.forward[k])
        return NULL;
    struct dialplan_target t;
    dialplan_resolve(p->dp, u->user.forward[k], &t);
    return t.kind == DIALPLAN_NAME ? (struct user_entry *)find(&p->dp->users, t.name) : NULL;
}

static int report_circle(struct parse *p, const struct walk_step *path, size_t depth,
                         const struct user_entry *back)
{
    size_t i = 0;
    while (i < depth && path[i].u != back)
        i++;
    char circle[512] = "";
    size_t n = 0;
    for (size_t j = i; j < depth && n < sizeof(circle); j++)
        n += (size_t)snprintf(circle + n, sizeof(circle) - n, "%s -> ", path[j].u->link.key);
    if (n < sizeof(circle))
        snprintf(circle + n, sizeof(circle) - n, "%s", back->link.key);
    p->pos.line = back->line;
    return conftext_fail(&p->pos, "forward loop: %s", circle);
}

static int walk_from(struct parse *p, struct user_entry *start, struct walk_step *path)
{
    size_t depth = 1;
    path[0] = (struct walk_step){start, 0};
    start->color = GREY;
    while (depth > 0) {
        struct walk_step *top = &path[depth - 1];
        if (top->next == DIALPLAN_FORWARDS) {
            top->u->color = BLACK;
            if (--depth > 0 && path[depth - 1].u->steps < top->u->steps + 1)
                path[depth - 1].u->steps = top->u->steps + 1;
            continue;
        }
        struct user_entry *v = forward_user(p, top->u, top->next++);
        if (!v)
            continue;
        if (v->color == GREY)
            return report_circle(p, path, depth, v);
        if (v->color == BLACK) {
            if (top->u->steps < v->steps + 1)
                top->u->steps = v->steps + 1;
            continue;
        }
        v->color = GREY;
        path[depth++] = (struct walk_step){v, 0};
    }
    if (start->steps > DIALPLAN_MAX_HOPS * 4) {
        p->pos.line = start->line;
        return conftext_fail(&p->pos, "forward chain from %s is longer than %d steps",
                             start->link.key, DIALPLAN_MAX_HOPS * 4);
    }
    return 0;
}

static int check_loops(struct parse *p)
{
    size_t users = p->dp->users.count;
    struct walk_step *path = calloc(users ? users : 1, sizeof(*path));
    if (!path)
        return conftext_fail(&p->pos, "out of memory");
    int rc = 0;
    for (size_t i = 0; rc == 0 && i <= p->dp->users.mask; i++)
        for (struct strmap_link *l = p->dp->users.buckets[i]; rc == 0 && l; l = l->next) {
            struct user_entry *u = (struct user_entry *)l;
            if (u->color == WHITE)
                rc = walk_from(p, u, path);
        }
    free(path);
    return rc;
}

/* --- parsing --------------------------------------------------------------- */

enum section { S_OTHER, S_EXTENSIONS, S_GROUPS, S_FORWARD, S_USERS, S_FEATURES };

static int parse_line(struct parse *p, enum section *sec, char *line)
{
    char *s = conftext_trim(line);
    if (!*s || *s == ';' || *s == '#')
        return 0;
    if (*s == '[') {
        char *end = strchr(s, ']');
        if (!end)
            return 0; /* config.c names the missing ']' */
        *end = '\0';
        const char *name = conftext_trim(s + 1);
        *sec = !strcmp(name, "extensions") ? S_EXTENSIONS
               : !strcmp(name, "groups")   ? S_GROUPS
               : !strcmp(name, "forward")  ? S_FORWARD
               : !strcmp(name, "users")    ? S_USERS
               : !strcmp(name, "features") ? S_FEATURES
                                           : S_OTHER;
        return 0;
    }
    if (*sec == S_OTHER)
        return 0;
    conftext_cut_comment(s);
    char *eq = strchr(s, '=');
    if (!eq)
        return conftext_fail(&p->pos, "expected 'key = value'");
    *eq = '\0';
    char *key = conftext_trim(s), *value = conftext_trim(eq + 1);
    p->dp->empty = false;
    switch (*sec) {
    case S_EXTENSIONS:
        return extension_line(p, key, value);
    case S_GROUPS:
        return group_line(p, key, value);
    case S_FORWARD:
        return forward_line(p, key, value);
    case S_FEATURES:
        return features_line(p, key, value);
    default:
        return users_line(p, key, value);
    }
}

struct line_ctx {
    struct parse *p;
    enum section sec;
};

static int one_line(void *arg, char *line)
{
    struct line_ctx *c = arg;
    return parse_line(c->p, &c->sec, line);
}

static struct dialplan *dialplan_new(void)
{
    struct dialplan *dp = calloc(1, sizeof(*dp));
    if (!dp)
        return NULL;
    atomic_init(&dp->refs, 1);
    dp->empty = true;
    if (strmap_init(&dp->extensions, 64) || strmap_init(&dp->groups, 16) ||
        strmap_init(&dp->users, 64)) {
        strmap_fini(&dp->extensions);
        strmap_fini(&dp->groups);
        free(dp);
        return NULL;
    }
    return dp;
}

static void dialplan_free(struct dialplan *dp)
{
    strmap_clear(&dp->extensions, ext_free);
    strmap_clear(&dp->groups, group_free);
    strmap_clear(&dp->users, user_free);
    strmap_fini(&dp->extensions);
    strmap_fini(&dp->groups);
    strmap_fini(&dp->users);
    free(dp);
}

int dialplan_parse(const char *text, const char *name, struct dialplan **out, char *err,
                   size_t errsize)
{
    struct parse p = {.dp = dialplan_new(), .pos = {.name = name, .err = err, .errsize = errsize}};
    if (!p.dp)
        return SB_ENOMEM;
    err[0] = '\0';
    struct line_ctx lines = {.p = &p, .sec = S_OTHER};
    int rc = conftext_each_line(&p.pos, text, one_line, &lines);
    p.pos.line = 0;
    if (rc == 0)
        rc = check_groups(&p);
    if (rc == 0)
        rc = check_loops(&p);
    if (rc != 0) {
        dialplan_free(p.dp);
        return rc;
    }
    *out = p.dp;
    return 0;
}

int dialplan_load(const char *path, struct dialplan **out, char *err, size_t errsize)
{
    char *text;
    int rc = conftext_read_file(path, &text, err, errsize);
    if (rc != 0)
        return rc;
    rc = dialplan_parse(text, path, out, err, errsize);
    free(text);
    return rc;
}

void dialplan_ref(struct dialplan *dp)
{
    if (dp)
        atomic_fetch_add(&dp->refs, 1);
}

void dialplan_unref(struct dialplan *dp)
{
    if (dp && atomic_fetch_sub(&dp->refs, 1) == 1)
        dialplan_free(dp);
}

bool dialplan_empty(const struct dialplan *dp)
{
    return !dp || dp->empty;
}

unsigned dialplan_ring_timeout(const struct dialplan *dp)
{
    return dp ? dp->ring_timeout_s : 0;
}

const char *dialplan_pickup(const struct dialplan *dp)
{
    return dp && dp->pickup[0] ? dp->pickup : NULL;
}

bool dialplan_in_group(const struct dialplan_group *g, const char *user)
{
    for (size_t i = 0; g && i < g->count; i++)
        if (!strcmp(g->members[i], user))
            return true;
    return false;
}

bool dialplan_share_group(const struct dialplan *dp, const char *a, const char *b)
{
    for (size_t i = 0; dp && i <= dp->groups.mask; i++)
        for (const struct strmap_link *l = dp->groups.buckets[i]; l; l = l->next) {
            const struct group_entry *g = (const struct group_entry *)l;
            if (dialplan_in_group(&g->group, a) && dialplan_in_group(&g->group, b))
                return true;
        }
    return false;
}

const struct dialplan_user *dialplan_user(const struct dialplan *dp, const char *name)
{
    const struct user_entry *u = dp ? find(&dp->users, name) : NULL;
    return u ? &u->user : NULL;
}

/* --- the holder ---------------------------------------------------------- */

/* A sorted, immutable set of user names, replaced as a whole. */
struct dnd_set {
    struct rcu_head rcu;
    size_t count;
    char *names[];
};

struct dialplan_holder {
    struct dialplan *plan;  /* RCU pointer */
    struct dnd_set *dnd;    /* RCU pointer; NULL: nobody */
    pthread_mutex_t writer; /* one setter at a time */
};

static void dnd_set_free(struct dnd_set *d)
{
    for (size_t i = 0; d && i < d->count; i++)
        free(d->names[i]);
    free(d);
}

static void dnd_set_free_rcu(struct rcu_head *head)
{
    struct dnd_set *d = caa_container_of(head, struct dnd_set, rcu);
    tsan_rcu_reclaim(d);
    dnd_set_free(d);
}

int dialplan_holder_create(struct dialplan *initial, struct dialplan_holder **out)
{
    struct dialplan_holder *h = calloc(1, sizeof(*h));
    if (!h)
        return SB_ENOMEM;
    pthread_mutex_init(&h->writer, NULL);
    h->plan = initial;
    *out = h;
    return 0;
}

void dialplan_holder_destroy(struct dialplan_holder *h)
{
    if (!h)
        return;
    dialplan_unref(h->plan);
    dnd_set_free(h->dnd);
    pthread_mutex_destroy(&h->writer);
    free(h);
}

struct dialplan *dialplan_holder_get(struct dialplan_holder *h)
{
    if (!h)
        return NULL;
    rcu_read_lock();
    struct dialplan *dp = rcu_dereference(h->plan);
    tsan_observe(dp);
    if (dp && dp->empty)
        dp = NULL;
    dialplan_ref(dp);
    rcu_read_unlock();
    return dp;
}

void dialplan_holder_set(struct dialplan_holder *h, struct dialplan *dp)
{
    pthread_mutex_lock(&h->writer);
    tsan_publish(dp);
    struct dialplan *old = rcu_xchg_pointer(&h->plan, dp);
    pthread_mutex_unlock(&h->writer);
    synchronize_rcu(); /* no reader is between dereference and ref */
    dialplan_unref(old);
}

static int name_compare(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

bool dialplan_holder_dnd(struct dialplan_holder *h, const char *user)
{
    if (!h)
        return false;
    rcu_read_lock();
    const struct dnd_set *d = rcu_dereference(h->dnd);
    tsan_observe(d);
    bool on = d && bsearch(&user, d->names, d->count, sizeof(d->names[0]), name_compare);
    tsan_rcu_read_done(d);
    rcu_read_unlock();
    return on;
}

/* Builds the set @old with @user added or removed; NULL on failure. */
static struct dnd_set *dnd_set_with(const struct dnd_set *old, const char *user, bool on)
{
    size_t n = old ? old->count : 0;
    struct dnd_set *d = calloc(1, sizeof(*d) + (n + 1) * sizeof(char *));
    if (!d)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        if (!strcmp(old->names[i], user))
            continue;
        if (!(d->names[d->count] = strdup(old->names[i]))) {
            dnd_set_free(d);
            return NULL;
        }
        d->count++;
    }
    if (on && !(d->names[d->count++] = strdup(user))) {
        dnd_set_free(d);
        return NULL;
    }
    qsort(d->names, d->count, sizeof(d->names[0]), name_compare);
    return d;
}

int dialplan_holder_set_dnd(struct dialplan_holder *h, const char *user, bool on)
{
    pthread_mutex_lock(&h->writer);
    struct dnd_set *d = dnd_set_with(h->dnd, user, on);
    tsan_publish(d);
    struct dnd_set *old = d ? rcu_xchg_pointer(&h->dnd, d) : NULL;
    pthread_mutex_unlock(&h->writer);
    if (!d)
        return SB_ENOMEM;
    if (old)
        call_rcu(&old->rcu, dnd_set_free_rcu);
    return 0;
}

char *dialplan_holder_dnd_list(struct dialplan_holder *h)
{
    struct sb_buf b = {0};
    rcu_read_lock();
    const struct dnd_set *d = rcu_dereference(h->dnd);
    tsan_observe(d);
    for (size_t i = 0; d && i < d->count; i++) {
        if (i)
            sb_buf_puts(&b, ",");
        sb_buf_puts(&b, d->names[i]);
    }
    tsan_rcu_read_done(d);
    rcu_read_unlock();
    sb_buf_append(&b, "", 1); /* its NUL */
    if (b.failed) {
        sb_buf_free(&b);
        return NULL;
    }
    return b.data;
}

int dialplan_holder_load_dnd(struct dialplan_holder *h, const char *list)
{
    char *copy = strdup(list);
    if (!copy)
        return SB_ENOMEM;
    int rc = 0;
    char *save = NULL;
    for (char *u = strtok_r(copy, ",", &save); u && rc == 0; u = strtok_r(NULL, ",", &save))
        if (name_valid(conftext_trim(u)))
            rc = dialplan_holder_set_dnd(h, conftext_trim(u), true);
    free(copy);
    return rc;
}
