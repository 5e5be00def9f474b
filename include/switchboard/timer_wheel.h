/* A hierarchical timing wheel with 1 ms ticks, owned by one worker thread
 * (no locking). Timers are embedded in their owners; scheduling and
 * cancelling are O(1) whatever the horizon, and finding the next wake-up
 * looks at a few bitmap words, not at the timers (timer_wheel.c explains
 * the levels). */
#ifndef SWITCHBOARD_TIMER_WHEEL_H
#define SWITCHBOARD_TIMER_WHEEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct timer;
typedef void (*timer_fn)(struct timer *timer, void *arg);

struct timer {
    struct timer *next;
    struct timer **pprev; /* NULL when not scheduled */
    uint64_t expires_ms;
    timer_fn fn;
    void *arg;
};

struct timer_wheel;

int timer_wheel_create(uint64_t now_ms, struct timer_wheel **out);
/* Pending timers are forgotten, not fired. */
void timer_wheel_destroy(struct timer_wheel *wheel);

void timer_init(struct timer *timer, timer_fn fn, void *arg);
/* (Re)schedules @timer to fire at @expires_ms (monotonic). */
void timer_schedule(struct timer_wheel *wheel, struct timer *timer, uint64_t expires_ms);
/* For a timer whose precision does not matter, one that ends a state
 * rather than resends (RFC 3261 Timers B, D, F, H, I, J, K, L, M): at
 * TIMER_COARSE_FROM_MS or more ahead, @expires_ms is rounded up to the
 * next multiple of TIMER_COARSE_MS, so that such timers armed a few ms
 * apart fire in one wake-up rather than one each (the kernel's
 * round_jiffies()). Never fires early; at most TIMER_COARSE_MS - 1 late. */
#define TIMER_COARSE_MS 64u
#define TIMER_COARSE_FROM_MS 1000u
void timer_schedule_coarse(struct timer_wheel *wheel, struct timer *timer, uint64_t expires_ms);
void timer_cancel(struct timer *timer);
static inline bool timer_pending(const struct timer *timer)
{
    return timer->pprev != NULL;
}

/* Fires every timer due at @now_ms. Callbacks may schedule and cancel any
 * timer. Returns how many fired. */
size_t timer_wheel_advance(struct timer_wheel *wheel, uint64_t now_ms);
/* The same, firing @max timers at most: the wheel's time stays at the
 * tick whose timers were cut short, which the next call finishes first
 * (timer_wheel_next_delay() says 0 meanwhile). A loop that also reads
 * sockets so serves them between the timers of a crowded tick, such as
 * the thousands of coarse ones that end at once under load. */
size_t timer_wheel_advance_some(struct timer_wheel *wheel, uint64_t now_ms, size_t max);

/* Milliseconds until the wheel next needs timer_wheel_advance() (0 if
 * overdue), or -1 if no timer is pending: exact when the earliest timer is
 * due within 256 ms, else the time its level is cascaded, which is never
 * later than the timer. (It may tidy its bitmaps, hence not const.) */
int64_t timer_wheel_next_delay(struct timer_wheel *wheel, uint64_t now_ms);

size_t timer_wheel_count(const struct timer_wheel *wheel);

/* The wheel's time: the last tick advanced to (inside a timer callback,
 * the tick being fired). The worker advances the wheel once per loop with
 * the clock it read then, so this is its cached loop time (libuv's
 * uv_now): what the transaction layer and the proxy schedule from. */
uint64_t timer_wheel_now(const struct timer_wheel *wheel);

#endif
