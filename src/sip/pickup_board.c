/* Ringing calls, shared by the workers. See pickup_board.h. */
#include "switchboard/pickup_board.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "switchboard/error.h"

struct pickup_board {
    pthread_mutex_t lock;
    size_t max, count;
    struct pickup_call **calls; /* [0, count): ringing, oldest first */
};

int pickup_board_create(size_t max, struct pickup_board **out)
{
    struct pickup_board *b = calloc(1, sizeof(*b));
    if (b)
        b->calls = calloc(max ? max : 1, sizeof(*b->calls));
    if (!b || !b->calls) {
        free(b);
        return SB_ENOMEM;
    }
    pthread_mutex_init(&b->lock, NULL);
    b->max = max;
    *out = b;
    return 0;
}

void pickup_board_destroy(struct pickup_board *b)
{
    if (!b)
        return;
    for (size_t i = 0; i < b->count; i++)
        free(b->calls[i]);
    free(b->calls);
    pthread_mutex_destroy(&b->lock);
    free(b);
}

/* Where @call_id is, or b->count. Under the lock. */
static size_t find(const struct pickup_board *b, const char *call_id)
{
    size_t i = 0;
    while (i < b->count && strcmp(b->calls[i]->call_id, call_id) != 0)
        i++;
    return i;
}

/* Removes entry @i, keeping the order (oldest first). Under the lock. */
static void drop(struct pickup_board *b, size_t i)
{
    free(b->calls[i]);
    memmove(&b->calls[i], &b->calls[i + 1], (b->count - i - 1) * sizeof(*b->calls));
    b->count--;
}

void pickup_board_ring(struct pickup_board *b, const struct pickup_call *c)
{
    pthread_mutex_lock(&b->lock);
    if (find(b, c->call_id) == b->count && b->count < b->max) {
        struct pickup_call *copy = malloc(sizeof(*copy));
        if (copy) {
            *copy = *c;
            b->calls[b->count++] = copy;
        }
    }
    pthread_mutex_unlock(&b->lock);
}

void pickup_board_gone(struct pickup_board *b, const char *call_id)
{
    pthread_mutex_lock(&b->lock);
    size_t i = find(b, call_id);
    if (i < b->count)
        drop(b, i);
    pthread_mutex_unlock(&b->lock);
}

bool pickup_board_claim(struct pickup_board *b, pickup_match match, void *ctx, const char *picker,
                        struct pickup_call *out)
{
    bool found = false;
    pthread_mutex_lock(&b->lock);
    for (size_t i = 0; i < b->count && !found; i++) {
        struct pickup_call *c = b->calls[i];
        if (c->picker[0] || !match(ctx, c))
            continue;
        snprintf(c->picker, sizeof(c->picker), "%s", picker);
        *out = *c;
        found = true;
    }
    pthread_mutex_unlock(&b->lock);
    return found;
}

size_t pickup_board_claimed(struct pickup_board *b, const void *owner, struct pickup_call *out,
                            size_t max)
{
    size_t n = 0;
    pthread_mutex_lock(&b->lock);
    for (size_t i = 0; i < b->count && n < max;) {
        if (b->calls[i]->owner != owner || !b->calls[i]->picker[0]) {
            i++;
            continue;
        }
        out[n++] = *b->calls[i];
        drop(b, i);
    }
    pthread_mutex_unlock(&b->lock);
    return n;
}

size_t pickup_board_count(struct pickup_board *b)
{
    pthread_mutex_lock(&b->lock);
    size_t n = b->count;
    pthread_mutex_unlock(&b->lock);
    return n;
}
