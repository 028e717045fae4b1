# libcoord: the C client library (libcoord.h). Included by api/CMakeLists.txt.
# libcoord_values holds what needs no gRPC (byte helpers, response memory) so tests of code
# that only formats libcoord values can link it alone.
add_library(libcoord_values STATIC ${CMAKE_CURRENT_LIST_DIR}/libcoord_mem.c)
target_include_directories(libcoord_values PUBLIC ${CMAKE_CURRENT_LIST_DIR})
set_target_properties(libcoord_values PROPERTIES OUTPUT_NAME coord_values)

if(TARGET coord_rpc AND EXISTS ${CMAKE_CURRENT_LIST_DIR}/rpc_client.c)
  add_library(libcoord STATIC ${CMAKE_CURRENT_LIST_DIR}/libcoord_codec.c
                              ${CMAKE_CURRENT_LIST_DIR}/libcoord_client.c
                              ${CMAKE_CURRENT_LIST_DIR}/libcoord_lease.c
                              ${CMAKE_CURRENT_LIST_DIR}/libcoord_lock.c
                              ${CMAKE_CURRENT_LIST_DIR}/libcoord_member.c
                              ${CMAKE_CURRENT_LIST_DIR}/libcoord_watch.c)
  target_include_directories(libcoord PUBLIC ${CMAKE_CURRENT_LIST_DIR})
  target_link_libraries(libcoord PUBLIC libcoord_values coord_rpc coord_pb Threads::Threads)
  set_target_properties(libcoord PROPERTIES OUTPUT_NAME coord_client)
endif()
