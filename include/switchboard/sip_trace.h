/* A SIP trace in pcap format: every message the proxy receives or sends,
 * wrapped in synthesized IP and UDP (datagrams) or TCP (stream messages,
 * TLS ones in clear) headers carrying the real addresses and ports, so that
 * tshark and Wireshark decode it as SIP (TLS on port 5061 needs
 * "-d tcp.port==5061,sip": Wireshark expects TLS records there). Each
 * stream message is one segment whose sequence numbers continue the
 * connection's, so the trace reads as the byte stream. Written by an
 * async_file thread; recording is a copy and a queue push, from any thread. */
#ifndef SWITCHBOARD_SIP_TRACE_H
#define SWITCHBOARD_SIP_TRACE_H

#include <stddef.h>
#include <stdint.h>

#include "switchboard/types.h"

struct sip_trace;

int sip_trace_open(const char *path, struct sip_trace **out);
void sip_trace_close(struct sip_trace *trace);
void sip_trace_reopen(struct sip_trace *trace);

/* A TCP segment's sequence and acknowledgement numbers. */
struct sip_trace_seg {
    uint32_t seq, ack;
};

/* Records one message from @src to @dst: a datagram when @seg is NULL,
 * else a TCP segment numbered @seg. */
void sip_trace_record(struct sip_trace *trace, const struct sb_addr *src, const struct sb_addr *dst,
                      const struct sip_trace_seg *seg, const char *data, size_t len);

/* Builds the pcap record (record header, IP, UDP or TCP, payload) into
 * @buf. Returns its length, or 0 when @size is too small. */
size_t sip_trace_packet(const struct sb_addr *src, const struct sb_addr *dst,
                        const struct sip_trace_seg *seg, const char *data, size_t len,
                        uint64_t usec, unsigned char *buf, size_t size);

#endif
