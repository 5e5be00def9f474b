/* The least a SIP proxy could do for the benchmark's calls: a relay.
 *
 * usage: relay_floor IP PORT CALLEE_PORT
 *
 * It listens on IP:PORT and passes each datagram on as it came, without
 * parsing it beyond the start line and the Call-ID, without state beyond
 * a table of where each call's caller is, and without a Via of its own:
 * a request from anyone but the callee (IP:CALLEE_PORT) goes to the
 * callee, and everything from the callee goes to the caller of its
 * Call-ID. An INVITE is answered 100 (Trying) first, as a proxy does, so
 * that it sends and receives as many datagrams per call as switchboard
 * and Kamailio. REGISTER and OPTIONS are answered 200 on the spot.
 *
 * It waits and reads as switchboard's worker does: poll() when the socket
 * is empty, then recvmmsg() and sendmmsg() in batches until it is empty
 * again. Its CPU per call, under the benchmark's SIPp load, is what this
 * machine charges any proxy for the wake-ups, system calls and copies of
 * a call before the proxy does any work of its own: bench/run.sh
 * --study floor puts it next to switchboard's and Kamailio's.
 *
 * A bench tool, not a proxy: anything it does not understand is dropped. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#define BATCH 64
#define SIZE 4096
#define CALLS (1u << 16) /* callers remembered: one slot per Call-ID hash */

struct caller {
    uint64_t hash;
    struct sockaddr_in addr;
};

static struct caller callers[CALLS];
static volatile sig_atomic_t stopping;

static void on_signal(int sig)
{
    (void)sig;
    stopping = 1;
}

/* The value of the first header line named @name or @compact; NULL. */
static const char *header(const char *msg, size_t len, const char *name, const char *compact,
                          size_t *vlen)
{
    const char *end = msg + len, *line = memchr(msg, '\n', len);
    while (line && ++line < end && *line != '\r' && *line != '\n') {
        const char *eol = memchr(line, '\n', (size_t)(end - line));
        const char *colon = memchr(line, ':', (size_t)((eol ? eol : end) - line));
        if (colon) {
            size_t n = (size_t)(colon - line);
            while (n && (line[n - 1] == ' ' || line[n - 1] == '\t'))
                n--;
            if ((n == strlen(name) && !strncasecmp(line, name, n)) ||
                (n == strlen(compact) && !strncasecmp(line, compact, n))) {
                const char *v = colon + 1;
                while (v < end && (*v == ' ' || *v == '\t'))
                    v++;
                const char *stop = eol ? eol : end;
                while (stop > v && (stop[-1] == '\r' || stop[-1] == ' '))
                    stop--;
                *vlen = (size_t)(stop - v);
                return v;
            }
        }
        line = eol;
    }
    return NULL;
}

static uint64_t hash(const char *s, size_t n)
{
    uint64_t h = 1469598103934665603u;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)s[i]) * 1099511628211u;
    return h | 1;
}

/* Does line @line (up to @eol) carry a header a response repeats? A
 * REGISTER's 200 repeats its Contact too (@contact), as a registrar's
 * lists the bindings. */
static bool repeated(const char *line, const char *eol, bool contact)
{
    static const char *const names[] = {"via",     "v", "from", "f",       "to", "t",
                                        "call-id", "i", "cseq", "contact", "m"};
    const char *colon = memchr(line, ':', (size_t)(eol - line));
    if (!colon)
        return false;
    size_t n = (size_t)(colon - line);
    while (n && (line[n - 1] == ' ' || line[n - 1] == '\t'))
        n--;
    size_t known = sizeof(names) / sizeof(names[0]) - (contact ? 0 : 2);
    for (size_t i = 0; i < known; i++)
        if (n == strlen(names[i]) && !strncasecmp(line, names[i], n))
            return true;
    return false;
}

/* @status ("100 Trying") for request @req: its Via, From, To, Call-ID
 * and CSeq lines copied (a REGISTER's Contact too). Returns the length written into @out. */
static size_t reply(const char *req, size_t len, const char *status, char *out)
{
    size_t o = (size_t)snprintf(out, SIZE, "SIP/2.0 %s\r\n", status);
    const char *end = req + len, *line = memchr(req, '\n', len);
    while (line && ++line < end && *line != '\r' && *line != '\n') {
        const char *eol = memchr(line, '\n', (size_t)(end - line));
        if (!eol)
            break;
        size_t n = (size_t)(eol + 1 - line);
        if (repeated(line, eol, !strncmp(req, "REGISTER ", 9)) && o + n + 32 < SIZE) {
            memcpy(out + o, line, n);
            o += n;
        }
        line = eol;
    }
    memcpy(out + o, "Content-Length: 0\r\n\r\n", 21);
    return o + 21;
}

struct out {
    struct mmsghdr msgs[2 * BATCH];
    struct iovec iov[2 * BATCH];
    struct sockaddr_in to[2 * BATCH];
    char replies[BATCH][SIZE];
    unsigned n, replied;
};

static void queue(struct out *o, const void *data, size_t len, const struct sockaddr_in *to)
{
    unsigned i = o->n++;
    o->to[i] = *to;
    o->iov[i] = (struct iovec){.iov_base = (void *)data, .iov_len = len};
    o->msgs[i].msg_hdr = (struct msghdr){.msg_name = &o->to[i],
                                         .msg_namelen = sizeof(o->to[i]),
                                         .msg_iov = &o->iov[i],
                                         .msg_iovlen = 1};
}

static void queue_reply(struct out *o, const char *req, size_t len, const char *status,
                        const struct sockaddr_in *to)
{
    char *r = o->replies[o->replied++];
    queue(o, r, reply(req, len, status, r), to);
}

/* Where datagram @msg from @from goes, queued on @o. */
static void relay(struct out *o, char *msg, size_t len, const struct sockaddr_in *from,
                  const struct sockaddr_in *callee)
{
    size_t n;
    const char *call_id = header(msg, len, "call-id", "i", &n);
    if (!call_id || len < 8)
        return;
    uint64_t h = hash(call_id, n);
    struct caller *c = &callers[h & (CALLS - 1)];
    bool response = !memcmp(msg, "SIP/2.0 ", 8);
    bool from_callee =
        from->sin_port == callee->sin_port && from->sin_addr.s_addr == callee->sin_addr.s_addr;
    if (!response && (!strncmp(msg, "REGISTER ", 9) || !strncmp(msg, "OPTIONS ", 8))) {
        queue_reply(o, msg, len, "200 OK", from);
    } else if (from_callee) {
        if (c->hash == h)
            queue(o, msg, len, &c->addr);
    } else if (!response) {
        if (!strncmp(msg, "INVITE ", 7))
            queue_reply(o, msg, len, "100 Trying", from);
        *c = (struct caller){.hash = h, .addr = *from};
        queue(o, msg, len, callee);
    }
}

static int listen_on(const char *ip, int port, struct sockaddr_in *addr)
{
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
    *addr = (struct sockaddr_in){.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    int one = 1, size = 4 << 20; /* as big as switchboard's */
    if (fd < 0 || inet_pton(AF_INET, ip, &addr->sin_addr) != 1 ||
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof(size)) != 0 ||
        setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof(size)) != 0 ||
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
        bind(fd, (struct sockaddr *)addr, sizeof(*addr)) != 0) {
        perror("listen");
        exit(1);
    }
    return fd;
}

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: relay_floor IP PORT CALLEE_PORT\n");
        return 2;
    }
    struct sockaddr_in me, callee;
    int fd = listen_on(argv[1], atoi(argv[2]), &me);
    callee = me;
    callee.sin_port = htons((uint16_t)atoi(argv[3]));
    signal(SIGTERM, on_signal);
    signal(SIGINT, on_signal);
    static char bufs[BATCH][SIZE];
    static struct out o;
    struct mmsghdr in[BATCH];
    struct iovec iov[BATCH];
    struct sockaddr_in from[BATCH];
    while (!stopping) {
        for (unsigned i = 0; i < BATCH; i++) {
            iov[i] = (struct iovec){.iov_base = bufs[i], .iov_len = SIZE - 1};
            in[i].msg_hdr = (struct msghdr){.msg_name = &from[i],
                                            .msg_namelen = sizeof(from[i]),
                                            .msg_iov = &iov[i],
                                            .msg_iovlen = 1};
        }
        int got = recvmmsg(fd, in, BATCH, 0, NULL);
        if (got <= 0) {
            struct pollfd p = {.fd = fd, .events = POLLIN};
            poll(&p, 1, -1);
            continue;
        }
        o.n = o.replied = 0;
        for (int i = 0; i < got; i++) {
            bufs[i][in[i].msg_len] = '\0';
            relay(&o, bufs[i], in[i].msg_len, &from[i], &callee);
        }
        for (unsigned sent = 0; sent < o.n;) {
            int n = sendmmsg(fd, o.msgs + sent, o.n - sent, 0);
            if (n <= 0)
                break;
            sent += (unsigned)n;
        }
    }
    return 0;
}
