/* Unit tests for src/sip/call_index.c: the calls routed here, asked by
 * any worker without a lock. */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdio.h>

#include "switchboard/call_index.h"

Test(call_index, a_call_is_there_from_add_to_remove)
{
    struct call_index *ci;
    cr_assert_eq(call_index_create(&ci), 0);
    cr_assert_not(call_index_has(ci, "abc@10.0.0.1"));
    cr_assert(call_index_add(ci, "abc@10.0.0.1"));
    cr_assert(call_index_add(ci, "abc@10.0.0.1"), "twice is once");
    cr_assert(call_index_has(ci, "abc@10.0.0.1"));
    cr_assert_not(call_index_has(ci, "abc@10.0.0.2"));
    call_index_remove(ci, "abc@10.0.0.1");
    cr_assert_not(call_index_has(ci, "abc@10.0.0.1"));
    call_index_remove(ci, "never-added"); /* nothing */
    cr_assert(call_index_add(ci, "abc@10.0.0.1"), "a tombstone is reused");
    cr_assert(call_index_has(ci, "abc@10.0.0.1"));
    call_index_destroy(ci);
}

/* Filled far past what an exchange holds at once: what was added and not
 * refused is found, what was removed is not, and nothing loops. */
Test(call_index, a_crowded_index_refuses_rather_than_searches)
{
    struct call_index *ci;
    cr_assert_eq(call_index_create(&ci), 0);
    static bool added[CALL_INDEX_SLOTS];
    char id[32];
    size_t refused = 0;
    for (int i = 0; i < CALL_INDEX_SLOTS; i++) {
        snprintf(id, sizeof(id), "call-%d", i);
        added[i] = call_index_add(ci, id);
        refused += !added[i];
    }
    cr_assert_lt(refused, CALL_INDEX_SLOTS / 4, "%zu refused", refused);
    for (int i = 0; i < CALL_INDEX_SLOTS; i++) {
        snprintf(id, sizeof(id), "call-%d", i);
        if (added[i])
            cr_assert(call_index_has(ci, id), "%s", id);
        call_index_remove(ci, id);
        cr_assert_not(call_index_has(ci, id), "%s", id);
    }
    call_index_destroy(ci);
}

struct worker_run {
    struct call_index *ci;
    int base;
};

/* One worker's calls: each added, looked up, ended; the even ones stay. */
static void *calls(void *arg)
{
    struct worker_run *w = arg;
    char id[32];
    for (int i = 0; i < 20000; i++) {
        snprintf(id, sizeof(id), "w%d-%d", w->base, i);
        cr_assert(call_index_add(w->ci, id));
        cr_assert(call_index_has(w->ci, id));
        if (i % 2)
            call_index_remove(w->ci, id);
        if (i % 2 == 0 && i >= 4000) { /* keep the table from filling */
            snprintf(id, sizeof(id), "w%d-%d", w->base, i - 4000);
            call_index_remove(w->ci, id);
        }
    }
    return NULL;
}

Test(call_index, workers_add_and_remove_their_own_calls_at_once)
{
    struct call_index *ci;
    cr_assert_eq(call_index_create(&ci), 0);
    struct worker_run a = {ci, 1}, b = {ci, 2};
    pthread_t ta, tb;
    pthread_create(&ta, NULL, calls, &a);
    pthread_create(&tb, NULL, calls, &b);
    pthread_join(ta, NULL);
    pthread_join(tb, NULL);
    char id[32];
    for (int w = 1; w <= 2; w++)
        for (int i = 16000; i < 20000; i++) {
            snprintf(id, sizeof(id), "w%d-%d", w, i);
            cr_assert_eq(call_index_has(ci, id), i % 2 == 0, "%s", id);
        }
    call_index_destroy(ci);
}
