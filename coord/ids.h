/* ids: member and cluster IDs derived as etcd derives them, so that a coord member bootstrapped
 * with the same flags as an etcd member has the same IDs (clients and scripts print them).
 *
 *   member ID  = first 8 bytes, big-endian, of SHA-1(peer URLs sorted as strings, concatenated
 *                ‖ cluster token ‖ decimal Unix seconds if a time is given)
 *   cluster ID = first 8 bytes, big-endian, of SHA-1(member IDs sorted ascending, each 8 bytes BE)
 */
#ifndef COORD_IDS_H
#define COORD_IDS_H

#include <stddef.h>
#include <stdint.h>

/* unix_seconds < 0: no time (bootstrap members). Returns 0, or -1 when out of memory. */
int ids_member_id(const char *const *peer_urls, size_t n, const char *token, int64_t unix_seconds,
                  uint64_t *out);
int ids_cluster_id(const uint64_t *member_ids, size_t n, uint64_t *out);

#endif
