/* Unit tests for src/io/sip_trace.c: the synthesized packet is valid
 * IPv4/UDP, or IPv4/TCP for a stream's message. */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <string.h>

#include "switchboard/sip_msg.h"
#include "switchboard/sip_trace.h"

Test(sip_trace, ipv4_udp_packet_carries_the_real_endpoints)
{
    struct sb_addr src, dst;
    sipmsg_host_to_addr("127.0.0.2", 5070, &src);
    sipmsg_host_to_addr("127.0.0.1", 5060, &dst);
    const char *sip = "OPTIONS sip:x SIP/2.0\r\n\r\n";
    unsigned char buf[256];
    size_t n =
        sip_trace_packet(&src, &dst, NULL, sip, strlen(sip), 1500000123ull, buf, sizeof(buf));
    cr_assert_eq(n, 16 + 20 + 8 + strlen(sip));
    uint32_t ts[4];
    memcpy(ts, buf, sizeof(ts));
    cr_assert_eq(ts[0], 1500);
    cr_assert_eq(ts[1], 123);
    cr_assert_eq(ts[2], 20 + 8 + strlen(sip));
    const unsigned char *ip = buf + 16;
    cr_assert_eq(ip[0], 0x45);
    cr_assert_eq(ip[9], 17);
    cr_assert_eq(memcmp(ip + 12, "\x7f\x00\x00\x02", 4), 0);
    cr_assert_eq(memcmp(ip + 16, "\x7f\x00\x00\x01", 4), 0);
    uint32_t sum = 0; /* a header with its checksum sums to 0xffff */
    for (int i = 0; i < 20; i += 2)
        sum += (uint32_t)(ip[i] << 8 | ip[i + 1]);
    while (sum >> 16)
        sum = (sum & 0xffff) + (sum >> 16);
    cr_assert_eq(sum, 0xffff);
    const unsigned char *udp = ip + 20;
    cr_assert_eq(udp[0] << 8 | udp[1], 5070);
    cr_assert_eq(udp[2] << 8 | udp[3], 5060);
    cr_assert_eq(memcmp(udp + 8, sip, strlen(sip)), 0);
}

Test(sip_trace, too_small_a_buffer_is_refused)
{
    struct sb_addr a;
    sipmsg_host_to_addr("127.0.0.1", 5060, &a);
    unsigned char buf[32];
    cr_assert_eq(sip_trace_packet(&a, &a, NULL, "x", 1, 0, buf, sizeof(buf)), 0);
}

Test(sip_trace, a_stream_message_is_a_numbered_tcp_segment)
{
    struct sb_addr src, dst;
    sipmsg_host_to_addr("10.0.0.7", 40123, &src);
    sipmsg_host_to_addr("10.0.0.1", 5061, &dst);
    const char *sip = "BYE sip:x SIP/2.0\r\nContent-Length: 0\r\n\r\n";
    struct sip_trace_seg seg = {1001, 77};
    unsigned char buf[256];
    size_t n = sip_trace_packet(&src, &dst, &seg, sip, strlen(sip), 0, buf, sizeof(buf));
    cr_assert_eq(n, 16 + 20 + 20 + strlen(sip));
    const unsigned char *ip = buf + 16;
    cr_assert_eq(ip[9], 6, "TCP");
    cr_assert_eq(ip[2] << 8 | ip[3], 20 + 20 + strlen(sip), "IP total length");
    const unsigned char *tcp = ip + 20;
    cr_assert_eq(tcp[0] << 8 | tcp[1], 40123);
    cr_assert_eq(tcp[2] << 8 | tcp[3], 5061);
    cr_assert_eq((uint32_t)tcp[4] << 24 | tcp[5] << 16 | tcp[6] << 8 | tcp[7], 1001);
    cr_assert_eq((uint32_t)tcp[8] << 24 | tcp[9] << 16 | tcp[10] << 8 | tcp[11], 77);
    cr_assert_eq(tcp[12] >> 4, 5, "a 20-byte header");
    cr_assert_eq(tcp[13], 0x18, "PSH and ACK");
    cr_assert_eq(memcmp(tcp + 20, sip, strlen(sip)), 0);
}
