#include "switchboard/stats.h"

#include <string.h>

const char *sb_counter_name(enum sb_counter id)
{
    static const char *const names[] = {
#define SB_COUNTER_NAME(name, text) text,
        SB_COUNTER_MAP(SB_COUNTER_NAME)
#undef SB_COUNTER_NAME
    };
    return id < SB_CNT_COUNT ? names[id] : "?";
}

void sb_counters_accumulate(uint64_t total[SB_CNT_COUNT], const struct sb_counters *c)
{
    for (int i = 0; i < SB_CNT_COUNT; i++)
        total[i] += atomic_load_explicit(&c->value[i], memory_order_relaxed);
}

/* 50 us to 10 s: INVITE handling sits at the low end, call set-up (a
 * person picking up) at the high end */
const double sb_hist_bounds[SB_HIST_BUCKETS - 1] = {
    0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05, 0.25, 1, 5, 10,
};

/* Single writer: a relaxed store of our own value is race-free. */
static void relaxed_add(_Atomic uint64_t *v, uint64_t n)
{
    atomic_store_explicit(v, atomic_load_explicit(v, memory_order_relaxed) + n,
                          memory_order_relaxed);
}

/* @total belongs to the caller alone. */
static void relaxed_sum(_Atomic uint64_t *total, const _Atomic uint64_t *v)
{
    relaxed_add(total, atomic_load_explicit(v, memory_order_relaxed));
}

void sb_hist_observe(struct sb_histogram *h, uint64_t ns)
{
    double s = (double)ns / 1e9;
    unsigned i = 0;
    while (i < SB_HIST_BUCKETS - 1 && s > sb_hist_bounds[i])
        i++;
    relaxed_add(&h->bucket[i], 1);
    relaxed_add(&h->sum_ns, ns);
    relaxed_add(&h->count, 1);
}

void sb_hist_accumulate(struct sb_histogram *total, const struct sb_histogram *h)
{
    for (int i = 0; i < SB_HIST_BUCKETS; i++)
        relaxed_sum(&total->bucket[i], &h->bucket[i]);
    relaxed_sum(&total->count, &h->count);
    relaxed_sum(&total->sum_ns, &h->sum_ns);
}

const char *sb_counter_label(enum sb_counter id)
{
    if (id >= SB_CNT_M_INVITE && id < SB_CNT_COUNT)
        return sb_counter_name(id);
    return NULL;
}

enum sb_counter sb_method_counter(const char *method)
{
    for (int i = SB_CNT_M_INVITE; i < SB_CNT_M_OTHER; i++)
        if (!strcmp(method, sb_counter_name(i)))
            return i;
    return SB_CNT_M_OTHER;
}
