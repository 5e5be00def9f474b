#include "switchboard/stats.h"

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
        total[i] += __atomic_load_n(&c->value[i], __ATOMIC_RELAXED);
}
