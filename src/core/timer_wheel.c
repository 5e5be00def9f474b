/* A hierarchical timing wheel (Varghese & Lauck, as the Linux kernel's
 * classic timer wheel), 1 ms ticks, owned by one worker thread.
 *
 * Levels: 0 has 256 slots of 1 ms (timers due within 256 ms), then three
 * levels of 64 slots covering 16.4 s, 17.5 min and 18.6 h; beyond that, an
 * overflow list. A timer's slot at its level is taken from the absolute
 * expiry's bits, so scheduling and cancelling are O(1) list operations.
 * When level 0 wraps, the level-1 slot for the next 256 ms is emptied and
 * its timers re-inserted (they land on level 0, exactly); a level's wrap
 * cascades the level above the same way. Each level keeps a bitmap of slots
 * that may be non-empty (cleared lazily when found empty), so the next
 * wake-up is found by scanning a few words, not the timers: exact for what
 * is due within 256 ms, else the next cascade boundary, never later than
 * the earliest timer. */
#include "switchboard/timer_wheel.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "switchboard/error.h"

#define L0_BITS 8
#define L0_SLOTS (1u << L0_BITS)
#define LN_BITS 6
#define LN_SLOTS (1u << LN_BITS)
#define UPPER 3 /* levels above level 0 */

struct timer_wheel {
    uint64_t now; /* every tick up to and including this one is done */
    struct timer *l0[L0_SLOTS];
    uint64_t l0_bits[L0_SLOTS / 64];
    struct timer *ln[UPPER][LN_SLOTS];
    uint64_t ln_bits[UPPER];
    struct timer *overflow; /* due after the top level's range */
    /* the slot of tick now, taken whole and not yet all fired: a budget
     * (timer_wheel_advance_some()) ran out in it */
    struct timer *due;
};

/* Level L >= 1 slots are indexed by expiry bits from this shift up. */
static unsigned level_shift(unsigned level)
{
    return L0_BITS + (level - 1) * LN_BITS;
}

int timer_wheel_create(uint64_t now_ms, struct timer_wheel **out)
{
    struct timer_wheel *w = calloc(1, sizeof(*w));
    if (!w)
        return SB_ENOMEM;
    w->now = now_ms;
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
        list_unlink(timer); /* the slot's bit is cleared when found empty */
}

/* Files @t by its expiry relative to the wheel's time: level 0 holds what
 * is due in the next 256 ticks (256 consecutive ticks, 256 distinct
 * slots), each level above the next 64 of its blocks. */
static void place(struct timer_wheel *w, struct timer *t)
{
    /* something already due goes in the next tick's slot */
    uint64_t due = t->expires_ms > w->now ? t->expires_ms : w->now + 1;
    uint64_t delta = due - w->now;
    if (delta <= L0_SLOTS) {
        unsigned i = (unsigned)(due & (L0_SLOTS - 1));
        list_insert(&w->l0[i], t);
        w->l0_bits[i / 64] |= UINT64_C(1) << (i % 64);
        return;
    }
    for (unsigned level = 1; level <= UPPER; level++) {
        unsigned shift = level_shift(level);
        if (delta <= (UINT64_C(1) << (shift + LN_BITS))) {
            unsigned i = (unsigned)((due >> shift) & (LN_SLOTS - 1));
            list_insert(&w->ln[level - 1][i], t);
            w->ln_bits[level - 1] |= UINT64_C(1) << i;
            return;
        }
    }
    list_insert(&w->overflow, t);
}

void timer_schedule(struct timer_wheel *wheel, struct timer *timer, uint64_t expires_ms)
{
    timer_cancel(timer);
    timer->expires_ms = expires_ms;
    place(wheel, timer);
}

void timer_schedule_coarse(struct timer_wheel *wheel, struct timer *timer, uint64_t expires_ms)
{
    if (expires_ms >= wheel->now + TIMER_COARSE_FROM_MS)
        expires_ms = (expires_ms + TIMER_COARSE_MS - 1) & ~(uint64_t)(TIMER_COARSE_MS - 1);
    timer_schedule(wheel, timer, expires_ms);
}

/* Re-files every timer of @head (a slot being cascaded, or the overflow);
 * the list is taken whole first. */
static void refile(struct timer_wheel *w, struct timer **head)
{
    struct timer *list = *head;
    *head = NULL;
    if (list)
        list->pprev = &list;
    while (list) {
        struct timer *t = list;
        list_unlink(t);
        place(w, t);
    }
}

/* Tick @t (the wheel's time is t - 1) is about to be processed: on level
 * boundaries, bring the timers of the next stretch down from the levels
 * above, top level first, so nothing is filed into a slot that is
 * cascaded right after. With the time at t - 1, what is due at t lands on
 * level 0 and fires at t. */
static void cascade(struct timer_wheel *w, uint64_t t)
{
    if (t & (L0_SLOTS - 1))
        return;
    unsigned top = 1;
    while (top < UPPER && ((t >> level_shift(top + 1)) << level_shift(top + 1)) == t)
        top++;
    unsigned all = level_shift(UPPER) + LN_BITS;
    if (top == UPPER && ((t >> all) << all) == t)
        refile(w, &w->overflow);
    for (unsigned level = top; level >= 1; level--) {
        unsigned i = (unsigned)((t >> level_shift(level)) & (LN_SLOTS - 1));
        w->ln_bits[level - 1] &= ~(UINT64_C(1) << i);
        refile(w, &w->ln[level - 1][i]);
    }
}

/* Distance in slots from @from to the first set bit of a 64-bit map,
 * looking at @from, @from+1, ... cyclically; -1 if none. */
static int first_set_from(uint64_t bits, unsigned from)
{
    if (!bits)
        return -1;
    uint64_t rotated = (bits >> from) | (from ? bits << (64 - from) : 0);
    return __builtin_ctzll(rotated);
}

/* The tick of the first level-0 slot in use, or -1; *earliest (may be
 * NULL) receives the earliest expiry there (a timer filed as overdue keeps
 * its own, earlier time). */
static int64_t level0_next(struct timer_wheel *w, uint64_t *earliest)
{
    unsigned start = (unsigned)((w->now + 1) & (L0_SLOTS - 1));
    for (unsigned k = 0; k < L0_SLOTS;) {
        unsigned i = (start + k) & (L0_SLOTS - 1);
        uint64_t word = w->l0_bits[i / 64] >> (i % 64);
        if (!word) {
            k += 64 - i % 64; /* the rest of this word is empty */
            continue;
        }
        k += (unsigned)__builtin_ctzll(word);
        if (k >= L0_SLOTS)
            break;
        i = (start + k) & (L0_SLOTS - 1);
        if (w->l0[i]) {
            uint64_t tick = w->now + k + 1, first = tick;
            for (const struct timer *t = w->l0[i]; earliest && t; t = t->next)
                if (t->expires_ms < first)
                    first = t->expires_ms;
            if (earliest)
                *earliest = first;
            return (int64_t)tick;
        }
        w->l0_bits[i / 64] &= ~(UINT64_C(1) << (i % 64)); /* stale: emptied by a cancel */
    }
    return -1;
}

/* The tick at which the first level-@level slot in use is cascaded, or -1. */
static int64_t upper_next(struct timer_wheel *w, unsigned level)
{
    unsigned shift = level_shift(level);
    uint64_t block = w->now >> shift;
    for (;;) {
        unsigned current = (unsigned)(block & (LN_SLOTS - 1));
        int k = first_set_from(w->ln_bits[level - 1], (current + 1) & (LN_SLOTS - 1));
        if (k < 0)
            return -1;
        unsigned i = (current + 1 + (unsigned)k) & (LN_SLOTS - 1);
        if (w->ln[level - 1][i])
            return (int64_t)((block + 1 + (uint64_t)k) << shift);
        w->ln_bits[level - 1] &= ~(UINT64_C(1) << i);
    }
}

/* The next tick that has work: a level-0 slot to fire or a slot above to
 * cascade (or the overflow to refile), or -1 when no timer is pending.
 * With @earliest, a level-0 slot counts by its earliest expiry. */
static int64_t next_event(struct timer_wheel *wheel, bool earliest)
{
    uint64_t first;
    int64_t best = level0_next(wheel, earliest ? &first : NULL);
    if (best >= 0 && earliest)
        best = (int64_t)first;
    for (unsigned level = 1; level <= UPPER; level++) {
        int64_t at = upper_next(wheel, level);
        if (at >= 0 && (best < 0 || at < best))
            best = at;
    }
    if (wheel->overflow) {
        /* refiled at the top level's next wrap, which comes before any of
         * them is due (each was further out than a whole top level) */
        unsigned all = level_shift(UPPER) + LN_BITS;
        int64_t wrap = (int64_t)(((wheel->now >> all) + 1) << all);
        if (best < 0 || wrap < best)
            best = wrap;
    }
    return best;
}

int64_t timer_wheel_next_delay(struct timer_wheel *wheel, uint64_t now_ms)
{
    if (wheel->due)
        return 0; /* a budget ran out: the rest of a tick is overdue */
    int64_t at = next_event(wheel, true);
    if (at < 0)
        return -1;
    return (uint64_t)at > now_ms ? (int64_t)((uint64_t)at - now_ms) : 0;
}

/* Fires what is left of tick now's slot, @max at most; adds to *@fired. */
static void fire_due(struct timer_wheel *wheel, size_t max, size_t *fired)
{
    while (wheel->due && *fired < max) {
        /* pop one at a time: a callback may cancel or schedule any timer;
         * what it schedules for now lands in the next tick's slot */
        struct timer *first = wheel->due;
        list_unlink(first);
        first->fn(first, first->arg);
        (*fired)++;
    }
}

size_t timer_wheel_advance_some(struct timer_wheel *wheel, uint64_t now_ms, size_t max)
{
    size_t fired = 0;
    fire_due(wheel, max, &fired);
    while (!wheel->due && wheel->now < now_ms) {
        /* skip the ticks with nothing to do: no occupied slot's tick is
         * passed, so every timer keeps the slot it is in (a long sleep, or
         * a clock far ahead, costs a few bitmap looks, not a loop per ms) */
        int64_t next = next_event(wheel, false);
        if (next < 0 || (uint64_t)next > now_ms) {
            wheel->now = now_ms;
            break;
        }
        if ((uint64_t)next > wheel->now + 1)
            wheel->now = (uint64_t)next - 1;
        uint64_t t = wheel->now + 1;
        cascade(wheel, t);
        wheel->now = t;
        unsigned i = (unsigned)(t & (L0_SLOTS - 1));
        wheel->l0_bits[i / 64] &= ~(UINT64_C(1) << (i % 64));
        wheel->due = wheel->l0[i];
        wheel->l0[i] = NULL;
        if (wheel->due)
            wheel->due->pprev = &wheel->due;
        fire_due(wheel, max, &fired);
    }
    return fired;
}

size_t timer_wheel_advance(struct timer_wheel *wheel, uint64_t now_ms)
{
    return timer_wheel_advance_some(wheel, now_ms, SIZE_MAX);
}

static size_t list_count(const struct timer *t)
{
    size_t n = 0;
    for (; t; t = t->next)
        n++;
    return n;
}

size_t timer_wheel_count(const struct timer_wheel *wheel)
{
    size_t n = list_count(wheel->overflow) + list_count(wheel->due);
    for (size_t i = 0; i < L0_SLOTS; i++)
        n += list_count(wheel->l0[i]);
    for (size_t l = 0; l < UPPER; l++)
        for (size_t i = 0; i < LN_SLOTS; i++)
            n += list_count(wheel->ln[l][i]);
    return n;
}

uint64_t timer_wheel_now(const struct timer_wheel *wheel)
{
    return wheel->now;
}
