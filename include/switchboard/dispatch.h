/* The queues between listener threads and worker threads.
 *
 * DESIGN: one wakeq (wakeq.h, the program's one hand-off primitive) per
 * worker. Any listener may dispatch_push() to any queue at any time
 * (wait-free enqueue); only the queue's own worker calls dispatch_take(),
 * dispatch_done() and dispatch_wait(). Wake-ups coalesce as wakeq.h
 * describes, so a busy worker is never woken per message. */
#ifndef SWITCHBOARD_DISPATCH_H
#define SWITCHBOARD_DISPATCH_H

#include <stdbool.h>
#include <stddef.h>

#include "switchboard/types.h"

struct dispatch;
struct wakeq_batch;

/* @limit bounds each queue's depth (messages not yet taken). */
int dispatch_create(unsigned workers, size_t limit, struct dispatch **out);
/* Frees messages still queued. */
void dispatch_destroy(struct dispatch *d);

unsigned dispatch_worker_count(const struct dispatch *d);

/* Which worker a Call-ID belongs to: @call_id is libosip2's number, the
 * part before any "@" (what the receivers hand over). */
unsigned dispatch_worker_for(const struct dispatch *d, const char *call_id);

/* The same for a Call-ID as written in a message, whole ("n@host"),
 * its first @len bytes. */
unsigned dispatch_worker_for_text(const struct dispatch *d, const char *call_id, size_t len);

/* Queues @in for worker @worker without waking it. Returns 0 or SB_ELIMIT
 * (queue full: @in stays the caller's). */
int dispatch_push(struct dispatch *d, unsigned worker, struct sb_inbound *in);
/* Wakes @worker if it sleeps. Call once after a batch of pushes. */
void dispatch_wake(struct dispatch *d, unsigned worker);
/* Wakes @worker for a flag it reads before it sleeps, never losing the
 * wake-up (wakeq_kick()): its sockets became ready, someone wants its calls. */
void dispatch_kick(struct dispatch *d, unsigned worker);

/* Worker side: moves everything queued for @worker into @batch (see
 * wakeq.h). Returns whether anything was there. */
bool dispatch_take(struct dispatch *d, unsigned worker, struct wakeq_batch *batch);
/* Worker side: @handled taken messages are done; frees their room in the
 * queue's bound. Counting while handling spares a walk over the batch. */
void dispatch_done(struct dispatch *d, unsigned worker, size_t handled);
/* Sleeps until a push, dispatch_stop(), or @timeout_ms (-1: no limit). */
void dispatch_wait(struct dispatch *d, unsigned worker, int timeout_ms);

/* dispatch_wait that also returns when one of @fds is readable (a worker
 * that reads its sockets itself, transport_udp.h). */
struct pollfd;
void dispatch_wait_fds(struct dispatch *d, unsigned worker, struct pollfd *fds, size_t count,
                       int timeout_ms);

/* Messages queued for @worker and not yet handled. */
size_t dispatch_depth(const struct dispatch *d, unsigned worker);

/* Tells every worker to finish: dispatch_stopping() turns true and sleepers
 * wake. Pushes must have ended before. */
void dispatch_stop(struct dispatch *d);
bool dispatch_stopping(const struct dispatch *d);

#endif
