/* The interface address watcher. See the DESIGN note in addr_watch.h. */
#include "switchboard/addr_watch.h"

#include <errno.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <urcu.h>

#include "switchboard/error.h"
#include "switchboard/identity.h"
#include "switchboard/log.h"

struct addr_watch {
    struct identity *identity;
    int netlink_fd;
    int stop_fd;
    pthread_t thread;
};

/* Reads every pending notification. Returns true when one was about an
 * address (or the socket overflowed, so one may have been missed). */
static bool read_events(int fd)
{
    char buf[16384];
    bool changed = false;
    for (;;) {
        ssize_t n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
        if (n < 0) {
            if (errno == ENOBUFS)
                changed = true; /* lost some: re-read everything */
            if (errno == EINTR || errno == ENOBUFS)
                continue;
            return changed;
        }
        for (struct nlmsghdr *h = (struct nlmsghdr *)buf; NLMSG_OK(h, (size_t)n);
             h = NLMSG_NEXT(h, n)) {
            if (h->nlmsg_type == RTM_NEWADDR || h->nlmsg_type == RTM_DELADDR)
                changed = true;
        }
    }
}

static void *watch_main(void *arg)
{
    struct addr_watch *w = arg;
    rcu_register_thread(); /* the identity swaps its set under RCU */
    struct pollfd pfds[2] = {{.fd = w->netlink_fd, .events = POLLIN},
                             {.fd = w->stop_fd, .events = POLLIN}};
    for (;;) {
        if (poll(pfds, 2, -1) < 0 && errno != EINTR)
            break;
        if (pfds[1].revents)
            break;
        if ((pfds[0].revents & POLLIN) && read_events(w->netlink_fd))
            identity_refresh(w->identity);
    }
    rcu_unregister_thread();
    return NULL;
}

int addr_watch_start(struct identity *id, struct addr_watch **out)
{
    struct addr_watch *w = calloc(1, sizeof(*w));
    if (!w)
        return SB_ENOMEM;
    w->identity = id;
    w->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    w->netlink_fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
    struct sockaddr_nl sa = {.nl_family = AF_NETLINK,
                             .nl_groups = RTMGRP_IPV4_IFADDR | RTMGRP_IPV6_IFADDR};
    if (w->stop_fd < 0 || w->netlink_fd < 0 ||
        bind(w->netlink_fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 ||
        pthread_create(&w->thread, NULL, watch_main, w) != 0) {
        SB_WARN("cannot watch interface addresses (%s): addresses added later will not be "
                "served until a restart",
                strerror(errno));
        if (w->netlink_fd >= 0)
            close(w->netlink_fd);
        if (w->stop_fd >= 0)
            close(w->stop_fd);
        free(w);
        return SB_ESYS;
    }
    *out = w;
    return 0;
}

void addr_watch_stop(struct addr_watch *w)
{
    if (!w)
        return;
    uint64_t one = 1;
    ssize_t n = write(w->stop_fd, &one, sizeof(one));
    (void)n;
    pthread_join(w->thread, NULL);
    close(w->netlink_fd);
    close(w->stop_fd);
    free(w);
}
