/* Address ranges written "CIDR[:PORT]" ("10.0.0.0/8", "127.0.0.1:6379",
 * "[fd00::/8]:5060"), comma-separated in a list: the [proxy]
 * forbidden_targets setting. A bare address is a /32 (/128); no port
 * means every port. Pure functions; a parsed list is read-only. */
#ifndef SWITCHBOARD_CIDR_H
#define SWITCHBOARD_CIDR_H

#include <stdbool.h>
#include <stddef.h>

struct sb_addr;

struct cidr_range {
    int family;               /* AF_INET or AF_INET6 */
    unsigned char addr[16];   /* network order, host bits cleared */
    unsigned bits;            /* prefix length */
    unsigned port;            /* 0: any */
};

struct cidr_list {
    struct cidr_range *items;
    size_t count;
};

/* Parses @text (NULL or empty: an empty list). On error returns SB_EINVAL
 * with the offending entry named in @err. */
int cidr_list_parse(const char *text, struct cidr_list *out, char *err, size_t err_size);
void cidr_list_free(struct cidr_list *list);

/* Does @addr (with its port) fall in one of the ranges? IPv4-mapped IPv6
 * addresses match IPv4 ranges. */
bool cidr_list_match(const struct cidr_list *list, const struct sb_addr *addr);

#endif
