/* The set of names and addresses that mean "this proxy". */
#include "switchboard/identity.h"

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "switchboard/error.h"
#include "switchboard/sip_msg.h"

struct identity_entry {
    char *host;
    unsigned port; /* 0: any port (a configured domain) */
};

struct identity {
    struct identity_entry *entries;
    size_t count, cap;
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

/* A wildcard listener answers on every interface address and the host name. */
static int identity_add_interfaces(struct identity *id, unsigned port)
{
    struct ifaddrs *list, *ifa;
    char host[INET6_ADDRSTRLEN];
    int rc = 0;
    if (getifaddrs(&list) != 0)
        return SB_ESYS;
    for (ifa = list; ifa && rc == 0; ifa = ifa->ifa_next) {
        if (!ifa->ifa_addr)
            continue;
        if (ifa->ifa_addr->sa_family == AF_INET)
            inet_ntop(AF_INET, &((struct sockaddr_in *)ifa->ifa_addr)->sin_addr, host,
                      sizeof(host));
        else if (ifa->ifa_addr->sa_family == AF_INET6)
            inet_ntop(AF_INET6, &((struct sockaddr_in6 *)ifa->ifa_addr)->sin6_addr, host,
                      sizeof(host));
        else
            continue;
        rc = identity_add(id, host, port);
    }
    freeifaddrs(list);
    if (rc == 0 && gethostname(host, sizeof(host)) == 0) {
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
        rc = config_parse_listen(cfg->listen[i], host, sizeof(host), &port);
        if (rc != 0)
            break;
        if (!strcmp(host, "0.0.0.0") || !strcmp(host, "::"))
            rc = identity_add_interfaces(id, port);
        else
            rc = identity_add(id, host, port);
    }
    for (size_t i = 0; i < cfg->domain_count && rc == 0; i++)
        rc = identity_add(id, cfg->domains[i], 0);
    if (rc != 0) {
        identity_destroy(id);
        return rc;
    }
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
    free(id);
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
    return false;
}

bool identity_is_local_uri(const struct identity *id, const osip_uri_t *uri)
{
    if (!uri || !uri->host)
        return false;
    unsigned port = uri->port ? (unsigned)atoi(uri->port) : 0;
    return identity_is_local(id, uri->host, port);
}
