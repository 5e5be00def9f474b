/* Hand-off annotations for ThreadSanitizer.
 *
 * liburcu's queues and RCU publication order memory with inline assembly and
 * volatile accesses that ThreadSanitizer cannot see, so an object built by
 * one thread and taken by another through them looks like a data race. At
 * each such hand-off the producer calls tsan_publish(obj) just before making
 * obj reachable and the consumer tsan_observe(obj) just after reaching it;
 * that is the happens-before edge the queue or RCU really provides. Outside a
 * ThreadSanitizer build both compile to nothing.
 */
#ifndef SB_TSAN_ANNOTATE_H
#define SB_TSAN_ANNOTATE_H

#if defined(__SANITIZE_THREAD__)
#define SB_TSAN_BUILD 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define SB_TSAN_BUILD 1
#endif
#endif

#ifdef SB_TSAN_BUILD
void __tsan_acquire(void *addr);
void __tsan_release(void *addr);
#define tsan_publish(obj) __tsan_release((void *)(obj))
#define tsan_observe(obj) __tsan_acquire((void *)(obj))
#else
#define tsan_publish(obj) ((void)(obj))
#define tsan_observe(obj) ((void)(obj))
#endif

/* RCU lifetimes. A reader done with an RCU-protected object calls
 * tsan_rcu_read_done(obj) after its last access to it (inside its read-side
 * section); whoever frees the object after a grace period (synchronize_rcu
 * or a call_rcu callback) calls tsan_rcu_reclaim(obj) first. Together they
 * state what the grace period guarantees: every read happened before the
 * free. Without them ThreadSanitizer sees each free as racing with the
 * readers, and with thousands of records its report bookkeeping alone
 * slows a run to a crawl. */
#ifdef SB_TSAN_BUILD
#define tsan_rcu_read_done(obj)                                                                    \
    do {                                                                                           \
        if (obj)                                                                                   \
            __tsan_release((void *)(obj));                                                         \
    } while (0)
#define tsan_rcu_reclaim(obj)                                                                      \
    do {                                                                                           \
        if (obj)                                                                                   \
            __tsan_acquire((void *)(obj));                                                         \
    } while (0)
#else
#define tsan_rcu_read_done(obj) ((void)(obj))
#define tsan_rcu_reclaim(obj) ((void)(obj))
#endif

#endif
