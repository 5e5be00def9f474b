/* Unit tests for src/sip/registrar.c: bindings, expiry, wildcard removal,
 * Call-ID/CSeq ordering, limits, and concurrent writers. */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <urcu.h>

#include "switchboard/error.h"
#include "switchboard/registrar.h"

static struct registrar *reg;

static void setup(void)
{
    rcu_register_thread();
    struct registrar_limits limits = {.max_bindings = 4};
    cr_assert_eq(registrar_create(&limits, &reg), 0);
}

static void teardown(void)
{
    registrar_destroy(reg);
    rcu_unregister_thread();
}

TestSuite(registrar, .init = setup, .fini = teardown);

static struct registrar_change binding(const char *uri, uint64_t expires_at, unsigned q)
{
    struct registrar_change c = {0};
    c.binding.contact = uri;
    c.binding.uri = uri;
    c.binding.expires_at_ms = expires_at;
    c.binding.q = q;
    return c;
}

Test(registrar, binds_several_contacts_highest_q_first)
{
    struct registrar_change ch[2] = {binding("sip:alice@10.0.0.1", 5000, 500),
                                     binding("sip:alice@10.0.0.2:5062", 5000, 1000)};
    cr_assert_eq(registrar_update(reg, "alice", ch, 2, false, "cid-1", 1, 1000, NULL), 0);
    struct registrar_set *set;
    cr_assert_eq(registrar_lookup(reg, "alice", 1000, &set), 0);
    cr_assert_eq(set->count, 2);
    cr_assert_str_eq(set->bindings[0].uri, "sip:alice@10.0.0.2:5062");
    cr_assert_str_eq(set->bindings[1].uri, "sip:alice@10.0.0.1");
    registrar_set_free(set);
    cr_assert_eq(registrar_record_count(reg), 1);
}

Test(registrar, unknown_user_is_not_found)
{
    struct registrar_set *set = (void *)1;
    cr_assert_eq(registrar_lookup(reg, "nobody", 0, &set), SB_ENOTFOUND);
    cr_assert_null(set);
}

Test(registrar, same_contact_refreshes_instead_of_adding)
{
    struct registrar_change a = binding("sip:bob@10.0.0.1", 5000, 1000);
    struct registrar_change b = binding("sip:bob@10.0.0.1:5060", 9000, 1000); /* same URI */
    cr_assert_eq(registrar_update(reg, "bob", &a, 1, false, "cid", 1, 0, NULL), 0);
    cr_assert_eq(registrar_update(reg, "bob", &b, 1, false, "cid", 2, 0, NULL), 0);
    struct registrar_set *set;
    cr_assert_eq(registrar_lookup(reg, "bob", 0, &set), 0);
    cr_assert_eq(set->count, 1);
    cr_assert_eq(set->bindings[0].expires_at_ms, 9000);
    registrar_set_free(set);
}

Test(registrar, instance_id_identifies_the_device)
{
    struct registrar_change a = binding("sip:bob@10.0.0.1", 5000, 1000);
    a.binding.instance = "<urn:uuid:1>";
    struct registrar_change b = binding("sip:bob@10.0.0.9", 5000, 1000); /* new address */
    b.binding.instance = "<urn:uuid:1>";
    cr_assert_eq(registrar_update(reg, "bob", &a, 1, false, "c1", 1, 0, NULL), 0);
    cr_assert_eq(registrar_update(reg, "bob", &b, 1, false, "c2", 1, 0, NULL), 0);
    struct registrar_set *set;
    cr_assert_eq(registrar_lookup(reg, "bob", 0, &set), 0);
    cr_assert_eq(set->count, 1);
    cr_assert_str_eq(set->bindings[0].uri, "sip:bob@10.0.0.9");
    registrar_set_free(set);
}

Test(registrar, expired_bindings_are_invisible_then_swept)
{
    struct registrar_change ch[2] = {binding("sip:c@10.0.0.1", 2000, 1000),
                                     binding("sip:c@10.0.0.2", 8000, 1000)};
    cr_assert_eq(registrar_update(reg, "carol", ch, 2, false, "cid", 1, 1000, NULL), 0);
    struct registrar_set *set;
    cr_assert_eq(registrar_lookup(reg, "carol", 3000, &set), 0);
    cr_assert_eq(set->count, 1);
    cr_assert_str_eq(set->bindings[0].uri, "sip:c@10.0.0.2");
    registrar_set_free(set);
    cr_assert_eq(registrar_expire(reg, 3000), 1);
    cr_assert_eq(registrar_expire(reg, 9000), 1);
    cr_assert_eq(registrar_record_count(reg), 0);
    cr_assert_eq(registrar_lookup(reg, "carol", 9000, &set), SB_ENOTFOUND);
}

Test(registrar, expires_zero_removes_one_binding)
{
    struct registrar_change ch[2] = {binding("sip:d@10.0.0.1", 5000, 1000),
                                     binding("sip:d@10.0.0.2", 5000, 1000)};
    cr_assert_eq(registrar_update(reg, "dave", ch, 2, false, "cid", 1, 0, NULL), 0);
    struct registrar_change rm = binding("sip:d@10.0.0.1", 0, 1000);
    rm.remove = true;
    struct registrar_set *after;
    cr_assert_eq(registrar_update(reg, "dave", &rm, 1, false, "cid", 2, 0, &after), 0);
    cr_assert_eq(after->count, 1);
    cr_assert_str_eq(after->bindings[0].uri, "sip:d@10.0.0.2");
    registrar_set_free(after);
}

Test(registrar, wildcard_removes_all_and_the_record)
{
    struct registrar_change ch[2] = {binding("sip:e@10.0.0.1", 5000, 1000),
                                     binding("sip:e@10.0.0.2", 5000, 1000)};
    cr_assert_eq(registrar_update(reg, "eve", ch, 2, false, "cid", 1, 0, NULL), 0);
    struct registrar_set *after;
    cr_assert_eq(registrar_update(reg, "eve", NULL, 0, true, "other", 1, 0, &after), 0);
    cr_assert_eq(after->count, 0);
    registrar_set_free(after);
    cr_assert_eq(registrar_record_count(reg), 0);
}

Test(registrar, stale_cseq_on_same_call_id_is_refused_and_changes_nothing)
{
    struct registrar_change a = binding("sip:f@10.0.0.1", 5000, 1000);
    cr_assert_eq(registrar_update(reg, "frank", &a, 1, false, "cid", 5, 0, NULL), 0);
    cr_assert_eq(registrar_update(reg, "frank", &a, 1, false, "cid", 5, 0, NULL), 0,
                 "the same CSeq again is a retransmission");
    struct registrar_change b = binding("sip:f@10.0.0.1", 9000, 1000);
    cr_assert_eq(registrar_update(reg, "frank", &b, 1, false, "cid", 4, 0, NULL), SB_EOUTOFORDER);
    cr_assert_eq(registrar_update(reg, "frank", NULL, 0, true, "cid", 4, 0, NULL), SB_EOUTOFORDER);
    /* another Call-ID (another device's REGISTER) carries no order */
    cr_assert_eq(registrar_update(reg, "frank", &b, 1, false, "cid2", 1, 0, NULL), 0);
    struct registrar_set *set;
    cr_assert_eq(registrar_lookup(reg, "frank", 0, &set), 0);
    cr_assert_eq(set->bindings[0].expires_at_ms, 9000);
    registrar_set_free(set);
}

Test(registrar, binding_limit_is_enforced)
{
    char uris[5][32];
    struct registrar_change ch[5];
    for (int i = 0; i < 5; i++) {
        snprintf(uris[i], sizeof(uris[i]), "sip:g@10.0.0.%d", i + 1);
        ch[i] = binding(uris[i], 5000, 1000);
    }
    cr_assert_eq(registrar_update(reg, "gina", ch, 5, false, "cid", 1, 0, NULL), SB_ELIMIT);
    cr_assert_eq(registrar_record_count(reg), 0);
    cr_assert_eq(registrar_update(reg, "gina", ch, 4, false, "cid", 1, 0, NULL), 0);
}

Test(registrar, uri_comparison_follows_rfc3261_basics)
{
    cr_assert(registrar_uri_equal("sip:a@HOST.example", "sip:a@host.example:5060"));
    cr_assert(registrar_uri_equal("sip:a@h;transport=udp", "sip:a@h"));
    cr_assert_not(registrar_uri_equal("sip:A@h", "sip:a@h"));
    cr_assert_not(registrar_uri_equal("sip:a@h:5062", "sip:a@h"));
}

struct writer {
    int id;
    int failures;
};

static void *register_many(void *arg)
{
    struct writer *w = arg;
    rcu_register_thread();
    for (int i = 0; i < 200; i++) {
        char uri[64], cid[32];
        /* each thread keeps one binding of its own up to date, racing the
         * others on the same record */
        snprintf(uri, sizeof(uri), "sip:shared@10.0.1.%d", w->id);
        snprintf(cid, sizeof(cid), "thread-%d", w->id);
        struct registrar_change c = binding(uri, 100000, 1000);
        if (registrar_update(reg, "shared", &c, 1, false, cid, (uint32_t)i + 1, 0, NULL) != 0)
            w->failures++;
    }
    rcu_unregister_thread();
    return NULL;
}

Test(registrar, concurrent_writers_lose_no_update)
{
    pthread_t threads[4];
    struct writer writers[4];
    for (int i = 0; i < 4; i++) {
        writers[i] = (struct writer){.id = i + 1};
        pthread_create(&threads[i], NULL, register_many, &writers[i]);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(threads[i], NULL);
        cr_assert_eq(writers[i].failures, 0);
    }
    struct registrar_set *set;
    cr_assert_eq(registrar_lookup(reg, "shared", 0, &set), 0);
    cr_assert_eq(set->count, 4);
    for (size_t i = 0; i < set->count; i++)
        cr_assert_eq(set->bindings[i].cseq, 200);
    registrar_set_free(set);
}

/* RFC 3261 §19.1.4: user parts compare unescaped, with their length;
 * hosts without case; a missing port is the scheme's default. */
Test(registrar, uri_comparison_follows_19_1_4)
{
    cr_assert_not(registrar_uri_equal("sip:%00@h", "sip:%00%00@h"));
    cr_assert(registrar_uri_equal("sip:%41lice@H.example", "sip:Alice@h.example:5060"));
    cr_assert_not(registrar_uri_equal("sip:alice@h", "sip:ALICE@h"), "users are case-sensitive");
    cr_assert(registrar_uri_equal("<sips:a@h>", "sips:a@h:5061"));
    cr_assert_not(registrar_uri_equal("sip:a@h", "sips:a@h"));
    cr_assert_not(registrar_uri_equal("sip:h", "sip:a@h"), "a user, or none");
    cr_assert(
        registrar_uri_equal("sip:a@[2001:db8::1]:5062;transport=udp", "sip:a@[2001:DB8::1]:5062"));
}

/* registrar_rewrite: @arg's bindings are added to whatever is there. */
struct add_ctx {
    const struct registrar_binding *b;
    size_t n;
    int calls;
};

static int add_fn(void *arg, const struct registrar_set *old, struct registrar_binding *out,
                  size_t room)
{
    struct add_ctx *a = arg;
    a->calls++;
    size_t n = 0;
    for (size_t i = 0; old && i < old->count; i++)
        out[n++] = old->bindings[i];
    for (size_t i = 0; i < a->n && n < room; i++)
        out[n++] = a->b[i];
    return (int)n;
}

static int hook_calls;
static void count_hook(void *ctx, const char *aor)
{
    (void)ctx, (void)aor;
    hook_calls++;
}

Test(registrar, rewrite_merges_keeps_the_node_and_skips_the_hook)
{
    struct registrar_change mine = binding("sip:alice@10.0.0.1", 5000, 1000);
    cr_assert_eq(registrar_update(reg, "alice", &mine, 1, false, "cid-1", 1, 1000, NULL), 0);
    registrar_set_change_hook(reg, count_hook, NULL);
    struct registrar_binding theirs[2] = {
        {.contact = "sip:alice@10.0.0.2",
         .uri = "sip:alice@10.0.0.2",
         .call_id = "cid-2",
         .cseq = 7,
         .expires_at_ms = 9000,
         .q = 500,
         .node = "node-b"},
        {.contact = "sip:alice@10.0.0.3",
         .uri = "sip:alice@10.0.0.3",
         .call_id = "cid-3",
         .cseq = 1,
         .expires_at_ms = 500,
         .node = "node-b"}, /* expired: dropped */
    };
    struct add_ctx a = {.b = theirs, .n = 2};
    cr_assert_eq(registrar_rewrite(reg, "alice", 2, add_fn, &a, 1000), 0);
    registrar_set_change_hook(reg, NULL, NULL);
    cr_assert_eq(hook_calls, 0);
    struct registrar_set *set;
    cr_assert_eq(registrar_lookup(reg, "alice", 1000, &set), 0);
    cr_assert_eq(set->count, 2);
    cr_assert_null(set->bindings[0].node);
    cr_assert_str_eq(set->bindings[1].node, "node-b");
    cr_assert_str_eq(set->bindings[1].call_id, "cid-2");
    cr_assert_eq(set->bindings[1].cseq, 7);
    registrar_set_free(set);
}

Test(registrar, rewrite_respects_the_binding_limit_and_can_empty_a_record)
{
    struct registrar_binding many[5];
    for (int i = 0; i < 5; i++)
        many[i] = (struct registrar_binding){
            .contact = "sip:x@h", .uri = "sip:x@h", .call_id = "c", .expires_at_ms = 9000};
    struct add_ctx a = {.b = many, .n = 5};
    cr_assert_eq(registrar_rewrite(reg, "bob", 5, add_fn, &a, 1000), SB_ELIMIT);
    cr_assert_eq(registrar_record_count(reg), 0);
    a.n = 1;
    cr_assert_eq(registrar_rewrite(reg, "bob", 1, add_fn, &a, 1000), 0);
    cr_assert_eq(registrar_record_count(reg), 1);
    struct add_ctx none = {.n = 0};
    cr_assert_eq(registrar_rewrite(reg, "bob", 0, add_fn, &none, 20000), 0); /* all expired */
    cr_assert_eq(registrar_record_count(reg), 0);
}
