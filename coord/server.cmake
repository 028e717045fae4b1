# The coord server executable (included from coord/CMakeLists.txt once the gRPC layer exists).
add_library(coord_server_lib STATIC node.c raft_store.c apply.c server.c members.c membership.c peer.c peer_conn.c
  kv_service.c maintenance_service.c cluster_service.c coordpb_service.c
  apply_lease.c lease_store.c lease_expiry.c lease_service.c lease_forward.c recipe.c lock_service.c
  election_service.c watch_service.c
  snapshot.c snapshot_files.c snapshot_store.c snapshot_stream.c)
target_include_directories(coord_server_lib PUBLIC ${CMAKE_CURRENT_SOURCE_DIR})
target_link_libraries(coord_server_lib PUBLIC coord_core coord_rpc coord_lease coord_raft coord_watch)

add_executable(coord main.c)
target_link_libraries(coord PRIVATE coord_server_lib)
