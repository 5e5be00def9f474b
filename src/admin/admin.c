/* The admin plane's HTTP server and its routes. See admin.h. */
#include "switchboard/admin.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <microhttpd.h>
#include <urcu.h>

#include "switchboard/admin_people.h"
#include "switchboard/admin_query.h"
#include "switchboard/buf.h"
#include "switchboard/config.h"
#include "switchboard/dialplan.h"
#include "switchboard/error.h"
#include "switchboard/json.h"
#include "switchboard/listen.h"
#include "switchboard/log.h"
#include "switchboard/registrar.h"
#include "switchboard/sip_msg.h"
#include "switchboard/stats.h"
#include "switchboard/store.h"
#include "switchboard/stream.h"
#include "switchboard/transport_udp.h"
#include "switchboard/trunk.h"
#include "switchboard/types.h"
#include "switchboard/worker.h"

/* The page, built into the binary from web/index.html (admin_page.c). */
extern const char admin_page[];
extern const size_t admin_page_len;

#define JOURNAL_TAIL_BYTES (1u << 20) /* how far back /api/journal reads */

struct admin {
    struct admin_deps deps;
    struct MHD_Daemon *daemon;
    bool loopback; /* listening on loopback: only loopback Host names */
    char *token;   /* NULL: none asked */
    char url[320];
};

/* One request's answer before it is queued. */
struct reply {
    unsigned status;
    const char *type;
    struct sb_buf body;
};

/* --- answers --------------------------------------------------------------- */

static void reply_error(struct reply *r, unsigned status, const char *why)
{
    sb_buf_free(&r->body);
    memset(&r->body, 0, sizeof(r->body));
    r->status = status;
    r->type = "application/json";
    sb_buf_printf(&r->body, "{\"error\":");
    json_string(&r->body, why);
    sb_buf_printf(&r->body, ",\"status\":%u}\n", status);
}

static enum MHD_Result queue(struct MHD_Connection *c, struct reply *r)
{
    if (r->body.failed)
        reply_error(r, 500, "out of memory");
    struct MHD_Response *resp = MHD_create_response_from_buffer(
        r->body.len, r->body.len ? r->body.data : (void *)"", MHD_RESPMEM_MUST_COPY);
    sb_buf_free(&r->body);
    if (!resp)
        return MHD_NO;
    MHD_add_response_header(resp, "Content-Type", r->type);
    MHD_add_response_header(resp, "Cache-Control", "no-store");
    MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
    if (r->status == 401)
        MHD_add_response_header(resp, "WWW-Authenticate", "Bearer realm=\"switchboard\"");
    enum MHD_Result rc = MHD_queue_response(c, r->status, resp);
    MHD_destroy_response(resp);
    return rc;
}

/* --- /api/registrations ---------------------------------------------------- */

struct reg_walk {
    struct sb_buf *b;
    const struct stream *streams; /* NULL: no TCP/TLS */
    const char *user;             /* "" = everyone */
    uint64_t now_ms;
    bool text;
    size_t users, contacts;
};

/* A TCP/TLS binding's connection, as JSON: "open" while the one it
 * registered over lives; "none" when it is gone (our restart, the phone
 * went away): a call opens a new connection to its Contact, unless it is
 * behind NAT, until it registers again; "remote" when another switchboard
 * sharing the store holds it. null for UDP. */
static const char *connection_state(const struct reg_walk *w, const struct registrar_binding *x)
{
    if (x->transport == SB_UDP)
        return "null";
    if (x->node)
        return "\"remote\"";
    return x->conn && w->streams && stream_conn_alive(w->streams, x->conn) ? "\"open\""
                                                                           : "\"none\"";
}

static void reg_json(struct reg_walk *w, const char *aor, const struct registrar_binding *x)
{
    char src[INET6_ADDRSTRLEN + 16];
    sipmsg_addr_format(&x->source, src, sizeof(src));
    sb_buf_puts(w->b, w->contacts ? ",\n{\"user\":" : "\n{\"user\":");
    json_string(w->b, aor);
    sb_buf_puts(w->b, ",\"contact\":");
    json_string(w->b, x->uri);
    sb_buf_puts(w->b, ",\"source\":");
    json_string(w->b, src);
    sb_buf_printf(w->b, ",\"transport\":\"%s\",\"user_agent\":", sb_transport_name(x->transport));
    json_string(w->b, x->user_agent);
    sb_buf_printf(w->b, ",\"expires_in\":%llu,\"q\":%.3f,\"instance\":",
                  (unsigned long long)((x->expires_at_ms - w->now_ms + 999) / 1000), x->q / 1000.0);
    json_string(w->b, x->instance);
    sb_buf_puts(w->b, ",\"node\":"); /* shared store: the switchboard it registered at */
    json_string(w->b, x->node);
    sb_buf_printf(w->b, ",\"connection\":%s}", connection_state(w, x));
}

static void reg_text(struct reg_walk *w, const char *aor, const struct registrar_binding *x)
{
    char src[INET6_ADDRSTRLEN + 16];
    sipmsg_addr_format(&x->source, src, sizeof(src));
    sb_buf_printf(w->b, "%-16s %-40s %-22s %-4s %8llu  %s\n", aor, x->uri, src,
                  sb_transport_name(x->transport),
                  (unsigned long long)((x->expires_at_ms - w->now_ms + 999) / 1000),
                  x->user_agent ? x->user_agent : "-");
}

static void reg_visit(void *arg, const char *aor, const struct registrar_binding *bs, size_t n)
{
    struct reg_walk *w = arg;
    if (w->user[0] && strcmp(w->user, aor) != 0)
        return;
    bool counted = false;
    for (size_t i = 0; i < n; i++) {
        if (bs[i].expires_at_ms <= w->now_ms)
            continue;
        if (w->text)
            reg_text(w, aor, &bs[i]);
        else
            reg_json(w, aor, &bs[i]);
        w->contacts++;
        if (!counted)
            w->users++;
        counted = true;
    }
}

static void get_registrations(struct admin *a, const struct admin_params *p, struct reply *r)
{
    struct reg_walk w = {.b = &r->body,
                         .streams = a->deps.streams,
                         .user = p->user,
                         .now_ms = sb_now_ms(),
                         .text = p->text};
    if (p->text)
        sb_buf_printf(&r->body, "%-16s %-40s %-22s %-4s %8s  %s\n", "USER", "CONTACT", "SOURCE",
                      "VIA", "EXPIRES", "USER-AGENT");
    else
        sb_buf_puts(&r->body, "{\"registrations\":[");
    registrar_foreach(a->deps.registrar, reg_visit, &w);
    if (p->user[0] && w.contacts == 0) {
        reply_error(r, 404, "no such user registered");
        return;
    }
    if (p->text)
        sb_buf_printf(&r->body, "%zu user(s), %zu contact(s)\n", w.users, w.contacts);
    else
        sb_buf_printf(&r->body, "\n],\"users\":%zu,\"contacts\":%zu}\n", w.users, w.contacts);
}

/* The binding of @set whose URI (or Contact value) is @contact, or NULL. */
static const struct registrar_binding *find_contact(const struct registrar_set *set,
                                                    const char *contact)
{
    for (size_t i = 0; i < set->count; i++) {
        const struct registrar_binding *b = &set->bindings[i];
        if (registrar_uri_equal(b->uri, contact) || !strcmp(b->contact, contact))
            return b;
    }
    return NULL;
}

/* DELETE /api/registrations/USER?contact=URI: one device of the user, as
 * a REGISTER of that Contact with expires=0 would (RFC 3261 §10.2.2). */
static void delete_contact(struct admin *a, const char *user, const char *contact,
                           struct registrar_set *before, struct reply *r)
{
    const struct registrar_binding *b = find_contact(before, contact);
    if (!b) {
        reply_error(r, 404, "no such contact registered for that user");
        return;
    }
    struct registrar_change gone = {.remove = true, .binding = *b};
    char call_id[64];
    snprintf(call_id, sizeof(call_id), "admin-%llx", (unsigned long long)sb_now_ns());
    int rc =
        registrar_update(a->deps.registrar, user, &gone, 1, false, call_id, 1, sb_now_ms(), NULL);
    if (rc != 0) {
        reply_error(r, 500, sb_strerror(rc));
        return;
    }
    SB_INFO("admin: unregistered one device of %s", user);
    sb_buf_puts(&r->body, "{\"user\":");
    json_string(&r->body, user);
    sb_buf_puts(&r->body, ",\"removed\":1,\"contact\":");
    json_string(&r->body, contact);
    sb_buf_puts(&r->body, "}\n");
}

/* DELETE /api/registrations/USER: as a REGISTER with Contact: * would
 * (RFC 3261 §10.2.2), under a Call-ID of our own so no ordering check
 * keeps a binding; the store hears of it through the change hook. With
 * ?contact=URI only that device goes. */
static void delete_registration(struct admin *a, const char *user, const char *contact,
                                struct reply *r)
{
    if (!admin_user_valid(user)) {
        reply_error(r, 400, "want /api/registrations/USER");
        return;
    }
    struct registrar_set *before = NULL;
    uint64_t now = sb_now_ms();
    if (registrar_lookup(a->deps.registrar, user, now, &before) != 0 || before->count == 0) {
        registrar_set_free(before);
        reply_error(r, 404, "no such user registered");
        return;
    }
    if (contact && *contact) {
        delete_contact(a, user, contact, before, r);
        registrar_set_free(before);
        return;
    }
    size_t n = before->count;
    registrar_set_free(before);
    char call_id[64];
    snprintf(call_id, sizeof(call_id), "admin-%llx-%llx", (unsigned long long)now,
             (unsigned long long)sb_now_ns());
    int rc = registrar_update(a->deps.registrar, user, NULL, 0, true, call_id, 1, now, NULL);
    if (rc != 0) {
        reply_error(r, 500, sb_strerror(rc));
        return;
    }
    SB_INFO("admin: unregistered %s (%zu contact(s))", user, n);
    sb_buf_puts(&r->body, "{\"user\":");
    json_string(&r->body, user);
    sb_buf_printf(&r->body, ",\"removed\":%zu}\n", n);
}

/* --- /api/calls ------------------------------------------------------------ */

/* The text form, from the JSON the workers published: one field at a time
 * (admin_json_field). */
static void calls_text(const char *json, struct sb_buf *b, int64_t now_wall)
{
    sb_buf_printf(b, "%-28s %-28s %-9s %9s\n", "CALLER", "CALLEE", "STATE", "FOR");
    for (const char *o = strstr(json, "{\"call_id\""); o; o = strstr(o + 1, "{\"call_id\"")) {
        char caller[256], callee[256], state[32], since[32];
        admin_json_field(o, NULL, "caller", caller, sizeof(caller));
        admin_json_field(o, NULL, "callee", callee, sizeof(callee));
        admin_json_field(o, NULL, "state", state, sizeof(state));
        long long s =
            (now_wall - atoll(admin_json_field(o, NULL, "since_ms", since, sizeof(since)))) / 1000;
        sb_buf_printf(b, "%-28s %-28s %-9s %6lld:%02lld\n", caller, callee, state, s / 60, s % 60);
    }
}

static void get_calls(struct admin *a, const struct admin_params *p, struct reply *r)
{
    struct sb_buf objs = {0};
    size_t n = worker_pool_calls_json(a->deps.workers, &objs);
    sb_buf_append(&objs, "", 1);
    if (objs.failed) {
        sb_buf_free(&objs);
        reply_error(r, 500, "out of memory");
        return;
    }
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    int64_t now_wall = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
    if (p->text) {
        calls_text(objs.data, &r->body, now_wall);
        sb_buf_printf(&r->body, "%zu call(s)\n", n);
    } else {
        sb_buf_printf(&r->body, "{\"now_ms\":%lld,\"count\":%zu,\"calls\":[%s]}\n",
                      (long long)now_wall, n, objs.data);
    }
    sb_buf_free(&objs);
}

/* --- /api/journal ---------------------------------------------------------- */

/* Reads the last JOURNAL_TAIL_BYTES of the journal (this thread may wait
 * on the disk; no SIP thread does). */
static char *journal_tail(const char *path, size_t *len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return NULL;
    struct stat st;
    char *buf = NULL;
    if (fstat(fd, &st) == 0) {
        off_t from = st.st_size > (off_t)JOURNAL_TAIL_BYTES ? st.st_size - JOURNAL_TAIL_BYTES : 0;
        size_t want = (size_t)(st.st_size - from);
        buf = malloc(want + 1);
        ssize_t got = buf ? pread(fd, buf, want, from) : -1;
        if (got < 0) {
            free(buf);
            buf = NULL;
        } else {
            buf[got] = '\0';
            *len = (size_t)got;
            /* a cut first line is not a line */
            char *nl = from > 0 ? strchr(buf, '\n') : NULL;
            if (nl) {
                *len -= (size_t)(nl + 1 - buf);
                memmove(buf, nl + 1, *len + 1);
            }
        }
    }
    close(fd);
    return buf;
}

/* Complete lines ending at or after @since_ms, the last @limit of them,
 * oldest first. */
static void journal_select(char *text, const struct admin_params *p, struct reply *r)
{
    const char *lines[ADMIN_LIMIT_MAX];
    size_t n = 0;
    for (char *line = text, *nl; (nl = strchr(line, '\n')) != NULL; line = nl + 1) {
        *nl = '\0';
        char ended[40];
        int64_t at = 0;
        if (p->since_ms &&
            (admin_time_parse(admin_json_field(line, NULL, "ended_at", ended, sizeof(ended)),
                              &at) != 0 ||
             at < p->since_ms))
            continue;
        if (n == p->limit) {
            memmove(lines, lines + 1, (n - 1) * sizeof(lines[0]));
            n--;
        }
        lines[n++] = line;
    }
    if (p->text)
        sb_buf_printf(&r->body, "%-24s %-24s %-24s %-10s %8s\n", "ENDED", "FROM", "TO", "OUTCOME",
                      "TALKED");
    else
        sb_buf_puts(&r->body, "{\"lines\":[");
    for (size_t i = 0; i < n; i++) {
        if (!p->text) {
            sb_buf_printf(&r->body, "%s\n%s", i ? "," : "", lines[i]);
            continue;
        }
        char ended[40], from[128], to[128], outcome[32], talk[32];
        const char *f = strstr(lines[i], "\"from\":"), *t = strstr(lines[i], "\"to\":");
        sb_buf_printf(&r->body, "%-24s %-24s %-24s %-10s %7ss\n",
                      admin_json_field(lines[i], NULL, "ended_at", ended, sizeof(ended)),
                      f ? admin_json_field(f, NULL, "aor", from, sizeof(from)) : "",
                      t ? admin_json_field(t, NULL, "aor", to, sizeof(to)) : "",
                      admin_json_field(lines[i], NULL, "outcome", outcome, sizeof(outcome)),
                      admin_json_field(lines[i], NULL, "duration_s", talk, sizeof(talk)));
    }
    if (!p->text)
        sb_buf_printf(&r->body, "\n],\"count\":%zu}\n", n);
}

static void get_journal(struct admin *a, const struct admin_params *p, struct reply *r)
{
    const char *path = a->deps.config->journal_path;
    if (!path) {
        reply_error(r, 404, "no journal: set [journal] file");
        return;
    }
    size_t len = 0;
    char *text = journal_tail(path, &len);
    if (!text) {
        if (p->text)
            sb_buf_puts(&r->body, "no call has ended yet\n");
        else
            sb_buf_puts(&r->body, "{\"lines\":[],\"count\":0}\n");
        return;
    }
    journal_select(text, p, r);
    free(text);
}

/* --- /api/status ----------------------------------------------------------- */

/* The registration store's part of the status. */
static void status_store(const struct admin_deps *d, bool text, struct sb_buf *b)
{
    if (!d->store)
        return;
    struct store_counters s;
    store_counters(d->store, &s);
    const char *kind = s.shared ? "redis" : "sqlite";
    if (text) {
        sb_buf_printf(b,
                      "store: %s, %s, %llu failed batch(es), %llu merged from others, "
                      "%llu reload(s)\n",
                      kind, s.healthy ? "healthy" : "NOT WRITING (serving from memory)",
                      (unsigned long long)s.failures, (unsigned long long)s.remote,
                      (unsigned long long)s.reloads);
        return;
    }
    sb_buf_printf(b,
                  ",\"store\":{\"kind\":\"%s\",\"healthy\":%s,\"failures\":%llu,"
                  "\"merged\":%llu,\"reloads\":%llu}",
                  kind, s.healthy ? "true" : "false", (unsigned long long)s.failures,
                  (unsigned long long)s.remote, (unsigned long long)s.reloads);
}

/* Each trunk and its registration (trunk.h): lines, or a JSON array. */
static void status_trunks(const struct admin_deps *d, bool text, struct sb_buf *b)
{
    size_t count = d->trunks ? d->trunks->count : 0;
    if (!text)
        sb_buf_puts(b, "[");
    for (size_t i = 0; i < count; i++) {
        const struct trunk *t = &d->trunks->trunks[i];
        const struct trunk_status *s = &t->status;
        int state = atomic_load(&s->state), code = atomic_load(&s->last_code),
            reach = atomic_load(&s->reachable);
        const char *reachable = reach < 0 ? "null" : reach ? "true" : "false";
        long long left = (long long)atomic_load(&s->expires_at) - (long long)time(NULL);
        if (state != TRUNK_REGISTERED || left < 0)
            left = 0;
        unsigned long long out = atomic_load(&s->calls_out), in = atomic_load(&s->calls_in),
                           challenges = atomic_load(&s->challenges),
                           failures = atomic_load(&s->failures),
                           registers = atomic_load(&s->registers);
        if (text) {
            sb_buf_printf(b,
                          "trunk %s: %s (last answer %d, %llds left), %s, %llu call(s) out, "
                          "%llu in\n",
                          t->name, trunk_reg_state_name(state), code, left,
                          reach < 0   ? "not pinged"
                          : reach > 0 ? "answers keep-alives"
                                      : "UNREACHABLE",
                          out, in);
            continue;
        }
        sb_buf_puts(b, i ? ",{\"name\":" : "{\"name\":");
        json_string(b, t->name);
        sb_buf_printf(b,
                      ",\"state\":\"%s\",\"last_code\":%d,\"expires_in_s\":%lld,"
                      "\"calls_out\":%llu,\"calls_in\":%llu,\"challenges\":%llu,"
                      "\"failures\":%llu,\"registers\":%llu,\"reachable\":%s}",
                      trunk_reg_state_name(state), code, left, out, in, challenges, failures,
                      registers, reachable);
    }
    if (!text)
        sb_buf_puts(b, "]");
}

/* /api/trunks: the trunks alone (switchboard-ctl trunks). */
static void get_trunks(struct admin *a, const struct admin_params *p, struct reply *r)
{
    const struct admin_deps *d = &a->deps;
    if (p->text) {
        if (!d->trunks || !d->trunks->count)
            sb_buf_puts(&r->body, "no trunks ([trunk NAME] sections)\n");
        status_trunks(d, true, &r->body);
        return;
    }
    sb_buf_puts(&r->body, "{\"trunks\":");
    status_trunks(d, false, &r->body);
    sb_buf_puts(&r->body, "}\n");
}

static void get_status(struct admin *a, const struct admin_params *p, struct reply *r)
{
    const struct admin_deps *d = &a->deps;
    uint64_t total[SB_CNT_COUNT] = {0};
    transport_counters(d->transport, total);
    stream_counters(d->streams, total);
    worker_pool_counters(d->workers, total);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    long long up = (long long)ts.tv_sec - d->started_ms / 1000;
    size_t users = registrar_record_count(d->registrar), calls = worker_pool_open_calls(d->workers);
    size_t txns = worker_pool_transactions(d->workers);
    if (p->text) {
        sb_buf_printf(&r->body, "switchboard " SB_VERSION ", up %lldd %02lld:%02lld:%02lld\n",
                      up / 86400, up / 3600 % 24, up / 60 % 60, up % 60);
        for (size_t i = 0; i < d->listens->count; i++)
            sb_buf_printf(&r->body, "listening on %s\n", d->listens->entries[i].name);
        sb_buf_printf(&r->body,
                      "%u worker(s), %u listener(s)\nregistered users: %zu\n"
                      "calls up: %zu\ntransactions: %zu\n",
                      d->config->workers, d->config->listeners, users, calls, txns);
        status_store(d, true, &r->body);
        status_trunks(d, true, &r->body);
        for (int i = 0; i < SB_CNT_COUNT; i++)
            if (total[i])
                sb_buf_printf(&r->body, "  %-50s %llu\n", sb_counter_name(i),
                              (unsigned long long)total[i]);
        return;
    }
    sb_buf_printf(&r->body,
                  "{\"version\":\"" SB_VERSION "\",\"uptime_s\":%lld,\"started_at\":", up);
    json_time(&r->body, d->started_ms);
    sb_buf_puts(&r->body, ",\"listen\":[");
    for (size_t i = 0; i < d->listens->count; i++) {
        sb_buf_puts(&r->body, i ? "," : "");
        json_string(&r->body, d->listens->entries[i].name);
    }
    sb_buf_printf(&r->body,
                  "],\"workers\":%u,\"listeners\":%u,\"registered_users\":%zu,"
                  "\"calls_active\":%zu,\"transactions_active\":%zu,\"connections_open\":%zu,"
                  "\"counters\":{",
                  d->config->workers, d->config->listeners, users, calls, txns,
                  stream_connection_count(d->streams));
    for (int i = 0; i < SB_CNT_COUNT; i++) {
        sb_buf_puts(&r->body, i ? "," : "");
        json_string(&r->body, sb_counter_name(i));
        sb_buf_printf(&r->body, ":%llu", (unsigned long long)total[i]);
    }
    sb_buf_puts(&r->body, "}");
    status_store(d, false, &r->body);
    sb_buf_puts(&r->body, ",\"trunks\":");
    status_trunks(d, false, &r->body);
    sb_buf_puts(&r->body, "}\n");
}

/* --- /api/users: do-not-disturb -------------------------------------------- */

static void user_json(struct admin *a, const char *user, struct reply *r)
{
    struct dialplan *dp = dialplan_holder_get(a->deps.plans);
    const struct dialplan_user *u = dialplan_user(dp, user);
    bool runtime = dialplan_holder_dnd(a->deps.plans, user), configured = u && u->dnd;
    sb_buf_puts(&r->body, "{\"user\":");
    json_string(&r->body, user);
    sb_buf_printf(&r->body, ",\"dnd\":%s,\"dnd_configured\":%s,\"dnd_set_at_run_time\":%s",
                  runtime || configured ? "true" : "false", configured ? "true" : "false",
                  runtime ? "true" : "false");
    sb_buf_puts(&r->body, ",\"forward\":{");
    bool first = true;
    for (int f = 0; u && f < DIALPLAN_FORWARDS; f++) {
        if (!u->forward[f])
            continue;
        sb_buf_printf(&r->body, "%s\"%s\":", first ? "" : ",", dialplan_forward_name(f));
        json_string(&r->body, u->forward[f]);
        first = false;
    }
    unsigned ring = u && u->forward[DIALPLAN_NOANSWER] ? u->noanswer_s
                    : u && u->ring_s                   ? u->ring_s
                                                       : dialplan_ring_timeout(dp);
    sb_buf_printf(&r->body, "},\"ring_timeout_s\":%u}\n", ring);
    dialplan_unref(dp);
}

/* --- /api/users: each registered user's state ------------------------------ */

#define PEOPLE_MAX 100000 /* users listed at most (the registrar's own bound is lower) */

/* One user as the registrar had it: its name (the key before any
 * @domain) and its live contacts, copied out of the RCU section. */
struct person {
    char *user;
    char **contacts;
    size_t count;
};

struct people {
    struct person *list;
    size_t count, cap;
    const char *only; /* one user's key, or NULL: every user */
    uint64_t now_ms;
    bool failed;
};

static void people_visit(void *arg, const char *aor, const struct registrar_binding *bs, size_t n)
{
    struct people *w = arg;
    if (w->failed || (w->only && strcmp(w->only, aor) != 0) || w->count >= PEOPLE_MAX)
        return;
    if (w->count == w->cap) {
        size_t cap = w->cap ? w->cap * 2 : 64;
        struct person *more = realloc(w->list, cap * sizeof(*more));
        if (!more) {
            w->failed = true;
            return;
        }
        w->list = more;
        w->cap = cap;
    }
    struct person *p = &w->list[w->count];
    p->user = strndup(aor, strcspn(aor, "@"));
    p->contacts = calloc(n ? n : 1, sizeof(*p->contacts));
    p->count = 0;
    w->count++;
    if (!p->user || !p->contacts) {
        w->failed = true;
        return;
    }
    for (size_t i = 0; i < n; i++)
        if (bs[i].expires_at_ms > w->now_ms && (p->contacts[p->count] = strdup(bs[i].uri)))
            p->count++;
}

static void people_free(struct people *w)
{
    for (size_t i = 0; i < w->count; i++) {
        for (size_t c = 0; c < w->list[i].count; c++)
            free(w->list[i].contacts[c]);
        free(w->list[i].contacts);
        free(w->list[i].user);
    }
    free(w->list);
}

static int person_order(const void *a, const void *b)
{
    return strcmp(((const struct person *)a)->user, ((const struct person *)b)->user);
}

/* One user's line: JSON object or a table row. */
static void person_out(struct admin *a, const struct person *p, const char *calls,
                       const struct dialplan *dp, bool text, bool first, struct sb_buf *b)
{
    struct admin_person who = {
        .user = p->user, .contacts = (const char *const *)p->contacts, .count = p->count};
    const char *status = admin_presence_name(admin_people_status(calls, &who, dp));
    const struct dialplan_user *u = dialplan_user(dp, p->user);
    bool dnd = dialplan_holder_dnd(a->deps.plans, p->user) || (u && u->dnd);
    if (text) {
        sb_buf_printf(b, "%-24s %-13s %7zu  %s\n", p->user, status, p->count, dnd ? "yes" : "no");
        return;
    }
    sb_buf_puts(b, first ? "\n{\"user\":" : ",\n{\"user\":");
    json_string(b, p->user);
    sb_buf_printf(b, ",\"status\":\"%s\",\"devices\":%zu,\"dnd\":%s}", status, p->count,
                  dnd ? "true" : "false");
}

/* GET /api/users[?user=U]: who is registered here, each online, ringing
 * or on the phone (admin_people.h), with DND. */
static void get_users(struct admin *a, const struct admin_params *p, struct reply *r)
{
    struct people w = {.only = p->user[0] ? p->user : NULL, .now_ms = sb_now_ms()};
    registrar_foreach(a->deps.registrar, people_visit, &w);
    struct sb_buf calls = {0};
    worker_pool_calls_json(a->deps.workers, &calls);
    sb_buf_append(&calls, "", 1);
    if (w.failed || calls.failed) {
        people_free(&w);
        sb_buf_free(&calls);
        reply_error(r, 500, "out of memory");
        return;
    }
    if (w.count) /* qsort wants a list, even of none */
        qsort(w.list, w.count, sizeof(*w.list), person_order);
    struct dialplan *dp = dialplan_holder_get(a->deps.plans);
    if (p->text)
        sb_buf_printf(&r->body, "%-24s %-13s %7s  %s\n", "USER", "STATUS", "DEVICES", "DND");
    else
        sb_buf_puts(&r->body, "{\"users\":[");
    size_t shown = 0;
    for (size_t i = 0; i < w.count; i++)
        if (w.list[i].count)
            person_out(a, &w.list[i], calls.data, dp, p->text, shown++ == 0, &r->body);
    if (p->text)
        sb_buf_printf(&r->body, "%zu user(s)\n", shown);
    else
        sb_buf_printf(&r->body, "\n],\"count\":%zu}\n", shown);
    dialplan_unref(dp);
    people_free(&w);
    sb_buf_free(&calls);
}

/* PUT (on) or DELETE (off) /api/users/USER/dnd, kept in the store. */
static void set_dnd(struct admin *a, const char *user, bool on, struct reply *r)
{
    if (dialplan_holder_set_dnd(a->deps.plans, user, on) != 0) {
        reply_error(r, 500, "out of memory");
        return;
    }
    char *list = dialplan_holder_dnd_list(a->deps.plans);
    if (list)
        store_note_meta(a->deps.store, "dnd", list);
    else
        SB_WARN("admin: out of memory: do-not-disturb for %s is not kept in the store", user);
    free(list);
    SB_INFO("admin: do-not-disturb %s for %s", on ? "on" : "off", user);
    user_json(a, user, r);
}

/* /api/users/USER[/dnd] */
static void route_user(struct admin *a, const char *rest, const char *method, struct reply *r)
{
    char user[256];
    const char *slash = strchr(rest, '/');
    size_t n = slash ? (size_t)(slash - rest) : strlen(rest);
    if (n >= sizeof(user)) {
        reply_error(r, 400, "want /api/users/USER or /api/users/USER/dnd");
        return;
    }
    memcpy(user, rest, n);
    user[n] = '\0';
    if (!admin_user_valid(user) || (slash && strcmp(slash, "/dnd") != 0)) {
        reply_error(r, 400, "want /api/users/USER or /api/users/USER/dnd");
        return;
    }
    bool get = !strcmp(method, "GET") || !strcmp(method, "HEAD");
    if (!slash && get)
        user_json(a, user, r);
    else if (slash && !strcmp(method, "PUT"))
        set_dnd(a, user, true, r);
    else if (slash && !strcmp(method, "DELETE"))
        set_dnd(a, user, false, r);
    else
        reply_error(r, 405,
                    slash ? "use PUT to set do-not-disturb, DELETE to clear it"
                          : "method not allowed");
}

/* --- routing --------------------------------------------------------------- */

struct arg_walk {
    struct admin_params *p;
    const char *error;
};

static enum MHD_Result arg_visit(void *cls, enum MHD_ValueKind kind, const char *key,
                                 const char *value)
{
    (void)kind;
    struct arg_walk *w = cls;
    if (!w->error)
        w->error = admin_param(w->p, key, value);
    return MHD_YES;
}

static void serve_page(struct admin *a, struct reply *r)
{
    r->type = "text/html; charset=utf-8";
    const char *dir = a->deps.config->admin_web_dir;
    if (dir) {
        char path[4096];
        snprintf(path, sizeof(path), "%s/index.html", dir);
        size_t len = 0;
        FILE *f = fopen(path, "r");
        char chunk[8192];
        while (f && (len = fread(chunk, 1, sizeof(chunk), f)) > 0)
            sb_buf_append(&r->body, chunk, len);
        if (f) {
            fclose(f);
            return;
        }
        SB_WARN("admin: cannot read %s, serving the built-in page", path);
    }
    sb_buf_append(&r->body, admin_page, admin_page_len);
}

static void route(struct admin *a, const char *url, const char *method,
                  const struct admin_params *p, struct reply *r)
{
    bool get = !strcmp(method, "GET") || !strcmp(method, "HEAD");
    if (!strncmp(url, "/api/users/", 11)) {
        route_user(a, url + 11, method, r);
        return;
    }
    const char *prefix = "/api/registrations/";
    if (!strncmp(url, prefix, strlen(prefix))) {
        if (strcmp(method, "DELETE") != 0)
            reply_error(r, 405, "use DELETE to unregister a user");
        else
            delete_registration(a, url + strlen(prefix), p->contact, r);
        return;
    }
    static const struct {
        const char *path;
        void (*fn)(struct admin *, const struct admin_params *, struct reply *);
    } routes[] = {
        {"/api/registrations", get_registrations},
        {"/api/calls", get_calls},
        {"/api/journal", get_journal},
        {"/api/status", get_status},
        {"/api/trunks", get_trunks},
        {"/api/users", get_users},
    };
    for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
        if (strcmp(url, routes[i].path) != 0)
            continue;
        if (get)
            routes[i].fn(a, p, r);
        else
            reply_error(r, 405, "method not allowed");
        return;
    }
    if (!strcmp(url, "/metrics") && get) {
        r->type = "text/plain; version=0.0.4; charset=utf-8";
        metrics_render(&a->deps, &r->body);
    } else if (!strcmp(url, "/") && get) {
        serve_page(a, r);
    } else {
        reply_error(r, strcmp(url, "/metrics") && strcmp(url, "/") ? 404 : 405, "no such resource");
    }
}

static const char *header(struct MHD_Connection *c, const char *name)
{
    return MHD_lookup_connection_value(c, MHD_HEADER_KIND, name);
}

/* Judges a request on its headers alone, before any body is read: a Host
 * that is not loopback on a loopback listener (DNS rebinding), a missing
 * token, a body (no route takes one), a page of another origin asking
 * for a change. Returns true when @r holds the refusal. */
static bool refused_on_headers(const struct admin *a, struct MHD_Connection *c, const char *method,
                               struct reply *r)
{
    const char *host = header(c, MHD_HTTP_HEADER_HOST);
    const char *length = header(c, MHD_HTTP_HEADER_CONTENT_LENGTH);
    bool changes = strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0;
    if (a->loopback && !admin_host_is_loopback(host))
        reply_error(r, 403, "this listener answers loopback names only");
    else if (a->token && !admin_bearer_ok(header(c, MHD_HTTP_HEADER_AUTHORIZATION), a->token))
        reply_error(r, 401, "a bearer token is required");
    else if ((length && strcmp(length, "0") != 0) || header(c, MHD_HTTP_HEADER_TRANSFER_ENCODING))
        reply_error(r, 413, "no request here takes a body");
    else if (changes && !admin_origin_ok(header(c, MHD_HTTP_HEADER_ORIGIN), host))
        reply_error(r, 403, "a page of another origin cannot change anything here");
    else
        return false;
    return true;
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *c, const char *url,
                              const char *method, const char *version, const char *upload,
                              size_t *upload_size, void **state)
{
    (void)version;
    (void)upload;
    static int started;
    struct admin *a = cls;
    struct reply r = {.status = 200, .type = "application/json"};
    if (*state == NULL) { /* the headers are in: judged before any body */
        *state = &started;
        return refused_on_headers(a, c, method, &r) ? queue(c, &r) : MHD_YES;
    }
    if (*upload_size) {
        *upload_size = 0; /* refused above; never read */
        return MHD_YES;
    }
    struct admin_params p;
    admin_params_init(&p);
    struct arg_walk w = {.p = &p};
    MHD_get_connection_values(c, MHD_GET_ARGUMENT_KIND, arg_visit, &w);
    if (w.error) {
        reply_error(&r, 400, w.error);
        return queue(c, &r);
    }
    if (p.text)
        r.type = "text/plain; charset=utf-8";
    /* the registrar and the calls' views are read under RCU */
    rcu_register_thread();
    route(a, url, method, &p, &r);
    rcu_unregister_thread();
    if (r.status >= 400 && r.status != 404)
        SB_DEBUG("admin: %s %s: %u", method, url, r.status);
    return queue(c, &r);
}

/* --- start and stop -------------------------------------------------------- */

static int read_token(const char *path, char **out)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "switchboard: cannot read [admin] token_file %s: %s\n", path,
                strerror(errno));
        return SB_EINVAL;
    }
    char buf[512] = "";
    if (!fgets(buf, sizeof(buf), f))
        buf[0] = '\0';
    fclose(f);
    buf[strcspn(buf, " \t\r\n")] = '\0';
    if (strlen(buf) < 16) {
        fprintf(stderr,
                "switchboard: [admin] token_file %s: want a token of 16 characters or "
                "more on its first line\n",
                path);
        return SB_EINVAL;
    }
    *out = strdup(buf);
    return *out ? 0 : SB_ENOMEM;
}

/* The address to bind: an IP literal, or localhost. */
static int admin_addr(const char *host, unsigned port, struct sockaddr_storage *ss, bool *loopback)
{
    memset(ss, 0, sizeof(*ss));
    struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
    struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;
    if (!strcmp(host, "localhost"))
        host = "127.0.0.1";
    if (inet_pton(AF_INET, host, &s4->sin_addr) == 1) {
        s4->sin_family = AF_INET;
        s4->sin_port = htons((uint16_t)port);
        *loopback = (ntohl(s4->sin_addr.s_addr) >> 24) == 127;
        return 0;
    }
    if (inet_pton(AF_INET6, host, &s6->sin6_addr) == 1) {
        s6->sin6_family = AF_INET6;
        s6->sin6_port = htons((uint16_t)port);
        *loopback = IN6_IS_ADDR_LOOPBACK(&s6->sin6_addr);
        return 0;
    }
    return SB_EINVAL;
}

int admin_start(const struct admin_deps *deps, struct admin **out)
{
    *out = NULL;
    const struct sb_config *cfg = deps->config;
    const char *listen = cfg->admin_listen ? cfg->admin_listen : ADMIN_DEFAULT_LISTEN;
    if (!strcmp(listen, "none"))
        return 0;
    char host[256];
    unsigned port;
    struct sockaddr_storage ss;
    bool loopback = false;
    if (config_parse_hostport(listen, host, sizeof(host), &port) != 0 ||
        admin_addr(host, port, &ss, &loopback) != 0) {
        fprintf(stderr, "switchboard: [admin] listen '%s': want IP:PORT, localhost:PORT or none\n",
                listen);
        return SB_EINVAL;
    }
    if (!loopback && !cfg->admin_token_file) {
        fprintf(stderr,
                "switchboard: refusing to serve the admin plane on %s without a token: set "
                "[admin] token_file, or listen on 127.0.0.1\n",
                listen);
        return SB_EINVAL;
    }
    struct admin *a = calloc(1, sizeof(*a));
    if (!a)
        return SB_ENOMEM;
    a->deps = *deps;
    a->loopback = loopback;
    int rc = cfg->admin_token_file ? read_token(cfg->admin_token_file, &a->token) : 0;
    if (rc != 0) {
        free(a);
        return rc;
    }
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL | MHD_USE_ERROR_LOG;
    if (ss.ss_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    a->daemon = MHD_start_daemon(flags, (uint16_t)port, NULL, NULL, handle, a, MHD_OPTION_SOCK_ADDR,
                                 /* a slow client holds at most 8 of 256 */
                                 (struct sockaddr *)&ss, MHD_OPTION_CONNECTION_LIMIT, 256u,
                                 MHD_OPTION_PER_IP_CONNECTION_LIMIT, 8u,
                                 MHD_OPTION_CONNECTION_TIMEOUT, 10u, MHD_OPTION_END);
    if (!a->daemon) {
        free(a->token);
        free(a);
        if (!cfg->admin_listen) { /* the default: not worth refusing SIP for */
            SB_WARN("admin plane not started: %s is in use (set [admin] listen or --admin)",
                    listen);
            return 0;
        }
        fprintf(stderr, "switchboard: cannot serve the admin plane on %s (in use?)\n", listen);
        return SB_ESYS;
    }
    snprintf(a->url, sizeof(a->url), ss.ss_family == AF_INET6 ? "http://[%s]:%u/" : "http://%s:%u/",
             host, port);
    *out = a;
    return 0;
}

const char *admin_url(const struct admin *a)
{
    return a ? a->url : NULL;
}

void admin_stop(struct admin *a)
{
    if (!a)
        return;
    MHD_stop_daemon(a->daemon);
    free(a->token);
    free(a);
}
