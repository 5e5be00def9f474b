/* Per-thread counters. Each thread owns one sb_counters block on its own
 * cache lines and is its only writer; readers sum all blocks with relaxed
 * loads, so counting never bounces a cache line between cores. */
#ifndef SWITCHBOARD_STATS_H
#define SWITCHBOARD_STATS_H

#include <stddef.h>
#include <stdint.h>

#define SB_COUNTER_MAP(X)                                                                          \
    X(DATAGRAMS, "datagrams received")                                                             \
    X(KEEPALIVES, "keep-alives ignored")                                                           \
    X(MALFORMED, "malformed messages")                                                             \
    X(TRUNCATED, "oversized datagrams dropped")                                                    \
    X(QUEUE_FULL, "messages dropped on a full worker queue")                                       \
    X(REQUESTS, "requests handled")                                                                \
    X(RESPONSES, "responses handled")                                                              \
    X(RETRANSMISSIONS, "request retransmissions absorbed")                                         \
    X(STATELESS, "messages forwarded statelessly")                                                 \
    X(OVERLOAD, "requests refused with 503 (transaction limit)")                                   \
    X(SEND_ERRORS, "datagrams that could not be sent")                                             \
    X(DROPPED, "messages dropped (no route back)")                                                 \
    X(RATE_LIMITED, "datagrams dropped by the per-source rate limit")                              \
    X(AUTH_CHALLENGED, "requests challenged for credentials")                                      \
    X(AUTH_FAILED, "refused: wrong password or unknown user")                                      \
    X(AUTH_WRONG_USER, "refused: credentials of another user")                                     \
    X(AUTH_REPLAYED, "refused: credentials replayed")                                              \
    X(AUTH_MALFORMED, "refused: malformed credentials")                                            \
    X(AUTH_THROTTLED, "refused: too many failures from the source")                                \
    X(FORGED_ROUTE, "refused: a Route naming us that we did not sign")                             \
    X(STREAM_MESSAGES, "messages received over TCP/TLS")                                           \
    X(STREAM_ACCEPTED, "TCP/TLS connections accepted")                                             \
    X(STREAM_CONNECTED, "TCP/TLS connections opened by us")                                        \
    X(STREAM_REFUSED, "TCP/TLS connections refused (connection limits)")                           \
    X(STREAM_FAILED, "TCP/TLS connections failed (connect, handshake, reset)")                     \
    X(STREAM_TIMEOUTS, "TCP/TLS connections closed: idle, or a message too slow")                  \
    X(STREAM_OVERFLOWS, "TCP/TLS connections dropped: the peer did not read")                      \
    X(STREAM_UNSENT, "requests handed back: their connection was gone")

enum sb_counter {
#define SB_COUNTER_ENUM(name, text) SB_CNT_##name,
    SB_COUNTER_MAP(SB_COUNTER_ENUM)
#undef SB_COUNTER_ENUM
        SB_CNT_COUNT
};

struct sb_counters {
    _Alignas(64) uint64_t value[SB_CNT_COUNT];
};

static inline void sb_count_add(struct sb_counters *c, enum sb_counter id, uint64_t n)
{
    /* single writer: a relaxed store of our own value is race-free */
    __atomic_store_n(&c->value[id], __atomic_load_n(&c->value[id], __ATOMIC_RELAXED) + n,
                     __ATOMIC_RELAXED);
}

static inline void sb_count(struct sb_counters *c, enum sb_counter id)
{
    sb_count_add(c, id, 1);
}

const char *sb_counter_name(enum sb_counter id);
/* Adds @c into @total. */
void sb_counters_accumulate(uint64_t total[SB_CNT_COUNT], const struct sb_counters *c);

#endif
