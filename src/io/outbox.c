/* Batched sending with sendmmsg(). See outbox.h. */
#include "switchboard/outbox.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include "switchboard/error.h"
#include "switchboard/log.h"

#define OUTBOX_SLOTS 64
#define OUTBOX_BYTES (256u * 1024u)

struct outbox_entry {
    int fd;
    struct sb_addr dst;
    bool has_src;
    struct in_pktinfo pktinfo;
    size_t offset, len;
};

struct outbox {
    struct sb_counters *counters;
    size_t count, used;
    struct outbox_entry entries[OUTBOX_SLOTS];
    struct mmsghdr msgs[OUTBOX_SLOTS];
    struct iovec iov[OUTBOX_SLOTS];
    char control[OUTBOX_SLOTS][CMSG_SPACE(sizeof(struct in_pktinfo))];
    char data[OUTBOX_BYTES];
};

int outbox_create(struct sb_counters *counters, struct outbox **out)
{
    struct outbox *box = calloc(1, sizeof(*box));
    if (!box)
        return SB_ENOMEM;
    box->counters = counters;
    *out = box;
    return 0;
}

void outbox_destroy(struct outbox *box)
{
    free(box);
}

static void fill_msghdr(struct outbox *box, size_t i)
{
    struct outbox_entry *e = &box->entries[i];
    struct msghdr *h = &box->msgs[i].msg_hdr;
    memset(h, 0, sizeof(*h));
    box->iov[i].iov_base = box->data + e->offset;
    box->iov[i].iov_len = e->len;
    h->msg_name = &e->dst.ss;
    h->msg_namelen = e->dst.len;
    h->msg_iov = &box->iov[i];
    h->msg_iovlen = 1;
    if (e->has_src) {
        h->msg_control = box->control[i];
        h->msg_controllen = CMSG_SPACE(sizeof(struct in_pktinfo));
        struct cmsghdr *c = CMSG_FIRSTHDR(h);
        c->cmsg_level = IPPROTO_IP;
        c->cmsg_type = IP_PKTINFO;
        c->cmsg_len = CMSG_LEN(sizeof(struct in_pktinfo));
        memcpy(CMSG_DATA(c), &e->pktinfo, sizeof(e->pktinfo));
    }
}

/* Sends entries [first, first+n) which share one socket. */
static void send_run(struct outbox *box, size_t first, size_t n)
{
    int fd = box->entries[first].fd;
    size_t done = 0;
    while (done < n) {
        int sent = sendmmsg(fd, &box->msgs[first + done], (unsigned)(n - done), 0);
        if (sent < 0) {
            if (errno == EINTR)
                continue;
            /* skip the datagram that failed (e.g. an unreachable peer) */
            sb_count(box->counters, SB_CNT_SEND_ERRORS);
            SB_DEBUG("sendmmsg: %s", strerror(errno));
            done++;
            continue;
        }
        done += (size_t)sent;
    }
}

size_t outbox_flush(struct outbox *box)
{
    size_t n = box->count;
    for (size_t i = 0; i < n; i++)
        fill_msghdr(box, i);
    size_t start = 0;
    for (size_t i = 1; i <= n; i++) {
        if (i == n || box->entries[i].fd != box->entries[start].fd) {
            send_run(box, start, i - start);
            start = i;
        }
    }
    box->count = 0;
    box->used = 0;
    return n;
}

void outbox_push(struct outbox *box, int fd, const struct sb_addr *dst, const struct sb_addr *src,
                 const char *data, size_t len)
{
    if (len > OUTBOX_BYTES) {
        sb_count(box->counters, SB_CNT_SEND_ERRORS);
        return;
    }
    if (box->count == OUTBOX_SLOTS || box->used + len > OUTBOX_BYTES)
        outbox_flush(box);
    struct outbox_entry *e = &box->entries[box->count++];
    e->fd = fd;
    e->dst = *dst;
    e->has_src = src && src->ss.ss_family == AF_INET;
    if (e->has_src) {
        memset(&e->pktinfo, 0, sizeof(e->pktinfo));
        e->pktinfo.ipi_spec_dst = ((const struct sockaddr_in *)&src->ss)->sin_addr;
    }
    e->offset = box->used;
    e->len = len;
    memcpy(box->data + box->used, data, len);
    box->used += len;
}
