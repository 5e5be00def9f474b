/* The calls this process routes, shared lock-free. See call_index.h. */
#include "switchboard/call_index.h"

#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "switchboard/error.h"
#include "switchboard/hash.h"

#define EMPTY 0u
#define GONE 1u /* a tombstone */

struct call_index {
    _Atomic uint64_t slot[CALL_INDEX_SLOTS];
};

int call_index_create(struct call_index **out)
{
    *out = calloc(1, sizeof(**out));
    return *out ? 0 : SB_ENOMEM;
}

void call_index_destroy(struct call_index *ci)
{
    free(ci);
}

/* The key of @call_id: never EMPTY or GONE. */
static uint64_t key_of(const char *call_id)
{
    uint64_t k = sb_hash(call_id, strlen(call_id));
    return k <= GONE ? k + 2 : k;
}

static size_t at(uint64_t k, size_t i)
{
    return (size_t)(k + i) & (CALL_INDEX_SLOTS - 1);
}

bool call_index_has(const struct call_index *ci, const char *call_id)
{
    uint64_t k = key_of(call_id);
    for (size_t i = 0; i < CALL_INDEX_PROBES; i++) {
        uint64_t v = atomic_load_explicit(&ci->slot[at(k, i)], memory_order_acquire);
        if (v == k)
            return true;
        if (v == EMPTY)
            return false;
    }
    return false;
}

bool call_index_add(struct call_index *ci, const char *call_id)
{
    if (call_index_has(ci, call_id))
        return true;
    uint64_t k = key_of(call_id);
    for (size_t i = 0; i < CALL_INDEX_PROBES; i++) {
        _Atomic uint64_t *s = &ci->slot[at(k, i)];
        uint64_t v = atomic_load_explicit(s, memory_order_relaxed);
        while (v == EMPTY || v == GONE) {
            if (atomic_compare_exchange_weak_explicit(s, &v, k, memory_order_release,
                                                      memory_order_relaxed))
                return true;
        }
    }
    return false;
}

void call_index_remove(struct call_index *ci, const char *call_id)
{
    uint64_t k = key_of(call_id);
    for (size_t i = 0; i < CALL_INDEX_PROBES; i++) {
        _Atomic uint64_t *s = &ci->slot[at(k, i)];
        uint64_t v = atomic_load_explicit(s, memory_order_relaxed);
        if (v == k) {
            atomic_store_explicit(s, GONE, memory_order_release);
            return;
        }
        if (v == EMPTY)
            return;
    }
}
