/* Unit tests for src/sip/dialog.c: a dialog's life (early, confirmed,
 * gone on BYE, on a failed INVITE, at its maximum age), the check of an
 * in-dialog request (tags, direction, target), forks, target refresh
 * and a full table. */
#include <criterion/criterion.h>
#include <stdio.h>

#include "switchboard/dialog.h"
#include "switchboard/error.h"
#include "switchboard/timer_wheel.h"

static struct timer_wheel *wheel;
static struct dialog_table *table;

#define AGE_MS 60000u
#define GRACE_MS 3200u

static void setup(void)
{
    cr_assert_eq(timer_wheel_create(1000, &wheel), 0);
    cr_assert_eq(dialog_table_create(wheel, 4, AGE_MS, GRACE_MS, &table), 0);
}

static void teardown(void)
{
    dialog_table_destroy(table);
    timer_wheel_destroy(wheel);
}

TestSuite(dialog, .init = setup, .fini = teardown, .timeout = 10);

/* alice (tag "a", Contact 10.0.0.3:5080) calls; bob answers with tag "b"
 * from 10.0.0.4:5070. */
static const struct dialog_msg invite = {.call_id = "c1", .from_tag = "a"};
static const struct dialog_msg answer = {.call_id = "c1", .from_tag = "a", .to_tag = "b"};
static const struct dialog_msg from_bob = {.call_id = "c1", .from_tag = "b", .to_tag = "a"};

static void call_up(void)
{
    cr_assert_eq(dialog_open(table, &invite, 1, "10.0.0.3:5080"), 0);
    dialog_on_response(table, &answer, 180, 1, true, "10.0.0.4:5070", "");
    dialog_on_response(table, &answer, 200, 1, true, "10.0.0.4:5070", "");
}

Test(dialog, both_sides_reach_each_other_until_the_bye)
{
    call_up();
    cr_assert_eq(dialog_check(table, &answer, "10.0.0.4:5070"), DIALOG_OK, "alice to bob");
    cr_assert_eq(dialog_check(table, &from_bob, "10.0.0.3:5080"), DIALOG_OK, "bob to alice");
    cr_assert_eq(dialog_check(table, &answer, "10.0.0.3:5080"), DIALOG_WRONG_TARGET,
                 "alice's request to her own address");
    cr_assert_eq(dialog_check(table, &from_bob, "192.0.2.9:6379"), DIALOG_WRONG_TARGET);
    struct dialog_msg stranger = {.call_id = "c1", .from_tag = "x", .to_tag = "b"};
    cr_assert_eq(dialog_check(table, &stranger, "10.0.0.4:5070"), DIALOG_UNKNOWN,
                 "a tag of neither side");
    struct dialog_msg other_call = {.call_id = "c2", .from_tag = "a", .to_tag = "b"};
    cr_assert_eq(dialog_check(table, &other_call, "10.0.0.4:5070"), DIALOG_UNKNOWN);
    dialog_close(table, &from_bob);
    cr_assert_eq(dialog_check(table, &answer, "10.0.0.4:5070"), DIALOG_UNKNOWN, "after the BYE");
    cr_assert_eq(dialog_table_count(table), 0);
}

Test(dialog, a_failed_invite_ends_it_unless_a_late_2xx_comes)
{
    cr_assert_eq(dialog_open(table, &invite, 1, "10.0.0.3:5080"), 0);
    dialog_on_response(table, &answer, 180, 1, true, "10.0.0.4:5070", "");
    dialog_on_response(table, &answer, 408, 1, true, "", "");
    cr_assert_eq(dialog_check(table, &answer, "10.0.0.4:5070"), DIALOG_UNKNOWN, "failed");
    /* the branch given up on answers after all, within 64*T1 */
    timer_wheel_advance(wheel, 1000 + GRACE_MS / 2);
    dialog_on_response(table, &answer, 200, 1, true, "10.0.0.4:5070", "");
    timer_wheel_advance(wheel, 1000 + 2 * GRACE_MS);
    cr_assert_eq(dialog_check(table, &answer, "10.0.0.4:5070"), DIALOG_OK, "confirmed late");
    dialog_close(table, &answer);

    cr_assert_eq(dialog_open(table, &invite, 1, "10.0.0.3:5080"), 0);
    dialog_on_response(table, &answer, 486, 1, true, "", "");
    timer_wheel_advance(wheel, 1000 + 4 * GRACE_MS);
    cr_assert_eq(dialog_table_count(table), 0, "gone after the grace period");
}

Test(dialog, a_challenged_invite_goes_on_with_its_next_cseq)
{
    cr_assert_eq(dialog_open(table, &invite, 1, "10.0.0.3:5080"), 0);
    dialog_on_response(table, &answer, 407, 1, true, "", "");
    cr_assert_eq(dialog_check(table, &answer, "10.0.0.4:5070"), DIALOG_UNKNOWN,
                 "the call never began");
    /* sent again with credentials: CSeq 2; the 407 to CSeq 1 arriving
     * late must not end it */
    cr_assert_eq(dialog_open(table, &invite, 1, "10.0.0.3:5080"), 0);
    cr_assert_eq(dialog_open(table, &invite, 2, "10.0.0.3:5081"), 0);
    dialog_on_response(table, &answer, 407, 1, true, "", "");
    cr_assert_eq(dialog_table_count(table), 1);
    dialog_on_response(table, &answer, 200, 2, true, "10.0.0.4:5070", "");
    cr_assert_eq(dialog_check(table, &from_bob, "10.0.0.3:5081"), DIALOG_OK,
                 "the Contact of the INVITE that got through");
    cr_assert_eq(dialog_open(table, &invite, 3, "10.0.0.3:5080"), SB_ELIMIT,
                 "an INVITE reusing a live call's tags is not tracked");
    dialog_on_response(table, &answer, 486, 3, true, "", "");
    cr_assert_eq(dialog_check(table, &answer, "10.0.0.4:5070"), DIALOG_OK,
                 "a failed re-INVITE ends nothing");
}

Test(dialog, a_target_refresh_moves_targets_not_signatures)
{
    call_up();
    /* bob re-INVITEs from a new address; alice's 2xx names hers anew */
    dialog_on_response(table, &from_bob, 200, 7, true, "10.0.0.3:6000", "10.0.0.4:7000");
    cr_assert_eq(dialog_check(table, &answer, "10.0.0.4:7000"), DIALOG_OK);
    cr_assert_eq(dialog_check(table, &answer, "10.0.0.4:5070"), DIALOG_WRONG_TARGET,
                 "bob's old address");
    cr_assert_eq(dialog_check(table, &from_bob, "10.0.0.3:6000"), DIALOG_OK);
    cr_assert_str_eq(dialog_signed_for(table, &answer), "10.0.0.4:5070",
                     "alice's Route copy was signed for bob's first Contact");
    cr_assert_str_eq(dialog_signed_for(table, &from_bob), "10.0.0.3:5080");
    /* UPDATE from alice, answered by bob without a Contact */
    dialog_on_response(table, &answer, 200, 3, false, "", "10.0.0.3:6001");
    cr_assert_eq(dialog_check(table, &from_bob, "10.0.0.3:6001"), DIALOG_OK);
    cr_assert_eq(dialog_check(table, &answer, "10.0.0.4:7000"), DIALOG_OK);
}

Test(dialog, each_answering_fork_is_a_side)
{
    cr_assert_eq(dialog_open(table, &invite, 1, "10.0.0.3:5080"), 0);
    struct dialog_msg desk = {.call_id = "c1", .from_tag = "a", .to_tag = "d"};
    dialog_on_response(table, &desk, 180, 1, true, "10.0.0.5:5060", "");
    dialog_on_response(table, &answer, 200, 1, true, "10.0.0.4:5070", "");
    cr_assert_eq(dialog_check(table, &desk, "10.0.0.5:5060"), DIALOG_OK);
    cr_assert_eq(dialog_check(table, &answer, "10.0.0.4:5070"), DIALOG_OK);
    cr_assert_eq(dialog_check(table, &desk, "10.0.0.4:5070"), DIALOG_WRONG_TARGET,
                 "each side has its own target");
    dialog_on_response(table, &desk, 487, 1, true, "", "");
    cr_assert_eq(dialog_check(table, &answer, "10.0.0.4:5070"), DIALOG_OK,
                 "a fork's failure ends no confirmed dialog");
}

Test(dialog, it_ends_at_its_maximum_age)
{
    call_up();
    timer_wheel_advance(wheel, 1000 + AGE_MS - TIMER_COARSE_MS);
    cr_assert_eq(dialog_check(table, &answer, "10.0.0.4:5070"), DIALOG_OK);
    timer_wheel_advance(wheel, 1000 + AGE_MS + 2 * TIMER_COARSE_MS);
    cr_assert_eq(dialog_check(table, &answer, "10.0.0.4:5070"), DIALOG_UNKNOWN);
    cr_assert_eq(dialog_table_count(table), 0);
}

Test(dialog, a_full_table_tracks_no_more)
{
    char ids[5][8];
    for (int i = 0; i < 5; i++) {
        snprintf(ids[i], sizeof(ids[i]), "c%d", i + 10);
        struct dialog_msg m = {.call_id = ids[i], .from_tag = "a"};
        cr_assert_eq(dialog_open(table, &m, 1, "10.0.0.3:5080"), i < 4 ? 0 : SB_ELIMIT, "%d", i);
    }
    cr_assert_eq(dialog_table_count(table), 4);
}

Test(dialog, the_whole_call_id_names_the_dialog)
{
    struct dialog_msg at_one = {.call_id = "c9", .call_host = "h1", .from_tag = "a"};
    cr_assert_eq(dialog_open(table, &at_one, 1, "10.0.0.3:5080"), 0);
    struct dialog_msg answered = {
        .call_id = "c9", .call_host = "h1", .from_tag = "a", .to_tag = "b"};
    dialog_on_response(table, &answered, 200, 1, true, "10.0.0.4:5070", "");
    cr_assert_eq(dialog_check(table, &answered, "10.0.0.4:5070"), DIALOG_OK);
    struct dialog_msg other_host = answered, no_host = answered;
    other_host.call_host = "h2";
    no_host.call_host = NULL;
    cr_assert_eq(dialog_check(table, &other_host, "10.0.0.4:5070"), DIALOG_UNKNOWN);
    cr_assert_eq(dialog_check(table, &no_host, "10.0.0.4:5070"), DIALOG_UNKNOWN);
}
