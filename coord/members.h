/* members: what a member tells the others about itself, through the log, as etcd does: once a
 * leader is known, each member proposes its attributes (name and client URLs); every member
 * records them when the entry applies, so MemberList (and `endpoint status --cluster`) shows
 * every started member's client URLs, on any member.
 *
 * Stored in STORAGE_CF_RAFTMETA under "attr/" ‖ be64 member ID, as an encoded
 * etcdserverpb.Member, in the same batch as the applied index.
 */
#ifndef COORD_MEMBERS_H
#define COORD_MEMBERS_H

#include "server.h"

/* On the node thread, every tick: proposes this member's attributes until they are applied. */
void members_tick(coord_server *s);
/* Applies an ENTRY_MEMBER_ATTR entry. Returns 0, or -1 on a storage failure. */
int members_apply_attr(coord_server *s, uint64_t index, const uint8_t *req, size_t len);
/* The attributes member id published, encoded (malloc'd; NULL if none yet). */
uint8_t *members_attr(coord_server *s, uint64_t id, size_t *len);

#endif
