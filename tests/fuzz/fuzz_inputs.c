/* libFuzzer harness for the parsers that read what is not a datagram, or
 * only part of one: the first byte picks which one gets the rest.
 *   0  an Authorization header value: osip's parse, digest_credentials_read,
 *      and the whole auth_check against a users table (nonces, nc, users),
 *      then as an HTTP request's for the office directory (auth_check_http)
 *   1  a users file (htdigest format)
 *   2  a configuration file (INI), checked as at start-up, and its office
 *      sections as the dial plan (dialplan.c), with a call routed by it
 *      and the office directory written from it (directory.c)
 *   3  a flow token (the user part of our Record-Route) and its target
 *   4  an "ip:port" address as the registration store writes it; then the
 *      bytes as DNS answers (RFC 3263), and as a PUBLISHed PIDF body
 *      (pidf_read), written back into our own document; then as a Via
 *      value stamped with received/rport in the bytes it came as
 *      (sipmsg_via_stamped_text): libosip2 must read it as the Via it
 *      stamped itself
 *   5  bytes from a TCP/TLS connection: framed as an I/O thread frames them
 *      (stream_frame.h), fed in pieces the first bytes choose, each whole
 *      message through the ingress parser; then the same bytes as a
 *      WebSocket connection's (ws.h): its handshake read, the pieces fed
 *      to a session and every message it gives sent back through it
 *   6  an admin plane request's input: a query string split and applied as
 *      the server applies it (admin_param), then as a time, a bearer
 *      header, a user name, a Host and an Origin header
 *   7  a binding as the Redis store keeps it (store_redis_decode, its
 *      field and a re-encoding), then the same text as a store URL, as a
 *      kept subscription (sub_record_read) and as a kept presence entry
 *      and its key (presence_entry_read, presence_entry_split): what is
 *      read must be read again from what it is written back as
 *   8  an rtpengine "ng" body (bencoding): what is read must re-encode to
 *      the very bytes it took, and every dictionary lookup stay in bounds;
 *      then the bytes as an ng reply (with a delete's figures, media.h),
 *      as a [media] rtpengine list and as an SDP body's connection line
 * Nothing here may crash, leak, or read out of bounds, whatever the bytes. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <osipparser2/osip_parser.h>
#include <osipparser2/osip_port.h>
#include <urcu.h>

#include "switchboard/admin_query.h"
#include "switchboard/auth.h"
#include "switchboard/auth_users.h"
#include "switchboard/bencode.h"
#include "switchboard/directory.h"
#include "switchboard/presence_state.h"
#include "switchboard/sub_record.h"
#include "switchboard/buf.h"
#include "switchboard/callroute.h"
#include "switchboard/dialplan.h"
#include "switchboard/pidf.h"
#include "switchboard/sipdns.h"
#include "switchboard/webdir.h"
#include "switchboard/ws.h"
#include "switchboard/trunk.h"
#include "switchboard/config.h"
#include "switchboard/settings.h"
#include "switchboard/digest.h"
#include "switchboard/flow.h"
#include "switchboard/ingress.h"
#include "switchboard/log.h"
#include "switchboard/media.h"
#include "switchboard/ng.h"
#include "switchboard/registrar.h"
#include "switchboard/secret.h"
#include "switchboard/sip_msg.h"
#include "switchboard/store_redis_codec.h"
#include "switchboard/stream_frame.h"
#include "switchboard/types.h"

static struct secret *secret;
static struct auth *auth;

static void quiet(const char *f, int l, osip_trace_level_t lv, const char *fmt, va_list ap)
{
    (void)f, (void)l, (void)lv, (void)fmt, (void)ap;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    parser_init();
    osip_trace_initialize_func(TRACE_LEVEL0, quiet);
    for (int i = 0; i < END_TRACE_LEVEL; i++)
        osip_trace_disable_level((osip_trace_level_t)i);
    sb_log_set_level(SB_LOG_ERROR); /* run.sh quiets config errors: -close_fd_mask=2 */
    rcu_register_thread();
    static const char key[] = "fuzzing key, not secret at all";
    char path[] = "/tmp/sb-fuzz-users-XXXXXX";
    int fd = mkstemp(path);
    FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
    if (!f || secret_from_bytes(key, sizeof(key), &secret) != 0)
        abort();
    fprintf(f, "alice:pbx.test:6f69092e95e8cc81524113b2c5738422\n");
    fclose(f);
    struct auth_options o = {.mode = AUTH_MODE_ALL,
                             .realm = "pbx.test",
                             .users_path = path,
                             .offer = {DIGEST_MD5, DIGEST_SHA256},
                             .offer_count = 2,
                             .nonce_ttl_s = 300,
                             .max_failures = 1000000,
                             .block_s = 1};
    if (auth_create(&o, secret, &auth) != 0)
        abort();
    unlink(path);
    return 0;
}

/* 0: an Authorization header, read and then checked in a REGISTER. */
static void one_authorization(const char *text)
{
    osip_authorization_t *a;
    struct digest_credentials c;
    if (osip_authorization_init(&a) == 0) {
        if (osip_authorization_parse(a, text) == 0)
            digest_credentials_read(a, &c);
        osip_authorization_free(a);
    }
    /* the same text as a carrier's challenge, answered (trunks) */
    osip_www_authenticate_t *w;
    if (osip_www_authenticate_init(&w) == 0) {
        char answer[1024];
        struct digest_client dc = {.user = "4930123456",
                                   .password = "pw",
                                   .method = "INVITE",
                                   .uri = "sip:+49301234567@carrier.test",
                                   .cnonce = "0a4f113b",
                                   .nc = 1};
        if (osip_www_authenticate_parse(w, text) == 0)
            digest_client_answer(w, &dc, answer, sizeof(answer));
        osip_www_authenticate_free(w);
    }
    char *msg = malloc(strlen(text) + 512);
    sprintf(msg,
            "REGISTER sip:pbx.test SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK-f\r\n"
            "From: <sip:alice@pbx.test>;tag=1\r\nTo: <sip:alice@pbx.test>\r\nCall-ID: f\r\n"
            "CSeq: 1 REGISTER\r\nAuthorization: %s\r\nContent-Length: 0\r\n\r\n",
            text);
    osip_message_t *m;
    if (osip_message_init(&m) == 0) {
        if (osip_message_parse(m, msg, strlen(msg)) == 0 && m->req_uri) {
            struct sb_addr src;
            sipmsg_host_to_addr("192.0.2.1", 5060, &src);
            auth_check(auth, m, false, "alice", &src, false, NULL);
        }
        osip_message_free(m);
    }
    free(msg);
    /* the same value in a GET of the office directory (HTTP Digest) */
    struct sb_addr peer;
    sipmsg_host_to_addr("192.0.2.2", 40000, &peer);
    char who[260];
    auth_check_http(auth, "GET", "/directory", text, &peer, who);
}

static bool everyone(void *ctx, const char *user)
{
    (void)ctx;
    return user[0] != 'x'; /* some registered, some not */
}

static bool nobody(void *ctx, const char *user)
{
    (void)ctx;
    return user[0] == 'd';
}

static uint32_t fuzz_draw(void *ctx)
{
    (void)ctx;
    return 7;
}

/* Trunks, dial patterns and inbound numbers (trunk.h), every lookup. */
static void one_trunks(const char *text)
{
    struct trunk_plan *plan;
    char err[256], buf[64];
    if (trunk_plan_parse(text, "fuzz.conf", &plan, err, sizeof(err)) != 0)
        return;
    static const char *const dialled[] = {"0301234567", "0044201234", "+4930123456", "100", "*21#"};
    const struct trunk *out[TRUNK_MAX_PER_ROUTE];
    for (size_t i = 0; i < sizeof(dialled) / sizeof(dialled[0]); i++) {
        size_t n = trunk_outbound(plan, dialled[i], out, TRUNK_MAX_PER_ROUTE);
        for (size_t k = 0; k < n; k++)
            trunk_normalise(out[k], dialled[i], buf, sizeof(buf));
        if (plan->count)
            trunk_inbound(plan, &plan->trunks[0], dialled[i]);
    }
    trunk_plan_free(plan);
}

static void one_config(const char *text)
{
    struct sb_config cfg;
    config_defaults(&cfg);
    settings_load_text(&cfg, text, "fuzz.conf");
    config_free(&cfg);
    struct dialplan *dp;
    char err[256];
    if (dialplan_parse(text, "fuzz.conf", &dp, err, sizeof(err)) != 0)
        return;
    /* every name the plan knows, dialled, through every kind of ending */
    static const char *const names[] = {"101", "alice", "bob", "sales", "support", "x", "dave"};
    struct callroute_env env = {.registered = everyone, .dnd = nobody};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        struct callroute r;
        struct callroute_stage st;
        callroute_start(&r, dp, names[i], &env, &st);
        for (int step = 0; step < 40 && (st.kind == CALLROUTE_RING || st.kind == CALLROUTE_URI);
             step++)
            callroute_next(&r, (enum callroute_event)(step % 3), &env, &st);
    }
    /* what a pickup asks of the plan ([features] pickup) */
    if (dialplan_pickup(dp))
        dialplan_share_group(dp, "alice", "bob");
    /* the office directory the page reads from it, which must be JSON */
    struct sb_buf dir = {0};
    if (directory_json(dp, auth, &dir) == 0 && !dir.failed &&
        (dir.len < 2 || dir.data[0] != '{' || dir.data[dir.len - 2] != '}'))
        __builtin_trap();
    sb_buf_free(&dir);
    dialplan_unref(dp);
    one_trunks(text);
}

static void one_flow_token(const char *text)
{
    struct flow_side a, b;
    if (flow_token_parse(text, &a, &b) == 0) {
        flow_token_target(true, &a, &b);
        flow_token_target(false, &a, &b);
    }
}

/* ws_write_fn: counts what a session sends; a peer that stops reading
 * after a MiB makes it fail. */
static bool ws_count(void *ctx, const char *data, size_t len)
{
    (void)data;
    size_t *sent = ctx;
    *sent += len;
    return *sent < (1u << 20);
}

/* A page of one file, as the ws: listeners serve it: a request's path is
 * looked up in it. */
static struct webdir *fuzz_page(void)
{
    static struct webdir *w;
    static char dir[] = "/tmp/sb-fuzz-page-XXXXXX";
    char path[64], err[256];
    if (w || !mkdtemp(dir))
        return w;
    snprintf(path, sizeof(path), "%s/index.html", dir);
    FILE *f = fopen(path, "w");
    if (f) {
        fputs("<!doctype html>", f);
        fclose(f);
    }
    if (webdir_load(dir, &w, err, sizeof(err)) != 0)
        w = NULL;
    unlink(path);
    rmdir(dir);
    return w;
}

/* 5 (after the framing): the bytes as a WebSocket client's, the handshake
 * (or a page's request) at their start and the frames after it, @piece
 * bytes at a time. */
static void one_ws(const uint8_t *data, size_t size, size_t piece)
{
    struct ws_request r;
    ws_request_parse((const char *)data, size, &r);
    if (r.kind == WS_REQUEST_GET) {
        const struct webdir_file *f = webdir_find(fuzz_page(), r.path);
        if (f && strcmp(f->path, "/index.html") != 0)
            abort(); /* the page has no other file */
    }
    if (r.kind == WS_REQUEST_UPGRADE) {
        char out[512];
        ws_accept_response(&r, out, sizeof(out));
        ws_origin_allowed(&r, NULL);
        ws_origin_allowed(&r, "https://pbx.test, *");
    }
    size_t sent = 0, fed = r.kind == WS_REQUEST_UPGRADE ? r.length : 0;
    struct ws_session *ws;
    if (ws_session_new(4096, ws_count, &sent, &ws) != 0)
        return;
    enum ws_state st = WS_OPEN;
    while (fed < size && st != WS_FAILED) {
        size_t n = size - fed < piece ? size - fed : piece;
        st = ws_session_feed(ws, (const char *)data + fed, n);
        fed += n;
        char *msg;
        size_t len;
        while (ws_session_next(ws, &msg, &len)) {
            if (msg[len] != '\0')
                abort(); /* the NUL ingress_parse relies on */
            ws_session_send(ws, msg, len);
        }
    }
    ws_session_free(ws);
}

/* 5: a connection's bytes, delivered @data[0] bytes at a time (1-256) into
 * a buffer as the I/O thread keeps one: each whole message goes through
 * ingress_parse; a framing error ends the connection. */
static void one_stream(const uint8_t *data, size_t size)
{
    if (size < 2)
        return;
    size_t piece = (size_t)data[0] + 1;
    data++;
    size--;
    char *buf = malloc(size + 1);
    size_t len = 0, fed = 0;
    struct stream_scan scan = {0};
    while (fed < size) {
        size_t n = size - fed < piece ? size - fed : piece;
        memcpy(buf + len, data + fed, n);
        len += n;
        fed += n;
        for (;;) {
            struct stream_frame f, whole;
            stream_frame_next(buf, len, &scan, &f);
            /* resuming where the last look stopped sees what a look at the
             * whole buffer sees */
            stream_frame_next(buf, len, NULL, &whole);
            if (f.kind != whole.kind || f.length != whole.length || f.skip != whole.skip)
                abort();
            if (f.kind == STREAM_FRAME_MORE)
                break;
            scan = (struct stream_scan){0};
            if (f.kind != STREAM_FRAME_MESSAGE && f.kind != STREAM_FRAME_PING &&
                f.kind != STREAM_FRAME_PONG) {
                free(buf);
                return; /* 400 or 513 and close */
            }
            size_t used = f.skip;
            if (f.kind == STREAM_FRAME_MESSAGE) {
                char *msg = malloc(f.length + 1);
                memcpy(msg, buf, f.length);
                struct ingress got;
                struct sb_addr src;
                sipmsg_host_to_addr("192.0.2.1", 40000, &src);
                ingress_parse(msg, f.length, &src, &got);
                osip_message_free(got.msg);
                free(got.raw_contacts);
                free(msg);
                used = f.length;
            }
            memmove(buf, buf + used, len - used);
            len -= used;
        }
    }
    free(buf);
}

/* 6: "k=v&k=v" as the admin server would take it apart. */
static void one_admin_query(char *text)
{
    struct admin_params p;
    admin_params_init(&p);
    int64_t ms;
    admin_time_parse(text, &ms);
    admin_bearer_ok(text, "0123456789abcdef0123");
    admin_user_valid(text);
    admin_host_is_loopback(text);
    admin_origin_ok(text, "127.0.0.1:8060");
    char *save = NULL;
    for (char *kv = strtok_r(text, "&", &save); kv; kv = strtok_r(NULL, "&", &save)) {
        char *eq = strchr(kv, '=');
        if (eq)
            *eq++ = '\0';
        admin_param(&p, kv, eq);
    }
}

/* A value read back from Redis: whatever decodes must encode into
 * something that decodes again. */
/* The bytes as documents the store keeps (store.h: DOCUMENTS). */
static void one_kept_document(const char *text, size_t len)
{
    struct sub_record r, r2;
    if (sub_record_read(text, len, &r) == 0) {
        struct sb_buf again = {0};
        sub_record_write(&again, &r);
        if (!again.failed && sub_record_read(again.data, again.len, &r2) != 0)
            __builtin_trap(); /* we cannot read what we wrote */
        if (!again.failed)
            sub_record_free(&r2);
        sub_record_free(&r);
        sb_buf_free(&again);
    }
    struct presence_entry e = {0}, e2 = {0};
    if (presence_entry_read(text, len, &e) == 0) {
        struct sb_buf again = {0};
        presence_entry_write(&again, &e);
        if (!again.failed && presence_entry_read(again.data, again.len, &e2) != 0)
            __builtin_trap();
        sb_buf_free(&again);
    }
    char user[320], etag[PRESENCE_ETAG_MAX];
    presence_entry_split(text, user, sizeof(user), etag);
}

static void one_redis_value(const char *text, size_t len)
{
    (void)len;
    char *copy = strdup(text);
    struct registrar_binding b, b2;
    if (copy && store_redis_decode(copy, strlen(copy), &b) == 0) {
        struct sb_buf again = {0}, field = {0};
        store_redis_field(&b, &field);
        store_redis_encode(&b, 0, b.node, &again);
        if (!again.failed && store_redis_decode(again.data, again.len, &b2) != 0)
            __builtin_trap(); /* we cannot read what we wrote */
        sb_buf_free(&again);
        sb_buf_free(&field);
    }
    free(copy);
    struct store_redis_url url;
    store_redis_parse_url(text, &url);
    one_kept_document(text, len);
}

/* A Via stamped in its own bytes must read as libosip2's stamped Via. */
static void one_via_stamp(const char *text, bool far)
{
    osip_via_t *via, *back;
    if (osip_via_init(&via) != 0)
        return;
    struct sb_addr src;
    sipmsg_host_to_addr(far ? "10.0.0.9" : "127.0.0.2", 5070, &src);
    char out[1024], *want = NULL, *got = NULL;
    if (osip_via_parse(via, text) == 0 && sipmsg_via_stamp_source(via, &src) == 0 &&
        sipmsg_via_stamped_text(text, strlen(text), via, out, sizeof(out)) >= 0 &&
        osip_via_to_str(via, &want) == 0 && osip_via_init(&back) == 0) {
        if (osip_via_parse(back, out) != 0 || osip_via_to_str(back, &got) != 0 ||
            strcmp(want, got) != 0)
            abort(); /* the bytes say something else than the stamped Via */
        osip_via_free(back);
    }
    osip_free(want);
    osip_free(got);
    osip_via_free(via);
}

static void one_bencode(const char *buf, size_t len)
{
    static struct bencode_node nodes[256];
    size_t count;
    long took = bencode_parse(buf, len, nodes, 256, &count);
    if (took < 0)
        return;
    struct sb_buf b = {0};
    bencode_write(&b, nodes, 0);
    if (b.failed || b.len != (size_t)took || memcmp(b.data, buf, b.len) != 0)
        abort(); /* read and written differ */
    sb_buf_free(&b);
    for (size_t i = 0; i < count; i++)
        if (nodes[i].type == BENCODE_DICT)
            (void)bencode_get(nodes, i, "result");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > 65536)
        return 0;
    char *text = malloc(size);
    memcpy(text, data + 1, size - 1);
    text[size - 1] = '\0'; /* the parsers read C strings */
    struct auth_users *u = NULL;
    struct sb_addr addr;
    char err[256];
    switch (data[0] % 9) {
    case 0:
        one_authorization(text);
        break;
    case 1:
        /* one realm, or every realm keyed "user@realm" (use_domain) */
        if (auth_users_parse((const char *)data + 1, size - 1, data[0] & 8 ? NULL : "pbx.test", &u,
                             err, sizeof(err)) == 0)
            auth_users_ha1(u, data[0] & 8 ? "alice@pbx.test" : "alice", DIGEST_MD5);
        auth_users_free(u);
        break;
    case 2:
        one_config(text);
        break;
    case 3:
        one_flow_token(text);
        break;
    case 4: {
        sipmsg_addr_parse(text, &addr);
        /* the same bytes as a DNS answer (resolver.h, RFC 3263) */
        static struct sipdns_rr rr[16];
        static const enum sipdns_type types[] = {SIPDNS_NAPTR, SIPDNS_SRV, SIPDNS_A};
        for (size_t i = 0; i < 3; i++) {
            int n = sipdns_parse(data + 1, size - 1, types[i], rr, 16);
            if (n > 0 && types[i] == SIPDNS_NAPTR)
                sipdns_naptr_usable(rr, (size_t)n, -1);
            if (n > 0 && types[i] == SIPDNS_SRV)
                sipdns_srv_order(rr, (size_t)n, fuzz_draw, NULL);
        }
        struct pidf_published pub;
        if (pidf_read((const char *)data + 1, size - 1, &pub) == 0) {
            struct sb_buf doc = {0};
            pidf_write(&doc, "sip:bob@example.com", PIDF_ONLINE, &pub);
            sb_buf_free(&doc);
        }
        one_via_stamp(text, data[0] & 16);
        break;
    }
    case 5:
        one_stream(data + 1, size - 1);
        if (size > 2)
            one_ws(data + 2, size - 2, (size_t)data[1] + 1);
        break;
    case 6:
        one_admin_query(text);
        break;
    case 7:
        one_redis_value(text, size - 1);
        break;
    default: {
        one_bencode((const char *)data + 1, size - 1);
        static struct bencode_node nodes[64];
        static struct ng_engine engines[NG_MAX_ENGINES];
        struct ng_reply r;
        size_t n;
        if (ng_reply_parse((const char *)data + 1, size - 1, nodes, 64, &r) == 0) {
            if (r.cookie_len >= size || (r.sdp && r.sdp + r.sdp_len > (const char *)data + size))
                abort();           /* points outside the datagram */
            struct media_stats st; /* a delete's figures, from any dictionary */
            media_stats_of(&r, data[0] & 8 ? "ft" : NULL, &st);
        }
        ng_engines_parse(text, engines, NG_MAX_ENGINES, &n, err, sizeof(err));
        static struct sb_addr from; /* zeroed: no family */
        media_sdp_behind_nat((const char *)data + 1, size - 1, &from);
        break;
    }
    }
    free(text);
    return 0;
}
