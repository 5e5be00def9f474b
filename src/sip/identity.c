/* The set of names and addresses that mean "this proxy". See identity.h.
 *
 * DESIGN: what comes from the configuration (listen addresses, domains, the
 * host name) is fixed at creation. The interface addresses a wildcard
 * listener answers on change at run time: they live in an immutable set
 * behind an RCU pointer that identity_refresh() replaces whole, so readers
 * (every SIP thread) never lock and never see a half-built set. */
#include "switchboard/identity.h"

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <urcu.h>

#include "switchboard/error.h"
#include "switchboard/log.h"
#include "switchboard/sip_msg.h"
#include "tsan_annotate.h"

struct identity_entry {
    char *host;
    unsigned port; /* 0: any port (a configured domain) */
};

/* The host's interface addresses at one moment; never changed once
 * published. */
struct identity_addrs {
    size_t count;
    char hosts[][INET6_ADDRSTRLEN];
};

struct identity {
    struct identity_entry *entries;
    size_t count, cap;
    unsigned wild_ports[SB_MAX_LISTEN]; /* ports of wildcard listens */
    size_t wild_count;
    struct identity_addrs *addrs; /* RCU; NULL without wildcard listens */
};

static int identity_add(struct identity *id, const char *host, unsigned port)
{
    for (size_t i = 0; i < id->count; i++)
        if (id->entries[i].port == port && !strcasecmp(id->entries[i].host, host))
            return 0;
    if (id->count == id->cap) {
        size_t cap = id->cap ? id->cap * 2 : 8;
        struct identity_entry *e = realloc(id->entries, cap * sizeof(*e));
        if (!e)
            return SB_ENOMEM;
        id->entries = e;
        id->cap = cap;
    }
    id->entries[id->count].host = strdup(host);
    if (!id->entries[id->count].host)
        return SB_ENOMEM;
    id->entries[id->count++].port = port;
    return 0;
}

/* Reads the interface addresses now. Returns NULL on failure. */
static struct identity_addrs *addrs_read(void)
{
    struct ifaddrs *list, *ifa;
    if (getifaddrs(&list) != 0)
        return NULL;
    size_t n = 0;
    for (ifa = list; ifa; ifa = ifa->ifa_next)
        n++;
    struct identity_addrs *a = malloc(sizeof(*a) + n * sizeof(a->hosts[0]));
    if (!a) {
        freeifaddrs(list);
        return NULL;
    }
    a->count = 0;
    for (ifa = list; ifa; ifa = ifa->ifa_next) {
        if (!ifa->ifa_addr)
            continue;
        int family = ifa->ifa_addr->sa_family;
        const void *bin;
        if (family == AF_INET)
            bin = &((struct sockaddr_in *)ifa->ifa_addr)->sin_addr;
        else if (family == AF_INET6)
            bin = &((struct sockaddr_in6 *)ifa->ifa_addr)->sin6_addr;
        else
            continue;
        inet_ntop(family, bin, a->hosts[a->count], sizeof(a->hosts[0]));
        a->count++;
    }
    freeifaddrs(list);
    return a;
}

static bool addrs_has(const struct identity_addrs *a, const char *host)
{
    for (size_t i = 0; a && i < a->count; i++)
        if (!strcasecmp(a->hosts[i], host))
            return true;
    return false;
}

/* A wildcard listener answers on every interface address and the host name. */
static int identity_add_wildcard(struct identity *id, unsigned port)
{
    char host[256];
    int rc = 0;
    if (id->wild_count < SB_MAX_LISTEN)
        id->wild_ports[id->wild_count++] = port;
    if (!id->addrs && !(id->addrs = addrs_read()))
        return SB_ESYS;
    if (gethostname(host, sizeof(host)) == 0) {
        host[sizeof(host) - 1] = '\0';
        rc = identity_add(id, host, port);
    }
    if (rc == 0)
        rc = identity_add(id, "localhost", port);
    return rc;
}

int identity_create(const struct sb_config *cfg, struct identity **out)
{
    struct identity *id = calloc(1, sizeof(*id));
    if (!id)
        return SB_ENOMEM;
    int rc = 0;
    for (size_t i = 0; i < cfg->listen_count && rc == 0; i++) {
        char host[256];
        unsigned port;
        int transport;
        rc = config_parse_listen(cfg->listen[i], &transport, host, sizeof(host), &port);
        if (rc != 0)
            break;
        if (!strcmp(host, "0.0.0.0") || !strcmp(host, "::"))
            rc = identity_add_wildcard(id, port);
        else
            rc = identity_add(id, host, port);
    }
    for (size_t i = 0; i < cfg->domain_count && rc == 0; i++)
        rc = identity_add(id, cfg->domains[i], 0);
    if (rc != 0) {
        identity_destroy(id);
        return rc;
    }
    tsan_publish(id->addrs);
    *out = id;
    return 0;
}

void identity_destroy(struct identity *id)
{
    if (!id)
        return;
    for (size_t i = 0; i < id->count; i++)
        free(id->entries[i].host);
    free(id->entries);
    free(id->addrs);
    free(id);
}

bool identity_has_wildcard(const struct identity *id)
{
    return id->wild_count > 0;
}

/* Logs what appeared and what went, comparing two sets. */
static void log_changes(const struct identity_addrs *old, const struct identity_addrs *now)
{
    for (size_t i = 0; i < now->count; i++)
        if (!addrs_has(old, now->hosts[i]))
            SB_INFO("address %s appeared: serving it", now->hosts[i]);
    for (size_t i = 0; old && i < old->count; i++)
        if (!addrs_has(now, old->hosts[i]))
            SB_INFO("address %s went away: no longer ours", old->hosts[i]);
}

int identity_refresh(struct identity *id)
{
    if (id->wild_count == 0)
        return 0;
    struct identity_addrs *now = addrs_read();
    if (!now)
        return SB_ESYS;
    tsan_publish(now);
    struct identity_addrs *old = rcu_xchg_pointer(&id->addrs, now);
    log_changes(old, now);
    synchronize_rcu(); /* no reader can still be inside @old */
    tsan_rcu_reclaim(old);
    free(old);
    return 0;
}

static bool wild_port(const struct identity *id, unsigned port)
{
    for (size_t i = 0; i < id->wild_count; i++)
        if (id->wild_ports[i] == port)
            return true;
    return false;
}

/* Is @host (bare) one of the addresses the interfaces have now (the
 * wildcard listens' view, swapped under RCU by the address watcher)? */
static bool interface_has(const struct identity *id, const char *host)
{
    rcu_read_lock();
    struct identity_addrs *a = rcu_dereference(((struct identity *)id)->addrs);
    tsan_observe(a);
    bool found = addrs_has(a, host);
    tsan_rcu_read_done(a);
    rcu_read_unlock();
    return found;
}
int identity_add_alias(struct identity *id, const char *host, unsigned port)
{
    return identity_add(id, host, port ? port : 5060);
}

bool identity_is_local(const struct identity *id, const char *host, unsigned port)
{
    if (!host)
        return false;
    char bare[256];
    host = sipmsg_bare_host(host, bare, sizeof(bare));
    if (port == 0)
        port = 5060;
    for (size_t i = 0; i < id->count; i++) {
        const struct identity_entry *e = &id->entries[i];
        if ((e->port == 0 || e->port == port) && !strcasecmp(e->host, host))
            return true;
    }
    return wild_port(id, port) && interface_has(id, host);
}

bool identity_is_socket(const struct identity *id, const char *ip, unsigned port)
{
    for (size_t i = 0; i < id->count; i++) {
        const struct identity_entry *e = &id->entries[i];
        if (e->port != 0 && e->port == port && !strcasecmp(e->host, ip))
            return true;
    }
    return wild_port(id, port) && interface_has(id, ip);
}

bool identity_is_local_host(const struct identity *id, const char *host)
{
    if (!host)
        return false;
    char bare[256];
    host = sipmsg_bare_host(host, bare, sizeof(bare));
    for (size_t i = 0; i < id->count; i++)
        if (!strcasecmp(id->entries[i].host, host))
            return true;
    return id->wild_count > 0 && interface_has(id, host);
}

bool identity_is_local_uri(const struct identity *id, const osip_uri_t *uri)
{
    if (!uri || !uri->host)
        return false;
    unsigned port = uri->port ? (unsigned)atoi(uri->port) : 0;
    return identity_is_local(id, uri->host, port);
}
