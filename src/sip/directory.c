/* The office directory. See directory.h. */
#include "switchboard/directory.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "switchboard/auth.h"
#include "switchboard/buf.h"
#include "switchboard/dialplan.h"
#include "switchboard/error.h"
#include "switchboard/json.h"
#include "switchboard/strmap.h"

#define ENTRY_EXTENSIONS 16 /* listed per name, at most */

/* A name (user or group) and the extensions that dial it. */
struct entry {
    struct strmap_link link; /* first (strmap.h); key: the name */
    const struct dialplan_group *group;
    size_t count;
    const char *extensions[ENTRY_EXTENSIONS];
};

struct gather {
    struct strmap names;
    const struct dialplan *dp;
    bool failed;
};

/* @name's entry, made when missing. */
static struct entry *entry_for(struct gather *g, const char *name)
{
    size_t len = strlen(name);
    struct entry *e = (struct entry *)strmap_find(&g->names, name, len);
    if (e)
        return e;
    char *key = strdup(name);
    e = calloc(1, sizeof(*e));
    if (!key || !e) {
        free(key);
        free(e);
        g->failed = true;
        return NULL;
    }
    strmap_insert(&g->names, &e->link, key, len);
    return e;
}

static void add_user(void *arg, const char *name)
{
    entry_for(arg, name);
}

static void add_extension(void *arg, const char *extension, const char *target)
{
    struct gather *g = arg;
    struct dialplan_target t;
    dialplan_resolve(g->dp, extension, &t);
    if (t.kind == DIALPLAN_URI)
        return; /* a number outside: no one of the office */
    struct entry *e = entry_for(g, target);
    if (e && e->count < ENTRY_EXTENSIONS)
        e->extensions[e->count++] = extension;
}

static void add_group(void *arg, const struct dialplan_group *grp)
{
    struct gather *g = arg;
    struct entry *e = entry_for(g, grp->name);
    if (e)
        e->group = grp;
    for (size_t i = 0; i < grp->count; i++)
        entry_for(g, grp->members[i]);
}

static int by_name(const void *a, const void *b)
{
    const struct entry *x = *(const struct entry *const *)a, *y = *(const struct entry *const *)b;
    return strcmp(x->link.key, y->link.key);
}

static int by_text(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* One entry's object: its name, its extensions (sorted), and a group's
 * kind and members. */
static void write_entry(struct sb_buf *out, struct entry *e)
{
    sb_buf_puts(out, "{\"name\":");
    json_string(out, e->link.key);
    sb_buf_puts(out, ",\"extensions\":[");
    qsort(e->extensions, e->count, sizeof(e->extensions[0]), by_text);
    for (size_t i = 0; i < e->count; i++) {
        sb_buf_puts(out, i ? "," : "");
        json_string(out, e->extensions[i]);
    }
    sb_buf_puts(out, "]");
    if (e->group) {
        sb_buf_printf(out, ",\"hunt\":%s,\"members\":[", e->group->hunt ? "true" : "false");
        for (size_t i = 0; i < e->group->count; i++) {
            sb_buf_puts(out, i ? "," : "");
            json_string(out, e->group->members[i]);
        }
        sb_buf_puts(out, "]");
    }
    sb_buf_puts(out, "}");
}

/* The sorted entries, people (@groups false) or groups, as a JSON list. */
static void write_list(struct sb_buf *out, struct entry **v, size_t n, bool groups)
{
    bool first = true;
    sb_buf_puts(out, "[");
    for (size_t i = 0; i < n; i++) {
        if ((v[i]->group != NULL) != groups)
            continue;
        sb_buf_puts(out, first ? "" : ",");
        first = false;
        write_entry(out, v[i]);
    }
    sb_buf_puts(out, "]");
}

static void free_entry(struct strmap_link *l)
{
    free(l);
}

int directory_json(const struct dialplan *dp, struct auth *a, struct sb_buf *out)
{
    struct gather g = {.dp = dp};
    if (strmap_init(&g.names, 64) != 0)
        return SB_ENOMEM;
    if (a)
        auth_each_user(a, add_user, &g);
    if (dp) {
        dialplan_each_group(dp, add_group, &g);
        dialplan_each_extension(dp, add_extension, &g);
    }
    struct entry **v = malloc((g.names.count ? g.names.count : 1) * sizeof(*v));
    size_t n = 0;
    for (size_t b = 0; v && b <= g.names.mask; b++)
        for (struct strmap_link *l = g.names.buckets[b]; l; l = l->next)
            v[n++] = (struct entry *)l;
    int rc = v && !g.failed ? 0 : SB_ENOMEM;
    if (rc == 0) {
        qsort(v, n, sizeof(*v), by_name);
        sb_buf_puts(out, "{\"people\":");
        write_list(out, v, n, false);
        sb_buf_puts(out, ",\"groups\":");
        write_list(out, v, n, true);
        sb_buf_puts(out, "}\n");
        rc = out->failed ? SB_ENOMEM : 0;
    }
    free(v);
    strmap_clear(&g.names, free_entry);
    strmap_fini(&g.names);
    return rc;
}
