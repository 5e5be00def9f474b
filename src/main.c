/* switchboard: a SIP proxy and registrar. main() wires the subsystems
 * together, owns the signal handling, and runs registrar expiry. */
#include <errno.h>
#include <ifaddrs.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include <osipparser2/osip_parser.h>
#include <osipparser2/osip_port.h>
#include <urcu.h>

#include "switchboard/addr_watch.h"
#include "switchboard/admin.h"
#include "switchboard/async_file.h"
#include "switchboard/auth.h"
#include "switchboard/call_journal.h"
#include "switchboard/digest.h"
#include "switchboard/config.h"
#include "switchboard/settings.h"
#include "switchboard/dialplan.h"
#include "switchboard/dispatch.h"
#include "switchboard/error.h"
#include "switchboard/identity.h"
#include "switchboard/log.h"
#include "switchboard/nat.h"
#include "switchboard/reasons.h"
#include "switchboard/registrar.h"
#include "switchboard/secret.h"
#include "switchboard/sip_msg.h"
#include "switchboard/sip_trace.h"
#include "switchboard/stats.h"
#include "switchboard/listen.h"
#include "switchboard/store.h"
#include "switchboard/stream.h"
#include "switchboard/transport_udp.h"
#include "switchboard/resolver.h"
#include "switchboard/trunk.h"
#include "switchboard/worker.h"

struct app {
    struct sb_config config;
    struct registrar *registrar;
    struct identity *identity;
    struct listen_table listens;
    struct transport *transport;
    struct stream *streams; /* NULL: no tcp: or tls: listen address */
    struct dispatch *dispatch;
    struct worker_pool *workers;
    struct reasons *reasons;
    struct async_file *journal;
    struct sip_trace *trace;
    struct store *store;        /* NULL: registrations in memory only */
    struct addr_watch *watcher; /* NULL: no wildcard listen address */
    struct secret *secret;
    struct auth *auth;   /* NULL: [auth] require = none */
    struct admin *admin; /* NULL: [admin] listen = none */
    struct dialplan_holder *plans;
    struct trunk_plan *trunks; /* NULL: no config file */
    struct resolver *resolver; /* NULL: no trunk has a host name */
    char *dnd;                 /* the run-time DND list the store kept; NULL: none */
};

static void osip_trace_quiet(const char *file, int line, osip_trace_level_t level, const char *fmt,
                             va_list ap)
{
    (void)file;
    (void)line;
    (void)level;
    (void)fmt;
    (void)ap;
}

static void log_journal_counters(const struct async_file_counters *j)
{
    SB_INFO("journal: %llu line(s) written, %llu failed, %llu dropped (queue full)",
            (unsigned long long)j->written, (unsigned long long)j->failed,
            (unsigned long long)j->dropped);
}

static void log_counters(const struct app *app)
{
    uint64_t total[SB_CNT_COUNT] = {0};
    transport_counters(app->transport, total);
    stream_counters(app->streams, total);
    worker_pool_counters(app->workers, total);
    char line[6144];
    size_t n = 0;
    for (int i = 0; i < SB_CNT_COUNT && n < sizeof(line); i++)
        n += (size_t)snprintf(line + n, sizeof(line) - n, "%s%s=%llu", i ? ", " : "",
                              sb_counter_name(i), (unsigned long long)total[i]);
    SB_INFO("stats: %s; registered users=%zu, open connections=%zu, live transactions=%zu", line,
            registrar_record_count(app->registrar), stream_connection_count(app->streams),
            worker_pool_transactions(app->workers));
}

static int open_journal(struct app *app)
{
    const struct sb_config *cfg = &app->config;
    struct async_file_options o = {
        .path = cfg->journal_path,
        .name = "journal",
        .queue_limit = cfg->journal_queue_limit,
    };
    int rc = async_file_sync_parse(cfg->journal_fsync, &o.sync);
    return rc == 0 ? async_file_open(&o, &app->journal) : rc;
}

/* The optional parts: reason phrases, journal, trace. */
static int app_start_extras(struct app *app)
{
    const struct sb_config *cfg = &app->config;
    int rc = 0;
    if (cfg->reasons_path) {
        rc = reasons_create(&app->reasons);
        if (rc == 0)
            rc = reasons_load(app->reasons, cfg->reasons_path);
    }
    if (rc == 0 && cfg->journal_path)
        rc = open_journal(app);
    if (rc == 0 && cfg->trace_path)
        rc = sip_trace_open(cfg->trace_path, &app->trace);
    return rc;
}

/* The office's dial plan from the config file's [extensions], [groups],
 * [forward] and [users] (none without -c: an empty plan). */
static int load_dialplan(const struct sb_config *cfg, struct dialplan **out)
{
    char err[512];
    *out = NULL;
    if (!cfg->config_path)
        return 0;
    int rc = dialplan_load(cfg->config_path, out, err, sizeof(err));
    if (rc != 0)
        fprintf(stderr, "switchboard: %s\n", err);
    return rc;
}

/* The trunks, [outbound] and [inbound] (trunk.h): their hosts resolved
 * and passwords read now, before any SIP thread runs. Calls out need
 * callers we know: [auth] require = all. */
static int load_trunks(const struct sb_config *cfg, struct trunk_plan **out)
{
    char err[512];
    *out = NULL;
    if (!cfg->config_path)
        return 0;
    int rc = trunk_plan_load(cfg->config_path, out, err, sizeof(err));
    if (rc != 0) {
        fprintf(stderr, "switchboard: %s\n", err);
        return rc;
    }
    if ((*out)->route_count && cfg->auth_mode != AUTH_MODE_ALL) {
        fprintf(stderr, "switchboard: [outbound] routes need [auth] require = all: only "
                        "callers who proved who they are may call out\n");
        return SB_EINVAL;
    }
    for (size_t i = 0; i < (*out)->count; i++) {
        const struct trunk *t = &(*out)->trunks[i];
        SB_INFO("trunk %s: %s:%u over %s%s", t->name, t->host,
                t->port ? t->port : (t->transport == SB_TLS ? 5061u : 5060u),
                sb_transport_name(t->transport), t->reg ? ", registering" : "");
    }
    return 0;
}

/* Is there a listen address for the stream threads (all but udp:)? */
static bool stream_wanted(const struct listen_table *listens)
{
    for (int t = SB_TCP; t < SB_TRANSPORT_COUNT; t++)
        if (listen_has(listens, t))
            return true;
    return false;
}

/* The transports and address families we can send over (resolver.h). */
static unsigned listen_reach(const struct listen_table *listens)
{
    unsigned mask = 0;
    for (size_t i = 0; i < listens->count; i++) {
        const struct listen_entry *e = &listens->entries[i];
        if (e->transport <= SB_TLS)
            mask |= RESOLVER_REACH(e->transport, e->addr.ss.ss_family == AF_INET6);
    }
    return mask;
}

static char *dnd_now(void *ctx)
{
    return dialplan_holder_dnd_list(ctx);
}

/* A loaded binding's local address must be one we listen on now. */
static void fix_local(void *ctx, struct registrar_binding *b)
{
    listen_local_resolve(ctx, b->transport, &b->local);
}

/* The event state kept beside the bindings (store.h: DOCUMENTS). */
static const struct store_doc_kind doc_kinds[PROXY_DOC_KINDS] = {
    [PROXY_DOC_PRESENCE] = {.name = "presence", .shared = true},
    [PROXY_DOC_SUBSCRIPTION] = {.name = "subscription", .shared = false},
};

/* proxy_env.keep: into the store's queue, never waiting. */
static void keep_doc(void *ctx, enum proxy_doc kind, const char *key, const char *value,
                     uint64_t expires_wall_ms)
{
    store_note_doc(ctx, kind, key, value, expires_wall_ms);
}

/* proxy_env.keep_epoch: moves after each of the store's resyncs. */
static uint64_t keep_epoch(void *ctx)
{
    return store_docs_epoch(ctx);
}

/* store_docs_each_fn: what phones published, for a resync. */
static int presence_now(void *arg, store_doc_fn emit, void *emit_arg)
{
    return worker_pool_presence_docs(arg, emit, emit_arg);
}

/* store_doc_fn: what phones published before a restart, or on another
 * node now. */
static int restore_presence(void *arg, const char *key, const char *value, uint64_t expires_ms)
{
    int rc = worker_pool_restore(arg, PROXY_DOC_PRESENCE, key, value, expires_ms);
    if (rc != 0)
        SB_DEBUG("presence %s from the store not kept: %s", key, sb_strerror(rc));
    return 0;
}

struct restored {
    struct app *app;
    size_t kept, dropped;
};

/* store_doc_fn: a subscription served before the restart; one that
 * cannot be served again is removed from the store. */
static int restore_subscription(void *arg, const char *key, const char *value, uint64_t expires_ms)
{
    struct restored *r = arg;
    if (worker_pool_restore(r->app->workers, PROXY_DOC_SUBSCRIPTION, key, value, expires_ms) == 0) {
        r->kept++;
        return 0;
    }
    r->dropped++;
    store_note_doc(r->app->store, PROXY_DOC_SUBSCRIPTION, key, NULL, 0);
    return 0;
}

/* The event state the store kept, into the workers before they run. */
static void restore_event_state(struct app *app)
{
    struct restored r = {.app = app};
    if (!app->store)
        return;
    store_docs_take(app->store, PROXY_DOC_PRESENCE, restore_presence, app->workers);
    store_docs_take(app->store, PROXY_DOC_SUBSCRIPTION, restore_subscription, &r);
    store_docs_watch(app->store, PROXY_DOC_PRESENCE, restore_presence, app->workers);
    store_docs_source(app->store, PROXY_DOC_PRESENCE, presence_now, app->workers);
    if (r.kept || r.dropped)
        SB_INFO("subscriptions from before: %zu served again, %zu could not be", r.kept, r.dropped);
}

/* This switchboard's name in a shared store: [registrar] node, else its
 * first listen address (HOST:PORT, the host name for a wildcard). */
static void node_name(const struct sb_config *cfg, char *buf, size_t size)
{
    char host[256];
    unsigned port = 5060;
    int transport;
    if (cfg->node) {
        snprintf(buf, size, "%s", cfg->node);
        return;
    }
    if (cfg->listen_count == 0 ||
        config_parse_listen(cfg->listen[0], &transport, host, sizeof(host), &port) != 0)
        snprintf(host, sizeof(host), "0.0.0.0");
    if (!strcmp(host, "0.0.0.0") || !strcmp(host, "::") || !strcmp(host, "[::]")) {
        if (gethostname(host, sizeof(host)) != 0)
            snprintf(host, sizeof(host), "switchboard");
        host[sizeof(host) - 1] = '\0';
    }
    snprintf(buf, size, "%s:%u", host, port);
}

/* The registration store, which loads what it holds before anything is
 * served, and the proxy's secret: [auth] secret_file, else the one kept in
 * the store, else a random one. */
static int open_store_and_secret(struct app *app)
{
    const struct sb_config *cfg = &app->config;
    unsigned char key[SECRET_KEY_BYTES];
    char node[300];
    node_name(cfg, node, sizeof(node));
    bool use_store = cfg->store && strcmp(cfg->store, "none") != 0;
    struct store_options o = {.spec = cfg->store,
                              .node = node,
                              .queue_limit = cfg->store_queue_limit,
                              .secret = cfg->auth_secret_file ? NULL : key,
                              .meta_key = "dnd",
                              .meta_out = &app->dnd,
                              .meta_now = dnd_now,
                              .meta_ctx = app->plans,
                              .docs = doc_kinds,
                              .doc_count = PROXY_DOC_KINDS};
    int rc = use_store ? store_start(&o, app->registrar, fix_local, &app->listens, &app->store) : 0;
    if (rc != 0)
        return rc;
    if (app->dnd && app->dnd[0]) {
        dialplan_holder_load_dnd(app->plans, app->dnd);
        SB_INFO("do-not-disturb kept from before: %s", app->dnd);
    }
    free(app->dnd);
    app->dnd = NULL;
    if (cfg->auth_secret_file)
        return secret_from_file(cfg->auth_secret_file, &app->secret);
    if (use_store)
        return secret_from_bytes(key, sizeof(key), &app->secret);
    return secret_random(&app->secret, NULL);
}

/* The realm: [auth] realm, else the first domain, else the host name. */
static void auth_realm_default(const struct sb_config *cfg, char *buf, size_t size)
{
    if (cfg->auth_realm)
        snprintf(buf, size, "%s", cfg->auth_realm);
    else if (cfg->domain_count)
        snprintf(buf, size, "%s", cfg->domains[0]);
    else if (gethostname(buf, size) != 0)
        snprintf(buf, size, "switchboard");
    buf[size - 1] = '\0';
}

static int open_auth(struct app *app)
{
    const struct sb_config *cfg = &app->config;
    if (cfg->auth_mode == AUTH_MODE_NONE)
        return 0;
    char realm[256];
    auth_realm_default(cfg, realm, sizeof(realm));
    struct auth_options o = {
        .mode = (enum auth_mode)cfg->auth_mode,
        .realm = realm,
        .per_domain = cfg->use_domain,
        .users_path = cfg->auth_users,
        .nonce_ttl_s = cfg->auth_nonce_ttl,
        .max_failures = cfg->auth_max_failures,
        .block_s = cfg->auth_block_seconds,
        .max_user_failures = cfg->auth_max_user_failures,
        .user_block_s = cfg->auth_user_block_seconds,
    };
    int n = digest_alg_list_parse(cfg->auth_algorithms, o.offer);
    if (n <= 0)
        return SB_EINVAL;
    o.offer_count = (size_t)n;
    return auth_create(&o, app->secret, &app->auth);
}

static int app_start(struct app *app)
{
    const struct sb_config *cfg = &app->config;
    struct registrar_limits limits = {.max_bindings = cfg->max_bindings,
                                      .max_records = cfg->max_records,
                                      .max_per_source = cfg->max_aors_per_source,
                                      .max_per_domain = cfg->max_records_per_domain};
    struct dialplan *plan = NULL;
    int rc = load_dialplan(cfg, &plan);
    if (rc == 0 && dialplan_holder_create(plan, &app->plans) != 0) {
        dialplan_unref(plan);
        rc = SB_ENOMEM;
    }
    if (rc == 0)
        rc = load_trunks(cfg, &app->trunks);
    if (rc == 0)
        rc = app_start_extras(app);
    if (rc == 0)
        rc = registrar_create(&limits, &app->registrar);
    if (rc == 0)
        rc = identity_create(cfg, &app->identity);
    for (size_t i = 0; rc == 0 && app->trunks && i < app->trunks->count; i++)
        if (app->trunks->trunks[i].advertise_host[0])
            rc = identity_add_alias(app->identity, app->trunks->trunks[i].advertise_host,
                                    app->trunks->trunks[i].advertise_port);
    if (rc == 0 && identity_has_wildcard(app->identity))
        addr_watch_start(app->identity, &app->watcher); /* logs when it cannot */
    if (rc == 0)
        rc = listen_table_init(&app->listens, cfg);
    if (rc == 0)
        rc = transport_create(cfg, &app->listens, &app->transport);
    if (rc == 0)
        rc = resolver_start(app->trunks, listen_reach(&app->listens), cfg->relay, &app->resolver);
    if (rc == 0 && stream_wanted(&app->listens))
        rc = stream_create(cfg, &app->listens, &app->streams);
    if (rc == 0)
        rc = open_store_and_secret(app);
    if (rc == 0)
        rc = open_auth(app);
    if (rc == 0)
        rc = dispatch_create(cfg->workers, cfg->queue_limit, &app->dispatch);
    if (rc == 0) {
        struct worker_deps deps = {
            .config = cfg,
            .dispatch = app->dispatch,
            .listens = &app->listens,
            .transport = app->transport,
            .streams = app->streams,
            .registrar = app->registrar,
            .identity = app->identity,
            .reasons = app->reasons,
            .journal = app->journal,
            .trace = app->trace,
            .auth = app->auth,
            .secret = app->secret,
            .plans = app->plans,
            .trunks = app->trunks,
            .resolver = app->resolver,
            .keep = app->store ? keep_doc : NULL,
            .keep_ctx = app->store,
            .keep_epoch = app->store ? keep_epoch : NULL,
        };
        rc = worker_pool_create(&deps, &app->workers);
    }
    if (rc == 0)
        restore_event_state(app);
    if (rc == 0)
        rc = worker_pool_start(app->workers);
    if (rc == 0)
        rc = transport_start(app->transport, app->dispatch, app->trace, app->reasons);
    if (rc == 0 && app->streams) {
        stream_set_office(app->streams, app->auth, app->plans);
        rc = stream_start(app->streams, app->dispatch, app->trace, app->reasons);
    }
    if (rc == 0) {
        struct admin_deps ad = {
            .config = cfg,
            .listens = &app->listens,
            .registrar = app->registrar,
            .workers = app->workers,
            .transport = app->transport,
            .streams = app->streams,
            .dispatch = app->dispatch,
            .journal = app->journal,
            .store = app->store,
            .plans = app->plans,
            .trunks = app->trunks,
            .started_ms = call_journal_now(),
        };
        rc = admin_start(&ad, &app->admin);
    }
    return rc;
}

static void app_stop(struct app *app)
{
    /* the admin plane reads everything below: it goes first */
    admin_stop(app->admin);
    app->admin = NULL;
    /* stop reading first, then let the workers drain what was queued */
    if (app->transport)
        transport_stop(app->transport);
    if (app->streams)
        stream_stop_input(app->streams);
    if (app->dispatch)
        dispatch_stop(app->dispatch);
    if (app->workers)
        worker_pool_join(app->workers);
    /* what the workers sent last is written before connections close */
    if (app->streams)
        stream_stop(app->streams);
    if (app->workers)
        log_counters(app);
    /* every REGISTER is handled: write what the workers noted last */
    store_stop(app->store);
    addr_watch_stop(app->watcher);
    /* the workers' last journal lines (calls interrupted) are queued here */
    worker_pool_destroy(app->workers);
    if (app->journal) {
        struct async_file_counters last;
        async_file_close(app->journal, &last);
        log_journal_counters(&last);
    }
    sip_trace_close(app->trace);
    reasons_destroy(app->reasons);
    dispatch_destroy(app->dispatch);
    stream_destroy(app->streams);
    transport_destroy(app->transport);
    registrar_destroy(app->registrar);
    identity_destroy(app->identity);
    auth_destroy(app->auth);
    secret_free(app->secret);
    dialplan_holder_destroy(app->plans);
    resolver_stop(app->resolver); /* the workers that read the plan are gone */
    trunk_plan_free(app->trunks);
}

static void print_ready(const struct app *app)
{
    char line[2048];
    size_t n = (size_t)snprintf(line, sizeof(line), "switchboard ready: listening on");
    for (size_t i = 0; i < app->listens.count && n < sizeof(line); i++)
        n += (size_t)snprintf(line + n, sizeof(line) - n, " %s", app->listens.entries[i].name);
    if (n < sizeof(line))
        n += (size_t)snprintf(line + n, sizeof(line) - n, " (%u listener(s), %u worker(s))",
                              app->config.listeners, app->config.workers);
    if (n < sizeof(line) && app->admin)
        snprintf(line + n, sizeof(line) - n, "; admin on %s", admin_url(app->admin));
    fprintf(stderr, "%s\n", line);
}

/* A public address the host has (a wildcard listener answers on it), or
 * NULL: written into @buf. */
static const char *public_interface(char *buf, size_t size)
{
    struct ifaddrs *list, *ifa;
    const char *found = NULL;
    if (getifaddrs(&list) != 0)
        return NULL;
    for (ifa = list; ifa && !found; ifa = ifa->ifa_next) {
        if (!ifa->ifa_addr ||
            (ifa->ifa_addr->sa_family != AF_INET && ifa->ifa_addr->sa_family != AF_INET6))
            continue;
        struct sb_addr a = {.len = sizeof(a.ss)};
        memcpy(&a.ss, ifa->ifa_addr,
               ifa->ifa_addr->sa_family == AF_INET ? sizeof(struct sockaddr_in)
                                                   : sizeof(struct sockaddr_in6));
        sipmsg_addr_host(&a, buf, size);
        if (nat_addr_kind(buf) == NAT_ADDR_PUBLIC)
            found = buf;
    }
    freeifaddrs(list);
    return found;
}

/* Exposed defaults are loud: a listen address strangers can reach (not
 * private, shared or loopback; a wildcard on a host with a public
 * address) while nobody is asked for a password or relay is on. */
static void warn_if_exposed(const struct app *app)
{
    const struct sb_config *cfg = &app->config;
    if (cfg->auth_mode != AUTH_MODE_NONE && !cfg->relay)
        return;
    const char *why = cfg->relay ? "[proxy] relay = yes forwards for anyone who passes "
                                   "authorization"
                                 : "[auth] require = none lets anyone register as anyone";
    for (size_t i = 0; i < app->listens.count; i++) {
        const struct listen_entry *e = &app->listens.entries[i];
        char ip[64], pub[64];
        sipmsg_addr_host(&e->addr, ip, sizeof(ip));
        const char *reach = e->wildcard ? public_interface(pub, sizeof(pub))
                            : nat_addr_kind(ip) == NAT_ADDR_PUBLIC ? ip
                                                                   : NULL;
        if (reach)
            SB_WARN("%s is reachable from outside (%s is public) and %s: see README "
                    "\"Security\"",
                    e->name, reach, why);
    }
}

/* Every TCP/TLS connection is a descriptor: lift the soft limit (often
 * 1024) to the hard one, and warn when even that is short of what
 * [tcp] max_connections allows. */
static void raise_file_limit(const struct sb_config *cfg)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return;
    if (rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
        getrlimit(RLIMIT_NOFILE, &rl);
    }
    if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < (rlim_t)cfg->tcp_max_connections + 256)
        SB_WARN("only %llu file descriptors: fewer TCP/TLS connections than [tcp] "
                "max_connections (%u) will fit",
                (unsigned long long)rl.rlim_cur, cfg->tcp_max_connections);
}

/* SIGHUP: the dial plan as the config file says now; a broken one keeps
 * the plan in use, and the log names the line. */
static void reload_dialplan(struct app *app)
{
    char err[512];
    struct dialplan *dp = NULL;
    if (!app->config.config_path)
        return;
    if (dialplan_load(app->config.config_path, &dp, err, sizeof(err)) != 0) {
        SB_ERROR("dial plan not reloaded, the old one stays: %s", err);
        return;
    }
    dialplan_holder_set(app->plans, dp);
    SB_INFO("dial plan reloaded from %s", app->config.config_path);
}

static bool conn_alive(void *ctx, uint64_t conn)
{
    return stream_conn_alive(ctx, conn);
}

/* Expired bindings go, and those of browsers whose WebSocket closed. */
static void sweep_registrations(struct app *app)
{
    uint64_t now = sb_now_ms();
    registrar_expire(app->registrar, now);
    if (listen_has(&app->listens, SB_WS) || listen_has(&app->listens, SB_WSS))
        registrar_drop_dead_flows(app->registrar, conn_alive, app->streams, now);
}

/* Waits for signals; once a second it sweeps expired registrations. */
static void run_until_signalled(struct app *app, const sigset_t *signals)
{
    for (;;) {
        struct timespec second = {.tv_sec = 1};
        int sig = sigtimedwait(signals, NULL, &second);
        if (sig < 0) {
            if (errno == EAGAIN)
                sweep_registrations(app);
            continue;
        }
        if (sig == SIGTERM || sig == SIGINT) {
            SB_INFO("%s: shutting down", strsignal(sig));
            return;
        }
        if (sig == SIGUSR1) {
            log_counters(app);
            if (app->journal) {
                struct async_file_counters j;
                async_file_counters(app->journal, &j);
                log_journal_counters(&j);
            }
        }
        if (sig == SIGHUP) {
            /* log rotation: reopen the files; pick up edited phrases */
            if (app->journal)
                async_file_reopen(app->journal);
            sip_trace_reopen(app->trace);
            if (app->reasons)
                reasons_load(app->reasons, app->config.reasons_path);
            if (app->auth)
                auth_reload(app->auth); /* a broken file keeps the old users */
            reload_dialplan(app);
        }
    }
}

int main(int argc, char **argv)
{
    struct app app = {0};
    config_defaults(&app.config);
    int rc = settings_from_args(&app.config, argc, argv);
    if (rc != 0) {
        config_free(&app.config);
        return rc > 0 ? 0 : 2;
    }
    settings_finalize(&app.config);
    sb_log_set_level(app.config.log_level);
    sipmsg_set_server_header(app.config.server_header);
    parser_init(); /* libosip2's tables, before any thread parses */
    /* libosip2 prints its own parse errors to stdout; we count and log
     * malformed input ourselves, once */
    osip_trace_initialize_func(TRACE_LEVEL0, osip_trace_quiet);
    for (int level = 0; level < END_TRACE_LEVEL; level++)
        osip_trace_disable_level((osip_trace_level_t)level);

    /* every thread inherits this mask; only main() takes these signals */
    sigset_t signals;
    sigemptyset(&signals);
    sigaddset(&signals, SIGTERM);
    sigaddset(&signals, SIGINT);
    sigaddset(&signals, SIGHUP);
    sigaddset(&signals, SIGUSR1);
    pthread_sigmask(SIG_BLOCK, &signals, NULL);
    signal(SIGPIPE, SIG_IGN);

    raise_file_limit(&app.config);
    rcu_register_thread();
    rc = app_start(&app);
    if (rc == 0) {
        warn_if_exposed(&app);
        print_ready(&app);
        run_until_signalled(&app, &signals);
    } else {
        SB_ERROR("start-up failed: %s", sb_strerror(rc));
    }
    app_stop(&app);
    rcu_unregister_thread();
    config_free(&app.config);
    return rc == 0 ? 0 : 1;
}
