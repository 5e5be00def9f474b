/* The call journal's bookkeeping: follows each call attempt in one worker
 * (INVITE, ringing, answer, re-INVITEs, REFER, BYE, or the final failure)
 * and, when it ends, hands one JSON line to the journal's writer thread.
 *
 * DESIGN: one call_journal per worker, like the transactions it watches:
 * every message of a call reaches the same worker, so nothing is shared but
 * the async_file, whose append is thread-safe. */
#ifndef SWITCHBOARD_CALL_JOURNAL_H
#define SWITCHBOARD_CALL_JOURNAL_H

#include <stdbool.h>
#include <stdint.h>

#include <osipparser2/osip_message.h>

#include "switchboard/async_file.h"
#include "switchboard/stats.h"

struct sb_buf;

struct call_journal;

/* How the proxy saw a failed call end, beyond the status code. */
enum call_end_hint {
    CALL_END_RELAYED, /* a response from the callee's side */
    CALL_END_LOCAL,   /* the proxy answered itself (404, 483, ...) */
    CALL_END_TIMER_C, /* nobody answered in time */
    CALL_END_REFUSED, /* credentials were given and did not pass */
    CALL_END_MISSED,  /* rang until the proxy's ring timeout: "missed" */
    CALL_END_DND,     /* the dial plan refused: the callee is on DND */
};

struct callroute;
struct ng_reply;

/* @file may be NULL: calls are followed (for the admin plane's view and
 * counters) but no line is written. @counters (may be NULL) gets the
 * outcome counters and the call set-up histogram; its thread is ours. */
int call_journal_create(struct async_file *file, struct sb_counters *counters,
                        struct call_journal **out);
/* Writes calls still open with outcome "interrupted", then frees. */
void call_journal_destroy(struct call_journal *cj);

/* A new request reached the proxy: an initial INVITE opens a call; a
 * re-INVITE, REFER or BYE is noted on its call. @now_ms is wall-clock. */
void call_journal_request(struct call_journal *cj, const osip_message_t *req, int64_t now_ms);

/* A response to an initial INVITE goes upstream. */
void call_journal_response(struct call_journal *cj, const osip_message_t *invite,
                           const osip_message_t *resp, enum call_end_hint hint, int64_t now_ms);

/* The route the dial plan gave the call of @invite: the number dialled,
 * what it stood for, each forward taken (callroute.h). Replaces what was
 * noted before; written in the call's line. */
void call_journal_route(struct call_journal *cj, const osip_message_t *invite,
                        const struct callroute *route);

/* The call of @invite went out through trunk @name (@out: dialled here
 * as @dialled, sent to the carrier as @sent) or came in through it (for
 * our number @dialled; @sent NULL): its line's "trunk" says so, the last
 * trunk tried for a call out. */
void call_journal_trunk(struct call_journal *cj, const osip_message_t *invite, const char *name,
                        bool out, const char *dialled, const char *sent);

/* The call of @invite has its media relayed by @engine (media.h): its
 * line's "media" names it, and when a BYE ends it the line waits for
 * call_journal_media() with the engine's figures. */
void call_journal_relayed(struct call_journal *cj, const osip_message_t *invite,
                          const char *engine);

/* What the engine said when call @call_id's session was deleted (@reply,
 * or NULL when it did not answer): a call that ended is written now. */
void call_journal_media(struct call_journal *cj, const char *call_id, const struct ng_reply *reply);

/* A relayed call that ended waits at most this long for its engine's
 * figures: a BYE the proxy answered itself (483, 482...) never asks the
 * engine, and the call's line must not wait for shutdown. */
#define CALL_JOURNAL_MEDIA_WAIT_MS 10000

/* Calls that ended and wait for their engine's figures (cheap). */
size_t call_journal_ending(const struct call_journal *cj);

/* Writes, without figures, the lines of calls that waited longer than
 * CALL_JOURNAL_MEDIA_WAIT_MS by wall-clock @now_ms; looks at most once a
 * second. */
void call_journal_expire(struct call_journal *cj, int64_t now_ms);

/* Calls being followed. */
size_t call_journal_open_calls(const struct call_journal *cj);

/* Whether the set of calls or a call's state changed since the last
 * snapshot. */
bool call_journal_changed(const struct call_journal *cj);
/* Appends one JSON object per open call to @b, comma-separated (caller,
 * callee, state, since), and clears the changed flag. */
void call_journal_snapshot(struct call_journal *cj, struct sb_buf *b);

/* The phases of a call as its watcher hears them (the dialog event
 * package, proxy_watch.c): TRYING (the INVITE came) --1xx--> RINGING
 * --2xx--> ANSWERED --BYE--> ENDED; TRYING|RINGING --a final failure-->
 * ENDED; any --shutdown--> ENDED ("interrupted"). */
enum call_phase { CALL_TRYING, CALL_RINGING, CALL_ANSWERED, CALL_ENDED };

struct call_event {
    enum call_phase phase;
    const osip_message_t *invite; /* TRYING: the INVITE; else NULL */
    const char *call_id;
    const char *caller_aor, *caller_name, *caller_tag; /* may be NULL */
    const char *callee_aor, *callee_name, *callee_tag; /* tag: once a response had one */
    int code;            /* the response that moved it (0: a BYE or none) */
    const char *outcome; /* ENDED: as the journal's line says */
    const char *by;      /* ENDED: "caller", "callee" or "proxy" */
    int64_t answer_ms;   /* ANSWERED and after */
};

/* @hook hears every phase of every call from now on, with @ctx and a
 * pointer of its own per call (NULL at first; the hook frees what it put
 * there when it hears ENDED, which every call it heard of reaches). */
typedef void (*call_journal_hook)(void *ctx, const struct call_event *ev, void **state);
void call_journal_watch(struct call_journal *cj, call_journal_hook hook, void *ctx);

/* Wall-clock milliseconds since the epoch. */
int64_t call_journal_now(void);

#endif
