#include "wait.h"

#include <pthread.h>
#include <stdlib.h>

struct waiter {
    uint64_t id;
    int64_t deadline_ms;
    wait_fn fn;
    void *arg;
    struct waiter *next;
};

#define WAIT_BUCKETS 1024 /* power of two */

struct wait_registry {
    pthread_mutex_t mu;
    struct waiter *buckets[WAIT_BUCKETS]; /* chained by id; ids are unique while waiting */
};

static size_t bucket_of(uint64_t id)
{
    id ^= id >> 33;
    id *= 0xff51afd7ed558ccdULL;
    id ^= id >> 33;
    return (size_t)(id & (WAIT_BUCKETS - 1));
}

int wait_create(wait_registry **out)
{
    wait_registry *w = calloc(1, sizeof(*w));
    if (!w) return -1;
    pthread_mutex_init(&w->mu, NULL);
    *out = w;
    return 0;
}

void wait_destroy(wait_registry *w)
{
    if (!w) return;
    wait_cancel_all(w, COORD_ERR_STOPPED);
    pthread_mutex_destroy(&w->mu);
    free(w);
}

int wait_register(wait_registry *w, uint64_t id, wait_fn fn, void *arg, int64_t deadline_ms)
{
    struct waiter *n = malloc(sizeof(*n));
    if (!n) return -1;
    n->id = id;
    n->deadline_ms = deadline_ms;
    n->fn = fn;
    n->arg = arg;
    size_t b = bucket_of(id);
    pthread_mutex_lock(&w->mu);
    n->next = w->buckets[b];
    w->buckets[b] = n;
    pthread_mutex_unlock(&w->mu);
    return 0;
}

static struct waiter *take(wait_registry *w, uint64_t id)
{
    size_t b = bucket_of(id);
    pthread_mutex_lock(&w->mu);
    struct waiter **pp = &w->buckets[b];
    while (*pp && (*pp)->id != id) pp = &(*pp)->next;
    struct waiter *n = *pp;
    if (n) *pp = n->next;
    pthread_mutex_unlock(&w->mu);
    return n;
}

int wait_trigger(wait_registry *w, uint64_t id, coord_err err, grpc_byte_buffer *response)
{
    struct waiter *n = take(w, id);
    if (!n) return 0;
    n->fn(n->arg, err, response);
    free(n);
    return 1;
}

int wait_forget(wait_registry *w, uint64_t id)
{
    struct waiter *n = take(w, id);
    free(n);
    return n != NULL;
}

int wait_has(wait_registry *w, uint64_t id)
{
    size_t b = bucket_of(id);
    pthread_mutex_lock(&w->mu);
    struct waiter *n = w->buckets[b];
    while (n && n->id != id) n = n->next;
    pthread_mutex_unlock(&w->mu);
    return n != NULL;
}

void wait_cancel_all(wait_registry *w, coord_err err)
{
    for (size_t b = 0; b < WAIT_BUCKETS; b++) {
        pthread_mutex_lock(&w->mu);
        struct waiter *list = w->buckets[b];
        w->buckets[b] = NULL;
        pthread_mutex_unlock(&w->mu);
        while (list) {
            struct waiter *next = list->next;
            list->fn(list->arg, err, NULL);
            free(list);
            list = next;
        }
    }
}

void wait_expire(wait_registry *w, int64_t now_ms, coord_err err)
{
    for (size_t b = 0; b < WAIT_BUCKETS; b++) {
        struct waiter *due = NULL;
        pthread_mutex_lock(&w->mu);
        struct waiter **pp = &w->buckets[b];
        while (*pp) {
            struct waiter *n = *pp;
            if (n->deadline_ms && n->deadline_ms <= now_ms) {
                *pp = n->next;
                n->next = due;
                due = n;
            } else {
                pp = &n->next;
            }
        }
        pthread_mutex_unlock(&w->mu);
        while (due) {
            struct waiter *next = due->next;
            due->fn(due->arg, err, NULL);
            free(due);
            due = next;
        }
    }
}
