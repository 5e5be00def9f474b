/* The INVITE dialogs this proxy record-routed (RFC 3261 §12), as one
 * worker sees them: every message of a call reaches the worker its
 * Call-ID hashes to, so each worker keeps its own table, unlocked.
 *
 * A dialog's life here:
 *   early (its INVITE forwarded) --2xx up--> confirmed --BYE--> gone
 *   early --a final non-2xx for that INVITE--> failed --grace--> gone
 *   failed --a late 2xx (a branch given up on answers)--> confirmed
 *   any --max_call_length after it opened--> gone
 * Each side has a remote target ("host:port" as record_route_target()
 * writes it): the caller's from its INVITE, each callee's (one per To
 * tag: a forked INVITE may be answered twice) from its responses; a 2xx
 * to a re-INVITE or UPDATE moves them (target refresh, §12.2.1.2). Each
 * side also keeps the target the copy of our Record-Route it was given
 * was signed for, so that the signature still verifies after a refresh.
 *
 * What it is for: an in-dialog request on a Route this process issued
 * is let through only while its dialog lives, between its two sides,
 * to the other side's current target. A Route copied from a call that
 * ended reaches nobody. */
#ifndef SWITCHBOARD_DIALOG_H
#define SWITCHBOARD_DIALOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct dialog_table;
struct timer_wheel;

/* The tags and Call-ID of one message. */
struct dialog_msg {
    const char *call_id;   /* its part before '@' */
    const char *call_host; /* its part after '@'; NULL: none */
    const char *from_tag;
    const char *to_tag; /* NULL when absent */
};

/* A table of at most @max dialogs, each closed @max_age_ms after it
 * opened, a failed one @grace_ms after it failed (as long as a late 2xx
 * may still come: 128*T1 covers a branch's Timer B and then the callee's
 * retransmissions of its 2xx), on @wheel's clock. Returns 0 or
 * SB_ENOMEM. */
int dialog_table_create(struct timer_wheel *wheel, size_t max, uint64_t max_age_ms,
                        uint64_t grace_ms, struct dialog_table **out);
void dialog_table_destroy(struct dialog_table *t);
size_t dialog_table_count(const struct dialog_table *t);

/* The early dialog of an INVITE (no To tag) from @m->from_tag with CSeq
 * @cseq, whose caller's Contact is @caller_target. The same INVITE sent
 * again with a higher CSeq (after a challenge) takes over an early
 * dialog of the same tags. Returns 0; SB_ELIMIT when the table is full
 * or a confirmed dialog has these tags (then the INVITE is not tracked),
 * SB_ENOMEM. */
int dialog_open(struct dialog_table *t, const struct dialog_msg *m, uint32_t cseq,
                const char *caller_target);

/* A response to INVITE (@invite) or UPDATE on its way up to whoever sent
 * the request: @m is its Call-ID and tags (From: the requester's),
 * @contact its Contact's target ("" when none). For the dialog's own
 * INVITE a 1xx/2xx with a To tag adds or updates that callee (2xx
 * confirms the dialog), a final non-2xx fails an early dialog; any other
 * 2xx between a dialog's sides is a target refresh: the responder's
 * target moves to @contact, the requester's to @request_contact (either
 * "" leaves it). */
void dialog_on_response(struct dialog_table *t, const struct dialog_msg *m, int code, uint32_t cseq,
                        bool invite, const char *contact, const char *request_contact);

enum dialog_verdict {
    DIALOG_OK,
    DIALOG_UNKNOWN,      /* no live dialog between these tags: 481 */
    DIALOG_WRONG_TARGET, /* a live dialog, but the Request-URI is not the other side */
};

/* Is in-dialog request @m, for remote target @target (its Request-URI as
 * record_route_target() writes it), between a live dialog's two sides
 * and for the other side's current target? */
enum dialog_verdict dialog_check(const struct dialog_table *t, const struct dialog_msg *m,
                                 const char *target);

/* The target the sender of @m's copy of our Record-Route was signed for,
 * or NULL when no live dialog has its tags. */
const char *dialog_signed_for(const struct dialog_table *t, const struct dialog_msg *m);

/* A BYE passed: the dialog of @m's tags is gone. */
void dialog_close(struct dialog_table *t, const struct dialog_msg *m);

#endif
