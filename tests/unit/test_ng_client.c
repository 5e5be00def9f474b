/* Unit tests for src/io/ng_client.c against a stand-in engine (a UDP
 * socket on 127.0.0.1 this test reads and answers by hand) and a timer
 * wheel moved by hand: a reply reaches its request, a silent engine gets
 * the same datagram again (same cookie) and then is given up and marked
 * down, a ping brings it back, a cancelled request is never called back,
 * and replies that are not ours are dropped. */
#include <criterion/criterion.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "switchboard/bencode.h"
#include "switchboard/buf.h"
#include "switchboard/error.h"
#include "switchboard/ng_client.h"
#include "switchboard/sip_msg.h"
#include "switchboard/timer_wheel.h"

static int engine_fd;
static struct sockaddr_storage client_addr;
static socklen_t client_len;
static struct timer_wheel *wheel;
static struct ng_client *client;
static uint64_t now;

struct outcome {
    int calls, rc;
    enum ng_result result;
    char sdp[64];
};

static void done(void *arg, int rc, const struct ng_reply *reply)
{
    struct outcome *o = arg;
    o->calls++;
    o->rc = rc;
    if (reply) {
        o->result = reply->result;
        snprintf(o->sdp, sizeof(o->sdp), "%.*s", (int)reply->sdp_len, reply->sdp ? reply->sdp : "");
    }
}

static void setup(void)
{
    struct sb_addr a;
    sipmsg_host_to_addr("127.0.0.1", 0, &a);
    engine_fd = socket(AF_INET, SOCK_DGRAM, 0);
    cr_assert_eq(bind(engine_fd, (struct sockaddr *)&a.ss, a.len), 0);
    a.len = sizeof(a.ss);
    getsockname(engine_fd, (struct sockaddr *)&a.ss, &a.len);
    struct ng_engine e = {.addr = a, .weight = 1};
    snprintf(e.name, sizeof(e.name), "test");
    cr_assert_eq(timer_wheel_create(0, &wheel), 0);
    struct ng_client_config cfg = {.timeout_ms = 100, .tries = 3, .ping_ms = 1000};
    cr_assert_eq(ng_client_create(&e, 1, wheel, 0xab, &cfg, &client), 0);
    now = 0;
}

static void teardown(void)
{
    ng_client_destroy(client);
    timer_wheel_destroy(wheel);
    close(engine_fd);
}

TestSuite(ng_client, .init = setup, .fini = teardown);

/* What the engine got next, NUL-terminated into @buf ("" after 1 s). */
static void engine_read(char *buf, size_t size)
{
    struct pollfd p = {.fd = engine_fd, .events = POLLIN};
    buf[0] = '\0';
    if (poll(&p, 1, 1000) != 1)
        return;
    client_len = sizeof(client_addr);
    ssize_t n = recvfrom(engine_fd, buf, size - 1, 0, (struct sockaddr *)&client_addr, &client_len);
    buf[n > 0 ? n : 0] = '\0';
}

/* The engine answers @body under @cookie; the client reads it. */
static void engine_answer(const char *cookie, const char *body)
{
    char text[512];
    int n = snprintf(text, sizeof(text), "%s %s", cookie, body);
    sendto(engine_fd, text, (size_t)n, 0, (struct sockaddr *)&client_addr, client_len);
    struct pollfd p;
    ng_client_fds(client, &p, 1);
    poll(&p, 1, 1000);
    ng_client_read(client, NULL);
}

static void advance(uint64_t ms)
{
    now += ms;
    timer_wheel_advance(wheel, now);
}

/* Sends {"command": @command} at @pace; returns its id. */
static uint64_t send_command(struct outcome *o, const char *command, enum ng_pace pace)
{
    struct sb_buf b = {0};
    bencode_dict(&b);
    bencode_cstr(&b, "command");
    bencode_cstr(&b, command);
    bencode_end(&b);
    uint64_t id;
    cr_assert_eq(ng_client_send(client, 0, &b, pace, done, o, &id), 0);
    sb_buf_free(&b);
    return id;
}

static uint64_t send_offer(struct outcome *o)
{
    return send_command(o, "offer", NG_PROMPT);
}

/* The cookie of datagram @text into @cookie. */
static void cookie_of(const char *text, char *cookie, size_t size)
{
    snprintf(cookie, size, "%.*s", (int)strcspn(text, " "), text);
}

Test(ng_client, a_reply_reaches_its_request)
{
    struct outcome o = {0};
    send_offer(&o);
    char got[512], cookie[32];
    engine_read(got, sizeof(got));
    cookie_of(got, cookie, sizeof(cookie));
    cr_assert_str_eq(got + strlen(cookie), " d7:command5:offere");
    cr_assert_eq(strncmp(cookie, "000000ab-", 9), 0, "%s", cookie);
    engine_answer(cookie, "d3:sdp5:v=0\r\n6:result2:oke");
    cr_assert_eq(o.calls, 1);
    cr_assert_eq(o.rc, 0);
    cr_assert_eq(o.result, NG_OK);
    cr_assert_str_eq(o.sdp, "v=0\r\n");
    engine_answer(cookie, "d6:result2:oke"); /* a repeat: nobody to call */
    cr_assert_eq(o.calls, 1);
}

Test(ng_client, a_silent_engine_gets_the_same_cookie_then_is_down_then_pinged_back)
{
    struct outcome o = {0};
    send_offer(&o);
    char first[512], again[512], cookie[32];
    engine_read(first, sizeof(first));
    advance(100);
    engine_read(again, sizeof(again));
    cr_assert_str_eq(again, first, "a retry is the same datagram");
    advance(200);
    engine_read(again, sizeof(again));
    cr_assert_str_eq(again, first);
    cr_assert(ng_client_up(client, 0));
    advance(400);
    cr_assert_eq(o.calls, 1);
    cr_assert_eq(o.rc, SB_ETIMEDOUT);
    cr_assert_not(ng_client_up(client, 0), "given up: down");
    bool up[1];
    ng_client_up_set(client, up);
    cr_assert_not(up[0]);
    advance(1000);
    char ping[512];
    engine_read(ping, sizeof(ping));
    cookie_of(ping, cookie, sizeof(cookie));
    cr_assert_str_eq(ping + strlen(cookie), " d7:command4:pinge");
    engine_answer(cookie, "d6:result4:ponge");
    cr_assert(ng_client_up(client, 0), "answered a ping: up again");
    cr_assert_eq(o.calls, 1, "a ping calls nobody back");
}

static void send_delete(struct outcome *o)
{
    send_command(o, "delete", NG_UNHURRIED);
}

/* An unhurried request is not polled for: its reply is taken by the next
 * read for something else, or when it is NG_UNHURRIED_MS old; unanswered,
 * it is retried and given up on like any other. */
Test(ng_client, an_unhurried_reply_is_read_at_the_next_wake_up_or_when_it_ages)
{
    struct outcome o = {0};
    char got[512], cookie[32];
    send_delete(&o);
    cr_assert_eq(ng_client_pending(client), 1);
    cr_assert_eq(ng_client_unhurried(client), 1, "not polled for");
    engine_read(got, sizeof(got));
    cookie_of(got, cookie, sizeof(cookie));
    engine_answer(cookie, "d6:result2:oke"); /* the worker woke for something else */
    cr_assert_eq(o.calls, 1);
    cr_assert_eq(ng_client_unhurried(client), 0);

    struct outcome aged = {0};
    send_delete(&aged);
    engine_read(got, sizeof(got));
    cookie_of(got, cookie, sizeof(cookie));
    char text[512];
    int n = snprintf(text, sizeof(text), "%s d6:result2:oke", cookie);
    sendto(engine_fd, text, (size_t)n, 0, (struct sockaddr *)&client_addr, client_len);
    struct pollfd p = {.fd = engine_fd, .events = POLLIN};
    poll(&p, 1, 100); /* (the reply is on its way over loopback) */
    advance(NG_UNHURRIED_MS - 1);
    cr_assert_eq(aged.calls, 0, "nobody read it yet");
    advance(1);
    cr_assert_eq(aged.calls, 1, "read when it aged");
    cr_assert_eq(aged.result, NG_OK);

    struct outcome silent = {0};
    send_delete(&silent);
    engine_read(got, sizeof(got));
    advance(NG_UNHURRIED_MS);
    cr_assert_eq(ng_client_unhurried(client), 0, "polled for now");
    cr_assert_eq(ng_client_pending(client), 1);
    advance(100 - NG_UNHURRIED_MS);
    char again[512];
    engine_read(again, sizeof(again));
    cr_assert_str_eq(again, got, "retried at the timeout, the same datagram");
    advance(200 + 400);
    cr_assert_eq(silent.calls, 1);
    cr_assert_eq(silent.rc, SB_ETIMEDOUT);
}

Test(ng_client, a_cancelled_request_is_never_called_back)
{
    struct outcome o = {0};
    uint64_t id = send_offer(&o);
    char got[512], cookie[32];
    engine_read(got, sizeof(got));
    cookie_of(got, cookie, sizeof(cookie));
    ng_client_cancel(client, id);
    engine_answer(cookie, "d6:result2:oke");
    advance(5000);
    cr_assert_eq(o.calls, 0);
    cr_assert(ng_client_up(client, 0), "a cancelled request marks nothing down");
}

Test(ng_client, replies_that_are_not_ours_are_dropped)
{
    struct outcome o = {0};
    send_offer(&o);
    char got[512], cookie[32];
    engine_read(got, sizeof(got));
    cookie_of(got, cookie, sizeof(cookie));
    engine_answer("000000cd-1", "d6:result2:oke"); /* another process's */
    engine_answer(cookie, "not bencoding");
    engine_answer("000000ab-ffff", "d6:result2:oke"); /* nothing pending */
    cr_assert_eq(o.calls, 0);
    engine_answer(cookie, "d6:result5:error12:error-reason3:bade");
    cr_assert_eq(o.calls, 1);
    cr_assert_eq(o.result, NG_ERROR);
}

/* Every worker has a client of its own; what one learns of an engine
 * (given up on: out; answering again: in) the others act on, so a dead
 * engine costs the process one timeout, not one per worker. */
Test(ng_client, workers_share_what_they_learn_of_an_engine)
{
    struct ng_health health = {0};
    struct sb_addr a;
    a.len = sizeof(a.ss);
    getsockname(engine_fd, (struct sockaddr *)&a.ss, &a.len);
    struct ng_engine e = {.addr = a, .weight = 1};
    snprintf(e.name, sizeof(e.name), "shared");
    struct ng_client_config cfg = {
        .timeout_ms = 100, .tries = 1, .ping_ms = 1000, .health = &health};
    struct ng_client *one, *two;
    cr_assert_eq(ng_client_create(&e, 1, wheel, 0x1, &cfg, &one), 0);
    cr_assert_eq(ng_client_create(&e, 1, wheel, 0x2, &cfg, &two), 0);
    struct outcome o = {0};
    struct sb_buf b = {0};
    sb_buf_puts(&b, "d7:command5:offere");
    uint64_t id;
    cr_assert_eq(ng_client_send(one, 0, &b, NG_PROMPT, done, &o, &id), 0);
    sb_buf_free(&b);
    cr_assert_eq(ng_client_pending(one), 1);
    cr_assert_eq(ng_client_pending(two), 0);
    char dgram[512];
    engine_read(dgram, sizeof(dgram));
    advance(150);
    cr_assert_eq(o.rc, SB_ETIMEDOUT);
    cr_assert_not(ng_client_up(one, 0));
    cr_assert_not(ng_client_up(two, 0), "the other worker's client knows it too");
    cr_assert_eq(ng_client_pending(one), 1, "one pings it...");
    cr_assert_eq(ng_client_pending(two), 0, "...not every worker");
    advance(1000);
    char ping[512], cookie[32];
    engine_read(ping, sizeof(ping));
    cookie_of(ping, cookie, sizeof(cookie));
    char pong[64];
    int n = snprintf(pong, sizeof(pong), "%s d6:result4:ponge", cookie);
    sendto(engine_fd, pong, (size_t)n, 0, (struct sockaddr *)&client_addr, client_len);
    struct pollfd p;
    ng_client_fds(one, &p, 1);
    poll(&p, 1, 1000);
    ng_client_read(one, NULL);
    cr_assert(ng_client_up(two, 0), "answered one client's ping: back for all");
    ng_client_destroy(one);
    ng_client_destroy(two);
}

/* A request too big for one datagram (a stranger's huge SDP over TCP) is
 * refused at once: sent, it would vanish, time out and take the engine
 * out of every call. */
Test(ng_client, a_request_too_big_for_a_datagram_is_refused_not_blamed)
{
    struct sb_buf b = {0};
    sb_buf_puts(&b, "d3:sdp65500:");
    for (int i = 0; i < 65500; i++)
        sb_buf_append(&b, "x", 1);
    sb_buf_puts(&b, "e");
    struct outcome o = {0};
    uint64_t id;
    cr_assert_eq(ng_client_send(client, 0, &b, NG_PROMPT, done, &o, &id), SB_ELIMIT);
    sb_buf_free(&b);
    cr_assert_eq(ng_client_pending(client), 0);
    advance(5000);
    cr_assert_eq(o.calls, 0, "nobody called back");
    cr_assert(ng_client_up(client, 0), "the engine is not blamed");
}
