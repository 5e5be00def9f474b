/* Unit tests for src/core/cidr.c: "CIDR[:PORT]" lists, as [proxy]
 * forbidden_targets is written. */
#include "switchboard/cidr.h"
#include "switchboard/error.h"
#include "switchboard/sip_msg.h"
#include "test_helpers.h"

Test(cidr, ranges_with_and_without_ports)
{
    struct cidr_list l;
    char err[128] = "";
    cr_assert_eq(cidr_list_parse(" 10.0.0.0/8 ,127.0.0.1:6379, [fd00::/8]:5060, ::1", &l, err,
                                 sizeof(err)),
                 0, "%s", err);
    cr_assert_eq(l.count, 4);
    struct sb_addr a;
    sipmsg_host_to_addr("10.200.3.4", 1, &a);
    cr_assert(cidr_list_match(&l, &a));
    sipmsg_host_to_addr("11.0.0.1", 1, &a);
    cr_assert_not(cidr_list_match(&l, &a));
    sipmsg_host_to_addr("127.0.0.1", 6379, &a);
    cr_assert(cidr_list_match(&l, &a));
    sipmsg_host_to_addr("127.0.0.1", 6380, &a);
    cr_assert_not(cidr_list_match(&l, &a));
    sipmsg_host_to_addr("fd12::1", 5060, &a);
    cr_assert(cidr_list_match(&l, &a));
    sipmsg_host_to_addr("fd12::1", 5061, &a);
    cr_assert_not(cidr_list_match(&l, &a));
    sipmsg_host_to_addr("::ffff:10.1.1.1", 9, &a);
    cr_assert(cidr_list_match(&l, &a), "v4-mapped matches the v4 range");
    cidr_list_free(&l);
    cr_assert_eq(cidr_list_parse("", &l, err, sizeof(err)), 0);
    cr_assert_eq(l.count, 0);
    static const char *bad[] = {"10.0.0.0/33", "10.0.0.1:0", "host.example", "[::1",
                                "10.0.0.1:99999", "1.2.3.4/"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        cr_assert_eq(cidr_list_parse(bad[i], &l, err, sizeof(err)), SB_EINVAL, "%s", bad[i]);
        cr_assert_not_null(strstr(err, "CIDR"), "%s", err);
    }
}
