/* libFuzzer harness: arbitrary bytes take the path a datagram takes —
 * ingress (keep-alive check, parse, validate, Via stamping), the listener's
 * error reply, then the proxy core with its transaction layer, registrar
 * and response building — without sockets. Timers are fired every input so
 * no state piles up between inputs. Differential: every message the proxy
 * relays by editing its bytes (sip_edit.h) is serialized the old way too
 * (SB_EDIT_VERIFY), and the two must mean the same, else abort(); the
 * editor alone also gets the bytes, with the edits a proxy makes. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <osipparser2/osip_parser.h>
#include <osipparser2/osip_port.h>
#include <urcu.h>

#include "switchboard/call_index.h"
#include "switchboard/dialplan.h"
#include "switchboard/pickup_board.h"
#include "switchboard/presence_state.h"
#include "switchboard/config.h"
#include "switchboard/dialog_watch.h"
#include "switchboard/settings.h"
#include "switchboard/identity.h"
#include "switchboard/ingress.h"
#include "switchboard/listen.h"
#include "switchboard/log.h"
#include "switchboard/net.h"
#include "switchboard/proxy.h"
#include "switchboard/registrar.h"
#include "switchboard/secret.h"
#include "switchboard/sip_edit.h"
#include "switchboard/sip_msg.h"
#include "switchboard/timer_wheel.h"

static struct sb_config config;
static struct registrar *registrar;
static struct identity *identity;
static struct timer_wheel *wheel;
static struct proxy *proxy;
static struct secret *secret;
static size_t bytes_sent;

static struct listen_table listens;
static struct net *net;

static void count_send(void *ctx, const struct sb_dest *dest, const char *data, size_t len)
{
    (void)ctx, (void)dest, (void)data;
    bytes_sent += len; /* the datagram was built; where it goes is the kernel's business */
}

static void quiet(const char *f, int l, osip_trace_level_t lv, const char *fmt, va_list ap)
{
    (void)f, (void)l, (void)lv, (void)fmt, (void)ap;
}

static void bind_user(const char *aor, const char *uri)
{
    struct registrar_change c = {0};
    c.binding.contact = uri;
    c.binding.uri = uri;
    c.binding.expires_at_ms = UINT64_MAX / 2;
    c.binding.q = 1000;
    registrar_update(registrar, aor, &c, 1, false, "fuzz", 1, 0, NULL);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    parser_init();
    osip_trace_initialize_func(TRACE_LEVEL0, quiet);
    for (int i = 0; i < END_TRACE_LEVEL; i++)
        osip_trace_disable_level((osip_trace_level_t)i);
    sb_log_set_level(SB_LOG_ERROR);
    rcu_register_thread();
    config_defaults(&config);
    char *args[] = {
        "fuzz",        "-l", "udp:127.0.0.1:5060", "-l", "tcp:127.0.0.1:5060", "--domain",
        "example.com", NULL};
    if (settings_from_args(&config, 7, args) != 0 || listen_table_init(&listens, &config) != 0)
        abort();
    struct sb_counters *counters = calloc(1, sizeof(struct sb_counters));
    struct net_deps nd = {.listens = &listens, .counters = counters, .capture = count_send};
    if (net_create(&nd, &net) != 0)
        abort();
    /* bounded like production, so fuzzed REGISTERs cannot grow it forever */
    struct registrar_limits limits = {.max_bindings = 4, .max_records = 1000};
    if (registrar_create(&limits, &registrar) || identity_create(&config, &identity) ||
        timer_wheel_create(sb_now_ms(), &wheel))
        abort();
    static const char key[] = "fuzzing key, not secret at all";
    if (secret_from_bytes(key, sizeof(key), &secret) != 0)
        abort();
    /* two devices for bob (forking, one over TCP), one for alice */
    bind_user("bob", "sip:bob@127.0.0.2:5062");
    bind_user("bob", "sip:bob@127.0.0.3:5064;transport=tcp");
    bind_user("alice", "sip:alice@127.0.0.4:5066");
    /* busy lamps' subscriptions and the calls they watch (RFC 4235) */
    struct dialog_watch *watch;
    if (dialog_watch_create(PROXY_WATCH_MAX_USERS, PROXY_WATCH_PER_USER, PROXY_WATCH_PER_SOURCE,
                            &watch) != 0)
        abort();
    struct call_index *calls;
    if (call_index_create(&calls) != 0)
        abort();
    /* an office plan with a group and call pickup: *8 and *8101 are
     * routed by it, and the calls it rings go on the pickup board */
    struct dialplan *dp;
    struct dialplan_holder *plans;
    struct pickup_board *ringing;
    char err[128];
    if (dialplan_parse("[extensions]\n101 = bob\n[groups]\nsales = all: bob, alice\n"
                       "[features]\npickup = *8\n",
                       "fuzz.conf", &dp, err, sizeof(err)) != 0 ||
        dialplan_holder_create(dp, &plans) != 0 ||
        pickup_board_create(PROXY_PICKUP_MAX_RINGING, &ringing) != 0)
        abort();
    /* what PUBLISHes say of users' presence (RFC 3903) */
    struct presence_state *presence;
    if (presence_state_create(PROXY_PRESENCE_MAX_USERS, PROXY_PRESENCE_PER_USER, &presence) != 0)
        abort();
    struct proxy_env env = {
        .watch = watch,
        .call_index = calls,
        .plans = plans,
        .pickup = ringing,
        .presence = presence,
        .config = &config,
        .registrar = registrar,
        .identity = identity,
        .wheel = wheel,
        .net = &net_proxy_ops,
        .net_ctx = net,
        .counters = counters,
        .secret = secret,
        .instance = 0x5eed1234, /* dialogs tracked, as in the program */
    };
    setenv("SB_EDIT_VERIFY", "1", 1);
    if (proxy_create(&env, &proxy) != 0)
        abort();
    return 0;
}

/* The edits a proxy makes, on any bytes the editor indexes: the result
 * is as long as it says, and a second pass over it indexes too. */
static void one_edit(const char *raw, size_t len)
{
    struct sipedit e;
    if (sipedit_open(&e, raw, len) != 0)
        return;
    size_t n;
    if (e.request) {
        sipedit_set_first(&e, "sip:bob@127.0.0.2:5062");
        sipedit_insert_field(&e, SIPEDIT_VIA, "Via", "SIP/2.0/UDP 127.0.0.1;branch=z9hG4bKf");
        sipedit_drop_values(&e, SIPEDIT_ROUTE, sipedit_count(&e, SIPEDIT_ROUTE) > 0);
        sipedit_insert_field(&e, SIPEDIT_RECORD_ROUTE, "Record-Route", "<sip:127.0.0.1;lr>");
        sipedit_set_field(&e, SIPEDIT_MAX_FORWARDS, "Max-Forwards", "69");
    } else {
        sipedit_drop_values(&e, SIPEDIT_VIA, 1);
        if (sipedit_value(&e, SIPEDIT_RECORD_ROUTE, 0, &n))
            sipedit_replace_value(&e, SIPEDIT_RECORD_ROUTE, 0, "<sip:127.0.0.1;lr;x>");
        sipedit_set_first(&e, "Reason");
    }
    if (len & 2)
        sipedit_set_body(&e, "v=0\r\n", 5);
    char *out;
    if (sipedit_render(&e, &out, &n) != 0)
        return;
    /* up to four fields were added (Via, Record-Route, Max-Forwards and,
     * with a new body, Content-Length): past the index's bound the output
     * is refused for its size alone, as a message of that many fields is */
    bool room = e.count + 4 <= SIPEDIT_LINES;
    if (sipedit_open(&e, out, n) != 0 && room)
        abort(); /* the edits made a message the editor itself cannot read */
    free(out);
}

static osip_message_t *parsed(const char *text, size_t len)
{
    osip_message_t *m = NULL;
    if (osip_message_init(&m) != 0)
        return NULL;
    if (osip_message_parse(m, text, len) != 0) {
        osip_message_free(m);
        return NULL;
    }
    return m;
}

static bool same_text(const char *a, const char *b)
{
    return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

/* Differential: our own response written from the request's lines
 * (ingress_reply()) reads, through libosip2, as the one libosip2 builds
 * from the parse: status, Vias, tags, Call-ID and CSeq. */
static void own_response(const struct sb_inbound *in)
{
    const osip_message_t *req = in->msg;
    if (!MSG_IS_REQUEST(req) || MSG_IS_ACK(req) || !req->cseq || !req->call_id)
        return;
    char *text, *old_text;
    size_t len, old_len;
    if (ingress_reply(in, 481, "Gone", "fz", NULL, &text, &len) != 0)
        return;
    osip_message_t *built;
    if (sipmsg_response_create(req, 481, "Gone", "fz", &built) != 0)
        abort();
    if (sipmsg_serialize(built, &old_text, &old_len) != 0)
        abort();
    osip_message_free(built);
    osip_message_t *a = parsed(text, len), *b = parsed(old_text, old_len);
    if (b && !a)
        abort(); /* written from lines libosip2 read, it does not read */
    if (a && b) {
        char *ca = NULL, *cb = NULL;
        osip_call_id_to_str(a->call_id, &ca);
        osip_call_id_to_str(b->call_id, &cb);
        if (a->status_code != 481 || osip_list_size(&a->vias) != osip_list_size(&b->vias) ||
            !same_text(ca, cb) || !same_text(sipmsg_to_tag(a), sipmsg_to_tag(b)) ||
            !same_text(sipmsg_from_tag(a), sipmsg_from_tag(b)) || !a->cseq || !b->cseq ||
            !same_text(a->cseq->number, b->cseq->number) ||
            !same_text(a->cseq->method, b->cseq->method))
            abort();
        osip_free(ca);
        osip_free(cb);
    }
    osip_message_free(a);
    osip_message_free(b);
    free(text);
    osip_free(old_text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 65535)
        return 0;
    char *buf = malloc(size + 1);
    memcpy(buf, data, size);
    struct sb_addr src;
    struct sb_local local = {0};
    sipmsg_host_to_addr("127.0.0.2", 5062, &src);
    sipmsg_host_to_addr("127.0.0.1", 5060, &local.addr);
    struct ingress got;
    switch (ingress_parse(buf, size, &src, &got)) {
    case INGRESS_REJECT: {
        osip_message_t *resp;
        char *text;
        size_t len;
        if (sipmsg_response_create(got.msg, got.code, NULL, "fz", &resp) == 0) {
            if (sipmsg_serialize(resp, &text, &len) == 0)
                osip_free(text);
            osip_message_free(resp);
        }
        osip_message_free(got.msg);
        break;
    }
    case INGRESS_MESSAGE: {
        /* as ingress_receive(): the bytes ride in the same allocation */
        struct sb_inbound *in = calloc(1, sizeof(*in) + size + 1);
        if (got.exact) {
            memcpy(in + 1, data, size);
            in->raw = (const char *)(in + 1);
            in->raw_len = size;
        }
        in->msg = got.msg;
        in->raw_contacts = got.raw_contacts;
        in->raw_contact_count = got.raw_contact_count;
        in->src = src;
        in->local = local;
        /* the low bit of the length picks the transport it came over */
        in->transport = size & 1 ? SB_TCP : SB_UDP;
        in->conn = size & 1 ? 0x100 : 0;
        in->local.listen_index = size & 1;
        own_response(in);
        proxy_handle(proxy, in);
        break;
    }
    default:
        break;
    }
    /* ten minutes on after every input: every timer is due, transactions
     * end, memory returns (the layer schedules from the wheel's time) */
    static uint64_t clock_ms;
    if (!clock_ms)
        clock_ms = sb_now_ms();
    clock_ms += 10u * 60u * 1000u;
    timer_wheel_advance(wheel, clock_ms);
    one_edit((const char *)data, size);
    free(buf);
    return 0;
}
