/* Configuration: an INI file (conf/switchboard.conf) overridden by command
 * line flags. Read once at start-up, read-only afterwards. */
#ifndef SWITCHBOARD_CONFIG_H
#define SWITCHBOARD_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

#define SB_MAX_LISTEN 16
#define SB_MAX_DOMAINS 32

struct sb_config {
    char *listen[SB_MAX_LISTEN]; /* "udp:HOST:PORT" */
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
    unsigned max_bindings; /* per address-of-record */
    unsigned max_records;  /* addresses-of-record in total */
    int nat_mode;          /* enum nat_mode (nat.h): auto, always, never */
    bool use_domain;       /* AoRs are user@domain, not just user */
    char *store;           /* registration store file; NULL or "none": memory only */
    unsigned store_queue_limit; /* changes waiting for the persister */

    /* proxy, RFC 3261 §17 timers in milliseconds */
    unsigned t1_ms;
    unsigned t2_ms;
    unsigned t4_ms;
    unsigned timer_c_ms;
    bool relay;                /* forward requests for foreign domains */
    unsigned max_transactions; /* per worker; above it new requests get 503 */
    unsigned queue_limit;      /* per worker dispatch queue */
    char *reasons_path;        /* reason phrase table, or NULL */

    /* digest authentication, RFC 3261 §22 */
    int auth_mode;            /* enum auth_mode (auth.h): none, register, all */
    char *auth_realm;         /* NULL: the first domain, else the host name */
    char *auth_users;         /* users file (htdigest format) */
    char *auth_secret_file;   /* NULL: the secret kept in the store, else random */
    char *auth_algorithms;    /* offered, in order: "MD5", "SHA-256, MD5", ... */
    unsigned auth_nonce_ttl;  /* seconds a nonce stays fresh */
    unsigned auth_max_failures; /* failed attempts from one address... */
    unsigned auth_block_seconds; /* ...before it is refused this long */

    /* call journal and SIP trace */
    char *journal_path;  /* NULL: no journal */
    char *journal_fsync; /* none, batch or record */
    unsigned journal_queue_limit;
    char *trace_path; /* NULL: no trace */
};

/* Fills @cfg with defaults (allocates: pair with config_free). */
void config_defaults(struct sb_config *cfg);
void config_free(struct sb_config *cfg);

/* Applies an INI file. Returns 0, or a negative code after printing a message
 * naming the file and line to stderr. */
int config_load_file(struct sb_config *cfg, const char *path);

/* Applies INI text as if it were a file named @name, then checks the
 * result as start-up does. Returns 0 or a negative code (after printing
 * why). For tests and the fuzzer. */
int config_load_text(struct sb_config *cfg, const char *text, const char *name);

/* Parses the command line: -c FILE first, then every flag over it.
 * Returns 0 to run, 1 when --help or --version was answered (exit 0), or a
 * negative code after printing why (exit 2). */
int config_from_args(struct sb_config *cfg, int argc, char **argv);

/* Splits "udp:HOST:PORT" (HOST may be [v6]). Returns 0 or SB_EINVAL. */
int config_parse_listen(const char *spec, char *host, size_t host_size, unsigned *port);

/* Resolves 0 in listeners/workers to the CPU count. */
void config_finalize(struct sb_config *cfg);

#endif
