/* The SQLite registration store backend (see store.h): one table of
 * bindings, WAL journal, prepared statements, one transaction per batch.
 *
 * Durability: WAL with synchronous=NORMAL. A committed batch is in the WAL
 * file (the kernel's page cache) the moment COMMIT returns, so killing the
 * process loses nothing committed; only a power loss can lose the batches
 * since the last checkpoint's fsync. The file is only ever touched by one
 * thread at a time (main while loading, then the persister). */
#include "switchboard/store_sqlite.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sqlite3.h>

#include "switchboard/error.h"
#include "switchboard/log.h"
#include "switchboard/registrar.h"
#include "switchboard/sip_msg.h"

#define SCHEMA_VERSION 3       /* 3: documents */
#define LOAD_MAX_BINDINGS 1024 /* per AoR, whatever max_bindings was then */

static const char schema[] =
    "CREATE TABLE IF NOT EXISTS bindings ("
    " aor TEXT NOT NULL,"
    " slot INTEGER NOT NULL,"
    " contact TEXT NOT NULL,"
    " uri TEXT NOT NULL,"
    " instance TEXT,"
    " call_id TEXT NOT NULL,"
    " cseq INTEGER NOT NULL,"
    " user_agent TEXT,"
    " expires_ms INTEGER NOT NULL," /* Unix time, ms */
    " q INTEGER NOT NULL,"
    " nat INTEGER NOT NULL,"                 /* 1: reached at its source address */
    " source TEXT NOT NULL,"                 /* where the REGISTER came from, ip:port */
    " local TEXT NOT NULL,"                  /* our address it came in on, ip:port */
    " listen INTEGER NOT NULL,"              /* our listen index then */
    " transport INTEGER NOT NULL DEFAULT 0," /* 0 UDP, 1 TCP, 2 TLS */
    " PRIMARY KEY (aor, slot)) WITHOUT ROWID;"
    "CREATE INDEX IF NOT EXISTS bindings_expiry ON bindings (expires_ms);"
    "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value BLOB NOT NULL);"
    "CREATE TABLE IF NOT EXISTS docs ("
    " kind TEXT NOT NULL,"
    " key TEXT NOT NULL,"
    " value TEXT NOT NULL,"
    " expires_ms INTEGER NOT NULL," /* Unix time, ms */
    " PRIMARY KEY (kind, key)) WITHOUT ROWID;";

enum stmt {
    ST_DELETE,
    ST_INSERT,
    ST_PURGE,
    ST_CLEAR,
    ST_BEGIN,
    ST_COMMIT,
    ST_ROLLBACK,
    ST_META_GET,
    ST_META_PUT,
    ST_DOC_LOAD,
    ST_DOC_GET,
    ST_DOC_PUT,
    ST_DOC_DELETE,
    ST_DOC_PURGE,
    ST_DOC_CLEAR,
    ST_COUNT
};

static const char *const stmt_sql[ST_COUNT] = {
    [ST_DELETE] = "DELETE FROM bindings WHERE aor = ?1",
    [ST_INSERT] = "INSERT INTO bindings (aor, slot, contact, uri, instance, call_id, cseq,"
                  " user_agent, expires_ms, q, nat, source, local, listen, transport)"
                  " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)",
    [ST_PURGE] = "DELETE FROM bindings WHERE expires_ms <= ?1",
    [ST_CLEAR] = "DELETE FROM bindings",
    [ST_BEGIN] = "BEGIN IMMEDIATE",
    [ST_COMMIT] = "COMMIT",
    [ST_ROLLBACK] = "ROLLBACK",
    [ST_META_GET] = "SELECT value FROM meta WHERE key = ?1",
    [ST_META_PUT] = "INSERT OR REPLACE INTO meta (key, value) VALUES (?1, ?2)",
    [ST_DOC_LOAD] = "SELECT key, value, expires_ms FROM docs WHERE kind = ?1 AND expires_ms > ?2",
    [ST_DOC_GET] = "SELECT key, value, expires_ms FROM docs WHERE kind = ?1 AND key = ?2"
                   " AND expires_ms > ?3",
    [ST_DOC_PUT] = "INSERT OR REPLACE INTO docs (kind, key, value, expires_ms)"
                   " VALUES (?1, ?2, ?3, ?4)",
    [ST_DOC_DELETE] = "DELETE FROM docs WHERE kind = ?1 AND key = ?2",
    [ST_DOC_PURGE] = "DELETE FROM docs WHERE expires_ms <= ?1",
    [ST_DOC_CLEAR] = "DELETE FROM docs WHERE kind = ?1",
};

struct sqlite_store {
    sqlite3 *db;
    char *path;
    sqlite3_stmt *stmts[ST_COUNT];
};

/* Maps SQLite's result codes onto ours, logging what the file said. */
static int fail(struct sqlite_store *s, const char *what, int rc)
{
    SB_DEBUG("store %s: %s: %s", s->path, what, s->db ? sqlite3_errmsg(s->db) : sqlite3_errstr(rc));
    switch (rc & 0xff) {
    case SQLITE_NOMEM:
        return SB_ENOMEM;
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
        return SB_EMALFORMED;
    default:
        return SB_ESYS;
    }
}

static int run(struct sqlite_store *s, enum stmt id)
{
    sqlite3_stmt *st = s->stmts[id];
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return rc == SQLITE_DONE || rc == SQLITE_ROW ? 0 : fail(s, stmt_sql[id], rc);
}

static void close_db(struct sqlite_store *s)
{
    for (int i = 0; i < ST_COUNT; i++) {
        sqlite3_finalize(s->stmts[i]);
        s->stmts[i] = NULL;
    }
    sqlite3_close(s->db);
    s->db = NULL;
}

static int quick_check(struct sqlite_store *s)
{
    sqlite3_stmt *st;
    int rc = sqlite3_prepare_v2(s->db, "PRAGMA quick_check", -1, &st, NULL);
    if (rc != SQLITE_OK)
        return fail(s, "quick_check", rc);
    rc = sqlite3_step(st);
    bool ok = rc == SQLITE_ROW && !strcmp((const char *)sqlite3_column_text(st, 0), "ok");
    int code = ok ? 0 : (rc == SQLITE_ROW ? SB_EMALFORMED : fail(s, "quick_check", rc));
    sqlite3_finalize(st);
    return code;
}

static int user_version(struct sqlite_store *s, int *version)
{
    sqlite3_stmt *st;
    int rc = sqlite3_prepare_v2(s->db, "PRAGMA user_version", -1, &st, NULL);
    if (rc != SQLITE_OK)
        return fail(s, "user_version", rc);
    rc = sqlite3_step(st);
    *version = rc == SQLITE_ROW ? sqlite3_column_int(st, 0) : 0;
    sqlite3_finalize(st);
    return rc == SQLITE_ROW ? 0 : fail(s, "user_version", rc);
}

/* Opens the file and makes it ours: WAL, schema, statements. */
static int open_db(struct sqlite_store *s)
{
    int rc = sqlite3_open_v2(
        s->path, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK)
        return fail(s, "open", rc);
    sqlite3_busy_timeout(s->db, 1000);
    int version = 0;
    int code = quick_check(s);
    if (code == 0)
        code = user_version(s, &version);
    if (code == 0 && version > SCHEMA_VERSION) {
        SB_ERROR("store %s: schema version %d is newer than this switchboard's (%d)", s->path,
                 version, SCHEMA_VERSION);
        return SB_EMALFORMED;
    }
    char *err = NULL;
    if (code == 0) {
        rc = sqlite3_exec(s->db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;", NULL, NULL,
                          &err);
        if (rc == SQLITE_OK)
            rc = sqlite3_exec(s->db, schema, NULL, NULL, &err);
        /* version 1 knew only UDP: its bindings are UDP ones */
        if (rc == SQLITE_OK && version == 1)
            rc = sqlite3_exec(s->db,
                              "ALTER TABLE bindings ADD COLUMN transport INTEGER NOT NULL "
                              "DEFAULT 0;",
                              NULL, NULL, &err);
        if (rc == SQLITE_OK)
            rc = sqlite3_exec(s->db, "PRAGMA user_version=3;", NULL, NULL, &err);
        sqlite3_free(err);
        code = rc == SQLITE_OK ? 0 : fail(s, "schema", rc);
    }
    for (int i = 0; code == 0 && i < ST_COUNT; i++) {
        rc = sqlite3_prepare_v3(s->db, stmt_sql[i], -1, SQLITE_PREPARE_PERSISTENT, &s->stmts[i],
                                NULL);
        if (rc != SQLITE_OK)
            code = fail(s, stmt_sql[i], rc);
    }
    return code;
}

/* Moves a corrupt store (and its WAL and shared-memory files) aside. */
static void move_aside(const char *path)
{
    char stamp[32], to[4200], from[4200];
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(stamp, sizeof(stamp), "%Y%m%dT%H%M%SZ", &tm);
    static const char *const suffixes[] = {"", "-wal", "-shm"};
    for (size_t i = 0; i < 3; i++) {
        snprintf(from, sizeof(from), "%s%s", path, suffixes[i]);
        snprintf(to, sizeof(to), "%s.corrupt-%s%s", path, stamp, suffixes[i]);
        if (rename(from, to) == 0 && i == 0)
            SB_ERROR("store %s is unreadable or corrupt: moved aside to %s; starting empty", path,
                     to);
    }
}

static void sqlite_close(void *be)
{
    struct sqlite_store *s = be;
    close_db(s);
    free(s->path);
    free(s);
}

static int sqlite_begin(void *be)
{
    return run(be, ST_BEGIN);
}

static int sqlite_commit(void *be)
{
    return run(be, ST_COMMIT);
}

static void sqlite_rollback(void *be)
{
    struct sqlite_store *s = be;
    if (!sqlite3_get_autocommit(s->db))
        run(s, ST_ROLLBACK);
}

static int sqlite_clear(void *be)
{
    return run(be, ST_CLEAR);
}

static int sqlite_purge(void *be, uint64_t now_wall_ms)
{
    struct sqlite_store *s = be;
    sqlite3_bind_int64(s->stmts[ST_PURGE], 1, (sqlite3_int64)now_wall_ms);
    int rc = run(s, ST_PURGE);
    sqlite3_bind_int64(s->stmts[ST_DOC_PURGE], 1, (sqlite3_int64)now_wall_ms);
    return rc == 0 ? run(s, ST_DOC_PURGE) : rc;
}

/* --- documents (store.h: DOCUMENTS; one node: every kind is ours) --- */

/* Steps @st (bound), handing each row to @fn. */
static int each_doc(struct sqlite_store *s, enum stmt id, store_doc_fn fn, void *arg, bool *found)
{
    sqlite3_stmt *st = s->stmts[id];
    int rc, code = 0;
    while (code == 0 && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *key = (const char *)sqlite3_column_text(st, 0);
        const char *value = (const char *)sqlite3_column_text(st, 1);
        if (!key || !value)
            continue;
        *found = true;
        code = fn(arg, key, value, (uint64_t)sqlite3_column_int64(st, 2));
    }
    if (code == 0 && rc != SQLITE_DONE)
        code = fail(s, stmt_sql[id], rc);
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return code;
}

static int sqlite_load_docs(void *be, const struct store_doc_kind *kind, uint64_t now_wall_ms,
                            store_doc_fn fn, void *arg)
{
    struct sqlite_store *s = be;
    bool found = false;
    sqlite3_bind_text(s->stmts[ST_DOC_LOAD], 1, kind->name, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s->stmts[ST_DOC_LOAD], 2, (sqlite3_int64)now_wall_ms);
    return each_doc(s, ST_DOC_LOAD, fn, arg, &found);
}

static int sqlite_read_doc(void *be, const struct store_doc_kind *kind, const char *key,
                           uint64_t now_wall_ms, store_doc_fn fn, void *arg)
{
    struct sqlite_store *s = be;
    bool found = false;
    sqlite3_bind_text(s->stmts[ST_DOC_GET], 1, kind->name, -1, SQLITE_STATIC);
    sqlite3_bind_text(s->stmts[ST_DOC_GET], 2, key, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s->stmts[ST_DOC_GET], 3, (sqlite3_int64)now_wall_ms);
    int rc = each_doc(s, ST_DOC_GET, fn, arg, &found);
    return rc == 0 && !found ? fn(arg, key, NULL, 0) : rc;
}

static int sqlite_put_doc(void *be, const struct store_doc_kind *kind, const char *key,
                          const char *value, uint64_t expires_wall_ms)
{
    struct sqlite_store *s = be;
    enum stmt id = value ? ST_DOC_PUT : ST_DOC_DELETE;
    sqlite3_stmt *st = s->stmts[id];
    sqlite3_bind_text(st, 1, kind->name, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, key, -1, SQLITE_STATIC);
    if (value) {
        sqlite3_bind_text(st, 3, value, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 4, (sqlite3_int64)expires_wall_ms);
    }
    return run(s, id);
}

static long sqlite_get_meta(void *be, const char *key, void *buf, size_t size)
{
    struct sqlite_store *s = be;
    sqlite3_stmt *st = s->stmts[ST_META_GET];
    sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    long n = SB_ENOTFOUND;
    if (rc == SQLITE_ROW) {
        int len = sqlite3_column_bytes(st, 0);
        n = (size_t)len <= size ? len : SB_ERANGE;
        if (n > 0)
            memcpy(buf, sqlite3_column_blob(st, 0), (size_t)n);
    } else if (rc != SQLITE_DONE) {
        n = fail(s, "meta", rc);
    }
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return n;
}

static int sqlite_put_meta(void *be, const char *key, const void *value, size_t len)
{
    struct sqlite_store *s = be;
    sqlite3_bind_text(s->stmts[ST_META_PUT], 1, key, -1, SQLITE_STATIC);
    sqlite3_bind_blob(s->stmts[ST_META_PUT], 2, value, (int)len, SQLITE_STATIC);
    return run(s, ST_META_PUT);
}

static int insert_binding(struct sqlite_store *s, const char *aor, int slot,
                          const struct registrar_binding *b, int64_t wall_offset_ms)
{
    sqlite3_stmt *st = s->stmts[ST_INSERT];
    char source[64], local[64];
    sipmsg_addr_format(&b->source, source, sizeof(source));
    sipmsg_addr_format(&b->local.addr, local, sizeof(local));
    sqlite3_bind_text(st, 1, aor, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 2, slot);
    sqlite3_bind_text(st, 3, b->contact, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, b->uri, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 5, b->instance, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 6, b->call_id ? b->call_id : "", -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 7, b->cseq);
    sqlite3_bind_text(st, 8, b->user_agent, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 9, (sqlite3_int64)b->expires_at_ms + wall_offset_ms);
    sqlite3_bind_int(st, 10, (int)b->q);
    sqlite3_bind_int(st, 11, b->use_source);
    sqlite3_bind_text(st, 12, source, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 13, local, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int(st, 14, (int)b->local.listen_index);
    sqlite3_bind_int(st, 15, b->transport);
    return run(s, ST_INSERT);
}

static int sqlite_put(void *be, const char *aor, const struct registrar_set *set,
                      int64_t wall_offset_ms)
{
    struct sqlite_store *s = be;
    sqlite3_bind_text(s->stmts[ST_DELETE], 1, aor, -1, SQLITE_STATIC);
    int rc = run(s, ST_DELETE);
    for (size_t i = 0; rc == 0 && set && i < set->count; i++)
        rc = insert_binding(s, aor, (int)i, &set->bindings[i], wall_offset_ms);
    return rc;
}

/* Rows of one AoR being loaded; strings copied, as SQLite's go at the next
 * step. */
struct load_group {
    char *aor;
    size_t count;
    struct registrar_binding b[LOAD_MAX_BINDINGS];
};

static char *column_dup(sqlite3_stmt *st, int col)
{
    const unsigned char *text = sqlite3_column_text(st, col);
    return text ? strdup((const char *)text) : NULL;
}

static void group_clear(struct load_group *g)
{
    for (size_t i = 0; i < g->count; i++) {
        free((char *)g->b[i].contact);
        free((char *)g->b[i].uri);
        free((char *)g->b[i].instance);
        free((char *)g->b[i].call_id);
        free((char *)g->b[i].user_agent);
    }
    free(g->aor);
    g->aor = NULL;
    g->count = 0;
}

static int group_flush(struct load_group *g, store_load_fn fn, void *arg)
{
    int rc = g->count ? fn(arg, g->aor, g->b, g->count) : 0;
    group_clear(g);
    return rc;
}

/* Reads one row into the group; a row whose strings are missing or whose
 * addresses do not parse is skipped (returns false). */
static bool group_add(struct load_group *g, sqlite3_stmt *st)
{
    if (g->count == LOAD_MAX_BINDINGS)
        return false;
    struct registrar_binding *b = &g->b[g->count];
    memset(b, 0, sizeof(*b));
    b->contact = column_dup(st, 2);
    b->uri = column_dup(st, 3);
    b->instance = column_dup(st, 4);
    b->call_id = column_dup(st, 5);
    b->cseq = (uint32_t)sqlite3_column_int64(st, 6);
    b->user_agent = column_dup(st, 7);
    b->expires_at_ms = (uint64_t)sqlite3_column_int64(st, 8);
    b->q = (unsigned)sqlite3_column_int(st, 9);
    b->use_source = sqlite3_column_int(st, 10) != 0;
    b->local.listen_index = (unsigned)sqlite3_column_int(st, 13);
    /* the connection a binding came over died with the old process */
    b->transport = (uint8_t)sqlite3_column_int(st, 14);
    const char *source = (const char *)sqlite3_column_text(st, 11);
    const char *local = (const char *)sqlite3_column_text(st, 12);
    g->count++;
    if (!b->contact || !b->uri || !b->call_id || !source || !local ||
        sipmsg_addr_parse(source, &b->source) != 0 ||
        sipmsg_addr_parse(local, &b->local.addr) != 0) {
        g->count--;
        free((char *)b->contact);
        free((char *)b->uri);
        free((char *)b->instance);
        free((char *)b->call_id);
        free((char *)b->user_agent);
        return false;
    }
    return true;
}

static int sqlite_load(void *be, uint64_t now_wall_ms, store_load_fn fn, void *arg)
{
    struct sqlite_store *s = be;
    sqlite3_stmt *st;
    int rc = sqlite3_prepare_v2(s->db,
                                "SELECT aor, slot, contact, uri, instance, call_id, cseq,"
                                " user_agent, expires_ms, q, nat, source, local, listen,"
                                " transport FROM bindings WHERE expires_ms > ?1 ORDER BY aor, slot",
                                -1, &st, NULL);
    if (rc != SQLITE_OK)
        return fail(s, "load", rc);
    sqlite3_bind_int64(st, 1, (sqlite3_int64)now_wall_ms);
    struct load_group *g = calloc(1, sizeof(*g));
    int code = g ? 0 : SB_ENOMEM;
    size_t skipped = 0;
    while (code == 0 && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *aor = (const char *)sqlite3_column_text(st, 0);
        if (!aor)
            continue;
        if (g->aor && strcmp(g->aor, aor) != 0)
            code = group_flush(g, fn, arg);
        if (!g->aor && !(g->aor = strdup(aor)))
            code = SB_ENOMEM;
        if (code == 0 && !group_add(g, st))
            skipped++;
    }
    if (code == 0 && rc != SQLITE_DONE)
        code = fail(s, "load", rc);
    if (code == 0 && g)
        code = group_flush(g, fn, arg);
    if (g)
        group_clear(g);
    free(g);
    sqlite3_finalize(st);
    if (skipped)
        SB_WARN("store %s: %zu unreadable binding(s) skipped", s->path, skipped);
    return code;
}

static int sqlite_clear_docs(void *be, const struct store_doc_kind *kind)
{
    struct sqlite_store *s = be;
    sqlite3_bind_text(s->stmts[ST_DOC_CLEAR], 1, kind->name, -1, SQLITE_STATIC);
    return run(s, ST_DOC_CLEAR);
}

static const struct store_backend_ops sqlite_ops = {
    .name = "sqlite",
    .load = sqlite_load,
    .begin = sqlite_begin,
    .put = sqlite_put,
    .clear = sqlite_clear,
    .commit = sqlite_commit,
    .rollback = sqlite_rollback,
    .purge = sqlite_purge,
    .get_meta = sqlite_get_meta,
    .put_meta = sqlite_put_meta,
    .load_docs = sqlite_load_docs,
    .read_doc = sqlite_read_doc,
    .put_doc = sqlite_put_doc,
    .clear_docs = sqlite_clear_docs,
    .close = sqlite_close,
};

int store_sqlite_open(const char *path, struct store_backend *out)
{
    struct sqlite_store *s = calloc(1, sizeof(*s));
    if (!s || !(s->path = strdup(path))) {
        free(s);
        return SB_ENOMEM;
    }
    int rc = open_db(s);
    if (rc == SB_EMALFORMED) {
        close_db(s);
        move_aside(path);
        rc = open_db(s);
    }
    if (rc != 0) {
        SB_DEBUG("store %s: cannot open: %s", path, sb_strerror(rc));
        sqlite_close(s);
        return rc;
    }
    out->ops = &sqlite_ops;
    out->be = s;
    return 0;
}

int store_sqlite_peek(const char *path, uint64_t now_wall_ms, store_load_fn fn, void *arg)
{
    /* read-only first (sees the WAL); where even its shared-memory file
     * cannot be made, as an immutable file (the WAL's last batches unseen) */
    static const char *const modes[] = {"file:%s?mode=ro", "file:%s?immutable=1"};
    int rc = SB_ESYS;
    for (size_t i = 0; i < 2 && rc != 0; i++) {
        char uri[4200];
        struct sqlite_store s = {.path = (char *)path};
        snprintf(uri, sizeof(uri), modes[i], path);
        rc = sqlite3_open_v2(uri, &s.db, SQLITE_OPEN_READONLY | SQLITE_OPEN_URI, NULL);
        rc = rc == SQLITE_OK ? quick_check(&s) : fail(&s, "open read-only", rc);
        if (rc == 0)
            rc = sqlite_load(&s, now_wall_ms, fn, arg);
        close_db(&s);
    }
    return rc;
}
