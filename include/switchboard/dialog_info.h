/* RFC 4235's dialog-info+xml documents (the dialog event package, what
 * a desk phone's busy lamp shows), written by hand: no parsing here, and
 * every value a caller chose is escaped.
 *
 * A dialog's state, as the monitored user's side of it (RFC 4235 §3.7.1):
 *   trying (INVITE sent or received) --1xx without tag--> proceeding
 *   trying|proceeding --1xx with a To tag--> early --2xx--> confirmed
 *   any --final failure, CANCEL, BYE, no answer--> terminated (event says
 *   which: rejected, cancelled, local-bye, remote-bye, timeout...) */
#ifndef SWITCHBOARD_DIALOG_INFO_H
#define SWITCHBOARD_DIALOG_INFO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct sb_buf;

enum dinfo_state {
    DINFO_TRYING,
    DINFO_PROCEEDING,
    DINFO_EARLY,
    DINFO_CONFIRMED,
    DINFO_TERMINATED,
};

/* Why a dialog went to terminated (§4.1.3's "event" attribute). */
enum dinfo_event {
    DINFO_EV_NONE,
    DINFO_EV_CANCELLED,
    DINFO_EV_REJECTED,
    DINFO_EV_REPLACED,
    DINFO_EV_LOCAL_BYE,
    DINFO_EV_REMOTE_BYE,
    DINFO_EV_ERROR,
    DINFO_EV_TIMEOUT,
};

/* One dialog of the monitored user. Values longer than their fields are
 * cut by the writer of the struct (dinfo_set()), never overflowed. */
struct dinfo_dialog {
    char id[80]; /* unique among the user's dialogs */
    char call_id[160];
    char local_tag[80];  /* the monitored user's tag ("" when unknown) */
    char remote_tag[80]; /* the other side's ("" when unknown) */
    char remote[200];    /* the other side's identity URI ("" withheld) */
    char remote_display[64];
    bool initiator; /* the monitored user placed the call */
    enum dinfo_state state;
    enum dinfo_event event; /* terminated only */
    int code;               /* the response that moved it there, 0: none */
    int64_t since_ms;       /* wall clock when it began: <duration> */
};

/* Copies @src into the field @dst of @size bytes, cut at a character
 * boundary when too long. */
void dinfo_set(char *dst, size_t size, const char *src);

const char *dinfo_state_name(enum dinfo_state s);
const char *dinfo_event_name(enum dinfo_event e); /* NULL for NONE */

/* Appends to @b the document for @entity (the monitored user's URI):
 * version @version, state "full" or "partial", @count dialogs (RFC 4235
 * §4.1). @now_ms gives each confirmed dialog its <duration>. */
void dinfo_write(struct sb_buf *b, const char *entity, uint64_t version, bool full,
                 const struct dinfo_dialog *dialogs, size_t count, int64_t now_ms);

/* Appends @s to @b escaped for XML text and attribute values. */
void dinfo_escape(struct sb_buf *b, const char *s);

#endif
