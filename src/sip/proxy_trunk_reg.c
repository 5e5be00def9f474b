/* A trunk's registration with its carrier (RFC 3261 §10.2), run by the
 * worker its Call-ID hashes to (so the answers come back to it): one
 * REGISTER at a time, through this worker's transaction layer, the
 * trunk's shared status (trunk.h) updated as it goes. See proxy_int.h.
 *
 * States (enum trunk_reg_state): TRYING (a REGISTER out) --401/407-->
 * TRYING with credentials (once per challenge) --2xx--> REGISTERED, a
 * refresh at 3/4 of the granted time --> TRYING ...; a final error, a
 * second challenge (a wrong password) or no answer --> FAILED, TRYING
 * again after a back-off (5 s doubling to 5 min).
 *
 * Keep-alives (keepalive = N): an OPTIONS every N s keeps the office's
 * NAT mapping to the carrier open. Any answer means REACHABLE, none
 * UNREACHABLE; the first answer after none re-registers at once (the
 * carrier may have restarted and lost us, or our mapping changed). */
#include "proxy_int.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "switchboard/digest.h"
#include "switchboard/error.h"
#include "switchboard/log.h"
#include "switchboard/sip_msg.h"
#include "switchboard/trunk.h"

#define BACKOFF_FIRST_MS 5000u
#define BACKOFF_MAX_MS 300000u

struct trunk_reg {
    struct proxy *proxy;
    struct trunk *trunk;
    char call_id[96];
    char tag[24];
    uint32_t cseq;
    unsigned expires; /* asked for (423 may raise it) */
    unsigned failures;
    size_t target;   /* the trunk's target (trunk.h) we register with */
    bool challenged; /* the REGISTER out answers a challenge */
    struct timer timer;
    struct proxy_branch *branch; /* the REGISTER in flight, or NULL */
    struct proxy_branch *own;    /* every REGISTER whose transaction lives */
    struct proxy_branch *ping;   /* the keep-alive in flight, or NULL */
    struct timer ping_timer;
};

static void set_state(struct trunk_reg *r, enum trunk_reg_state s)
{
    atomic_store(&r->trunk->status.state, (int)s);
}

/* --- the REGISTER ------------------------------------------------------- */

/* Our address facing the carrier and @method's text (REGISTER or
 * OPTIONS, the keep-alive, in the same Call-ID: its answer must come
 * back to this worker too), parsed. */
static int build_request(struct trunk_reg *r, const struct sb_dest *dest, const char *method,
                         osip_message_t **out)
{
    const struct trunk *t = r->trunk;
    bool reg = !strcmp(method, "REGISTER");
    char local[64], port[12] = "", text[2048], contact[400] = "";
    unsigned local_port = sipmsg_addr_host(&dest->local.addr, local, sizeof(local));
    if (t->port)
        snprintf(port, sizeof(port), ":%u", t->port);
    /* the transport DNS or the config chose; the Request-URI names it
     * only when the config did (RFC 3263 §4.1) */
    const char *tp = sb_transport_uri_param(dest->transport);
    const char *uri_tp = t->transport_set ? tp : "";
    bool v6 = strchr(local, ':') != NULL;
    const char *user = t->username[0] ? t->username : "switchboard";
    if (t->advertise_host[0]) { /* behind NAT: where the carrier reaches us */
        snprintf(local, sizeof(local), "%s", t->advertise_host);
        local_port = t->advertise_port;
    }
    if (reg)
        snprintf(contact, sizeof(contact), "Contact: <sip:%s@%s%s%s:%u%s>\r\nExpires: %u\r\n", user,
                 v6 ? "[" : "", local, v6 ? "]" : "", local_port, tp, r->expires);
    int n =
        snprintf(text, sizeof(text),
                 "%s sip:%s%s%s SIP/2.0\r\n"
                 "Via: SIP/2.0/%s %s%s%s:%u;branch=z9hG4bK-sbr%016" PRIx64 ";rport\r\n"
                 "Max-Forwards: 70\r\n"
                 "From: <sip:%s@%s>;tag=%s\r\n"
                 "To: <sip:%s%s%s>\r\n"
                 "Call-ID: %s\r\n"
                 "CSeq: %" PRIu32 " %s\r\n"
                 "%s"
                 "Content-Length: 0\r\n\r\n",
                 method, t->host, port, uri_tp, sb_transport_name(dest->transport), v6 ? "[" : "",
                 local, v6 ? "]" : "", local_port, proxy_random64(), user, t->host, r->tag,
                 reg ? user : "", reg ? "@" : "", t->host, r->call_id, r->cseq, method, contact);
    return proxy_own_parse(text, n, sizeof(text), out);
}

/* Sends @method (answering @chal when given) as a new own branch.
 * Returns it, or NULL. */
static struct proxy_branch *send_own(struct trunk_reg *r, const char *method,
                                     const osip_message_t *chal)
{
    struct proxy *p = r->proxy;
    struct sb_dest dest = {0};
    int transport;
    if (!trunk_target(r->trunk, r->target, &dest.peer, &transport) &&
        !trunk_target(r->trunk, r->target = 0, &dest.peer, &transport))
        return NULL; /* not resolved (yet) */
    dest.transport = (uint8_t)transport;
    osip_message_t *req = NULL;
    struct proxy_branch *b = calloc(1, sizeof(*b));
    r->cseq++;
    int rc = b ? proxy_resolve(p, &dest, NULL) : SB_ENOMEM;
    if (rc == 0)
        rc = build_request(r, &dest, method, &req);
    if (rc == 0 && chal)
        rc = proxy_trunk_credentials(r->trunk, req, chal);
    if (rc == 0) {
        b->reg = r;
        rc = proxy_own_send(p, req, &dest, b, &r->own);
    }
    osip_message_free(req);
    if (rc != 0) {
        free(b);
        return NULL;
    }
    return b;
}

static void schedule(struct trunk_reg *r, uint64_t delay_ms)
{
    struct timer_wheel *wheel = r->proxy->env.wheel;
    timer_schedule(wheel, &r->timer, timer_wheel_now(wheel) + delay_ms);
}

static void failed(struct trunk_reg *r, int code, const char *why);

/* Sends a REGISTER (answering @chal when given). */
static void send_register(struct trunk_reg *r, const osip_message_t *chal)
{
    struct proxy_branch *b = send_own(r, "REGISTER", chal);
    if (!b) {
        failed(r, 0, chal ? "cannot answer its challenge" : "cannot send a REGISTER");
        return;
    }
    r->branch = b;
    r->challenged = chal != NULL;
    set_state(r, TRUNK_TRYING);
    atomic_fetch_add(&r->trunk->status.registers, 1);
}

static void on_timer(struct timer *timer, void *arg)
{
    struct trunk_reg *r = arg;
    (void)timer;
    if (!r->branch)
        send_register(r, NULL);
}

static void failed(struct trunk_reg *r, int code, const char *why)
{
    unsigned shift = r->failures < 6 ? r->failures : 6;
    uint64_t delay = (uint64_t)BACKOFF_FIRST_MS << shift;
    if (delay > BACKOFF_MAX_MS)
        delay = BACKOFF_MAX_MS;
    r->failures++;
    atomic_store(&r->trunk->status.last_code, code);
    atomic_fetch_add(&r->trunk->status.failures, 1);
    set_state(r, TRUNK_FAILED);
    SB_WARN("trunk %s: registration failed (%s); again in %" PRIu64 " s", r->trunk->name, why,
            delay / 1000);
    schedule(r, delay);
}

/* --- keep-alives ------------------------------------------------------------ */

static void on_ping_timer(struct timer *timer, void *arg)
{
    struct trunk_reg *r = arg;
    struct timer_wheel *wheel = r->proxy->env.wheel;
    if (!r->ping)
        r->ping = send_own(r, "OPTIONS", NULL);
    if (r->ping)
        atomic_fetch_add(&r->trunk->status.keepalives, 1);
    timer_schedule(wheel, timer, timer_wheel_now(wheel) + r->trunk->keepalive * 1000ull);
}

static void ping_answered(struct trunk_reg *r)
{
    r->ping = NULL;
    int was = atomic_exchange(&r->trunk->status.reachable, 1);
    if (was != 0)
        return;
    SB_INFO("trunk %s: answers again", r->trunk->name);
    if (r->trunk->reg && !r->branch) {
        timer_cancel(&r->timer);
        r->failures = 0;
        send_register(r, NULL); /* it may have lost us meanwhile */
    }
}

static void ping_lost(struct trunk_reg *r)
{
    r->ping = NULL;
    atomic_fetch_add(&r->trunk->status.keepalive_failures, 1);
    if (atomic_exchange(&r->trunk->status.reachable, 0) != 0)
        SB_WARN("trunk %s: no answer to OPTIONS: unreachable", r->trunk->name);
}

/* --- answers --------------------------------------------------------------- */

/* The time the carrier granted: our Contact's expires, else Expires. */
static unsigned granted(const struct trunk_reg *r, const osip_message_t *resp)
{
    osip_contact_t *c;
    for (int i = 0; (c = osip_list_get(&resp->contacts, i)) != NULL; i++) {
        osip_generic_param_t *e = NULL;
        if (c->url && c->url->username && !strcmp(c->url->username, r->trunk->username) &&
            osip_contact_param_get_byname(c, "expires", &e) == 0 && e && e->gvalue)
            return (unsigned)strtoul(e->gvalue, NULL, 10);
    }
    const char *h = sipmsg_header(resp, "expires");
    return h ? (unsigned)strtoul(h, NULL, 10) : r->expires;
}

static void registered(struct trunk_reg *r, const osip_message_t *resp)
{
    unsigned secs = granted(r, resp);
    if (secs == 0) {
        failed(r, resp->status_code, "the carrier kept no binding");
        return;
    }
    bool was = atomic_load(&r->trunk->status.state) == TRUNK_REGISTERED;
    r->failures = 0;
    atomic_store(&r->trunk->status.last_code, resp->status_code);
    atomic_store(&r->trunk->status.expires_at, (int64_t)time(NULL) + secs);
    set_state(r, TRUNK_REGISTERED);
    if (!was)
        SB_INFO("trunk %s: registered for %u s", r->trunk->name, secs);
    schedule(r, (uint64_t)secs * 750u); /* refresh at 3/4 */
}

static bool stale(const osip_message_t *resp)
{
    const osip_www_authenticate_t *w = osip_list_get(
        resp->status_code == 407 ? &resp->proxy_authenticates : &resp->www_authenticates, 0);
    return w && w->stale && !osip_strcasecmp(w->stale, "true");
}

void proxy_trunk_reg_response(struct proxy_branch *b, const osip_message_t *resp)
{
    struct trunk_reg *r = b->reg;
    int code = resp->status_code;
    if (code >= 200 && b == r->ping) {
        ping_answered(r); /* any answer: it is there */
        return;
    }
    if (code < 200 || b != r->branch)
        return;
    r->branch = NULL;
    b->final_code = code;
    if (code < 300) {
        registered(r, resp);
    } else if ((code == 401 || code == 407) && (!r->challenged || stale(resp))) {
        send_register(r, resp);
    } else if (code == 401 || code == 407) {
        failed(r, code, "the carrier refused our credentials: check username and password_file");
    } else if (code == 423 && sipmsg_header(resp, "min-expires")) {
        unsigned min = (unsigned)strtoul(sipmsg_header(resp, "min-expires"), NULL, 10);
        r->expires = min > r->expires && min <= 86400 ? min : r->expires;
        send_register(r, NULL); /* §10.2.8 */
    } else {
        char why[64];
        snprintf(why, sizeof(why), "%d %s", code, resp->reason_phrase ? resp->reason_phrase : "");
        failed(r, code, why);
    }
}

void proxy_trunk_reg_ended(struct proxy_branch *b, int code)
{
    struct trunk_reg *r = b->reg;
    if (b == r->ping)
        ping_lost(r);
    if (b != r->branch)
        return;
    r->branch = NULL;
    r->target++; /* RFC 3263 §4.3: the next address, if DNS gave one */
    failed(r, code, code == 408 ? "no answer" : "cannot reach the carrier");
}

void proxy_trunk_reg_gone(struct proxy_branch *b)
{
    struct trunk_reg *r = b->reg;
    proxy_trunk_reg_ended(b, 408); /* nothing when it was answered */
    proxy_own_unlink(&r->own, b);
    free(b);
}

/* --- life ------------------------------------------------------------------ */

int proxy_trunk_reg_start(struct proxy *p)
{
    struct trunk_plan *plan = p->env.trunks;
    for (size_t i = 0; plan && i < plan->count; i++) {
        struct trunk *t = &plan->trunks[i];
        if ((!t->reg && !t->keepalive) || !(p->env.trunk_mask & (1u << i)))
            continue;
        struct trunk_reg *r = calloc(1, sizeof(*r));
        if (!r)
            return SB_ENOMEM;
        r->proxy = p;
        r->trunk = t;
        r->expires = t->expires;
        trunk_reg_call_id(t, p->env.instance, r->call_id, sizeof(r->call_id));
        snprintf(r->tag, sizeof(r->tag), "%016" PRIx64, proxy_random64());
        timer_init(&r->timer, on_timer, r);
        timer_init(&r->ping_timer, on_ping_timer, r);
        p->regs[p->reg_count++] = r;
        if (t->reg)
            schedule(r, 10); /* once the worker's loop runs */
        if (t->keepalive)
            timer_schedule(p->env.wheel, &r->ping_timer,
                           timer_wheel_now(p->env.wheel) + t->keepalive * 1000ull);
    }
    return 0;
}

void proxy_trunk_reg_stop(struct proxy *p)
{
    for (size_t i = 0; i < p->reg_count; i++) {
        struct trunk_reg *r = p->regs[i];
        timer_cancel(&r->timer);
        timer_cancel(&r->ping_timer);
        proxy_own_free_all(&r->own); /* their transactions went with the layer */
        free(r);
    }
    p->reg_count = 0;
}
