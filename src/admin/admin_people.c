/* Each user's state for the admin plane. See admin_people.h. */
#include "switchboard/admin_people.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "switchboard/admin_query.h"
#include "switchboard/dialplan.h"
#include "switchboard/registrar.h"

const char *admin_presence_name(enum admin_presence p)
{
    switch (p) {
    case ADMIN_OFFLINE:
        return "offline";
    case ADMIN_ONLINE:
        return "online";
    case ADMIN_RINGING:
        return "ringing";
    case ADMIN_ON_THE_PHONE:
        return "on-the-phone";
    }
    return "?";
}

/* The user part of URI text @uri ("sip:bob@h:5060" -> "bob") into @buf. */
static void uri_user(const char *uri, char *buf, size_t size)
{
    const char *colon = strchr(uri, ':');
    const char *s = colon ? colon + 1 : uri;
    size_t n = strcspn(s, "@;>");
    if (s[n] != '@' || n >= size)
        n = 0;
    memcpy(buf, s, n);
    buf[n] = '\0';
}

/* Is the call to @callee_user (as dialled) for @user? */
static bool dialled_for(const struct dialplan *dp, const char *callee_user, const char *user)
{
    if (!dp)
        return !strcmp(callee_user, user);
    struct dialplan_target t;
    dialplan_resolve(dp, callee_user, &t);
    return t.kind == DIALPLAN_NAME    ? !strcmp(t.name, user)
           : t.kind == DIALPLAN_GROUP ? dialplan_in_group(t.group, user)
                                      : false;
}

/* Did one of @who's devices answer (its Contact @answered_by)? */
static bool answered_here(const struct admin_person *who, const char *answered_by)
{
    char u[128];
    uri_user(answered_by, u, sizeof(u));
    if (u[0] && !strcmp(u, who->user))
        return true;
    for (size_t i = 0; i < who->count; i++)
        if (answered_by[0] && registrar_uri_equal(who->contacts[i], answered_by))
            return true;
    return false;
}

enum admin_presence admin_people_status(const char *calls_json, const struct admin_person *who,
                                        const struct dialplan *dp)
{
    if (who->count == 0)
        return ADMIN_OFFLINE;
    enum admin_presence p = ADMIN_ONLINE;
    static const char open[] = "{\"call_id\"";
    for (const char *o = strstr(calls_json, open); o; o = strstr(o + 1, open)) {
        const char *next = strstr(o + 1, open);
        const char *end = next ? next : o + strlen(o);
        char state[32], caller[256], callee[256], answered_by[256], cu[128], ce[128];
        admin_json_field(o, end, "state", state, sizeof(state));
        admin_json_field(o, end, "caller", caller, sizeof(caller));
        admin_json_field(o, end, "callee", callee, sizeof(callee));
        admin_json_field(o, end, "answered_by", answered_by, sizeof(answered_by));
        uri_user(caller, cu, sizeof(cu));
        uri_user(callee, ce, sizeof(ce));
        bool answered = !strcmp(state, "answered");
        if (answered && ((cu[0] && !strcmp(cu, who->user)) || answered_here(who, answered_by)))
            return ADMIN_ON_THE_PHONE;
        if (!answered && ce[0] && dialled_for(dp, ce, who->user))
            p = ADMIN_RINGING;
    }
    return p;
}
