/* Unit tests for src/io/stream_ips.c: connections per source IP, the
 * [tcp] max_per_ip limit. Ports do not matter, addresses do, and a place
 * given back can be taken again. */
#include <criterion/criterion.h>

#include "switchboard/sip_msg.h"
#include "switchboard/stream_ips.h"

static struct sb_addr addr(const char *ip, unsigned port)
{
    struct sb_addr a;
    cr_assert_eq(sipmsg_host_to_addr(ip, port, &a), 0);
    return a;
}

Test(stream_ips, one_ip_is_one_count_whatever_its_ports)
{
    struct stream_ips *t;
    cr_assert_eq(stream_ips_create(&t), 0);
    struct sb_addr a1 = addr("192.0.2.7", 40000), a2 = addr("192.0.2.7", 40001);
    struct stream_ip *first = stream_ips_take(t, &a1, 2);
    struct stream_ip *second = stream_ips_take(t, &a2, 2);
    cr_assert_not_null(first);
    cr_assert_eq(first, second, "one entry for the address");
    cr_assert_null(stream_ips_take(t, &a1, 2), "the third is past the limit");
    struct sb_addr other = addr("192.0.2.8", 40000);
    struct stream_ip *elsewhere = stream_ips_take(t, &other, 2);
    cr_assert_not_null(elsewhere);
    cr_assert_neq(elsewhere, first);
    stream_ips_release(t, second);
    cr_assert_not_null(stream_ips_take(t, &a2, 2), "a place given back is free again");
    stream_ips_release(t, NULL); /* nothing */
    stream_ips_destroy(t);
}

Test(stream_ips, the_last_release_forgets_the_address)
{
    struct stream_ips *t;
    cr_assert_eq(stream_ips_create(&t), 0);
    struct sb_addr a = addr("2001:db8::1", 5061);
    struct stream_ip *e = stream_ips_take(t, &a, 1);
    cr_assert_not_null(e);
    atomic_fetch_add(&e->queued, 100);
    stream_ips_release(t, e);
    struct stream_ip *again = stream_ips_take(t, &a, 1);
    cr_assert_not_null(again);
    cr_assert_eq(atomic_load(&again->queued), 0, "a new entry, nothing queued");
    stream_ips_release(t, again);
    stream_ips_destroy(t);
}
