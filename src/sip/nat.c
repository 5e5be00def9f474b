/* The NAT rule. See nat.h. */
#include "switchboard/nat.h"

#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "switchboard/error.h"
#include "switchboard/sip_msg.h"
#include "switchboard/types.h"

int nat_mode_parse(const char *text, enum nat_mode *out)
{
    if (!strcmp(text, "auto"))
        *out = NAT_AUTO;
    else if (!strcmp(text, "always"))
        *out = NAT_ALWAYS;
    else if (!strcmp(text, "never"))
        *out = NAT_NEVER;
    else
        return SB_EINVAL;
    return 0;
}

static enum nat_addr_kind kind_v4(const unsigned char *a)
{
    if (a[0] == 10 || (a[0] == 172 && (a[1] & 0xf0) == 16) || (a[0] == 192 && a[1] == 168))
        return NAT_ADDR_PRIVATE;
    if (a[0] == 100 && (a[1] & 0xc0) == 64)
        return NAT_ADDR_SHARED;
    if (a[0] == 169 && a[1] == 254)
        return NAT_ADDR_LINK_LOCAL;
    if (a[0] == 127)
        return NAT_ADDR_LOOPBACK;
    return NAT_ADDR_PUBLIC;
}

static enum nat_addr_kind kind_v6(const struct in6_addr *a)
{
    if (IN6_IS_ADDR_V4MAPPED(a))
        return kind_v4(&a->s6_addr[12]);
    if (IN6_IS_ADDR_LOOPBACK(a))
        return NAT_ADDR_LOOPBACK;
    if (IN6_IS_ADDR_LINKLOCAL(a))
        return NAT_ADDR_LINK_LOCAL;
    if ((a->s6_addr[0] & 0xfe) == 0xfc)
        return NAT_ADDR_PRIVATE;
    return NAT_ADDR_PUBLIC;
}

enum nat_addr_kind nat_addr_kind(const char *host)
{
    char bare[64];
    unsigned char v4[4];
    struct in6_addr v6;
    if (!host)
        return NAT_ADDR_NAME;
    host = sipmsg_bare_host(host, bare, sizeof(bare));
    if (inet_pton(AF_INET, host, v4) == 1)
        return kind_v4(v4);
    if (inet_pton(AF_INET6, host, &v6) == 1)
        return kind_v6(&v6);
    return NAT_ADDR_NAME;
}

/* Does the Via's sent-by name the source? A host name proves nothing
 * either way, so only an IP literal that differs counts as evidence. */
static bool sent_by_differs(const struct nat_facts *f, const char *src_ip, unsigned src_port)
{
    char bare[64];
    const char *host = f->via_host ? sipmsg_bare_host(f->via_host, bare, sizeof(bare)) : NULL;
    if (!host)
        return false;
    if (nat_addr_kind(host) != NAT_ADDR_NAME) {
        struct sb_addr via_addr;
        char via_ip[64];
        if (sipmsg_host_to_addr(host, 0, &via_addr) != 0)
            return false;
        sipmsg_addr_host(&via_addr, via_ip, sizeof(via_ip));
        if (strcmp(via_ip, src_ip) != 0)
            return true;
    }
    if (f->stream)
        return false;
    unsigned port = f->via_port ? (unsigned)atoi(f->via_port) : 0;
    if (port == 0)
        port = f->via_transport && !strcasecmp(f->via_transport, "TLS") ? 5061 : 5060;
    return port != src_port;
}

bool nat_detect(enum nat_mode mode, const struct nat_facts *f)
{
    if (mode == NAT_NEVER || !f->source)
        return false;
    if (mode == NAT_ALWAYS)
        return true;
    char src_ip[64];
    unsigned src_port = sipmsg_addr_host(f->source, src_ip, sizeof(src_ip));
    if (sent_by_differs(f, src_ip, src_port))
        return true;
    enum nat_addr_kind contact = nat_addr_kind(f->contact_host);
    if (contact == NAT_ADDR_NAME || contact == NAT_ADDR_PUBLIC)
        return false;
    return nat_addr_kind(src_ip) != contact;
}
