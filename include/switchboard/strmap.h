/* An intrusive hash table keyed by strings, for state owned by one thread
 * (transactions, calls). Embed a strmap_link as the first member of the
 * stored struct. Not thread-safe by design. */
#ifndef SWITCHBOARD_STRMAP_H
#define SWITCHBOARD_STRMAP_H

#include <stddef.h>
#include <stdint.h>

struct strmap_link {
    struct strmap_link *next;
    uint64_t hash;
    char *key; /* heap memory, freed on removal */
};

struct strmap {
    struct strmap_link **buckets;
    size_t mask;
    size_t count;
};

/* @buckets must be a power of two. Returns 0 or SB_ENOMEM. */
int strmap_init(struct strmap *map, size_t buckets);
/* Frees the buckets; entries are the caller's to free first. */
void strmap_fini(struct strmap *map);

struct strmap_link *strmap_find(const struct strmap *map, const char *key, size_t len);
/* Takes @key (heap memory). Grows the table when it gets full. */
void strmap_insert(struct strmap *map, struct strmap_link *link, char *key, size_t len);
/* Unlinks @link and frees its key. */
void strmap_remove(struct strmap *map, struct strmap_link *link);
/* Removes every entry, handing each to @free_entry (shutdown). */
void strmap_clear(struct strmap *map, void (*free_entry)(struct strmap_link *link));

#endif
