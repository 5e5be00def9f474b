/* Which threads handle SIP. See thread_role.h. */
#include "switchboard/thread_role.h"

static _Thread_local bool sip_thread;

void sb_thread_mark_sip(void)
{
    sip_thread = true;
}

bool sb_thread_is_sip(void)
{
    return sip_thread;
}
