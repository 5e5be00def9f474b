/* Where the proxy may send a request: the routing policy in one place
 * (README "Security"). Pure functions; any thread.
 *
 * A request leaves for a host that is not ours only when it is in a
 * dialog this proxy record-routed (its Route is one we signed and, when
 * this process issued it, the dialog still lives and the request goes to
 * its other side), or relay is on (and authorization, which runs before,
 * let it through). Out of
 * dialog, a Route that is not ours is a preloaded route: refused
 * (RFC 3261 §16.4 lets a proxy apply local policy; Kamailio's default
 * configuration answers "Preload Route denied" too).
 *
 * And never to a destination that turns the proxy against its own host
 * or network: loopback, link-local, the unspecified address or one of
 * our own sockets, unless the message that named it came from an address
 * of that same kind (SIPp on 127.0.0.1 keeps working, a stranger cannot
 * aim us at 127.0.0.1:6379), nor any range of [proxy] forbidden_targets. */
#ifndef SWITCHBOARD_ROUTE_POLICY_H
#define SWITCHBOARD_ROUTE_POLICY_H

#include <stdbool.h>

struct sb_addr;
struct identity;
struct cidr_list;

/* What the dialog table (dialog.h) says of a request on a signed Route. */
enum route_dialog {
    ROUTE_DIALOG_UNTRACKED,   /* not issued by this process (restart, another
                               * node) or not an INVITE dialog: the signature
                               * alone vouches, for max_call_length */
    ROUTE_DIALOG_LIVE,        /* its dialog lives, and it goes to the other side */
    ROUTE_DIALOG_GONE,        /* ours, but no live dialog has its tags */
    ROUTE_DIALOG_MISDIRECTED, /* a live dialog, but not to the other side's target */
};

/* What the proxy knows of a request once the Routes naming it are gone. */
struct route_facts {
    bool routes_left;         /* a Route that is not ours remains */
    bool for_us;              /* no Route left, and the Request-URI names us */
    bool signed_route;        /* a Route we signed for this dialog was ours */
    bool relay;               /* [proxy] relay = yes */
    enum route_dialog dialog; /* with signed_route */
};

enum route_verdict {
    ROUTE_LOCAL,             /* our user, or the proxy itself */
    ROUTE_FORWARD,           /* to the next hop */
    ROUTE_DENY_PRELOADED,    /* 403 Preloaded Route denied */
    ROUTE_DENY_RELAY,        /* 403 Relaying Forbidden */
    ROUTE_DENY_NO_DIALOG,    /* 481: the call this Route was made for has ended */
    ROUTE_DENY_WRONG_TARGET, /* 403: in a live call, to someone else */
};

enum route_verdict route_policy_decide(const struct route_facts *f);

enum target_verdict {
    TARGET_OK,
    TARGET_LOOPBACK,
    TARGET_LINK_LOCAL,
    TARGET_UNSPECIFIED,
    TARGET_OURS,       /* one of the proxy's own sockets: a loop */
    TARGET_CONFIGURED, /* in [proxy] forbidden_targets */
};

/* May a message that came from @source be sent to @target? @forbidden
 * may be NULL. */
enum target_verdict route_policy_target(const struct identity *id,
                                        const struct cidr_list *forbidden,
                                        const struct sb_addr *target, const struct sb_addr *source);

/* "loopback", "link-local", ...: for logs and Warning headers. */
const char *route_policy_target_name(enum target_verdict v);

#endif
