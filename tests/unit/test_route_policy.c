/* Unit tests for src/sip/route_policy.c: the routing
 * decision table (dialog known x Route kind x relay) and which targets a
 * sender may name. Authorization runs before the policy (proxy.c), so
 * "relay" here is relay = yes for a request that passed it. */
#include <arpa/inet.h>

#include "switchboard/cidr.h"
#include "switchboard/config.h"
#include "switchboard/settings.h"
#include "switchboard/error.h"
#include "switchboard/identity.h"
#include "switchboard/route_policy.h"
#include "switchboard/sip_msg.h"
#include "test_helpers.h"

Test(route_policy, the_decision_table)
{
    static const struct {
        bool routes_left, for_us, signed_route, relay;
        enum route_verdict want;
        enum route_dialog dialog;
    } rows[] = {
        /* our user or the proxy itself */
        {false, true, false, false, ROUTE_LOCAL, ROUTE_DIALOG_UNTRACKED},
        {false, true, true, false, ROUTE_LOCAL, ROUTE_DIALOG_UNTRACKED},
        {false, true, false, true, ROUTE_LOCAL, ROUTE_DIALOG_UNTRACKED},
        /* in a dialog we record-routed: on to its target or next Route */
        {false, false, true, false, ROUTE_FORWARD, ROUTE_DIALOG_UNTRACKED},
        {true, false, true, false, ROUTE_FORWARD, ROUTE_DIALOG_UNTRACKED},
        /* a foreign Request-URI out of dialog */
        {false, false, false, false, ROUTE_DENY_RELAY, ROUTE_DIALOG_UNTRACKED},
        {false, false, false, true, ROUTE_FORWARD, ROUTE_DIALOG_UNTRACKED},
        /* a preloaded Route out of dialog */
        {true, false, false, false, ROUTE_DENY_PRELOADED, ROUTE_DIALOG_UNTRACKED},
        {true, false, false, true, ROUTE_FORWARD, ROUTE_DIALOG_UNTRACKED},
        /* on a Route this process issued: only while its dialog lives,
         * to its other side; relay = yes changes nothing */
        {false, false, true, false, ROUTE_FORWARD, ROUTE_DIALOG_LIVE},
        {false, false, true, false, ROUTE_DENY_NO_DIALOG, ROUTE_DIALOG_GONE},
        {false, false, true, true, ROUTE_DENY_NO_DIALOG, ROUTE_DIALOG_GONE},
        {false, true, true, false, ROUTE_DENY_NO_DIALOG, ROUTE_DIALOG_GONE},
        {false, false, true, false, ROUTE_DENY_WRONG_TARGET, ROUTE_DIALOG_MISDIRECTED},
        {true, false, true, true, ROUTE_DENY_WRONG_TARGET, ROUTE_DIALOG_MISDIRECTED},
        /* issued before a restart or by another node: the signature vouches */
        {false, false, true, false, ROUTE_FORWARD, ROUTE_DIALOG_UNTRACKED},
        /* no signed Route: the dialog facts do not apply */
        {true, false, false, false, ROUTE_DENY_PRELOADED, ROUTE_DIALOG_GONE},
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        struct route_facts f = {.routes_left = rows[i].routes_left,
                                .for_us = rows[i].for_us,
                                .signed_route = rows[i].signed_route,
                                .relay = rows[i].relay,
                                .dialog = rows[i].dialog};
        cr_assert_eq(route_policy_decide(&f), rows[i].want, "row %zu", i);
    }
}

static struct sb_addr addr(const char *ip, unsigned port)
{
    struct sb_addr a;
    cr_assert_eq(sipmsg_host_to_addr(ip, port, &a), 0, "%s", ip);
    return a;
}

Test(route_policy, targets_a_sender_may_name)
{
    struct sb_config cfg;
    config_defaults(&cfg);
    char *argv[] = {"t", "-l", "udp:0.0.0.0:5060", "--domain", "192.168.1.20", NULL};
    cr_assert_eq(settings_from_args(&cfg, 5, argv), 0);
    struct identity *id;
    cr_assert_eq(identity_create(&cfg, &id), 0);
    struct cidr_list forbidden;
    char err[128];
    cr_assert_eq(
        cidr_list_parse("192.0.2.0/24, [2001:db8::/32]:5070", &forbidden, err, sizeof(err)), 0);
    struct sb_addr lan = addr("192.168.1.20", 5060), lo = addr("127.0.0.1", 40000),
                   ll = addr("169.254.3.4", 5060);
    struct {
        const char *ip;
        unsigned port;
        const struct sb_addr *from;
        enum target_verdict want;
    } rows[] = {
        {"192.168.1.30", 5060, &lan, TARGET_OK},
        /* a domain that is an IP: a phone on that host is no socket of ours */
        {"192.168.1.20", 5070, &lan, TARGET_OK},
        {"203.0.113.5", 5060, &lan, TARGET_OK},
        {"127.0.0.1", 6379, &lan, TARGET_LOOPBACK},
        {"127.0.0.1", 6379, &lo, TARGET_OK},
        {"::1", 5070, &lan, TARGET_LOOPBACK},
        {"169.254.1.1", 80, &lan, TARGET_LINK_LOCAL},
        {"169.254.1.1", 80, &ll, TARGET_OK},
        {"fe80::1", 5060, &lan, TARGET_LINK_LOCAL},
        {"0.0.0.0", 5060, &lo, TARGET_UNSPECIFIED},
        {"127.0.0.1", 5060, &lo, TARGET_OURS},
        {"192.0.2.77", 5060, &lo, TARGET_CONFIGURED},
        {"2001:db8::1", 5070, &lan, TARGET_CONFIGURED},
        {"2001:db8::1", 5060, &lan, TARGET_OK},
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        struct sb_addr target = addr(rows[i].ip, rows[i].port);
        cr_assert_eq(route_policy_target(id, &forbidden, &target, rows[i].from), rows[i].want,
                     "row %zu (%s:%u)", i, rows[i].ip, rows[i].port);
    }
    cidr_list_free(&forbidden);
    identity_destroy(id);
    config_free(&cfg);
}
