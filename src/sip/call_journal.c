/* One JSON line per finished call attempt. See call_journal.h. */
#include "switchboard/call_journal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <osipparser2/osip_port.h>

#include "switchboard/buf.h"
#include "switchboard/callroute.h"
#include "switchboard/error.h"
#include "switchboard/json.h"
#include "switchboard/media.h"
#include "switchboard/sip_msg.h"
#include "switchboard/strmap.h"

struct call {
    struct strmap_link link; /* key: Call-ID */
    char *caller_aor, *caller_name, *caller_tag;
    char *callee_aor, *callee_name, *callee_tag;
    char *answered_by;
    char *refer_to, *referred_by;
    char *replaces, *replaced_by; /* RFC 3891: the call this one takes over, who asked */
    char *route;                  /* JSON members: "dialled", "resolved", "forwards"; NULL: none */
    char *trunk;                  /* the "trunk" object (trunk.h); NULL: none */
    int64_t invite_ms, ringing_ms, answer_ms;
    int status;
    unsigned reinvites;
    bool video;         /* an answer accepted a video stream */
    bool video_offered; /* the last offer had one */
    bool established;
    /* relayed media (media.h): the engine, and once the call ended what
     * its delete said; the line waits for that answer */
    char *media;
    struct media_stats stats;
    bool stats_known;
    bool ending; /* BYE came: waiting for the engine's figures */
    const char *end_outcome, *end_by;
    int64_t end_ms;
    void *watch;      /* the hook's own (call_journal_watch) */
    bool watch_ended; /* the hook heard ENDED */
};

struct call_journal {
    struct async_file *file;      /* NULL: follow calls, write nothing */
    struct sb_counters *counters; /* NULL: count nothing */
    struct strmap calls;
    size_t ending;          /* calls waiting for their engine's figures */
    int64_t next_expire_ms; /* when call_journal_expire() looks again */
    bool changed;           /* since the last snapshot */
    call_journal_hook hook; /* NULL: nobody listens */
    void *hook_ctx;
};

int64_t call_journal_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int call_journal_create(struct async_file *file, struct sb_counters *counters,
                        struct call_journal **out)
{
    struct call_journal *cj = calloc(1, sizeof(*cj));
    if (!cj)
        return SB_ENOMEM;
    cj->file = file;
    cj->counters = counters;
    if (strmap_init(&cj->calls, 256) != 0) {
        free(cj);
        return SB_ENOMEM;
    }
    *out = cj;
    return 0;
}

static void call_free(struct call *c)
{
    free(c->caller_aor);
    free(c->caller_name);
    free(c->caller_tag);
    free(c->callee_aor);
    free(c->callee_name);
    free(c->callee_tag);
    free(c->answered_by);
    free(c->refer_to);
    free(c->referred_by);
    free(c->replaces);
    free(c->replaced_by);
    free(c->route);
    free(c->trunk);
    free(c->media);
    free(c);
}

size_t call_journal_open_calls(const struct call_journal *cj)
{
    return cj->calls.count;
}

void call_journal_watch(struct call_journal *cj, call_journal_hook hook, void *ctx)
{
    cj->hook = hook;
    cj->hook_ctx = ctx;
}

/* Tells the hook that @c reached @phase (@code the response that moved
 * it); ENDED once, with @outcome and @by. */
static void tell(struct call_journal *cj, struct call *c, enum call_phase phase, int code,
                 const osip_message_t *invite, const char *outcome, const char *by)
{
    if (!cj->hook || c->watch_ended)
        return;
    struct call_event ev = {
        .phase = phase,
        .invite = invite,
        .call_id = c->link.key,
        .caller_aor = c->caller_aor,
        .caller_name = c->caller_name,
        .caller_tag = c->caller_tag,
        .callee_aor = c->callee_aor,
        .callee_name = c->callee_name,
        .callee_tag = c->callee_tag,
        .code = code,
        .outcome = outcome,
        .by = by,
        .answer_ms = c->answer_ms,
    };
    c->watch_ended = phase == CALL_ENDED;
    cj->hook(cj->hook_ctx, &ev, &c->watch);
}

/* One direction's figures: {"packets":N,"bytes":N}, null when unknown. */
static void media_direction(struct sb_buf *b, const struct media_stats *st, int dir)
{
    if (st->packets[dir] < 0) {
        sb_buf_puts(b, "null");
        return;
    }
    sb_buf_puts(b, "{\"packets\":");
    sb_buf_int(b, st->packets[dir]);
    sb_buf_puts(b, ",\"bytes\":");
    sb_buf_int(b, st->bytes[dir] < 0 ? 0 : st->bytes[dir]);
    sb_buf_append(b, "}", 1);
}

/* "media": null (not relayed), or the engine and what it relayed. */
static void media_member(struct sb_buf *b, const struct call *c)
{
    if (!c->media) {
        sb_buf_puts(b, ",\"media\":null");
        return;
    }
    sb_buf_puts(b, ",\"media\":{\"engine\":");
    json_string(b, c->media);
    if (c->stats_known) {
        sb_buf_puts(b, ",\"caller_to_callee\":");
        media_direction(b, &c->stats, 0);
        sb_buf_puts(b, ",\"callee_to_caller\":");
        media_direction(b, &c->stats, 1);
        if (c->stats.errors >= 0) {
            sb_buf_puts(b, ",\"errors\":");
            sb_buf_int(b, c->stats.errors);
        }
    }
    sb_buf_puts(b, "}");
}

/* @ms (not negative) as seconds with three decimals: "12.034". */
static void seconds_ms(struct sb_buf *b, int64_t ms)
{
    char frac[4] = {'.', (char)('0' + ms % 1000 / 100), (char)('0' + ms % 100 / 10),
                    (char)('0' + ms % 10)};
    sb_buf_int(b, ms / 1000);
    sb_buf_append(b, frac, sizeof(frac));
}

/* Ends @c: formats its line, hands it to the writer, forgets the call. */
static void call_finish(struct call_journal *cj, struct call *c, const char *outcome,
                        const char *hung_up_by, int64_t end_ms)
{
    tell(cj, c, CALL_ENDED, c->status, NULL, outcome, hung_up_by);
    struct sb_buf b = {0};
    sb_buf_puts(&b, "{\"call_id\":");
    json_string(&b, c->link.key);
    sb_buf_puts(&b, ",\"from\":{\"aor\":");
    json_string(&b, c->caller_aor);
    sb_buf_puts(&b, ",\"name\":");
    json_string(&b, c->caller_name);
    sb_buf_puts(&b, "},\"to\":{\"aor\":");
    json_string(&b, c->callee_aor);
    sb_buf_puts(&b, ",\"name\":");
    json_string(&b, c->callee_name);
    sb_buf_puts(&b, "},\"answered_by\":");
    json_string(&b, c->answered_by);
    sb_buf_puts(&b, ",\"invite_at\":");
    json_time(&b, c->invite_ms);
    sb_buf_puts(&b, ",\"ringing_at\":");
    json_time(&b, c->ringing_ms);
    sb_buf_puts(&b, ",\"answered_at\":");
    json_time(&b, c->answer_ms);
    sb_buf_puts(&b, ",\"ended_at\":");
    json_time(&b, end_ms);
    int64_t talk = c->answer_ms > 0 && end_ms > c->answer_ms ? end_ms - c->answer_ms : 0;
    sb_buf_puts(&b, ",\"duration_s\":");
    seconds_ms(&b, talk);
    sb_buf_puts(&b, ",\"outcome\":");
    json_string(&b, outcome);
    sb_buf_puts(&b, ",\"status\":");
    if (c->status)
        sb_buf_int(&b, c->status);
    else
        sb_buf_puts(&b, "null");
    sb_buf_puts(&b, ",\"hung_up_by\":");
    json_string(&b, hung_up_by);
    sb_buf_puts(&b, ",\"reinvites\":");
    sb_buf_uint(&b, c->reinvites);
    sb_buf_puts(&b, c->video ? ",\"video\":true" : ",\"video\":false");
    if (c->route) {
        sb_buf_puts(&b, ",");
        sb_buf_puts(&b, c->route);
    }
    media_member(&b, c);
    sb_buf_puts(&b, ",\"trunk\":");
    sb_buf_puts(&b, c->trunk ? c->trunk : "null");
    if (c->replaces) {
        sb_buf_puts(&b, ",\"replaces\":{\"call_id\":");
        json_string(&b, c->replaces);
        sb_buf_puts(&b, ",\"referred_by\":");
        json_string(&b, c->replaced_by);
        sb_buf_puts(&b, "}");
    }
    if (c->refer_to) {
        sb_buf_puts(&b, ",\"transfer\":{\"refer_to\":");
        json_string(&b, c->refer_to);
        sb_buf_puts(&b, ",\"referred_by\":");
        json_string(&b, c->referred_by);
        sb_buf_puts(&b, "}");
    }
    sb_buf_puts(&b, "}\n");
    if (!b.failed && cj->file)
        async_file_append(cj->file, b.data, b.len);
    sb_buf_free(&b);
    strmap_remove(&cj->calls, &c->link);
    cj->changed = true;
    if (c->ending)
        cj->ending--;
    call_free(c);
}

/* --- following calls ------------------------------------------------------- */

static struct call *call_find(struct call_journal *cj, const osip_message_t *msg)
{
    char id[512];
    if (sipmsg_call_id(msg, id, sizeof(id)) != 0)
        return NULL;
    return (struct call *)strmap_find(&cj->calls, id, strlen(id));
}

static char *uri_text(const osip_uri_t *uri)
{
    char *s = NULL, *copy = NULL;
    if (!uri || osip_uri_to_str(uri, &s) != 0)
        return NULL;
    copy = strdup(s);
    osip_free(s);
    return copy;
}

/* A display name without its quotes. */
static char *display_name(const char *name)
{
    if (!name)
        return NULL;
    size_t len = strlen(name);
    if (len >= 2 && name[0] == '"' && name[len - 1] == '"')
        return strndup(name + 1, len - 2);
    return strdup(name);
}

/* Whether an SDP body has a video stream that is not declined (port 0). */
static bool has_video(const osip_message_t *msg)
{
    osip_body_t *body = NULL;
    if (osip_message_get_body(msg, 0, &body) < 0 || !body || !body->body)
        return false;
    for (const char *m = strstr(body->body, "m=video "); m; m = strstr(m + 1, "m=video ")) {
        if ((m == body->body || m[-1] == '\n') && atoi(m + 8) != 0)
            return true; /* port 0 declines the stream */
    }
    return false;
}

static void call_open(struct call_journal *cj, const osip_message_t *invite, int64_t now_ms)
{
    char id[512];
    if (sipmsg_call_id(invite, id, sizeof(id)) != 0 || strmap_find(&cj->calls, id, strlen(id)))
        return;
    struct call *c = calloc(1, sizeof(*c));
    char *key = strdup(id);
    if (!c || !key) {
        free(c);
        free(key);
        return;
    }
    c->caller_aor = uri_text(invite->from->url);
    c->caller_name = display_name(invite->from->displayname);
    c->caller_tag = sipmsg_from_tag(invite) ? strdup(sipmsg_from_tag(invite)) : NULL;
    c->callee_aor = uri_text(invite->to->url);
    c->callee_name = display_name(invite->to->displayname);
    c->invite_ms = now_ms;
    c->video_offered = has_video(invite);
    char replaced[256];
    if (sipmsg_replaces_call_id(invite, replaced, sizeof(replaced))) {
        const char *by = sipmsg_header(invite, "referred-by");
        c->replaces = strdup(replaced);
        c->replaced_by = by ? strdup(by) : NULL;
    }
    strmap_insert(&cj->calls, &c->link, key, strlen(key));
    cj->changed = true;
    tell(cj, c, CALL_TRYING, 0, invite, NULL, NULL);
}

static void call_bye(struct call_journal *cj, struct call *c, const osip_message_t *bye,
                     int64_t now_ms)
{
    if (!c->established)
        return;
    const char *tag = sipmsg_from_tag(bye);
    bool from_caller = tag && c->caller_tag && strcmp(tag, c->caller_tag) == 0;
    const char *by = from_caller ? "caller" : "callee";
    tell(cj, c, CALL_ENDED, 0, NULL, "answered", by); /* now, not when the line is written */
    if (!c->media) {
        call_finish(cj, c, "answered", by, now_ms);
        return;
    }
    /* relayed: the line waits for the engine's figures (call_journal_media) */
    c->ending = true;
    cj->ending++;
    c->end_outcome = "answered";
    c->end_by = by;
    c->end_ms = now_ms;
    cj->changed = true;
}

void call_journal_relayed(struct call_journal *cj, const osip_message_t *invite, const char *engine)
{
    struct call *c = call_find(cj, invite);
    if (!c || !engine)
        return;
    free(c->media);
    c->media = strdup(engine);
    cj->changed = true;
}

void call_journal_media(struct call_journal *cj, const char *call_id, const struct ng_reply *reply)
{
    struct call *c = (struct call *)strmap_find(&cj->calls, call_id, strlen(call_id));
    if (!c || !c->media)
        return;
    if (reply)
        c->stats_known = media_stats_of(reply, c->caller_tag, &c->stats);
    if (c->ending)
        call_finish(cj, c, c->end_outcome, c->end_by, c->end_ms);
}

static void call_refer(struct call *c, const osip_message_t *refer)
{
    const char *to = sipmsg_header(refer, "refer-to");
    const char *by = sipmsg_header(refer, "referred-by");
    free(c->refer_to);
    free(c->referred_by);
    c->refer_to = to ? strdup(to) : NULL;
    c->referred_by = by ? strdup(by) : NULL;
}

void call_journal_request(struct call_journal *cj, const osip_message_t *req, int64_t now_ms)
{
    bool in_dialog = sipmsg_to_tag(req) != NULL;
    if (MSG_IS_INVITE(req) && !in_dialog) {
        call_open(cj, req, now_ms);
        return;
    }
    struct call *c = call_find(cj, req);
    if (!c)
        return;
    if (c->ending) {
        return; /* a BYE's retransmission: the line waits for the engine */
    } else if (MSG_IS_BYE(req)) {
        call_bye(cj, c, req, now_ms);
    } else if (MSG_IS_INVITE(req)) {
        c->reinvites++; /* a re-INVITE changes the media, it is no new call */
        c->video_offered = has_video(req);
    } else if (MSG_IS_REFER(req)) {
        call_refer(c, req);
    }
}

/* Names the outcome of a failed attempt from its final status, the
 * proxy's @hint and whether the callee's side @rang (sent a 1xx above
 * 100): a 480 before any ringing is "unavailable", after it "no-answer". */
static void failure_outcome(int code, enum call_end_hint hint, bool rang, const char **outcome,
                            const char **by)
{
    const char *party = hint == CALL_END_LOCAL ? "proxy" : "callee";
    if (hint == CALL_END_DND) {
        *outcome = "dnd";
        *by = "proxy";
    } else if (hint == CALL_END_MISSED) {
        *outcome = "missed";
        *by = "proxy";
    } else if (hint == CALL_END_TIMER_C) {
        *outcome = "no-answer";
        *by = "proxy";
    } else if (hint == CALL_END_REFUSED) {
        *outcome = "refused";
        *by = "proxy";
    } else if (code == 487) {
        *outcome = "cancelled";
        *by = "caller";
    } else if (code == 404 || code == 604) {
        *outcome = "not-found";
        *by = party;
    } else if (code == 486 || code == 600) {
        *outcome = "busy";
        *by = "callee";
    } else if (code == 603) {
        *outcome = "declined";
        *by = "callee";
    } else if (code == 480 && !rang) {
        *outcome = "unavailable"; /* nobody could be rung, or refused at once */
        *by = party;
    } else if (code == 408 || code == 480) {
        *outcome = "no-answer";
        *by = party;
    } else {
        *outcome = "failed";
        *by = party;
    }
}

/* calls_total{outcome}: counted when the outcome is known */
static void count_outcome(struct call_journal *cj, const char *outcome)
{
    if (!cj->counters)
        return;
    for (int i = SB_CNT_O_ANSWERED; i < SB_CNT_COUNT; i++) {
        if (!strcmp(outcome, sb_counter_name(i))) {
            sb_count(cj->counters, i);
            return;
        }
    }
}

void call_journal_response(struct call_journal *cj, const osip_message_t *invite,
                           const osip_message_t *resp, enum call_end_hint hint, int64_t now_ms)
{
    int code = resp->status_code;
    if (code == 100) /* our own 100 for every INVITE: nothing to note */
        return;
    struct call *c = call_find(cj, invite);
    if (!c)
        return;
    /* video counts once an answer accepts it, initial INVITE or re-INVITE */
    if (code >= 200 && code < 300 && c->video_offered && has_video(resp))
        c->video = true;
    if (sipmsg_to_tag(invite) || c->established)
        return;
    const char *tag = sipmsg_to_tag(resp);
    if (tag && code < 300 && (!c->callee_tag || code >= 200)) {
        free(c->callee_tag); /* the answering device's tag */
        c->callee_tag = strdup(tag);
    }
    if (code < 200) {
        if (!c->ringing_ms) {
            c->ringing_ms = now_ms;
            cj->changed = true;
            tell(cj, c, CALL_RINGING, code, NULL, NULL, NULL);
        }
    } else if (code < 300) {
        osip_contact_t *contact = osip_list_get(&resp->contacts, 0);
        c->answered_by = contact ? uri_text(contact->url) : NULL;
        c->answer_ms = now_ms;
        c->status = code;
        c->established = true;
        cj->changed = true;
        tell(cj, c, CALL_ANSWERED, code, NULL, NULL, NULL);
        count_outcome(cj, "answered");
        if (cj->counters && now_ms >= c->invite_ms)
            sb_hist_observe(&cj->counters->call_setup,
                            (uint64_t)(now_ms - c->invite_ms) * 1000000u);
    } else {
        const char *outcome, *by;
        c->status = code;
        failure_outcome(code, hint, c->ringing_ms != 0, &outcome, &by);
        count_outcome(cj, outcome);
        call_finish(cj, c, outcome, by, now_ms);
    }
}

void call_journal_route(struct call_journal *cj, const osip_message_t *invite,
                        const struct callroute *route)
{
    struct call *c = call_find(cj, invite);
    if (!c)
        return;
    struct sb_buf b = {0};
    sb_buf_puts(&b, "\"dialled\":");
    json_string(&b, route->dialled);
    sb_buf_puts(&b, ",\"resolved\":");
    json_string(&b, route->resolved);
    sb_buf_puts(&b, ",\"forwards\":[");
    for (size_t i = 0; i < route->nhops; i++) {
        sb_buf_puts(&b, i ? ",{\"from\":" : "{\"from\":");
        json_string(&b, route->hops[i].from);
        sb_buf_puts(&b, ",\"to\":");
        json_string(&b, route->hops[i].to);
        sb_buf_puts(&b, ",\"reason\":");
        json_string(&b, callroute_why_name(route->hops[i].why));
        sb_buf_puts(&b, "}");
    }
    sb_buf_append(&b, "]", 2); /* with its NUL */
    if (b.failed) {
        sb_buf_free(&b);
        return;
    }
    free(c->route);
    c->route = b.data;
}

void call_journal_trunk(struct call_journal *cj, const osip_message_t *invite, const char *name,
                        bool out, const char *dialled, const char *sent)
{
    struct call *c = call_find(cj, invite);
    if (!c)
        return;
    struct sb_buf b = {0};
    sb_buf_puts(&b, "{\"name\":");
    json_string(&b, name);
    sb_buf_printf(&b, ",\"direction\":\"%s\",\"dialled\":", out ? "out" : "in");
    json_string(&b, dialled);
    sb_buf_puts(&b, ",\"sent\":");
    if (sent)
        json_string(&b, sent);
    else
        sb_buf_puts(&b, "null");
    sb_buf_append(&b, "}", 2); /* with its NUL */
    if (b.failed) {
        sb_buf_free(&b);
        return;
    }
    free(c->trunk);
    c->trunk = b.data;
    cj->changed = true;
}

bool call_journal_changed(const struct call_journal *cj)
{
    return cj->changed;
}

static void snapshot_call(struct sb_buf *b, const struct call *c)
{
    sb_buf_puts(b, "{\"call_id\":");
    json_string(b, c->link.key);
    sb_buf_puts(b, ",\"caller\":");
    json_string(b, c->caller_aor);
    sb_buf_puts(b, ",\"caller_name\":");
    json_string(b, c->caller_name);
    sb_buf_puts(b, ",\"callee\":");
    json_string(b, c->callee_aor);
    sb_buf_puts(b, ",\"callee_name\":");
    json_string(b, c->callee_name);
    sb_buf_puts(b, ",\"answered_by\":");
    json_string(b, c->answered_by);
    const char *state = c->established ? "answered" : c->ringing_ms ? "ringing" : "trying";
    int64_t since = c->established ? c->answer_ms : c->invite_ms;
    sb_buf_printf(b, ",\"state\":\"%s\",\"since\":", state);
    json_time(b, since);
    sb_buf_printf(b, ",\"since_ms\":%lld,\"video\":%s,\"relayed\":%s}", (long long)since,
                  c->video ? "true" : "false", c->media ? "true" : "false");
}

void call_journal_snapshot(struct call_journal *cj, struct sb_buf *b)
{
    bool first = true;
    for (size_t i = 0; i <= cj->calls.mask; i++) {
        for (struct strmap_link *l = cj->calls.buckets[i]; l; l = l->next) {
            if (!first)
                sb_buf_puts(b, ",");
            first = false;
            snapshot_call(b, (const struct call *)l);
        }
    }
    cj->changed = false;
}

size_t call_journal_ending(const struct call_journal *cj)
{
    return cj->ending;
}

void call_journal_expire(struct call_journal *cj, int64_t now_ms)
{
    if (!cj->ending || now_ms < cj->next_expire_ms)
        return;
    cj->next_expire_ms = now_ms + 1000; /* one look a second: it walks every call */
    for (size_t i = 0; i <= cj->calls.mask; i++) {
        struct strmap_link *l = cj->calls.buckets[i];
        while (l) {
            struct call *c = (struct call *)l;
            l = l->next; /* call_finish() unlinks c */
            if (c->ending && now_ms - c->end_ms >= CALL_JOURNAL_MEDIA_WAIT_MS)
                call_finish(cj, c, c->end_outcome, c->end_by, c->end_ms);
        }
    }
}

/* Shutdown: a call that had ended keeps its outcome (without the
 * engine's figures); the rest were interrupted. */
static void call_finish_at_exit(struct call_journal *cj, struct call *c, int64_t now)
{
    if (c->ending)
        call_finish(cj, c, c->end_outcome, c->end_by, c->end_ms);
    else
        call_finish(cj, c, "interrupted", "proxy", now);
}

void call_journal_destroy(struct call_journal *cj)
{
    if (!cj)
        return;
    int64_t now = call_journal_now();
    /* calls still open at shutdown are written, not lost */
    for (size_t i = 0; i <= cj->calls.mask; i++)
        while (cj->calls.buckets[i])
            call_finish_at_exit(cj, (struct call *)cj->calls.buckets[i], now);
    strmap_fini(&cj->calls);
    free(cj);
}
