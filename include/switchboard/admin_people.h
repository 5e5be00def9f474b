/* Each user's state as the admin plane shows it (/api/users, the live
 * page's People table): whether a device is registered, and what the
 * calls up now say of the user. Pure: it reads the workers' call views as
 * they are published (JSON, call_journal_snapshot) and the dial plan, so
 * the unit tests drive it without a server.
 *
 * A user: OFFLINE (no live binding) | ONLINE | RINGING (a call that is
 * not answered yet is for the user: dialled as the user, an extension
 * of the user's, or a group the user is in) | ON_THE_PHONE (in an
 * answered call: its caller, or the device that answered is the
 * user's). On the phone wins over ringing. */
#ifndef SWITCHBOARD_ADMIN_PEOPLE_H
#define SWITCHBOARD_ADMIN_PEOPLE_H

#include <stddef.h>

struct dialplan;

enum admin_presence { ADMIN_OFFLINE, ADMIN_ONLINE, ADMIN_RINGING, ADMIN_ON_THE_PHONE };

const char *admin_presence_name(enum admin_presence p);

/* A user and the contact URIs of its live bindings. */
struct admin_person {
    const char *user;
    const char *const *contacts;
    size_t count;
};

/* @who's state by @calls_json (the objects of /api/calls, comma
 * separated) and @dp (NULL: no dial plan). */
enum admin_presence admin_people_status(const char *calls_json, const struct admin_person *who,
                                        const struct dialplan *dp);

#endif
