/* Small types several subsystems share, kept here so headers need not include
 * each other. */
#ifndef SWITCHBOARD_TYPES_H
#define SWITCHBOARD_TYPES_H

#include <stdbool.h>
#include <stdint.h>
#include <stddef.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <time.h>

#include <osipparser2/osip_parser.h>
#include <urcu/wfcqueue.h>

#include "switchboard/hash.h"

/* An IPv4 or IPv6 socket address, the only kinds SIP goes over here:
 * 28 bytes where a sockaddr_storage takes 128, in every transaction,
 * binding and queued message. ss_family reads the family of either. */
union sb_sockaddr {
    sa_family_t ss_family;
    struct sockaddr sa;
    struct sockaddr_in sin;
    struct sockaddr_in6 sin6;
};

/* A socket address with its length. */
struct sb_addr {
    union sb_sockaddr ss;
    socklen_t len;
};

/* The transports of RFC 3261 §18 (TLS: RFC 5630; WebSocket over TCP or
 * TLS: RFC 7118). Every one but UDP is a stream with connections. */
enum sb_transport { SB_UDP = 0, SB_TCP = 1, SB_TLS = 2, SB_WS = 3, SB_WSS = 4 };
#define SB_TRANSPORT_COUNT 5

/* "UDP", "TCP", "TLS", "WS", "WSS": as in a Via. */
const char *sb_transport_name(int transport);
/* ";transport=tcp" and so on for a URI; "" for UDP. */
const char *sb_transport_uri_param(int transport);
/* Is @transport WebSocket (its peers can only be reached over the
 * connection they opened, RFC 7118 §5)? */
static inline int sb_transport_is_ws(int transport)
{
    return transport == SB_WS || transport == SB_WSS;
}
/* Does @transport run over TLS (tls:, wss:)? */
static inline int sb_transport_is_tls(int transport)
{
    return transport == SB_TLS || transport == SB_WSS;
}

/* The local end a message arrived on (or should leave from): which listen
 * address (an index over every listen address, whatever its transport),
 * and the exact local IP, which matters when listening on 0.0.0.0. */
struct sb_local {
    unsigned listen_index;
    struct sb_addr addr;
};

/* Where a message goes, resolved once when its target is chosen (as
 * Kamailio's dest_info carries its send_sock): the transport, the peer,
 * our end, and what carries it: a UDP socket, or a stream connection.
 * The sender (net.h) uses it as it is and never looks anything up. */
struct sb_dest {
    uint8_t transport; /* enum sb_transport */
    bool flow;         /* stream: only over ->conn; if it is gone the send
                        * fails, never a new connection (RFC 5626 §5.3) */
    int fd;            /* UDP: the socket to send on */
    uint64_t conn;     /* stream: the connection, 0 = any to ->peer, or a new one */
    struct sb_addr peer;
    struct sb_local local;
};

/* One received SIP message on its way from a listener to a worker. The
 * worker owns it (and msg) once dequeued; free with sb_inbound_free(). */
struct sb_inbound {
    struct cds_wfcq_node node;
    osip_message_t *msg;
    struct sb_addr src;
    struct sb_local local;
    uint8_t transport; /* enum sb_transport it arrived over */
    int fd;            /* UDP: the socket it arrived on */
    uint64_t conn;     /* TCP/TLS: the connection it arrived on */
    /* A message our I/O thread could not send (its connection gone or
     * never made): handed back to the worker that sent it, so the
     * transaction fails at once (RFC 3261 §8.1.3.1, §18.1.1) */
    bool send_failed;
    uint64_t received_ns; /* monotonic, when the I/O thread read it */
    /* REGISTER only: each Contact's URI as it arrived (libosip2 unescapes
     * user parts, so sip:%00@h and sip:%00%00@h would look alike), one
     * NUL-terminated string after another; NULL when not captured. */
    char *raw_contacts;
    unsigned raw_contact_count;
    /* The bytes as they arrived, for forwarding by editing (sip_edit.h),
     * in the same allocation; NULL when libosip2 read other bytes (NULs
     * hidden, sip_nul.h) or the message was changed where no edit
     * follows (sb_inbound_drop_raw). */
    const char *raw;
    size_t raw_len;
    /* A new INVITE's 100 (Trying), already sent by the listener thread
     * that read it (ingress_trying()); the worker's transaction keeps it
     * for retransmissions instead of sending its own. NULL: not sent. */
    char *trying;
    size_t trying_len;
};

void sb_inbound_free(struct sb_inbound *in);

/* @in->msg was changed in a way its raw bytes do not show: what leaves
 * is serialized from it. */
static inline void sb_inbound_drop_raw(struct sb_inbound *in)
{
    in->raw = NULL;
    in->raw_len = 0;
}

/* Monotonic milliseconds, for timers and expiry. */
static inline uint64_t sb_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* Monotonic nanoseconds, for latency measurements. */
static inline uint64_t sb_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

#endif
