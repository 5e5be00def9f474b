/* Settings from conf/switchboard.conf (INI, parsed by libinih) and the
 * command line, which overrides the file: the top floor, beside main.c,
 * since checking values calls the parsers of the floors below. */
#include "switchboard/settings.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <ini.h>

#include "switchboard/error.h"
#include "switchboard/auth.h"
#include "switchboard/cidr.h"
#include "switchboard/config.h"
#include "switchboard/digest.h"
#include "switchboard/log.h"
#include "switchboard/media.h"
#include "switchboard/nat.h"
#include "switchboard/ng.h"
#include "switchboard/store_redis_codec.h"
#include "switchboard/types.h"

/* Replaces a string setting. */
static int set_string(char **field, const char *value)
{
    char *copy = strdup(value);
    if (!copy)
        return SB_ENOMEM;
    free(*field);
    *field = copy;
    return 0;
}

/* Adds each comma- or space-separated item of @value. */
static int string_list_add(char **list, size_t *count, size_t max, const char *value)
{
    char *copy = strdup(value);
    if (!copy)
        return SB_ENOMEM;
    int rc = 0;
    char *save = NULL;
    for (char *tok = strtok_r(copy, ", \t", &save); tok; tok = strtok_r(NULL, ", \t", &save)) {
        if (*count >= max) {
            rc = SB_ELIMIT;
            break;
        }
        list[*count] = strdup(tok);
        if (!list[*count]) {
            rc = SB_ENOMEM;
            break;
        }
        (*count)++;
    }
    free(copy);
    return rc;
}

static int parse_bool(const char *s, bool *out)
{
    if (!strcasecmp(s, "yes") || !strcasecmp(s, "true") || !strcmp(s, "1") || !strcasecmp(s, "on"))
        *out = true;
    else if (!strcasecmp(s, "no") || !strcasecmp(s, "false") || !strcmp(s, "0") ||
             !strcasecmp(s, "off"))
        *out = false;
    else
        return SB_EINVAL;
    return 0;
}

/* --- the settings, one row each ---------------------------------------------
 *
 * A row names a setting's [section] key in the file, its --flag (if it has
 * one), how its value is read (a kind: a parse function) and where it goes
 * in struct sb_config, with the bounds a number must keep. A new setting is
 * one row (and its default in config.c); its value is checked by its kind,
 * and what ties settings together by config_check(). */

struct setting;
/* Reads @value into @cfg's field for @s. @first: the first time this
 * source (the file, the flags) sets it, so a list replaces its default
 * rather than adding to it. Returns 0, SB_EINVAL or another SB_E* code. */
typedef int (*setting_parse_fn)(const struct setting *s, struct sb_config *cfg, const char *value,
                                bool first);

struct setting {
    const char *section, *key;
    const char *flag; /* the long option, without "--"; NULL: none */
    char short_flag;  /* or 0 */
    setting_parse_fn parse;
    size_t offset;       /* the field in struct sb_config */
    size_t count_offset; /* a list's count */
    unsigned min, max;   /* a number's bounds; a list's room */
    unsigned flag_min;   /* a number's lower bound as a flag, when not min */
};

static void *field(const struct setting *s, struct sb_config *cfg)
{
    return (char *)cfg + s->offset;
}

static int parse_unsigned(const struct setting *s, struct sb_config *cfg, const char *value,
                          bool first)
{
    (void)first;
    return config_parse_unsigned(value, s->min, s->max, field(s, cfg));
}

static int parse_string(const struct setting *s, struct sb_config *cfg, const char *value,
                        bool first)
{
    (void)first;
    return set_string(field(s, cfg), value);
}

static int parse_bool_setting(const struct setting *s, struct sb_config *cfg, const char *value,
                              bool first)
{
    (void)first;
    return parse_bool(value, field(s, cfg));
}

static int parse_list(const struct setting *s, struct sb_config *cfg, const char *value, bool first)
{
    size_t *count = (size_t *)((char *)cfg + s->count_offset);
    if (first)
        config_list_clear(field(s, cfg), count);
    return string_list_add(field(s, cfg), count, s->max, value);
}

static int parse_log_level(const struct setting *s, struct sb_config *cfg, const char *value,
                           bool first)
{
    (void)first;
    int level = sb_log_level_parse(value);
    if (level < 0)
        return SB_EINVAL;
    *(int *)field(s, cfg) = level;
    return 0;
}

static int parse_nat(const struct setting *s, struct sb_config *cfg, const char *value, bool first)
{
    (void)first;
    enum nat_mode mode;
    int rc = nat_mode_parse(value, &mode);
    if (rc == 0)
        *(int *)field(s, cfg) = (int)mode;
    return rc;
}

static int parse_auth(const struct setting *s, struct sb_config *cfg, const char *value, bool first)
{
    (void)first;
    enum auth_mode mode;
    int rc = auth_mode_parse(value, &mode);
    if (rc == 0)
        *(int *)field(s, cfg) = (int)mode;
    return rc;
}

static int parse_relay(const struct setting *s, struct sb_config *cfg, const char *value,
                       bool first)
{
    (void)first;
    enum media_relay mode;
    int rc = media_relay_parse(value, &mode);
    if (rc == 0)
        *(int *)field(s, cfg) = (int)mode;
    return rc;
}

static int parse_on_failure(const struct setting *s, struct sb_config *cfg, const char *value,
                            bool first)
{
    (void)first;
    enum media_on_failure mode;
    int rc = media_on_failure_parse(value, &mode);
    if (rc == 0)
        *(int *)field(s, cfg) = (int)mode;
    return rc;
}

#define AT(f) offsetof(struct sb_config, f)
/* clang-format off */
#define NUM(sec, key, flag, f, lo, hi) {sec, key, flag, 0, parse_unsigned, AT(f), 0, lo, hi, 0}
/* a thread count: 0 (the CPU count) in the file, at least 1 as a flag */
#define THREADS(sec, key, flag, f, hi) {sec, key, flag, 0, parse_unsigned, AT(f), 0, 0, hi, 1}
#define STR(sec, key, flag, f) {sec, key, flag, 0, parse_string, AT(f), 0, 0, 0, 0}
#define BOOL(sec, key, f) {sec, key, NULL, 0, parse_bool_setting, AT(f), 0, 0, 0, 0}
#define LIST(sec, key, flag, sh, f, n, room) {sec, key, flag, sh, parse_list, AT(f), AT(n), 0, room, 0}
#define ENUM(sec, key, flag, fn, f) {sec, key, flag, 0, fn, AT(f), 0, 0, 0, 0}
/* clang-format on */

static const struct setting settings[] = {
    LIST("server", "listen", "listen", 'l', listen, listen_count, SB_MAX_LISTEN),
    THREADS("server", "listeners", "listeners", listeners, 256),
    THREADS("server", "workers", "workers", workers, 256),
    LIST("server", "domain", "domain", 0, domains, domain_count, SB_MAX_DOMAINS),
    ENUM("server", "log_level", "log-level", parse_log_level, log_level),
    NUM("server", "rate_limit", NULL, rate_limit, 0, 1000000),
    STR("server", "trace", "trace", trace_path),
    STR("server", "server_header", NULL, server_header),
    NUM("registrar", "default_expires", NULL, default_expires, 1, 0x7fffffff),
    NUM("registrar", "min_expires", NULL, min_expires, 0, 0x7fffffff),
    NUM("registrar", "max_expires", NULL, max_expires, 1, 0x7fffffff),
    NUM("registrar", "max_bindings", NULL, max_bindings, 1, 1024),
    NUM("registrar", "max_records", NULL, max_records, 1, 100000000),
    NUM("registrar", "max_aors_per_source", NULL, max_aors_per_source, 0, 100000000),
    NUM("registrar", "max_records_per_domain", NULL, max_records_per_domain, 0, 100000000),
    NUM("registrar", "max_binding_bytes", NULL, max_binding_bytes, 256, 65536),
    NUM("registrar", "register_rate", NULL, register_rate, 0, 1000000),
    NUM("registrar", "nat_keepalive", NULL, nat_keepalive, 0, 3600),
    NUM("registrar", "store_queue_limit", NULL, store_queue_limit, 16, 10000000),
    STR("registrar", "store", "store", store),
    STR("registrar", "node", "node", node),
    ENUM("registrar", "nat", "nat", parse_nat, nat_mode),
    BOOL("registrar", "use_domain", use_domain),
    NUM("proxy", "t1_ms", NULL, t1_ms, 10, 60000),
    NUM("proxy", "t2_ms", NULL, t2_ms, 10, 600000),
    NUM("proxy", "t4_ms", NULL, t4_ms, 10, 600000),
    NUM("proxy", "timer_c_ms", NULL, timer_c_ms, 100, 3600000),
    NUM("proxy", "max_call_length", NULL, max_call_length, 60, 31536000),
    NUM("proxy", "max_transactions", NULL, max_transactions, 16, 10000000),
    NUM("proxy", "queue_limit", NULL, queue_limit, 16, 10000000),
    STR("proxy", "reasons", "reasons", reasons_path),
    STR("proxy", "forbidden_targets", NULL, forbidden_targets),
    BOOL("proxy", "relay", relay),
    STR("media", "rtpengine", "rtpengine", rtpengine),
    ENUM("media", "relay", "media-relay", parse_relay, media_relay),
    ENUM("media", "on_failure", NULL, parse_on_failure, media_on_failure),
    NUM("media", "timeout_ms", NULL, media_timeout_ms, 20, 10000),
    STR("journal", "file", "journal", journal_path),
    STR("journal", "fsync", NULL, journal_fsync),
    NUM("journal", "queue_limit", NULL, journal_queue_limit, 16, 10000000),
    ENUM("auth", "require", "auth", parse_auth, auth_mode),
    STR("auth", "users", "auth-users", auth_users),
    STR("auth", "realm", NULL, auth_realm),
    STR("auth", "secret_file", NULL, auth_secret_file),
    STR("auth", "algorithms", NULL, auth_algorithms),
    NUM("auth", "nonce_ttl", NULL, auth_nonce_ttl, 1, 86400),
    NUM("auth", "max_failures", NULL, auth_max_failures, 1, 255),
    NUM("auth", "block_seconds", NULL, auth_block_seconds, 1, 86400),
    NUM("auth", "max_user_failures", NULL, auth_max_user_failures, 1, 255),
    NUM("auth", "user_block_seconds", NULL, auth_user_block_seconds, 1, 86400),
    NUM("tcp", "threads", NULL, tcp_threads, 0, 64),
    NUM("tcp", "max_connections", NULL, tcp_max_connections, 1, 1000000),
    NUM("tcp", "max_per_ip", NULL, tcp_max_per_ip, 1, 1000000),
    NUM("tcp", "idle_timeout", NULL, tcp_idle_timeout, 1, 86400 * 7),
    NUM("tcp", "header_timeout", NULL, tcp_header_timeout, 1, 3600),
    NUM("tcp", "connect_timeout_ms", NULL, tcp_connect_timeout_ms, 100, 120000),
    NUM("tcp", "write_queue_limit", NULL, tcp_write_queue_limit, 65536, 1u << 30),
    NUM("tcp", "queue_per_ip_limit", NULL, tcp_queue_per_ip_limit, 65536, 1u << 30),
    NUM("tcp", "queue_total_limit", NULL, tcp_queue_total_limit, 65536, 1u << 31),
    NUM("tcp", "path_mtu", NULL, path_mtu, 576, 65535),
    BOOL("tcp", "udp_to_tcp", udp_to_tcp),
    STR("tls", "certificate", NULL, tls_certificate),
    STR("tls", "key", NULL, tls_key),
    STR("tls", "ca", NULL, tls_ca),
    BOOL("tls", "verify_client", tls_verify_client),
    STR("ws", "allowed_origins", NULL, ws_allowed_origins),
    STR("ws", "web_dir", NULL, ws_web_dir),
    STR("admin", "listen", "admin", admin_listen),
    STR("admin", "token_file", NULL, admin_token_file),
    STR("admin", "web_dir", NULL, admin_web_dir),
};
enum { SETTING_COUNT = sizeof(settings) / sizeof(settings[0]) };

/* The row of [@section] @key, or NULL: an unknown key is a typo to name as
 * such, not a value to blame. */
static const struct setting *setting_find(const char *section, const char *key)
{
    for (size_t i = 0; i < SETTING_COUNT; i++)
        if (!strcmp(section, settings[i].section) && !strcmp(key, settings[i].key))
            return &settings[i];
    return NULL;
}

/* --- the file ----------------------------------------------------------------- */

struct file_context {
    struct sb_config *cfg;
    bool seen[SETTING_COUNT];
    char error[512]; /* the first bad setting */
};

/* The office's sections: dialplan.c and trunk.c read them, with their
 * line numbers. */
static bool office_section(const char *section)
{
    return !strcmp(section, "extensions") || !strcmp(section, "groups") ||
           !strcmp(section, "forward") || !strcmp(section, "users") ||
           !strcmp(section, "features") || !strcmp(section, "outbound") ||
           !strcmp(section, "inbound") || !strncmp(section, "trunk", 5);
}

static int file_entry(void *user, const char *section, const char *name, const char *value)
{
    struct file_context *ctx = user;
    if (office_section(section))
        return 1;
    const struct setting *s = setting_find(section, name);
    int rc = SB_EINVAL;
    if (s) {
        size_t i = (size_t)(s - settings);
        rc = s->parse(s, ctx->cfg, value, !ctx->seen[i]);
        ctx->seen[i] = true;
    }
    if (rc == 0)
        return 1;
    if (ctx->error[0])
        return 0; /* inih returns the first such line */
    if (!s)
        snprintf(ctx->error, sizeof(ctx->error), "unknown setting '%s' in [%s]", name, section);
    else
        snprintf(ctx->error, sizeof(ctx->error), "bad value '%s' for [%s] %s", value, section,
                 name);
    return 0;
}

/* [media]: the engines parse, and relaying needs one. */
static int media_check(const struct sb_config *cfg)
{
    struct ng_engine engines[NG_MAX_ENGINES];
    size_t count = 0;
    char why[160];
    if (cfg->rtpengine && *cfg->rtpengine &&
        ng_engines_parse(cfg->rtpengine, engines, NG_MAX_ENGINES, &count, why, sizeof(why)) != 0) {
        fprintf(stderr, "switchboard: [media] rtpengine: %s\n", why);
        return SB_EINVAL;
    }
    if (cfg->media_relay != MEDIA_RELAY_NEVER && count == 0) {
        fprintf(stderr, "switchboard: [media] relay needs [media] rtpengine (udp:HOST:PORT)\n");
        return SB_EINVAL;
    }
    return 0;
}

static int config_check(const struct sb_config *cfg)
{
    char host[256];
    unsigned port;
    int transport;
    bool tls = false;
    for (size_t i = 0; i < cfg->listen_count; i++) {
        if (config_parse_listen(cfg->listen[i], &transport, host, sizeof(host), &port) != 0) {
            fprintf(stderr,
                    "switchboard: bad listen address '%s' (want udp:, tcp:, tls:, ws: or "
                    "wss:HOST:PORT)\n",
                    cfg->listen[i]);
            return SB_EINVAL;
        }
        tls |= sb_transport_is_tls(transport);
    }
    if (tls && (!cfg->tls_certificate || !cfg->tls_key)) {
        fprintf(stderr,
                "switchboard: a tls: or wss: listen address needs [tls] certificate and key\n");
        return SB_EINVAL;
    }
    if (cfg->tls_verify_client && !cfg->tls_ca) {
        fprintf(stderr, "switchboard: [tls] verify_client needs [tls] ca\n");
        return SB_EINVAL;
    }
    struct store_redis_url url;
    if (cfg->store && strncmp(cfg->store, "redis://", 8) == 0 &&
        store_redis_parse_url(cfg->store, &url) != 0) {
        fprintf(stderr,
                "switchboard: bad store '%s' (want redis://[[USER]:PASSWORD@]HOST[:PORT][/DB])\n",
                cfg->store);
        return SB_EINVAL;
    }
    struct cidr_list forbidden;
    char why[160];
    if (cidr_list_parse(cfg->forbidden_targets, &forbidden, why, sizeof(why)) != 0) {
        fprintf(stderr, "switchboard: [proxy] forbidden_targets: %s\n", why);
        return SB_EINVAL;
    }
    cidr_list_free(&forbidden);
    if (media_check(cfg) != 0)
        return SB_EINVAL;
    if (cfg->min_expires > cfg->max_expires) {
        fprintf(stderr, "switchboard: min_expires (%u) is above max_expires (%u)\n",
                cfg->min_expires, cfg->max_expires);
        return SB_EINVAL;
    }
    if (strcmp(cfg->journal_fsync, "none") && strcmp(cfg->journal_fsync, "batch") &&
        strcmp(cfg->journal_fsync, "record")) {
        fprintf(stderr, "switchboard: journal fsync must be none, batch or record\n");
        return SB_EINVAL;
    }
    enum digest_alg offer[DIGEST_ALG_COUNT];
    if (digest_alg_list_parse(cfg->auth_algorithms, offer) <= 0) {
        fprintf(stderr, "switchboard: [auth] algorithms must list MD5 and/or SHA-256, not '%s'\n",
                cfg->auth_algorithms);
        return SB_EINVAL;
    }
    if (cfg->auth_mode != AUTH_MODE_NONE && !cfg->auth_users) {
        fprintf(stderr,
                "switchboard: [auth] require = %s needs a users file ([auth] users or "
                "--auth-users)\n",
                cfg->auth_mode == AUTH_MODE_ALL ? "all" : "register");
        return SB_EINVAL;
    }
    if (cfg->admin_listen && strcmp(cfg->admin_listen, "none") != 0 &&
        config_parse_hostport(cfg->admin_listen, host, sizeof(host), &port) != 0) {
        fprintf(stderr, "switchboard: bad admin address '%s' (want HOST:PORT or none)\n",
                cfg->admin_listen);
        return SB_EINVAL;
    }
    if (cfg->t1_ms > cfg->t2_ms) {
        fprintf(stderr, "switchboard: t1_ms must not exceed t2_ms\n");
        return SB_EINVAL;
    }
    return 0;
}

/* What is wrong with @line if inih could not parse it, else NULL (then
 * the handler's message stands). */
static const char *syntax_error(const char *line)
{
    while (*line == ' ' || *line == '\t')
        line++;
    if (*line == '[')
        return strchr(line, ']') ? NULL : "syntax error: a section header is missing its ']'";
    if (*line && *line != ';' && *line != '#' && !strpbrk(line, "=:"))
        return "syntax error: expected 'key = value', '[section]' or a comment";
    return NULL;
}

/* Line @lineno (from 1) of @text into @buf. */
static void text_line(const char *text, int lineno, char *buf, size_t size)
{
    for (int i = 1; i < lineno && text; i++) {
        text = strchr(text, '\n');
        text = text ? text + 1 : NULL;
    }
    size_t n = 0;
    while (text && text[n] && text[n] != '\n' && n + 1 < size)
        n++;
    if (text)
        memcpy(buf, text, n);
    buf[n] = '\0';
}

/* Line @lineno of file @path into @buf ("" when unreadable). */
static void file_line(const char *path, int lineno, char *buf, size_t size)
{
    buf[0] = '\0';
    FILE *f = fopen(path, "r");
    for (int i = 1; f && i <= lineno; i++)
        if (!fgets(buf, (int)size, f))
            buf[0] = '\0';
    if (f)
        fclose(f);
    buf[strcspn(buf, "\r\n")] = '\0';
}

/* Reports what inih returned for @name (0: fine); @line is the text of the
 * line it stopped at. */
static int load_result(int rc, const struct file_context *ctx, const char *name, const char *line)
{
    if (rc < 0) {
        fprintf(stderr, "switchboard: cannot read config file %s\n", name);
        return SB_EINVAL;
    }
    if (rc > 0) {
        const char *syntax = syntax_error(line);
        fprintf(stderr, "switchboard: %s:%d: %s\n", name, rc,
                syntax          ? syntax
                : ctx->error[0] ? ctx->error
                                : "syntax error");
        return SB_EINVAL;
    }
    return 0;
}

int settings_load_file(struct sb_config *cfg, const char *path)
{
    int set = set_string(&cfg->config_path, path);
    if (set != 0)
        return set;
    struct file_context ctx = {.cfg = cfg};
    char line[512] = "";
    int rc = ini_parse(path, file_entry, &ctx);
    if (rc > 0)
        file_line(path, rc, line, sizeof(line));
    return load_result(rc, &ctx, path, line);
}

int settings_load_text(struct sb_config *cfg, const char *text, const char *name)
{
    struct file_context ctx = {.cfg = cfg};
    char line[512] = "";
    int rc = ini_parse_string(text, file_entry, &ctx);
    if (rc > 0)
        text_line(text, rc, line, sizeof(line));
    rc = load_result(rc, &ctx, name, line);
    return rc == 0 ? config_check(cfg) : rc;
}

static void usage(FILE *out)
{
    fprintf(out,
            "usage: switchboard [-c FILE] [-l PROTO:HOST:PORT]... [--listeners N] [--workers N]\n"
            "                   [--domain NAME]... [--log-level LEVEL] [--journal FILE]\n"
            "                   [--reasons FILE] [--trace FILE] [--store FILE|URL] [--node NAME]\n"
            "                   [--nat MODE] [--auth MODE] [--auth-users FILE]\n"
            "                   [--admin HOST:PORT|none] [--version] [--help]\n"
            "\n"
            "  -c, --config FILE     INI configuration (see conf/switchboard.conf)\n"
            "  -l, --listen ADDR     listen on udp:, tcp: or tls:HOST:PORT (repeatable; default\n"
            "                        udp:0.0.0.0:5060; tls: needs [tls] certificate and key)\n"
            "      --listeners N     listener threads (default: CPU count)\n"
            "      --workers N       worker threads (default: CPU count)\n"
            "      --domain NAME     a SIP domain served here (repeatable)\n"
            "      --log-level L     error, warn, info or debug (default info)\n"
            "      --journal FILE    write the call journal (JSON lines) to FILE\n"
            "      --reasons FILE    reason phrase table, e.g. conf/reasons/sk.conf\n"
            "      --trace FILE      record every SIP datagram to FILE (pcap)\n"
            "      --store FILE      keep registrations in FILE (SQLite), or share them\n"
            "                        through redis://HOST[:PORT][/DB]; none: memory only\n"
            "      --node NAME       this switchboard's name in a shared store (default:\n"
            "                        its first listen address)\n"
            "      --nat MODE        auto, always or never: reach UAs behind NAT at their source\n"
            "      --auth MODE       none, register or all: who must authenticate (digest)\n"
            "      --auth-users FILE users and their HA1s (htdigest format)\n"
            "      --admin ADDR      admin HTTP endpoint HOST:PORT, or none (default\n"
            "                        127.0.0.1:8060; off loopback it needs [admin] token_file)\n"
            "      --version         print the version and exit\n"
            "      --help            print this help and exit\n");
}

enum { OPT_CONFIG = 'c', OPT_VERSION = 256, OPT_HELP, OPT_SETTING = 512 };

/* getopt's table, from the settings' rows: a flag's value is
 * OPT_SETTING + its row (or its short letter). */
static void long_options(struct option *out)
{
    size_t n = 0;
    out[n++] = (struct option){"config", required_argument, NULL, OPT_CONFIG};
    for (size_t i = 0; i < SETTING_COUNT; i++)
        if (settings[i].flag)
            out[n++] = (struct option){settings[i].flag, required_argument, NULL,
                                       settings[i].short_flag ? settings[i].short_flag
                                                              : OPT_SETTING + (int)i};
    out[n++] = (struct option){"version", no_argument, NULL, OPT_VERSION};
    out[n++] = (struct option){"help", no_argument, NULL, OPT_HELP};
    out[n] = (struct option){NULL, 0, NULL, 0};
}

/* The row a getopt value names, or NULL. */
static const struct setting *flag_setting(int opt)
{
    if (opt >= OPT_SETTING && opt < OPT_SETTING + SETTING_COUNT)
        return &settings[opt - OPT_SETTING];
    for (size_t i = 0; opt > 0 && opt < 256 && i < SETTING_COUNT; i++)
        if (settings[i].short_flag == opt)
            return &settings[i];
    return NULL;
}

/* Applies flag @opt's @value; a bad one is named with its flag. */
static int apply_flag(const struct setting *s, struct sb_config *cfg, const char *value, bool *seen)
{
    size_t i = (size_t)(s - settings);
    struct setting row = *s;
    if (s->flag_min)
        row.min = s->flag_min;
    int rc = row.parse(&row, cfg, value, !seen[i]);
    seen[i] = true;
    if (rc == SB_ENOMEM || rc == SB_ELIMIT)
        fprintf(stderr, "switchboard: %s\n", sb_strerror(rc));
    else if (rc != 0)
        fprintf(stderr, "switchboard: bad value '%s' for --%s\n", value, s->flag);
    return rc;
}

int settings_from_args(struct sb_config *cfg, int argc, char **argv)
{
    struct option options[SETTING_COUNT + 4];
    long_options(options);
    int opt;
    /* pass 1: the config file, so every other flag can override it */
    opterr = 0;
    optind = 1;
    while ((opt = getopt_long(argc, argv, "c:l:", options, NULL)) != -1) {
        if (opt == OPT_CONFIG && settings_load_file(cfg, optarg) != 0)
            return SB_EINVAL;
    }
    opterr = 1;
    optind = 1;
    bool seen[SETTING_COUNT] = {false};
    while ((opt = getopt_long(argc, argv, "c:l:", options, NULL)) != -1) {
        const struct setting *s = flag_setting(opt);
        if (opt == OPT_CONFIG)
            continue;
        if (opt == OPT_VERSION) {
            printf("switchboard " SB_VERSION "\n");
            return 1;
        }
        if (opt == OPT_HELP) {
            usage(stdout);
            return 1;
        }
        if (!s) {
            usage(stderr);
            return SB_EINVAL;
        }
        int rc = apply_flag(s, cfg, optarg, seen);
        if (rc != 0)
            return rc;
    }
    if (optind < argc) {
        fprintf(stderr, "switchboard: unexpected argument '%s'\n", argv[optind]);
        usage(stderr);
        return SB_EINVAL;
    }
    if (cfg->listen_count == 0 &&
        string_list_add(cfg->listen, &cfg->listen_count, SB_MAX_LISTEN, "udp:0.0.0.0:5060") != 0)
        return SB_ENOMEM;
    return config_check(cfg);
}

void settings_finalize(struct sb_config *cfg)
{
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    if (cpus < 1)
        cpus = 1;
    if (cfg->listeners == 0)
        cfg->listeners = (unsigned)cpus;
    if (cfg->workers == 0)
        cfg->workers = (unsigned)cpus;
}

/* config_defaults() leaves both at 0 */
_Static_assert(NAT_AUTO == 0 && AUTH_MODE_NONE == 0, "the zero settings");
