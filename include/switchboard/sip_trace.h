/* A SIP trace in pcap format: every datagram the proxy receives or sends,
 * wrapped in synthesized IP and UDP headers carrying the real addresses and
 * ports, so that tshark and Wireshark decode it as SIP. Written by an
 * async_file thread; recording is a copy and a queue push, from any thread. */
#ifndef SWITCHBOARD_SIP_TRACE_H
#define SWITCHBOARD_SIP_TRACE_H

#include <stddef.h>

#include "switchboard/types.h"

struct sip_trace;

int sip_trace_open(const char *path, struct sip_trace **out);
void sip_trace_close(struct sip_trace *trace);
void sip_trace_reopen(struct sip_trace *trace);

/* Records one datagram from @src to @dst. */
void sip_trace_record(struct sip_trace *trace, const struct sb_addr *src, const struct sb_addr *dst,
                      const char *data, size_t len);

/* Builds the pcap record (record header, IP, UDP, payload) into @buf.
 * Returns its length, or 0 when @size is too small. */
size_t sip_trace_packet(const struct sb_addr *src, const struct sb_addr *dst, const char *data,
                        size_t len, uint64_t usec, unsigned char *buf, size_t size);

#endif
