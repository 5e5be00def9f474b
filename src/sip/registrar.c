/* The location service: address-of-record -> immutable binding sets in a
 * liburcu lock-free hash table.
 *
 * DESIGN: every record (one AOR) is published whole and never changed in
 * place. Writers (any worker handling a REGISTER, the expiry sweep) read the
 * current record, build its successor and swap it in with cds_lfht_replace /
 * cds_lfht_add_unique / cds_lfht_del; each of those fails if another writer
 * got there first, and the writer then starts over from the new state. The
 * old record is freed with call_rcu once no reader can still see it.
 * Readers (registrar_lookup) copy the set inside rcu_read_lock and never
 * block. All calls must come from threads registered with liburcu. */
#include "switchboard/registrar.h"

#include <ctype.h>
#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <urcu.h>
#include <urcu/rculfhash.h>

#include "switchboard/error.h"
#include "switchboard/nat.h"
#include "switchboard/sip_msg.h"
#include "tsan_annotate.h"

#define ORIGIN_SLOTS 16384 /* a power of two */
#define ORIGIN_PROBES 8    /* slots an address may take, from its hash on */
#define ORIGIN_COUNT_BITS 24

struct registrar {
    struct cds_lfht *table;
    struct registrar_limits limits;
    atomic_ulong records;
    /* records per source IP address, by keyed hash of the address (a
     * stranger cannot aim at another's slot); a record counts in the slot
     * of the address whose REGISTER created it until it goes */
    _Atomic uint64_t *origins;     /* tag << ORIGIN_COUNT_BITS | records; count 0: free */
    _Atomic uint64_t *domains;     /* the same, per domain of "user@domain" keys */
    registrar_change_fn on_change; /* set while no other thread runs */
    void *on_change_ctx;
};

struct reg_record {
    struct cds_lfht_node node;
    struct rcu_head rcu;
    struct registrar_set *set;
    int origin; /* the origins slot it is counted in, or -1 */
    int domain; /* the domains slot, or -1 */
    char aor[];
};

static int match_aor(struct cds_lfht_node *node, const void *key)
{
    const struct reg_record *rec = caa_container_of(node, struct reg_record, node);
    tsan_observe(rec);
    int same = strcmp(rec->aor, key) == 0;
    tsan_rcu_read_done(rec);
    return same;
}

static size_t str_size(const char *s)
{
    return s ? strlen(s) + 1 : 0;
}

static const char *str_copy(char **cursor, const char *s)
{
    if (!s)
        return NULL;
    size_t n = strlen(s) + 1;
    memcpy(*cursor, s, n);
    const char *copy = *cursor;
    *cursor += n;
    return copy;
}

/* Deep-copies @n bindings into one allocation, so a set is freed with one
 * free() and can be published or handed out as a unit. */
static struct registrar_set *set_build(const struct registrar_binding *src, size_t n)
{
    size_t strings = 0;
    for (size_t i = 0; i < n; i++)
        strings += str_size(src[i].contact) + str_size(src[i].uri) + str_size(src[i].instance) +
                   str_size(src[i].call_id) + str_size(src[i].user_agent) + str_size(src[i].node);
    size_t head = sizeof(struct registrar_set) + n * sizeof(struct registrar_binding);
    struct registrar_set *set = malloc(head + strings);
    if (!set)
        return NULL;
    set->count = n;
    char *cursor = (char *)set + head;
    for (size_t i = 0; i < n; i++) {
        struct registrar_binding *b = &set->bindings[i];
        *b = src[i];
        b->contact = str_copy(&cursor, src[i].contact);
        b->uri = str_copy(&cursor, src[i].uri);
        b->instance = str_copy(&cursor, src[i].instance);
        b->call_id = str_copy(&cursor, src[i].call_id);
        b->user_agent = str_copy(&cursor, src[i].user_agent);
        b->node = str_copy(&cursor, src[i].node);
    }
    return set;
}

static void record_free(struct reg_record *rec)
{
    free(rec->set);
    free(rec);
}

static void record_free_rcu(struct rcu_head *head)
{
    struct reg_record *rec = caa_container_of(head, struct reg_record, rcu);
    tsan_rcu_reclaim(rec);
    record_free(rec);
}

static struct reg_record *record_build(const char *aor, const struct registrar_binding *b, size_t n)
{
    size_t len = strlen(aor) + 1;
    struct reg_record *rec = malloc(sizeof(*rec) + len);
    if (!rec)
        return NULL;
    memcpy(rec->aor, aor, len);
    rec->origin = -1;
    rec->domain = -1;
    cds_lfht_node_init(&rec->node);
    rec->set = set_build(b, n);
    if (!rec->set) {
        free(rec);
        return NULL;
    }
    return rec;
}

int registrar_create(const struct registrar_limits *limits, struct registrar **out)
{
    struct registrar *reg = calloc(1, sizeof(*reg));
    if (!reg)
        return SB_ENOMEM;
    reg->limits = *limits;
    reg->table = cds_lfht_new(1024, 1024, 0, CDS_LFHT_AUTO_RESIZE | CDS_LFHT_ACCOUNTING, NULL);
    reg->origins = calloc(ORIGIN_SLOTS, sizeof(*reg->origins));
    reg->domains = calloc(ORIGIN_SLOTS, sizeof(*reg->domains));
    if (!reg->table || !reg->origins || !reg->domains) {
        if (reg->table)
            cds_lfht_destroy(reg->table, NULL);
        free(reg->origins);
        free(reg->domains);
        free(reg);
        return SB_ENOMEM;
    }
    *out = reg;
    return 0;
}

void registrar_set_change_hook(struct registrar *reg, registrar_change_fn fn, void *ctx)
{
    reg->on_change = fn;
    reg->on_change_ctx = ctx;
}

void registrar_destroy(struct registrar *reg)
{
    if (!reg)
        return;
    struct cds_lfht_iter iter;
    struct reg_record *rec;
    rcu_read_lock();
    cds_lfht_for_each_entry(reg->table, &iter, rec, node)
    {
        if (cds_lfht_del(reg->table, &rec->node) == 0)
            call_rcu(&rec->rcu, record_free_rcu);
    }
    rcu_read_unlock();
    rcu_barrier(); /* every call_rcu above has run */
    cds_lfht_destroy(reg->table, NULL);
    free(reg->origins);
    free(reg->domains);
    free(reg);
}

/* The parts of a SIP URI compared below, as views into its text. */
struct uri_view {
    const char *scheme, *user, *host;
    size_t scheme_len, user_len, host_len;
    unsigned port;
};

/* Splits "sip:user@host:port;params" (angle brackets allowed). */
static bool uri_split(const char *s, struct uri_view *v)
{
    if (*s == '<')
        s++;
    const char *colon = strchr(s, ':');
    if (!colon)
        return false;
    v->scheme = s;
    v->scheme_len = (size_t)(colon - s);
    const char *rest = colon + 1;
    const char *at = strchr(rest, '@');
    v->user = at ? rest : NULL;
    v->user_len = at ? (size_t)(at - rest) : 0;
    const char *host = at ? at + 1 : rest;
    const char *p = host;
    if (*p == '[') {
        p = strchr(p, ']');
        if (!p)
            return false;
        p++;
    } else {
        while (*p && *p != ':' && *p != ';' && *p != '?' && *p != '>')
            p++;
    }
    v->host = host;
    v->host_len = (size_t)(p - host);
    v->port = 0;
    if (*p == ':')
        v->port = (unsigned)strtoul(p + 1, NULL, 10);
    if (v->port == 0)
        v->port = v->scheme_len == 4 && !strncasecmp(v->scheme, "sips", 4) ? 5061 : 5060;
    return v->host_len > 0;
}

/* The next byte of an escaped string (a %XX escape counts as one). */
static int next_unescaped(const char **s, const char *end)
{
    const char *p = *s;
    if (end - p >= 3 && p[0] == '%' && isxdigit((unsigned char)p[1]) &&
        isxdigit((unsigned char)p[2])) {
        char hex[3] = {p[1], p[2], 0};
        *s = p + 3;
        return (int)strtol(hex, NULL, 16);
    }
    *s = p + 1; /* a plain byte, or a stray '%' compared as itself */
    return (unsigned char)*p;
}

/* §19.1.4: user parts compare after unescaping, byte for byte, with their
 * lengths: %00 and %00%00 are different users. */
static bool user_equal(const char *a, size_t alen, const char *b, size_t blen)
{
    const char *ae = a + alen, *be = b + blen;
    while (a < ae && b < be)
        if (next_unescaped(&a, ae) != next_unescaped(&b, be))
            return false;
    return a == ae && b == be;
}

bool registrar_uri_equal(const char *a, const char *b)
{
    struct uri_view x, y;
    if (!uri_split(a, &x) || !uri_split(b, &y))
        return strcmp(a, b) == 0;
    return x.scheme_len == y.scheme_len && !strncasecmp(x.scheme, y.scheme, x.scheme_len) &&
           (x.user != NULL) == (y.user != NULL) &&
           (!x.user || user_equal(x.user, x.user_len, y.user, y.user_len)) &&
           x.host_len == y.host_len && !strncasecmp(x.host, y.host, x.host_len) && x.port == y.port;
}

/* RFC 5626: with +sip.instance on both sides the instance identifies the
 * device; otherwise the contact URI does. */
static bool binding_same(const struct registrar_binding *a, const struct registrar_binding *b)
{
    if (a->instance && b->instance)
        return strcmp(a->instance, b->instance) == 0;
    return registrar_uri_equal(a->uri, b->uri);
}

/* RFC 3261 §10.3 step 7 refuses a CSeq not higher than the binding's for
 * the same Call-ID. An equal CSeq is the same REGISTER retransmitted (we
 * answer REGISTERs without a transaction), so it is applied again, which
 * changes nothing; only a lower one is out of order. */
static bool is_stale(const struct registrar_binding *existing, const char *call_id, uint32_t cseq)
{
    return call_id && existing->call_id && strcmp(existing->call_id, call_id) == 0 &&
           cseq < existing->cseq;
}

/* Computes the successor of @old into @next (sized old + count). Returns
 * the new count or a negative code. Strings in @next still point into @old
 * and @changes. */
static int bindings_merge(const struct registrar *reg, const struct registrar_set *old,
                          const struct registrar_change *changes, size_t count, bool remove_all,
                          const char *call_id, uint32_t cseq, uint64_t now_ms,
                          struct registrar_binding *next)
{
    size_t n = 0;
    if (old) {
        for (size_t i = 0; i < old->count; i++) {
            const struct registrar_binding *b = &old->bindings[i];
            if (b->expires_at_ms <= now_ms)
                continue;
            if (remove_all) {
                /* RFC 3261 §10.3 step 6: Contact: * obeys Call-ID/CSeq order */
                if (is_stale(b, call_id, cseq))
                    return SB_EOUTOFORDER;
                continue;
            }
            next[n++] = *b;
        }
    }
    for (size_t c = 0; c < count; c++) {
        const struct registrar_change *ch = &changes[c];
        size_t found = n;
        for (size_t i = 0; i < n; i++) {
            if (binding_same(&next[i], &ch->binding)) {
                found = i;
                break;
            }
        }
        if (found < n) {
            if (is_stale(&next[found], call_id, cseq))
                return SB_EOUTOFORDER; /* §10.3 step 7 */
            if (ch->remove) {
                next[found] = next[--n];
                continue;
            }
        } else if (ch->remove) {
            continue;
        } else if (reg->limits.max_bindings && n >= reg->limits.max_bindings) {
            return SB_ELIMIT;
        } else {
            found = n++;
        }
        /* the REGISTER's Call-ID and CSeq order later updates (§10.3 step 7) */
        next[found] = ch->binding;
        next[found].call_id = call_id;
        next[found].cseq = cseq;
    }
    return (int)n;
}

static int set_compare(const void *pa, const void *pb)
{
    const struct registrar_binding *a = pa, *b = pb;
    if (a->q != b->q)
        return a->q > b->q ? -1 : 1;
    if (a->expires_at_ms != b->expires_at_ms)
        return a->expires_at_ms > b->expires_at_ms ? -1 : 1;
    return 0;
}

/* Copies the live bindings of @set (call inside rcu_read_lock). */
static struct registrar_set *set_snapshot(const struct registrar_set *set, uint64_t now_ms)
{
    struct registrar_binding live[set->count ? set->count : 1];
    size_t n = 0;
    for (size_t i = 0; i < set->count; i++)
        if (set->bindings[i].expires_at_ms > now_ms)
            live[n++] = set->bindings[i];
    qsort(live, n, sizeof(live[0]), set_compare);
    return set_build(live, n);
}

/* Takes one record more in @slot, which holds @tag or is free; false
 * when it holds another address. SB_EQUOTA past @limit (0: none). */
static int origin_take(_Atomic uint64_t *slot, uint64_t tag, unsigned limit, bool *taken)
{
    uint64_t v = atomic_load(slot);
    for (;;) {
        uint64_t count = v & ((UINT64_C(1) << ORIGIN_COUNT_BITS) - 1);
        *taken = false;
        if (count && v >> ORIGIN_COUNT_BITS != tag)
            return 0; /* another address's */
        if (limit && count >= limit)
            return SB_EQUOTA;
        uint64_t want = tag << ORIGIN_COUNT_BITS | (count + 1);
        if (atomic_compare_exchange_weak(slot, &v, want)) {
            *taken = true;
            return 0;
        } /* v now holds what the slot held */
    }
}

/* Charges a new record to @key (@len bytes) in @table: a slot tagged
 * with the key's keyed hash, found within ORIGIN_PROBES of it (so two
 * keys never share a count); *@slot is where, or -1 when every probed
 * slot is another key's (the limit fails open rather than refusing a
 * stranger's neighbour). SB_EQUOTA past @limit (0: none). */
static int slot_charge(_Atomic uint64_t *table, const char *key, size_t len, unsigned limit,
                       int *slot)
{
    uint64_t h = sb_hash(key, len);
    uint64_t tag = (h >> ORIGIN_COUNT_BITS) | 1; /* never 0 */
    *slot = -1;
    for (unsigned i = 0; i < ORIGIN_PROBES; i++) {
        int at = (int)((h + i) & (ORIGIN_SLOTS - 1));
        bool taken;
        int rc = origin_take(&table[at], tag, limit, &taken);
        if (rc != 0)
            return rc;
        if (taken) {
            *slot = at;
            return 0;
        }
    }
    return 0;
}

/* Charges a new record to its creator's address and, for a
 * "user@domain" key, to its domain (max_per_domain: one domain served
 * here cannot take every record from the others). The proxy's own host
 * (loopback: SIPp load tests registering 100 000 users) is counted but
 * not limited. SB_EQUOTA or SB_EDOMAINFULL when full; nothing is
 * charged then. */
static int origin_charge(struct registrar *reg, struct reg_record *rec,
                         const struct sb_addr *origin)
{
    const char *at = strrchr(rec->aor, '@');
    if (at) {
        int rc = slot_charge(reg->domains, at + 1, strlen(at + 1), reg->limits.max_per_domain,
                             &rec->domain);
        if (rc != 0)
            return SB_EDOMAINFULL;
    }
    if (!origin)
        return 0;
    char ip[64];
    sipmsg_addr_host(origin, ip, sizeof(ip));
    unsigned limit = nat_addr_kind(ip) != NAT_ADDR_LOOPBACK ? reg->limits.max_per_source : 0;
    int rc = slot_charge(reg->origins, ip, strlen(ip), limit, &rec->origin);
    if (rc != 0 && rec->domain >= 0) {
        atomic_fetch_sub(&reg->domains[rec->domain], 1);
        rec->domain = -1;
    }
    return rc;
}

static void origin_release(struct registrar *reg, const struct reg_record *rec)
{
    if (rec->origin >= 0)
        atomic_fetch_sub(&reg->origins[rec->origin], 1);
    if (rec->domain >= 0)
        atomic_fetch_sub(&reg->domains[rec->domain], 1);
}

static int record_replace(struct registrar *reg, const char *aor, unsigned long hash,
                          struct cds_lfht_iter *iter, struct reg_record *old,
                          const struct registrar_binding *next, size_t n,
                          const struct sb_addr *origin, struct registrar_set **after,
                          uint64_t now_ms)
{
    if (n == 0) {
        if (old) {
            if (cds_lfht_del(reg->table, &old->node) != 0)
                return SB_EAGAIN; /* someone else removed or replaced it */
            atomic_fetch_sub(&reg->records, 1);
            origin_release(reg, old);
            call_rcu(&old->rcu, record_free_rcu);
        }
        if (after) {
            *after = set_build(NULL, 0);
            if (!*after)
                return SB_ENOMEM;
        }
        return 0;
    }
    struct reg_record *rec = record_build(aor, next, n);
    if (!rec)
        return SB_ENOMEM;
    tsan_publish(rec);
    if (old) {
        rec->origin = old->origin; /* the creator stays charged */
        rec->domain = old->domain;
        if (cds_lfht_replace(reg->table, iter, hash, match_aor, aor, &rec->node) != 0) {
            record_free(rec);
            return SB_EAGAIN;
        }
        call_rcu(&old->rcu, record_free_rcu);
    } else {
        if (reg->limits.max_records && atomic_load(&reg->records) >= reg->limits.max_records) {
            record_free(rec);
            return SB_ELIMIT;
        }
        int rc = origin_charge(reg, rec, origin);
        if (rc != 0) {
            record_free(rec);
            return rc;
        }
        struct cds_lfht_node *got =
            cds_lfht_add_unique(reg->table, hash, match_aor, aor, &rec->node);
        if (got != &rec->node) {
            origin_release(reg, rec);
            record_free(rec);
            return SB_EAGAIN;
        }
        atomic_fetch_add(&reg->records, 1);
    }
    if (after) {
        /* rec is still safe to read: we are inside rcu_read_lock */
        *after = set_snapshot(rec->set, now_ms);
        tsan_rcu_read_done(rec);
        if (!*after)
            return SB_ENOMEM;
    }
    return 0;
}

/* Keeps the live bindings of @b[0..n) in place; returns how many. */
static size_t drop_expired(struct registrar_binding *b, size_t n, uint64_t now_ms)
{
    size_t live = 0;
    for (size_t i = 0; i < n; i++)
        if (b[i].expires_at_ms > now_ms)
            b[live++] = b[i];
    return live;
}

/* The one way a record changes: @fn computes the successor of @aor's set
 * (see registrar_rewrite), which replaces it unless another thread got
 * there first, and then @fn runs again on the newer set. */
static int rewrite_record(struct registrar *reg, const char *aor, size_t extra,
                          registrar_rewrite_fn fn, void *arg, const struct sb_addr *origin,
                          uint64_t now_ms, struct registrar_set **after)
{
    unsigned long hash = (unsigned long)sb_hash(aor, strlen(aor));
    int rc;
    if (after)
        *after = NULL;
    rcu_read_lock();
    do {
        struct cds_lfht_iter iter;
        cds_lfht_lookup(reg->table, hash, match_aor, aor, &iter);
        struct cds_lfht_node *node = cds_lfht_iter_get_node(&iter);
        struct reg_record *old = node ? caa_container_of(node, struct reg_record, node) : NULL;
        if (old)
            tsan_observe(old);
        size_t room = (old ? old->set->count : 0) + extra;
        struct registrar_binding *next = malloc((room ? room : 1) * sizeof(*next));
        rc = next ? fn(arg, old ? old->set : NULL, next, room) : SB_ENOMEM;
        if (rc >= 0) {
            size_t n = drop_expired(next, (size_t)rc, now_ms);
            rc = reg->limits.max_bindings && n > reg->limits.max_bindings
                     ? SB_ELIMIT
                     : record_replace(reg, aor, hash, &iter, old, next, n, origin, after, now_ms);
        }
        if (old)
            tsan_rcu_read_done(old); /* its strings were copied, not kept */
        free(next);
    } while (rc == SB_EAGAIN);
    rcu_read_unlock();
    return rc;
}

/* What a REGISTER asks of one record (registrar_update's arguments). */
struct update_args {
    const struct registrar *reg;
    const struct registrar_change *changes;
    size_t count;
    bool remove_all;
    const char *call_id;
    uint32_t cseq;
    uint64_t now_ms;
};

/* registrar_rewrite_fn for a REGISTER: RFC 3261 §10.3 steps 6-8. */
static int update_fn(void *arg, const struct registrar_set *old, struct registrar_binding *out,
                     size_t room)
{
    const struct update_args *u = arg;
    (void)room; /* sized old + count, all bindings_merge can need */
    return bindings_merge(u->reg, old, u->changes, u->count, u->remove_all, u->call_id, u->cseq,
                          u->now_ms, out);
}

static int update_record(struct registrar *reg, const char *aor,
                         const struct registrar_change *changes, size_t count, bool remove_all,
                         const char *call_id, uint32_t cseq, uint64_t now_ms,
                         struct registrar_set **after)
{
    struct update_args u = {.reg = reg,
                            .changes = changes,
                            .count = count,
                            .remove_all = remove_all,
                            .call_id = call_id,
                            .cseq = cseq,
                            .now_ms = now_ms};
    /* a new record is charged to the source of the REGISTER that made it */
    const struct sb_addr *origin =
        count > 0 && !changes[0].remove ? &changes[0].binding.source : NULL;
    return rewrite_record(reg, aor, count, update_fn, &u, origin, now_ms, after);
}

int registrar_update(struct registrar *reg, const char *aor, const struct registrar_change *changes,
                     size_t count, bool remove_all, const char *call_id, uint32_t cseq,
                     uint64_t now_ms, struct registrar_set **after)
{
    int rc = update_record(reg, aor, changes, count, remove_all, call_id, cseq, now_ms, after);
    if (rc == 0 && reg->on_change && (count > 0 || remove_all))
        reg->on_change(reg->on_change_ctx, aor);
    return rc;
}

/* registrar_rewrite_fn for a restore: the given bindings, whatever was
 * there (rewrite_record drops the expired ones and checks the limit). */
struct restore_args {
    const struct registrar_binding *b;
    size_t count;
};

static int restore_fn(void *arg, const struct registrar_set *old, struct registrar_binding *out,
                      size_t room)
{
    const struct restore_args *r = arg;
    (void)old;
    (void)room; /* sized old + count */
    if (r->count)
        memcpy(out, r->b, r->count * sizeof(*out));
    return (int)r->count;
}

int registrar_restore(struct registrar *reg, const char *aor, const struct registrar_binding *b,
                      size_t count, uint64_t now_ms)
{
    struct restore_args r = {.b = b, .count = count};
    return rewrite_record(reg, aor, count, restore_fn, &r, NULL, now_ms, NULL);
}

int registrar_rewrite(struct registrar *reg, const char *aor, size_t extra, registrar_rewrite_fn fn,
                      void *arg, uint64_t now_ms)
{
    return rewrite_record(reg, aor, extra, fn, arg, NULL, now_ms, NULL);
}

void registrar_foreach_aor(struct registrar *reg, void (*fn)(void *arg, const char *aor), void *arg)
{
    struct cds_lfht_iter iter;
    struct reg_record *rec;
    rcu_read_lock();
    cds_lfht_for_each_entry(reg->table, &iter, rec, node)
    {
        tsan_observe(rec);
        fn(arg, rec->aor);
        tsan_rcu_read_done(rec);
    }
    rcu_read_unlock();
}

void registrar_foreach(struct registrar *reg, registrar_visit_fn fn, void *arg)
{
    struct cds_lfht_iter iter;
    struct reg_record *rec;
    rcu_read_lock();
    cds_lfht_for_each_entry(reg->table, &iter, rec, node)
    {
        tsan_observe(rec);
        fn(arg, rec->aor, rec->set->bindings, rec->set->count);
        tsan_rcu_read_done(rec);
    }
    rcu_read_unlock();
}

/* @aor's record, or NULL; call inside rcu_read_lock, and pair a found
 * record with tsan_rcu_read_done once done with it. */
static struct reg_record *record_find(struct registrar *reg, const char *aor)
{
    unsigned long hash = (unsigned long)sb_hash(aor, strlen(aor));
    struct cds_lfht_iter iter;
    cds_lfht_lookup(reg->table, hash, match_aor, aor, &iter);
    struct cds_lfht_node *node = cds_lfht_iter_get_node(&iter);
    if (!node)
        return NULL;
    struct reg_record *rec = caa_container_of(node, struct reg_record, node);
    tsan_observe(rec);
    return rec;
}

bool registrar_has_live(struct registrar *reg, const char *aor, uint64_t now_ms)
{
    bool live = false;
    rcu_read_lock();
    struct reg_record *rec = record_find(reg, aor);
    for (size_t i = 0; rec && i < rec->set->count && !live; i++)
        live = rec->set->bindings[i].expires_at_ms > now_ms;
    tsan_rcu_read_done(rec);
    rcu_read_unlock();
    return live;
}

int registrar_lookup(struct registrar *reg, const char *aor, uint64_t now_ms,
                     struct registrar_set **out)
{
    int rc = SB_ENOTFOUND;
    *out = NULL;
    rcu_read_lock();
    struct reg_record *rec = record_find(reg, aor);
    if (rec) {
        *out = set_snapshot(rec->set, now_ms);
        tsan_rcu_read_done(rec);
        rc = *out ? 0 : SB_ENOMEM;
        if (rc == 0 && (*out)->count == 0) {
            registrar_set_free(*out);
            *out = NULL;
            rc = SB_ENOTFOUND;
        }
    }
    rcu_read_unlock();
    return rc;
}

void registrar_set_free(struct registrar_set *set)
{
    free(set);
}

size_t registrar_expire(struct registrar *reg, uint64_t now_ms)
{
    struct cds_lfht_iter iter;
    struct reg_record *rec;
    size_t dropped = 0;
    rcu_read_lock();
    cds_lfht_for_each_entry(reg->table, &iter, rec, node)
    {
        tsan_observe(rec);
        size_t expired = 0;
        for (size_t i = 0; i < rec->set->count; i++)
            expired += rec->set->bindings[i].expires_at_ms <= now_ms;
        /* An update with no changes rewrites the record without its expired
         * bindings, racing safely with REGISTERs for the same AOR. */
        if (expired && update_record(reg, rec->aor, NULL, 0, false, NULL, 0, now_ms, NULL) == 0)
            dropped += expired;
        tsan_rcu_read_done(rec);
    }
    rcu_read_unlock();
    return dropped;
}

/* A binding of ours over WebSocket whose connection is gone: nothing can
 * reach it any more (RFC 7118 §5, its host is unresolvable). */
struct flow_check {
    registrar_alive_fn alive;
    void *ctx;
};

static bool flow_dead(const struct flow_check *f, const struct registrar_binding *b)
{
    return sb_transport_is_ws(b->transport) && !b->node && !(b->conn && f->alive(f->ctx, b->conn));
}

static int drop_flows_fn(void *arg, const struct registrar_set *old, struct registrar_binding *out,
                         size_t room)
{
    size_t n = 0;
    for (size_t i = 0; old && i < old->count && n < room; i++)
        if (!flow_dead(arg, &old->bindings[i]))
            out[n++] = old->bindings[i];
    return (int)n;
}

/* The names of the records holding a dead flow, copied. */
struct dead_list {
    char **aors;
    size_t count, cap;
};

static void dead_note(struct dead_list *d, const char *aor)
{
    if (d->count == d->cap) {
        size_t cap = d->cap ? d->cap * 2 : 16;
        char **grown = realloc(d->aors, cap * sizeof(*grown));
        if (!grown)
            return; /* the next sweep finds it again */
        d->aors = grown;
        d->cap = cap;
    }
    if ((d->aors[d->count] = strdup(aor)) != NULL)
        d->count++;
}

size_t registrar_drop_dead_flows(struct registrar *reg, registrar_alive_fn alive, void *ctx,
                                 uint64_t now_ms)
{
    struct flow_check f = {alive, ctx};
    struct dead_list d = {0};
    struct cds_lfht_iter iter;
    struct reg_record *rec;
    rcu_read_lock();
    cds_lfht_for_each_entry(reg->table, &iter, rec, node)
    {
        tsan_observe(rec);
        for (size_t i = 0; i < rec->set->count; i++) {
            if (flow_dead(&f, &rec->set->bindings[i])) {
                dead_note(&d, rec->aor);
                break;
            }
        }
        tsan_rcu_read_done(rec);
    }
    rcu_read_unlock();
    size_t dropped = 0;
    for (size_t i = 0; i < d.count; i++) {
        /* outside the read section: the hook may queue for the store */
        if (rewrite_record(reg, d.aors[i], 0, drop_flows_fn, &f, NULL, now_ms, NULL) == 0) {
            dropped++;
            if (reg->on_change)
                reg->on_change(reg->on_change_ctx, d.aors[i]);
        }
        free(d.aors[i]);
    }
    free(d.aors);
    return dropped;
}

size_t registrar_record_count(struct registrar *reg)
{
    return atomic_load(&reg->records);
}
