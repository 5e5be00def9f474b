#include "switchboard/timer_wheel.h"

#include <stdlib.h>

#include "switchboard/error.h"

#define WHEEL_SLOTS 1024u
#define WHEEL_MASK (WHEEL_SLOTS - 1)

struct timer_wheel {
    uint64_t last_ms; /* every tick up to and including this one is done */
    struct timer *slots[WHEEL_SLOTS];
};

int timer_wheel_create(uint64_t now_ms, struct timer_wheel **out)
{
    struct timer_wheel *w = calloc(1, sizeof(*w));
    if (!w)
        return SB_ENOMEM;
    w->last_ms = now_ms;
    *out = w;
    return 0;
}

void timer_wheel_destroy(struct timer_wheel *wheel)
{
    free(wheel);
}

void timer_init(struct timer *timer, timer_fn fn, void *arg)
{
    timer->next = NULL;
    timer->pprev = NULL;
    timer->expires_ms = 0;
    timer->fn = fn;
    timer->arg = arg;
}

static void list_insert(struct timer **head, struct timer *t)
{
    t->next = *head;
    if (t->next)
        t->next->pprev = &t->next;
    *head = t;
    t->pprev = head;
}

static void list_unlink(struct timer *t)
{
    *t->pprev = t->next;
    if (t->next)
        t->next->pprev = t->pprev;
    t->next = NULL;
    t->pprev = NULL;
}

void timer_cancel(struct timer *timer)
{
    if (timer->pprev)
        list_unlink(timer);
}

void timer_schedule(struct timer_wheel *wheel, struct timer *timer, uint64_t expires_ms)
{
    timer_cancel(timer);
    timer->expires_ms = expires_ms;
    /* something already due goes in the next tick's slot */
    uint64_t tick = expires_ms > wheel->last_ms ? expires_ms : wheel->last_ms + 1;
    list_insert(&wheel->slots[tick & WHEEL_MASK], timer);
}

size_t timer_wheel_advance(struct timer_wheel *wheel, uint64_t now_ms)
{
    if (now_ms <= wheel->last_ms)
        return 0;
    struct timer *due = NULL;
    uint64_t ticks = now_ms - wheel->last_ms;
    if (ticks > WHEEL_SLOTS)
        ticks = WHEEL_SLOTS;
    for (uint64_t i = 1; i <= ticks; i++) {
        struct timer **slot = &wheel->slots[(wheel->last_ms + i) & WHEEL_MASK];
        struct timer *t = *slot;
        while (t) {
            struct timer *next = t->next;
            if (t->expires_ms <= now_ms) {
                list_unlink(t);
                list_insert(&due, t);
            }
            t = next;
        }
    }
    wheel->last_ms = now_ms;
    size_t fired = 0;
    /* pop one at a time: a callback may cancel a timer still on @due */
    while (due) {
        struct timer *t = due;
        list_unlink(t);
        t->fn(t, t->arg);
        fired++;
    }
    return fired;
}

int64_t timer_wheel_next_delay(const struct timer_wheel *wheel, uint64_t now_ms)
{
    int64_t best = -1;
    for (uint64_t i = 1; i <= WHEEL_SLOTS; i++) {
        for (const struct timer *t = wheel->slots[(wheel->last_ms + i) & WHEEL_MASK]; t;
             t = t->next) {
            int64_t delay = t->expires_ms > now_ms ? (int64_t)(t->expires_ms - now_ms) : 0;
            if (best < 0 || delay < best)
                best = delay;
        }
        /* a slot's timers due this turn are the earliest there can be */
        if (best >= 0 && best <= (int64_t)i)
            return best;
    }
    return best;
}

size_t timer_wheel_count(const struct timer_wheel *wheel)
{
    size_t n = 0;
    for (size_t i = 0; i < WHEEL_SLOTS; i++)
        for (const struct timer *t = wheel->slots[i]; t; t = t->next)
            n++;
    return n;
}

uint64_t timer_wheel_now(const struct timer_wheel *wheel)
{
    return wheel->last_ms;
}
