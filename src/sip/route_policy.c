/* The routing policy. See route_policy.h. */
#include "switchboard/route_policy.h"

#include <string.h>

#include "switchboard/cidr.h"
#include "switchboard/identity.h"
#include "switchboard/nat.h"
#include "switchboard/sip_msg.h"
#include "switchboard/types.h"

enum route_verdict route_policy_decide(const struct route_facts *f)
{
    if (f->signed_route && f->dialog == ROUTE_DIALOG_GONE)
        return ROUTE_DENY_NO_DIALOG;
    if (f->signed_route && f->dialog == ROUTE_DIALOG_MISDIRECTED)
        return ROUTE_DENY_WRONG_TARGET;
    if (f->for_us)
        return ROUTE_LOCAL;
    if (f->signed_route || f->relay)
        return ROUTE_FORWARD;
    return f->routes_left ? ROUTE_DENY_PRELOADED : ROUTE_DENY_RELAY;
}

static bool unspecified(const char *ip)
{
    return !strcmp(ip, "0.0.0.0") || !strcmp(ip, "::") || !strcmp(ip, "::ffff:0.0.0.0");
}

enum target_verdict route_policy_target(const struct identity *id,
                                        const struct cidr_list *forbidden,
                                        const struct sb_addr *target, const struct sb_addr *source)
{
    char ip[64], src_ip[64];
    unsigned port = sipmsg_addr_host(target, ip, sizeof(ip));
    sipmsg_addr_host(source, src_ip, sizeof(src_ip));
    if (forbidden && cidr_list_match(forbidden, target))
        return TARGET_CONFIGURED;
    if (unspecified(ip))
        return TARGET_UNSPECIFIED;
    if (identity_is_socket(id, ip, port))
        return TARGET_OURS;
    enum nat_addr_kind kind = nat_addr_kind(ip);
    if (kind != NAT_ADDR_LOOPBACK && kind != NAT_ADDR_LINK_LOCAL)
        return TARGET_OK;
    if (nat_addr_kind(src_ip) == kind)
        return TARGET_OK; /* named by a sender of that same kind */
    return kind == NAT_ADDR_LOOPBACK ? TARGET_LOOPBACK : TARGET_LINK_LOCAL;
}

const char *route_policy_target_name(enum target_verdict v)
{
    switch (v) {
    case TARGET_OK:
        return "allowed";
    case TARGET_LOOPBACK:
        return "loopback";
    case TARGET_LINK_LOCAL:
        return "link-local";
    case TARGET_UNSPECIFIED:
        return "unspecified address";
    case TARGET_OURS:
        return "one of our own sockets";
    case TARGET_CONFIGURED:
        return "forbidden_targets";
    }
    return "?";
}
