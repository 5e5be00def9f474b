/* The transaction layer, RFC 3261 §17 with RFC 6026's Accepted states.
 * One layer per worker; see the DESIGN note in transaction.h. */
#include "switchboard/transaction.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include <osipparser2/osip_message.h>
#include <osipparser2/osip_port.h>

#include "switchboard/buf.h"
#include "switchboard/error.h"
#include "switchboard/fixbuf.h"
#include "switchboard/log.h"
#include "switchboard/ingress.h"
#include "switchboard/sip_edit.h"
#include "switchboard/sip_msg.h"
#include "switchboard/strmap.h"

/* --- the layer ------------------------------------------------------------ */

struct txn_layer {
    struct txn_config config;
    struct timer_wheel *wheel;
    struct txn_io io;
    struct txn_user_ops ops;
    void *user;
    struct strmap servers;
    struct strmap clients;
    uint64_t tag_seed;
    uint64_t tag_counter;
};

/* Server transactions (§17.2, RFC 6026 §7.1):
 *   INVITE:     PROCEEDING --2xx--> ACCEPTED --L--> gone
 *               PROCEEDING --300-699--> COMPLETED (G, H) --ACK--> CONFIRMED --I--> gone
 *   non-INVITE: TRYING --1xx--> PROCEEDING --final--> COMPLETED --J--> gone */
enum st_state { ST_TRYING, ST_PROCEEDING, ST_COMPLETED, ST_CONFIRMED, ST_ACCEPTED };
/* Client transactions (§17.1, RFC 6026 §7.2):
 *   INVITE:     CALLING (A, B) --1xx--> PROCEEDING --2xx--> ACCEPTED --M--> gone
 *               CALLING|PROCEEDING --300-699, ACK sent--> COMPLETED --D--> gone
 *   non-INVITE: CALLING (E, F) --1xx--> PROCEEDING --final--> COMPLETED --K--> gone */
enum ct_state { CT_CALLING, CT_PROCEEDING, CT_COMPLETED, CT_ACCEPTED };

struct server_txn {
    struct strmap_link link;
    struct txn_layer *layer;
    struct sb_inbound *in; /* released once a final response went out */
    struct sb_dest reply;  /* where responses go */
    bool invite;
    enum st_state state;
    char *last;
    size_t last_len;
    struct timer retransmit; /* G */
    struct timer lifetime;   /* H, I, J, L: coarse (timer_schedule_coarse) */
    unsigned interval_ms;
    void *tu;
    char tag[24];
};

struct client_txn {
    struct strmap_link link;
    struct txn_layer *layer;
    bool invite;
    enum ct_state state;
    char *request;
    size_t request_len;
    struct sb_dest dest;
    bool switched;           /* a big UDP request sent over TCP (§18.1.1)... */
    struct sb_dest udp_dest; /* ...that goes here if TCP fails */
    struct timer retransmit; /* A, E */
    struct timer lifetime;   /* B, D, F, K, M, the CANCEL guard of §9.1: coarse */
    unsigned interval_ms;
    void *tu;
    bool cancel_wanted, cancel_sent;
    /* INVITE only: what ACK and CANCEL take besides the request's bytes */
    char *branch;
    uint32_t cseq;
};

int txn_layer_create(const struct txn_config *config, struct timer_wheel *wheel,
                     const struct txn_io *io, const struct txn_user_ops *ops, void *user,
                     struct txn_layer **out)
{
    struct txn_layer *layer = calloc(1, sizeof(*layer));
    if (!layer)
        return SB_ENOMEM;
    layer->config = *config;
    layer->wheel = wheel;
    layer->io = *io;
    layer->ops = *ops;
    layer->user = user;
    if (getrandom(&layer->tag_seed, sizeof(layer->tag_seed), 0) != sizeof(layer->tag_seed))
        layer->tag_seed = (uint64_t)(uintptr_t)layer ^ sb_now_ms();
    if (strmap_init(&layer->servers, 1024) != 0 || strmap_init(&layer->clients, 1024) != 0) {
        strmap_fini(&layer->servers);
        free(layer);
        return SB_ENOMEM;
    }
    *out = layer;
    return 0;
}

static void server_free(struct server_txn *st);
static void client_free(struct client_txn *ct);

static void server_free_link(struct strmap_link *link)
{
    server_free((struct server_txn *)link);
}

static void client_free_link(struct strmap_link *link)
{
    client_free((struct client_txn *)link);
}

void txn_layer_destroy(struct txn_layer *layer)
{
    if (!layer)
        return;
    strmap_clear(&layer->servers, server_free_link);
    strmap_clear(&layer->clients, client_free_link);
    strmap_fini(&layer->servers);
    strmap_fini(&layer->clients);
    free(layer);
}

size_t txn_layer_server_count(const struct txn_layer *layer)
{
    return layer->servers.count;
}

size_t txn_layer_client_count(const struct txn_layer *layer)
{
    return layer->clients.count;
}

/* --- matching keys --------------------------------------------------------- */

int txn_server_key(const osip_message_t *req, bool for_invite, char *buf, size_t size)
{
    osip_via_t *via = sipmsg_top_via(req);
    if (!via || !via->host || !req->sip_method)
        return SB_EMALFORMED;
    const char *method = req->sip_method;
    if (MSG_IS_ACK(req) || (for_invite && MSG_IS_CANCEL(req)))
        method = "INVITE";
    const char *branch = sipmsg_via_param(via, "branch");
    const char *port = via->port ? via->port : "5060";
    int n;
    if (branch && strncmp(branch, SB_BRANCH_COOKIE, sizeof(SB_BRANCH_COOKIE) - 1) == 0) {
        /* §17.2.3's branch, sent-by and method, plus Call-ID and CSeq
         * number: a UA that reuses a branch across calls (SIPp's
         * out-of-call UAS sends every BYE with one) must not have the
         * second call's request taken for the first one's retransmission */
        const osip_call_id_t *id = req->call_id;
        uint64_t id_hash = (id->number ? sb_hash(id->number, strlen(id->number)) : 0) * 31 +
                           (id->host ? sb_hash(id->host, strlen(id->host)) : 0);
        struct fixbuf b;
        fixbuf_init(&b, buf, size);
        fixbuf_puts(&b, branch);
        fixbuf_char(&b, '|');
        fixbuf_puts(&b, via->host);
        fixbuf_char(&b, ':');
        fixbuf_puts(&b, port);
        fixbuf_char(&b, '|');
        fixbuf_puts(&b, method);
        fixbuf_char(&b, '|');
        fixbuf_hex_width(&b, id_hash, 16);
        fixbuf_char(&b, '|');
        fixbuf_uint(&b, sipmsg_cseq_number(req));
        return fixbuf_end(&b) < 0 ? SB_ERANGE : (int)b.len;
    } else {
        /* RFC 2543 peers: no unique branch, match on dialog and CSeq (§17.2.3) */
        const char *from_tag = sipmsg_from_tag(req);
        n = snprintf(buf, size, "2543|%s@%s|%s|%s|%s:%s|%s", req->call_id->number,
                     req->call_id->host ? req->call_id->host : "", req->cseq->number,
                     from_tag ? from_tag : "", via->host, port, method);
    }
    if (n < 0 || (size_t)n >= size)
        return SB_ERANGE;
    return n;
}

/* @msg for the wire: as the user renders it, else serialized. */
static int write_message(struct txn_layer *layer, osip_message_t *msg, char **out, size_t *len)
{
    if (layer->ops.render && layer->ops.render(layer->user, msg, out, len) == 0)
        return 0;
    return sipmsg_serialize(msg, out, len);
}

static int client_key(const char *branch, const char *method, char *buf, size_t size)
{
    struct fixbuf b;
    fixbuf_init(&b, buf, size);
    fixbuf_puts(&b, branch);
    fixbuf_char(&b, '|');
    fixbuf_puts(&b, method);
    return fixbuf_end(&b) < 0 ? SB_ERANGE : (int)b.len;
}

/* --- server transactions ------------------------------------------------- */

static void server_free(struct server_txn *st)
{
    timer_cancel(&st->retransmit);
    timer_cancel(&st->lifetime);
    sb_inbound_free(st->in);
    osip_free(st->last);
    free(st);
}

static void server_terminate(struct server_txn *st)
{
    struct txn_layer *layer = st->layer;
    strmap_remove(&layer->servers, &st->link);
    timer_cancel(&st->retransmit);
    timer_cancel(&st->lifetime);
    if (st->tu && layer->ops.on_server_gone)
        layer->ops.on_server_gone(layer->user, st, st->tu);
    server_free(st);
}

static bool reliable(const struct sb_dest *dest)
{
    return dest->transport != SB_UDP;
}

/* Timers D, I, J and K wait out retransmissions; over TCP and TLS there
 * are none, so they are zero (RFC 3261 §17.1.1.2, §17.1.2.2, §17.2.1,
 * §17.2.2). */
static unsigned absorb_ms(const struct sb_dest *dest, unsigned udp_ms)
{
    return reliable(dest) ? 0 : udp_ms;
}

static void server_send_last(struct server_txn *st)
{
    if (st->last)
        st->layer->io.send(st->layer->io.ctx, &st->reply, st->last, st->last_len);
}

static void server_on_retransmit(struct timer *timer, void *arg)
{
    struct server_txn *st = arg;
    struct txn_layer *layer = st->layer;
    (void)timer;
    if (st->state != ST_COMPLETED)
        return;
    server_send_last(st); /* Timer G */
    st->interval_ms *= 2;
    if (st->interval_ms > layer->config.t2_ms)
        st->interval_ms = layer->config.t2_ms;
    timer_schedule(layer->wheel, &st->retransmit, timer_wheel_now(layer->wheel) + st->interval_ms);
}

static void server_on_lifetime(struct timer *timer, void *arg)
{
    (void)timer;
    server_terminate(arg); /* Timer H, I, J or L */
}

/* osip_message_to_str() hands back its growth buffer (8 KiB for a short
 * message); a message kept to be resent for up to 64*T1 is cut to its
 * length, else every live transaction holds 8 KiB. */
static char *kept(char *text, size_t len)
{
    char *fit = osip_realloc(text, len + 1);
    return fit ? fit : text;
}

struct server_txn *txn_server_match(struct txn_layer *layer, const osip_message_t *req)
{
    char key[1024];
    int len = txn_server_key(req, false, key, sizeof(key));
    if (len < 0)
        return NULL;
    return (struct server_txn *)strmap_find(&layer->servers, key, (size_t)len);
}

struct server_txn *txn_server_match_cancelled(struct txn_layer *layer, const osip_message_t *cancel)
{
    char key[1024];
    int len = txn_server_key(cancel, true, key, sizeof(key));
    if (len < 0)
        return NULL;
    struct server_txn *st = (struct server_txn *)strmap_find(&layer->servers, key, (size_t)len);
    return st && st->invite ? st : NULL;
}

int txn_server_create(struct txn_layer *layer, struct sb_inbound *in, void *tu_data,
                      struct server_txn **out)
{
    char key[1024];
    int len = txn_server_key(in->msg, false, key, sizeof(key));
    if (len < 0)
        return len;
    if (layer->config.max_server && layer->servers.count >= layer->config.max_server)
        return SB_ELIMIT;
    struct server_txn *st = calloc(1, sizeof(*st));
    char *key_copy = strndup(key, (size_t)len);
    if (!st || !key_copy) {
        free(st);
        free(key_copy);
        return SB_ENOMEM;
    }
    st->reply = (struct sb_dest){
        .transport = in->transport, .fd = in->fd, .conn = in->conn, .local = in->local};
    /* over a stream the connection carries the responses; its source port
     * is no listening port, so it is the address to answer only while the
     * connection lives (§18.2.2) */
    if (in->transport != SB_UDP ||
        sipmsg_via_destination(sipmsg_top_via(in->msg), &st->reply.peer) != 0)
        st->reply.peer = in->src; /* an unresolvable sent-by: answer the source */
    st->layer = layer;
    st->in = in;
    st->invite = MSG_IS_INVITE(in->msg);
    st->state = st->invite ? ST_PROCEEDING : ST_TRYING;
    st->tu = tu_data;
    struct fixbuf tag;
    fixbuf_init(&tag, st->tag, sizeof(st->tag));
    fixbuf_puts(&tag, "sb");
    fixbuf_hex(&tag, layer->tag_seed ^ (++layer->tag_counter * 0x9e3779b97f4a7c15ull));
    fixbuf_end(&tag);
    timer_init(&st->retransmit, server_on_retransmit, st);
    timer_init(&st->lifetime, server_on_lifetime, st);
    strmap_insert(&layer->servers, &st->link, key_copy, (size_t)len);
    *out = st;
    return 0;
}

void txn_server_retransmission(struct server_txn *st)
{
    /* RFC 3261 §17.2.1/§17.2.2; in Accepted and Confirmed the request is
     * absorbed silently (RFC 6026) */
    if (st->state == ST_PROCEEDING || st->state == ST_COMPLETED)
        server_send_last(st);
}

bool txn_server_ack(struct server_txn *st)
{
    struct txn_layer *layer = st->layer;
    if (st->state == ST_CONFIRMED)
        return true;
    if (st->state != ST_COMPLETED)
        return false;
    st->state = ST_CONFIRMED;
    timer_cancel(&st->retransmit);
    timer_schedule_coarse(layer->wheel, &st->lifetime,
                          timer_wheel_now(layer->wheel) +
                              absorb_ms(&st->reply, layer->config.t4_ms)); /* I */
    return true;
}

static void server_sent(struct server_txn *st, char *text, size_t len, int code);

/* May @st still send a response @code? Not once its final one went. */
static bool may_respond(const struct server_txn *st, int code)
{
    return !(st->state == ST_COMPLETED || st->state == ST_CONFIRMED ||
             (st->state == ST_ACCEPTED && code >= 300) ||
             (!st->invite && st->state == ST_ACCEPTED));
}

static void note_response(struct server_txn *st, osip_message_t *resp, bool local)
{
    struct txn_layer *layer = st->layer;
    if (layer->ops.on_server_respond)
        layer->ops.on_server_respond(layer->user, st, st->tu, resp, local);
}

static int server_send_response(struct server_txn *st, osip_message_t *resp, bool local)
{
    struct txn_layer *layer = st->layer;
    int code = resp->status_code;
    if (!may_respond(st, code)) {
        osip_message_free(resp);
        return SB_EINVAL;
    }
    note_response(st, resp, local);
    char *text = NULL;
    size_t len = 0;
    int rc = write_message(layer, resp, &text, &len);
    osip_message_free(resp);
    if (rc != 0)
        return rc;
    server_sent(st, kept(text, len), len, code);
    return 0;
}

/* @text (@len bytes, taken) is @st's response @code: kept for
 * retransmissions, sent, and the state moves (§17.2.1, §17.2.2). */
static void server_sent(struct server_txn *st, char *text, size_t len, int code)
{
    struct txn_layer *layer = st->layer;
    osip_free(st->last);
    st->last = text;
    st->last_len = len;
    server_send_last(st);
    uint64_t now = timer_wheel_now(layer->wheel);
    if (code < 200) {
        if (st->state == ST_TRYING)
            st->state = ST_PROCEEDING;
    } else if (!st->invite) {
        st->state = ST_COMPLETED;
        timer_schedule_coarse(layer->wheel, &st->lifetime,
                              now + absorb_ms(&st->reply, 64u * layer->config.t1_ms)); /* J */
    } else if (code < 300) {
        /* RFC 6026 §7.1: Accepted absorbs INVITE retransmissions; further
         * 2xx from other branches are still sent */
        if (st->state != ST_ACCEPTED) {
            st->state = ST_ACCEPTED;
            timer_schedule_coarse(layer->wheel, &st->lifetime,
                                  now + 64u * layer->config.t1_ms); /* L */
        }
    } else {
        st->state = ST_COMPLETED;
        st->interval_ms = layer->config.t1_ms;
        if (!reliable(&st->reply))
            timer_schedule(layer->wheel, &st->retransmit, now + st->interval_ms);            /* G */
        timer_schedule_coarse(layer->wheel, &st->lifetime, now + 64u * layer->config.t1_ms); /* H */
    }
    if (code >= 200 && st->in) {
        /* matching needs only the key, retransmission only the response:
         * the request's memory goes now, not when Timer J/H/L ends */
        sb_inbound_free(st->in);
        st->in = NULL;
    }
    if (st->state == ST_ACCEPTED) {
        /* in Accepted nothing is resent (2xx retransmissions are the UAS's),
         * so for the 64*T1 of Timer L the transaction is just its key */
        osip_free(st->last);
        st->last = NULL;
    }
}

int txn_server_respond(struct server_txn *st, osip_message_t *resp)
{
    return server_send_response(st, resp, false);
}

int txn_server_respond_own(struct server_txn *st, osip_message_t *resp)
{
    return server_send_response(st, resp, true);
}

/* Our own response @code with @reason (after the hooks: a reason table
 * may change it) and @extra to @st's request, written from the request's
 * lines (§8.2.6), else built from its parse. */
static int write_own(struct server_txn *st, int code, const char *reason, const char *extra,
                     char **text, size_t *len)
{
    const osip_message_t *req = st->in->msg;
    if (ingress_reply(st->in, code, reason, st->tag, extra, text, len) == 0)
        return 0;
    int rc = sipmsg_response_text(req, code, reason, st->tag, extra, text, len);
    if (rc == 0)
        *text = kept(*text, *len);
    return rc;
}

int txn_server_respond_extra(struct server_txn *st, int code, const char *reason, const char *extra)
{
    if (!st->in || !may_respond(st, code))
        return SB_EINVAL; /* a final response went already */
    /* what the hooks read is lent from the request, not built */
    osip_message_t *view;
    int rc = sipmsg_response_lend(st->in->msg, code, reason, st->tag, &view);
    if (rc != 0)
        return rc;
    note_response(st, view, true);
    char *text = NULL;
    size_t len = 0;
    rc = write_own(st, code, view->reason_phrase, extra, &text, &len);
    sipmsg_response_unlend(view);
    if (rc != 0)
        return rc;
    server_sent(st, text, len, code);
    return 0;
}

int txn_server_respond_code(struct server_txn *st, int code, const char *reason)
{
    return txn_server_respond_extra(st, code, reason, NULL);
}

int txn_server_trying(struct server_txn *st, const char *reason)
{
    struct sb_inbound *in = st->in;
    if (!in || st->state != ST_PROCEEDING || !st->invite)
        return SB_EINVAL;
    if (in->trying) { /* the listener sent it: kept for retransmissions */
        osip_free(st->last);
        st->last = in->trying;
        st->last_len = in->trying_len;
        in->trying = NULL;
        return 0;
    }
    char *text = NULL;
    size_t len;
    if (ingress_trying(in, reason, &text, &len) != 0)
        return txn_server_respond_code(st, 100, reason);
    server_sent(st, text, len, 100);
    return 0;
}

const struct sb_dest *txn_server_reply_dest(const struct server_txn *st)
{
    return &st->reply;
}

const osip_message_t *txn_server_request(const struct server_txn *st)
{
    return st->in ? st->in->msg : NULL;
}

const struct sb_inbound *txn_server_inbound(const struct server_txn *st)
{
    return st->in;
}

bool txn_server_is_invite(const struct server_txn *st)
{
    return st->invite;
}

bool txn_server_final_sent(const struct server_txn *st)
{
    return st->state >= ST_COMPLETED;
}

void txn_server_set_tu(struct server_txn *st, void *tu_data)
{
    st->tu = tu_data;
}

void *txn_server_tu(const struct server_txn *st)
{
    return st->tu;
}

const char *txn_server_local_tag(const struct server_txn *st)
{
    return st->tag;
}

/* --- client transactions ------------------------------------------------- */

/* What only an ACK for a non-2xx or a CANCEL needs (client_compose()). */
static void client_drop_dialog_parts(struct client_txn *ct)
{
    free(ct->branch);
    ct->branch = NULL;
}

static void client_free(struct client_txn *ct)
{
    timer_cancel(&ct->retransmit);
    timer_cancel(&ct->lifetime);
    osip_free(ct->request);
    client_drop_dialog_parts(ct);
    free(ct);
}

static void client_terminate(struct client_txn *ct)
{
    struct txn_layer *layer = ct->layer;
    strmap_remove(&layer->clients, &ct->link);
    timer_cancel(&ct->retransmit);
    timer_cancel(&ct->lifetime);
    if (ct->tu && layer->ops.on_client_gone)
        layer->ops.on_client_gone(layer->user, ct, ct->tu);
    client_free(ct);
}

static void client_send(struct client_txn *ct, const char *data, size_t len)
{
    ct->layer->io.send(ct->layer->io.ctx, &ct->dest, data, len);
}

static void client_on_retransmit(struct timer *timer, void *arg)
{
    struct client_txn *ct = arg;
    struct txn_layer *layer = ct->layer;
    (void)timer;
    client_send(ct, ct->request, ct->request_len);
    if (ct->invite) {
        if (ct->state != CT_CALLING)
            return;
        ct->interval_ms *= 2; /* Timer A doubles without bound */
    } else if (ct->state == CT_PROCEEDING) {
        ct->interval_ms = layer->config.t2_ms; /* Timer E in Proceeding */
    } else {
        ct->interval_ms *= 2;
        if (ct->interval_ms > layer->config.t2_ms)
            ct->interval_ms = layer->config.t2_ms;
    }
    timer_schedule(layer->wheel, &ct->retransmit, timer_wheel_now(layer->wheel) + ct->interval_ms);
}

static void client_on_lifetime(struct timer *timer, void *arg)
{
    struct client_txn *ct = arg;
    struct txn_layer *layer = ct->layer;
    (void)timer;
    /* B, F and the CANCEL guard end without a final response: the user
     * sees a timeout. D, K and M end a finished transaction quietly. */
    if ((ct->state == CT_CALLING || ct->state == CT_PROCEEDING) && ct->tu && layer->ops.on_timeout)
        layer->ops.on_timeout(layer->user, ct, ct->tu);
    client_terminate(ct);
}

static struct client_txn *client_create(struct txn_layer *layer, const char *branch,
                                        const char *method, const struct sb_dest *dest,
                                        void *tu_data)
{
    char key[1024];
    int len = client_key(branch, method, key, sizeof(key));
    if (len < 0)
        return NULL;
    if (strmap_find(&layer->clients, key, (size_t)len))
        return NULL; /* our branches are unique: a clash is a bug upstream */
    struct client_txn *ct = calloc(1, sizeof(*ct));
    char *key_copy = strndup(key, (size_t)len);
    if (!ct || !key_copy) {
        free(ct);
        free(key_copy);
        return NULL;
    }
    ct->layer = layer;
    ct->invite = strcmp(method, "INVITE") == 0;
    ct->state = CT_CALLING;
    ct->dest = *dest;
    ct->tu = tu_data;
    ct->interval_ms = layer->config.t1_ms;
    timer_init(&ct->retransmit, client_on_retransmit, ct);
    timer_init(&ct->lifetime, client_on_lifetime, ct);
    strmap_insert(&layer->clients, &ct->link, key_copy, (size_t)len);
    return ct;
}

static void client_start(struct client_txn *ct)
{
    struct txn_layer *layer = ct->layer;
    uint64_t now = timer_wheel_now(layer->wheel);
    client_send(ct, ct->request, ct->request_len);
    if (!reliable(&ct->dest))
        timer_schedule(layer->wheel, &ct->retransmit, now + ct->interval_ms);            /* A, E */
    timer_schedule_coarse(layer->wheel, &ct->lifetime, now + 64u * layer->config.t1_ms); /* B, F */
}

/* RFC 3261 §18.1.1: a request within 200 bytes of the path MTU goes over
 * a congestion-controlled transport, and our Via says so. Keeps what to
 * fall back on when TCP cannot reach the target. */
static int client_switch_to_tcp(struct client_txn *ct, osip_message_t *req)
{
    struct txn_layer *layer = ct->layer;
    struct sb_dest tcp = ct->dest;
    osip_via_t *via = sipmsg_top_via(req);
    if (!layer->io.retarget || layer->io.retarget(layer->io.ctx, &tcp, SB_TCP) != 0 || !via)
        return 0; /* no TCP here: UDP it is, fragments and all */
    char *proto = osip_strdup("TCP");
    if (!proto)
        return SB_ENOMEM;
    osip_free(via->protocol);
    via->protocol = proto;
    osip_free(ct->request);
    ct->request = NULL;
    int rc = sipmsg_serialize(req, &ct->request, &ct->request_len);
    if (rc != 0)
        return rc;
    ct->request = kept(ct->request, ct->request_len);
    ct->switched = true;
    ct->udp_dest = ct->dest;
    ct->dest = tcp;
    return 0;
}

int txn_client_send(struct txn_layer *layer, osip_message_t *req, const struct sb_dest *dest,
                    void *tu_data, struct client_txn **out)
{
    osip_via_t *via = sipmsg_top_via(req);
    const char *branch = via ? sipmsg_via_param(via, "branch") : NULL;
    if (!branch || !*branch)
        return SB_EMALFORMED;
    struct client_txn *ct = client_create(layer, branch, req->sip_method, dest, tu_data);
    if (!ct)
        return SB_ENOMEM;
    int rc = write_message(layer, req, &ct->request, &ct->request_len);
    if (rc == 0)
        ct->request = kept(ct->request, ct->request_len);
    if (rc == 0 && dest->transport == SB_UDP && layer->config.udp_max &&
        ct->request_len > layer->config.udp_max && !MSG_IS_ACK(req))
        rc = client_switch_to_tcp(ct, req);
    if (rc == 0 && ct->invite) {
        ct->branch = strdup(branch);
        ct->cseq = sipmsg_cseq_number(req);
        rc = ct->branch ? 0 : SB_ENOMEM;
    }
    if (rc != 0) {
        ct->tu = NULL;
        client_terminate(ct);
        return rc;
    }
    client_start(ct);
    if (out)
        *out = ct;
    return 0;
}

/* What an ACK for a non-2xx (§17.1.1.3) or a CANCEL (§9.1) repeats of
 * its INVITE. */
struct invite_parts {
    char *ruri, *via, *routes, *from, *to, *call_id;
};

static void parts_free(struct invite_parts *in)
{
    free(in->ruri);
    free(in->via);
    free(in->routes);
    free(in->from);
    free(in->to);
    free(in->call_id);
    *in = (struct invite_parts){0};
}

/* True when every part is there; else none is kept. */
static bool parts_complete(struct invite_parts *in)
{
    if (in->ruri && in->via && in->routes && in->from && in->to && in->call_id)
        return true;
    parts_free(in);
    return false;
}

/* A copy of the value of @e's first field of @kind; NULL without one. */
static char *field_copy(const struct sipedit *e, enum sipedit_kind kind)
{
    size_t n;
    const char *v = sipedit_field(e, kind, &n);
    return v ? strndup(v, n) : NULL;
}

/* Every Route field of @e as it is, CRLFs included ("" without any). */
static char *route_fields(const struct sipedit *e)
{
    size_t n = 0, at = 0;
    for (unsigned i = 0; i < e->count; i++)
        if (e->lines[i].kind == SIPEDIT_ROUTE)
            n += e->lines[i].end - e->lines[i].start;
    char *out = malloc(n + 1);
    if (!out)
        return NULL;
    for (unsigned i = 0; i < e->count; i++) {
        const struct sipedit_line *l = &e->lines[i];
        if (l->kind != SIPEDIT_ROUTE)
            continue;
        memcpy(out + at, e->raw + l->start, l->end - l->start);
        at += l->end - l->start;
    }
    out[at] = '\0';
    return out;
}

/* The parts as they went out in @text: the same bytes, nothing written
 * again. False for a text sipedit does not index, or without memory. */
static bool parts_from_sent(struct invite_parts *in, const char *text, size_t len)
{
    struct sipedit e;
    size_t ruri_len, via_len;
    const char *ruri, *via;
    if (sipedit_open(&e, text, len) != 0 || !e.request || !(ruri = sipedit_first(&e, &ruri_len)) ||
        !(via = sipedit_value(&e, SIPEDIT_VIA, 0, &via_len)))
        return false;
    in->ruri = strndup(ruri, ruri_len);
    in->via = strndup(via, via_len);
    in->routes = route_fields(&e);
    in->from = field_copy(&e, SIPEDIT_FROM);
    in->to = field_copy(&e, SIPEDIT_TO);
    in->call_id = field_copy(&e, SIPEDIT_CALL_ID);
    return parts_complete(in);
}

static char *header_to_str(int (*to_str)(const void *, char **), const void *h)
{
    char *s = NULL;
    if (h && to_str(h, &s) != 0)
        return NULL;
    return s;
}

/* The same parts of @text read and written by libosip2. */
static bool parts_from_parsed(struct invite_parts *in, const char *text, size_t len)
{
    osip_message_t *req = NULL;
    if (osip_message_init(&req) != 0)
        return false;
    if (osip_message_parse(req, text, len) == 0) {
        in->ruri = header_to_str((int (*)(const void *, char **))osip_uri_to_str, req->req_uri);
        in->via =
            header_to_str((int (*)(const void *, char **))osip_via_to_str, sipmsg_top_via(req));
        in->routes = sipmsg_route_lines(&req->routes);
        in->from = header_to_str((int (*)(const void *, char **))osip_from_to_str, req->from);
        in->to = header_to_str((int (*)(const void *, char **))osip_to_to_str, req->to);
        char call_id[1024];
        in->call_id = sipmsg_call_id(req, call_id, sizeof(call_id)) == 0 ? strdup(call_id) : NULL;
    }
    osip_message_free(req);
    return parts_complete(in);
}

/* ACK (§17.1.1.3) or CANCEL (§9.1) built from the INVITE's bytes, which
 * the transaction keeps until either can no longer be sent: same
 * Request-URI, our Via alone, Route set, From, Call-ID and CSeq number;
 * To is @to (the response's) or the INVITE's. */
static int client_compose(const struct client_txn *ct, const char *method, const char *to,
                          struct sb_buf *b)
{
    struct invite_parts in = {0};
    if (!ct->request || (!parts_from_sent(&in, ct->request, ct->request_len) &&
                         !parts_from_parsed(&in, ct->request, ct->request_len)))
        return SB_EMALFORMED;
    const char *const parts[] = {
        method,     " ",         in.ruri, " SIP/2.0\r\nVia: ", in.via,          "\r\n",
        in.routes,  "From: ",    in.from, "\r\nTo: ",          to ? to : in.to, "\r\nCall-ID: ",
        in.call_id, "\r\nCSeq: "};
    for (size_t i = 0; i < sizeof(parts) / sizeof(parts[0]); i++)
        sb_buf_puts(b, parts[i]);
    sb_buf_uint(b, ct->cseq);
    sb_buf_puts(b, " ");
    sb_buf_puts(b, method);
    sb_buf_puts(b, "\r\nMax-Forwards: 70\r\nUser-Agent: " SB_SERVER_NAME
                   "\r\nContent-Length: 0\r\n\r\n");
    parts_free(&in);
    return b->failed ? SB_ENOMEM : 0;
}

static void client_send_ack(struct client_txn *ct, const osip_message_t *resp)
{
    char *to = NULL;
    struct sb_buf b = {0};
    if (osip_to_to_str(resp->to, &to) == 0 && client_compose(ct, "ACK", to, &b) == 0)
        client_send(ct, b.data, b.len);
    osip_free(to);
    sb_buf_free(&b);
}

static void client_send_cancel(struct client_txn *ct)
{
    struct txn_layer *layer = ct->layer;
    struct sb_buf b = {0};
    ct->cancel_sent = true;
    if (client_compose(ct, "CANCEL", NULL, &b) != 0) {
        sb_buf_free(&b);
        return;
    }
    /* the CANCEL is a transaction of its own with the INVITE's branch */
    struct client_txn *cancel = client_create(layer, ct->branch, "CANCEL", &ct->dest, NULL);
    if (!cancel) {
        sb_buf_free(&b);
        return;
    }
    cancel->request = b.data; /* malloc'd, like osip's buffers */
    cancel->request_len = b.len;
    client_start(cancel);
    /* §9.1: give the INVITE 64*T1 to end once cancelled */
    timer_schedule_coarse(layer->wheel, &ct->lifetime,
                          timer_wheel_now(layer->wheel) + 64u * layer->config.t1_ms);
}

void txn_client_cancel(struct client_txn *ct)
{
    if (!ct->invite || ct->cancel_wanted)
        return;
    ct->cancel_wanted = true;
    if (ct->state == CT_PROCEEDING)
        client_send_cancel(ct);
}

static void client_tell(struct client_txn *ct, osip_message_t **resp)
{
    struct txn_layer *layer = ct->layer;
    if (ct->tu && layer->ops.on_response)
        layer->ops.on_response(layer->user, ct, ct->tu, resp);
}

static void client_receive_invite(struct client_txn *ct, osip_message_t **respp)
{
    osip_message_t *resp = *respp;
    struct txn_layer *layer = ct->layer;
    int code = resp->status_code;
    uint64_t now = timer_wheel_now(layer->wheel);
    if (code < 200) {
        if (ct->state != CT_CALLING && ct->state != CT_PROCEEDING)
            return;
        if (ct->state == CT_CALLING) {
            ct->state = CT_PROCEEDING;
            timer_cancel(&ct->retransmit);
            timer_cancel(&ct->lifetime); /* Timer C in the proxy takes over */
            if (ct->cancel_wanted && !ct->cancel_sent)
                client_send_cancel(ct);
        }
        client_tell(ct, respp);
    } else if (code < 300) {
        if (ct->state == CT_COMPLETED)
            return;
        if (ct->state != CT_ACCEPTED) {
            ct->state = CT_ACCEPTED;
            timer_cancel(&ct->retransmit);
            timer_schedule_coarse(layer->wheel, &ct->lifetime,
                                  now + 64u * layer->config.t1_ms); /* M */
            /* nothing is resent in Accepted (the ACK for a 2xx is end to end)
             * and nothing is cancelled: keep only the key while Timer M runs */
            osip_free(ct->request);
            ct->request = NULL;
            ct->request_len = 0;
            client_drop_dialog_parts(ct);
        }
        client_tell(ct, respp); /* every 2xx goes upstream */
    } else {
        if (ct->state == CT_ACCEPTED)
            return;
        client_send_ack(ct, resp);
        if (ct->state == CT_COMPLETED)
            return; /* a retransmission: re-ACKed, absorbed */
        ct->state = CT_COMPLETED;
        timer_cancel(&ct->retransmit);
        unsigned d = 64u * layer->config.t1_ms > 32000 ? 64u * layer->config.t1_ms : 32000;
        timer_schedule_coarse(layer->wheel, &ct->lifetime, now + absorb_ms(&ct->dest, d)); /* D */
        client_tell(ct, respp);
    }
}

static void client_receive_non_invite(struct client_txn *ct, osip_message_t **respp)
{
    osip_message_t *resp = *respp;
    struct txn_layer *layer = ct->layer;
    if (ct->state == CT_COMPLETED)
        return;
    if (resp->status_code < 200) {
        ct->state = CT_PROCEEDING;
        client_tell(ct, respp);
        return;
    }
    ct->state = CT_COMPLETED;
    timer_cancel(&ct->retransmit);
    timer_schedule_coarse(layer->wheel, &ct->lifetime,
                          timer_wheel_now(layer->wheel) +
                              absorb_ms(&ct->dest, layer->config.t4_ms)); /* K */
    client_tell(ct, respp);
}

bool txn_client_receive(struct txn_layer *layer, osip_message_t **respp)
{
    osip_message_t *resp = *respp;
    osip_via_t *via = sipmsg_top_via(resp);
    const char *branch = via ? sipmsg_via_param(via, "branch") : NULL;
    if (!branch || !resp->cseq || !resp->cseq->method)
        return false;
    char key[1024];
    int len = client_key(branch, resp->cseq->method, key, sizeof(key));
    if (len < 0)
        return false;
    struct client_txn *ct = (struct client_txn *)strmap_find(&layer->clients, key, (size_t)len);
    if (!ct)
        return false;
    if (ct->invite)
        client_receive_invite(ct, respp);
    else
        client_receive_non_invite(ct, respp);
    return true;
}

/* Puts a switched request back on UDP: the same bytes with "UDP" for "TCP"
 * in our Via (the top one: the first one in @text past @from), so
 * Content-Length and everything else stay as they were. */
static void via_back_to_udp(char *text, size_t len, size_t from)
{
    char *tcp = text && from < len ? memmem(text + from, len - from, "SIP/2.0/TCP", 11) : NULL;
    if (tcp)
        memcpy(tcp + 8, "UDP", 3);
}

static void client_fall_back_to_udp(struct client_txn *ct)
{
    ct->switched = false;
    ct->dest = ct->udp_dest;
    const char *eol = memchr(ct->request, '\n', ct->request_len); /* past the request line */
    via_back_to_udp(ct->request, ct->request_len, eol ? (size_t)(eol - ct->request) : 0);
    timer_cancel(&ct->lifetime);
    client_start(ct);
}

bool txn_client_send_failed(struct txn_layer *layer, const osip_message_t *req)
{
    osip_via_t *via = sipmsg_top_via(req);
    const char *branch = via ? sipmsg_via_param(via, "branch") : NULL;
    if (!branch || !req->sip_method || MSG_IS_ACK(req))
        return false; /* an ACK is no transaction of ours to fail */
    char key[1024];
    int len = client_key(branch, req->sip_method, key, sizeof(key));
    if (len < 0)
        return false;
    struct client_txn *ct = (struct client_txn *)strmap_find(&layer->clients, key, (size_t)len);
    if (!ct || (ct->state != CT_CALLING && ct->state != CT_PROCEEDING))
        return ct != NULL;
    if (ct->switched) {
        client_fall_back_to_udp(ct);
        return true;
    }
    if (ct->tu) {
        if (layer->ops.on_transport_error)
            layer->ops.on_transport_error(layer->user, ct, ct->tu);
        else if (layer->ops.on_timeout)
            layer->ops.on_timeout(layer->user, ct, ct->tu);
    }
    client_terminate(ct);
    return true;
}
