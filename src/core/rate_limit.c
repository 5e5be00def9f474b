/* Token buckets per source address. See rate_limit.h. */
#include "switchboard/rate_limit.h"

#include <stdlib.h>
#include <string.h>

#include "switchboard/error.h"

#define SLOTS 4096 /* power of two */

struct bucket {
    unsigned char key[16]; /* IPv4 or IPv6 address */
    uint64_t refilled_ms;
    uint32_t milli_tokens; /* tokens times 1000, for sub-token refills */
    bool used;
};

struct rate_limit {
    uint32_t per_second;
    uint32_t burst_milli;
    struct bucket slots[SLOTS];
};

int rate_limit_create(unsigned per_second, struct rate_limit **out)
{
    struct rate_limit *rl = calloc(1, sizeof(*rl));
    if (!rl)
        return SB_ENOMEM;
    rl->per_second = per_second;
    rl->burst_milli = 2u * per_second * 1000u;
    *out = rl;
    return 0;
}

void rate_limit_destroy(struct rate_limit *rl)
{
    free(rl);
}

static void address_key(const struct sb_addr *src, unsigned char key[16])
{
    memset(key, 0, 16);
    if (src->ss.ss_family == AF_INET6)
        memcpy(key, &((const struct sockaddr_in6 *)&src->ss)->sin6_addr, 16);
    else
        memcpy(key, &((const struct sockaddr_in *)&src->ss)->sin_addr, 4);
}

bool rate_limit_allow(struct rate_limit *rl, const struct sb_addr *src, uint64_t now_ms)
{
    unsigned char key[16];
    address_key(src, key);
    struct bucket *b = &rl->slots[sb_hash((const char *)key, sizeof(key)) & (SLOTS - 1)];
    if (!b->used || memcmp(b->key, key, sizeof(key)) != 0) {
        memcpy(b->key, key, sizeof(key));
        b->used = true;
        b->milli_tokens = rl->burst_milli;
        b->refilled_ms = now_ms;
    }
    uint64_t elapsed = now_ms > b->refilled_ms ? now_ms - b->refilled_ms : 0;
    uint64_t refill = elapsed * rl->per_second; /* ms * per-second = milli-tokens */
    b->milli_tokens =
        (uint32_t)(b->milli_tokens + refill > rl->burst_milli ? rl->burst_milli
                                                              : b->milli_tokens + refill);
    b->refilled_ms = now_ms;
    if (b->milli_tokens < 1000)
        return false;
    b->milli_tokens -= 1000;
    return true;
}
