/* What users' phones published of their presence (RFC 3903, the event
 * state compositor's store): shared by every worker.
 *
 * DESIGN: a PUBLISH reaches the worker its Call-ID hashes to, and the
 * subscriptions that show it live on others; one mutex over a table of
 * users, each with a few entries (one per device that publishes, by
 * entity-tag), and a version per user bumped by every change, so the
 * notifiers compare versions on their own clock as they do for
 * dialog_watch. Never held across I/O.
 *
 * An entry: published (new entity-tag) --refreshed or modified, each
 * time a new tag (§4.1)--> ... --Expires: 0, or its time out--> gone.
 * The user's state is the newest entry's (§5's composition, newest
 * wins). */
#ifndef SWITCHBOARD_PRESENCE_STATE_H
#define SWITCHBOARD_PRESENCE_STATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "switchboard/pidf.h"

struct presence_state;
struct sb_buf;

#define PRESENCE_ETAG_MAX 24

/* One device's publication. */
struct presence_entry {
    char etag[PRESENCE_ETAG_MAX];
    uint64_t expires_ms; /* monotonic */
    uint64_t order;      /* wall-clock us when published: the newest wins, on any node */
    struct pidf_published doc;
};

/* Room for @max_users users, @per_user entries each. Returns 0 or
 * SB_ENOMEM. */
int presence_state_create(size_t max_users, unsigned per_user, struct presence_state **out);
void presence_state_destroy(struct presence_state *ps);

/* A PUBLISH for @user at @now_ms (monotonic): @if_match NULL makes a new
 * entry of @doc; else it names the entry to refresh (@doc NULL) or
 * modify. @ttl_ms 0 removes the entry. On success the entry's new tag is
 * in @etag (PRESENCE_ETAG_MAX bytes) and, when @kept is not NULL, the
 * entry in *@kept (etag "" when removed). Returns 0, SB_ENOTFOUND (no
 * such entry: 412), SB_ELIMIT (a bound: 503) or SB_ENOMEM. */
int presence_state_publish(struct presence_state *ps, const char *user, const char *if_match,
                           const struct pidf_published *doc, uint64_t ttl_ms, uint64_t now_ms,
                           char *etag, struct presence_entry *kept);

/* An entry kept from before a restart or published on another node:
 * added, or put in place of the one with its tag. Returns 0, SB_ELIMIT
 * or SB_ENOMEM. */
int presence_state_put(struct presence_state *ps, const char *user, const struct presence_entry *e,
                       uint64_t now_ms);

/* Removes @user's entry tagged @etag (removed on another node). */
void presence_state_forget(struct presence_state *ps, const char *user, const char *etag);

/* An entry as the store holds it (key, value; NULL: it is gone), kept
 * until @expires_wall_ms: put or forgotten. @wall_ms and @now_ms are the
 * same moment, wall-clock and monotonic. Returns 0, SB_EMALFORMED,
 * SB_ELIMIT or SB_ENOMEM. */
int presence_state_load(struct presence_state *ps, const char *key, const char *value,
                        uint64_t expires_wall_ms, uint64_t wall_ms, uint64_t now_ms);

/* Every live entry as the store keeps it, to @emit (key, value, expiry
 * in wall-clock ms: @wall_ms is @now_ms's moment), outside the lock.
 * Returns 0, SB_ENOMEM, or what @emit returned when not 0. */
int presence_state_docs(struct presence_state *ps, uint64_t now_ms, uint64_t wall_ms,
                        int (*emit)(void *arg, const char *key, const char *value,
                                    uint64_t expires_wall_ms),
                        void *arg);

/* --- as the store keeps an entry (store.h: DOCUMENTS) --------------------
 * Its key is "USER ETAG", its value a bencoded dictionary of the
 * document and its order; the expiry goes beside it. */
void presence_entry_key(const char *user, const char *etag, struct sb_buf *out);
/* Splits a key at its last space; false when it is not one. */
bool presence_entry_split(const char *key, char *user, size_t user_size, char *etag);
void presence_entry_write(struct sb_buf *b, const struct presence_entry *e);
/* @user's entry @e as the store keeps it, to @emit with its expiry
 * @expires_wall_ms. Returns SB_ENOMEM, or what @emit returned. */
int presence_entry_emit(const char *user, const struct presence_entry *e, uint64_t expires_wall_ms,
                        int (*emit)(void *arg, const char *key, const char *value,
                                    uint64_t expires_wall_ms),
                        void *arg);
/* Reads a value into @out (its tag and expiry untouched). Returns 0 or
 * SB_EMALFORMED. */
int presence_entry_read(const char *text, size_t len, struct presence_entry *out);

/* @user's version (0: nothing ever published), expired entries dropped
 * first (which is a change). */
uint64_t presence_state_version(struct presence_state *ps, const char *user, uint64_t now_ms);

/* The newest live entry of @user into @out; false when there is none. */
bool presence_state_read(struct presence_state *ps, const char *user, uint64_t now_ms,
                         struct pidf_published *out);

#endif
