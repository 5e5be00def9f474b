/* The machine's latency floor for a UDP request/response server.
 *
 * usage: floor SERVER_CPU CLIENT_CPU GAP_US COUNT sleep|spin [open]
 *
 * A server thread pinned to SERVER_CPU answers each datagram on 127.0.0.1
 * at once: no parsing, no state; the least any proxy could do. With
 * "sleep" it waits in poll() whenever its socket is empty, as switchboard
 * and Kamailio do; with "spin" it never sleeps. A client thread pinned to
 * CLIENT_CPU sends COUNT 600-byte datagrams and spins, so its own wake-up
 * is not timed. Prints one JSON object: the round trip's p50, p99 and max
 * in microseconds.
 *
 * Closed loop (the default): each datagram waits for the last one's
 * answer, then GAP_US more. Open loop ("open"): datagrams leave on a
 * schedule, GAP_US apart, whether or not earlier ones were answered, as
 * SIPp's calls do at a fixed rate. Only the open loop sees what a stall of
 * the server's vCPU costs a proxy under load: every request that arrives
 * during it waits, not just the one in flight.
 *
 * What it shows: how long this machine takes to wake an idle thread. On a
 * virtual machine an idle vCPU is halted and given back to the host; the
 * next packet waits until the host runs it again, which no server code
 * can shorten. bench/run.sh --study floor runs it at a few gaps. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define PAYLOAD 600

struct server {
    int fd;
    int cpu;
    bool spin;
};

static uint64_t now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

static void pin(int cpu)
{
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
}

/* Answers every datagram; a zero-length one ends it. */
static void *server_main(void *arg)
{
    struct server *s = arg;
    char buf[2048];
    pin(s->cpu);
    for (;;) {
        struct sockaddr_in from;
        socklen_t len = sizeof(from);
        ssize_t n = recvfrom(s->fd, buf, sizeof(buf), MSG_DONTWAIT, (struct sockaddr *)&from, &len);
        if (n == 0)
            return NULL;
        if (n > 0) {
            sendto(s->fd, buf, (size_t)n, 0, (struct sockaddr *)&from, len);
            continue;
        }
        if (s->spin)
            continue;
        struct pollfd p = {.fd = s->fd, .events = POLLIN};
        poll(&p, 1, -1);
    }
}

static int bound_socket(struct sockaddr_in *addr)
{
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    socklen_t len = sizeof(*addr);
    *addr = (struct sockaddr_in){.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (fd < 0 || bind(fd, (struct sockaddr *)addr, sizeof(*addr)) != 0 ||
        getsockname(fd, (struct sockaddr *)addr, &len) != 0) {
        perror("socket");
        exit(1);
    }
    return fd;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static void spin_until(uint64_t deadline)
{
    while (now_ns() < deadline)
        ;
}

/* Each datagram after the last one's answer and GAP_US more; timed from
 * its send to its answer. */
static void closed_loop(int fd, uint64_t gap_ns, size_t count, uint64_t *rtt)
{
    char buf[2048];
    memset(buf, 'x', PAYLOAD);
    for (size_t i = 0; i < count; i++) {
        uint64_t t0 = now_ns();
        if (send(fd, buf, PAYLOAD, 0) != PAYLOAD) {
            perror("send");
            exit(1);
        }
        while (recv(fd, buf, sizeof(buf), MSG_DONTWAIT) < 0)
            ;
        uint64_t t1 = now_ns();
        rtt[i] = t1 - t0;
        spin_until(t1 + gap_ns);
    }
}

/* Takes every answer waiting; each datagram carries its index, and its
 * round trip is now less its send. */
static size_t take_answers(int fd, const uint64_t *sent, uint64_t *rtt, size_t count)
{
    char buf[2048];
    size_t got = 0;
    uint64_t i;
    while (recv(fd, buf, sizeof(buf), MSG_DONTWAIT) >= (ssize_t)sizeof(i)) {
        memcpy(&i, buf, sizeof(i));
        if (i < count && rtt[i] == UINT64_MAX) {
            rtt[i] = now_ns() - sent[i];
            got++;
        }
    }
    return got;
}

/* Sends on a fixed schedule (a late send keeps the schedule: the ones
 * behind leave at once), then waits up to a second for the last answers;
 * an unanswered datagram counts as a second. */
static void open_loop(int fd, uint64_t gap_ns, size_t count, uint64_t *rtt)
{
    uint64_t *sent = calloc(count, sizeof(*sent));
    char buf[2048];
    size_t answered = 0, next = 0;
    if (!sent) {
        perror("calloc");
        exit(1);
    }
    memset(buf, 'x', PAYLOAD);
    for (size_t i = 0; i < count; i++)
        rtt[i] = UINT64_MAX;
    uint64_t start = now_ns(), give_up = 0;
    while (answered < count) {
        uint64_t now = now_ns();
        if (next < count && now >= start + next * gap_ns) {
            uint64_t i = next++;
            memcpy(buf, &i, sizeof(i));
            sent[i] = now_ns();
            if (send(fd, buf, PAYLOAD, 0) != PAYLOAD) {
                perror("send");
                exit(1);
            }
            if (next == count)
                give_up = sent[i] + 1000000000u;
        }
        answered += take_answers(fd, sent, rtt, count);
        if (give_up && now > give_up)
            break;
    }
    for (size_t i = 0; i < count; i++)
        if (rtt[i] == UINT64_MAX)
            rtt[i] = 1000000000u;
    free(sent);
}

int main(int argc, char **argv)
{
    bool open = argc == 7 && strcmp(argv[6], "open") == 0;
    if ((argc != 6 && !open) || (strcmp(argv[5], "sleep") != 0 && strcmp(argv[5], "spin") != 0)) {
        fprintf(stderr, "usage: floor SERVER_CPU CLIENT_CPU GAP_US COUNT sleep|spin [open]\n");
        return 2;
    }
    struct sockaddr_in saddr, caddr;
    struct server s = {
        .fd = bound_socket(&saddr), .cpu = atoi(argv[1]), .spin = strcmp(argv[5], "spin") == 0};
    int client_cpu = atoi(argv[2]);
    uint64_t gap_ns = strtoull(argv[3], NULL, 10) * 1000u;
    size_t count = strtoul(argv[4], NULL, 10);
    uint64_t *rtt = calloc(count ? count : 1, sizeof(*rtt));
    int fd = bound_socket(&caddr);
    if (!rtt || count == 0 || connect(fd, (struct sockaddr *)&saddr, sizeof(saddr)) != 0) {
        fprintf(stderr, "floor: cannot start\n");
        return 1;
    }
    pthread_t server;
    pthread_create(&server, NULL, server_main, &s);
    pin(client_cpu);
    usleep(100000); /* the server is in poll() before the first datagram */
    if (open)
        open_loop(fd, gap_ns, count, rtt);
    else
        closed_loop(fd, gap_ns, count, rtt);
    send(fd, "", 0, 0);
    pthread_join(server, NULL);
    qsort(rtt, count, sizeof(*rtt), cmp_u64);
    printf("{\"gap_us\": %s, \"server\": \"%s\", \"loop\": \"%s\", \"count\": %zu, "
           "\"p50_us\": %.1f, \"p99_us\": %.1f, \"max_us\": %.1f}\n",
           argv[3], argv[5], open ? "open" : "closed", count, rtt[count / 2] / 1e3, rtt[count * 99 / 100] / 1e3,
           rtt[count - 1] / 1e3);
    return 0;
}
