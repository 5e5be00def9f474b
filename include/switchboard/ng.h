/* rtpengine's "ng" control protocol, the parts that need no socket: the
 * engines of [media] rtpengine, which engine a call uses, and a request
 * and a reply as datagrams. A datagram is "COOKIE BENCODED-DICT"; a
 * retransmission carries the same cookie, so the engine answers it from
 * its cache instead of acting twice. The asynchronous client that sends
 * these from a worker without blocking it builds on this (issue 26).
 *
 * An engine is "udp:ADDRESS:PORT[;weight=N]" (an IP literal: SIP threads
 * never resolve names); a call's engine is picked by weight from those
 * that answer, by a hash of its Call-ID, and then named in our signed
 * Record-Route so every later message of the call reaches the same one. */
#ifndef SWITCHBOARD_NG_H
#define SWITCHBOARD_NG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "switchboard/types.h"

struct sb_buf;
struct bencode_node;

#define NG_MAX_ENGINES 16
#define NG_MAX_WEIGHT 1000

struct ng_engine {
    struct sb_addr addr;
    unsigned weight; /* 1..NG_MAX_WEIGHT; 1 when not given */
    char name[72];   /* "udp:127.0.0.1:2223", as in logs and metrics */
};

/* Parses a comma-separated list of engines into @out[0..max). Returns 0,
 * or SB_EINVAL / SB_ELIMIT with @why saying which entry and what is
 * wrong. */
int ng_engines_parse(const char *spec, struct ng_engine *out, size_t max, size_t *count, char *why,
                     size_t why_size);

/* The engine for a call keyed @key (its Call-ID) among @e[0..n) whose
 * @up[i] is set, by weight; -1 when none is up. */
int ng_engine_pick(const struct ng_engine *e, size_t n, const bool *up, const char *key,
                   size_t key_len);

/* Writes the cookie of request @seq of process @instance into @buf
 * (24 bytes are enough). Returns its length. */
size_t ng_cookie(char *buf, size_t size, uint32_t instance, uint64_t seq);

/* Starts datagram "COOKIE " in @b; the caller then writes one bencoded
 * dictionary (bencode.h) with its "command". */
void ng_begin(struct sb_buf *b, const char *cookie);

enum ng_result {
    NG_OK,      /* "result": "ok" */
    NG_PONG,    /* "result": "pong", the answer to "ping" */
    NG_ERROR,   /* "result": "error", with "error-reason" */
    NG_UNKNOWN, /* another result ("load limit", ...): treat as an error */
};

/* A reply, pointing into the datagram it was read from. */
struct ng_reply {
    const char *cookie;
    size_t cookie_len;
    enum ng_result result;
    const char *sdp; /* NULL when the reply has none */
    size_t sdp_len;
    const char *reason; /* error-reason, or NULL */
    size_t reason_len;
    const struct bencode_node *nodes; /* the whole dictionary, nodes[0] */
    size_t count;
};

/* Reads datagram @buf[0..len) with @nodes[0..max) as room. Returns 0 or
 * SB_EMALFORMED (no cookie, not one bencoded dictionary with a string
 * "result", or bytes after it). */
int ng_reply_parse(const char *buf, size_t len, struct bencode_node *nodes, size_t max,
                   struct ng_reply *out);

/* How an asynchronous request ends (ng_client.h, or the proxy's ops),
 * once, from the worker's loop: @rc 0 with @reply (valid only during the
 * call), or SB_ETIMEDOUT. */
typedef void (*ng_done_fn)(void *arg, int rc, const struct ng_reply *reply);

/* How soon a request's reply is wanted. PROMPT: a call waits on it (an
 * offer, an answer), so the worker wakes for it. UNHURRIED: only the
 * journal does (a delete), so it is read whenever the worker wakes
 * anyway, and woken for only once NG_UNHURRIED_MS old; on a busy worker
 * that saves a wake-up per call. */
enum ng_pace { NG_PROMPT, NG_UNHURRIED };
#define NG_UNHURRIED_MS 20

#endif
