/* Shared by the unit tests: parse a SIP message written with \n line ends,
 * or make it an inbound message as the transports do (its bytes kept). */
#ifndef SB_TEST_HELPERS_H
#define SB_TEST_HELPERS_H

#include <criterion/criterion.h>
#include <osipparser2/osip_parser.h>
#include <stdlib.h>
#include <string.h>

#include "switchboard/sip_msg.h"
#include "switchboard/types.h"

static inline char *crlf(const char *text)
{
    size_t n = strlen(text);
    char *out = malloc(2 * n + 1);
    size_t j = 0;
    for (size_t i = 0; i < n; i++) {
        if (text[i] == '\n')
            out[j++] = '\r';
        out[j++] = text[i];
    }
    out[j] = '\0';
    return out;
}

static inline osip_message_t *parse(const char *text)
{
    static int initialised;
    if (!initialised) {
        parser_init();
        initialised = 1;
    }
    char *raw = crlf(text);
    osip_message_t *msg;
    cr_assert_eq(osip_message_init(&msg), 0);
    cr_assert_eq(osip_message_parse(msg, raw, strlen(raw)), 0, "cannot parse:\n%s", text);
    free(raw);
    return msg;
}

/* @text as a datagram from 10.0.0.5:5062 to 127.0.0.1:5060 over UDP,
 * its bytes kept after the struct as ingress_receive() keeps them and
 * its top Via stamped (RFC 3581). Freed with sb_inbound_free(). */
static inline struct sb_inbound *inbound_raw(const char *text)
{
    char *raw = crlf(text);
    size_t len = strlen(raw);
    struct sb_inbound *in = calloc(1, sizeof(*in) + len + 1);
    memcpy(in + 1, raw, len + 1);
    free(raw);
    in->raw = (const char *)(in + 1);
    in->raw_len = len;
    in->msg = parse(text);
    in->transport = SB_UDP;
    in->fd = -1;
    sipmsg_host_to_addr("10.0.0.5", 5062, &in->src);
    sipmsg_host_to_addr("127.0.0.1", 5060, &in->local.addr);
    cr_assert_eq(sipmsg_via_stamp_source(sipmsg_top_via(in->msg), &in->src), 0);
    return in;
}

#define INVITE_TEXT                                                                                \
    "INVITE sip:bob@127.0.0.1 SIP/2.0\n"                                                           \
    "Via: SIP/2.0/UDP 10.0.0.5:5062;branch=z9hG4bK-abc123;rport\n"                                 \
    "Max-Forwards: 70\n"                                                                           \
    "From: \"Alice\" <sip:alice@127.0.0.1>;tag=from1\n"                                            \
    "To: <sip:bob@127.0.0.1>\n"                                                                    \
    "Call-ID: call-1@10.0.0.5\n"                                                                   \
    "CSeq: 7 INVITE\n"                                                                             \
    "Contact: <sip:alice@10.0.0.5:5062>\n"                                                         \
    "Content-Length: 0\n\n"

#endif
