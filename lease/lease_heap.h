/* lease_heap: an indexed binary min-heap of leases by one of their times (internal to lease/).
 *
 * Each lease carries, per heap, its key (a time in ms) and its position in that heap, so a
 * lease is moved in place when its time changes (O(log n)) and removed without a search.
 * Invariant: for every slot i > 0, key(items[(i-1)/2]) <= key(items[i]); items[i]->pos[w] == i
 * for every lease in heap w, and pos[w] == LEASE_HEAP_NONE for a lease not in it.
 */
#ifndef COORD_LEASE_HEAP_H
#define COORD_LEASE_HEAP_H

#include <stddef.h>
#include <stdint.h>

#define LEASE_HEAP_NONE ((size_t)-1)

enum { LEASE_HEAP_EXPIRY = 0, LEASE_HEAP_CHECKPOINT = 1, LEASE_HEAP_COUNT };

/* One lease of the table (lease_table.c keeps them in its hash map). */
struct lease_entry {
    int64_t id;
    int64_t ttl;           /* granted, seconds */
    int64_t remaining_ttl; /* last checkpointed, seconds; 0: none */
    /* Primary only: when the lease expires (ms on the table's clock); INT64_MAX while not
     * primary. */
    int64_t expiry;
    /* Heap keys: [EXPIRY] = when to hand the lease out as expired (its expiry, or a retry time
     * once handed out); [CHECKPOINT] = when its next checkpoint is due. */
    int64_t key[LEASE_HEAP_COUNT];
    size_t pos[LEASE_HEAP_COUNT]; /* slot in each heap, or LEASE_HEAP_NONE */
    struct lease_entry *next;     /* hash chain */
};

typedef struct lease_heap {
    struct lease_entry **items;
    size_t n, cap;
    int which; /* LEASE_HEAP_EXPIRY or LEASE_HEAP_CHECKPOINT: the key and position used */
} lease_heap;

struct lease_entry *lease_heap_top(const lease_heap *h);
/* Inserts e with key, or moves it to key if it is already in the heap. -1 on no memory. */
int lease_heap_set(lease_heap *h, struct lease_entry *e, int64_t key);
void lease_heap_remove(lease_heap *h, struct lease_entry *e);
void lease_heap_clear(lease_heap *h);
void lease_heap_free(lease_heap *h);

#endif
