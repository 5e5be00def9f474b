/* The one hand-off primitive between threads: a bounded multi-producer,
 * single-consumer queue with coalesced wake-ups. Listeners hand messages to
 * workers through it, workers hand journal lines to the journal writer and
 * registration changes to the store's persister.
 *
 * DESIGN: a liburcu wait-free concurrent queue (wfcqueue) plus an atomic
 * depth (the bound), a "sleeping" flag and an eventfd. A producer enqueues
 * without waiting; it writes the eventfd only when it finds the consumer's
 * flag set, so a busy consumer is never woken per item (libuv's
 * uv_async_send coalesces the same way). The consumer takes everything
 * queued at once (splice), counts what it handled, and before it sleeps it
 * sets the flag and looks once more, so no push is missed.
 *
 * Synchronization table (after liburcu's wfcqueue.h):
 *
 *   function        called by             may run concurrently with
 *   wakeq_push      any thread            push, wake, take, done, wait, stop
 *   wakeq_wake      any thread            everything
 *   wakeq_kick      any thread            everything
 *   wakeq_take      the consumer only     push, wake, stop
 *   wakeq_done      the consumer only     push, wake, stop
 *   wakeq_wait(_fds) the consumer only    push, wake, stop
 *   wakeq_sleep_*   the consumer only     push, wake, stop
 *   wakeq_fd        any thread            everything
 *   wakeq_stop      any thread            everything
 *   wakeq_destroy   one thread, once      nothing
 *
 * Items are the producer's until wakeq_push returns 0, then the consumer's.
 * Each push/take pair is marked for ThreadSanitizer (tsan_annotate.h). */
#ifndef SWITCHBOARD_WAKEQ_H
#define SWITCHBOARD_WAKEQ_H

#include <stdbool.h>
#include <stddef.h>

#include <urcu/wfcqueue.h>

struct wakeq;

/* A consumer's private list of taken items, drained with wakeq_batch_pop. */
struct wakeq_batch {
    struct cds_wfcq_head head;
    struct cds_wfcq_tail tail;
};

/* @limit bounds the depth (items pushed, not yet wakeq_done); 0 = no bound. */
int wakeq_create(size_t limit, struct wakeq **out);
/* Items still queued are passed to @release (may be NULL: leaked). */
void wakeq_destroy(struct wakeq *q, void (*release)(struct cds_wfcq_node *node));

/* Queues @node without waking anyone. Returns 0, or SB_ELIMIT when the
 * queue is full (@node stays the caller's). */
int wakeq_push(struct wakeq *q, struct cds_wfcq_node *node);
/* Wakes the consumer if it sleeps. Call once after a batch of pushes. */
void wakeq_wake(struct wakeq *q);
/* Wakes the consumer for something the queue does not show (a flag it
 * reads before it sleeps). wakeq_wake() would lose that wake-up when the
 * consumer has read the flag but not yet set its sleeping one: the
 * queue it looks at again is empty. This writes the eventfd whether it
 * sleeps or not, so its next sleep ends at once: a spurious wake-up at
 * worst, never a lost one. For rare events, not per item. */
void wakeq_kick(struct wakeq *q);

/* Consumer: moves everything queued into @batch (initialised by
 * wakeq_batch_init). Returns whether anything was there. */
bool wakeq_take(struct wakeq *q, struct wakeq_batch *batch);
/* Consumer: @handled taken items are done; frees their room in the bound. */
void wakeq_done(struct wakeq *q, size_t handled);
/* Consumer: sleeps until a push is woken, wakeq_stop(), or @timeout_ms
 * (-1: no limit). Returns at once when items or a stop are pending. */
void wakeq_wait(struct wakeq *q, int timeout_ms);

/* For a consumer that sleeps in its own poll or epoll (the stream I/O
 * threads): wakeq_fd() turns readable on a wake-up. Before sleeping call
 * wakeq_sleep_begin(); when it returns false something is pending, so do
 * not sleep. After the sleep (woken or not) call wakeq_sleep_end().
 * wakeq_wait() is these three steps around a poll(), except that it
 * reads the eventfd (in wakeq_sleep_end) only when poll() saw it fire. */
int wakeq_fd(const struct wakeq *q);
/* wakeq_wait that also returns when one of @fds (POLLIN) is ready; each
 * one's revents says whether it was (all POLLIN when it did not sleep:
 * then read them all). */
struct pollfd;
void wakeq_wait_fds(struct wakeq *q, struct pollfd *fds, size_t count, int timeout_ms);
bool wakeq_sleep_begin(struct wakeq *q);
void wakeq_sleep_end(struct wakeq *q);
/* Asks the consumer to finish: wakeq_stopping() turns true and it wakes. */
void wakeq_stop(struct wakeq *q);
bool wakeq_stopping(const struct wakeq *q);
/* Items pushed and not yet done (for gauges). */
size_t wakeq_depth(const struct wakeq *q);

void wakeq_batch_init(struct wakeq_batch *batch);
/* The next taken item, or NULL. */
struct cds_wfcq_node *wakeq_batch_pop(struct wakeq_batch *batch);
void wakeq_batch_fini(struct wakeq_batch *batch);

#endif
