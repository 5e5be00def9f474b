/* Connections per source IP. See stream_ips.h. */
#include "switchboard/stream_ips.h"

#include <netinet/in.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "switchboard/error.h"
#include "switchboard/hash.h"

#define IP_BUCKETS 4096

struct stream_ips {
    pthread_mutex_t lock;
    struct stream_ip *buckets[IP_BUCKETS];
};

int stream_ips_create(struct stream_ips **out)
{
    struct stream_ips *t = calloc(1, sizeof(*t));
    if (!t)
        return SB_ENOMEM;
    pthread_mutex_init(&t->lock, NULL);
    *out = t;
    return 0;
}

void stream_ips_destroy(struct stream_ips *t)
{
    if (!t)
        return;
    for (size_t b = 0; b < IP_BUCKETS; b++) {
        while (t->buckets[b]) {
            struct stream_ip *e = t->buckets[b];
            t->buckets[b] = e->next;
            free(e);
        }
    }
    pthread_mutex_destroy(&t->lock);
    free(t);
}

static struct sb_addr ip_only(const struct sb_addr *a)
{
    struct sb_addr ip = *a;
    if (ip.ss.ss_family == AF_INET)
        ((struct sockaddr_in *)&ip.ss)->sin_port = 0;
    else
        ((struct sockaddr_in6 *)&ip.ss)->sin6_port = 0;
    return ip;
}

static size_t bucket_of(const struct sb_addr *ip)
{
    return (size_t)(sb_hash((const char *)&ip->ss, ip->len) % IP_BUCKETS);
}

static bool same_ip(const struct sb_addr *a, const struct sb_addr *b)
{
    return a->len == b->len && memcmp(&a->ss, &b->ss, a->len) == 0;
}

struct stream_ip *stream_ips_take(struct stream_ips *t, const struct sb_addr *peer, unsigned max)
{
    struct sb_addr ip = ip_only(peer);
    size_t b = bucket_of(&ip);
    pthread_mutex_lock(&t->lock);
    struct stream_ip *e = t->buckets[b];
    while (e && !same_ip(&e->ip, &ip))
        e = e->next;
    if (!e && (e = calloc(1, sizeof(*e))) != NULL) {
        e->ip = ip;
        e->next = t->buckets[b];
        t->buckets[b] = e;
    }
    if (e && e->count >= max)
        e = NULL;
    if (e)
        e->count++;
    pthread_mutex_unlock(&t->lock);
    return e;
}

void stream_ips_release(struct stream_ips *t, struct stream_ip *e)
{
    if (!e)
        return;
    pthread_mutex_lock(&t->lock);
    if (--e->count == 0) {
        struct stream_ip **pp = &t->buckets[bucket_of(&e->ip)];
        while (*pp != e)
            pp = &(*pp)->next;
        *pp = e->next;
        free(e);
    }
    pthread_mutex_unlock(&t->lock);
}
