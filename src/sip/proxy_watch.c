/* The call journal's hook (call_journal_watch): every call this process
 * routes is in the shared call_index from its INVITE to its end (for an
 * INVITE with Replaces to find it, proxy.c); and a watched user's calls
 * become RFC 4235 dialogs (dialog_watch.h): each phase of a call is the
 * state of the caller's dialog and of the callee's, for the
 * subscriptions of any worker to read (proxy_notify.c). See proxy_int.h.
 *
 * Per call, both sides alike: trying (the INVITE) --1xx--> early --2xx-->
 * confirmed --BYE--> terminated (local-bye for the side that hung up,
 * remote-bye for the other); trying|early --a failure--> terminated
 * (cancelled, timeout for no answer, else rejected). A call begun while
 * nobody was watched is not followed. */
#include "proxy_int.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "switchboard/call_index.h"
#include "switchboard/dialog_watch.h"
#include "switchboard/dialplan.h"
#include "switchboard/identity.h"
#include "switchboard/register.h"

/* What a watched call remembers: its two sides' keys ("" when not one
 * of our users) and its dialogs' id. */
struct watch_call {
    char caller[320], callee[320];
    char id[24];
};

bool proxy_watch_key(struct proxy *p, const osip_uri_t *uri, char *buf, size_t size)
{
    if (!uri || !uri->username || !uri->host || !identity_is_local_uri(p->env.identity, uri))
        return false;
    bool domain = p->env.config->use_domain;
    struct dialplan *dp = p->env.plans ? dialplan_holder_get(p->env.plans) : NULL;
    bool ok = true, done = false;
    if (dp) { /* an extension stands for its user; a group or URI for nobody */
        struct dialplan_target t;
        dialplan_resolve(dp, uri->username, &t);
        ok = t.kind == DIALPLAN_NAME;
        if (ok && strcmp(t.name, uri->username) != 0) {
            int n = domain ? snprintf(buf, size, "%s@%s", t.name, uri->host)
                           : snprintf(buf, size, "%s", t.name);
            ok = n > 0 && (size_t)n < size;
            done = true;
        }
        dialplan_unref(dp);
    }
    return ok && (done || register_aor_key(uri, domain, buf, size) == 0);
}

/* The state @ev moves a side to, and why it ended. */
static enum dinfo_state state_of(const struct call_event *ev)
{
    static const enum dinfo_state states[] = {DINFO_TRYING, DINFO_EARLY, DINFO_CONFIRMED,
                                              DINFO_TERMINATED};
    return states[ev->phase];
}

static enum dinfo_event end_of(const struct call_event *ev, bool caller)
{
    const char *o = ev->outcome ? ev->outcome : "";
    if (!strcmp(o, "answered")) {
        bool by_caller = ev->by && !strcmp(ev->by, "caller");
        return by_caller == caller ? DINFO_EV_LOCAL_BYE : DINFO_EV_REMOTE_BYE;
    }
    if (!strcmp(o, "cancelled"))
        return DINFO_EV_CANCELLED;
    if (!strcmp(o, "no-answer") || !strcmp(o, "missed"))
        return DINFO_EV_TIMEOUT;
    if (!strcmp(o, "interrupted"))
        return DINFO_EV_ERROR;
    return DINFO_EV_REJECTED;
}

/* Writes one side (@caller or the callee) of call @wc as @ev leaves it. */
static void publish(struct proxy *p, const struct watch_call *wc, const struct call_event *ev,
                    bool caller)
{
    const char *key = caller ? wc->caller : wc->callee;
    if (!key[0])
        return;
    struct dinfo_dialog d = {0};
    snprintf(d.id, sizeof(d.id), "%s-%c", wc->id, caller ? 'i' : 'r');
    dinfo_set(d.call_id, sizeof(d.call_id), ev->call_id);
    dinfo_set(d.local_tag, sizeof(d.local_tag), caller ? ev->caller_tag : ev->callee_tag);
    dinfo_set(d.remote_tag, sizeof(d.remote_tag), caller ? ev->callee_tag : ev->caller_tag);
    dinfo_set(d.remote, sizeof(d.remote), caller ? ev->callee_aor : ev->caller_aor);
    dinfo_set(d.remote_display, sizeof(d.remote_display),
              caller ? ev->callee_name : ev->caller_name);
    d.initiator = caller;
    d.state = state_of(ev);
    d.event = d.state == DINFO_TERMINATED ? end_of(ev, caller) : DINFO_EV_NONE;
    d.code = ev->code;
    d.since_ms = ev->answer_ms;
    dialog_watch_update(p->env.watch, key, &d, call_journal_now());
}

/* TRYING: whether anyone watches either side; the call's memory if so. */
static struct watch_call *follow(struct proxy *p, const osip_message_t *invite)
{
    struct watch_call wc = {0};
    if (!proxy_watch_key(p, invite->from ? invite->from->url : NULL, wc.caller, sizeof(wc.caller)))
        wc.caller[0] = '\0';
    if (!proxy_watch_key(p, invite->req_uri, wc.callee, sizeof(wc.callee)))
        wc.callee[0] = '\0';
    if (!(wc.caller[0] && dialog_watch_watched(p->env.watch, wc.caller)) &&
        !(wc.callee[0] && dialog_watch_watched(p->env.watch, wc.callee)))
        return NULL;
    struct watch_call *copy = malloc(sizeof(*copy));
    if (!copy)
        return NULL;
    *copy = wc;
    snprintf(copy->id, sizeof(copy->id), "%016" PRIx64, proxy_random64());
    return copy;
}

void proxy_watch_call(void *ctx, const struct call_event *ev, void **state)
{
    struct proxy *p = ctx;
    struct call_index *index = p->env.call_index;
    if (index && ev->phase == CALL_TRYING && !call_index_add(index, ev->call_id))
        SB_DEBUG("call %s: the call index is crowded; a Replaces for it is routed as any INVITE",
                 ev->call_id);
    else if (index && ev->phase == CALL_ENDED)
        call_index_remove(index, ev->call_id);
    if (!p->env.watch)
        return;
    if (ev->phase == CALL_TRYING) {
        if (!dialog_watch_any(p->env.watch) || !ev->invite)
            return; /* nobody watches anybody: one atomic load per call */
        *state = follow(p, ev->invite);
    }
    struct watch_call *wc = *state;
    if (!wc)
        return;
    publish(p, wc, ev, true);
    publish(p, wc, ev, false);
    if (ev->phase == CALL_ENDED) {
        free(wc);
        *state = NULL;
    }
}
