/* The users someone watches (RFC 4235 subscriptions, a busy lamp) and
 * each one's dialogs as the proxy sees them: shared by every worker.
 *
 * DESIGN: a call's messages reach the worker its Call-ID hashes to, a
 * subscription's reach the worker its own Call-ID hashes to, so the two
 * are seldom the same thread. The worker that follows a call writes what
 * changed here (dialog_watch_update); each user's changes bump its
 * version, and the workers holding subscriptions compare versions on
 * their own clock and read what changed since they last notified
 * (dialog_watch_read). No queue between workers, and a burst of changes
 * costs one NOTIFY. One mutex, held for copies of a few small structs,
 * never across I/O; with nobody watching, dialog_watch_any() is one
 * atomic load and the calls' workers never take it.
 *
 * A dialog lives here from its first state to DIALOG_WATCH_KEEP_MS after
 * it terminated (long enough for every subscription's next look). */
#ifndef SWITCHBOARD_DIALOG_WATCH_H
#define SWITCHBOARD_DIALOG_WATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "switchboard/dialog_info.h"

struct dialog_watch;

/* Dialogs kept per watched user; past it the oldest terminated (or, when
 * none is, the oldest) gives way, and readers behind it get full state. */
#define DIALOG_WATCH_MAX_DIALOGS 16
#define DIALOG_WATCH_KEEP_MS 10000

/* At most @max_users watched at once, each by at most @per_user
 * subscriptions, and at most @per_source subscriptions from one address.
 * Returns 0 or SB_ENOMEM. */
int dialog_watch_create(size_t max_users, unsigned per_user, unsigned per_source,
                        struct dialog_watch **out);
void dialog_watch_destroy(struct dialog_watch *w);

/* Is anybody watched? Any thread, lock-free. */
bool dialog_watch_any(const struct dialog_watch *w);

/* A subscription from @source (an address as text) to @user begins; each
 * is released once, with the same two. Returns 0, SB_ELIMIT (a bound
 * above is reached) or SB_ENOMEM. */
int dialog_watch_hold(struct dialog_watch *w, const char *user, const char *source);
void dialog_watch_release(struct dialog_watch *w, const char *user, const char *source);

/* Dialog @d of @user (by its id) is new or changed; nothing when nobody
 * watches @user. */
void dialog_watch_update(struct dialog_watch *w, const char *user, const struct dinfo_dialog *d,
                         int64_t now_ms);

/* Does a subscription hold @user? */
bool dialog_watch_watched(struct dialog_watch *w, const char *user);

/* @user's version: 1 when its first subscription began, then one more
 * with every change (0: nobody watches @user). */
uint64_t dialog_watch_version(struct dialog_watch *w, const char *user);

/* Copies into @out (room for @max) @user's dialogs changed after version
 * @since, oldest first; every dialog kept, and *@full set, when @since is
 * 0 or a change after it was dropped. *@version gets the version read.
 * Returns how many were copied. */
size_t dialog_watch_read(struct dialog_watch *w, const char *user, uint64_t since,
                         struct dinfo_dialog *out, size_t max, uint64_t *version, bool *full,
                         int64_t now_ms);

#endif
