/* The listen addresses. See listen.h. */
#include "switchboard/listen.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "switchboard/error.h"
#include "switchboard/log.h"
#include "switchboard/sip_msg.h"

void listen_entry_bound(struct listen_entry *e)
{
    static const char *const prefixes[] = {"udp", "tcp", "tls", "ws", "wss"};
    char ip[INET6_ADDRSTRLEN];
    unsigned port = sipmsg_addr_host(&e->addr, ip, sizeof(ip));
    bool v6 = e->addr.ss.ss_family == AF_INET6;
    snprintf(e->name, sizeof(e->name), "%s:%s%s%s:%u", prefixes[e->transport], v6 ? "[" : "", ip,
             v6 ? "]" : "", port);
}

int listen_table_init(struct listen_table *t, const struct sb_config *cfg)
{
    memset(t, 0, sizeof(*t));
    for (size_t i = 0; i < cfg->listen_count && i < SB_MAX_LISTEN; i++) {
        struct listen_entry *e = &t->entries[i];
        char host[256];
        unsigned port;
        int transport;
        int rc = config_parse_listen(cfg->listen[i], &transport, host, sizeof(host), &port);
        if (rc == 0)
            rc = sipmsg_host_resolve(host, port, &e->addr);
        if (rc != 0) {
            SB_ERROR("cannot use listen address %s", cfg->listen[i]);
            return rc;
        }
        e->transport = (uint8_t)transport;
        e->wildcard = !strcmp(host, "0.0.0.0") || !strcmp(host, "::");
        listen_entry_bound(e);
        t->count++;
    }
    return 0;
}

bool listen_has(const struct listen_table *t, int transport)
{
    for (size_t i = 0; i < t->count; i++)
        if (t->entries[i].transport == transport)
            return true;
    return false;
}

/* Can listen address @e of @transport send from @addr's IP? */
static bool serves(const struct listen_entry *e, int transport, const struct sb_addr *addr)
{
    return e->transport == transport && e->addr.ss.ss_family == addr->ss.ss_family &&
           (e->wildcard || sipmsg_addr_same_ip(&e->addr, addr));
}

static void set_port(struct sb_addr *addr, const struct sb_addr *from)
{
    if (addr->ss.ss_family == AF_INET)
        ((struct sockaddr_in *)&addr->ss)->sin_port =
            ((const struct sockaddr_in *)&from->ss)->sin_port;
    else
        ((struct sockaddr_in6 *)&addr->ss)->sin6_port =
            ((const struct sockaddr_in6 *)&from->ss)->sin6_port;
}

int listen_local_resolve(const struct listen_table *t, int transport, struct sb_local *local)
{
    if (local->listen_index < t->count &&
        serves(&t->entries[local->listen_index], transport, &local->addr)) {
        set_port(&local->addr, &t->entries[local->listen_index].addr);
        return 0;
    }
    for (size_t i = 0; i < t->count; i++) {
        if (serves(&t->entries[i], transport, &local->addr)) {
            local->listen_index = (unsigned)i;
            set_port(&local->addr, &t->entries[i].addr);
            return 0;
        }
    }
    for (size_t i = 0; i < t->count; i++) {
        const struct listen_entry *e = &t->entries[i];
        if (e->transport != transport || e->addr.ss.ss_family != local->addr.ss.ss_family)
            continue;
        local->listen_index = (unsigned)i;
        if (e->wildcard)
            set_port(&local->addr, &e->addr);
        else
            local->addr = e->addr;
        return 0;
    }
    return SB_ENOTFOUND;
}

/* Is @e's port held by another process? A wildcard port (0) never is.
 * For a stream an earlier run's connections in TIME_WAIT do not count
 * (SO_REUSEADDR); a datagram probe must not set it, or it would share
 * the port with another switchboard's sockets. */
static bool port_taken(const struct listen_entry *e, int type)
{
    char ip[INET6_ADDRSTRLEN];
    if (sipmsg_addr_host(&e->addr, ip, sizeof(ip)) == 0)
        return false;
    int probe = socket(e->addr.ss.ss_family, (type & ~SOCK_NONBLOCK) | SOCK_CLOEXEC, 0);
    if (probe < 0)
        return false;
    int one = 1;
    if ((type & ~SOCK_NONBLOCK) == SOCK_STREAM)
        setsockopt(probe, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    bool taken =
        bind(probe, (const struct sockaddr *)&e->addr.ss, e->addr.len) != 0 && errno == EADDRINUSE;
    close(probe);
    return taken;
}

static int open_one(const struct listen_entry *e, int type, listen_prepare_fn prepare)
{
    int fd = socket(e->addr.ss.ss_family, type | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        SB_ERROR("socket for %s: %s", e->name, strerror(errno));
        return SB_ESYS;
    }
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) != 0)
        SB_WARN("SO_REUSEPORT on %s: %s", e->name, strerror(errno));
    if (prepare && prepare(fd, e) != 0) {
        close(fd);
        return SB_ESYS;
    }
    if (bind(fd, (const struct sockaddr *)&e->addr.ss, e->addr.len) != 0 ||
        ((type & ~SOCK_NONBLOCK) == SOCK_STREAM && listen(fd, 4096) != 0)) {
        SB_ERROR("cannot listen on %s: %s", e->name, strerror(errno));
        close(fd);
        return SB_ESYS;
    }
    return fd;
}

int listen_open_group(struct listen_entry *e, int type, unsigned count, int *fds,
                      listen_prepare_fn prepare)
{
    for (unsigned i = 0; i < count; i++)
        fds[i] = -1;
    if (port_taken(e, type)) {
        SB_ERROR("cannot listen on %s: address already in use (another switchboard?)", e->name);
        return SB_ESYS;
    }
    for (unsigned i = 0; i < count; i++) {
        int fd = open_one(e, type, prepare);
        if (fd < 0) {
            for (unsigned j = 0; j < i; j++) {
                close(fds[j]);
                fds[j] = -1;
            }
            return fd;
        }
        fds[i] = fd;
        if (i == 0) {
            /* port 0 asks the kernel; the other sockets share what it gave */
            socklen_t len = sizeof(e->addr.ss);
            getsockname(fd, (struct sockaddr *)&e->addr.ss, &len);
            e->addr.len = len;
            listen_entry_bound(e);
        }
    }
    return 0;
}
