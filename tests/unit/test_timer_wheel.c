/* Unit tests for src/timer_wheel.c. */
#include <criterion/criterion.h>

#include "switchboard/timer_wheel.h"

struct fired {
    int order[8];
    int count;
};

struct probe {
    struct timer timer;
    struct fired *log;
    int id;
};

static void record(struct timer *t, void *arg)
{
    struct probe *p = arg;
    (void)t;
    p->log->order[p->log->count++] = p->id;
}

Test(timer_wheel, fires_in_time_order_and_not_early)
{
    struct timer_wheel *w;
    struct fired log = {0};
    struct probe a = {.log = &log, .id = 1}, b = {.log = &log, .id = 2};
    cr_assert_eq(timer_wheel_create(1000, &w), 0);
    timer_init(&a.timer, record, &a);
    timer_init(&b.timer, record, &b);
    timer_schedule(w, &a.timer, 1500);
    timer_schedule(w, &b.timer, 1200);
    cr_assert_eq(timer_wheel_next_delay(w, 1000), 200);
    cr_assert_eq(timer_wheel_advance(w, 1199), 0);
    cr_assert_eq(timer_wheel_advance(w, 1200), 1);
    cr_assert_eq(timer_wheel_advance(w, 1600), 1);
    cr_assert_eq(log.count, 2);
    cr_assert_eq(log.order[0], 2);
    cr_assert_eq(log.order[1], 1);
    cr_assert_not(timer_pending(&a.timer));
    cr_assert_eq(timer_wheel_next_delay(w, 1600), -1);
    timer_wheel_destroy(w);
}

Test(timer_wheel, cancelled_timer_never_fires)
{
    struct timer_wheel *w;
    struct fired log = {0};
    struct probe a = {.log = &log, .id = 1};
    cr_assert_eq(timer_wheel_create(0, &w), 0);
    timer_init(&a.timer, record, &a);
    timer_schedule(w, &a.timer, 10);
    timer_cancel(&a.timer);
    timer_wheel_advance(w, 100);
    cr_assert_eq(log.count, 0);
    timer_wheel_destroy(w);
}

Test(timer_wheel, timers_beyond_one_turn_wait_their_turn)
{
    struct timer_wheel *w;
    struct fired log = {0};
    struct probe a = {.log = &log, .id = 1};
    cr_assert_eq(timer_wheel_create(0, &w), 0);
    timer_init(&a.timer, record, &a);
    timer_schedule(w, &a.timer, 180000); /* Timer C */
    for (uint64_t now = 1000; now < 180000; now += 1000)
        timer_wheel_advance(w, now);
    cr_assert_eq(log.count, 0);
    timer_wheel_advance(w, 180000);
    cr_assert_eq(log.count, 1);
    timer_wheel_destroy(w);
}

static struct timer_wheel *shared_wheel;

static void reschedule_once(struct timer *t, void *arg)
{
    int *runs = arg;
    if (++*runs == 1)
        timer_schedule(shared_wheel, t, t->expires_ms + 100);
}

Test(timer_wheel, a_callback_may_reschedule_its_timer)
{
    int runs = 0;
    struct timer t;
    cr_assert_eq(timer_wheel_create(0, &shared_wheel), 0);
    timer_init(&t, reschedule_once, &runs);
    timer_schedule(shared_wheel, &t, 50);
    timer_wheel_advance(shared_wheel, 60);
    cr_assert_eq(runs, 1);
    cr_assert(timer_pending(&t));
    timer_wheel_advance(shared_wheel, 200);
    cr_assert_eq(runs, 2);
    timer_wheel_destroy(shared_wheel);
}

Test(timer_wheel, overdue_timer_fires_on_next_advance)
{
    struct timer_wheel *w;
    struct fired log = {0};
    struct probe a = {.log = &log, .id = 7};
    cr_assert_eq(timer_wheel_create(500, &w), 0);
    timer_init(&a.timer, record, &a);
    timer_schedule(w, &a.timer, 100); /* already in the past */
    cr_assert_eq(timer_wheel_next_delay(w, 500), 0);
    timer_wheel_advance(w, 501);
    cr_assert_eq(log.count, 1);
    timer_wheel_destroy(w);
}
