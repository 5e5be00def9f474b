/* Unit tests for src/core/timer_wheel.c. */
#include <criterion/criterion.h>
#include <stdbool.h>
#include <stdlib.h>

#include "switchboard/timer_wheel.h"

struct fired {
    int order[8];
    int count;
};

struct probe {
    struct timer timer;
    struct fired *log;
    int id;
    struct timer_wheel *wheel; /* set: the wheel's time is noted in fired_at */
    uint64_t fired_at;
};

static void record(struct timer *t, void *arg)
{
    struct probe *p = arg;
    (void)t;
    if (p->log->count < 8)
        p->log->order[p->log->count] = p->id;
    p->log->count++;
    if (p->wheel)
        p->fired_at = timer_wheel_now(p->wheel);
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

/* A crowded tick is fired a budget at a time: the wheel stays at that
 * tick (nothing later overtakes it), says it is overdue, and a timer of
 * the tick cancelled meanwhile does not fire. */
Test(timer_wheel, a_budget_cuts_a_crowded_tick_short_and_finishes_it_first)
{
    struct timer_wheel *w;
    struct fired log = {0};
    struct probe p[5];
    cr_assert_eq(timer_wheel_create(0, &w), 0);
    for (int i = 0; i < 5; i++) {
        p[i] = (struct probe){.log = &log, .id = i, .wheel = w};
        timer_init(&p[i].timer, record, &p[i]);
        timer_schedule(w, &p[i].timer, i < 4 ? 100 : 101);
    }
    cr_assert_eq(timer_wheel_advance_some(w, 200, 2), 2);
    cr_assert_eq(timer_wheel_now(w), 100);
    cr_assert_eq(timer_wheel_next_delay(w, 200), 0);
    cr_assert_eq(timer_wheel_count(w), 3);
    int left = -1; /* one of tick 100's two unfired timers */
    for (int i = 0; i < 4 && left < 0; i++)
        if (timer_pending(&p[i].timer))
            left = i;
    cr_assert_geq(left, 0);
    timer_cancel(&p[left].timer);
    cr_assert_eq(timer_wheel_advance_some(w, 200, 2), 2);
    cr_assert_eq(log.count, 4);
    cr_assert_eq(log.order[3], 4, "tick 101's timer fires after tick 100's");
    cr_assert_eq(p[4].fired_at, 101);
    for (int i = 0; i < 4; i++)
        cr_assert(i == left ? p[i].fired_at == 0 : p[i].fired_at == 100);
    cr_assert_eq(timer_wheel_now(w), 200);
    cr_assert_eq(timer_wheel_next_delay(w, 200), -1);
    timer_wheel_destroy(w);
}

/* --- many timers at mixed horizons, against a model -------------------- */

struct model_timer {
    struct timer timer;
    uint64_t expires;
    uint64_t fired_at; /* the advance target when it fired, 0: not yet */
    int fires;
    bool cancelled;
};

static uint64_t advancing_to;

static void model_fire(struct timer *t, void *arg)
{
    struct model_timer *m = arg;
    (void)t;
    m->fires++;
    m->fired_at = advancing_to;
}

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint64_t rng(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

/* 1 ms to about 30 hours, spread evenly over the orders of magnitude, so
 * every level and the overflow list get timers. */
static uint64_t horizon(void)
{
    unsigned bits = 1 + (unsigned)(rng() % 27);
    return 1 + rng() % (UINT64_C(1) << bits);
}

static uint64_t earliest_pending(const struct model_timer *m, size_t n)
{
    uint64_t e = UINT64_MAX;
    for (size_t i = 0; i < n; i++)
        if (!m[i].cancelled && !m[i].fires && m[i].expires < e)
            e = m[i].expires;
    return e;
}

/* 20 000 timers from 1 ms to 30 h, a tenth cancelled and a tenth moved as
 * time goes on in jumps of up to 5 s: every timer fires exactly once, in
 * the advance that crosses its expiry, the cancelled never; and
 * next_delay is never later than the earliest pending timer, and exact
 * when that one is due within 256 ms. */
Test(timer_wheel, many_timers_mixed_horizons_match_a_model, .timeout = 60)
{
    enum { N = 20000 };
    struct model_timer *m = calloc(N, sizeof(*m));
    struct timer_wheel *w;
    uint64_t now = 1000;
    cr_assert_eq(timer_wheel_create(now, &w), 0);
    for (size_t i = 0; i < N; i++) {
        timer_init(&m[i].timer, model_fire, &m[i]);
        m[i].expires = now + horizon();
        timer_schedule(w, &m[i].timer, m[i].expires);
    }
    cr_assert_eq(timer_wheel_count(w), N);
    size_t steps = 0;
    for (;;) {
        uint64_t e = earliest_pending(m, N);
        int64_t d = timer_wheel_next_delay(w, now);
        if (e == UINT64_MAX) {
            cr_assert_eq(d, -1);
            break;
        }
        cr_assert(d >= 0 && now + (uint64_t)d <= e, "next_delay %lld, earliest in %llu",
                  (long long)d, (unsigned long long)(e - now));
        if (e - now <= 256)
            cr_assert_eq(now + (uint64_t)d, e, "exact within 256 ms");
        /* jump: sometimes exactly to the next wake-up, sometimes further */
        uint64_t next = steps % 3 ? now + (uint64_t)(d > 0 ? d : 1) : now + 1 + rng() % 5000;
        if (steps % 7 == 0)
            next = now + 1 + rng() % (UINT64_C(1) << 22); /* a long sleep */
        advancing_to = next;
        timer_wheel_advance(w, next);
        for (size_t i = 0; i < N; i++) {
            if (m[i].cancelled)
                continue;
            if (m[i].expires <= next)
                cr_assert_eq(m[i].fires, 1, "timer %zu due %llu not fired by %llu", i,
                             (unsigned long long)m[i].expires, (unsigned long long)next);
            else
                cr_assert_eq(m[i].fires, 0, "timer %zu fired early", i);
            if (m[i].fires && m[i].fired_at == next)
                cr_assert(m[i].expires > now, "timer %zu fired in the wrong advance", i);
        }
        now = next;
        /* churn, for a while: cancel some pending timers, move others */
        for (int k = 0; k < 40 && steps < 2000; k++) {
            struct model_timer *t = &m[rng() % N];
            if (t->fires || t->cancelled)
                continue;
            if (k % 2) {
                timer_cancel(&t->timer);
                t->cancelled = true;
                cr_assert_not(timer_pending(&t->timer));
            } else {
                t->expires = now + horizon();
                timer_schedule(w, &t->timer, t->expires);
            }
        }
        steps++;
    }
    for (size_t i = 0; i < N; i++)
        cr_assert_eq(m[i].fires, m[i].cancelled ? 0 : 1, "timer %zu", i);
    cr_assert_eq(timer_wheel_count(w), 0);
    timer_wheel_destroy(w);
    free(m);
}

/* Following next_delay alone, each timer fires at exactly its millisecond,
 * whatever level it started on. */
Test(timer_wheel, following_next_delay_fires_each_timer_on_time)
{
    enum { N = 3000 };
    struct model_timer *m = calloc(N, sizeof(*m));
    struct timer_wheel *w;
    uint64_t now = 77;
    cr_assert_eq(timer_wheel_create(now, &w), 0);
    for (size_t i = 0; i < N; i++) {
        timer_init(&m[i].timer, model_fire, &m[i]);
        m[i].expires = now + 1 + rng() % (UINT64_C(1) << (1 + i % 21)); /* up to 35 min */
        timer_schedule(w, &m[i].timer, m[i].expires);
    }
    int64_t d;
    while ((d = timer_wheel_next_delay(w, now)) >= 0) {
        now += (uint64_t)(d > 0 ? d : 1);
        advancing_to = now;
        timer_wheel_advance(w, now);
    }
    for (size_t i = 0; i < N; i++) {
        cr_assert_eq(m[i].fires, 1);
        cr_assert_eq(m[i].fired_at, m[i].expires, "timer %zu late or early", i);
    }
    timer_wheel_destroy(w);
    free(m);
}

/* Cancelling one timer among 100 000 far-out ones touches only it: the
 * rest stay, and the next wake-up moves to the next earliest. */
Test(timer_wheel, cancel_among_many_is_local)
{
    enum { N = 100000 };
    struct model_timer *m = calloc(N, sizeof(*m));
    struct timer_wheel *w;
    cr_assert_eq(timer_wheel_create(0, &w), 0);
    for (size_t i = 0; i < N; i++) {
        timer_init(&m[i].timer, model_fire, &m[i]);
        timer_schedule(w, &m[i].timer, 32000 + i); /* Timer L-like: 32 s out */
    }
    struct model_timer soon = {0};
    timer_init(&soon.timer, model_fire, &soon);
    timer_schedule(w, &soon.timer, 100);
    cr_assert_eq(timer_wheel_next_delay(w, 0), 100);
    timer_cancel(&soon.timer);
    int64_t d = timer_wheel_next_delay(w, 0);
    cr_assert(d > 100 && d <= 32000, "next wake-up %lld", (long long)d);
    cr_assert_eq(timer_wheel_count(w), N);
    timer_cancel(&m[N / 2].timer);
    cr_assert_eq(timer_wheel_count(w), N - 1);
    advancing_to = 32000 + N;
    cr_assert_eq(timer_wheel_advance(w, 32000 + N), N - 1);
    timer_wheel_destroy(w);
    free(m);
}

/* Coarse timers a few ms apart fire together, on a TIMER_COARSE_MS
 * boundary, never before they are due and less than TIMER_COARSE_MS
 * after; near ones stay exact. */
Test(timer_wheel, coarse_timers_share_a_wake_up_and_are_never_early)
{
    enum { N = 40 };
    struct timer_wheel *w;
    struct fired log = {0};
    struct probe s[N];
    uint64_t due[N];
    cr_assert_eq(timer_wheel_create(1003, &w), 0);
    for (int i = 0; i < N; i++) {
        s[i] = (struct probe){.log = &log, .id = i, .wheel = w};
        timer_init(&s[i].timer, record, &s[i]);
        due[i] = 1003 + 32000 + (uint64_t)i * 3; /* Timer L armed every 3 ms */
        timer_schedule_coarse(w, &s[i].timer, due[i]);
    }
    struct probe near = {.log = &log, .wheel = w};
    timer_init(&near.timer, record, &near);
    timer_schedule_coarse(w, &near.timer, 1003 + TIMER_COARSE_FROM_MS - 1);
    size_t wakeups = 0;
    for (uint64_t now = 1003; timer_wheel_count(w) > 0;) {
        int64_t d = timer_wheel_next_delay(w, now);
        cr_assert_geq(d, 0);
        now += d ? (uint64_t)d : 1;
        if (timer_wheel_advance(w, now) > 0)
            wakeups++;
    }
    cr_assert_eq(near.fired_at, 1003 + TIMER_COARSE_FROM_MS - 1, "under a second: exact");
    for (int i = 0; i < N; i++) {
        cr_assert_geq(s[i].fired_at, due[i], "timer %d early", i);
        cr_assert_lt(s[i].fired_at, due[i] + TIMER_COARSE_MS, "timer %d too late", i);
        cr_assert_eq(s[i].fired_at % TIMER_COARSE_MS, 0);
    }
    /* 120 ms of deadlines span at most 3 boundaries, +1 for the near one */
    cr_assert_leq(wakeups, 4, "%zu wake-ups", wakeups);
    timer_wheel_destroy(w);
}
