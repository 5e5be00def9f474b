/* Keyed hashing for every table a stranger can fill (transactions,
 * registrations, users, failure and rate counters, dispatch): SipHash-2-4
 * under a key drawn at random when the process starts, so chosen Call-IDs,
 * branches or AoR names cannot be made to collide into long chains.
 * Values differ from one process to the next: never store or send them. */
#ifndef SWITCHBOARD_HASH_H
#define SWITCHBOARD_HASH_H

#include <stddef.h>
#include <stdint.h>

/* SipHash-2-4 of @len bytes under the 16-byte @key (reference test
 * vectors in tests/unit/test_hash.c). */
uint64_t sb_siphash(const unsigned char key[16], const void *data, size_t len);

/* SipHash-2-4 under this process's key. Any thread. */
uint64_t sb_hash(const char *s, size_t len);

#endif
