/* Per-thread counters. Each thread owns one sb_counters block on its own
 * cache lines and is its only writer; readers sum all blocks with relaxed
 * loads, so counting never bounces a cache line between cores. */
#ifndef SWITCHBOARD_STATS_H
#define SWITCHBOARD_STATS_H

#include <stdatomic.h>
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
    X(FORWARD_EDITED, "messages relayed as the bytes they came as, edited")                        \
    X(FORWARD_SERIALIZED, "messages relayed serialized again (rewritten, or not editable)")        \
    X(TRYING_EARLY, "100 Trying sent by a listener thread before the hand-off")                    \
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
    X(PRELOADED_ROUTE, "refused: out of dialog, a Route that is not ours")                         \
    X(DIALOG_GONE, "refused: the Route of a call that has ended")                                  \
    X(DIALOG_TARGET, "refused: in a call, to another target than its other side")                  \
    X(FORBIDDEN_TARGET, "refused: a destination on loopback, link-local or our own sockets")       \
    X(STRAY_UNVERIFIED, "stray responses dropped: their Via was not one we sent")                  \
    X(UNRESOLVED, "refused: a host name where an address is required")                             \
    X(REGISTER_QUOTA, "REGISTERs refused: too many users from one address")                        \
    X(REGISTER_TOO_LARGE, "REGISTERs refused: a binding larger than max_binding_bytes")            \
    X(REGISTER_RATE, "REGISTERs refused: faster than register_rate from one address")              \
    X(REGISTER_DOMAIN, "REGISTERs refused: for a domain not served here (use_domain)")             \
    X(REGISTER_DOMAIN_FULL, "REGISTERs refused: the domain has max_records_per_domain users")      \
    X(STREAM_MESSAGES, "messages received over TCP/TLS")                                           \
    X(STREAM_ACCEPTED, "TCP/TLS connections accepted")                                             \
    X(STREAM_CONNECTED, "TCP/TLS connections opened by us")                                        \
    X(STREAM_REFUSED, "TCP/TLS connections refused (connection limits)")                           \
    X(STREAM_FAILED, "TCP/TLS connections failed (connect, handshake, reset)")                     \
    X(STREAM_TIMEOUTS, "TCP/TLS connections closed: idle, or a message too slow")                  \
    X(STREAM_OVERFLOWS, "TCP/TLS connections dropped: the peer did not read")                      \
    X(STREAM_UNSENT, "requests handed back: their connection was gone")                            \
    X(MEDIA_NG_REQUESTS, "media: ng requests sent to rtpengine")                                   \
    X(MEDIA_NG_FAILURES, "media: ng requests unanswered or refused by the engine")                 \
    X(MEDIA_RELAYED, "media: calls relayed through rtpengine")                                     \
    X(MEDIA_UNRELAYED, "media: calls signalled on unrelayed, no engine answering (continue)")      \
    X(MEDIA_REFUSED, "media: calls refused with 503, no engine answering (refuse)")                \
    X(NAT_PINGS, "keep-alives sent to phones behind NAT")                                          \
    X(NAT_PING_LOST, "phones behind NAT that stopped answering keep-alives")                       \
    X(SUBSCRIPTIONS, "dialog event subscriptions accepted (RFC 4235)")                             \
    X(SUBSCRIPTIONS_ENDED, "dialog event subscriptions ended")                                     \
    X(NOTIFIES, "NOTIFYs sent to subscribers")                                                     \
    X(PICKUPS, "ringing calls picked up ([features] pickup)")                                      \
    X(PICKUP_MISSES, "pickups that found no ringing call to take")                                 \
    X(AUTO_ANSWER_STRIPPED, "calls from outside stripped of auto-answer headers")                  \
    SB_METHOD_MAP(X)                                                                               \
    SB_CLASS_MAP(X)                                                                                \
    SB_OUTCOME_MAP(X)

/* Requests by method, then responses by class, then decided call attempts
 * by outcome: the labelled counters of the admin plane's /metrics. */
#define SB_METHOD_MAP(X)                                                                           \
    X(M_INVITE, "INVITE")                                                                          \
    X(M_ACK, "ACK")                                                                                \
    X(M_BYE, "BYE")                                                                                \
    X(M_CANCEL, "CANCEL")                                                                          \
    X(M_REGISTER, "REGISTER")                                                                      \
    X(M_OPTIONS, "OPTIONS")                                                                        \
    X(M_SUBSCRIBE, "SUBSCRIBE")                                                                    \
    X(M_NOTIFY, "NOTIFY")                                                                          \
    X(M_REFER, "REFER")                                                                            \
    X(M_MESSAGE, "MESSAGE")                                                                        \
    X(M_INFO, "INFO")                                                                              \
    X(M_UPDATE, "UPDATE")                                                                          \
    X(M_PRACK, "PRACK")                                                                            \
    X(M_PUBLISH, "PUBLISH")                                                                        \
    X(M_OTHER, "other")
#define SB_CLASS_MAP(X)                                                                            \
    X(C_1XX, "1xx")                                                                                \
    X(C_2XX, "2xx")                                                                                \
    X(C_3XX, "3xx")                                                                                \
    X(C_4XX, "4xx")                                                                                \
    X(C_5XX, "5xx")                                                                                \
    X(C_6XX, "6xx")
#define SB_OUTCOME_MAP(X)                                                                          \
    X(O_ANSWERED, "answered")                                                                      \
    X(O_CANCELLED, "cancelled")                                                                    \
    X(O_BUSY, "busy")                                                                              \
    X(O_DECLINED, "declined")                                                                      \
    X(O_NOT_FOUND, "not-found")                                                                    \
    X(O_NO_ANSWER, "no-answer")                                                                    \
    X(O_UNAVAILABLE, "unavailable")                                                                \
    X(O_DND, "dnd")                                                                                \
    X(O_MISSED, "missed")                                                                          \
    X(O_REFUSED, "refused")                                                                        \
    X(O_FAILED, "failed")

enum sb_counter {
#define SB_COUNTER_ENUM(name, text) SB_CNT_##name,
    SB_COUNTER_MAP(SB_COUNTER_ENUM)
#undef SB_COUNTER_ENUM
        SB_CNT_COUNT
};

/* A latency histogram with fixed bounds (seconds, SB_HIST_BOUNDS), one
 * writer like the counters. bucket[i] counts observations <= bound i
 * alone (not cumulative); the last bucket is +Inf. */
#define SB_HIST_BUCKETS 14
extern const double sb_hist_bounds[SB_HIST_BUCKETS - 1];

struct sb_histogram {
    _Atomic uint64_t bucket[SB_HIST_BUCKETS];
    _Atomic uint64_t count;
    _Atomic uint64_t sum_ns;
};

struct sb_counters {
    _Alignas(64) _Atomic uint64_t value[SB_CNT_COUNT];
    struct sb_histogram invite_processing; /* datagram in -> first datagram out */
    struct sb_histogram call_setup;        /* INVITE -> 2xx */
    struct sb_histogram media_ng;          /* an ng request -> the engine's answer */
};

static inline void sb_count_add(struct sb_counters *c, enum sb_counter id, uint64_t n)
{
    /* single writer: a relaxed store of our own value is race-free */
    atomic_store_explicit(&c->value[id],
                          atomic_load_explicit(&c->value[id], memory_order_relaxed) + n,
                          memory_order_relaxed);
}

static inline void sb_count(struct sb_counters *c, enum sb_counter id)
{
    sb_count_add(c, id, 1);
}

void sb_hist_observe(struct sb_histogram *h, uint64_t ns);
/* Adds @h into @total with relaxed loads. */
void sb_hist_accumulate(struct sb_histogram *total, const struct sb_histogram *h);

const char *sb_counter_name(enum sb_counter id);
/* The label value of a method, class or outcome counter; NULL for others. */
const char *sb_counter_label(enum sb_counter id);
enum sb_counter sb_method_counter(const char *method);
/* Adds @c into @total. */
void sb_counters_accumulate(uint64_t total[SB_CNT_COUNT], const struct sb_counters *c);

#endif
