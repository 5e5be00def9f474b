/* The office directory a signed-in softphone page shows, to dial by name
 * (README "Browser phones"): every user of the users file and every user
 * the dial plan rings, each with the extensions that reach it, and the
 * groups with theirs and their members; sorted by name. Registration and
 * presence are not in it (they come by SUBSCRIBE, under the usual
 * credentials). Pure but for reading the plan and the users table. */
#ifndef SWITCHBOARD_DIRECTORY_H
#define SWITCHBOARD_DIRECTORY_H

struct auth;
struct dialplan;
struct sb_buf;

/* Appends the directory as JSON to @out:
 *   {"people":[{"name":"bob","extensions":["101"]}, ...],
 *    "groups":[{"name":"sales","extensions":["200"],"hunt":false,
 *               "members":["alice","bob"]}, ...]}
 * @dp and @a may be NULL (no plan; no users file). Returns 0 or
 * SB_ENOMEM. */
int directory_json(const struct dialplan *dp, struct auth *a, struct sb_buf *out);

#endif
