/* pcap writer for SIP traces (LINKTYPE_RAW: each packet starts with its IP
 * header). See sip_trace.h. */
#include "switchboard/sip_trace.h"

#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include "switchboard/async_file.h"
#include "switchboard/error.h"

#define LINKTYPE_RAW 101
#define MAX_PAYLOAD 65507

struct sip_trace {
    struct async_file *file;
};

struct pcap_file_header {
    uint32_t magic;
    uint16_t version_major, version_minor;
    int32_t thiszone;
    uint32_t sigfigs, snaplen, linktype;
};

struct pcap_record_header {
    uint32_t ts_sec, ts_usec, incl_len, orig_len;
};

int sip_trace_open(const char *path, struct sip_trace **out)
{
    struct sip_trace *t = calloc(1, sizeof(*t));
    if (!t)
        return SB_ENOMEM;
    struct pcap_file_header h = {0xa1b2c3d4, 2, 4, 0, 0, 65535, LINKTYPE_RAW};
    struct async_file_options o = {
        .path = path,
        .name = "trace",
        .sync = ASYNC_FILE_SYNC_NONE,
        .queue_limit = 262144,
        .header = &h,
        .header_len = sizeof(h),
    };
    int rc = async_file_open(&o, &t->file);
    if (rc != 0) {
        free(t);
        return rc;
    }
    *out = t;
    return 0;
}

void sip_trace_close(struct sip_trace *trace)
{
    if (!trace)
        return;
    async_file_close(trace->file, NULL);
    free(trace);
}

void sip_trace_reopen(struct sip_trace *trace)
{
    if (trace)
        async_file_reopen(trace->file);
}

static uint16_t ip_checksum(const unsigned char *p, size_t len)
{
    uint32_t sum = 0;
    for (size_t i = 0; i + 1 < len; i += 2)
        sum += (uint32_t)(p[i] << 8 | p[i + 1]);
    while (sum >> 16)
        sum = (sum & 0xffff) + (sum >> 16);
    return (uint16_t)~sum;
}

static void put16(unsigned char *p, uint16_t v)
{
    p[0] = (unsigned char)(v >> 8);
    p[1] = (unsigned char)v;
}

/* Writes the IP header of a packet from @src to @dst carrying @payload
 * bytes of protocol @proto; returns its length (20 or 40). */
static size_t put_ip(unsigned char *ip, const struct sb_addr *src, const struct sb_addr *dst,
                     uint8_t proto, size_t payload, bool v6)
{
    if (v6) {
        const struct sockaddr_in6 *s = (const void *)&src->ss, *d = (const void *)&dst->ss;
        ip[0] = 0x60;
        put16(ip + 4, (uint16_t)payload);
        ip[6] = proto;
        ip[7] = 64;
        memcpy(ip + 8, &s->sin6_addr, 16);
        memcpy(ip + 24, &d->sin6_addr, 16);
        return 40;
    }
    const struct sockaddr_in *s = (const void *)&src->ss, *d = (const void *)&dst->ss;
    ip[0] = 0x45;
    put16(ip + 2, (uint16_t)(20 + payload));
    ip[8] = 64;
    ip[9] = proto;
    memcpy(ip + 12, &s->sin_addr, 4);
    memcpy(ip + 16, &d->sin_addr, 4);
    put16(ip + 10, ip_checksum(ip, 20));
    return 20;
}

static uint16_t port_of(const struct sb_addr *a)
{
    if (a->ss.ss_family == AF_INET6)
        return ntohs(((const struct sockaddr_in6 *)&a->ss)->sin6_port);
    return ntohs(((const struct sockaddr_in *)&a->ss)->sin_port);
}

static void put32(unsigned char *p, uint32_t v)
{
    put16(p, (uint16_t)(v >> 16));
    put16(p + 2, (uint16_t)v);
}

size_t sip_trace_packet(const struct sb_addr *src, const struct sb_addr *dst,
                        const struct sip_trace_seg *seg, const char *data, size_t len,
                        uint64_t usec, unsigned char *buf, size_t size)
{
    bool v6 = src->ss.ss_family == AF_INET6 || dst->ss.ss_family == AF_INET6;
    if (v6 && (src->ss.ss_family != AF_INET6 || dst->ss.ss_family != AF_INET6))
        return 0; /* mixed families cannot share one IP header */
    if (len > MAX_PAYLOAD)
        len = MAX_PAYLOAD;
    size_t ip_len = v6 ? 40 : 20, l4_len = seg ? 20 : 8;
    size_t packet = ip_len + l4_len + len;
    if (size < sizeof(struct pcap_record_header) + packet)
        return 0;
    struct pcap_record_header rh = {(uint32_t)(usec / 1000000), (uint32_t)(usec % 1000000),
                                    (uint32_t)packet, (uint32_t)packet};
    memcpy(buf, &rh, sizeof(rh));
    unsigned char *ip = buf + sizeof(rh);
    memset(ip, 0, ip_len + l4_len);
    put_ip(ip, src, dst, seg ? 6 : 17, l4_len + len, v6);
    unsigned char *l4 = ip + ip_len;
    put16(l4, port_of(src));
    put16(l4 + 2, port_of(dst));
    if (seg) {
        /* one segment with PSH|ACK; the checksum is left 0 (as offloading
         * captures show it), which readers accept */
        put32(l4 + 4, seg->seq);
        put32(l4 + 8, seg->ack);
        l4[12] = 5 << 4; /* data offset: 5 words, no options */
        l4[13] = 0x18;
        put16(l4 + 14, 65535);
    } else {
        put16(l4 + 4, (uint16_t)(8 + len));
        /* UDP checksum 0: "not computed", valid for IPv4; readers accept it */
    }
    memcpy(l4 + l4_len, data, len);
    return sizeof(rh) + packet;
}

void sip_trace_record(struct sip_trace *trace, const struct sb_addr *src, const struct sb_addr *dst,
                      const struct sip_trace_seg *seg, const char *data, size_t len)
{
    if (!trace)
        return;
    struct timeval tv;
    gettimeofday(&tv, NULL);
    size_t size = sizeof(struct pcap_record_header) + 60 + (len > MAX_PAYLOAD ? MAX_PAYLOAD : len);
    unsigned char *buf = malloc(size);
    if (!buf)
        return;
    size_t n = sip_trace_packet(src, dst, seg, data, len,
                                (uint64_t)tv.tv_sec * 1000000u + (uint64_t)tv.tv_usec, buf, size);
    if (n)
        async_file_append(trace->file, buf, n);
    free(buf);
}
