/* watch_service: etcd's Watch service (/etcdserverpb.Watch/Watch) on the watch hub.
 *
 * The hub reads the store through a reader over MVCC (a read txn per view) and is told of every
 * new revision through the server's on_revision hook; each Watch call is one hub stream whose
 * responses are encoded here, with etcd's header, and queued on the gRPC stream.
 *
 * Life: register before the node starts (the hook must be in place before anything is applied);
 * stop once nothing is applied any more (the hub's threads read the store); free after the
 * client server is destroyed (closing streams calls into the hub).
 */
#ifndef COORD_WATCH_SERVICE_H
#define COORD_WATCH_SERVICE_H

#include "server.h"

typedef struct watch_service watch_service;

int watch_service_register(coord_server *s, watch_service **out);
void watch_service_stop(watch_service *ws); /* NULL: nothing */
void watch_service_free(watch_service *ws); /* NULL: nothing */

#endif
