/* The location service (RFC 3261 §10): address-of-record -> bindings.
 *
 * DESIGN: a liburcu lock-free hash table (cds_lfht) shared by every worker.
 * Each address-of-record is one node holding an immutable binding set; an
 * update builds a new set and swaps the node with cds_lfht_replace, which
 * fails if someone else changed it first, so updates retry instead of
 * locking. Readers never lock. Every thread that calls in must be registered
 * with liburcu (rcu_register_thread). Any thread may call any function. */
#ifndef SWITCHBOARD_REGISTRAR_H
#define SWITCHBOARD_REGISTRAR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "switchboard/types.h"

struct registrar;

struct registrar_limits {
    unsigned max_bindings;   /* per address-of-record */
    size_t max_records;      /* addresses-of-record in total; 0 = unbounded */
    unsigned max_per_source; /* records one source IP address may create; 0 = unbounded */
    unsigned max_per_domain; /* records of one domain ("user@domain" keys); 0 = unbounded */
};

/* One contact bound to an address-of-record. Strings are owned by the set. */
struct registrar_binding {
    const char *contact;  /* Contact value without expires, e.g. <sip:a@h>;+sip.instance=".." */
    const char *uri;      /* the contact URI alone */
    const char *instance; /* +sip.instance value, or NULL */
    const char *call_id;
    const char *user_agent; /* may be NULL */
    uint32_t cseq;
    uint64_t expires_at_ms; /* monotonic ms */
    unsigned q;             /* q-value times 1000 */
    bool use_source;        /* the UA registered itself: reach it at source */
    struct sb_addr source;  /* where the REGISTER came from */
    struct sb_local local;  /* which of our addresses it came in on */
    uint8_t transport;      /* enum sb_transport the REGISTER came over */
    uint64_t conn;          /* TCP/TLS: its connection, the flow to reach the UA over
                             * (RFC 5626); 0 when unknown (loaded from the store) */
    const char *node;       /* shared store: the switchboard whose REGISTER made it;
                             * NULL: this one */
};

/* A caller-owned copy of an address-of-record's live bindings. */
struct registrar_set {
    size_t count;
    struct registrar_binding bindings[];
};

/* One change asked for by a REGISTER: bind @binding (expires_at_ms in the
 * future) or, with remove set, unbind the contact matching it. Its call_id
 * and cseq are taken from registrar_update()'s arguments. */
struct registrar_change {
    struct registrar_binding binding;
    bool remove;
};

int registrar_create(const struct registrar_limits *limits, struct registrar **out);

/* Called after every change registrar_update() makes (not for expiry or
 * restore), from the thread that made it, with the AoR that changed. Set it
 * before other threads use the registrar and clear it after they stopped. */
typedef void (*registrar_change_fn)(void *ctx, const char *aor);
void registrar_set_change_hook(struct registrar *reg, registrar_change_fn fn, void *ctx);
/* Call once every thread that used it is done. */
void registrar_destroy(struct registrar *reg);

/* Applies @changes to @aor atomically (RFC 3261 §10.3 steps 6-8). With
 * @remove_all, drops every binding (Contact: *), honouring @call_id/@cseq
 * ordering. Returns 0, SB_EOUTOFORDER (a binding with the same Call-ID has
 * a higher CSeq; an equal one is a retransmission and applies again), SB_ELIMIT (too many bindings
 * or records) or SB_ENOMEM. Nothing changes on error. If @after is not NULL, it receives a copy of
 * the resulting live bindings (free with registrar_set_free). */
int registrar_update(struct registrar *reg, const char *aor, const struct registrar_change *changes,
                     size_t count, bool remove_all, const char *call_id, uint32_t cseq,
                     uint64_t now_ms, struct registrar_set **after);

/* Copies @aor's live bindings, highest q first. Returns 0 (with *out set,
 * even to an empty set), SB_ENOTFOUND when there is none, or SB_ENOMEM. */
int registrar_lookup(struct registrar *reg, const char *aor, uint64_t now_ms,
                     struct registrar_set **out);

void registrar_set_free(struct registrar_set *set);

/* Whether @aor has a live binding, without copying anything. */
bool registrar_has_live(struct registrar *reg, const char *aor, uint64_t now_ms);

/* Puts @aor's bindings back as they were stored (their own Call-ID, CSeq and
 * expiry; expired ones are skipped), replacing whatever is there. Used when
 * loading the store at start-up; the change hook is not called. Returns 0,
 * SB_ELIMIT (max_records or max_bindings) or SB_ENOMEM. */
int registrar_restore(struct registrar *reg, const char *aor, const struct registrar_binding *b,
                      size_t count, uint64_t now_ms);

/* Replaces @aor's bindings with what @fn computes from the current ones
 * (@old NULL when there are none), atomically: when another thread changed
 * @aor meanwhile, @fn runs again on the newer set. @fn writes at most
 * @room (the old count + @extra) bindings to @out, whose strings may point
 * into @old or @arg (they are copied), and returns how many or a negative
 * code to give up. Expired bindings are dropped; the change hook is not
 * called (this merges what another switchboard wrote). Returns 0,
 * SB_ELIMIT, SB_ENOMEM or @fn's code. */
typedef int (*registrar_rewrite_fn)(void *arg, const struct registrar_set *old,
                                    struct registrar_binding *out, size_t room);
int registrar_rewrite(struct registrar *reg, const char *aor, size_t extra, registrar_rewrite_fn fn,
                      void *arg, uint64_t now_ms);

/* Calls @fn for every address-of-record, inside rcu_read_lock (@fn must
 * not block). */
void registrar_foreach_aor(struct registrar *reg, void (*fn)(void *arg, const char *aor),
                           void *arg);

/* Calls @fn with every address-of-record and its bindings as stored
 * (expired ones not yet swept included: compare expires_at_ms), inside
 * rcu_read_lock: @fn must not block nor keep the pointers. */
typedef void (*registrar_visit_fn)(void *arg, const char *aor, const struct registrar_binding *b,
                                   size_t count);
void registrar_foreach(struct registrar *reg, registrar_visit_fn fn, void *arg);

/* Drops expired bindings and empty records. Returns how many bindings went. */
size_t registrar_expire(struct registrar *reg, uint64_t now_ms);

/* Drops our bindings made over WebSocket whose connection @alive says is
 * closed (or unknown: loaded from the store): a browser is reached only
 * over the connection it registered on (RFC 7118 §5), so the binding goes
 * with it. The change hook runs for each record changed. Returns how many
 * records changed. */
typedef bool (*registrar_alive_fn)(void *ctx, uint64_t conn);
size_t registrar_drop_dead_flows(struct registrar *reg, registrar_alive_fn alive, void *ctx,
                                 uint64_t now_ms);

/* Number of addresses-of-record currently stored. */
size_t registrar_record_count(struct registrar *reg);

/* Are two contact URIs the same binding? (RFC 3261 §19.1.4, simplified to
 * scheme, user, host and port, case-insensitive host.) */
bool registrar_uri_equal(const char *a, const char *b);

#endif
