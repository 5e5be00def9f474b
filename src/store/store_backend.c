/* What every store backend shares. See store_backend.h. */
#include "switchboard/store_backend.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "switchboard/types.h"

int64_t store_wall_offset_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    int64_t wall = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
    return wall - (int64_t)sb_now_ms();
}

void store_names_add(void *arg, const char *aor)
{
    struct store_names *l = arg;
    if (l->failed)
        return;
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 1024;
        char **v = realloc(l->v, cap * sizeof(*v));
        if (!v) {
            l->failed = true;
            return;
        }
        l->v = v;
        l->cap = cap;
    }
    if (!(l->v[l->n] = strdup(aor)))
        l->failed = true;
    else
        l->n++;
}

void store_names_free(struct store_names *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->v[i]);
    free(l->v);
    *l = (struct store_names){0};
}
