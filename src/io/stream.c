/* TCP and TLS I/O threads. See the DESIGN note in stream.h. */
#include "switchboard/stream.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>
#include <osipparser2/osip_message.h>
#include <osipparser2/osip_port.h>
#include <urcu.h>

#include "switchboard/buf.h"
#include "switchboard/config.h"
#include "switchboard/dispatch.h"
#include "switchboard/error.h"
#include "switchboard/ingress.h"
#include "switchboard/listen.h"
#include "switchboard/log.h"
#include "switchboard/reasons.h"
#include "switchboard/sip_msg.h"
#include "switchboard/sip_trace.h"
#include "switchboard/stream_frame.h"
#include "switchboard/stream_ips.h"
#include "switchboard/tls.h"
#include "switchboard/wakeq.h"
#include "switchboard/webdir.h"
#include "switchboard/ws.h"
#include "switchboard/ws_directory.h"
#include "switchboard/thread_role.h"
#include "tsan_annotate.h"

#define THREAD_BITS 8
#define SLOT_BITS 20
#define SLOT_MAX (1u << SLOT_BITS)
#define READ_CHUNK 65536
#define EVENTS 128
#define PEER_BUCKETS 4096
#define POSTS_PER_THREAD 262144
#define DRAIN_MS 1000
/* epoll tags: a connection's id has a sequence number of 1 or more */
#define TAG_WAKE 0
#define TAG_LISTEN(i) ((uint64_t)((i) + 1) << THREAD_BITS)

/* A connection's life:
 *   ours:     CONNECTING --connected--> HANDSHAKE (TLS) --done--> OPEN, or OPEN (TCP)
 *   accepted: HANDSHAKE (TLS) --done--> OPEN, or OPEN at once (TCP);
 *             ws:/wss: ... --> UPGRADE --the HTTP handshake--> OPEN (RFC 6455 §4)
 *   any --error, idle, a message too slow, the peer not reading--> closed */
enum conn_state { CONN_CONNECTING, CONN_HANDSHAKE, CONN_UPGRADE, CONN_OPEN };

/* Bytes waiting to be written: what a worker posted (the post is the
 * chunk), or what the I/O thread answers itself. */
struct chunk {
    struct cds_wfcq_node node; /* while queued for the thread */
    struct chunk *next;        /* while queued on a connection */
    struct sb_dest dest;
    bool request; /* hand it back to its worker if it cannot go */
    size_t len, off;
    char data[];
};

struct conn {
    uint64_t id;
    int fd;
    uint8_t transport;
    uint8_t state; /* enum conn_state */
    bool outgoing;
    bool closing;  /* close once the queue is written */
    bool want_out; /* EPOLLOUT is on */
    uint32_t slot;
    struct sb_addr peer;
    struct sb_local local;
    struct sb_addr wire;          /* our end as the kernel has it: the trace's */
    uint32_t trace_in, trace_out; /* bytes each way, the trace's TCP numbers */
    SSL *ssl;
    char *in; /* unframed bytes; NULL while there are none */
    size_t in_len, in_cap;
    struct stream_scan scan; /* how far the message at ->in was looked at */
    bool spoke;              /* a whole message came: keep-alives may keep it */
    struct chunk *out_head, *out_tail;
    size_t out_bytes;
    uint64_t active_ms;  /* last traffic either way */
    uint64_t started_ms; /* a message (or the connect, or the handshake) began; 0: none */
    struct conn *all_next, *all_prev;
    struct conn *peer_next;
    struct stream_ip *ip; /* accepted connections only */
    struct io_thread *io;
    struct ws_session *ws; /* ws:, wss: once upgraded */
    const char *ws_limit;  /* the write limit its session ran into */
};

struct io_thread {
    struct sb_counters counters; /* first: its own cache lines */
    struct stream *s;
    unsigned index;
    pthread_t thread;
    bool running;
    int epfd;
    struct wakeq *posts;
    int listen_fds[SB_MAX_LISTEN];
    struct conn **slots;
    _Atomic uint64_t *live; /* slot -> open connection id, for other threads */
    uint32_t *free_slots;
    uint32_t free_count;
    uint64_t seq;
    struct conn *all;
    size_t open;
    struct conn *peers[PEER_BUCKETS];
    bool *touched; /* per worker */
    char *scratch;
    atomic_bool input_stopped;
    bool listening;
    bool draining; /* the workers are gone: unsent requests just go */
    struct sb_log_limiter refuse_log, malformed_log, overflow_log, queue_full_log;
};

struct stream {
    const struct sb_config *cfg;
    struct listen_table *listens;
    unsigned thread_count;
    struct io_thread *threads;
    struct tls *tls; /* NULL without tls: listen addresses */
    struct dispatch *dispatch;
    unsigned workers;
    struct sip_trace *trace;
    struct reasons *reasons;
    uint32_t slots_per_thread;
    atomic_size_t connections;
    atomic_size_t queued;          /* bytes waiting to be written, all connections */
    struct stream_ips *ips;        /* connections per source IP */
    struct webdir *web;            /* the page ws: and wss: serve; NULL: none */
    struct ws_directory directory; /* GET /directory, for the page */
};

/* --- ids ------------------------------------------------------------------ */

static uint64_t conn_id_make(uint64_t seq, uint32_t slot, unsigned thread)
{
    return seq << (SLOT_BITS + THREAD_BITS) | (uint64_t)slot << THREAD_BITS | thread;
}

static unsigned conn_id_thread(uint64_t id)
{
    return (unsigned)(id & ((1u << THREAD_BITS) - 1));
}

static uint32_t conn_id_slot(uint64_t id)
{
    return (uint32_t)((id >> THREAD_BITS) & (SLOT_MAX - 1));
}

bool stream_conn_alive(const struct stream *s, uint64_t conn)
{
    unsigned t = conn_id_thread(conn);
    uint32_t slot = conn_id_slot(conn);
    if (!conn || t >= s->thread_count || slot >= s->slots_per_thread)
        return false;
    return atomic_load_explicit(&s->threads[t].live[slot], memory_order_relaxed) == conn;
}

static struct conn *conn_find(struct io_thread *io, uint64_t id)
{
    uint32_t slot = conn_id_slot(id);
    if (conn_id_thread(id) != io->index || slot >= io->s->slots_per_thread)
        return NULL;
    struct conn *c = io->slots[slot];
    return c && c->id == id ? c : NULL;
}

/* --- addresses -------------------------------------------------------------- */

static size_t addr_hash(const struct sb_addr *a, int transport)
{
    uint64_t h =
        sb_hash((const char *)&a->ss, a->len) ^ (uint64_t)transport * 0x9e3779b97f4a7c15ull;
    return (size_t)h;
}

static bool addr_same(const struct sb_addr *a, const struct sb_addr *b)
{
    return a->len == b->len && memcmp(&a->ss, &b->ss, a->len) == 0;
}

/* --- connections ---------------------------------------------------------- */

static void epoll_set(struct io_thread *io, struct conn *c, bool out)
{
    struct epoll_event ev = {.events = EPOLLIN | (out ? EPOLLOUT : 0), .data.u64 = c->id};
    epoll_ctl(io->epfd, EPOLL_CTL_MOD, c->fd, &ev);
    c->want_out = out;
}

static void peer_link(struct io_thread *io, struct conn *c)
{
    size_t b = addr_hash(&c->peer, c->transport) % PEER_BUCKETS;
    c->peer_next = io->peers[b];
    io->peers[b] = c;
}

static void peer_unlink(struct io_thread *io, struct conn *c)
{
    size_t b = addr_hash(&c->peer, c->transport) % PEER_BUCKETS;
    for (struct conn **pp = &io->peers[b]; *pp; pp = &(*pp)->peer_next) {
        if (*pp == c) {
            *pp = c->peer_next;
            return;
        }
    }
}

/* A connection of ours to @peer over @transport we may reuse. */
static struct conn *peer_find(struct io_thread *io, const struct sb_addr *peer, int transport)
{
    size_t b = addr_hash(peer, transport) % PEER_BUCKETS;
    for (struct conn *c = io->peers[b]; c; c = c->peer_next)
        if (c->transport == transport && !c->closing && addr_same(&c->peer, peer))
            return c;
    return NULL;
}

/* Registers a new connection on @fd. Returns NULL when the thread is out
 * of slots or memory (the caller closes @fd). */
static struct conn *conn_new(struct io_thread *io, int fd, int transport,
                             const struct sb_addr *peer, const struct sb_local *local, uint64_t now)
{
    if (io->free_count == 0)
        return NULL;
    struct conn *c = calloc(1, sizeof(*c));
    if (!c)
        return NULL;
    c->slot = io->free_slots[--io->free_count];
    c->id = conn_id_make(++io->seq, c->slot, io->index);
    c->fd = fd;
    c->transport = (uint8_t)transport;
    c->peer = *peer;
    c->local = *local;
    c->wire = local->addr;
    c->trace_in = c->trace_out = 1;
    c->active_ms = c->started_ms = now;
    c->io = io;
    struct epoll_event ev = {.events = EPOLLIN, .data.u64 = c->id};
    if (epoll_ctl(io->epfd, EPOLL_CTL_ADD, fd, &ev) != 0) {
        io->free_slots[io->free_count++] = c->slot;
        free(c);
        return NULL;
    }
    io->slots[c->slot] = c;
    atomic_store_explicit(&io->live[c->slot], c->id, memory_order_relaxed);
    c->all_next = io->all;
    if (io->all)
        io->all->all_prev = c;
    io->all = c;
    peer_link(io, c);
    io->open++;
    atomic_fetch_add(&io->s->connections, 1);
    return c;
}

static void fail_chunk(struct io_thread *io, struct chunk *k);

/* Counts @delta bytes (negative: written or dropped) as queued on @c, its
 * source address and the whole transport. */
static void queued_add(struct stream *s, struct conn *c, ptrdiff_t delta)
{
    c->out_bytes += (size_t)delta;
    atomic_fetch_add_explicit(&s->queued, (size_t)delta, memory_order_relaxed);
    if (c->ip)
        atomic_fetch_add_explicit(&c->ip->queued, (size_t)delta, memory_order_relaxed);
}

static void conn_close(struct io_thread *io, struct conn *c)
{
    queued_add(io->s, c, -(ptrdiff_t)c->out_bytes);
    epoll_ctl(io->epfd, EPOLL_CTL_DEL, c->fd, NULL);
    if (c->ssl) {
        if (c->state >= CONN_UPGRADE)
            SSL_shutdown(c->ssl); /* one close_notify, best effort */
        SSL_free(c->ssl);
    }
    ws_session_free(c->ws);
    close(c->fd);
    atomic_store_explicit(&io->live[c->slot], 0, memory_order_relaxed);
    io->slots[c->slot] = NULL;
    io->free_slots[io->free_count++] = c->slot;
    if (c->all_prev)
        c->all_prev->all_next = c->all_next;
    else
        io->all = c->all_next;
    if (c->all_next)
        c->all_next->all_prev = c->all_prev;
    peer_unlink(io, c);
    stream_ips_release(io->s->ips, c->ip);
    io->open--;
    atomic_fetch_sub(&io->s->connections, 1);
    struct chunk *k = c->out_head;
    while (k) {
        struct chunk *next = k->next;
        fail_chunk(io, k);
        k = next;
    }
    free(c->in);
    free(c);
}

/* --- handing messages to the workers -------------------------------------- */

static void dispatch_inbound(struct io_thread *io, struct sb_inbound *in)
{
    struct stream *s = io->s;
    char call_id[512];
    if (sipmsg_call_id(in->msg, call_id, sizeof(call_id)) != 0) {
        sb_inbound_free(in);
        return;
    }
    unsigned worker = dispatch_worker_for(s->dispatch, in->msg->call_id->number);
    if (dispatch_push(s->dispatch, worker, in) != 0) {
        sb_count(&io->counters, SB_CNT_QUEUE_FULL);
        uint64_t more;
        if (sb_log_limiter_ready(&io->queue_full_log, sb_now_ms(), &more))
            SB_WARN("worker %u's queue is full: dropping a message from a connection (%llu more "
                    "since the last report)",
                    worker, (unsigned long long)more);
        sb_inbound_free(in);
        return;
    }
    io->touched[worker] = true;
}

/* A request that cannot go out goes back to the worker that sent it (the
 * Call-ID's), so its transaction fails now rather than at Timer B/F. */
static void fail_chunk(struct io_thread *io, struct chunk *k)
{
    osip_message_t *msg = NULL;
    if (k->request && !io->draining && osip_message_init(&msg) == 0 &&
        osip_message_parse(msg, k->data, k->len) == 0 && msg->call_id && msg->call_id->number &&
        MSG_IS_REQUEST(msg)) {
        struct sb_inbound *in = calloc(1, sizeof(*in));
        if (in) {
            in->msg = msg;
            msg = NULL;
            in->src = k->dest.peer;
            in->local = k->dest.local;
            in->transport = k->dest.transport;
            in->fd = -1;
            in->conn = k->dest.conn;
            in->send_failed = true;
            in->received_ns = sb_now_ns();
            sb_count(&io->counters, SB_CNT_STREAM_UNSENT);
            dispatch_inbound(io, in);
        }
    }
    osip_message_free(msg);
    free(k);
}

/* --- writing -------------------------------------------------------------- */

static void conn_fail(struct io_thread *io, struct conn *c)
{
    sb_count(&io->counters, SB_CNT_STREAM_FAILED);
    conn_close(io, c);
}

/* Only bytes that are no CRLF keep-alive or pong (RFC 5626 §4.4.1). */
static bool is_keepalive(const char *data, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (data[i] != '\r' && data[i] != '\n')
            return false;
    return true;
}

/* The trace (if any) gets what @c sends, once its first bytes left, as a
 * TCP segment continuing the connection's byte count; keep-alives are
 * counted, not written. */
static void trace_out(struct io_thread *io, struct conn *c, const char *data, size_t len)
{
    if (io->s->trace && !is_keepalive(data, len)) {
        struct sip_trace_seg seg = {c->trace_out, c->trace_in};
        sip_trace_record(io->s->trace, &c->wire, &c->peer, &seg, data, len);
    }
    c->trace_out += (uint32_t)len;
}

/* Writes what is queued until the socket is full. Returns false when the
 * connection was closed. */
static bool conn_flush(struct io_thread *io, struct conn *c, uint64_t now)
{
    if (c->state < CONN_UPGRADE)
        return true;
    while (c->out_head) {
        struct chunk *k = c->out_head;
        const char *p = k->data + k->off;
        size_t left = k->len - k->off;
        ssize_t n;
        if (c->ssl) {
            ERR_clear_error();
            int r = SSL_write(c->ssl, p, (int)left);
            if (r <= 0) {
                int e = SSL_get_error(c->ssl, r);
                if (e == SSL_ERROR_WANT_WRITE || e == SSL_ERROR_WANT_READ)
                    break;
                conn_fail(io, c);
                return false;
            }
            n = r;
        } else {
            n = send(c->fd, p, left, MSG_NOSIGNAL);
            if (n < 0) {
                if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
                    break;
                conn_fail(io, c);
                return false;
            }
        }
        c->active_ms = now;
        /* a session's frames were traced as messages; HTTP is no SIP */
        if (k->off == 0 && !c->ws && c->state == CONN_OPEN)
            trace_out(io, c, k->data, k->len);
        k->off += (size_t)n;
        queued_add(io->s, c, -(ptrdiff_t)n);
        if (k->off < k->len)
            break;
        c->out_head = k->next;
        if (!c->out_head)
            c->out_tail = NULL;
        free(k);
    }
    if (!c->out_head && c->closing) {
        conn_close(io, c);
        return false;
    }
    bool pending = c->out_head != NULL;
    if (pending != c->want_out)
        epoll_set(io, c, pending);
    return true;
}

/* Which limit queuing @len more bytes on @c would pass: its
 * connection's, its source address's (all its connections) or the
 * transport's; NULL when none. */
static const char *queue_full(const struct stream *s, const struct conn *c, size_t len)
{
    const struct sb_config *cfg = s->cfg;
    size_t ip = c->ip ? atomic_load_explicit(&c->ip->queued, memory_order_relaxed) : 0;
    size_t all = atomic_load_explicit(&s->queued, memory_order_relaxed);
    if (c->out_bytes + len > cfg->tcp_write_queue_limit)
        return "write_queue_limit";
    if (c->ip && ip + len > cfg->tcp_queue_per_ip_limit)
        return "queue_per_ip_limit";
    return all + len > cfg->tcp_queue_total_limit ? "queue_total_limit" : NULL;
}

static void overflow_report(struct io_thread *io, struct conn *c, const char *limit, uint64_t now)
{
    sb_count(&io->counters, SB_CNT_STREAM_OVERFLOWS);
    uint64_t more;
    char peer[64];
    sipmsg_addr_format(&c->peer, peer, sizeof(peer));
    if (sb_log_limiter_ready(&io->overflow_log, now, &more))
        SB_WARN("%s does not read what we send (%zu bytes waiting, past %s): closing its "
                "connection (%llu more since the last report)",
                peer, c->out_bytes, limit, (unsigned long long)more);
}

/* Links @k (taken) at the end of @c's queue, unwritten. */
static void out_link(struct io_thread *io, struct conn *c, struct chunk *k)
{
    k->next = NULL;
    k->off = 0;
    if (c->out_tail)
        c->out_tail->next = k;
    else
        c->out_head = k;
    c->out_tail = k;
    queued_add(io->s, c, (ptrdiff_t)k->len);
}

static bool ws_queue(struct io_thread *io, struct conn *c, struct chunk *k, uint64_t now);

/* Queues @k (taken) on @c. A peer that lets more than the write queue
 * limits pile up does not read: it is dropped, not allowed to grow our
 * memory (nor can one address's many connections, or everyone's
 * together). Returns false when the connection was closed. */
static bool conn_queue(struct io_thread *io, struct conn *c, struct chunk *k, uint64_t now)
{
    if (c->ws)
        return ws_queue(io, c, k, now);
    const char *limit = queue_full(io->s, c, k->len);
    if (limit) {
        overflow_report(io, c, limit, now);
        fail_chunk(io, k);
        conn_close(io, c);
        return false;
    }
    out_link(io, c, k);
    return conn_flush(io, c, now);
}

/* Something the I/O thread says itself: a pong, a 400. Returns false
 * when the connection was closed. */
static bool conn_say(struct io_thread *io, struct conn *c, const char *data, size_t len,
                     uint64_t now)
{
    struct chunk *k = malloc(sizeof(*k) + len);
    if (!k)
        return true;
    memset(k, 0, sizeof(*k));
    k->len = len;
    memcpy(k->data, data, len);
    return conn_queue(io, c, k, now);
}

/* --- connecting ----------------------------------------------------------- */

static bool tls_step(struct io_thread *io, struct conn *c, uint64_t now);

/* Opens a connection for @dest (non-blocking; completion comes as
 * EPOLLOUT). Returns NULL when it cannot even start. */
static struct conn *conn_connect(struct io_thread *io, const struct sb_dest *dest, uint64_t now)
{
    struct stream *s = io->s;
    if ((dest->transport == SB_TLS && !s->tls) || sb_transport_is_ws(dest->transport))
        return NULL; /* a browser is reached over its own connection (RFC 7118 §5) */
    if (atomic_load(&s->connections) >= s->cfg->tcp_max_connections)
        return NULL;
    int fd = socket(dest->peer.ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return NULL;
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof(one));
    /* leave from the interface the target was routed to (net.h) */
    const struct listen_entry *e = &s->listens->entries[dest->local.listen_index];
    struct sb_addr from = dest->local.addr;
    if (from.ss.ss_family == AF_INET)
        ((struct sockaddr_in *)&from.ss)->sin_port = 0;
    else
        ((struct sockaddr_in6 *)&from.ss)->sin6_port = 0;
    (void)e;
    bind(fd, (const struct sockaddr *)&from.ss, from.len); /* a wildcard binds nothing */
    if (connect(fd, (const struct sockaddr *)&dest->peer.ss, dest->peer.len) != 0 &&
        errno != EINPROGRESS) {
        close(fd);
        return NULL;
    }
    struct conn *c = conn_new(io, fd, dest->transport, &dest->peer, &dest->local, now);
    if (!c) {
        close(fd);
        return NULL;
    }
    c->outgoing = true;
    c->state = CONN_CONNECTING;
    struct sb_addr here = {.len = sizeof(here.ss)};
    if (getsockname(fd, (struct sockaddr *)&here.ss, &here.len) == 0)
        c->wire = here; /* the port connect() chose */
    epoll_set(io, c, true);
    sb_count(&io->counters, SB_CNT_STREAM_CONNECTED);
    return c;
}

/* EPOLLOUT on a connection still connecting. Returns false if closed. */
static bool connect_done(struct io_thread *io, struct conn *c, uint64_t now)
{
    int err = 0;
    socklen_t len = sizeof(err);
    if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0 || err != 0) {
        char peer[64];
        sipmsg_addr_format(&c->peer, peer, sizeof(peer));
        SB_DEBUG("cannot connect to %s: %s", peer, strerror(err));
        conn_fail(io, c);
        return false;
    }
    c->started_ms = now;
    if (c->transport == SB_TLS) {
        char host[64];
        sipmsg_addr_host(&c->peer, host, sizeof(host));
        c->ssl = tls_connect_new(io->s->tls, c->fd, host);
        if (!c->ssl) {
            conn_fail(io, c);
            return false;
        }
        c->state = CONN_HANDSHAKE;
        return tls_step(io, c, now);
    }
    c->state = CONN_OPEN;
    c->started_ms = 0;
    return conn_flush(io, c, now);
}

/* Drives a TLS handshake. Returns false if the connection was closed. */
static bool tls_step(struct io_thread *io, struct conn *c, uint64_t now)
{
    ERR_clear_error();
    int r = SSL_do_handshake(c->ssl);
    if (r == 1) {
        c->state = c->outgoing || !sb_transport_is_ws(c->transport) ? CONN_OPEN : CONN_UPGRADE;
        c->started_ms = c->outgoing ? 0 : now; /* an accepted one must now speak */
        return conn_flush(io, c, now);
    }
    int e = SSL_get_error(c->ssl, r);
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
        bool out = e == SSL_ERROR_WANT_WRITE;
        if (out != c->want_out)
            epoll_set(io, c, out);
        return true;
    }
    char peer[64], detail[256];
    sipmsg_addr_format(&c->peer, peer, sizeof(peer));
    SB_DEBUG("TLS handshake with %s failed: %s", peer, tls_last_error(detail, sizeof(detail)));
    conn_fail(io, c);
    return false;
}

/* --- posts from the workers ----------------------------------------------- */

static void handle_post(struct io_thread *io, struct chunk *k, uint64_t now)
{
    struct conn *c = k->dest.conn ? conn_find(io, k->dest.conn) : NULL;
    if (!c && k->dest.flow) {
        fail_chunk(io, k); /* RFC 5626 §5.3: never a new connection for a flow */
        return;
    }
    if (!c)
        c = peer_find(io, &k->dest.peer, k->dest.transport);
    if (!c && !atomic_load(&io->input_stopped))
        c = conn_connect(io, &k->dest, now);
    if (!c) {
        fail_chunk(io, k);
        return;
    }
    conn_queue(io, c, k, now);
}

int stream_post(struct stream *s, const struct sb_dest *dest, const char *data, size_t len,
                bool request)
{
    unsigned thread = dest->conn
                          ? conn_id_thread(dest->conn)
                          : (unsigned)(addr_hash(&dest->peer, dest->transport) % s->thread_count);
    if (thread >= s->thread_count)
        return -1;
    struct chunk *k = malloc(sizeof(*k) + len);
    if (!k)
        return -1;
    memset(k, 0, sizeof(*k));
    k->dest = *dest;
    k->request = request;
    k->len = len;
    memcpy(k->data, data, len);
    if (wakeq_push(s->threads[thread].posts, &k->node) != 0) {
        free(k);
        return -1;
    }
    return (int)thread;
}

void stream_wake(struct stream *s, unsigned thread)
{
    wakeq_wake(s->threads[thread].posts);
}

unsigned stream_thread_count(const struct stream *s)
{
    return s->thread_count;
}

/* --- reading -------------------------------------------------------------- */

/* ingress_ctx.reply: an answer (400 and friends) on the connection the
 * request came over. It may close the connection (a full write queue). */
struct stream_answer {
    struct io_thread *io;
    struct conn *c;
    uint64_t now;
    bool said; /* conn_say() ran: the connection may be gone */
};

static void reply_on(void *arg, const osip_message_t *req, const char *text, size_t len)
{
    (void)req;
    struct stream_answer *a = arg;
    a->said = true;
    conn_say(a->io, a->c, text, len, a->now);
}

/* The ingress step's view of @c, and its answers on it. */
static void conn_ingress(struct io_thread *io, struct conn *c, uint64_t now,
                         struct ingress_origin *from, struct stream_answer *a,
                         struct ingress_ctx *x)
{
    *from = (struct ingress_origin){.src = &c->peer,
                                    .local = &c->local,
                                    .transport = c->transport,
                                    .fd = -1,
                                    .conn = c->id,
                                    .received_ns = sb_now_ns()};
    *a = (struct stream_answer){io, c, now, false};
    *x = (struct ingress_ctx){&io->counters, &io->malformed_log, io->s->reasons, reply_on, a};
}

/* A message too big or without a usable Content-Length: the stream cannot
 * be resynchronised. Answers what the headers allow, then closes. */
static void framing_error(struct io_thread *io, struct conn *c, const struct stream_frame *f,
                          uint64_t now)
{
    const char *why = f->kind == STREAM_FRAME_TOO_BIG ? "message too large"
                      : f->kind == STREAM_FRAME_NO_LENGTH
                          ? "no Content-Length on a stream (RFC 3261 18.3)"
                          : "unusable Content-Length";
    int code = f->kind == STREAM_FRAME_TOO_BIG ? 513 : 400;
    struct ingress_origin from;
    struct stream_answer a;
    struct ingress_ctx x;
    conn_ingress(io, c, now, &from, &a, &x);
    ingress_report_malformed(&x, &from, why, now);
    if (f->header_length) {
        /* the headers alone, as if the body were empty */
        struct ingress got;
        char saved = c->in[f->header_length];
        ingress_parse(c->in, f->header_length, &c->peer, &got);
        c->in[f->header_length] = saved;
        ingress_answer(&x, got.msg, code, why);
        osip_message_free(got.msg);
        free(got.raw_contacts);
    }
    c->closing = true;
    c->in_len = 0;
    conn_flush(io, c, now);
}

/* A new INVITE's 100 (RFC 3261 §16.2) leaves from this thread at once,
 * before the hand-off, written from the INVITE's own lines; the worker's
 * transaction takes it as sent (in->trying). A stream carries no
 * retransmissions to tell apart (§17.1.1.2). Returns false when sending
 * it closed the connection. */
static bool send_trying_early(struct io_thread *io, struct conn *c, struct sb_inbound *in,
                              uint64_t now)
{
    if (!MSG_IS_INVITE(in->msg))
        return true;
    char phrase[64]; /* [reasons] may name it */
    bool ours = reasons_lookup(io->s->reasons, 100, phrase, sizeof(phrase)) == 0;
    char *text;
    size_t len;
    if (ingress_trying(in, ours ? phrase : NULL, &text, &len) != 0)
        return true; /* the worker answers it, as with one that has no bytes */
    in->trying = text;
    in->trying_len = len;
    sb_count(&io->counters, SB_CNT_TRYING_EARLY);
    return conn_say(io, c, text, len, now);
}

/* Returns false when the connection was closed (answering it overflowed
 * its write queue). */
static bool handle_message(struct io_thread *io, struct conn *c, char *buf, size_t len,
                           uint64_t now)
{
    sb_count(&io->counters, SB_CNT_STREAM_MESSAGES);
    if (io->s->trace) {
        struct sip_trace_seg seg = {c->trace_in, c->trace_out};
        sip_trace_record(io->s->trace, &c->peer, &c->wire, &seg, buf, len);
    }
    c->trace_in += (uint32_t)len;
    struct ingress_origin from;
    struct stream_answer a;
    struct ingress_ctx x;
    conn_ingress(io, c, now, &from, &a, &x);
    uint64_t id = c->id;
    char saved = buf[len]; /* ingress_parse writes a NUL there */
    struct sb_inbound *in = ingress_receive(buf, len, &from, &x, now);
    if (a.said && !conn_find(io, id))
        return false; /* answering it overflowed its write queue */
    buf[len] = saved;
    if (in && !send_trying_early(io, c, in, now)) {
        sb_inbound_free(in);
        return false;
    }
    if (in)
        dispatch_inbound(io, in);
    return true;
}

/* Frames and handles what is buffered. Returns false if the connection
 * is to close (or closed). */
static bool conn_frames(struct io_thread *io, struct conn *c, uint64_t now)
{
    size_t off = 0;
    while (off < c->in_len) {
        struct stream_frame f;
        stream_frame_next(c->in + off, c->in_len - off, &c->scan, &f);
        if (f.kind == STREAM_FRAME_MORE)
            break;
        c->scan = (struct stream_scan){0};
        if (f.kind == STREAM_FRAME_PING) {
            sb_count(&io->counters, SB_CNT_KEEPALIVES);
            c->trace_in += (uint32_t)f.skip;
            if (!conn_say(io, c, "\r\n", 2, now)) /* the pong, RFC 5626 §4.4.1 */
                return false;
            off += f.skip;
            /* keep-alives keep a connection that has spoken; one that only
             * pings still owes its first message within header_timeout */
            if (c->spoke)
                c->started_ms = 0;
            continue;
        }
        if (f.kind == STREAM_FRAME_PONG) {
            c->trace_in += (uint32_t)f.skip;
            off += f.skip;
            continue;
        }
        if (f.kind != STREAM_FRAME_MESSAGE) {
            if (off) {
                memmove(c->in, c->in + off, c->in_len - off);
                c->in_len -= off;
            }
            framing_error(io, c, &f, now);
            return false;
        }
        if (!handle_message(io, c, c->in + off, f.length, now))
            return false;
        off += f.length;
        c->started_ms = 0;
        c->spoke = true;
    }
    if (off) {
        memmove(c->in, c->in + off, c->in_len - off);
        c->in_len -= off;
    }
    if (c->in_len == 0) {
        free(c->in); /* an idle connection keeps no buffer */
        c->in = NULL;
        c->in_cap = 0;
    } else if (!c->started_ms) {
        c->started_ms = now; /* part of a message: it must complete in time */
    }
    return true;
}

/* Reads up to @size bytes. Returns the count, 0 at the end, -1 when
 * nothing is there now, -2 on an error. */
static ssize_t conn_read(struct io_thread *io, struct conn *c, char *buf, size_t size)
{
    if (c->ssl) {
        ERR_clear_error();
        int r = SSL_read(c->ssl, buf, (int)size);
        if (r > 0)
            return r;
        int e = SSL_get_error(c->ssl, r);
        if (e == SSL_ERROR_WANT_READ)
            return -1;
        if (e == SSL_ERROR_WANT_WRITE) {
            if (!c->want_out)
                epoll_set(io, c, true);
            return -1;
        }
        return e == SSL_ERROR_ZERO_RETURN ? 0 : -2;
    }
    ssize_t n = recv(c->fd, buf, size, 0);
    if (n >= 0)
        return n;
    return (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) ? -1 : -2;
}

static bool conn_append(struct conn *c, const char *data, size_t n)
{
    if (c->in_len + n + 1 > c->in_cap) {
        size_t cap = c->in_len + n + 1;
        if (cap < 1024)
            cap = 1024;
        char *in = realloc(c->in, cap);
        if (!in)
            return false;
        c->in = in;
        c->in_cap = cap;
    }
    memcpy(c->in + c->in_len, data, n);
    c->in_len += n;
    return true;
}

/* --- WebSocket (RFC 6455, RFC 7118) ------------------------------------------ */

/* ws_write_fn: a frame of @c's session (a message, a pong, the close),
 * queued unwritten; conn_flush writes it once the session returned. */
static bool ws_out(void *ctx, const char *data, size_t len)
{
    struct conn *c = ctx;
    c->ws_limit = queue_full(c->io->s, c, len);
    if (c->ws_limit)
        return false;
    struct chunk *k = malloc(sizeof(*k) + len);
    if (!k) {
        c->ws_limit = "memory";
        return false;
    }
    memset(k, 0, sizeof(*k));
    k->len = len;
    memcpy(k->data, data, len);
    out_link(c->io, c, k);
    return true;
}

/* After the session ran: writes what it queued, closes when it failed
 * (the peer does not read) or once a close frame went out. Returns false
 * when the connection was closed. */
static bool ws_settle(struct io_thread *io, struct conn *c, enum ws_state st, uint64_t now)
{
    if (st == WS_FAILED) {
        if (c->ws_limit)
            overflow_report(io, c, c->ws_limit, now);
        conn_fail(io, c);
        return false;
    }
    if (st == WS_CLOSING)
        c->closing = true;
    return conn_flush(io, c, now);
}

/* @k (taken) for a WebSocket peer: one message (RFC 7118 §5.1). */
static bool ws_queue(struct io_thread *io, struct conn *c, struct chunk *k, uint64_t now)
{
    trace_out(io, c, k->data, k->len);
    enum ws_state st = ws_session_send(c->ws, k->data, k->len);
    if (st == WS_OPEN)
        free(k);
    else
        fail_chunk(io, k);
    return ws_settle(io, c, st, now);
}

/* One message from a browser: a SIP message, or a CRLF keep-alive
 * carried in one (answered like a stream's, RFC 5626 §4.4.1). Returns
 * false when the connection was closed. */
static bool ws_message(struct io_thread *io, struct conn *c, char *msg, size_t len, uint64_t now)
{
    if (is_keepalive(msg, len)) {
        c->trace_in += (uint32_t)len;
        if (len >= 4) {
            sb_count(&io->counters, SB_CNT_KEEPALIVES);
            if (!conn_say(io, c, "\r\n", 2, now))
                return false;
        }
        if (c->spoke)
            c->started_ms = 0;
        return true;
    }
    if (!handle_message(io, c, msg, len, now))
        return false;
    c->started_ms = 0;
    c->spoke = true;
    return true;
}

/* Bytes read on an upgraded connection. */
static bool ws_feed(struct io_thread *io, struct conn *c, const char *data, size_t len,
                    uint64_t now)
{
    enum ws_state st = ws_session_feed(c->ws, data, len);
    char *msg;
    size_t n;
    while (ws_session_next(c->ws, &msg, &n))
        if (!ws_message(io, c, msg, n, now))
            return false;
    return ws_settle(io, c, st, now);
}

/* An HTTP answer instead of the upgrade, then the connection closes. */
static bool ws_refuse(struct io_thread *io, struct conn *c, int status, const char *why,
                      uint64_t now)
{
    sb_count(&io->counters, SB_CNT_STREAM_REFUSED);
    uint64_t more;
    if (sb_log_limiter_ready(&io->refuse_log, now, &more)) {
        char peer[64];
        sipmsg_addr_format(&c->peer, peer, sizeof(peer));
        SB_WARN("refusing a WebSocket from %s: %d %s (%llu more since the last report)", peer,
                status, why, (unsigned long long)more);
    }
    char text[512];
    size_t n = ws_http_error(status, why, text, sizeof(text));
    c->closing = true;
    c->in_len = 0;
    return n ? conn_say(io, c, text, n, now) : conn_flush(io, c, now);
}

static bool ws_upgrade(struct io_thread *io, struct conn *c, uint64_t now);

/* Sends @len bytes answering the request @r, then waits for the page's
 * next request (HTTP/1.1 keep-alive) until header_timeout passes without
 * one, or reads the upgrade already behind it. Takes @out. */
static bool ws_answer(struct io_thread *io, struct conn *c, const struct ws_request *r, char *out,
                      size_t len, uint64_t now)
{
    if (!out) {
        conn_close(io, c);
        return false;
    }
    bool open = conn_say(io, c, out, len, now);
    free(out);
    if (!open)
        return false;
    memmove(c->in, c->in + r->length, c->in_len - r->length);
    c->in_len -= r->length;
    c->started_ms = now; /* the next request, or the upgrade, within header_timeout */
    return c->in_len == 0 || ws_upgrade(io, c, now);
}

/* A page's file, from memory ([ws] web_dir, read at start-up: no disk
 * here), or the office directory. */
static bool ws_serve(struct io_thread *io, struct conn *c, const struct ws_request *r, uint64_t now)
{
    if (ws_directory_wanted(r)) {
        struct sb_buf b = {0};
        ws_directory_reply(&io->s->directory, r, &c->peer, &b);
        if (b.failed)
            sb_buf_free(&b); /* data NULL: the connection closes */
        return ws_answer(io, c, r, b.data, b.len, now);
    }
    static const struct webdir_file none = {"", "text/plain; charset=utf-8", "no such file\n", 13};
    const struct webdir_file *f = webdir_find(io->s->web, r->path);
    bool html = f && !strncmp(f->type, "text/html", 9);
    if (!f)
        f = &none;
    char head[768];
    int n = snprintf(head, sizeof(head),
                     "HTTP/1.1 %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
                     "Cache-Control: no-cache\r\nX-Content-Type-Options: nosniff\r\n"
                     "Referrer-Policy: no-referrer\r\n%s\r\n",
                     f == &none ? "404 Not Found" : "200 OK", f->type, f->len,
                     html ? "Content-Security-Policy: default-src 'self'; connect-src 'self' "
                            "ws: wss:; img-src 'self' data:; media-src 'self' blob:\r\n"
                          : "");
    size_t body = r->head ? 0 : f->len;
    char *out = malloc((size_t)n + body);
    if (out) {
        memcpy(out, head, (size_t)n);
        memcpy(out + n, f->data, body);
    }
    return ws_answer(io, c, r, out, (size_t)n + body, now);
}

/* The opening handshake (RFC 6455 §4.2), once its headers are in: the
 * 101, then the session reads what came after them. A plain GET is a
 * request for the page. */
static bool ws_upgrade(struct io_thread *io, struct conn *c, uint64_t now)
{
    struct ws_request r;
    ws_request_parse(c->in, c->in_len, &r);
    if (r.kind == WS_REQUEST_MORE)
        return true;
    if (r.kind == WS_REQUEST_GET)
        return ws_serve(io, c, &r, now);
    if (r.kind == WS_REQUEST_BAD)
        return ws_refuse(io, c, r.status, r.why, now);
    if (!ws_origin_allowed(&r, io->s->cfg->ws_allowed_origins))
        return ws_refuse(io, c, 403, "a page from this Origin may not ([ws] allowed_origins)", now);
    char text[512];
    size_t n = ws_accept_response(&r, text, sizeof(text));
    if (!n || !conn_say(io, c, text, n, now)) /* raw: no session yet */
        return false;
    if (ws_session_new(STREAM_FRAME_MAX, ws_out, c, &c->ws) != 0) {
        conn_close(io, c);
        return false;
    }
    c->state = CONN_OPEN;
    c->started_ms = now; /* its first SIP message is due within header_timeout */
    char *in = c->in;
    size_t rest = c->in_len - r.length;
    c->in = NULL;
    c->in_len = c->in_cap = 0;
    bool open = rest == 0 || ws_feed(io, c, in + r.length, rest, now);
    free(in);
    return open;
}

/* Bytes read on a ws: or wss: connection: a request's, or frames. */
static bool ws_readable(struct io_thread *io, struct conn *c, const char *data, size_t len,
                        uint64_t now)
{
    if (c->ws)
        return ws_feed(io, c, data, len, now);
    if (!conn_append(c, data, len)) {
        conn_close(io, c);
        return false;
    }
    return ws_upgrade(io, c, now);
}

static void conn_readable(struct io_thread *io, struct conn *c, uint64_t now)
{
    for (int rounds = 0; rounds < 16; rounds++) {
        ssize_t n = conn_read(io, c, io->scratch, READ_CHUNK);
        if (n == -1)
            return;
        if (n <= 0) {
            if (n == -2)
                sb_count(&io->counters, SB_CNT_STREAM_FAILED);
            conn_close(io, c); /* the peer closed, or reset */
            return;
        }
        c->active_ms = now;
        if (c->ws || c->state == CONN_UPGRADE) {
            if (!ws_readable(io, c, io->scratch, (size_t)n, now))
                return;
        } else {
            if (!conn_append(c, io->scratch, (size_t)n)) {
                conn_close(io, c);
                return;
            }
            if (!conn_frames(io, c, now))
                return;
        }
        if ((size_t)n < READ_CHUNK && !(c->ssl && SSL_pending(c->ssl)))
            return;
    }
}

/* --- accepting ------------------------------------------------------------ */

static void refuse(struct io_thread *io, int fd, const struct sb_addr *peer, const char *why,
                   uint64_t now)
{
    sb_count(&io->counters, SB_CNT_STREAM_REFUSED);
    /* a reset, not a polite close: the peer learns at once */
    struct linger lg = {.l_onoff = 1, .l_linger = 0};
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
    close(fd);
    uint64_t more;
    if (sb_log_limiter_ready(&io->refuse_log, now, &more)) {
        char text[64];
        sipmsg_addr_format(peer, text, sizeof(text));
        SB_WARN("refusing a connection from %s: %s (%llu more since the last report)", text, why,
                (unsigned long long)more);
    }
}

static void accept_on(struct io_thread *io, unsigned index, uint64_t now)
{
    struct stream *s = io->s;
    const struct listen_entry *e = &s->listens->entries[index];
    for (int i = 0; i < 64; i++) {
        struct sb_addr peer = {.len = sizeof(peer.ss)};
        int fd = accept4(io->listen_fds[index], (struct sockaddr *)&peer.ss, &peer.len,
                         SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EMFILE || errno == ENFILE) {
                uint64_t more;
                if (sb_log_limiter_ready(&io->refuse_log, now, &more))
                    SB_WARN("cannot accept on %s: %s", e->name, strerror(errno));
            }
            return;
        }
        if (atomic_load(&s->connections) >= s->cfg->tcp_max_connections) {
            refuse(io, fd, &peer, "connection limit reached ([tcp] max_connections)", now);
            continue;
        }
        struct stream_ip *ip = stream_ips_take(s->ips, &peer, s->cfg->tcp_max_per_ip);
        if (!ip) {
            refuse(io, fd, &peer, "too many connections from it ([tcp] max_per_ip)", now);
            continue;
        }
        struct sb_local local = {.listen_index = index, .addr = e->addr};
        if (e->wildcard) {
            struct sb_addr here = {.len = sizeof(here.ss)};
            if (getsockname(fd, (struct sockaddr *)&here.ss, &here.len) == 0)
                local.addr = here;
        }
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        struct conn *c = conn_new(io, fd, e->transport, &peer, &local, now);
        if (!c) {
            stream_ips_release(s->ips, ip);
            refuse(io, fd, &peer, "this I/O thread is out of connection slots", now);
            continue;
        }
        c->ip = ip;
        sb_count(&io->counters, SB_CNT_STREAM_ACCEPTED);
        if (sb_transport_is_tls(e->transport)) {
            c->ssl = tls_accept_new(s->tls, fd);
            c->state = CONN_HANDSHAKE;
            if (!c->ssl)
                conn_fail(io, c);
        } else {
            c->state = e->transport == SB_WS ? CONN_UPGRADE : CONN_OPEN;
        }
    }
}

/* --- the loop --------------------------------------------------------------- */

static void conn_event(struct io_thread *io, uint64_t id, uint32_t events, uint64_t now)
{
    struct conn *c = conn_find(io, id);
    if (!c)
        return; /* closed earlier in this batch */
    if (c->state == CONN_CONNECTING) {
        if (events & (EPOLLOUT | EPOLLERR | EPOLLHUP))
            connect_done(io, c, now);
        return;
    }
    if (c->state == CONN_HANDSHAKE) {
        if (!atomic_load(&io->input_stopped) || c->outgoing)
            tls_step(io, c, now);
        return;
    }
    if ((events & EPOLLOUT) && !conn_flush(io, c, now))
        return;
    if ((events & (EPOLLIN | EPOLLHUP | EPOLLERR)) && !atomic_load(&io->input_stopped))
        conn_readable(io, c, now);
    else if ((events & EPOLLERR) && conn_find(io, id))
        conn_fail(io, c);
}

/* Closes what timed out: a connect or handshake past its bound, a message
 * that takes too long to arrive (slowloris), a connection idle too long. */
static void sweep(struct io_thread *io, uint64_t now)
{
    const struct sb_config *cfg = io->s->cfg;
    uint64_t header_ms = (uint64_t)cfg->tcp_header_timeout * 1000u;
    struct conn *next;
    for (struct conn *c = io->all; c; c = next) {
        next = c->all_next;
        /* ours wait for connect() and the handshake; an open one, or one
         * that connected to us, for the message under way */
        uint64_t bound =
            c->outgoing && c->state != CONN_OPEN ? cfg->tcp_connect_timeout_ms : header_ms;
        bool slow = c->started_ms && now - c->started_ms > bound;
        bool idle = now - c->active_ms > (uint64_t)cfg->tcp_idle_timeout * 1000u;
        if (slow || idle) {
            sb_count(&io->counters, SB_CNT_STREAM_TIMEOUTS);
            conn_close(io, c);
        }
    }
}

static void listen_stop(struct io_thread *io)
{
    if (!io->listening)
        return;
    io->listening = false;
    for (size_t i = 0; i < io->s->listens->count; i++)
        if (io->listen_fds[i] >= 0)
            epoll_ctl(io->epfd, EPOLL_CTL_DEL, io->listen_fds[i], NULL);
}

static bool take_posts(struct io_thread *io, struct wakeq_batch *batch, uint64_t now)
{
    if (!wakeq_take(io->posts, batch))
        return false;
    size_t handled = 0;
    struct cds_wfcq_node *node;
    while ((node = wakeq_batch_pop(batch)) != NULL) {
        handle_post(io, caa_container_of(node, struct chunk, node), now);
        handled++;
    }
    wakeq_done(io->posts, handled);
    return true;
}

static void wake_workers(struct io_thread *io)
{
    for (unsigned w = 0; w < io->s->workers; w++) {
        if (io->touched[w]) {
            io->touched[w] = false;
            dispatch_wake(io->s->dispatch, w);
        }
    }
}

static bool anything_to_write(const struct io_thread *io)
{
    for (const struct conn *c = io->all; c; c = c->all_next)
        if (c->out_head)
            return true;
    return false;
}

/* Shutdown: what the workers posted last is written (for DRAIN_MS at
 * most), then every connection closes. */
static void drain_and_close(struct io_thread *io, struct wakeq_batch *batch)
{
    uint64_t end = sb_now_ms() + DRAIN_MS;
    struct epoll_event events[EVENTS];
    io->draining = true;
    for (;;) {
        uint64_t now = sb_now_ms();
        take_posts(io, batch, now);
        if (!anything_to_write(io) || now >= end)
            break;
        int n = epoll_wait(io->epfd, events, EVENTS, 50);
        for (int i = 0; i < n; i++)
            if (events[i].data.u64 > TAG_LISTEN(SB_MAX_LISTEN))
                conn_event(io, events[i].data.u64, events[i].events & ~EPOLLIN, now);
    }
    while (io->all)
        conn_close(io, io->all);
    wake_workers(io);
}

static void *io_main(void *arg)
{
    struct io_thread *io = arg;
    struct wakeq_batch batch;
    struct epoll_event events[EVENTS];
    uint64_t next_sweep = sb_now_ms() + 1000;
    sb_thread_mark_sip();
    rcu_register_thread(); /* reasons_apply reads an RCU pointer */
    wakeq_batch_init(&batch);
    for (;;) {
        uint64_t now = sb_now_ms();
        bool busy = take_posts(io, &batch, now);
        if (wakeq_stopping(io->posts))
            break;
        if (atomic_load(&io->input_stopped))
            listen_stop(io);
        int timeout = busy || !wakeq_sleep_begin(io->posts) ? 0 : 1000;
        int n = epoll_wait(io->epfd, events, EVENTS, timeout);
        if (timeout)
            wakeq_sleep_end(io->posts);
        now = sb_now_ms();
        for (int i = 0; i < n; i++) {
            uint64_t tag = events[i].data.u64;
            if (tag == TAG_WAKE)
                continue; /* the posts are taken at the top */
            if (tag <= TAG_LISTEN(SB_MAX_LISTEN) && (tag & ((1u << THREAD_BITS) - 1)) == 0)
                accept_on(io, (unsigned)(tag >> THREAD_BITS) - 1, now);
            else
                conn_event(io, tag, events[i].events, now);
        }
        wake_workers(io);
        if (now >= next_sweep) {
            sweep(io, now);
            next_sweep = now + 1000;
        }
    }
    listen_stop(io);
    drain_and_close(io, &batch);
    wakeq_batch_fini(&batch);
    rcu_unregister_thread();
    return NULL;
}

/* --- set-up ------------------------------------------------------------------ */

/* listen_prepare_fn: an IPv6 address for IPv6 only. */
static int prepare_listen_socket(int fd, const struct listen_entry *e)
{
    int one = 1;
    if (e->addr.ss.ss_family == AF_INET6)
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
    return 0;
}

/* One listen socket per I/O thread on listen address @index. */
static int listen_open(struct stream *s, unsigned index)
{
    int *fds = malloc(s->thread_count * sizeof(*fds));
    if (!fds)
        return SB_ENOMEM;
    int rc = listen_open_group(&s->listens->entries[index], SOCK_STREAM | SOCK_NONBLOCK,
                               s->thread_count, fds, prepare_listen_socket);
    for (unsigned t = 0; t < s->thread_count; t++)
        s->threads[t].listen_fds[index] = fds[t];
    free(fds);
    return rc;
}

/* Where a thread's connection numbers start: random, so that the ids a
 * Record-Route's flow token or a stored binding kept from an earlier
 * process never name a connection of this one (seq has 36 bits; a new
 * process meets an old id with odds of 2^-35 per id). Never 0: an id
 * must not look like a listener's epoll tag. */
static uint64_t first_seq(void)
{
    uint64_t seq = 0;
    if (getrandom(&seq, sizeof(seq), 0) != sizeof(seq))
        seq = (uint64_t)sb_now_ns();
    return (seq & ((UINT64_C(1) << (63 - SLOT_BITS - THREAD_BITS)) - 1)) | 1;
}

static int thread_init(struct stream *s, struct io_thread *io, unsigned index)
{
    io->s = s;
    io->index = index;
    io->seq = first_seq();
    io->epfd = -1;
    for (size_t i = 0; i < SB_MAX_LISTEN; i++)
        io->listen_fds[i] = -1;
    io->slots = calloc(s->slots_per_thread, sizeof(*io->slots));
    io->live = calloc(s->slots_per_thread, sizeof(*io->live));
    io->free_slots = malloc(s->slots_per_thread * sizeof(*io->free_slots));
    io->scratch = malloc(READ_CHUNK);
    if (!io->slots || !io->live || !io->free_slots || !io->scratch)
        return SB_ENOMEM;
    for (uint32_t i = 0; i < s->slots_per_thread; i++)
        io->free_slots[i] = s->slots_per_thread - 1 - i;
    io->free_count = s->slots_per_thread;
    atomic_init(&io->input_stopped, false);
    io->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (io->epfd < 0)
        return SB_ESYS;
    return wakeq_create(POSTS_PER_THREAD, &io->posts);
}

static int tls_open(struct stream *s, const struct sb_config *cfg)
{
    struct tls_options o = {
        .certificate = cfg->tls_certificate,
        .key = cfg->tls_key,
        .ca = cfg->tls_ca,
        .verify_client = cfg->tls_verify_client,
    };
    return tls_create(&o, &s->tls);
}

/* The page ws: and wss: serve, read now: [ws] web_dir, or the one built
 * with the program (web/phone). Only a web_dir given in the settings
 * must be there; without the default one, browsers' SIP still works. */
static int web_open(struct stream *s, const struct sb_config *cfg)
{
    const char *dir = cfg->ws_web_dir ? cfg->ws_web_dir : SB_PHONE_DIR;
    char err[512];
    int rc = webdir_load(dir, &s->web, err, sizeof(err));
    if (rc == 0) {
        SB_INFO("ws: serving the phone page from %s (%zu files)", dir, webdir_count(s->web));
        return 0;
    }
    if (cfg->ws_web_dir) {
        SB_ERROR("[ws] web_dir: %s", err);
        return rc;
    }
    SB_INFO("ws: no phone page to serve (%s)", err);
    return 0;
}

int stream_create(const struct sb_config *cfg, struct listen_table *listens, struct stream **out)
{
    struct stream *s = calloc(1, sizeof(*s));
    if (!s)
        return SB_ENOMEM;
    s->cfg = cfg;
    s->listens = listens;
    atomic_init(&s->connections, 0);
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    s->thread_count = cfg->tcp_threads ? cfg->tcp_threads : (unsigned)(cpus > 0 ? cpus : 1);
    if (s->thread_count > (1u << THREAD_BITS) - 1)
        s->thread_count = (1u << THREAD_BITS) - 1;
    uint64_t per = cfg->tcp_max_connections / s->thread_count + 64;
    s->slots_per_thread = (uint32_t)(per < SLOT_MAX ? per : SLOT_MAX);
    s->threads = aligned_alloc(64, ((s->thread_count * sizeof(struct io_thread) + 63) / 64) * 64);
    int rc = s->threads ? stream_ips_create(&s->ips) : SB_ENOMEM;
    if (s->threads)
        memset(s->threads, 0, s->thread_count * sizeof(struct io_thread));
    for (unsigned i = 0; rc == 0 && i < s->thread_count; i++)
        rc = thread_init(s, &s->threads[i], i);
    if (rc == 0 && (listen_has(listens, SB_TLS) || listen_has(listens, SB_WSS)))
        rc = tls_open(s, cfg);
    if (rc == 0 && (listen_has(listens, SB_WS) || listen_has(listens, SB_WSS)))
        rc = web_open(s, cfg);
    for (size_t i = 0; rc == 0 && i < listens->count; i++)
        if (listens->entries[i].transport != SB_UDP)
            rc = listen_open(s, (unsigned)i);
    if (rc != 0) {
        stream_destroy(s);
        return rc;
    }
    *out = s;
    return 0;
}

static void release_chunk(struct cds_wfcq_node *node)
{
    free(caa_container_of(node, struct chunk, node));
}

void stream_destroy(struct stream *s)
{
    if (!s)
        return;
    for (unsigned i = 0; s->threads && i < s->thread_count; i++) {
        struct io_thread *io = &s->threads[i];
        while (io->all)
            conn_close(io, io->all);
        for (size_t j = 0; j < SB_MAX_LISTEN; j++)
            if (io->listen_fds[j] >= 0)
                close(io->listen_fds[j]);
        if (io->epfd >= 0)
            close(io->epfd);
        wakeq_destroy(io->posts, release_chunk);
        free(io->slots);
        free(io->live);
        free(io->free_slots);
        free(io->scratch);
        free(io->touched);
    }
    free(s->threads);
    tls_destroy(s->tls);
    webdir_free(s->web);
    stream_ips_destroy(s->ips);
    free(s);
}

void stream_set_office(struct stream *s, struct auth *auth, struct dialplan_holder *plans)
{
    s->directory.auth = auth;
    s->directory.plans = plans;
}

int stream_start(struct stream *s, struct dispatch *d, struct sip_trace *trace,
                 struct reasons *reasons)
{
    s->dispatch = d;
    s->trace = trace;
    s->reasons = reasons;
    s->workers = dispatch_worker_count(d);
    for (unsigned i = 0; i < s->thread_count; i++) {
        struct io_thread *io = &s->threads[i];
        io->touched = calloc(s->workers, sizeof(bool));
        if (!io->touched)
            return SB_ENOMEM;
        struct epoll_event ev = {.events = EPOLLIN, .data.u64 = TAG_WAKE};
        if (epoll_ctl(io->epfd, EPOLL_CTL_ADD, wakeq_fd(io->posts), &ev) != 0)
            return SB_ESYS;
        for (size_t j = 0; j < s->listens->count; j++) {
            if (io->listen_fds[j] < 0)
                continue;
            ev = (struct epoll_event){.events = EPOLLIN, .data.u64 = TAG_LISTEN(j)};
            if (epoll_ctl(io->epfd, EPOLL_CTL_ADD, io->listen_fds[j], &ev) != 0)
                return SB_ESYS;
        }
        io->listening = true;
        int rc = pthread_create(&io->thread, NULL, io_main, io);
        if (rc != 0) {
            SB_ERROR("cannot start an I/O thread: %s", strerror(rc));
            return SB_ESYS;
        }
        io->running = true;
    }
    return 0;
}

void stream_stop_input(struct stream *s)
{
    for (unsigned i = 0; i < s->thread_count; i++) {
        atomic_store(&s->threads[i].input_stopped, true);
        wakeq_kick(s->threads[i].posts); /* a flag, not a queued post */
    }
}

void stream_stop(struct stream *s)
{
    for (unsigned i = 0; i < s->thread_count; i++)
        wakeq_stop(s->threads[i].posts);
    for (unsigned i = 0; i < s->thread_count; i++) {
        if (s->threads[i].running)
            pthread_join(s->threads[i].thread, NULL);
        s->threads[i].running = false;
    }
}

size_t stream_connection_count(const struct stream *s)
{
    return s ? atomic_load((atomic_size_t *)&s->connections) : 0;
}

void stream_counters(const struct stream *s, uint64_t total[SB_CNT_COUNT])
{
    for (unsigned i = 0; s && i < s->thread_count; i++)
        sb_counters_accumulate(total, &s->threads[i].counters);
}
