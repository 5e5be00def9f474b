/* The notifier of the dialog event package (RFC 4235) and the presence
 * one (RFC 3856), over RFC 6665: a SUBSCRIBE with "Event: dialog" or
 * "Event: presence" for one of our users is answered here, not sent to
 * the user's phones (which may be off); each subscription gets a NOTIFY
 * with full state at once and one whenever the watched user's state
 * changes: its calls (proxy_watch.c writes them into the shared
 * dialog_watch), and for presence whether it has a device registered.
 * Run by the worker the subscription's Call-ID hashes to, so its
 * refreshes and its NOTIFYs' answers come back here. See proxy_int.h.
 *
 * A subscription: ACTIVE (200 sent, NOTIFYs as things change, refreshed
 * by SUBSCRIBE in its dialog) --Expires: 0, or its time runs out-->
 * TERMINATING (a last NOTIFY, "terminated") --answered or lost--> gone;
 * any --a NOTIFY refused (481...) or unanswered--> gone. One NOTIFY at a
 * time: changes meanwhile wait for its answer and go out as one. */
#include "proxy_int.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "switchboard/buf.h"
#include "switchboard/dialog_watch.h"
#include "switchboard/error.h"
#include "switchboard/identity.h"
#include "switchboard/auth.h"
#include "switchboard/pidf.h"
#include "switchboard/presence_state.h"
#include "switchboard/registrar.h"
#include "switchboard/sip_msg.h"
#include "switchboard/strmap.h"
#include "switchboard/sub_record.h"
#include "switchboard/transaction.h"

#define NOTIFY_TICK_MS 100       /* how often changes are looked for */
#define SUBSCRIBE_DEFAULT_S 3600 /* RFC 4235 §3.2 */
#define SUBSCRIBE_MIN_S 60
#define SUBSCRIBE_MAX_S 3600
/* A subscription kept from before a restart goes on past what it may
 * have sent after its last write (kill -9): its CSeq leaps (RFC 3261
 * §12.2.1.1 asks only that it grow). Its dialog-info version cannot
 * (RFC 4235 §4.1: one more each document): after a kill -9 within the
 * few ms between a NOTIFY and its write, the first document repeats a
 * version and the subscriber may pass it over. */
#define RESTORE_LEAP 8

/* The event packages served here. */
enum package { PKG_NONE, PKG_DIALOG, PKG_PRESENCE };

struct subscription {
    struct strmap_link link; /* first (strmap.h); key "Call-ID;from-tag" */
    struct notifier *n;
    enum package pkg;
    char user[320];   /* the watched user's key (proxy_watch_key) */
    char source[64];  /* the subscriber's address: dialog_watch's bound */
    char *entity;     /* the Request-URI subscribed to: the documents' entity */
    char *their_from; /* the SUBSCRIBE's From (with its tag): our To */
    char *their_to;   /* its To without a tag: our From, with our_tag */
    char our_tag[40];
    char *target; /* its Contact: our NOTIFYs' Request-URI */
    char *routes; /* its Record-Routes, our Route headers ("" none) */
    char *event;  /* its Event value (an id= parameter must come back) */
    char call_id[256];
    struct sb_dest dest; /* where it came from: our NOTIFYs go there */
    uint32_t cseq;
    uint64_t doc_version;    /* the dialog-info version of our next document */
    uint64_t seen;           /* the watched user's version last sent */
    enum pidf_status status; /* presence: the status last sent */
    bool on_phone;           /* presence: in a call, as of version seen */
    uint64_t pub_seen;       /* presence: the published state's version read */
    bool has_pub;            /* presence: pub holds what the phone published */
    struct pidf_published pub;
    uint64_t expires_at;           /* wheel time */
    bool full_due;                 /* a refresh: the next document is full state */
    bool terminating;              /* the last NOTIFY ("terminated") is due */
    bool last_sent;                /* ...and out: the subscription goes with its answer */
    struct proxy_branch *inflight; /* the NOTIFY waiting for its answer */
};

struct notifier {
    struct proxy *proxy;
    struct strmap subs;
    struct proxy_branch *own; /* every NOTIFY whose transaction lives */
    struct timer tick;        /* runs while any subscription does */
    uint64_t keep_epoch;      /* the store's, when every subscription was last kept */
};

/* --- what a SUBSCRIBE says ---------------------------------------------- */

/* Which of our packages @req's Event names (RFC 6665 §8.2.1: the token
 * before any parameter, case ignored). */
static enum package event_package(const osip_message_t *req)
{
    const char *e = sipmsg_header(req, "event");
    if (!e)
        return PKG_NONE;
    while (*e == ' ' || *e == '\t')
        e++;
    size_t len = strcspn(e, "; \t");
    if (len == 6 && !osip_strncasecmp(e, "dialog", 6))
        return PKG_DIALOG;
    if (len == 8 && !osip_strncasecmp(e, "presence", 8))
        return PKG_PRESENCE;
    return PKG_NONE;
}

/* Its Expires: the default when absent, -1 when unreadable. */
static long requested_expires(const osip_message_t *req)
{
    const char *h = sipmsg_header(req, "expires");
    if (!h)
        return SUBSCRIBE_DEFAULT_S;
    char *end;
    long v = strtol(h, &end, 10);
    return end == h || v < 0 ? -1 : v;
}

/* A From or To header's text (osip memory), or NULL. */
static char *from_text(const osip_from_t *h)
{
    char *s = NULL;
    return h && osip_from_to_str(h, &s) == 0 ? s : NULL;
}

/* The To header without its tag (ours is added to what we send). */
static char *to_without_tag(const osip_message_t *req)
{
    osip_to_t *copy = NULL;
    if (osip_to_clone(req->to, &copy) != 0)
        return NULL;
    osip_generic_param_t *tag = NULL;
    for (int i = 0; (tag = osip_list_get(&copy->gen_params, i)) != NULL; i++)
        if (tag->gname && !osip_strcasecmp(tag->gname, "tag")) {
            osip_list_remove(&copy->gen_params, i);
            osip_generic_param_free(tag);
            break;
        }
    char *s = from_text(copy);
    osip_to_free(copy);
    return s;
}

/* --- subscriptions -------------------------------------------------------- */

static void sub_free(struct subscription *s)
{
    free(s->entity);
    osip_free(s->their_from);
    osip_free(s->their_to);
    osip_free(s->target);
    free(s->routes);
    free(s->event);
    free(s);
}

/* Wall-clock ms of the worker's wheel time @t. */
static uint64_t wall_of(const struct proxy *p, uint64_t t)
{
    return (uint64_t)((int64_t)t + call_journal_now() - (int64_t)timer_wheel_now(p->env.wheel));
}

/* Keeps @s in the store as it is now (after each NOTIFY: its CSeq and
 * version moved), or removes it (@gone). */
static void sub_keep(struct proxy *p, const struct subscription *s, bool gone)
{
    if (!p->env.keep)
        return;
    if (gone) {
        p->env.keep(p->env.keep_ctx, PROXY_DOC_SUBSCRIPTION, s->link.key, NULL, 0);
        return;
    }
    char peer[64], local[64];
    sipmsg_addr_format(&s->dest.peer, peer, sizeof(peer));
    sipmsg_addr_format(&s->dest.local.addr, local, sizeof(local));
    struct sub_record r = {
        .pkg = s->pkg,
        .user = (char *)s->user,
        .source = (char *)s->source,
        .entity = s->entity,
        .their_from = s->their_from,
        .their_to = s->their_to,
        .our_tag = (char *)s->our_tag,
        .target = s->target,
        .routes = s->routes,
        .event = s->event,
        .call_id = (char *)s->call_id,
        .transport = s->dest.transport,
        .peer = peer,
        .local = local,
        .listen_index = s->dest.local.listen_index,
        .cseq = s->cseq,
        .doc_version = s->doc_version,
    };
    struct sb_buf b = {0};
    sub_record_write(&b, &r);
    if (!b.failed && b.data)
        p->env.keep(p->env.keep_ctx, PROXY_DOC_SUBSCRIPTION, s->link.key, b.data,
                    wall_of(p, s->expires_at));
    sb_buf_free(&b);
}

/* Ends @s: no more NOTIFYs, its hold on the watched user released. */
static void sub_remove(struct notifier *n, struct subscription *s)
{
    sub_keep(n->proxy, s, true);
    if (s->inflight)
        s->inflight->sub = NULL; /* its answer finds nobody */
    dialog_watch_release(n->proxy->env.watch, s->user, s->source);
    sb_count(n->proxy->env.counters, SB_CNT_SUBSCRIPTIONS_ENDED);
    strmap_remove(&n->subs, &s->link);
    sub_free(s);
}

static struct subscription *sub_find(struct notifier *n, const osip_message_t *req)
{
    char key[400];
    const char *tag = sipmsg_from_tag(req);
    if (!tag || sipmsg_call_id(req, key, sizeof(key) - 100) != 0 || strlen(tag) >= 96)
        return NULL;
    strcat(key, ";");
    strcat(key, tag);
    return (struct subscription *)strmap_find(&n->subs, key, strlen(key));
}

/* --- NOTIFY ------------------------------------------------------------------ */

static void write_notify(struct subscription *s, struct sb_buf *m, const char *state,
                         const struct sb_buf *body)
{
    const struct sb_dest *d = &s->dest;
    char local[64];
    unsigned port = sipmsg_addr_host(&d->local.addr, local, sizeof(local));
    bool v6 = strchr(local, ':') != NULL;
    const char *lb = v6 ? "[" : "", *rb = v6 ? "]" : "";
    sb_buf_printf(m, "NOTIFY %s SIP/2.0\r\n", s->target);
    sb_buf_printf(m, "Via: SIP/2.0/%s %s%s%s:%u;branch=z9hG4bK-sbn%016" PRIx64 ";rport\r\n",
                  sb_transport_name(d->transport), lb, local, rb, port, proxy_random64());
    sb_buf_puts(m, "Max-Forwards: 70\r\n");
    sb_buf_puts(m, s->routes);
    sb_buf_printf(m, "From: %s;tag=%s\r\nTo: %s\r\nCall-ID: %s\r\n", s->their_to, s->our_tag,
                  s->their_from, s->call_id);
    sb_buf_printf(m, "CSeq: %" PRIu32 " NOTIFY\r\n", ++s->cseq);
    sb_buf_printf(m, "Contact: <sip:%s%s%s:%u%s>\r\n", lb, local, rb, port,
                  sb_transport_uri_param(d->transport));
    sb_buf_printf(m, "Event: %s\r\nSubscription-State: %s\r\n", s->event, state);
    sb_buf_printf(m, "Content-Type: application/%s+xml\r\nContent-Length: %zu\r\n\r\n",
                  s->pkg == PKG_PRESENCE ? "pidf" : "dialog-info", body->len);
    sb_buf_append(m, body->data ? body->data : "", body->len);
}

/* The Subscription-State for @s now (RFC 6665 §4.1.3): its time ran out
 * or the subscriber ended it (Expires: 0), "timeout" either way. */
static void sub_state(const struct subscription *s, uint64_t now, char *buf, size_t size)
{
    if (s->terminating || now >= s->expires_at)
        snprintf(buf, size, "terminated;reason=timeout");
    else
        snprintf(buf, size, "active;expires=%" PRIu64, (s->expires_at - now + 999) / 1000);
}

/* Is @user in a call (a dialog confirmed), as @dialogs say? */
static bool in_a_call(const struct dinfo_dialog *dialogs, size_t count)
{
    for (size_t i = 0; i < count; i++)
        if (dialogs[i].state == DINFO_CONFIRMED)
            return true;
    return false;
}

/* @s's dialog-info document into @body: @full state, or what changed
 * since the last; false when nothing did. *@version: what was read. */
static bool dialog_document(struct proxy *p, struct subscription *s, bool full, struct sb_buf *body,
                            uint64_t *version)
{
    struct dinfo_dialog dialogs[DIALOG_WATCH_MAX_DIALOGS];
    bool whole;
    int64_t wall = call_journal_now();
    size_t count = dialog_watch_read(p->env.watch, s->user, full ? 0 : s->seen, dialogs,
                                     DIALOG_WATCH_MAX_DIALOGS, version, &whole, wall);
    if (!full && !whole && count == 0)
        return false;
    dinfo_write(body, s->entity, s->doc_version, full || whole, dialogs, count, wall);
    return true;
}

/* @s's presence document into @body (RFC 3856 sends full state each
 * time): registered or not, in a call or not; false when the status is
 * the one last sent and @full is not asked. */
static bool presence_document(struct proxy *p, struct subscription *s, bool full,
                              struct sb_buf *body, uint64_t *version)
{
    *version = dialog_watch_version(p->env.watch, s->user);
    if (*version != s->seen) {
        struct dinfo_dialog dialogs[DIALOG_WATCH_MAX_DIALOGS];
        bool whole;
        size_t count =
            dialog_watch_read(p->env.watch, s->user, 0, dialogs, DIALOG_WATCH_MAX_DIALOGS, version,
                              &whole, call_journal_now());
        s->on_phone = in_a_call(dialogs, count);
    }
    uint64_t now = timer_wheel_now(p->env.wheel);
    uint64_t pv = p->env.presence ? presence_state_version(p->env.presence, s->user, now) : 0;
    bool published = pv != s->pub_seen;
    if (published) {
        s->pub_seen = pv;
        s->has_pub = p->env.presence && presence_state_read(p->env.presence, s->user, now, &s->pub);
    }
    /* RFC 3903 §5's composition: no device is offline whatever was
     * published; a call is on the phone; else the newest PUBLISH */
    enum pidf_status st = !registrar_has_live(p->env.registrar, s->user, now) ? PIDF_OFFLINE
                          : s->on_phone                                       ? PIDF_ON_THE_PHONE
                          : s->has_pub && s->pub.basic == PIDF_BASIC_CLOSED   ? PIDF_OFFLINE
                                                                              : PIDF_ONLINE;
    if (!full && !published && st == s->status)
        return false;
    s->status = st;
    pidf_write(body, s->entity, st, s->has_pub ? &s->pub : NULL);
    return true;
}

/* Sends @s its next NOTIFY: @full state, or what changed since the last
 * (nothing is sent when nothing did). Returns false when it could not. */
static bool sub_notify(struct notifier *n, struct subscription *s, bool full)
{
    struct proxy *p = n->proxy;
    uint64_t version;
    struct sb_buf body = {0}, msg = {0};
    bool changed = s->pkg == PKG_PRESENCE ? presence_document(p, s, full, &body, &version)
                                          : dialog_document(p, s, full, &body, &version);
    if (!changed) { /* never when terminating: its NOTIFY is full state */
        s->seen = version;
        sb_buf_free(&body);
        return true;
    }
    char state[64];
    sub_state(s, timer_wheel_now(p->env.wheel), state, sizeof(state));
    write_notify(s, &msg, state, &body);
    osip_message_t *req = NULL;
    struct proxy_branch *b = calloc(1, sizeof(*b));
    int rc = !b || body.failed || msg.failed
                 ? SB_ENOMEM
                 : proxy_own_parse(msg.data, (int)msg.len, msg.len + 1, &req);
    if (rc == 0) {
        b->sub = s;
        b->notifier = n;
        rc = proxy_own_send(p, req, &s->dest, b, &n->own);
    }
    osip_message_free(req);
    sb_buf_free(&body);
    sb_buf_free(&msg);
    if (rc != 0) {
        free(b);
        s->full_due = true; /* tried again on the next tick */
        return false;
    }
    s->inflight = b;
    s->seen = version;
    s->doc_version++;
    s->full_due = false;
    s->last_sent = s->terminating;
    sb_count(p->env.counters, SB_CNT_NOTIFIES);
    if (!s->terminating)
        sub_keep(p, s, false);
    return true;
}

/* After the store's resync: every subscription kept again (a note about
 * one may have been lost). */
static void keep_all_again(struct notifier *n)
{
    struct proxy *p = n->proxy;
    uint64_t epoch = p->env.keep_epoch ? p->env.keep_epoch(p->env.keep_ctx) : 0;
    if (epoch == n->keep_epoch)
        return;
    n->keep_epoch = epoch;
    for (size_t i = 0; i <= n->subs.mask; i++)
        for (struct strmap_link *l = n->subs.buckets[i]; l; l = l->next)
            if (!((struct subscription *)l)->terminating)
                sub_keep(p, (struct subscription *)l, false);
}

static void on_tick(struct timer *timer, void *arg)
{
    struct notifier *n = arg;
    struct proxy *p = n->proxy;
    uint64_t now = timer_wheel_now(p->env.wheel);
    keep_all_again(n);
    for (size_t i = 0; i <= n->subs.mask; i++) {
        struct strmap_link *l = n->subs.buckets[i];
        while (l) {
            struct subscription *s = (struct subscription *)l;
            l = l->next; /* sub_remove() unlinks s */
            if (s->inflight)
                continue;
            if (now >= s->expires_at)
                s->terminating = true;
            bool due = s->terminating || s->full_due || s->pkg == PKG_PRESENCE ||
                       dialog_watch_version(p->env.watch, s->user) != s->seen;
            if (due && !sub_notify(n, s, s->full_due || s->terminating) && s->terminating)
                sub_remove(n, s); /* its last word cannot even be sent */
        }
    }
    if (n->subs.count)
        timer_schedule(p->env.wheel, timer, now + NOTIFY_TICK_MS);
}

static void tick_soon(struct notifier *n)
{
    struct timer_wheel *wheel = n->proxy->env.wheel;
    if (!timer_pending(&n->tick))
        timer_schedule(wheel, &n->tick, timer_wheel_now(wheel) + NOTIFY_TICK_MS);
}

/* --- answers to our NOTIFYs ------------------------------------------------- */

void proxy_notify_answered(struct proxy_branch *b, int code)
{
    struct subscription *s = b->sub;
    if (!s || code < 200)
        return;
    s->inflight = NULL;
    b->sub = NULL;
    /* RFC 6665 §4.2.2: a NOTIFY refused (481 above all) or unanswered
     * ends the subscription */
    if (code >= 300 || s->last_sent)
        sub_remove(s->n, s);
}

void proxy_notify_lost(struct proxy_branch *b)
{
    struct subscription *s = b->sub;
    if (!s)
        return;
    s->inflight = NULL;
    b->sub = NULL;
    sub_remove(s->n, s);
}

void proxy_notify_gone(struct proxy_branch *b)
{
    if (b->sub)
        proxy_notify_lost(b); /* its transaction ended without a final answer */
    proxy_own_unlink(&b->notifier->own, b);
    free(b);
}

/* --- SUBSCRIBE ------------------------------------------------------------------ */

static void respond(struct server_txn *st, int code, const char *expires, const char *contact)
{
    osip_message_t *resp;
    if (sipmsg_response_create(txn_server_request(st), code, NULL, txn_server_local_tag(st),
                               &resp) != 0)
        return;
    if (expires)
        osip_message_set_header(resp, code == 423 ? "Min-Expires" : "Expires", expires);
    if (contact)
        osip_message_set_header(resp, "Contact", contact);
    if (code == 503)
        osip_message_set_header(resp, "Retry-After", "60");
    if (code == 489)
        osip_message_set_header(resp, "Allow-Events", "dialog, presence");
    txn_server_respond_own(st, resp);
}

/* Our Contact, where refreshes come. */
static void our_contact(const struct sb_dest *d, char *buf, size_t size)
{
    char local[64];
    unsigned port = sipmsg_addr_host(&d->local.addr, local, sizeof(local));
    bool v6 = strchr(local, ':') != NULL;
    snprintf(buf, size, "<sip:%s%s%s:%u%s>", v6 ? "[" : "", local, v6 ? "]" : "", port,
             sb_transport_uri_param(d->transport));
}

/* Copies what the subscription's NOTIFYs need out of @req. */
static int sub_fill(struct subscription *s, struct server_txn *st, const osip_message_t *req)
{
    osip_contact_t *c = osip_list_get(&req->contacts, 0);
    char *target = NULL;
    if (!c || !c->url || osip_uri_to_str(c->url, &target) != 0)
        return SB_EMALFORMED;
    s->target = target;
    char *entity = NULL;
    if (osip_uri_to_str(req->req_uri, &entity) == 0) {
        s->entity = strdup(entity);
        osip_free(entity);
    }
    s->their_from = from_text(req->from);
    s->their_to = to_without_tag(req);
    s->routes = sipmsg_route_lines(&req->record_routes); /* our route set (§12.1.1) */
    s->event = strdup(sipmsg_header(req, "event"));
    snprintf(s->our_tag, sizeof(s->our_tag), "%s", txn_server_local_tag(st));
    s->dest = *txn_server_reply_dest(st);
    sipmsg_addr_format(&txn_server_inbound(st)->src, s->source, sizeof(s->source));
    char *colon = strrchr(s->source, ':'); /* the bound is per address, not per port */
    if (colon && colon != s->source)
        *colon = '\0';
    if (!s->entity || !s->their_from || !s->their_to || !s->routes || !s->event)
        return SB_ENOMEM;
    return 0;
}

static void subscribe(struct notifier *n, struct server_txn *st, const osip_message_t *req,
                      enum package pkg, long expires)
{
    struct proxy *p = n->proxy;
    struct subscription *s = calloc(1, sizeof(*s));
    if (s)
        s->pkg = pkg;
    char key[400];
    const char *tag = sipmsg_from_tag(req);
    int code = !s ? 500 : !tag || strlen(tag) >= 96 ? 400 : 0;
    if (!code && sipmsg_call_id(req, s->call_id, sizeof(s->call_id)) != 0)
        code = 400;
    if (!code && !proxy_watch_key(p, req->req_uri, s->user, sizeof(s->user)))
        code = 404; /* a group, a number out: nobody to watch */
    if (code) {
        free(s);
        respond(st, code, NULL, NULL);
        return;
    }
    snprintf(key, sizeof(key), "%s;%s", s->call_id, tag);
    int rc = sub_fill(s, st, req);
    if (rc == 0 && strmap_find(&n->subs, key, strlen(key)))
        rc = SB_EMALFORMED; /* a new subscription in a dialog that has one */
    if (rc == 0)
        rc = dialog_watch_hold(p->env.watch, s->user, s->source);
    char *copy = rc == 0 ? strdup(key) : NULL;
    if (rc != 0 || !copy) {
        respond(st, rc == SB_ELIMIT ? 503 : rc == SB_EMALFORMED ? 400 : 500, NULL, NULL);
        if (rc == 0)
            dialog_watch_release(p->env.watch, s->user, s->source);
        sub_free(s);
        return;
    }
    s->n = n;
    strmap_insert(&n->subs, &s->link, copy, strlen(copy));
    sb_count(p->env.counters, SB_CNT_SUBSCRIPTIONS);
    uint64_t now = timer_wheel_now(p->env.wheel);
    s->expires_at = now + (uint64_t)expires * 1000u;
    s->terminating = expires == 0; /* a fetch (RFC 6665 §4.4.3): one NOTIFY, then gone */
    char value[16], contact[128];
    snprintf(value, sizeof(value), "%ld", expires);
    our_contact(&s->dest, contact, sizeof(contact));
    respond(st, 200, value, contact);
    if (!sub_notify(n, s, true) && s->terminating) /* at once, full state (§4.2.1.2) */
        sub_remove(n, s);
    else
        tick_soon(n);
}

/* A SUBSCRIBE in an existing subscription's dialog: refreshed, or ended
 * by Expires: 0 (§4.1.2.2, §4.1.2.3). */
static void refresh(struct notifier *n, struct server_txn *st, const osip_message_t *req,
                    long expires)
{
    struct subscription *s = sub_find(n, req);
    const char *to_tag = sipmsg_to_tag(req);
    if (!s || !to_tag || strcmp(to_tag, s->our_tag) != 0 || s->terminating) {
        respond(st, 481, NULL, NULL);
        return;
    }
    uint64_t now = timer_wheel_now(n->proxy->env.wheel);
    s->expires_at = now + (uint64_t)expires * 1000u;
    s->terminating = expires == 0;
    s->full_due = true; /* a refresh is answered with full state (§4.2.1.2) */
    char value[16];
    snprintf(value, sizeof(value), "%ld", expires);
    respond(st, 200, value, NULL);
    tick_soon(n);
}

/* --- PUBLISH (RFC 3903): the event state compositor ------------------------- */

#define PUBLISH_DEFAULT_S 3600
#define PUBLISH_MIN_S 60
#define PUBLISH_MAX_S 3600

static void publish_respond(struct server_txn *st, int code, const char *etag, long expires)
{
    osip_message_t *resp;
    if (sipmsg_response_create(txn_server_request(st), code, NULL, txn_server_local_tag(st),
                               &resp) != 0)
        return;
    char value[24];
    snprintf(value, sizeof(value), "%ld", expires);
    if (code == 200 && etag && etag[0])
        osip_message_set_header(resp, "SIP-ETag", etag);
    if (code == 200)
        osip_message_set_header(resp, "Expires", value);
    if (code == 423)
        osip_message_set_header(resp, "Min-Expires", value);
    if (code == 489)
        osip_message_set_header(resp, "Allow-Events", "presence");
    if (code == 415)
        osip_message_set_header(resp, "Accept", "application/pidf+xml");
    if (code == 503)
        osip_message_set_header(resp, "Retry-After", "60");
    txn_server_respond_own(st, resp);
}

/* Is @req's body a PIDF document (Content-Type application/pidf+xml)? */
static bool pidf_body(const osip_message_t *req, const char **body, size_t *len)
{
    const osip_content_type_t *ct = req->content_type;
    osip_body_t *b = NULL;
    if (!ct || !ct->type || !ct->subtype || osip_strcasecmp(ct->type, "application") != 0 ||
        osip_strcasecmp(ct->subtype, "pidf+xml") != 0 || osip_message_get_body(req, 0, &b) < 0 ||
        !b || !b->body)
        return false;
    *body = b->body;
    *len = b->length;
    return true;
}

/* A PUBLISH's Expires: absent, the default; under the minimum, 0 and
 * *@too_brief; past the maximum, the maximum; -1 when unreadable. */
static long publish_expires(const osip_message_t *req, bool *too_brief)
{
    *too_brief = false;
    if (!sipmsg_header(req, "expires"))
        return PUBLISH_DEFAULT_S;
    long v = requested_expires(req);
    if (v > 0 && v < PUBLISH_MIN_S)
        *too_brief = true;
    return v > PUBLISH_MAX_S ? PUBLISH_MAX_S : v;
}

/* presence_entry_emit's @emit: into the store. */
static int keep_presence(void *arg, const char *key, const char *value, uint64_t expires_wall_ms)
{
    struct proxy *p = arg;
    p->env.keep(p->env.keep_ctx, PROXY_DOC_PRESENCE, key, value, expires_wall_ms);
    return 0;
}

/* Keeps what a PUBLISH left of @user's entry (@kept; etag "" when it was
 * removed) in the store, the entry it replaced (@if_match) removed. */
static void publish_keep(struct proxy *p, const char *user, const char *if_match,
                         const struct presence_entry *kept)
{
    if (!p->env.keep)
        return;
    struct sb_buf key = {0};
    if (if_match && strcmp(if_match, kept->etag) != 0) {
        presence_entry_key(user, if_match, &key);
        if (!key.failed)
            p->env.keep(p->env.keep_ctx, PROXY_DOC_PRESENCE, key.data, NULL, 0);
        sb_buf_free(&key);
    }
    if (kept->etag[0])
        presence_entry_emit(user, kept, wall_of(p, kept->expires_ms), keep_presence, p);
}

/* A PUBLISH for @user's presence: new, refreshed, modified or removed
 * (§6); every subscription to @user hears of it on its next tick. */
static void publish(struct proxy *p, struct server_txn *st, const osip_message_t *req,
                    const char *user)
{
    bool too_brief;
    long expires = publish_expires(req, &too_brief);
    if (expires < 0 || too_brief) {
        publish_respond(st, too_brief ? 423 : 400, NULL, PUBLISH_MIN_S);
        return;
    }
    const char *if_match = sipmsg_header(req, "sip-if-match");
    const char *text = NULL;
    size_t len = 0;
    bool has_body = req->content_length && req->content_length->value &&
                    strcmp(req->content_length->value, "0") != 0;
    struct pidf_published doc;
    if (has_body && !pidf_body(req, &text, &len)) {
        publish_respond(st, 415, NULL, 0);
        return;
    }
    if ((has_body && pidf_read(text, len, &doc) != 0) || (!has_body && !if_match) ||
        (!if_match && expires == 0)) {
        publish_respond(st, 400, NULL, 0);
        return;
    }
    char etag[PRESENCE_ETAG_MAX];
    struct presence_entry kept;
    int rc = presence_state_publish(p->env.presence, user, if_match, has_body ? &doc : NULL,
                                    (uint64_t)expires * 1000u, timer_wheel_now(p->env.wheel), etag,
                                    &kept);
    if (rc == 0)
        publish_keep(p, user, if_match, &kept);
    publish_respond(st,
                    rc == 0              ? 200
                    : rc == SB_ENOTFOUND ? 412
                    : rc == SB_ELIMIT    ? 503
                                         : 500,
                    etag, expires);
}

/* PUBLISH to one of our users: ours to answer (the user's phones are
 * not a compositor). Under [auth] require = all a user publishes only
 * its own presence. */
static void publish_request(struct proxy *p, struct server_txn *st, const osip_message_t *req)
{
    char user[320], from[320];
    if (!p->env.presence || !proxy_watch_key(p, req->req_uri, user, sizeof(user))) {
        publish_respond(st, 404, NULL, 0);
        return;
    }
    if (event_package(req) != PKG_PRESENCE) {
        publish_respond(st, 489, NULL, 0);
        return;
    }
    if (p->env.config->auth_mode == AUTH_MODE_ALL &&
        (!proxy_watch_key(p, req->from ? req->from->url : NULL, from, sizeof(from)) ||
         strcmp(from, user) != 0)) {
        publish_respond(st, 403, NULL, 0);
        return;
    }
    publish(p, st, req, user);
}

bool proxy_notify_request(struct proxy *p, struct server_txn *st)
{
    struct notifier *n = p->notifier;
    const osip_message_t *req = txn_server_request(st);
    if (MSG_IS_PUBLISH(req) && req->req_uri->username &&
        identity_is_local_uri(p->env.identity, req->req_uri)) {
        publish_request(p, st, req);
        return true;
    }
    enum package pkg = MSG_IS_SUBSCRIBE(req) ? event_package(req) : PKG_NONE;
    if (!n || pkg == PKG_NONE || !identity_is_local_uri(p->env.identity, req->req_uri))
        return false; /* another package, or somebody else's: routed */
    long expires = requested_expires(req);
    if (expires < 0) {
        respond(st, 400, NULL, NULL);
        return true;
    }
    if (expires > 0 && expires < SUBSCRIBE_MIN_S) {
        char min[16];
        snprintf(min, sizeof(min), "%d", SUBSCRIBE_MIN_S);
        respond(st, 423, min, NULL);
        return true;
    }
    if (expires > SUBSCRIBE_MAX_S)
        expires = SUBSCRIBE_MAX_S;
    if (sipmsg_to_tag(req))
        refresh(n, st, req, expires);
    else
        subscribe(n, st, req, pkg, expires);
    return true;
}

/* --- kept from before a restart ---------------------------------------------------- */

/* @s from record @r (its strings moved or copied); false when one is
 * unusable. */
static bool sub_from_record(struct proxy *p, struct subscription *s, struct sub_record *r)
{
    if ((r->pkg != PKG_DIALOG && r->pkg != PKG_PRESENCE) || r->transport >= SB_TRANSPORT_COUNT ||
        strlen(r->user) >= sizeof(s->user) || strlen(r->source) >= sizeof(s->source) ||
        strlen(r->our_tag) >= sizeof(s->our_tag) || strlen(r->call_id) >= sizeof(s->call_id))
        return false;
    s->pkg = (enum package)r->pkg;
    strcpy(s->user, r->user);
    strcpy(s->source, r->source);
    strcpy(s->our_tag, r->our_tag);
    strcpy(s->call_id, r->call_id);
    s->their_from = osip_strdup(r->their_from);
    s->their_to = osip_strdup(r->their_to);
    s->target = osip_strdup(r->target);
    s->entity = r->entity, r->entity = NULL;
    s->routes = r->routes, r->routes = NULL;
    s->event = r->event, r->event = NULL;
    s->cseq = r->cseq + RESTORE_LEAP;
    s->doc_version = r->doc_version;
    s->full_due = true; /* state may have changed while we were down */
    s->dest = (struct sb_dest){.transport = (uint8_t)r->transport, .fd = -1};
    s->dest.local.listen_index = r->listen_index;
    return s->their_from && s->their_to && s->target &&
           sipmsg_addr_parse(r->peer, &s->dest.peer) == 0 &&
           sipmsg_addr_parse(r->local, &s->dest.local.addr) == 0 &&
           proxy_resolve(p, &s->dest, &s->dest.local) == 0;
}

int proxy_notify_restore(struct proxy *p, const char *key, const char *value,
                         uint64_t expires_wall_ms)
{
    struct notifier *n = p->notifier;
    uint64_t now = timer_wheel_now(p->env.wheel);
    int64_t left = (int64_t)expires_wall_ms - call_journal_now();
    if (!n || left <= 0 || strmap_find(&n->subs, key, strlen(key)))
        return SB_EMALFORMED;
    struct sub_record r;
    int rc = sub_record_read(value, strlen(value), &r);
    if (rc != 0)
        return rc;
    struct subscription *s = calloc(1, sizeof(*s));
    char *copy = strdup(key);
    rc = !s || !copy ? SB_ENOMEM : sub_from_record(p, s, &r) ? 0 : SB_EMALFORMED;
    sub_record_free(&r);
    if (rc == 0)
        rc = dialog_watch_hold(p->env.watch, s->user, s->source);
    if (rc != 0) {
        if (s)
            sub_free(s);
        free(copy);
        return rc;
    }
    s->n = n;
    s->expires_at = now + (uint64_t)left;
    strmap_insert(&n->subs, &s->link, copy, strlen(copy));
    sb_count(p->env.counters, SB_CNT_SUBSCRIPTIONS);
    tick_soon(n);
    return 0;
}

/* --- life ---------------------------------------------------------------------------- */

int proxy_notify_start(struct proxy *p)
{
    if (!p->env.watch)
        return 0;
    struct notifier *n = calloc(1, sizeof(*n));
    if (!n || strmap_init(&n->subs, 64) != 0) {
        free(n);
        return SB_ENOMEM;
    }
    n->proxy = p;
    n->keep_epoch = p->env.keep_epoch ? p->env.keep_epoch(p->env.keep_ctx) : 0;
    timer_init(&n->tick, on_tick, n);
    p->notifier = n;
    return 0;
}

static void free_sub(struct strmap_link *l)
{
    struct subscription *s = (struct subscription *)l;
    dialog_watch_release(s->n->proxy->env.watch, s->user, s->source);
    sub_free(s);
}

/* After the transaction layer is gone (its transactions went without
 * callbacks): the subscriptions end, their holds released. */
void proxy_notify_stop(struct proxy *p)
{
    struct notifier *n = p->notifier;
    if (!n)
        return;
    timer_cancel(&n->tick);
    strmap_clear(&n->subs, free_sub);
    strmap_fini(&n->subs);
    proxy_own_free_all(&n->own);
    free(n);
    p->notifier = NULL;
}
