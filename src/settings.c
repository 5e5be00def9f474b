/* Settings from conf/switchboard.conf (INI, parsed by libinih) and the
 * command line, which overrides the file: the top floor, beside main.c,
 * since checking values calls the parsers of the floors below. */
#include "switchboard/settings.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
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
#include "switchboard/nat.h"
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

struct option_spec {
    const char *section;
    const char *name;
    size_t offset;
    unsigned min, max;
};

#define UOPT(sec, key, field, lo, hi)                                                              \
    {                                                                                              \
        sec, key, offsetof(struct sb_config, field), lo, hi                                        \
    }
static const struct option_spec unsigned_options[] = {
    UOPT("server", "listeners", listeners, 0, 256),
    UOPT("server", "workers", workers, 0, 256),
    UOPT("server", "rate_limit", rate_limit, 0, 1000000),
    UOPT("registrar", "default_expires", default_expires, 1, 0x7fffffff),
    UOPT("registrar", "min_expires", min_expires, 0, 0x7fffffff),
    UOPT("registrar", "max_expires", max_expires, 1, 0x7fffffff),
    UOPT("registrar", "max_bindings", max_bindings, 1, 1024),
    UOPT("registrar", "max_records", max_records, 1, 100000000),
    UOPT("registrar", "max_aors_per_source", max_aors_per_source, 0, 100000000),
    UOPT("registrar", "max_records_per_domain", max_records_per_domain, 0, 100000000),
    UOPT("registrar", "max_binding_bytes", max_binding_bytes, 256, 65536),
    UOPT("registrar", "register_rate", register_rate, 0, 1000000),
    UOPT("registrar", "store_queue_limit", store_queue_limit, 16, 10000000),
    UOPT("proxy", "t1_ms", t1_ms, 10, 60000),
    UOPT("proxy", "t2_ms", t2_ms, 10, 600000),
    UOPT("proxy", "t4_ms", t4_ms, 10, 600000),
    UOPT("proxy", "timer_c_ms", timer_c_ms, 100, 3600000),
    UOPT("proxy", "max_call_length", max_call_length, 60, 31536000),
    UOPT("proxy", "max_transactions", max_transactions, 16, 10000000),
    UOPT("proxy", "queue_limit", queue_limit, 16, 10000000),
    UOPT("journal", "queue_limit", journal_queue_limit, 16, 10000000),
    UOPT("auth", "nonce_ttl", auth_nonce_ttl, 1, 86400),
    UOPT("auth", "max_failures", auth_max_failures, 1, 255),
    UOPT("auth", "block_seconds", auth_block_seconds, 1, 86400),
    UOPT("auth", "max_user_failures", auth_max_user_failures, 1, 255),
    UOPT("auth", "user_block_seconds", auth_user_block_seconds, 1, 86400),
    UOPT("tcp", "threads", tcp_threads, 0, 64),
    UOPT("tcp", "max_connections", tcp_max_connections, 1, 1000000),
    UOPT("tcp", "max_per_ip", tcp_max_per_ip, 1, 1000000),
    UOPT("tcp", "idle_timeout", tcp_idle_timeout, 1, 86400 * 7),
    UOPT("tcp", "header_timeout", tcp_header_timeout, 1, 3600),
    UOPT("tcp", "connect_timeout_ms", tcp_connect_timeout_ms, 100, 120000),
    UOPT("tcp", "write_queue_limit", tcp_write_queue_limit, 65536, 1u << 30),
    UOPT("tcp", "queue_per_ip_limit", tcp_queue_per_ip_limit, 65536, 1u << 30),
    UOPT("tcp", "queue_total_limit", tcp_queue_total_limit, 65536, 1u << 31),
    UOPT("tcp", "path_mtu", path_mtu, 576, 65535),
};

struct string_option {
    const char *section;
    const char *name;
    size_t offset;
};

#define SOPT(sec, key, field)                                                                      \
    {                                                                                              \
        sec, key, offsetof(struct sb_config, field)                                                \
    }
static const struct string_option string_options[] = {
    SOPT("proxy", "reasons", reasons_path),
    SOPT("proxy", "forbidden_targets", forbidden_targets),
    SOPT("journal", "file", journal_path),
    SOPT("journal", "fsync", journal_fsync),
    SOPT("server", "trace", trace_path),
    SOPT("server", "server_header", server_header),
    SOPT("registrar", "store", store),
    SOPT("registrar", "node", node),
    SOPT("auth", "realm", auth_realm),
    SOPT("auth", "users", auth_users),
    SOPT("auth", "secret_file", auth_secret_file),
    SOPT("auth", "algorithms", auth_algorithms),
    SOPT("tls", "certificate", tls_certificate),
    SOPT("tls", "key", tls_key),
    SOPT("tls", "ca", tls_ca),
    SOPT("admin", "listen", admin_listen),
    SOPT("admin", "token_file", admin_token_file),
    SOPT("admin", "web_dir", admin_web_dir),
};

/* Booleans and settings parsed by their own functions. */
static const char *const special_options[][2] = {
    {"server", "listen"},  {"server", "domain"},        {"server", "log_level"},
    {"proxy", "relay"},    {"auth", "require"},         {"tls", "verify_client"},
    {"tcp", "udp_to_tcp"}, {"registrar", "use_domain"}, {"registrar", "nat"},
};

/* Whether [@section] @name is a setting at all: an unknown key is a typo
 * to name as such, not a value to blame. */
static bool option_known(const char *section, const char *name)
{
    for (size_t i = 0; i < sizeof(special_options) / sizeof(special_options[0]); i++)
        if (!strcmp(section, special_options[i][0]) && !strcmp(name, special_options[i][1]))
            return true;
    for (size_t i = 0; i < sizeof(string_options) / sizeof(string_options[0]); i++)
        if (!strcmp(section, string_options[i].section) && !strcmp(name, string_options[i].name))
            return true;
    for (size_t i = 0; i < sizeof(unsigned_options) / sizeof(unsigned_options[0]); i++)
        if (!strcmp(section, unsigned_options[i].section) &&
            !strcmp(name, unsigned_options[i].name))
            return true;
    return false;
}

struct file_context {
    struct sb_config *cfg;
    bool listen_seen, domains_seen;
    char error[512]; /* the first bad setting */
};

/* The office's sections: dialplan.c reads them, with their line numbers. */
static bool office_section(const char *section)
{
    return !strcmp(section, "extensions") || !strcmp(section, "groups") ||
           !strcmp(section, "forward") || !strcmp(section, "users");
}

static int file_entry(void *user, const char *section, const char *name, const char *value)
{
    struct file_context *ctx = user;
    struct sb_config *cfg = ctx->cfg;
    int rc = SB_EINVAL;
    if (office_section(section))
        return 1;
    if (!strcmp(section, "server") && !strcmp(name, "listen")) {
        if (!ctx->listen_seen)
            config_list_clear(cfg->listen, &cfg->listen_count);
        ctx->listen_seen = true;
        rc = string_list_add(cfg->listen, &cfg->listen_count, SB_MAX_LISTEN, value);
    } else if (!strcmp(section, "server") && !strcmp(name, "domain")) {
        if (!ctx->domains_seen)
            config_list_clear(cfg->domains, &cfg->domain_count);
        ctx->domains_seen = true;
        rc = string_list_add(cfg->domains, &cfg->domain_count, SB_MAX_DOMAINS, value);
    } else if (!strcmp(section, "server") && !strcmp(name, "log_level")) {
        int level = sb_log_level_parse(value);
        if (level >= 0) {
            cfg->log_level = level;
            rc = 0;
        }
    } else if (!strcmp(section, "proxy") && !strcmp(name, "relay")) {
        rc = parse_bool(value, &cfg->relay);
    } else if (!strcmp(section, "auth") && !strcmp(name, "require")) {
        enum auth_mode mode;
        rc = auth_mode_parse(value, &mode);
        if (rc == 0)
            cfg->auth_mode = (int)mode;
    } else if (!strcmp(section, "tls") && !strcmp(name, "verify_client")) {
        rc = parse_bool(value, &cfg->tls_verify_client);
    } else if (!strcmp(section, "tcp") && !strcmp(name, "udp_to_tcp")) {
        rc = parse_bool(value, &cfg->udp_to_tcp);
    } else if (!strcmp(section, "registrar") && !strcmp(name, "use_domain")) {
        rc = parse_bool(value, &cfg->use_domain);
    } else if (!strcmp(section, "registrar") && !strcmp(name, "nat")) {
        enum nat_mode mode;
        rc = nat_mode_parse(value, &mode);
        if (rc == 0)
            cfg->nat_mode = (int)mode;
    } else {
        for (size_t i = 0; i < sizeof(string_options) / sizeof(string_options[0]); i++) {
            const struct string_option *o = &string_options[i];
            if (!strcmp(section, o->section) && !strcmp(name, o->name))
                rc = set_string((char **)((char *)cfg + o->offset), value);
        }
        for (size_t i = 0; i < sizeof(unsigned_options) / sizeof(unsigned_options[0]); i++) {
            const struct option_spec *o = &unsigned_options[i];
            if (!strcmp(section, o->section) && !strcmp(name, o->name)) {
                rc = config_parse_unsigned(value, o->min, o->max,
                                           (unsigned *)((char *)cfg + o->offset));
                break;
            }
        }
    }
    if (rc != 0) {
        if (ctx->error[0])
            return 0; /* inih returns the first such line */
        if (!option_known(section, name))
            snprintf(ctx->error, sizeof(ctx->error), "unknown setting '%s' in [%s]", name, section);
        else
            snprintf(ctx->error, sizeof(ctx->error), "bad value '%s' for [%s] %s", value, section,
                     name);
        return 0;
    }
    return 1;
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
                    "switchboard: bad listen address '%s' (want udp:, tcp: or tls:HOST:PORT)\n",
                    cfg->listen[i]);
            return SB_EINVAL;
        }
        tls |= transport == SB_TLS;
    }
    if (tls && (!cfg->tls_certificate || !cfg->tls_key)) {
        fprintf(stderr, "switchboard: a tls: listen address needs [tls] certificate and key\n");
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

enum {
    OPT_LISTENERS = 256,
    OPT_WORKERS,
    OPT_DOMAIN,
    OPT_LOG_LEVEL,
    OPT_JOURNAL,
    OPT_REASONS,
    OPT_TRACE,
    OPT_STORE,
    OPT_NODE,
    OPT_NAT,
    OPT_AUTH,
    OPT_AUTH_USERS,
    OPT_ADMIN,
    OPT_VERSION,
    OPT_HELP
};

static const struct option long_options[] = {
    {"config", required_argument, NULL, 'c'},
    {"listen", required_argument, NULL, 'l'},
    {"listeners", required_argument, NULL, OPT_LISTENERS},
    {"workers", required_argument, NULL, OPT_WORKERS},
    {"domain", required_argument, NULL, OPT_DOMAIN},
    {"log-level", required_argument, NULL, OPT_LOG_LEVEL},
    {"journal", required_argument, NULL, OPT_JOURNAL},
    {"reasons", required_argument, NULL, OPT_REASONS},
    {"trace", required_argument, NULL, OPT_TRACE},
    {"store", required_argument, NULL, OPT_STORE},
    {"node", required_argument, NULL, OPT_NODE},
    {"nat", required_argument, NULL, OPT_NAT},
    {"auth", required_argument, NULL, OPT_AUTH},
    {"auth-users", required_argument, NULL, OPT_AUTH_USERS},
    {"admin", required_argument, NULL, OPT_ADMIN},
    {"version", no_argument, NULL, OPT_VERSION},
    {"help", no_argument, NULL, OPT_HELP},
    {NULL, 0, NULL, 0},
};

static int bad_flag(const char *flag, const char *value)
{
    fprintf(stderr, "switchboard: bad value '%s' for %s\n", value, flag);
    return SB_EINVAL;
}

int settings_from_args(struct sb_config *cfg, int argc, char **argv)
{
    int opt;
    /* pass 1: the config file, so every other flag can override it */
    opterr = 0;
    optind = 1;
    while ((opt = getopt_long(argc, argv, "c:l:", long_options, NULL)) != -1) {
        if (opt == 'c' && settings_load_file(cfg, optarg) != 0)
            return SB_EINVAL;
    }
    opterr = 1;
    optind = 1;
    bool listen_seen = false, domains_seen = false;
    while ((opt = getopt_long(argc, argv, "c:l:", long_options, NULL)) != -1) {
        int rc = 0;
        switch (opt) {
        case 'c':
            break;
        case 'l':
            if (!listen_seen)
                config_list_clear(cfg->listen, &cfg->listen_count);
            listen_seen = true;
            rc = string_list_add(cfg->listen, &cfg->listen_count, SB_MAX_LISTEN, optarg);
            break;
        case OPT_LISTENERS:
            if (config_parse_unsigned(optarg, 1, 256, &cfg->listeners) != 0)
                return bad_flag("--listeners", optarg);
            break;
        case OPT_WORKERS:
            if (config_parse_unsigned(optarg, 1, 256, &cfg->workers) != 0)
                return bad_flag("--workers", optarg);
            break;
        case OPT_DOMAIN:
            if (!domains_seen)
                config_list_clear(cfg->domains, &cfg->domain_count);
            domains_seen = true;
            rc = string_list_add(cfg->domains, &cfg->domain_count, SB_MAX_DOMAINS, optarg);
            break;
        case OPT_LOG_LEVEL: {
            int level = sb_log_level_parse(optarg);
            if (level < 0)
                return bad_flag("--log-level", optarg);
            cfg->log_level = level;
            break;
        }
        case OPT_JOURNAL:
            rc = set_string(&cfg->journal_path, optarg);
            break;
        case OPT_REASONS:
            rc = set_string(&cfg->reasons_path, optarg);
            break;
        case OPT_TRACE:
            rc = set_string(&cfg->trace_path, optarg);
            break;
        case OPT_NODE:
            rc = set_string(&cfg->node, optarg);
            break;
        case OPT_STORE:
            rc = set_string(&cfg->store, optarg);
            break;
        case OPT_NAT: {
            enum nat_mode mode;
            if (nat_mode_parse(optarg, &mode) != 0)
                return bad_flag("--nat", optarg);
            cfg->nat_mode = (int)mode;
            break;
        }
        case OPT_AUTH: {
            enum auth_mode mode;
            if (auth_mode_parse(optarg, &mode) != 0)
                return bad_flag("--auth", optarg);
            cfg->auth_mode = (int)mode;
            break;
        }
        case OPT_AUTH_USERS:
            rc = set_string(&cfg->auth_users, optarg);
            break;
        case OPT_ADMIN:
            rc = set_string(&cfg->admin_listen, optarg);
            break;
        case OPT_VERSION:
            printf("switchboard " SB_VERSION "\n");
            return 1;
        case OPT_HELP:
            usage(stdout);
            return 1;
        default:
            usage(stderr);
            return SB_EINVAL;
        }
        if (rc != 0) {
            fprintf(stderr, "switchboard: %s\n", sb_strerror(rc));
            return rc;
        }
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
