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
};

/* @buf must have room for one byte past @len (a NUL is written there). */
enum ingress_kind ingress_parse(char *buf, size_t len, const struct sb_addr *src,
                                struct ingress *out);

#endif
