#include "switchboard/strmap.h"

#include <stdlib.h>
#include <string.h>

#include "switchboard/error.h"
#include "switchboard/types.h"

int strmap_init(struct strmap *map, size_t buckets)
{
    map->buckets = calloc(buckets, sizeof(*map->buckets));
    if (!map->buckets)
        return SB_ENOMEM;
    map->mask = buckets - 1;
    map->count = 0;
    return 0;
}

void strmap_fini(struct strmap *map)
{
    free(map->buckets);
    map->buckets = NULL;
}

struct strmap_link *strmap_find(const struct strmap *map, const char *key, size_t len)
{
    uint64_t hash = sb_hash(key, len);
    for (struct strmap_link *l = map->buckets[hash & map->mask]; l; l = l->next)
        if (l->hash == hash && strcmp(l->key, key) == 0)
            return l;
    return NULL;
}

static void strmap_grow(struct strmap *map)
{
    size_t size = (map->mask + 1) * 2;
    struct strmap_link **buckets = calloc(size, sizeof(*buckets));
    if (!buckets)
        return; /* keep the old size: slower, still correct */
    for (size_t i = 0; i <= map->mask; i++) {
        struct strmap_link *l = map->buckets[i];
        while (l) {
            struct strmap_link *next = l->next;
            l->next = buckets[l->hash & (size - 1)];
            buckets[l->hash & (size - 1)] = l;
            l = next;
        }
    }
    free(map->buckets);
    map->buckets = buckets;
    map->mask = size - 1;
}

void strmap_insert(struct strmap *map, struct strmap_link *link, char *key, size_t len)
{
    link->key = key;
    link->hash = sb_hash(key, len);
    if (map->count >= map->mask + 1)
        strmap_grow(map);
    struct strmap_link **head = &map->buckets[link->hash & map->mask];
    link->next = *head;
    *head = link;
    map->count++;
}

void strmap_remove(struct strmap *map, struct strmap_link *link)
{
    for (struct strmap_link **pp = &map->buckets[link->hash & map->mask]; *pp; pp = &(*pp)->next) {
        if (*pp == link) {
            *pp = link->next;
            map->count--;
            break;
        }
    }
    free(link->key);
    link->key = NULL;
}

void strmap_clear(struct strmap *map, void (*free_entry)(struct strmap_link *link))
{
    for (size_t i = 0; map->count && i <= map->mask; i++) {
        while (map->buckets[i]) {
            struct strmap_link *link = map->buckets[i];
            map->buckets[i] = link->next;
            map->count--;
            free(link->key);
            link->key = NULL;
            free_entry(link);
        }
    }
}
