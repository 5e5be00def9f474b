/* The users file of digest authentication: htdigest's format, one
 * `user:realm:HA1` per line, HA1 = MD5(user:realm:password) as 32 hex
 * digits (what Apache's htdigest writes) or SHA-256 of the same as 64 hex
 * digits. A user may have one line of each. '#' starts a comment line.
 * Read for one realm, lines for other realms are skipped and users are
 * keyed by name; read for every realm (one realm per domain, [registrar]
 * use_domain), users are keyed "user@realm" with the realm lower-cased.
 *
 * DESIGN: a loaded table is immutable (an open-addressing hash by user
 * name), so it is swapped whole on reload and read without locks. */
#ifndef SWITCHBOARD_AUTH_USERS_H
#define SWITCHBOARD_AUTH_USERS_H

#include <stddef.h>

#include "switchboard/digest.h"

struct auth_users;

/* Parses @len bytes of users file for @realm (NULL: every realm, keyed
 * "user@realm"). Returns 0 with *out, or
 * SB_EINVAL after writing "line N: what is wrong" into @err, or SB_ENOMEM. */
int auth_users_parse(const char *text, size_t len, const char *realm, struct auth_users **out,
                     char *err, size_t err_size);
/* Reads and parses @path; as auth_users_parse, and SB_ESYS (with @err
 * saying why) when it cannot be read. */
int auth_users_load(const char *path, const char *realm, struct auth_users **out, char *err,
                    size_t err_size);
void auth_users_free(struct auth_users *u);

/* @user's HA1 for @alg in hex, or NULL. */
const char *auth_users_ha1(const struct auth_users *u, const char *user, enum digest_alg alg);
/* Users in the table; lines skipped for other realms. */
size_t auth_users_count(const struct auth_users *u);
/* Calls @fn with each user's name, in no order. */
void auth_users_each(const struct auth_users *u, void (*fn)(void *arg, const char *name),
                     void *arg);
size_t auth_users_other_realms(const struct auth_users *u);

#endif
