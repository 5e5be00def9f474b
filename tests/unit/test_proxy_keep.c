/* Unit tests for what the notifier keeps in the store (proxy_notify.c,
 * proxy_env.keep): a subscription after each NOTIFY and its removal when
 * it ends, every one again when the store's epoch moves (after its
 * resync), one served again from what was kept (a NOTIFY with full state,
 * its CSeq past the kept one, in the same dialog), and a PUBLISH's entry
 * with the one it replaced removed. Without sockets: the worker's net
 * captures what would be sent; the test moves the clock. */
#include <stdio.h>
#include <urcu.h>

#include "switchboard/call_journal.h"
#include "switchboard/config.h"
#include "switchboard/dialog_watch.h"
#include "switchboard/error.h"
#include "switchboard/identity.h"
#include "switchboard/listen.h"
#include "switchboard/net.h"
#include "switchboard/presence_state.h"
#include "switchboard/proxy.h"
#include "switchboard/registrar.h"
#include "switchboard/secret.h"
#include "switchboard/settings.h"
#include "switchboard/sip_msg.h"
#include "switchboard/timer_wheel.h"
#include "test_helpers.h"

#define MAX_SENT 32
#define MAX_KEPT 32

struct kept {
    enum proxy_doc kind;
    char *key, *value; /* value NULL: removed */
};

static char *sent[MAX_SENT];
static int sent_count;
static struct kept kept[MAX_KEPT];
static int kept_count;
static uint64_t epoch;
static struct sb_config cfg;
static struct listen_table listens;
static struct registrar *registrar;
static struct identity *identity;
static struct timer_wheel *wheel;
static struct secret *secret;
static struct net *net;
static struct dialog_watch *watch;
static struct presence_state *presence;
static struct proxy *proxy;
static struct sb_counters counters;
static uint64_t now;

static void capture(void *ctx, const struct sb_dest *dest, const char *data, size_t len)
{
    (void)ctx, (void)dest;
    cr_assert_lt(sent_count, MAX_SENT);
    sent[sent_count++] = strndup(data, len);
}

static void keep(void *ctx, enum proxy_doc kind, const char *key, const char *value,
                 uint64_t expires_wall_ms)
{
    (void)ctx, (void)expires_wall_ms;
    cr_assert_lt(kept_count, MAX_KEPT);
    kept[kept_count].kind = kind;
    kept[kept_count].key = strdup(key);
    kept[kept_count++].value = value ? strdup(value) : NULL;
}

static uint64_t keep_epoch(void *ctx)
{
    (void)ctx;
    return epoch;
}

static struct proxy *new_proxy(void)
{
    struct proxy_env env = {
        .config = &cfg,
        .registrar = registrar,
        .identity = identity,
        .wheel = wheel,
        .net = &net_proxy_ops,
        .net_ctx = net,
        .counters = &counters,
        .secret = secret,
        .watch = watch,
        .presence = presence,
        .keep = keep,
        .keep_epoch = keep_epoch,
    };
    struct proxy *p;
    cr_assert_eq(proxy_create(&env, &p), 0);
    return p;
}

static void setup(void)
{
    rcu_register_thread();
    config_defaults(&cfg);
    char *argv[] = {"t", "-l", "udp:127.0.0.1:5060", NULL};
    cr_assert_eq(settings_from_args(&cfg, 3, argv), 0);
    cr_assert_eq(listen_table_init(&listens, &cfg), 0);
    struct registrar_limits limits = {.max_bindings = 4};
    now = 1000000;
    cr_assert_eq(registrar_create(&limits, &registrar), 0);
    cr_assert_eq(identity_create(&cfg, &identity), 0);
    cr_assert_eq(timer_wheel_create(now, &wheel), 0);
    static const char key[] = "unit test key, not a secret";
    cr_assert_eq(secret_from_bytes(key, sizeof(key), &secret), 0);
    struct net_deps nd = {.listens = &listens, .counters = &counters, .capture = capture};
    cr_assert_eq(net_create(&nd, &net), 0);
    cr_assert_eq(dialog_watch_create(100, 10, 10, &watch), 0);
    cr_assert_eq(presence_state_create(100, 4, &presence), 0);
    proxy = new_proxy();
    sent_count = kept_count = 0;
    epoch = 0;
}

static void forget_all(void)
{
    for (int i = 0; i < sent_count; i++)
        free(sent[i]);
    for (int i = 0; i < kept_count; i++) {
        free(kept[i].key);
        free(kept[i].value);
    }
    sent_count = kept_count = 0;
}

static void teardown(void)
{
    proxy_destroy(proxy);
    dialog_watch_destroy(watch);
    presence_state_destroy(presence);
    net_destroy(net);
    secret_free(secret);
    timer_wheel_destroy(wheel);
    identity_destroy(identity);
    registrar_destroy(registrar);
    config_free(&cfg);
    forget_all();
    rcu_unregister_thread();
}

TestSuite(proxy_keep, .init = setup, .fini = teardown);

static void advance(uint64_t ms)
{
    now += ms;
    timer_wheel_advance(wheel, now);
}

static void deliver(const char *text)
{
    struct sb_inbound *in = calloc(1, sizeof(*in));
    in->msg = parse(text);
    sipmsg_host_to_addr("10.0.0.5", 5062, &in->src);
    sipmsg_host_to_addr("127.0.0.1", 5060, &in->local.addr);
    in->transport = SB_UDP;
    in->fd = -1;
    proxy_handle(proxy, in);
}

/* The value of header @name (with ": ") in @msg, up to its line's end. */
static char *header(const char *msg, const char *name)
{
    const char *h = strstr(msg, name);
    cr_assert_not_null(h, "no %s in:\n%s", name, msg);
    h += strlen(name);
    return strndup(h, strcspn(h, "\r\n"));
}

/* The last NOTIFY sent, answered 200 by the subscriber. */
static const char *answer_last_notify(void)
{
    const char *n = NULL;
    for (int i = 0; i < sent_count; i++)
        if (!strncmp(sent[i], "NOTIFY ", 7))
            n = sent[i];
    cr_assert_not_null(n, "no NOTIFY sent");
    char *via = header(n, "Via: "), *from = header(n, "From: "), *to = header(n, "To: ");
    char *cid = header(n, "Call-ID: "), *cseq = header(n, "CSeq: ");
    char text[2048];
    snprintf(text, sizeof(text),
             "SIP/2.0 200 OK\nVia: %s\nFrom: %s\nTo: %s\nCall-ID: %s\nCSeq: %s\n"
             "Content-Length: 0\n\n",
             via, from, to, cid, cseq);
    free(via), free(from), free(to), free(cid), free(cseq);
    deliver(text);
    return n;
}

#define SUBSCRIBE_TEXT(TO_TAG, EXPIRES)                                                            \
    "SUBSCRIBE sip:bob@127.0.0.1 SIP/2.0\n"                                                        \
    "Via: SIP/2.0/UDP 10.0.0.5:5062;branch=z9hG4bK-s" EXPIRES TO_TAG ";rport\n"                    \
    "Max-Forwards: 70\n"                                                                           \
    "From: <sip:lamp@127.0.0.1>;tag=lamp1\n"                                                       \
    "To: <sip:bob@127.0.0.1>" TO_TAG "\n"                                                          \
    "Call-ID: blf-1@10.0.0.5\n"                                                                    \
    "CSeq: 1" EXPIRES " SUBSCRIBE\n"                                                               \
    "Contact: <sip:lamp@10.0.0.5:5062>\n"                                                          \
    "Event: dialog\n"                                                                              \
    "Expires: " EXPIRES "\n"                                                                       \
    "Content-Length: 0\n\n"

static int count_kept(enum proxy_doc kind, const char *key, bool removed)
{
    int n = 0;
    for (int i = 0; i < kept_count; i++)
        n += kept[i].kind == kind && !strcmp(kept[i].key, key) && !kept[i].value == removed;
    return n;
}

Test(proxy_keep, a_subscription_is_kept_and_kept_again_after_a_resync)
{
    deliver(SUBSCRIBE_TEXT("", "600"));
    answer_last_notify();
    cr_assert_eq(count_kept(PROXY_DOC_SUBSCRIPTION, "blf-1@10.0.0.5;lamp1", false), 1,
                 "kept after its first NOTIFY");
    advance(300);
    cr_assert_eq(kept_count, 1, "nothing changed: nothing kept");
    epoch = 1; /* the store resynced */
    advance(150);
    cr_assert_eq(count_kept(PROXY_DOC_SUBSCRIPTION, "blf-1@10.0.0.5;lamp1", false), 2,
                 "kept again after the store's resync");
    /* the subscriber ends it: the last NOTIFY, then it is removed */
    const char *first = NULL;
    for (int i = 0; i < sent_count && !first; i++)
        if (!strncmp(sent[i], "SIP/2.0 200", 11))
            first = sent[i];
    char *to = header(first, "To: ");
    char text[1024];
    snprintf(text, sizeof(text), SUBSCRIBE_TEXT("%s", "0"), strchr(to, ';'), strchr(to, ';'));
    free(to);
    deliver(text);
    advance(150);
    answer_last_notify();
    cr_assert_eq(count_kept(PROXY_DOC_SUBSCRIPTION, "blf-1@10.0.0.5;lamp1", true), 1,
                 "removed when it ended");
}

Test(proxy_keep, a_kept_subscription_is_served_again)
{
    deliver(SUBSCRIBE_TEXT("", "600"));
    answer_last_notify();
    cr_assert_eq(kept_count, 1);
    char *key = strdup(kept[0].key), *value = strdup(kept[0].value);
    char *cseq = header(sent[sent_count - 1], "CSeq: ");
    cr_assert_str_eq(cseq, "1 NOTIFY");
    free(cseq);
    /* another process, as after a restart */
    proxy_destroy(proxy);
    forget_all();
    proxy = new_proxy();
    uint64_t wall = (uint64_t)call_journal_now();
    cr_assert_eq(proxy_notify_restore(proxy, key, value, wall + 500000), 0);
    cr_assert_eq(proxy_notify_restore(proxy, key, value, wall + 500000), SB_EMALFORMED,
                 "not twice");
    cr_assert_eq(proxy_notify_restore(proxy, "other;x", value, wall - 1), SB_EMALFORMED, "expired");
    cr_assert_eq(proxy_notify_restore(proxy, "other;y", "d3:pkgi1ee", wall + 500000), SB_EMALFORMED,
                 "damaged");
    advance(150);
    const char *n = answer_last_notify();
    cseq = header(n, "CSeq: ");
    cr_assert_str_eq(cseq, "10 NOTIFY", "past the kept CSeq (1) by 8 and one");
    cr_assert(strstr(n, "Call-ID: blf-1@10.0.0.5\r\n"), "in the same dialog");
    cr_assert(strstr(n, "To: <sip:lamp@127.0.0.1>;tag=lamp1\r\n"));
    cr_assert(strstr(n, "NOTIFY sip:lamp@10.0.0.5:5062 SIP/2.0\r\n"), "to its Contact");
    cr_assert(strstr(n, "state=\"full\""), "full state:\n%s", n);
    cr_assert(strstr(n, "version=\"1\""), "the next version:\n%s", n);
    free(cseq);
    free(key);
    free(value);
}

#define PUBLISH_TEXT(IF_MATCH, ACTIVITY)                                                           \
    "PUBLISH sip:bob@127.0.0.1 SIP/2.0\n"                                                          \
    "Via: SIP/2.0/UDP 10.0.0.5:5062;branch=z9hG4bK-p" ACTIVITY ";rport\n"                          \
    "Max-Forwards: 70\n"                                                                           \
    "From: <sip:bob@127.0.0.1>;tag=pub1\n"                                                         \
    "To: <sip:bob@127.0.0.1>\n"                                                                    \
    "Call-ID: pub-" ACTIVITY "@10.0.0.5\n"                                                         \
    "CSeq: 1 PUBLISH\n" IF_MATCH "Event: presence\n"                                               \
    "Content-Type: application/pidf+xml\n"                                                         \
    "Content-Length: %zu\n\n%s"

static void publish(const char *fmt, const char *etag, const char *activity)
{
    char body[512], text[2048];
    snprintf(body, sizeof(body),
             "<?xml version=\"1.0\"?>\n<presence xmlns=\"urn:ietf:params:xml:ns:pidf\" "
             "xmlns:rpid=\"urn:ietf:params:xml:ns:pidf:rpid\" entity=\"sip:bob@127.0.0.1\">"
             "<tuple id=\"t\"><status><basic>open</basic></status></tuple>"
             "<person id=\"p\"><rpid:activities><rpid:%s/></rpid:activities></person>"
             "</presence>",
             activity);
    if (etag)
        snprintf(text, sizeof(text), fmt, etag, strlen(body), body);
    else
        snprintf(text, sizeof(text), fmt, strlen(body), body);
    deliver(text);
}

Test(proxy_keep, a_publication_is_kept_in_place_of_the_one_it_modifies)
{
    publish(PUBLISH_TEXT("", "away"), NULL, "away");
    cr_assert_eq(kept_count, 1);
    cr_assert_eq(kept[0].kind, PROXY_DOC_PRESENCE);
    cr_assert_not_null(kept[0].value);
    char *etag = header(sent[sent_count - 1], "SIP-ETag: ");
    char key[64];
    snprintf(key, sizeof(key), "bob %s", etag);
    cr_assert_str_eq(kept[0].key, key);
    struct presence_entry e = {0};
    cr_assert_eq(presence_entry_read(kept[0].value, strlen(kept[0].value), &e), 0);
    cr_assert_str_eq(e.doc.activity, "away");
    publish(PUBLISH_TEXT("SIP-If-Match: %s\n", "busy"), etag, "busy");
    cr_assert_eq(count_kept(PROXY_DOC_PRESENCE, key, true), 1, "the old tag's entry removed");
    char *etag2 = header(sent[sent_count - 1], "SIP-ETag: ");
    snprintf(key, sizeof(key), "bob %s", etag2);
    cr_assert_eq(count_kept(PROXY_DOC_PRESENCE, key, false), 1, "the new one kept");
    free(etag);
    free(etag2);
}
