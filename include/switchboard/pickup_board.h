/* The calls ringing now, for a phone that dials the pickup code
 * ([features] pickup) to find one to answer: shared by every worker.
 *
 * DESIGN: the worker that follows a call (its owner) writes it here when
 * it starts ringing and takes it out when it is answered or ends. The
 * worker that gets a pickup claims a match for the picker in one step
 * (a claimed call matches nobody else, so two phones picking up at once
 * never both get it); the owner, looking on its own clock while it has
 * calls here, takes its claimed calls out and rings the pickers. No
 * queue between workers. One mutex, held for a scan of the ringing calls
 * (bounded) and small copies, never across I/O. */
#ifndef SWITCHBOARD_PICKUP_BOARD_H
#define SWITCHBOARD_PICKUP_BOARD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct pickup_board;

/* One ringing call: who is in it. */
struct pickup_call {
    char call_id[256];
    char caller[64];   /* our user who called; "" when not ours */
    char callee[64];   /* the user or group the plan rang */
    bool group;        /* callee names a group */
    const void *owner; /* the worker's proxy that follows it */
    char picker[64];   /* claimed by this user; "" = not yet */
};

/* Room for @max ringing calls at once (past it a new one is not kept:
 * it cannot be picked up). Returns 0 or SB_ENOMEM. */
int pickup_board_create(size_t max, struct pickup_board **out);
void pickup_board_destroy(struct pickup_board *b);

/* @c rings (again: the first To tag is kept). */
void pickup_board_ring(struct pickup_board *b, const struct pickup_call *c);
/* Call @call_id no longer rings (answered, ended); nothing when absent. */
void pickup_board_gone(struct pickup_board *b, const char *call_id);

/* Claims for @picker the longest-ringing unclaimed call @match accepts
 * (called under the board's lock: it must only look at @c and @ctx),
 * copied into @out. Returns false when none does. */
typedef bool (*pickup_match)(void *ctx, const struct pickup_call *c);
bool pickup_board_claim(struct pickup_board *b, pickup_match match, void *ctx, const char *picker,
                        struct pickup_call *out);
/* Takes out the calls of @owner that were claimed, up to @max, into
 * @out. Returns how many. */
size_t pickup_board_claimed(struct pickup_board *b, const void *owner, struct pickup_call *out,
                            size_t max);

/* How many calls ring now. */
size_t pickup_board_count(struct pickup_board *b);

#endif
