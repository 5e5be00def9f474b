/* Unit tests for src/store/store_shadow.c, the shared store's three-way
 * merge (registrar, shadow, Redis) run when another node changed an AoR:
 * concurrent writers keep each other's bindings, a change of ours not yet
 * written survives a read-back (unless Redis holds a later CSeq of its
 * Call-ID, RFC 3261 §10.3 step 7), and a deletion of ours racing another
 * write removes only the version it saw. No Redis server needed. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "switchboard/registrar.h"
#include "switchboard/store_shadow.h"

static struct registrar_binding binding(const char *uri, const char *call_id, uint32_t cseq,
                                        const char *node)
{
    return (struct registrar_binding){
        .contact = uri, .uri = uri, .call_id = call_id, .cseq = cseq, .node = node};
}

static struct registrar_set *set_of(const struct registrar_binding *b, size_t n)
{
    struct registrar_set *s = malloc(sizeof(*s) + n * sizeof(s->bindings[0]));
    s->count = n;
    memcpy(s->bindings, b, n * sizeof(*b));
    return s;
}

/* Merges and returns how many bindings result, in @out. */
static int merge(const struct registrar_binding *local, size_t nl,
                 const struct registrar_binding *shadowed, size_t ns,
                 struct registrar_binding *remote, size_t nr, struct registrar_binding *out,
                 size_t room)
{
    bool failed = false;
    struct store_shadow *sh = store_shadow_build(shadowed, ns, &failed);
    cr_assert_not(failed);
    struct store_remote_set rs = {remote, nr};
    struct store_shadow_merge m = {sh, &rs};
    struct registrar_set *old = nl ? set_of(local, nl) : NULL;
    int n = store_shadow_merge(&m, old, out, room);
    free(old);
    store_shadow_free(sh);
    return n;
}

static const struct registrar_binding *find(const struct registrar_binding *out, int n,
                                            const char *uri)
{
    for (int i = 0; i < n; i++)
        if (strcmp(out[i].uri, uri) == 0)
            return &out[i];
    return NULL;
}

#define X "sip:alice@10.0.0.1"
#define Y "sip:alice@10.0.0.2"

Test(store_shadow, concurrent_writers_keep_each_others_bindings)
{
    /* we wrote X; node b wrote Y to the same AoR at the same time */
    struct registrar_binding ours = binding(X, "c1", 1, NULL);
    ours.conn = 42; /* our flow to the phone */
    struct registrar_binding remote[] = {binding(X, "c1", 1, NULL), binding(Y, "c9", 5, "b")};
    struct registrar_binding out[4];
    int n = merge(&ours, 1, &ours, 1, remote, 2, out, 4);
    cr_assert_eq(n, 2);
    const struct registrar_binding *x = find(out, n, X), *y = find(out, n, Y);
    cr_assert(x && y);
    cr_assert_eq(x->conn, 42, "the same version of ours keeps its flow");
    cr_assert_str_eq(y->node, "b");
}

Test(store_shadow, a_change_not_yet_written_survives_a_read_back)
{
    /* X re-registered here (CSeq 2) while the write is queued: Redis and
     * the shadow still say CSeq 1 */
    struct registrar_binding now = binding(X, "c1", 2, NULL);
    struct registrar_binding written = binding(X, "c1", 1, NULL);
    struct registrar_binding remote[] = {binding(X, "c1", 1, NULL), binding(Y, "c9", 5, "b")};
    struct registrar_binding out[4];
    int n = merge(&now, 1, &written, 1, remote, 2, out, 4);
    cr_assert_eq(n, 2);
    cr_assert_eq(find(out, n, X)->cseq, 2, "our pending change is kept");
    cr_assert_not_null(find(out, n, Y));
}

Test(store_shadow, a_later_cseq_in_redis_beats_a_pending_change)
{
    struct registrar_binding now = binding(X, "c1", 2, NULL);
    struct registrar_binding written = binding(X, "c1", 1, NULL);
    struct registrar_binding remote[] = {binding(X, "c1", 7, "b")};
    struct registrar_binding out[4];
    int n = merge(&now, 1, &written, 1, remote, 1, out, 4);
    cr_assert_eq(n, 1);
    cr_assert_eq(out[0].cseq, 7, "ours is out of order (RFC 3261 10.3 step 7)");
    cr_assert_str_eq(out[0].node, "b");
}

Test(store_shadow, a_deletion_of_ours_stays_deleted)
{
    /* we removed X (no longer in the registrar); Redis still has the very
     * version the shadow names: the delete is queued, X stays gone */
    struct registrar_binding written = binding(X, "c1", 1, NULL);
    struct registrar_binding remote[] = {binding(X, "c1", 1, NULL), binding(Y, "c9", 5, "b")};
    struct registrar_binding out[4];
    int n = merge(NULL, 0, &written, 1, remote, 2, out, 4);
    cr_assert_eq(n, 1);
    cr_assert_null(find(out, n, X));
    cr_assert_not_null(find(out, n, Y));
}

Test(store_shadow, a_deletion_racing_a_new_registration_removes_only_its_version)
{
    /* we removed X at (c1, 1) while the phone registered again through
     * node b with a new Call-ID: that newer binding is not ours to drop */
    struct registrar_binding written = binding(X, "c1", 1, NULL);
    struct registrar_binding remote[] = {binding(X, "c2", 1, "b")};
    struct registrar_binding out[4];
    int n = merge(NULL, 0, &written, 1, remote, 1, out, 4);
    cr_assert_eq(n, 1);
    cr_assert_str_eq(out[0].call_id, "c2");
}

Test(store_shadow, a_binding_another_node_removed_is_gone_here)
{
    struct registrar_binding theirs = binding(Y, "c9", 5, "b");
    struct registrar_binding out[4];
    int n = merge(&theirs, 1, NULL, 0, NULL, 0, out, 4);
    cr_assert_eq(n, 0);
}

Test(store_shadow, a_huge_stored_aor_fills_only_the_room_there_is)
{
    /* what Redis holds is not bounded by this node's limits: the merge
     * takes as many as the registrar has room for (its bookkeeping is on
     * the heap, sized by the reply) */
    enum { N = 200000 };
    struct registrar_binding *remote = calloc(N, sizeof(*remote));
    char(*uris)[40] = calloc(N, sizeof(*uris));
    for (size_t i = 0; i < N; i++) {
        snprintf(uris[i], sizeof(uris[i]), "sip:u@10.%zu.%zu.%zu", i >> 16, (i >> 8) & 255,
                 i & 255);
        remote[i] = binding(uris[i], "c", 1, "b");
    }
    struct registrar_binding *out = calloc(16, sizeof(*out));
    int n = merge(NULL, 0, NULL, 0, remote, N, out, 16);
    cr_assert_eq(n, 16, "as many as there is room for");
    free(out);
    free(uris);
    free(remote);
}

Test(store_shadow, the_shadow_names_versions)
{
    struct registrar_binding b[] = {binding(X, "c1", 3, NULL), binding(Y, NULL, 1, NULL)};
    bool failed = false;
    struct store_shadow *sh = store_shadow_build(b, 2, &failed);
    cr_assert_not(failed);
    cr_assert_eq(sh->count, 2);
    const struct store_shadow_entry *e = store_shadow_entry(sh, sh->e[0].field);
    cr_assert(store_shadow_same_version(e, &b[0]));
    struct registrar_binding later = binding(X, "c1", 4, NULL);
    cr_assert_not(store_shadow_same_version(e, &later));
    cr_assert(store_shadow_same_version(store_shadow_entry(sh, sh->e[1].field), &b[1]),
              "a missing Call-ID is the empty one");
    cr_assert_null(store_shadow_entry(sh, "u:<sip:nobody@10.9.9.9>"));
    cr_assert_null(store_shadow_entry(NULL, "anything"));
    cr_assert_null(store_shadow_build(b, 0, &failed));
    store_shadow_free(sh);
}
