/* The settings (struct sb_config), their defaults, and the address forms
 * every floor parses; settings.h reads them from the file and the flags.
 * Read once at start-up, read-only afterwards. */
#ifndef SWITCHBOARD_CONFIG_H
#define SWITCHBOARD_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

#define SB_MAX_LISTEN 16
#define SB_MAX_DOMAINS 32

struct sb_config {
    char *listen[SB_MAX_LISTEN]; /* "udp:HOST:PORT", "tcp:...", "tls:..." */
    size_t listen_count;
    unsigned listeners;  /* listener threads; 0 = CPU count */
    unsigned rate_limit; /* messages per second per source IP; 0 = off */
    unsigned workers;    /* worker threads; 0 = CPU count */
    char *domains[SB_MAX_DOMAINS];
    size_t domain_count;
    int log_level;

    /* registrar, RFC 3261 §10.3 */
    unsigned default_expires;
    unsigned min_expires;
    unsigned max_expires;
    unsigned max_bindings;           /* per address-of-record */
    unsigned max_records;            /* addresses-of-record in total */
    unsigned max_aors_per_source;    /* ...that one source IP address may create; 0 = unbounded */
    unsigned max_records_per_domain; /* ...of one domain under use_domain; 0 = unbounded */
    unsigned max_binding_bytes;      /* what one binding may store (Contact, URI, User-Agent...) */
    unsigned register_rate;          /* REGISTERs per second per source address; 0 = off */
    unsigned nat_keepalive;          /* seconds between OPTIONS to phones behind NAT; 0 = off */
    int nat_mode;                    /* enum nat_mode (nat.h): auto, always, never */
    bool use_domain;                 /* AoRs are user@domain, not just user */
    char *store;                     /* registration store file or redis:// URL; NULL or "none":
                                      * memory only */
    char *node;                      /* this switchboard's name in a shared store; NULL: its first
                                      * listen address */
    unsigned store_queue_limit;      /* changes waiting for the persister */

    /* proxy, RFC 3261 §17 timers in milliseconds */
    unsigned t1_ms;
    unsigned t2_ms;
    unsigned t4_ms;
    unsigned timer_c_ms;
    unsigned max_call_length;  /* seconds our signed Record-Route stays valid */
    bool relay;                /* forward requests for foreign domains */
    char *forbidden_targets;   /* CIDR[:PORT], ...: never sent to (route_policy.h) */
    unsigned max_transactions; /* per worker; above it new requests get 503 */
    unsigned queue_limit;      /* per worker dispatch queue */
    char *reasons_path;        /* reason phrase table, or NULL */

    /* digest authentication, RFC 3261 §22 */
    int auth_mode;                    /* enum auth_mode (auth.h): none, register, all */
    char *auth_realm;                 /* NULL: the first domain, else the host name */
    char *auth_users;                 /* users file (htdigest format) */
    char *auth_secret_file;           /* NULL: the secret kept in the store, else random */
    char *auth_algorithms;            /* offered, in order: "MD5", "SHA-256, MD5", ... */
    unsigned auth_nonce_ttl;          /* seconds a nonce stays fresh */
    unsigned auth_max_failures;       /* failed attempts from one address... */
    unsigned auth_block_seconds;      /* ...before it is refused this long */
    unsigned auth_max_user_failures;  /* failed attempts for one user from anywhere... */
    unsigned auth_user_block_seconds; /* ...before new addresses are refused this long */

    /* TCP and TLS (RFC 3261 §18, RFC 5626 §4.4.1) */
    unsigned tcp_threads;            /* stream I/O threads; 0 = CPU count */
    unsigned tcp_max_connections;    /* in total; more are closed at once */
    unsigned tcp_max_per_ip;         /* from one source IP address */
    unsigned tcp_idle_timeout;       /* seconds without traffic before closing */
    unsigned tcp_header_timeout;     /* seconds a message may take to arrive */
    unsigned tcp_connect_timeout_ms; /* an outgoing connection's set-up */
    unsigned tcp_write_queue_limit;  /* bytes queued for a peer that does not read */
    unsigned tcp_queue_per_ip_limit; /* ...for all connections of one address */
    unsigned tcp_queue_total_limit;  /* ...for all connections */
    unsigned path_mtu;               /* RFC 3261 §18.1.1: requests above MTU - 200... */
    bool udp_to_tcp;                 /* ...go over TCP when the target has TCP */
    char *tls_certificate;           /* PEM chain */
    char *tls_key;                   /* PEM private key */
    char *tls_ca;                    /* PEM CAs to verify peers with; NULL: system's */
    bool tls_verify_client;          /* ask phones for a certificate signed by tls_ca */
    char *ws_allowed_origins;        /* pages that may open a WebSocket; NULL: same host */
    char *ws_web_dir;                /* the page ws:/wss: serve; NULL: the built one */

    /* media relay through rtpengine (media.h) */
    char *rtpengine;           /* "udp:HOST:PORT[;weight=N], ...", or NULL: none */
    int media_relay;           /* enum media_relay: never, nat, always */
    int media_on_failure;      /* enum media_on_failure: continue, refuse */
    unsigned media_timeout_ms; /* an ng request's first wait (doubled for the retry) */

    /* call journal and SIP trace */
    char *journal_path;  /* NULL: no journal */
    char *journal_fsync; /* none, batch or record */
    unsigned journal_queue_limit;
    char *trace_path;    /* NULL: no trace */
    char *server_header; /* Server of our answers; NULL: the product name, "": none */

    char *config_path; /* the file -c named (SIGHUP re-reads its dial plan) */

    /* the admin plane (admin.h) */
    char *admin_listen;     /* HOST:PORT, "none", or NULL: ADMIN_DEFAULT_LISTEN */
    char *admin_token_file; /* bearer token; required off loopback */
    char *admin_web_dir;    /* serve the page from here, not the built-in copy */
};

/* Where the admin plane listens unless told: when that port is taken
 * (a second switchboard on the host) it warns and runs without. */
#define ADMIN_DEFAULT_LISTEN "127.0.0.1:8060"

/* Splits "HOST:PORT" ([v6]:PORT too). Returns 0 or SB_EINVAL. */
int config_parse_hostport(const char *text, char *host, size_t size, unsigned *port);

/* Fills @cfg with defaults (allocates: pair with config_free). */
/* The defaults every setting has before the file and the flags
 * (settings.h) are applied. */
void config_defaults(struct sb_config *cfg);
void config_free(struct sb_config *cfg);

/* Splits "udp:HOST:PORT" (or tcp:, tls:; HOST may be [v6]) into its
 * transport (enum sb_transport), host and port. Returns 0, SB_EINVAL or
 * SB_ERANGE (port). */
int config_parse_listen(const char *spec, int *transport, char *host, size_t host_size,
                        unsigned *port);

/* A decimal number within [@min, @max] into *@out. Returns 0 or
 * SB_ERANGE. */
int config_parse_unsigned(const char *s, unsigned min, unsigned max, unsigned *out);

/* Frees the strings of @list and sets *@count to 0. */
void config_list_clear(char **list, size_t *count);

#endif
