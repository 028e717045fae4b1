/* rpc_common: byte-buffer and metadata helpers shared by the server and client layers. */
#ifndef COORD_API_RPC_COMMON_H
#define COORD_API_RPC_COMMON_H

#include <grpc/grpc.h>
#include <stddef.h>

/* The message as one contiguous slice (caller unrefs): the received slice itself when the
 * message came in one uncompressed slice, else one copy (which also decompresses). Large
 * messages arrive in many slices, so the copy is the common path for them. */
grpc_slice rpc_flatten(grpc_byte_buffer *bb);

/* The value of metadata `key` (not NUL-terminated, length in *len), or NULL. */
const char *rpc_find_metadata(const grpc_metadata_array *md, const char *key, size_t *len);

#endif
