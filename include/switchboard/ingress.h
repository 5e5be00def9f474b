/* What happens to a datagram before any worker sees it: keep-alives are
 * recognised, the rest is parsed with libosip2, validated (RFC 3261 §8.2,
 * §18.3) and its top Via stamped with received/rport (§18.2.1, RFC 3581).
 * Pure: no sockets, no shared state; the listeners and the fuzzer use it. */
#ifndef SWITCHBOARD_INGRESS_H
#define SWITCHBOARD_INGRESS_H

#include <stddef.h>

#include "switchboard/types.h"

enum ingress_kind {
    INGRESS_KEEPALIVE, /* CRLF keep-alive: ignore silently */
    INGRESS_MESSAGE,   /* a good message in ->msg, for a worker */
    INGRESS_REJECT,    /* a bad request: answer ->code (->why), then free ->msg */
    INGRESS_DROP,      /* unusable, and no reply is possible */
};

struct ingress {
    osip_message_t *msg;
    int code;
    const char *why;
    char *raw_contacts; /* see struct sb_inbound; the caller takes it */
    unsigned raw_contact_count;
    bool exact; /* libosip2 read the bytes as they came (no NUL hidden) */
};

/* @buf must have room for one byte past @len (a NUL is written there). */
enum ingress_kind ingress_parse(char *buf, size_t len, const struct sb_addr *src,
                                struct ingress *out);

/* The one inbound step every transport shares (HAProxy's shared receiver):
 * a framed message in, a filled sb_inbound for a worker out. Keep-alives
 * are counted; malformed input is counted, logged at most once a second
 * and answered (400 and friends, with a Warning) through the transport's
 * reply function, or dropped when no reply is possible. */
struct reasons;
struct sb_counters;
struct sb_log_limiter;

/* Where a message came in, copied into the sb_inbound (once: the
 * addresses are the caller's, read in place). */
struct ingress_origin {
    const struct sb_addr *src;
    const struct sb_local *local;
    uint8_t transport; /* enum sb_transport */
    int fd;            /* UDP: the socket; else -1 */
    uint64_t conn;     /* TCP/TLS: the connection; else 0 */
    uint64_t received_ns;
};

/* The receiving thread's own: nothing here is shared between threads.
 * reply() sends @text (an answer to @req) back the way @req came. */
struct ingress_ctx {
    struct sb_counters *counters;
    struct sb_log_limiter *malformed_log;
    struct reasons *reasons;
    void (*reply)(void *arg, const osip_message_t *req, const char *text, size_t len);
    void *arg;
};

/* Parses @buf (see ingress_parse) and returns what a worker is to get
 * (the caller owns it), or NULL when the message ended here. */
struct sb_inbound *ingress_receive(char *buf, size_t len, const struct ingress_origin *from,
                                   const struct ingress_ctx *x, uint64_t now_ms);

/* A response @code (100-699) with @reason to @in's request, written from
 * the lines the request arrived as (sipedit_reply(): its Vias with the top
 * one stamped, From, To with ";tag=@to_tag" when it has no tag and @code
 * is over 100, as sipmsg_response_create(), Call-ID, CSeq, then the
 * header lines @extra) without building a libosip2 message or printf.
 * *@out is malloc'd. Returns 0, or SB_EAGAIN when @in kept no bytes or
 * sipedit does not index them (build it from the parse then). */
int ingress_reply(const struct sb_inbound *in, int code, const char *reason, const char *to_tag,
                  const char *extra, char **out, size_t *len);

/* 100 (Trying) with @reason (NULL: "Trying") for @in's INVITE, written
 * from the lines it arrived as (sipedit_reply(): its Vias with the top one
 * stamped, From, To, Call-ID, CSeq) without building a libosip2 message.
 * *@out is malloc'd. Returns 0, or SB_EAGAIN when @in kept no bytes. */
int ingress_trying(const struct sb_inbound *in, const char *reason, char **out, size_t *len);

/* Counts and (rate-limited) logs one malformed message from @from. */
void ingress_report_malformed(const struct ingress_ctx *x, const struct ingress_origin *from,
                              const char *why, uint64_t now_ms);

/* Answers request @req with @code and a Warning naming @why through
 * x->reply; an ACK or a response gets nothing (RFC 3261 §17.1.1.3). */
void ingress_answer(const struct ingress_ctx *x, const osip_message_t *req, int code,
                    const char *why);

#endif
