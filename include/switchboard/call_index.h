/* The calls this process routes, by Call-ID, for every worker to ask
 * "is this a call of ours?" (an INVITE with Replaces, RFC 3891, names
 * one that lives on another worker).
 *
 * DESIGN: a fixed table of 64-bit keyed hashes (hash.h) with open
 * addressing and atomic slots: no lock. A call is added and removed by
 * the worker its Call-ID belongs to, so no two threads ever add or
 * remove the same key; other keys race only through compare-and-swap on
 * free slots. A removed key leaves a tombstone that a later add reuses;
 * every probe is bounded (CALL_INDEX_PROBES), so a crowded table says
 * "not ours" rather than searching. */
#ifndef SWITCHBOARD_CALL_INDEX_H
#define SWITCHBOARD_CALL_INDEX_H

#include <stdbool.h>
#include <stddef.h>

struct call_index;

#define CALL_INDEX_SLOTS 16384 /* 128 KiB: room for some ten thousand calls at once */
#define CALL_INDEX_PROBES 32

/* Returns 0 or SB_ENOMEM. */
int call_index_create(struct call_index **out);
void call_index_destroy(struct call_index *ci);

/* Notes call @call_id; false when no slot was free within reach. */
bool call_index_add(struct call_index *ci, const char *call_id);
/* The call ended (nothing when it was never added). */
void call_index_remove(struct call_index *ci, const char *call_id);
/* Is @call_id a call of ours now? Any thread. */
bool call_index_has(const struct call_index *ci, const char *call_id);

#endif
