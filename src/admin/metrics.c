/* /metrics: the Prometheus text exposition format (version 0.0.4) of the
 * counters every thread keeps. See admin.h. */
#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "switchboard/admin.h"
#include "switchboard/async_file.h"
#include "switchboard/buf.h"
#include "switchboard/config.h"
#include "switchboard/dispatch.h"
#include "switchboard/ng.h"
#include "switchboard/registrar.h"
#include "switchboard/sip_msg.h"
#include "switchboard/stats.h"
#include "switchboard/store.h"
#include "switchboard/stream.h"
#include "switchboard/transport_udp.h"
#include "switchboard/trunk.h"
#include "switchboard/types.h"
#include "switchboard/worker.h"

static void head(struct sb_buf *b, const char *name, const char *type, const char *help)
{
    sb_buf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void gauge(struct sb_buf *b, const char *name, const char *help, double v)
{
    head(b, name, "gauge", help);
    sb_buf_printf(b, "%s %.17g\n", name, v);
}

/* A counter family with one label, from a range of the counter table. */
static void labelled(struct sb_buf *b, const uint64_t *total, const char *name, const char *help,
                     const char *label, int first, int last)
{
    head(b, name, "counter", help);
    for (int i = first; i <= last; i++)
        sb_buf_printf(b, "%s{%s=\"%s\"} %llu\n", name, label, sb_counter_name(i),
                      (unsigned long long)total[i]);
}

/* Messages not handled, by why. */
static void dropped(struct sb_buf *b, const uint64_t *total, uint64_t journal_dropped)
{
    static const struct {
        const char *reason;
        enum sb_counter id;
    } reasons[] = {
        {"malformed", SB_CNT_MALFORMED},       {"oversized", SB_CNT_TRUNCATED},
        {"queue_full", SB_CNT_QUEUE_FULL},     {"no_route", SB_CNT_DROPPED},
        {"rate_limited", SB_CNT_RATE_LIMITED}, {"overload", SB_CNT_OVERLOAD},
        {"send_error", SB_CNT_SEND_ERRORS},    {"peer_not_reading", SB_CNT_STREAM_OVERFLOWS},
    };
    head(b, "switchboard_dropped_total", "counter",
         "Messages not handled, by reason (overload: refused with 503).");
    for (size_t i = 0; i < sizeof(reasons) / sizeof(reasons[0]); i++)
        sb_buf_printf(b, "switchboard_dropped_total{reason=\"%s\"} %llu\n", reasons[i].reason,
                      (unsigned long long)total[reasons[i].id]);
    sb_buf_printf(b, "switchboard_dropped_total{reason=\"journal_queue_full\"} %llu\n",
                  (unsigned long long)journal_dropped);
}

/* Every other counter, under its enum name: datagrams, retransmissions,
 * authentication refusals, connections... */
static void events(struct sb_buf *b, const uint64_t *total)
{
    static const char *const ids[] = {
#define SB_COUNTER_ID(name, text) #name,
        SB_COUNTER_MAP(SB_COUNTER_ID)
#undef SB_COUNTER_ID
    };
    head(b, "switchboard_events_total", "counter",
         "Everything else counted, by event (see README: Operate it).");
    for (int i = 0; i < SB_CNT_M_INVITE; i++) {
        char name[64];
        size_t n = 0;
        for (const char *c = ids[i]; *c && n + 1 < sizeof(name); c++)
            name[n++] = (char)tolower((unsigned char)*c);
        name[n] = '\0';
        sb_buf_printf(b, "switchboard_events_total{event=\"%s\"} %llu\n", name,
                      (unsigned long long)total[i]);
    }
}

static void histogram(struct sb_buf *b, const char *name, const char *help,
                      const struct sb_histogram *h)
{
    head(b, name, "histogram", help);
    uint64_t cumulative = 0;
    for (int i = 0; i < SB_HIST_BUCKETS - 1; i++) {
        cumulative += h->bucket[i];
        sb_buf_printf(b, "%s_bucket{le=\"%g\"} %llu\n", name, sb_hist_bounds[i],
                      (unsigned long long)cumulative);
    }
    cumulative += h->bucket[SB_HIST_BUCKETS - 1];
    sb_buf_printf(b, "%s_bucket{le=\"+Inf\"} %llu\n", name, (unsigned long long)cumulative);
    sb_buf_printf(b, "%s_sum %.9f\n%s_count %llu\n", name, (double)h->sum_ns / 1e9, name,
                  (unsigned long long)cumulative);
}

/* The media relay's engines ([media] rtpengine): which answer, and how
 * long they take to. */
static void media_engines(const struct admin_deps *d, struct sb_buf *b,
                          const struct sb_histogram *latency)
{
    struct ng_engine engines[NG_MAX_ENGINES];
    size_t count = 0;
    char why[160];
    if (!d->config->rtpengine ||
        ng_engines_parse(d->config->rtpengine, engines, NG_MAX_ENGINES, &count, why, sizeof(why)) !=
            0 ||
        count == 0)
        return;
    head(b, "switchboard_media_engine_up", "gauge",
         "An rtpengine of [media] rtpengine answers (1) or is out of new calls (0).");
    for (size_t i = 0; i < count; i++)
        sb_buf_printf(b, "switchboard_media_engine_up{engine=\"%s\"} %d\n", engines[i].name,
                      worker_pool_engine_up(d->workers, (unsigned)i) ? 1 : 0);
    histogram(b, "switchboard_media_ng_seconds",
              "From an ng request to rtpengine to its answer (requests answered).", latency);
}

/* Each trunk: registered or not, and what went through it (trunk.h). */
static void trunks(const struct admin_deps *d, struct sb_buf *b)
{
    if (!d->trunks || !d->trunks->count)
        return;
    static const struct {
        const char *name, *type, *help;
    } rows[] = {
        {"switchboard_trunk_registered", "gauge",
         "The trunk's registration with its carrier holds (1) or not (0; also register = no)."},
        {"switchboard_trunk_calls_out_total", "counter", "Calls sent out through the trunk."},
        {"switchboard_trunk_calls_in_total", "counter", "Calls the trunk brought in."},
        {"switchboard_trunk_registration_failures_total", "counter",
         "Registrations with the carrier that failed."},
        {"switchboard_trunk_reachable", "gauge",
         "The trunk answered its last keep-alive OPTIONS (1) or not (0; also keepalive = 0)."},
    };
    for (size_t r = 0; r < sizeof(rows) / sizeof(rows[0]); r++) {
        head(b, rows[r].name, rows[r].type, rows[r].help);
        for (size_t i = 0; i < d->trunks->count; i++) {
            const struct trunk *t = &d->trunks->trunks[i];
            const struct trunk_status *s = &t->status;
            unsigned long long v = r == 0   ? atomic_load(&s->state) == TRUNK_REGISTERED
                                   : r == 1 ? atomic_load(&s->calls_out)
                                   : r == 2 ? atomic_load(&s->calls_in)
                                   : r == 3 ? atomic_load(&s->failures)
                                            : atomic_load(&s->reachable) == 1;
            sb_buf_printf(b, "%s{trunk=\"%s\"} %llu\n", rows[r].name, t->name, v);
        }
    }
}

static void process(struct sb_buf *b, int64_t started_ms)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    double cpu = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
                 (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
    head(b, "process_cpu_seconds_total", "counter", "User and system CPU time spent in seconds.");
    sb_buf_printf(b, "process_cpu_seconds_total %.6f\n", cpu);
    long pages = 0, resident = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (f) {
        if (fscanf(f, "%ld %ld", &pages, &resident) != 2)
            resident = 0;
        fclose(f);
    }
    gauge(b, "process_resident_memory_bytes", "Resident memory size in bytes.",
          (double)resident * (double)sysconf(_SC_PAGESIZE));
    gauge(b, "process_start_time_seconds", "Start time of the process since unix epoch in seconds.",
          (double)started_ms / 1000.0);
}

struct binding_count {
    uint64_t now_ms;
    size_t contacts;
};

static void count_bindings(void *arg, const char *aor, const struct registrar_binding *bs, size_t n)
{
    (void)aor;
    struct binding_count *c = arg;
    for (size_t i = 0; i < n; i++)
        c->contacts += bs[i].expires_at_ms > c->now_ms;
}

static void sip_state(const struct admin_deps *d, struct sb_buf *b)
{
    struct binding_count bc = {.now_ms = sb_now_ms()};
    registrar_foreach(d->registrar, count_bindings, &bc);
    gauge(b, "switchboard_registered_users", "Users (addresses-of-record) with a binding.",
          (double)registrar_record_count(d->registrar));
    gauge(b, "switchboard_registered_contacts", "Contacts bound, all users together.",
          (double)bc.contacts);
    gauge(b, "switchboard_calls_active", "Calls being set up or talking now.",
          (double)worker_pool_open_calls(d->workers));
    gauge(b, "switchboard_transactions_active", "SIP transactions alive (server and client).",
          (double)worker_pool_transactions(d->workers));
    gauge(b, "switchboard_connections_open", "TCP and TLS connections open.",
          (double)stream_connection_count(d->streams));
    head(b, "switchboard_queue_depth", "gauge", "Messages waiting for each worker.");
    for (unsigned w = 0; d->dispatch && w < worker_pool_size(d->workers); w++)
        sb_buf_printf(b, "switchboard_queue_depth{worker=\"%u\"} %zu\n", w,
                      dispatch_depth(d->dispatch, w));
}

static void journal_and_store(const struct admin_deps *d, struct sb_buf *b, uint64_t *jdropped)
{
    struct async_file_counters j = {0};
    if (d->journal)
        async_file_counters(d->journal, &j);
    *jdropped = j.dropped;
    gauge(b, "switchboard_journal_lag_lines", "Journal lines accepted and not yet written.",
          (double)j.queued);
    head(b, "switchboard_journal_lines_total", "counter", "Journal lines written.");
    sb_buf_printf(b, "switchboard_journal_lines_total %llu\n", (unsigned long long)j.written);
    if (!d->store)
        return;
    struct store_counters s;
    store_counters(d->store, &s);
    gauge(b, "switchboard_store_healthy", "1 when the registration store's last write succeeded.",
          s.healthy ? 1 : 0);
    head(b, "switchboard_store_failures_total", "counter",
         "Batches the registration store refused.");
    sb_buf_printf(b, "switchboard_store_failures_total %llu\n", (unsigned long long)s.failures);
    if (!s.shared)
        return;
    head(b, "switchboard_store_merged_total", "counter",
         "Addresses-of-record read back from the shared store and merged into the cache.");
    sb_buf_printf(b, "switchboard_store_merged_total %llu\n", (unsigned long long)s.remote);
    head(b, "switchboard_store_reloads_total", "counter",
         "Full reloads of the cache from the shared store (after reconnecting).");
    sb_buf_printf(b, "switchboard_store_reloads_total %llu\n", (unsigned long long)s.reloads);
}

void metrics_render(const struct admin_deps *d, struct sb_buf *b)
{
    uint64_t total[SB_CNT_COUNT] = {0};
    transport_counters(d->transport, total);
    stream_counters(d->streams, total);
    worker_pool_counters(d->workers, total);
    struct sb_histogram invite = {0}, setup = {0}, media_ng = {0};
    worker_pool_histograms(d->workers, &invite, &setup, &media_ng);
    sip_state(d, b);
    labelled(b, total, "switchboard_requests_total", "SIP requests received, by method.", "method",
             SB_CNT_M_INVITE, SB_CNT_M_OTHER);
    labelled(b, total, "switchboard_responses_total", "SIP responses received, by class.", "class",
             SB_CNT_C_1XX, SB_CNT_C_6XX);
    labelled(b, total, "switchboard_calls_total", "Call attempts decided, by outcome.", "outcome",
             SB_CNT_O_ANSWERED, SB_CNT_COUNT - 1);
    uint64_t jdropped;
    journal_and_store(d, b, &jdropped);
    dropped(b, total, jdropped);
    events(b, total);
    histogram(b, "switchboard_invite_processing_seconds",
              "From an INVITE read off the socket to the first message it caused being sent.",
              &invite);
    histogram(b, "switchboard_call_setup_seconds", "From an INVITE to its 2xx answer.", &setup);
    media_engines(d, b, &media_ng);
    trunks(d, b);
    process(b, d->started_ms);
}
