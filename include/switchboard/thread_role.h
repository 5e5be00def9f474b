/* Which threads handle SIP. A thread that reads, routes or answers SIP
 * (listeners, workers, stream I/O threads) marks itself at start; code
 * that may block (name resolution, disk) asserts it is not on one, so a
 * debug build fails at once where a release build would stall traffic. */
#ifndef SWITCHBOARD_THREAD_ROLE_H
#define SWITCHBOARD_THREAD_ROLE_H

#include <stdbool.h>

/* Marks the calling thread as one that handles SIP. */
void sb_thread_mark_sip(void);

/* Was the calling thread marked? */
bool sb_thread_is_sip(void);

#endif
