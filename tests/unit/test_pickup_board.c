/* Unit tests for src/sip/pickup_board.c: the calls ringing now, claimed
 * once, handed to the worker that owns them. */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "switchboard/pickup_board.h"

static struct pickup_call ringing(const char *call_id, const char *callee, const void *owner)
{
    struct pickup_call c = {.owner = owner};
    snprintf(c.call_id, sizeof(c.call_id), "%s", call_id);
    snprintf(c.caller, sizeof(c.caller), "alice");
    snprintf(c.callee, sizeof(c.callee), "%s", callee);
    return c;
}

static bool callee_is(void *ctx, const struct pickup_call *c)
{
    return !strcmp(c->callee, (const char *)ctx);
}

static const int owner_a = 1, owner_b = 2;

Test(pickup_board, a_call_is_claimed_once_and_handed_to_its_owner)
{
    struct pickup_board *b;
    cr_assert_eq(pickup_board_create(16, &b), 0);
    struct pickup_call c1 = ringing("one", "bob", &owner_a), c2 = ringing("two", "bob", &owner_b);
    pickup_board_ring(b, &c1);
    pickup_board_ring(b, &c2);
    pickup_board_ring(b, &c1); /* again: still one */
    cr_assert_eq(pickup_board_count(b), 2);
    struct pickup_call got;
    cr_assert_not(pickup_board_claim(b, callee_is, "carol", "dave", &got), "nobody rings carol");
    cr_assert(pickup_board_claim(b, callee_is, "bob", "carol", &got));
    cr_assert_str_eq(got.call_id, "one", "the longest ringing first");
    cr_assert_str_eq(got.picker, "carol");
    cr_assert(pickup_board_claim(b, callee_is, "bob", "dave", &got));
    cr_assert_str_eq(got.call_id, "two", "a claimed call matches nobody else");
    cr_assert_not(pickup_board_claim(b, callee_is, "bob", "erin", &got));
    struct pickup_call out[4];
    cr_assert_eq(pickup_board_claimed(b, &owner_a, out, 4), 1);
    cr_assert_str_eq(out[0].call_id, "one");
    cr_assert_str_eq(out[0].picker, "carol");
    cr_assert_eq(pickup_board_claimed(b, &owner_a, out, 4), 0, "taken out");
    cr_assert_eq(pickup_board_count(b), 1);
    pickup_board_gone(b, "two"); /* answered before its owner looked */
    cr_assert_eq(pickup_board_claimed(b, &owner_b, out, 4), 0);
    pickup_board_gone(b, "never-rang");
    cr_assert_eq(pickup_board_count(b), 0);
    pickup_board_destroy(b);
}

Test(pickup_board, a_full_board_keeps_what_it_has)
{
    struct pickup_board *b;
    cr_assert_eq(pickup_board_create(2, &b), 0);
    for (int i = 0; i < 3; i++) {
        char id[8];
        snprintf(id, sizeof(id), "c%d", i);
        struct pickup_call c = ringing(id, "bob", &owner_a);
        pickup_board_ring(b, &c);
    }
    cr_assert_eq(pickup_board_count(b), 2, "the third is not kept");
    pickup_board_gone(b, "c0");
    struct pickup_call c = ringing("c3", "bob", &owner_a), got;
    pickup_board_ring(b, &c);
    cr_assert(pickup_board_claim(b, callee_is, "bob", "carol", &got));
    cr_assert_str_eq(got.call_id, "c1", "order kept after a removal");
    pickup_board_destroy(b);
}

/* Workers claim at once from several threads: every call goes to one
 * picker exactly. */
#define CALLS 400
static struct pickup_board *shared;
static int taken[CALLS];

static bool any(void *ctx, const struct pickup_call *c)
{
    (void)ctx;
    (void)c;
    return true;
}

static void *claimer(void *arg)
{
    (void)arg;
    struct pickup_call got;
    while (pickup_board_claim(shared, any, NULL, "p", &got))
        __atomic_add_fetch(&taken[atoi(got.call_id)], 1, __ATOMIC_RELAXED);
    return NULL;
}

Test(pickup_board, claims_race_and_every_call_goes_once)
{
    cr_assert_eq(pickup_board_create(CALLS, &shared), 0);
    for (int i = 0; i < CALLS; i++) {
        char id[8];
        snprintf(id, sizeof(id), "%d", i);
        struct pickup_call c = ringing(id, "bob", &owner_a);
        pickup_board_ring(shared, &c);
    }
    pthread_t t[4];
    for (int i = 0; i < 4; i++)
        pthread_create(&t[i], NULL, claimer, NULL);
    for (int i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
    for (int i = 0; i < CALLS; i++)
        cr_assert_eq(taken[i], 1, "call %d taken %d times", i, taken[i]);
    struct pickup_call out[CALLS];
    cr_assert_eq(pickup_board_claimed(shared, &owner_a, out, CALLS), CALLS);
    pickup_board_destroy(shared);
}
