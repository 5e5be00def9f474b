/* Unit tests for src/store/store.c and src/store/store_sqlite.c: a binding survives a
 * round trip with every field, expired bindings are not loaded, changes are
 * written in bounded batches, an overflowing queue ends in a full resync,
 * removals reach the file, and a corrupt or unopenable file never stops
 * start-up. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <urcu.h>

#include "switchboard/dialplan.h"
#include "switchboard/error.h"
#include "switchboard/log.h"
#include "switchboard/registrar.h"
#include "switchboard/sip_msg.h"
#include "switchboard/store.h"
#include "switchboard/store_sqlite.h"
#include "switchboard/types.h"

static char dir[64];
static char path[128];
static struct registrar *reg;

static void setup(void)
{
    rcu_register_thread();
    sb_log_set_level(SB_LOG_ERROR);
    snprintf(dir, sizeof(dir), "/tmp/sb-store-XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/reg.db", dir);
    struct registrar_limits limits = {.max_bindings = 8};
    cr_assert_eq(registrar_create(&limits, &reg), 0);
}

static void teardown(void)
{
    registrar_destroy(reg);
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    cr_assert_eq(system(cmd), 0);
    rcu_unregister_thread();
}

TestSuite(store, .init = setup, .fini = teardown, .timeout = 60);

static struct registrar_binding sample(const char *uri, uint64_t expires_at_ms)
{
    struct registrar_binding b = {0};
    b.contact = uri;
    b.uri = uri;
    b.expires_at_ms = expires_at_ms;
    b.q = 1000;
    sipmsg_host_to_addr("192.0.2.7", 40000, &b.source);
    sipmsg_host_to_addr("192.0.2.1", 5060, &b.local.addr);
    return b;
}

static int register_one(const char *aor, const char *uri, unsigned seconds)
{
    struct registrar_change c = {.binding = sample(uri, sb_now_ms() + seconds * 1000ull)};
    return registrar_update(reg, aor, &c, 1, false, "call-1", 1, sb_now_ms(), NULL);
}

static int count_rows(const char *where)
{
    sqlite3 *db;
    sqlite3_stmt *st;
    char sql[256];
    snprintf(sql, sizeof(sql), "SELECT count(*) FROM bindings %s", where);
    cr_assert_eq(sqlite3_open(path, &db), SQLITE_OK);
    cr_assert_eq(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
    cr_assert_eq(sqlite3_step(st), SQLITE_ROW);
    int n = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return n;
}

struct loaded {
    size_t aors, bindings;
    char aor[64];
    struct registrar_binding first;
    char contact[128], instance[64], call_id[64], ua[64];
};

static int collect(void *arg, const char *aor, struct registrar_binding *b, size_t count)
{
    struct loaded *l = arg;
    if (l->aors++ == 0) {
        snprintf(l->aor, sizeof(l->aor), "%s", aor);
        l->first = b[0];
        snprintf(l->contact, sizeof(l->contact), "%s", b[0].contact);
        snprintf(l->instance, sizeof(l->instance), "%s", b[0].instance ? b[0].instance : "");
        snprintf(l->call_id, sizeof(l->call_id), "%s", b[0].call_id);
        snprintf(l->ua, sizeof(l->ua), "%s", b[0].user_agent ? b[0].user_agent : "");
    }
    l->bindings += count;
    return 0;
}

Test(store, binding_round_trip_keeps_every_field)
{
    struct store_backend be;
    cr_assert_eq(store_sqlite_open(path, &be), 0);
    struct registrar_change c = {.binding = sample("sip:alice@192.0.2.7:5062", 100000)};
    c.binding.contact = "<sip:alice@192.0.2.7:5062>;+sip.instance=\"<urn:uuid:1>\"";
    c.binding.instance = "\"<urn:uuid:1>\"";
    c.binding.user_agent = "Linphone/5.1";
    c.binding.q = 500;
    c.binding.use_source = true;
    c.binding.local.listen_index = 2;
    cr_assert_eq(registrar_update(reg, "alice", &c, 1, false, "cid-9", 42, 1000, NULL), 0);
    struct registrar_set *set;
    cr_assert_eq(registrar_lookup(reg, "alice", 1000, &set), 0);
    cr_assert_eq(be.ops->begin(be.be), 0);
    cr_assert_eq(be.ops->put(be.be, "alice", set, 1700000000000), 0);
    cr_assert_eq(be.ops->commit(be.be), 0);
    registrar_set_free(set);
    be.ops->close(be.be);

    cr_assert_eq(store_sqlite_open(path, &be), 0);
    struct loaded l = {0};
    cr_assert_eq(be.ops->load(be.be, 1700000000000, collect, &l), 0);
    be.ops->close(be.be);
    cr_assert_eq(l.aors, 1);
    cr_assert_str_eq(l.aor, "alice");
    cr_assert_str_eq(l.contact, c.binding.contact);
    cr_assert_str_eq(l.instance, "\"<urn:uuid:1>\"");
    cr_assert_str_eq(l.call_id, "cid-9");
    cr_assert_str_eq(l.ua, "Linphone/5.1");
    cr_assert_eq(l.first.cseq, 42);
    cr_assert_eq(l.first.q, 500);
    cr_assert(l.first.use_source);
    cr_assert_eq(l.first.expires_at_ms, 1700000000000 + 100000, "wall-clock expiry");
    cr_assert_eq(l.first.local.listen_index, 2);
    char text[64];
    sipmsg_addr_format(&l.first.source, text, sizeof(text));
    cr_assert_str_eq(text, "192.0.2.7:40000");
    sipmsg_addr_format(&l.first.local.addr, text, sizeof(text));
    cr_assert_str_eq(text, "192.0.2.1:5060");
}

Test(store, expired_bindings_are_not_loaded)
{
    struct store_backend be;
    cr_assert_eq(store_sqlite_open(path, &be), 0);
    struct registrar_change c[2] = {{.binding = sample("sip:bob@192.0.2.7", 5000)},
                                    {.binding = sample("sip:bob@192.0.2.8", 50000)}};
    cr_assert_eq(registrar_update(reg, "bob", c, 2, false, "cid", 1, 0, NULL), 0);
    struct registrar_set *set;
    cr_assert_eq(registrar_lookup(reg, "bob", 0, &set), 0);
    cr_assert_eq(be.ops->begin(be.be), 0);
    cr_assert_eq(be.ops->put(be.be, "bob", set, 0), 0);
    cr_assert_eq(be.ops->commit(be.be), 0);
    registrar_set_free(set);
    struct loaded l = {0};
    cr_assert_eq(be.ops->load(be.be, 10000, collect, &l), 0);
    cr_assert_eq(l.bindings, 1, "the binding that expired at 5000 stays out");
    cr_assert_str_eq(l.contact, "sip:bob@192.0.2.8");
    cr_assert_eq(be.ops->begin(be.be), 0);
    cr_assert_eq(be.ops->purge(be.be, 10000), 0);
    cr_assert_eq(be.ops->commit(be.be), 0);
    be.ops->close(be.be);
    cr_assert_eq(count_rows(""), 1, "purge removed the expired row");
}

/* 10 000 users through the persister: every one is in the file after a
 * clean stop, written in batches of at most 4096, and a restart loads them
 * back with their remaining time. */
Test(store, changes_reach_the_file_in_bounded_batches)
{
    struct store_options o = {.spec = path, .queue_limit = 65536};
    struct store *s;
    cr_assert_eq(store_start(&o, reg, NULL, NULL, &s), 0);
    char aor[32], uri[64];
    for (int i = 0; i < 10000; i++) {
        snprintf(aor, sizeof(aor), "u%05d", i);
        snprintf(uri, sizeof(uri), "sip:%s@192.0.2.%d:5060", aor, i % 250 + 1);
        cr_assert_eq(register_one(aor, uri, 600), 0);
    }
    store_stop(s);
    cr_assert_eq(count_rows(""), 10000);
    registrar_destroy(reg);
    struct registrar_limits limits = {.max_bindings = 8};
    cr_assert_eq(registrar_create(&limits, &reg), 0);
    cr_assert_eq(store_start(&o, reg, NULL, NULL, &s), 0);
    cr_assert_eq(registrar_record_count(reg), 10000, "all users back after a restart");
    struct registrar_set *set;
    cr_assert_eq(registrar_lookup(reg, "u04711", sb_now_ms(), &set), 0);
    uint64_t left = set->bindings[0].expires_at_ms - sb_now_ms();
    cr_assert(left > 590000 && left <= 600000, "remaining time %llu ms", (unsigned long long)left);
    registrar_set_free(set);
    store_stop(s);
}

Test(store, batches_hold_at_most_4096_changes)
{
    struct store_options o = {.spec = path, .queue_limit = 65536};
    struct store *s;
    cr_assert_eq(store_start(&o, reg, NULL, NULL, &s), 0);
    /* notes queued faster than they are written still end in batches */
    for (int i = 0; i < 9000; i++) {
        char aor[32];
        snprintf(aor, sizeof(aor), "b%05d", i);
        cr_assert_eq(register_one(aor, "sip:x@192.0.2.1", 600), 0);
    }
    /* the persister may still be writing: wait for all 9000 */
    struct store_counters c;
    for (int i = 0; i < 500; i++) {
        store_counters(s, &c);
        if (c.written == 9000)
            break;
        usleep(10000);
    }
    cr_assert_eq(c.written, 9000,
                 "written %llu, batches %llu, failures %llu, resyncs %llu, overflows %llu",
                 (unsigned long long)c.written, (unsigned long long)c.batches,
                 (unsigned long long)c.failures, (unsigned long long)c.resyncs,
                 (unsigned long long)c.overflows);
    cr_assert_leq(c.largest, 4096, "largest batch %llu", (unsigned long long)c.largest);
    cr_assert_geq(c.batches, 3);
    store_stop(s);
    cr_assert_eq(count_rows(""), 9000);
    /* a second run starts from the file: one more change, one more row */
    cr_assert_eq(store_start(&o, reg, NULL, NULL, &s), 0);
    cr_assert_eq(register_one("late", "sip:late@192.0.2.1", 600), 0);
    store_stop(s);
    cr_assert_eq(count_rows(""), 9001);
}

Test(store, a_full_queue_ends_in_a_resync)
{
    struct store_options o = {.spec = path, .queue_limit = 16};
    struct store *s;
    cr_assert_eq(store_start(&o, reg, NULL, NULL, &s), 0);
    char aor[32];
    for (int i = 0; i < 3000; i++) {
        snprintf(aor, sizeof(aor), "o%05d", i);
        cr_assert_eq(register_one(aor, "sip:x@192.0.2.1", 600), 0);
    }
    struct store_counters c;
    store_counters(s, &c);
    cr_assert_gt(c.overflows, 0, "the tiny queue overflowed");
    store_stop(s);
    cr_assert_eq(count_rows(""), 3000, "the resync wrote what the queue dropped");
}

Test(store, removal_reaches_the_file)
{
    struct store_options o = {.spec = path};
    struct store *s;
    cr_assert_eq(store_start(&o, reg, NULL, NULL, &s), 0);
    cr_assert_eq(register_one("carol", "sip:carol@192.0.2.3", 600), 0);
    cr_assert_eq(register_one("dave", "sip:dave@192.0.2.4", 600), 0);
    cr_assert_eq(registrar_update(reg, "carol", NULL, 0, true, "call-1", 2, sb_now_ms(), NULL), 0);
    store_stop(s);
    cr_assert_eq(count_rows("WHERE aor = 'carol'"), 0);
    cr_assert_eq(count_rows("WHERE aor = 'dave'"), 1);
}

static bool aside_exists(void)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    bool found = false;
    while ((e = readdir(d)) != NULL)
        found |= strncmp(e->d_name, "reg.db.corrupt-", 15) == 0;
    closedir(d);
    return found;
}

Test(store, a_corrupt_file_is_moved_aside)
{
    FILE *f = fopen(path, "w");
    for (int i = 0; i < 8192; i++)
        fputc((i * 7919) & 0xff, f);
    fclose(f);
    struct store_options o = {.spec = path};
    struct store *s;
    cr_assert_eq(store_start(&o, reg, NULL, NULL, &s), 0);
    cr_assert(aside_exists());
    cr_assert_eq(register_one("erin", "sip:erin@192.0.2.5", 600), 0);
    store_stop(s);
    cr_assert_eq(count_rows(""), 1, "the new file works");
}

Test(store, an_unopenable_store_does_not_stop_start_up)
{
    struct store_options o = {.spec = "/nonexistent-dir/sb/reg.db", .retry_ms = 50};
    struct store *s;
    cr_assert_eq(store_start(&o, reg, NULL, NULL, &s), 0);
    cr_assert_eq(register_one("frank", "sip:frank@192.0.2.6", 600), 0);
    usleep(200000);
    struct store_counters c;
    store_counters(s, &c);
    cr_assert_not(c.healthy);
    cr_assert_gt(c.failures, 0);
    struct registrar_set *set;
    cr_assert_eq(registrar_lookup(reg, "frank", sb_now_ms(), &set), 0, "served from memory");
    registrar_set_free(set);
    store_stop(s);
}

/* The run-time DND list is kept whole however long: 1500 users (some 12
 * KiB, three times the buffer it once had) written by a note, rewritten
 * by a resync from the holder's list, and read back at the next start,
 * not one name cut short or split. */
static char *long_dnd_list(void *ctx)
{
    struct dialplan_holder *h = ctx;
    return dialplan_holder_dnd_list(h);
}

Test(store, a_long_dnd_list_comes_back_whole)
{
    struct dialplan_holder *h;
    cr_assert_eq(dialplan_holder_create(NULL, &h), 0);
    char user[32];
    for (int i = 0; i < 1500; i++) {
        snprintf(user, sizeof(user), "user-%05d", i);
        cr_assert_eq(dialplan_holder_set_dnd(h, user, true), 0);
    }
    char *list = dialplan_holder_dnd_list(h);
    cr_assert_not_null(list);
    cr_assert_gt(strlen(list), 12 * 1024 - 1);
    char *kept = NULL;
    struct store_options o = {.spec = path,
                              .queue_limit = 65536,
                              .meta_key = "dnd",
                              .meta_out = &kept,
                              .meta_now = long_dnd_list,
                              .meta_ctx = h};
    struct store *s;
    cr_assert_eq(store_start(&o, reg, NULL, NULL, &s), 0);
    cr_assert_null(kept, "nothing kept yet");
    store_note_meta(s, "dnd", list);
    store_stop(s);
    cr_assert_eq(store_start(&o, reg, NULL, NULL, &s), 0);
    cr_assert_not_null(kept);
    cr_assert_str_eq(kept, list);
    store_stop(s);
    free(kept);
    kept = NULL;
    struct dialplan_holder *back;
    cr_assert_eq(dialplan_holder_create(NULL, &back), 0);
    cr_assert_eq(dialplan_holder_load_dnd(back, list), 0);
    cr_assert(dialplan_holder_dnd(back, "user-00000") && dialplan_holder_dnd(back, "user-01499"));
    cr_assert_not(dialplan_holder_dnd(back, "user-0149"), "no name cut short");
    dialplan_holder_destroy(back);
    dialplan_holder_destroy(h);
    free(list);
}

/* Documents (store.h: DOCUMENTS) come back at the next start with their
 * expiry, per kind; a removal and an expiry are kept too, and what was
 * taken is not handed out twice. */
static const struct store_doc_kind kinds[2] = {{.name = "presence", .shared = true},
                                               {.name = "subscription", .shared = false}};

struct taken {
    char keys[8][64], values[8][64];
    uint64_t expires[8];
    int n;
};

static int take_one(void *arg, const char *key, const char *value, uint64_t expires_ms)
{
    struct taken *t = arg;
    cr_assert_lt(t->n, 8);
    snprintf(t->keys[t->n], 64, "%s", key);
    snprintf(t->values[t->n], 64, "%s", value ? value : "(none)");
    t->expires[t->n++] = expires_ms;
    return 0;
}

Test(store, documents_come_back_at_the_next_start)
{
    struct store_options o = {.spec = path, .queue_limit = 64, .docs = kinds, .doc_count = 2};
    struct store *s;
    uint64_t later = (uint64_t)((int64_t)sb_now_ms() + store_wall_offset_ms()) + 600000;
    cr_assert_eq(store_start(&o, reg, NULL, NULL, &s), 0);
    store_note_doc(s, 0, "bob sb1", "d5:basici1ee", later);
    store_note_doc(s, 0, "bob sb2", "gone soon", later);
    store_note_doc(s, 0, "bob sb2", NULL, 0);
    store_note_doc(s, 0, "carol sb3", "expired", 1000);
    store_note_doc(s, 1, "cid;tag", "a subscription", later + 1);
    store_note_doc(s, 7, "no such kind", "dropped", later);
    store_stop(s);
    sqlite3 *db;
    sqlite3_stmt *st;
    cr_assert_eq(sqlite3_open(path, &db), SQLITE_OK);
    cr_assert_eq(sqlite3_prepare_v2(db, "SELECT count(*) FROM docs", -1, &st, NULL), SQLITE_OK);
    cr_assert_eq(sqlite3_step(st), SQLITE_ROW);
    cr_assert_eq(sqlite3_column_int(st, 0), 3, "the removed one is gone from the file");
    sqlite3_finalize(st);
    sqlite3_close(db);
    cr_assert_eq(store_start(&o, reg, NULL, NULL, &s), 0);
    struct taken p = {0}, sub = {0}, again = {0};
    store_docs_take(s, 0, take_one, &p);
    store_docs_take(s, 1, take_one, &sub);
    store_docs_take(s, 0, take_one, &again);
    cr_assert_eq(p.n, 1, "one live presence document, not the removed or the expired");
    cr_assert_str_eq(p.keys[0], "bob sb1");
    cr_assert_str_eq(p.values[0], "d5:basici1ee");
    cr_assert_eq(p.expires[0], later);
    cr_assert_eq(sub.n, 1);
    cr_assert_str_eq(sub.keys[0], "cid;tag");
    cr_assert_eq(sub.expires[0], later + 1);
    cr_assert_eq(again.n, 0, "taken once");
    store_stop(s);
}

/* A resync (the queue overflowed) rewrites a kind that has a source from
 * what the source says now, inside its transaction: a document noted
 * before and no longer there is gone, one whose note was dropped is
 * written; and the epoch moves, for the owners of the other kinds. */
static int presence_source(void *arg, store_doc_fn emit, void *emit_arg)
{
    const uint64_t *later = arg;
    return emit(emit_arg, "bob sbnow", "d5:basici1ee", *later);
}

Test(store, a_resync_rewrites_documents_from_their_source)
{
    struct store_options o = {.spec = path, .queue_limit = 16, .docs = kinds, .doc_count = 2};
    struct store *s;
    uint64_t later = (uint64_t)((int64_t)sb_now_ms() + store_wall_offset_ms()) + 600000;
    cr_assert_eq(store_start(&o, reg, NULL, NULL, &s), 0);
    store_docs_source(s, 0, presence_source, &later);
    store_note_doc(s, 0, "bob sbstale", "d5:basici2ee", later);
    struct store_counters c = {0};
    for (int i = 0; i < 400 && c.batches == 0; i++) { /* until it is in the file */
        struct timespec ts = {.tv_nsec = 5 * 1000000L};
        nanosleep(&ts, NULL);
        store_counters(s, &c);
    }
    cr_assert_eq(c.batches, 1);
    cr_assert_eq(store_docs_epoch(s), 0, "no resync yet");
    char key[32];
    for (int i = 0; i < 3000; i++) {
        snprintf(key, sizeof(key), "cid%d;t", i);
        store_note_doc(s, 1, key, "a subscription", later);
    }
    for (int i = 0; i < 400 && store_docs_epoch(s) == 0; i++) {
        struct timespec ts = {.tv_nsec = 5 * 1000000L};
        nanosleep(&ts, NULL);
    }
    store_counters(s, &c);
    cr_assert_gt(c.overflows, 0, "the tiny queue overflowed");
    cr_assert_gt(store_docs_epoch(s), 0, "the epoch moved with the resync");
    store_stop(s);
    cr_assert_eq(store_start(&o, reg, NULL, NULL, &s), 0);
    struct taken p = {0};
    store_docs_take(s, 0, take_one, &p);
    cr_assert_eq(p.n, 1, "only what the source has now");
    cr_assert_str_eq(p.keys[0], "bob sbnow");
    store_stop(s);
}
