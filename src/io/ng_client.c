/* An rtpengine ng client owned by one worker. See ng_client.h. */
#include "switchboard/ng_client.h"

#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "switchboard/bencode.h"
#include "switchboard/buf.h"
#include "switchboard/error.h"
#include "switchboard/log.h"
#include "switchboard/proxy.h"
#include "switchboard/stats.h"
#include "switchboard/types.h"
#include "switchboard/timer_wheel.h"

#define BUCKETS 1024 /* pending requests, by sequence number */
#define REPLY_MAX 65536
#define READ_BATCH 4       /* replies taken by one recvmmsg */
#define DATAGRAM_MAX 65507 /* a UDP datagram's payload over IPv4 */
#define REPLY_NODES 4096   /* a delete's reply carries every stream's figures */

struct request {
    struct request *next, **pprev;
    struct ng_client *c;
    uint64_t seq;
    unsigned engine;
    unsigned tries_left;
    unsigned timeout_ms;
    bool unhurried;    /* not polled for yet (ng_client_unhurried) */
    uint64_t retry_at; /* the retry timer's time once it is polled for */
    uint64_t sent_ns;  /* first sent */
    ng_done_fn done;   /* NULL: a ping of ours */
    void *arg;
    struct timer retry;
    size_t len;
    char data[]; /* the datagram, cookie and all */
};

struct engine {
    struct ng_engine e;
    struct ng_client *c;
    unsigned index;
    int fd;
    bool down;        /* this client pings it (it gave up on a request) */
    atomic_bool *out; /* every client's view: taken out of new calls */
    struct timer ping;
};

struct ng_client {
    struct timer_wheel *wheel;
    uint32_t instance;
    struct ng_client_config cfg;
    uint64_t seq;
    size_t count;
    struct engine *engines;
    struct request *pending[BUCKETS];
    size_t waiting;       /* requests with a caller (pings aside) */
    size_t unhurried;     /* of which not polled for yet */
    struct ng_health own; /* when the config names none */
    char *buf;            /* one reply */
    struct bencode_node *nodes;
};

static void request_free(struct request *r)
{
    timer_cancel(&r->retry);
    if (r->done)
        r->c->waiting--;
    if (r->unhurried)
        r->c->unhurried--;
    if (r->pprev) {
        *r->pprev = r->next;
        if (r->next)
            r->next->pprev = r->pprev;
    }
    free(r);
}

static struct request *request_find(struct ng_client *c, uint64_t seq)
{
    for (struct request *r = c->pending[seq % BUCKETS]; r; r = r->next)
        if (r->seq == seq)
            return r;
    return NULL;
}

static void transmit(struct ng_client *c, struct request *r)
{
    if (send(c->engines[r->engine].fd, r->data, r->len, MSG_DONTWAIT) < 0)
        SB_DEBUG("rtpengine %s: %s", c->engines[r->engine].e.name, strerror(errno));
    uint64_t now = timer_wheel_now(c->wheel);
    r->retry_at = now + r->timeout_ms;
    /* an unhurried request's timer first ends its unhurried time */
    timer_schedule(c->wheel, &r->retry, r->unhurried ? now + NG_UNHURRIED_MS : r->retry_at);
}

static void read_engine(struct ng_client *c, unsigned i);

/* An unhurried request @r is NG_UNHURRIED_MS old: its reply, if it came
 * meanwhile, is taken now; else it is polled for, and retried, as any. */
static void end_unhurried(struct ng_client *c, struct request *r)
{
    uint64_t seq = r->seq;
    r->unhurried = false;
    c->unhurried--;
    read_engine(c, r->engine); /* may answer and free @r */
    r = request_find(c, seq);
    if (r)
        timer_schedule(c->wheel, &r->retry, r->retry_at);
}

static void schedule_ping(struct ng_client *c, struct engine *e)
{
    timer_schedule(c->wheel, &e->ping, timer_wheel_now(c->wheel) + c->cfg.ping_ms);
}

static void engine_down(struct ng_client *c, unsigned i)
{
    struct engine *e = &c->engines[i];
    if (!atomic_exchange(e->out, true))
        SB_WARN("rtpengine %s does not answer: new calls go to the others", e->e.name);
    if (e->down)
        return;
    e->down = true;
    schedule_ping(c, e);
}

static void on_retry(struct timer *t, void *arg)
{
    (void)t;
    struct request *r = arg;
    struct ng_client *c = r->c;
    if (r->unhurried) {
        end_unhurried(c, r);
        return;
    }
    if (r->tries_left > 0) {
        r->tries_left--;
        r->timeout_ms *= 2;
        transmit(c, r);
        return;
    }
    ng_done_fn done = r->done;
    void *done_arg = r->arg;
    unsigned engine = r->engine;
    request_free(r);
    if (!done) { /* our ping went unanswered: it stays down, pinged again */
        schedule_ping(c, &c->engines[engine]);
        return;
    }
    engine_down(c, engine);
    done(done_arg, SB_ETIMEDOUT, NULL);
}

/* Queues and sends datagram "COOKIE BODY" to engine @engine. */
static struct request *request_new(struct ng_client *c, unsigned engine, const char *body,
                                   size_t len, bool unhurried)
{
    char cookie[24];
    size_t head = ng_cookie(cookie, sizeof(cookie), c->instance, ++c->seq);
    struct request *r = calloc(1, sizeof(*r) + head + 1 + len);
    if (!r)
        return NULL;
    r->c = c;
    r->seq = c->seq;
    r->engine = engine;
    r->tries_left = c->cfg.tries - 1;
    r->timeout_ms = c->cfg.timeout_ms;
    r->sent_ns = sb_now_ns();
    /* a first timeout within the unhurried time: polled for at once */
    r->unhurried = unhurried && r->timeout_ms > NG_UNHURRIED_MS;
    c->unhurried += r->unhurried;
    memcpy(r->data, cookie, head);
    r->data[head] = ' ';
    memcpy(r->data + head + 1, body, len);
    r->len = head + 1 + len;
    timer_init(&r->retry, on_retry, r);
    struct request **head_p = &c->pending[r->seq % BUCKETS];
    r->next = *head_p;
    if (r->next)
        r->next->pprev = &r->next;
    r->pprev = head_p;
    *head_p = r;
    transmit(c, r);
    return r;
}

/* A DOWN engine's ping: "d7:command4:pinge", answered "pong". */
static void on_ping(struct timer *t, void *arg)
{
    (void)t;
    struct engine *e = arg;
    static const char ping[] = "d7:command4:pinge";
    if (!request_new(e->c, e->index, ping, sizeof(ping) - 1, false))
        schedule_ping(e->c, e); /* no memory now: later */
}

int ng_client_send(struct ng_client *c, unsigned engine, const struct sb_buf *body,
                   enum ng_pace pace, ng_done_fn done, void *arg, uint64_t *id)
{
    if (engine >= c->count || !body || body->failed || !body->data || !done)
        return SB_EINVAL;
    /* one datagram or nothing: send() would drop it unseen, the request
     * time out, and the engine be taken out of every call for one
     * stranger's oversized SDP */
    if (body->len + 26 > DATAGRAM_MAX) /* the cookie (25 at most) and a space */
        return SB_ELIMIT;
    struct request *r = request_new(c, engine, body->data, body->len, pace == NG_UNHURRIED);
    if (!r)
        return SB_ENOMEM;
    r->done = done;
    r->arg = arg;
    c->waiting++;
    *id = r->seq;
    return 0;
}

void ng_client_cancel(struct ng_client *c, uint64_t id)
{
    struct request *r = request_find(c, id);
    if (r && r->done)
        request_free(r);
}

/* The sequence number in a cookie of ours ("INSTANCE-SEQ", hex), or 0. */
static uint64_t cookie_seq(const struct ng_client *c, const char *cookie, size_t len)
{
    char want[10], text[24];
    int n = snprintf(want, sizeof(want), "%08" PRIx32 "-", c->instance);
    if (len >= sizeof(text) || len <= (size_t)n || memcmp(cookie, want, (size_t)n) != 0)
        return 0;
    memcpy(text, cookie + n, len - (size_t)n);
    text[len - (size_t)n] = '\0';
    char *end;
    unsigned long long seq = strtoull(text, &end, 16);
    return *end ? 0 : seq;
}

/* One datagram @buf[0..len) from engine @i. */
static void take_reply(struct ng_client *c, unsigned i, const char *buf, size_t len)
{
    struct ng_reply reply;
    if (ng_reply_parse(buf, len, c->nodes, REPLY_NODES, &reply) != 0) {
        SB_DEBUG("rtpengine %s: an unreadable reply", c->engines[i].e.name);
        return;
    }
    struct request *r = request_find(c, cookie_seq(c, reply.cookie, reply.cookie_len));
    if (!r || r->engine != i)
        return; /* a late repeat, or a request given up */
    struct engine *e = &c->engines[i];
    if (e->down) {
        e->down = false;
        timer_cancel(&e->ping);
    }
    if (atomic_load_explicit(e->out, memory_order_relaxed) && atomic_exchange(e->out, false))
        SB_INFO("rtpengine %s answers again", e->e.name);
    ng_done_fn done = r->done;
    void *arg = r->arg;
    if (done && c->cfg.latency)
        sb_hist_observe(c->cfg.latency, sb_now_ns() - r->sent_ns);
    request_free(r);
    if (done)
        done(arg, 0, &reply);
}

/* Takes what engine @i sent, READ_BATCH replies a syscall: one call
 * when fewer wait (no second one to hear EAGAIN). */
static void read_engine(struct ng_client *c, unsigned i)
{
    struct mmsghdr msgs[READ_BATCH];
    struct iovec iov[READ_BATCH];
    for (int k = 0; k < READ_BATCH; k++) {
        iov[k] = (struct iovec){.iov_base = c->buf + (size_t)k * REPLY_MAX, .iov_len = REPLY_MAX};
        msgs[k] = (struct mmsghdr){.msg_hdr = {.msg_iov = &iov[k], .msg_iovlen = 1}};
    }
    int n;
    do {
        n = recvmmsg(c->engines[i].fd, msgs, READ_BATCH, MSG_DONTWAIT, NULL);
        for (int k = 0; k < n; k++)
            if (!(msgs[k].msg_hdr.msg_flags & MSG_TRUNC))
                take_reply(c, i, iov[k].iov_base, msgs[k].msg_len);
    } while (n == READ_BATCH);
}

void ng_client_read(struct ng_client *c, const struct pollfd *polled)
{
    for (unsigned i = 0; i < c->count; i++)
        if (!polled || polled[i].revents)
            read_engine(c, i);
}

size_t ng_client_fds(const struct ng_client *c, struct pollfd *out, size_t max)
{
    size_t n = 0;
    for (unsigned i = 0; i < c->count && n < max; i++)
        out[n++] = (struct pollfd){.fd = c->engines[i].fd, .events = POLLIN};
    return n;
}

size_t ng_client_pending(const struct ng_client *c)
{
    size_t n = c->waiting;
    for (unsigned i = 0; i < c->count; i++)
        n += c->engines[i].down; /* its pings' answers */
    return n;
}

size_t ng_client_unhurried(const struct ng_client *c)
{
    return c->unhurried;
}

bool ng_client_up(const struct ng_client *c, unsigned i)
{
    return i < c->count && !atomic_load_explicit(c->engines[i].out, memory_order_relaxed);
}

void ng_client_up_set(const struct ng_client *c, bool *up)
{
    for (unsigned i = 0; i < c->count; i++)
        up[i] = !atomic_load_explicit(c->engines[i].out, memory_order_relaxed);
}

static int engine_open(struct engine *e)
{
    e->fd = socket(e->e.addr.ss.ss_family, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (e->fd < 0 || connect(e->fd, (const struct sockaddr *)&e->e.addr.ss, e->e.addr.len) != 0) {
        SB_ERROR("rtpengine %s: %s", e->e.name, strerror(errno));
        if (e->fd >= 0)
            close(e->fd);
        e->fd = -1;
        return SB_ESYS;
    }
    return 0;
}

int ng_client_create(const struct ng_engine *e, size_t n, struct timer_wheel *wheel,
                     uint32_t instance, const struct ng_client_config *cfg, struct ng_client **out)
{
    struct ng_client *c = calloc(1, sizeof(*c));
    if (!c)
        return SB_ENOMEM;
    c->wheel = wheel;
    c->instance = instance;
    c->cfg = *cfg;
    c->cfg.timeout_ms = cfg->timeout_ms ? cfg->timeout_ms : 500;
    c->cfg.tries = cfg->tries ? cfg->tries : 3;
    c->cfg.ping_ms = cfg->ping_ms ? cfg->ping_ms : 2000;
    c->engines = calloc(n ? n : 1, sizeof(*c->engines));
    c->buf = malloc((size_t)READ_BATCH * REPLY_MAX);
    c->nodes = malloc(REPLY_NODES * sizeof(*c->nodes));
    int rc = c->engines && c->buf && c->nodes ? 0 : SB_ENOMEM;
    for (size_t i = 0; c->engines && i < n; i++)
        c->engines[i].fd = -1;
    for (size_t i = 0; rc == 0 && i < n; i++, c->count++) {
        struct engine *en = &c->engines[i];
        en->e = e[i];
        en->c = c;
        en->index = (unsigned)i;
        en->out = &(cfg->health ? cfg->health : &c->own)->out[i];
        timer_init(&en->ping, on_ping, en);
        rc = engine_open(en);
    }
    if (rc != 0) {
        ng_client_destroy(c);
        return rc;
    }
    *out = c;
    return 0;
}

void ng_client_destroy(struct ng_client *c)
{
    if (!c)
        return;
    for (size_t b = 0; b < BUCKETS; b++)
        while (c->pending[b])
            request_free(c->pending[b]);
    for (unsigned i = 0; c->engines && i < c->count; i++) {
        timer_cancel(&c->engines[i].ping);
        if (c->engines[i].fd >= 0)
            close(c->engines[i].fd);
    }
    free(c->engines);
    free(c->buf);
    free(c->nodes);
    free(c);
}

/* --- the proxy's view (proxy.h) ------------------------------------------ */

static int ops_send(void *ctx, unsigned engine, const struct sb_buf *body, enum ng_pace pace,
                    ng_done_fn done, void *arg, uint64_t *id)
{
    return ng_client_send(ctx, engine, body, pace, done, arg, id);
}

static void ops_cancel(void *ctx, uint64_t id)
{
    ng_client_cancel(ctx, id);
}

static int ops_pick(void *ctx, const char *key, size_t len)
{
    struct ng_client *c = ctx;
    bool up[NG_MAX_ENGINES];
    struct ng_engine e[NG_MAX_ENGINES];
    size_t n = c->count < NG_MAX_ENGINES ? c->count : NG_MAX_ENGINES;
    for (size_t i = 0; i < n; i++) {
        e[i] = c->engines[i].e;
        up[i] = !atomic_load_explicit(c->engines[i].out, memory_order_relaxed);
    }
    return ng_engine_pick(e, n, up, key, len);
}

/* An engine's name without "udp:", as our Record-Route carries it. */
static const char *route_name(const struct engine *e)
{
    return strncmp(e->e.name, "udp:", 4) == 0 ? e->e.name + 4 : e->e.name;
}

static int ops_find(void *ctx, const char *name)
{
    const struct ng_client *c = ctx;
    for (unsigned i = 0; i < c->count; i++)
        if (!strcmp(route_name(&c->engines[i]), name))
            return (int)i;
    return -1;
}

static const char *ops_name(void *ctx, unsigned engine)
{
    const struct ng_client *c = ctx;
    return engine < c->count ? route_name(&c->engines[engine]) : NULL;
}

const struct proxy_media_ops ng_client_proxy_ops = {
    .send = ops_send,
    .cancel = ops_cancel,
    .pick = ops_pick,
    .find = ops_find,
    .name = ops_name,
};
