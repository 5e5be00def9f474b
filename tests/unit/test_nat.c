/* Unit tests for src/sip/nat.c: the rule that decides whether a registering UA
 * is reached at its Contact or at the address its REGISTER came from. */
#include <criterion/criterion.h>
#include <stdio.h>

#include "switchboard/error.h"
#include "switchboard/nat.h"
#include "switchboard/sip_msg.h"

struct nat_case {
    const char *name;
    const char *via_host, *via_port, *via_transport, *contact_host;
    const char *source_ip;
    unsigned source_port;
    bool behind_nat; /* in auto mode */
};

static const struct nat_case cases[] = {
    /* nothing suspicious: the Contact is where the UA is */
    {"same host and port", "192.168.1.20", "5060", "UDP", "192.168.1.20", "192.168.1.20", 5060,
     false},
    {"no Via port means 5060", "192.168.1.20", NULL, "UDP", "192.168.1.20", "192.168.1.20", 5060,
     false},
    {"TLS default port 5061", "192.168.1.20", NULL, "TLS", "192.168.1.20", "192.168.1.20", 5061,
     false},
    /* SIPp's load-test layout: registered from one port, Contact on another */
    {"Contact on another port", "127.0.0.1", "15071", "UDP", "127.0.0.1", "127.0.0.1", 15071,
     false},
    {"Contact on another host", "10.0.0.5", "5060", "UDP", "10.0.0.9", "10.0.0.5", 5060, false},
    {"public Contact from public source", "203.0.113.5", "5060", "UDP", "203.0.113.5",
     "203.0.113.5", 5060, false},
    {"host name in Via, same port", "phone.lan", "5060", "UDP", "192.168.1.20", "192.168.1.20",
     5060, false},
    {"IPv6, same", "[2001:db8::5]", "5060", "UDP", "[2001:db8::5]", "2001:db8::5", 5060, false},
    /* RFC 3581: the source differs from the Via's sent-by */
    {"source address differs", "10.0.1.2", "5060", "UDP", "10.0.1.2", "10.0.0.1", 5060, true},
    {"source port differs", "192.168.1.20", "5060", "UDP", "192.168.1.20", "192.168.1.20", 40123,
     true},
    {"host name in Via, port differs", "phone.lan", "5060", "UDP", "192.168.1.20", "192.168.1.20",
     1024, true},
    {"public IP in Via, NAT rewrote it", "198.51.100.7", "5060", "UDP", "198.51.100.7",
     "203.0.113.9", 5060, true},
    /* a private Contact seen from an address of another kind */
    {"private Contact, public source", "198.51.100.7", "5060", "UDP", "192.168.1.20",
     "198.51.100.7", 5060, true},
    {"link-local Contact, private source", "10.0.0.8", "5060", "UDP", "169.254.3.4", "10.0.0.8",
     5060, true},
    {"CGN Contact, public source", "203.0.113.9", "5060", "UDP", "100.64.1.1", "203.0.113.9", 5060,
     true},
    {"loopback Contact, private source", "10.0.0.8", "5060", "UDP", "127.0.0.1", "10.0.0.8", 5060,
     true},
    {"ULA Contact, public v6 source", "[2001:db8::9]", "5060", "UDP", "[fd00::9]", "2001:db8::9",
     5060, true},
    {"private Contact, private source", "10.0.0.8", "5060", "UDP", "192.168.7.7", "10.0.0.8", 5060,
     false},
};

/* One test walks the table (Criterion's parameterized tests run in a new
 * process, where the table's string pointers would not hold). */
Test(nat, auto_mode_table)
{
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const struct nat_case *c = &cases[i];
        struct sb_addr src;
        cr_assert_eq(sipmsg_host_to_addr(c->source_ip, c->source_port, &src), 0);
        struct nat_facts f = {c->via_host,     c->via_port, c->via_transport,
                              c->contact_host, &src,        false};
        cr_expect_eq(nat_detect(NAT_AUTO, &f), c->behind_nat, "%s: expected %s", c->name,
                     c->behind_nat ? "NAT" : "no NAT");
        cr_expect(nat_detect(NAT_ALWAYS, &f), "%s: always means NAT", c->name);
        cr_expect_not(nat_detect(NAT_NEVER, &f), "%s: never means no NAT", c->name);
    }
}

/* Over TCP or TLS the source port is the connection's ephemeral one: a
 * phone on the LAN is not behind NAT for that; another address still is. */
Test(nat, over_a_stream_only_addresses_count)
{
    struct sb_addr src;
    cr_assert_eq(sipmsg_host_to_addr("192.168.1.20", 49152, &src), 0);
    struct nat_facts lan = {"192.168.1.20", "5060", "TCP", "192.168.1.20", &src, true};
    cr_expect_not(nat_detect(NAT_AUTO, &lan));
    lan.stream = false;
    cr_expect(nat_detect(NAT_AUTO, &lan), "over UDP the port differs: NAT");
    struct nat_facts nated = {"192.168.1.20", "5060", "TCP", "192.168.1.20", &src, true};
    cr_assert_eq(sipmsg_host_to_addr("203.0.113.9", 49152, &src), 0);
    cr_expect(nat_detect(NAT_AUTO, &nated), "another address: NAT");
}

Test(nat, address_kinds)
{
    cr_expect_eq(nat_addr_kind("10.1.2.3"), NAT_ADDR_PRIVATE);
    cr_expect_eq(nat_addr_kind("172.16.0.1"), NAT_ADDR_PRIVATE);
    cr_expect_eq(nat_addr_kind("172.32.0.1"), NAT_ADDR_PUBLIC);
    cr_expect_eq(nat_addr_kind("192.168.0.1"), NAT_ADDR_PRIVATE);
    cr_expect_eq(nat_addr_kind("100.64.0.1"), NAT_ADDR_SHARED);
    cr_expect_eq(nat_addr_kind("100.128.0.1"), NAT_ADDR_PUBLIC);
    cr_expect_eq(nat_addr_kind("169.254.1.1"), NAT_ADDR_LINK_LOCAL);
    cr_expect_eq(nat_addr_kind("127.0.0.2"), NAT_ADDR_LOOPBACK);
    cr_expect_eq(nat_addr_kind("[::1]"), NAT_ADDR_LOOPBACK);
    cr_expect_eq(nat_addr_kind("fe80::1"), NAT_ADDR_LINK_LOCAL);
    cr_expect_eq(nat_addr_kind("fd12::1"), NAT_ADDR_PRIVATE);
    cr_expect_eq(nat_addr_kind("::ffff:192.168.1.1"), NAT_ADDR_PRIVATE);
    cr_expect_eq(nat_addr_kind("pbx.example"), NAT_ADDR_NAME);
    cr_expect_eq(nat_addr_kind(NULL), NAT_ADDR_NAME);
}

Test(nat, mode_names)
{
    enum nat_mode m;
    cr_expect_eq(nat_mode_parse("auto", &m), 0);
    cr_expect_eq(m, NAT_AUTO);
    cr_expect_eq(nat_mode_parse("always", &m), 0);
    cr_expect_eq(m, NAT_ALWAYS);
    cr_expect_eq(nat_mode_parse("never", &m), 0);
    cr_expect_eq(m, NAT_NEVER);
    cr_expect_eq(nat_mode_parse("sometimes", &m), SB_EINVAL);
}
