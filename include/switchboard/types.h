/* Small types several subsystems share, kept here so headers need not include
 * each other. */
#ifndef SWITCHBOARD_TYPES_H
#define SWITCHBOARD_TYPES_H

#include <stdint.h>
#include <stddef.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <time.h>

#include <osipparser2/osip_parser.h>
#include <urcu/wfcqueue.h>

/* A socket address with its length. */
struct sb_addr {
    struct sockaddr_storage ss;
    socklen_t len;
};

/* The local end a datagram arrived on (or should leave from): which listen
 * address, and the exact local IP, which matters when listening on 0.0.0.0. */
struct sb_local {
    unsigned listen_index;
    struct sb_addr addr;
};

/* One received SIP message on its way from a listener to a worker. The
 * worker owns it (and msg) once dequeued; free with sb_inbound_free(). */
struct sb_inbound {
    struct cds_wfcq_node node;
    osip_message_t *msg;
    struct sb_addr src;
    struct sb_local local;
    uint64_t received_ms;
    /* REGISTER only: each Contact's URI as it arrived (libosip2 unescapes
     * user parts, so sip:%00@h and sip:%00%00@h would look alike), one
     * NUL-terminated string after another; NULL when not captured. */
    char *raw_contacts;
    unsigned raw_contact_count;
};

void sb_inbound_free(struct sb_inbound *in);

/* Monotonic milliseconds, for timers and expiry. */
static inline uint64_t sb_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* FNV-1a: small, fast and good enough to spread Call-IDs and keys. */
static inline uint64_t sb_hash(const char *s, size_t len)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < len; i++) {
        h ^= (unsigned char)s[i];
        h *= 1099511628211ull;
    }
    return h;
}

#endif
