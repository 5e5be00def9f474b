/* Unit tests for the one listen opener (src/io/listen.c) that UDP and
 * TCP/TLS share: one SO_REUSEPORT socket per thread on one port, a
 * kernel-chosen port learnt from the first, and a port another process
 * holds refused before any socket is made. Binds on 127.0.0.1 only. */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "switchboard/listen.h"
#include "switchboard/sip_msg.h"

static struct listen_entry entry(int transport, unsigned port)
{
    struct listen_entry e = {.transport = (uint8_t)transport};
    sipmsg_host_to_addr("127.0.0.1", port, &e.addr);
    listen_entry_bound(&e);
    return e;
}

static unsigned port_of(int fd)
{
    struct sb_addr a;
    socklen_t len = sizeof(a.ss);
    getsockname(fd, (struct sockaddr *)&a.ss, &len);
    a.len = len;
    char ip[64];
    return sipmsg_addr_host(&a, ip, sizeof(ip));
}

static void close_all(int *fds, unsigned n)
{
    for (unsigned i = 0; i < n; i++)
        if (fds[i] >= 0)
            close(fds[i]);
}

Test(listen, a_group_shares_the_port_the_kernel_chose)
{
    struct listen_entry e = entry(SB_UDP, 0);
    int fds[3];
    cr_assert_eq(listen_open_group(&e, SOCK_DGRAM, 3, fds, NULL), 0);
    unsigned port = port_of(fds[0]);
    cr_assert_neq(port, 0);
    for (int i = 1; i < 3; i++)
        cr_assert_eq(port_of(fds[i]), port, "socket %d", i);
    char name[64];
    snprintf(name, sizeof(name), "udp:127.0.0.1:%u", port);
    cr_assert_str_eq(e.name, name, "the entry is renamed as bound");
    close_all(fds, 3);
}

Test(listen, a_port_held_elsewhere_is_refused)
{
    struct listen_entry first = entry(SB_TCP, 0);
    int held[1], fds[2] = {7, 7};
    cr_assert_eq(listen_open_group(&first, SOCK_STREAM, 1, held, NULL), 0);
    /* another process: a socket without SO_REUSEPORT on the same port */
    struct listen_entry second = entry(SB_TCP, port_of(held[0]));
    close(held[0]);
    int other = socket(AF_INET, SOCK_STREAM, 0);
    cr_assert_eq(bind(other, (const struct sockaddr *)&second.addr.ss, second.addr.len), 0);
    cr_assert_eq(listen(other, 1), 0);
    cr_assert_neq(listen_open_group(&second, SOCK_STREAM, 2, fds, NULL), 0);
    cr_assert_eq(fds[0], -1);
    cr_assert_eq(fds[1], -1);
    close(other);
}

static int prepared;

static int count_prepare(int fd, const struct listen_entry *e)
{
    (void)fd;
    (void)e;
    prepared++;
    return 0;
}

Test(listen, streams_listen_and_take_the_flags_asked_for)
{
    struct listen_entry e = entry(SB_TCP, 0);
    int fds[2];
    cr_assert_eq(listen_open_group(&e, SOCK_STREAM | SOCK_NONBLOCK, 2, fds, count_prepare), 0);
    cr_assert_eq(prepared, 2, "each socket prepared before its bind");
    for (int i = 0; i < 2; i++) {
        int listening = 0;
        socklen_t len = sizeof(listening);
        getsockopt(fds[i], SOL_SOCKET, SO_ACCEPTCONN, &listening, &len);
        cr_assert(listening, "socket %d listens", i);
        cr_assert(fcntl(fds[i], F_GETFL) & O_NONBLOCK, "socket %d is non-blocking", i);
    }
    close_all(fds, 2);
}
