/* Bencoding (the BitTorrent form, BEP 3), the body of rtpengine's "ng"
 * control protocol: strings "LEN:BYTES", integers "iNe", lists "l...e" and
 * dictionaries "d...e" (string keys, each followed by its value).
 *
 * Writing appends to an sb_buf. Reading makes a flat, pre-order array of
 * nodes pointing into the caller's bytes (no allocation, no copy): a
 * list's or dictionary's children follow it, and each node knows the index
 * just past its subtree, so a walk skips what it does not want. Strict:
 * integers in their one canonical form, nesting at most BENCODE_DEPTH, so
 * what is read re-encodes to the very bytes it came from. Pure; any
 * thread. */
#ifndef SWITCHBOARD_BENCODE_H
#define SWITCHBOARD_BENCODE_H

#include <stdbool.h>
#include <stddef.h>

struct sb_buf;

#define BENCODE_DEPTH 32

/* --- writing ----------------------------------------------------------- */

void bencode_str(struct sb_buf *b, const char *s, size_t len);
void bencode_cstr(struct sb_buf *b, const char *s); /* a NUL-terminated string */
void bencode_int(struct sb_buf *b, long long v);
void bencode_list(struct sb_buf *b); /* then its items, then bencode_end() */
void bencode_dict(struct sb_buf *b); /* then key, value, ..., then bencode_end() */
void bencode_end(struct sb_buf *b);

/* --- reading ----------------------------------------------------------- */

enum bencode_type { BENCODE_STR, BENCODE_INT, BENCODE_LIST, BENCODE_DICT };

struct bencode_node {
    enum bencode_type type;
    const char *str; /* BENCODE_STR: its bytes (not NUL-terminated) */
    size_t len;      /* BENCODE_STR: how many */
    long long num;   /* BENCODE_INT */
    size_t next;     /* the index just past this node's subtree */
};

/* Reads one value from @buf[0..len) into @nodes[0..max). Returns the bytes
 * it took (what follows is the caller's), or SB_EMALFORMED (not
 * bencoding, or too deep) or SB_ELIMIT (more than @max nodes). */
long bencode_parse(const char *buf, size_t len, struct bencode_node *nodes, size_t max,
                   size_t *count);

/* The value under @key of dictionary @nodes[dict], or -1. */
long bencode_get(const struct bencode_node *nodes, size_t dict, const char *key);

/* Is @nodes[i] the string @s? */
bool bencode_is(const struct bencode_node *nodes, long i, const char *s);

/* Appends @nodes[i]'s subtree as bencoding (for a copy, or a check). */
void bencode_write(struct sb_buf *b, const struct bencode_node *nodes, size_t i);

#endif
