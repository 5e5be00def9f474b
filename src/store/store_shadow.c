/* The shadow and the three-way merge of the shared store. See
 * store_shadow.h. */
#include "switchboard/store_shadow.h"

#include <stdlib.h>
#include <string.h>

#include "switchboard/buf.h"
#include "switchboard/error.h"
#include "switchboard/registrar.h"
#include "switchboard/store_redis_codec.h"

void store_shadow_free(struct store_shadow *sh)
{
    if (!sh)
        return;
    for (size_t i = 0; i < sh->count; i++) {
        free(sh->e[i].field);
        free(sh->e[i].call_id);
    }
    free(sh);
}

const struct store_shadow_entry *store_shadow_entry(const struct store_shadow *sh,
                                                    const char *field)
{
    for (size_t i = 0; sh && i < sh->count; i++)
        if (strcmp(sh->e[i].field, field) == 0)
            return &sh->e[i];
    return NULL;
}

/* A shadow naming the version of each of @b[0..n) (NULL when n is 0). */
struct store_shadow *store_shadow_build(const struct registrar_binding *b, size_t n, bool *failed)
{
    if (n == 0)
        return NULL;
    struct store_shadow *sh = calloc(1, sizeof(*sh) + n * sizeof(sh->e[0]));
    if (!sh) {
        *failed = true;
        return NULL;
    }
    for (size_t i = 0; i < n; i++) {
        struct sb_buf f = {0};
        store_redis_field(&b[i], &f);
        sh->e[i].field = f.failed ? NULL : f.data;
        sh->e[i].call_id = strdup(b[i].call_id ? b[i].call_id : "");
        sh->e[i].cseq = b[i].cseq;
        sh->count++;
        if (!sh->e[i].field || !sh->e[i].call_id) {
            store_shadow_free(sh);
            *failed = true;
            return NULL;
        }
    }
    return sh;
}

bool store_shadow_same_version(const struct store_shadow_entry *e,
                               const struct registrar_binding *b)
{
    return e && e->cseq == b->cseq && strcmp(e->call_id, b->call_id ? b->call_id : "") == 0;
}

static bool same_version_b(const struct registrar_binding *a, const struct registrar_binding *b)
{
    return a->cseq == b->cseq && a->call_id && b->call_id && strcmp(a->call_id, b->call_id) == 0;
}

static int remote_find(const struct store_remote_set *rs, const char *field)
{
    for (size_t i = 0; i < rs->count; i++) {
        struct sb_buf f = {0};
        store_redis_field(&rs->b[i], &f);
        bool same = f.data && strcmp(f.data, field) == 0;
        sb_buf_free(&f);
        if (same)
            return (int)i;
    }
    return -1;
}

/* Whether local binding @l is a change of ours not yet written: it is ours
 * and not the version the shadow names, unless Redis holds a later CSeq
 * for its Call-ID (then ours is out of order, §10.3 step 7). */
static bool pending_change(const struct registrar_binding *l, const struct store_shadow_entry *e,
                           const struct registrar_binding *remote)
{
    if (l->node || store_shadow_same_version(e, l))
        return false;
    return !(remote && remote->call_id && l->call_id && strcmp(remote->call_id, l->call_id) == 0 &&
             remote->cseq > l->cseq);
}

/* registrar_rewrite_fn: registrar (@old), shadow and Redis, three ways. */
int store_shadow_merge(void *arg, const struct registrar_set *old, struct registrar_binding *out,
                       size_t room)
{
    const struct store_shadow_merge *m = arg;
    size_t n = 0, nr = m->rs->count;
    bool *used = calloc(nr ? nr : 1, sizeof(*used)); /* sized by stored data: never the stack */
    if (!used)
        return SB_ENOMEM;
    for (size_t i = 0; old && i < old->count && n < room; i++) {
        const struct registrar_binding *l = &old->bindings[i];
        struct sb_buf f = {0};
        store_redis_field(l, &f);
        if (f.failed) {
            sb_buf_free(&f);
            free(used);
            return SB_ENOMEM;
        }
        int ri = remote_find(m->rs, f.data);
        const struct registrar_binding *rb = ri >= 0 ? &m->rs->b[ri] : NULL;
        bool pending = pending_change(l, store_shadow_entry(m->sh, f.data), rb);
        sb_buf_free(&f);
        if (ri >= 0)
            used[ri] = true;
        if (pending)
            out[n++] = *l; /* its write is queued */
        else if (rb)
            out[n++] = !rb->node && same_version_b(l, rb) ? *l : *rb; /* keep our flow */
    }
    for (size_t i = 0; i < nr && n < room; i++) {
        if (used[i])
            continue;
        struct sb_buf f = {0};
        store_redis_field(&m->rs->b[i], &f);
        /* we removed it (the shadow names this very version): stays removed */
        bool removed =
            f.data && store_shadow_same_version(store_shadow_entry(m->sh, f.data), &m->rs->b[i]);
        sb_buf_free(&f);
        if (!removed)
            out[n++] = m->rs->b[i];
    }
    free(used);
    return (int)n;
}
