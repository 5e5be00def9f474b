/* The settings' struct: its defaults, its release, and the address
 * forms lower floors parse too (listen addresses, HOST:PORT). Reading the
 * file and the flags is the top floor's (src/settings.c). */
#include "switchboard/config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "switchboard/error.h"
#include "switchboard/log.h"

void config_defaults(struct sb_config *cfg)
{
    memset(cfg, 0, sizeof(*cfg)); /* nat_mode NAT_AUTO, auth_mode AUTH_MODE_NONE: both 0 */
    cfg->log_level = SB_LOG_INFO;
    cfg->default_expires = 3600;
    cfg->min_expires = 60;
    cfg->max_expires = 86400;
    cfg->max_bindings = 16;
    cfg->max_records = 1000000;
    cfg->max_aors_per_source = 1000;
    cfg->max_binding_bytes = 2048;
    cfg->register_rate = 50;
    cfg->store_queue_limit = 65536;
    cfg->t1_ms = 500;
    cfg->t2_ms = 4000;
    cfg->t4_ms = 5000;
    cfg->timer_c_ms = 180000;
    cfg->max_call_length = 43200;
    cfg->max_transactions = 262144;
    cfg->queue_limit = 65536;
    cfg->journal_fsync = strdup("batch");
    cfg->auth_algorithms = strdup("MD5");
    cfg->auth_nonce_ttl = 300;
    cfg->auth_max_failures = 10;
    cfg->auth_block_seconds = 60;
    cfg->auth_max_user_failures = 20;
    cfg->auth_user_block_seconds = 600;
    cfg->journal_queue_limit = 65536;
    cfg->media_timeout_ms = 300;
    cfg->tcp_max_connections = 16000;
    cfg->tcp_max_per_ip = 1024;
    cfg->tcp_idle_timeout = 3600;
    cfg->tcp_header_timeout = 10;
    cfg->tcp_connect_timeout_ms = 3000;
    cfg->tcp_write_queue_limit = 1048576;
    cfg->tcp_queue_per_ip_limit = 8u << 20;
    cfg->tcp_queue_total_limit = 256u << 20;
    cfg->path_mtu = 1500;
    cfg->udp_to_tcp = true;
}

void config_list_clear(char **list, size_t *count)
{
    for (size_t i = 0; i < *count; i++)
        free(list[i]);
    *count = 0;
}

void config_free(struct sb_config *cfg)
{
    config_list_clear(cfg->listen, &cfg->listen_count);
    config_list_clear(cfg->domains, &cfg->domain_count);
    free(cfg->reasons_path);
    free(cfg->forbidden_targets);
    free(cfg->server_header);
    free(cfg->journal_path);
    free(cfg->journal_fsync);
    free(cfg->trace_path);
    free(cfg->rtpengine);
    free(cfg->store);
    free(cfg->node);
    cfg->node = NULL;
    free(cfg->auth_realm);
    free(cfg->auth_users);
    free(cfg->auth_secret_file);
    free(cfg->auth_algorithms);
    free(cfg->tls_certificate);
    free(cfg->tls_key);
    free(cfg->tls_ca);
    free(cfg->ws_allowed_origins);
    free(cfg->ws_web_dir);
    free(cfg->admin_listen);
    free(cfg->config_path);
    cfg->config_path = NULL;
    free(cfg->admin_token_file);
    free(cfg->admin_web_dir);
    cfg->admin_listen = cfg->admin_token_file = cfg->admin_web_dir = NULL;
    cfg->tls_certificate = cfg->tls_key = cfg->tls_ca = NULL;
    cfg->ws_allowed_origins = cfg->ws_web_dir = NULL;
    cfg->auth_realm = cfg->auth_users = cfg->auth_secret_file = cfg->auth_algorithms = NULL;
    cfg->reasons_path = cfg->journal_path = cfg->journal_fsync = cfg->trace_path = NULL;
    cfg->rtpengine = NULL;
    cfg->store = cfg->forbidden_targets = cfg->server_header = NULL;
}

int config_parse_unsigned(const char *s, unsigned min, unsigned max, unsigned *out)
{
    char *end;
    errno = 0;
    unsigned long v = strtoul(s, &end, 10);
    if (errno || end == s || *end || s[0] == '-' || v < min || v > max)
        return SB_ERANGE;
    *out = (unsigned)v;
    return 0;
}

int config_parse_listen(const char *spec, int *transport, char *host, size_t host_size,
                        unsigned *port)
{
    /* enum sb_transport */
    static const char *const prefixes[] = {"udp:", "tcp:", "tls:", "ws:", "wss:"};
    int t = -1;
    for (int i = 0; i < (int)(sizeof(prefixes) / sizeof(prefixes[0])); i++)
        if (strncasecmp(spec, prefixes[i], strlen(prefixes[i])) == 0)
            t = i;
    if (t < 0)
        return SB_EINVAL;
    *transport = t;
    const char *h = spec + strlen(prefixes[t]);
    const char *colon;
    size_t hlen;
    if (*h == '[') {
        const char *close = strchr(h, ']');
        if (!close || close[1] != ':')
            return SB_EINVAL;
        h++;
        hlen = (size_t)(close - h);
        colon = close + 1;
    } else {
        colon = strrchr(h, ':');
        if (!colon)
            return SB_EINVAL;
        hlen = (size_t)(colon - h);
    }
    if (hlen == 0 || hlen >= host_size)
        return SB_EINVAL;
    memcpy(host, h, hlen);
    host[hlen] = '\0';
    return config_parse_unsigned(colon + 1, 1, 65535, port);
}

int config_parse_hostport(const char *text, char *host, size_t size, unsigned *port)
{
    const char *colon = strrchr(text, ':');
    if (!colon || colon == text)
        return SB_EINVAL;
    const char *start = text, *end = colon;
    if (*start == '[') { /* [v6]:port */
        if (end[-1] != ']')
            return SB_EINVAL;
        start++;
        end--;
    } else if (memchr(text, ':', (size_t)(colon - text))) {
        return SB_EINVAL; /* a bare IPv6 address needs brackets */
    }
    size_t n = (size_t)(end - start);
    if (n == 0 || n >= size)
        return SB_EINVAL;
    memcpy(host, start, n);
    host[n] = '\0';
    return config_parse_unsigned(colon + 1, 1, 65535, port);
}
