/* UDP listener threads. See the DESIGN note in transport_udp.h. */
#include "switchboard/transport_udp.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdatomic.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <osipparser2/osip_message.h>
#include <urcu.h>

#include "switchboard/error.h"
#include "switchboard/hash.h"
#include "switchboard/ingress.h"
#include "switchboard/listen.h"
#include "switchboard/rate_limit.h"
#include "switchboard/reasons.h"
#include "switchboard/log.h"
#include "switchboard/sip_msg.h"
#include "switchboard/thread_role.h"

#define RECV_BATCH 32
#define RECENT_INVITES 4096 /* branches of INVITEs a listener answered 100 to */
#define DATAGRAM_MAX 65536
#define RECV_BUFFER_BYTES (4 * 1024 * 1024)

/* The sockets of one UDP listen address: one per listener thread. */
struct listen_addr {
    struct listen_entry *entry; /* NULL: not UDP (stream.h serves it) */
    int *fds;
};

struct listener {
    struct sb_counters counters; /* first: its own cache lines */
    struct transport *transport;
    unsigned index;
    pthread_t thread;
    bool running;
    struct sb_log_limiter malformed_log, queue_full_log, rate_limit_log;
    struct rate_limit *rate_limit; /* NULL: off */
    bool *touched;                 /* per worker: woken after the batch */
    uint64_t batch_ns;             /* when the current batch was read */
    uint64_t *recent_invites;      /* hashes of their branches, by hash: retransmissions */
    char *buffers;
    struct mmsghdr msgs[RECV_BATCH];
    struct iovec iov[RECV_BATCH];
    struct sockaddr_storage names[RECV_BATCH];
    char control[RECV_BATCH][CMSG_SPACE(sizeof(struct in6_pktinfo))];
};

struct transport {
    size_t listen_count;
    struct listen_addr *listens; /* indexed like the listen table */
    unsigned listener_count;
    struct listener *listeners;
    int stop_fd;
    struct dispatch *dispatch;
    unsigned workers;
    unsigned rate_limit;
    struct sip_trace *trace;
    struct reasons *reasons;
    /* one listener and one worker: the worker reads the sockets itself */
    bool inline_mode;
    atomic_bool inline_ready;   /* transport_start done: the worker may read */
    atomic_bool inline_stopped; /* transport_stop: the worker stops reading */
    transport_inline_fn inline_fn;
    void *inline_ctx;
};

/* listen_prepare_fn: big buffers, and PKTINFO to learn which address a
 * datagram came to on a wildcard socket. */
static int prepare_socket(int fd, const struct listen_entry *e)
{
    int one = 1, size = RECV_BUFFER_BYTES;
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof(size));
    setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof(size));
    if (e->addr.ss.ss_family == AF_INET)
        setsockopt(fd, IPPROTO_IP, IP_PKTINFO, &one, sizeof(one));
    else
        setsockopt(fd, IPPROTO_IPV6, IPV6_RECVPKTINFO, &one, sizeof(one));
    return 0;
}

static int listen_open(struct listen_addr *l, unsigned listeners)
{
    l->fds = malloc(listeners * sizeof(int));
    if (!l->fds)
        return SB_ENOMEM;
    return listen_open_group(l->entry, SOCK_DGRAM, listeners, l->fds, prepare_socket);
}

int transport_create(const struct sb_config *cfg, struct listen_table *listens,
                     struct transport **out)
{
    struct transport *t = calloc(1, sizeof(*t));
    if (!t)
        return SB_ENOMEM;
    t->stop_fd = -1;
    t->listener_count = cfg->listeners;
    t->inline_mode = cfg->listeners == 1 && cfg->workers == 1;
    t->rate_limit = cfg->rate_limit;
    t->listens = calloc(listens->count ? listens->count : 1, sizeof(*t->listens));
    t->listeners = aligned_alloc(64, ((cfg->listeners * sizeof(struct listener) + 63) / 64) * 64);
    int rc = (t->listens && t->listeners) ? 0 : SB_ENOMEM;
    if (t->listeners)
        memset(t->listeners, 0, cfg->listeners * sizeof(struct listener));
    for (size_t i = 0; rc == 0 && i < listens->count; i++) {
        t->listen_count++;
        if (listens->entries[i].transport != SB_UDP)
            continue;
        t->listens[i].entry = &listens->entries[i];
        rc = listen_open(&t->listens[i], cfg->listeners);
    }
    if (rc == 0) {
        t->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (t->stop_fd < 0)
            rc = SB_ESYS;
    }
    if (rc != 0) {
        transport_destroy(t);
        return rc;
    }
    *out = t;
    return 0;
}

void transport_destroy(struct transport *t)
{
    if (!t)
        return;
    for (size_t i = 0; i < t->listen_count; i++) {
        if (!t->listens[i].fds)
            continue;
        for (unsigned j = 0; j < t->listener_count; j++)
            if (t->listens[i].fds[j] >= 0)
                close(t->listens[i].fds[j]);
        free(t->listens[i].fds);
    }
    for (unsigned i = 0; t->listeners && i < t->listener_count; i++) {
        free(t->listeners[i].touched);
        free(t->listeners[i].recent_invites);
        rate_limit_destroy(t->listeners[i].rate_limit);
        free(t->listeners[i].buffers);
    }
    if (t->stop_fd >= 0)
        close(t->stop_fd);
    free(t->listens);
    free(t->listeners);
    free(t);
}

/* ingress_ctx.reply: answers a request the worker will never see (400,
 * 505, 503) straight from the listener, to the top Via's address (the
 * source, as ingress stamped it), from the address it came to. */
struct udp_answer {
    struct listener *l;
    const struct ingress_origin *from;
};

static void reply_direct(void *arg, const osip_message_t *req, const char *text, size_t len)
{
    struct udp_answer *a = arg;
    const struct sb_local *local = a->from->local;
    struct listener *l = a->l;
    struct sb_addr dst;
    if (sipmsg_via_destination(sipmsg_top_via(req), &dst) != 0)
        return;
    struct msghdr h = {0};
    struct iovec iov = {.iov_base = (char *)text, .iov_len = len};
    char control[CMSG_SPACE(sizeof(struct in_pktinfo))];
    h.msg_name = &dst.ss;
    h.msg_namelen = dst.len;
    h.msg_iov = &iov;
    h.msg_iovlen = 1;
    if (l->transport->listens[local->listen_index].entry->wildcard &&
        local->addr.ss.ss_family == AF_INET) {
        struct in_pktinfo info = {0};
        info.ipi_spec_dst = ((const struct sockaddr_in *)&local->addr.ss)->sin_addr;
        h.msg_control = control;
        h.msg_controllen = sizeof(control);
        struct cmsghdr *c = CMSG_FIRSTHDR(&h);
        c->cmsg_level = IPPROTO_IP;
        c->cmsg_type = IP_PKTINFO;
        c->cmsg_len = CMSG_LEN(sizeof(info));
        memcpy(CMSG_DATA(c), &info, sizeof(info));
    }
    sip_trace_record(l->transport->trace, &local->addr, &dst, NULL, text, len);
    if (sendmsg(a->from->fd, &h, 0) < 0)
        sb_count(&l->counters, SB_CNT_SEND_ERRORS);
}

static void local_from_msg(const struct listen_addr *la, unsigned index, struct msghdr *h,
                           struct sb_local *local)
{
    local->listen_index = index;
    local->addr = la->entry->addr;
    if (!la->entry->wildcard)
        return;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(h); c; c = CMSG_NXTHDR(h, c)) {
        if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_PKTINFO) {
            struct in_pktinfo info;
            memcpy(&info, CMSG_DATA(c), sizeof(info));
            ((struct sockaddr_in *)&local->addr.ss)->sin_addr = info.ipi_addr;
        } else if (c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_PKTINFO) {
            struct in6_pktinfo info;
            memcpy(&info, CMSG_DATA(c), sizeof(info));
            ((struct sockaddr_in6 *)&local->addr.ss)->sin6_addr = info.ipi6_addr;
        }
    }
}

/* RFC 3261 §16.2: a proxy answers an INVITE with 100 at once. With
 * several workers the listener that read it does, before the hand-off,
 * so the 100 never waits in a worker's queue; the worker's transaction
 * keeps it for retransmissions (in->trying). A retransmission (its
 * branch answered here lately) is left to the worker, which answers with
 * what it sent last: never a 100 after a 180. */
static void send_trying_early(struct listener *l, struct sb_inbound *in, struct udp_answer *answer)
{
    const osip_message_t *msg = in->msg;
    const osip_via_t *via = MSG_IS_INVITE(msg) ? sipmsg_top_via(msg) : NULL;
    const char *branch = via ? sipmsg_via_param(via, "branch") : NULL;
    if (!branch || !l->recent_invites)
        return;
    uint64_t h = sb_hash(branch, strlen(branch)) | 1;
    uint64_t *seen = &l->recent_invites[h % RECENT_INVITES];
    if (*seen == h)
        return;
    *seen = h;
    char phrase[64]; /* [reasons] may name it */
    bool ours = reasons_lookup(l->transport->reasons, 100, phrase, sizeof(phrase)) == 0;
    char *text;
    size_t len;
    if (ingress_trying(in, ours ? phrase : NULL, &text, &len) != 0)
        return;
    reply_direct(answer, msg, text, len);
    in->trying = text;
    in->trying_len = len;
    sb_count(&l->counters, SB_CNT_TRYING_EARLY);
}

static void handle_datagram(struct listener *l, int fd, char *buf, size_t len,
                            const struct sb_addr *src, const struct sb_local *local)
{
    struct transport *t = l->transport;
    if (l->rate_limit && !rate_limit_allow(l->rate_limit, src, sb_now_ms())) {
        sb_count(&l->counters, SB_CNT_RATE_LIMITED);
        uint64_t more;
        if (sb_log_limiter_ready(&l->rate_limit_log, sb_now_ms(), &more)) {
            char ip[INET6_ADDRSTRLEN];
            sipmsg_addr_host(src, ip, sizeof(ip));
            SB_WARN("%s is past the rate limit of %u/s: dropping (%llu more since the last "
                    "report)",
                    ip, t->rate_limit, (unsigned long long)more);
        }
        return;
    }
    struct ingress_origin from = {
        .src = src, .local = local, .transport = SB_UDP, .fd = fd, .received_ns = l->batch_ns};
    struct udp_answer answer = {l, &from};
    struct ingress_ctx x = {&l->counters, &l->malformed_log, t->reasons, reply_direct, &answer};
    struct sb_inbound *in = ingress_receive(buf, len, &from, &x, sb_now_ms());
    if (!in)
        return;
    if (t->inline_mode) {
        t->inline_fn(t->inline_ctx, in); /* run to completion: no hand-off */
        return;
    }
    send_trying_early(l, in, &answer);
    unsigned worker = dispatch_worker_for(t->dispatch, in->msg->call_id->number);
    if (dispatch_push(t->dispatch, worker, in) != 0) {
        /* the sender retransmits; dropping beats queueing without bound */
        sb_count(&l->counters, SB_CNT_QUEUE_FULL);
        uint64_t more;
        if (sb_log_limiter_ready(&l->queue_full_log, sb_now_ms(), &more))
            SB_WARN("worker %u's queue is full: dropping datagrams (%llu more since the last "
                    "report)",
                    worker, (unsigned long long)more);
        sb_inbound_free(in);
        return;
    }
    l->touched[worker] = true;
}

/* Wakes each worker this listener fed since the last call, once. */
static void wake_touched(struct listener *l)
{
    struct transport *t = l->transport;
    for (unsigned w = 0; w < t->workers; w++) {
        if (l->touched[w]) {
            l->touched[w] = false;
            dispatch_wake(t->dispatch, w);
        }
    }
}

static void drain_socket(struct listener *l, unsigned index)
{
    struct transport *t = l->transport;
    const struct listen_addr *la = &t->listens[index];
    int fd = la->fds[l->index];
    int n;
    do {
        for (int i = 0; i < RECV_BATCH; i++) {
            struct msghdr *h = &l->msgs[i].msg_hdr;
            l->iov[i].iov_base = l->buffers + (size_t)i * (DATAGRAM_MAX + 1);
            l->iov[i].iov_len = DATAGRAM_MAX;
            h->msg_name = &l->names[i];
            h->msg_namelen = sizeof(l->names[i]);
            h->msg_iov = &l->iov[i];
            h->msg_iovlen = 1;
            h->msg_control = l->control[i];
            h->msg_controllen = sizeof(l->control[i]);
            h->msg_flags = 0;
        }
        n = recvmmsg(fd, l->msgs, RECV_BATCH, MSG_DONTWAIT, NULL);
        if (n < 0) {
            if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
                SB_WARN("recvmmsg on %s: %s", la->entry->name, strerror(errno));
            break;
        }
        l->batch_ns = sb_now_ns();
        for (int i = 0; i < n; i++) {
            struct msghdr *h = &l->msgs[i].msg_hdr;
            struct sb_addr src;
            struct sb_local local;
            sb_count(&l->counters, SB_CNT_DATAGRAMS);
            memcpy(&src.ss, &l->names[i], sizeof(src.ss));
            src.len = h->msg_namelen;
            if (h->msg_flags & MSG_TRUNC) {
                sb_count(&l->counters, SB_CNT_TRUNCATED);
                continue;
            }
            local_from_msg(la, index, h, &local);
            sip_trace_record(t->trace, &src, &local.addr, NULL, l->iov[i].iov_base,
                             l->msgs[i].msg_len);
            handle_datagram(l, fd, l->iov[i].iov_base, l->msgs[i].msg_len, &src, &local);
        }
        /* after each batch, not after the socket is drained: under load
         * that could be hundreds of messages the workers wait for */
        wake_touched(l);
    } while (n == RECV_BATCH);
}

static void *listener_main(void *arg)
{
    struct listener *l = arg;
    struct transport *t = l->transport;
    sb_thread_mark_sip();
    size_t nfds = t->listen_count + 1;
    struct pollfd pfds[SB_MAX_LISTEN + 1];
    for (size_t i = 0; i < t->listen_count; i++) {
        /* poll ignores negative descriptors: the stream listen addresses */
        int fd = t->listens[i].fds ? t->listens[i].fds[l->index] : -1;
        pfds[i] = (struct pollfd){.fd = fd, .events = POLLIN};
    }
    pfds[t->listen_count] = (struct pollfd){.fd = t->stop_fd, .events = POLLIN};
    rcu_register_thread(); /* reasons_apply reads an RCU pointer */
    for (;;) {
        if (poll(pfds, nfds, -1) < 0) {
            if (errno == EINTR)
                continue;
            SB_ERROR("poll: %s", strerror(errno));
            break;
        }
        if (pfds[t->listen_count].revents)
            break;
        for (size_t i = 0; i < t->listen_count; i++)
            if (pfds[i].revents & POLLIN)
                drain_socket(l, (unsigned)i);
    }
    rcu_unregister_thread();
    return NULL;
}

bool transport_inline(const struct transport *t)
{
    return t->inline_mode;
}

size_t transport_inline_fds(const struct transport *t, struct pollfd *out, size_t max)
{
    size_t n = 0;
    if (!atomic_load_explicit(&t->inline_ready, memory_order_acquire) ||
        atomic_load_explicit(&t->inline_stopped, memory_order_relaxed))
        return 0;
    for (size_t i = 0; i < t->listen_count && n < max; i++)
        if (t->listens[i].fds)
            out[n++] = (struct pollfd){.fd = t->listens[i].fds[0], .events = POLLIN};
    return n;
}

void transport_inline_drain(struct transport *t, transport_inline_fn fn, void *ctx,
                            const struct pollfd *polled)
{
    if (!atomic_load_explicit(&t->inline_ready, memory_order_acquire) ||
        atomic_load_explicit(&t->inline_stopped, memory_order_relaxed))
        return;
    t->inline_fn = fn;
    t->inline_ctx = ctx;
    size_t k = 0; /* the order transport_inline_fds gave them in */
    for (size_t i = 0; i < t->listen_count; i++) {
        if (!t->listens[i].fds)
            continue;
        if (!polled || polled[k].revents)
            drain_socket(&t->listeners[0], (unsigned)i);
        k++;
    }
}

int transport_start(struct transport *t, struct dispatch *d, struct sip_trace *trace,
                    struct reasons *reasons)
{
    t->dispatch = d;
    t->trace = trace;
    t->reasons = reasons;
    t->workers = dispatch_worker_count(d);
    for (unsigned i = 0; i < t->listener_count; i++) {
        struct listener *l = &t->listeners[i];
        l->transport = t;
        l->index = i;
        l->touched = calloc(t->workers, sizeof(bool));
        l->buffers = malloc((size_t)RECV_BATCH * (DATAGRAM_MAX + 1));
        if (!l->touched || !l->buffers)
            return SB_ENOMEM;
        if (t->rate_limit && rate_limit_create(t->rate_limit, &l->rate_limit) != 0)
            return SB_ENOMEM;
        if (!t->inline_mode) {
            l->recent_invites = calloc(RECENT_INVITES, sizeof(*l->recent_invites));
            if (!l->recent_invites)
                return SB_ENOMEM;
        }
        if (t->inline_mode) {
            atomic_store_explicit(&t->inline_ready, true, memory_order_release);
            /* it sleeps on its queue alone until now: a kick, as it may
             * have found inline_ready false and not be asleep yet */
            dispatch_kick(d, 0);
            continue; /* the worker reads: no thread */
        }
        int rc = pthread_create(&l->thread, NULL, listener_main, l);
        if (rc != 0) {
            SB_ERROR("cannot start listener thread: %s", strerror(rc));
            return SB_ESYS;
        }
        l->running = true;
    }
    return 0;
}

void transport_stop(struct transport *t)
{
    atomic_store(&t->inline_stopped, true);
    uint64_t one = 1;
    ssize_t n = write(t->stop_fd, &one, sizeof(one));
    (void)n;
    for (unsigned i = 0; i < t->listener_count; i++) {
        if (t->listeners[i].running)
            pthread_join(t->listeners[i].thread, NULL);
        t->listeners[i].running = false;
    }
}

int transport_socket(const struct transport *t, unsigned index, unsigned worker)
{
    if (index >= t->listen_count || !t->listens[index].fds)
        return -1;
    return t->listens[index].fds[worker % t->listener_count];
}

void transport_counters(const struct transport *t, uint64_t total[SB_CNT_COUNT])
{
    for (unsigned i = 0; i < t->listener_count; i++)
        sb_counters_accumulate(total, &t->listeners[i].counters);
}
