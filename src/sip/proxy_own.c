/* Our own requests: a trunk's REGISTER and OPTIONS (proxy_trunk_reg.c),
 * keep-alives to phones behind NAT (proxy_natping.c). Written as text,
 * parsed, sent as client transactions whose branch (ctx NULL) stays on
 * its owner's list until the transaction goes: the layer frees
 * transactions without callbacks at shutdown, the owner then frees what
 * is left. See proxy_int.h. */
#include "proxy_int.h"

#include <stdlib.h>
#include <sys/random.h>

#include "switchboard/error.h"

uint64_t proxy_random64(void)
{
    uint64_t r = 0;
    if (getrandom(&r, sizeof(r), 0) != sizeof(r))
        r = sb_now_ms();
    return r;
}

int proxy_own_parse(const char *text, int n, size_t size, osip_message_t **out)
{
    osip_message_t *msg = NULL;
    if (n < 0 || (size_t)n >= size || osip_message_init(&msg) != 0)
        return SB_ERANGE;
    if (osip_message_parse(msg, text, (size_t)n) != 0) {
        osip_message_free(msg);
        return SB_EMALFORMED;
    }
    *out = msg;
    return 0;
}

int proxy_own_send(struct proxy *p, osip_message_t *req, const struct sb_dest *dest,
                   struct proxy_branch *b, struct proxy_branch **list)
{
    int rc = txn_client_send(p->txn, req, dest, b, &b->ct);
    if (rc == 0) {
        b->next = *list;
        *list = b;
    }
    return rc;
}

void proxy_own_unlink(struct proxy_branch **list, struct proxy_branch *b)
{
    for (struct proxy_branch **pp = list; *pp; pp = &(*pp)->next)
        if (*pp == b) {
            *pp = b->next;
            return;
        }
}

void proxy_own_free_all(struct proxy_branch **list)
{
    while (*list) {
        struct proxy_branch *b = *list;
        *list = b->next;
        free(b->nat_key);
        free(b);
    }
}
