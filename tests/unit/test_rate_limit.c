/* Unit tests for src/io/rate_limit.c. */
#include <criterion/criterion.h>

#include "switchboard/rate_limit.h"
#include "switchboard/sip_msg.h"

Test(rate_limit, a_burst_then_the_steady_rate)
{
    struct rate_limit *rl;
    struct sb_addr a, b;
    sipmsg_host_to_addr("127.0.0.2", 5060, &a);
    sipmsg_host_to_addr("127.0.0.3", 5060, &b);
    cr_assert_eq(rate_limit_create(10, &rl), 0);
    int allowed = 0;
    for (int i = 0; i < 100; i++)
        allowed += rate_limit_allow(rl, &a, 1000);
    cr_assert_eq(allowed, 20, "a burst of twice the rate");
    cr_assert(rate_limit_allow(rl, &b, 1000), "another source has its own bucket");
    cr_assert_not(rate_limit_allow(rl, &a, 1050), "half a token is not a token");
    cr_assert(rate_limit_allow(rl, &a, 1100), "100 ms at 10/s refills one");
    allowed = 0;
    for (int i = 0; i < 100; i++)
        allowed += rate_limit_allow(rl, &a, 60000);
    cr_assert_eq(allowed, 20, "refills stop at the burst");
    rate_limit_destroy(rl);
}
