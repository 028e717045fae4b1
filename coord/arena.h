/* arena: a bump allocator for the life of one request's response.
 *
 * Responses point into RocksDB data that lives only during a visit; the apply step copies what
 * a response needs into an arena, encodes the response, and drops the arena in one call. The
 * arena owns every block it hands out; arena_free releases them all.
 */
#ifndef COORD_ARENA_H
#define COORD_ARENA_H

#include <stddef.h>

typedef struct arena_block arena_block;
typedef struct arena {
    arena_block *head; /* newest block first */
} arena;

/* Zero-initialised is an empty arena. Returns NULL when out of memory. */
void *arena_alloc(arena *a, size_t size);
void *arena_memdup(arena *a, const void *p, size_t size);
void arena_free(arena *a);

#endif
