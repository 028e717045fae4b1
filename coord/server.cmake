# The coord server executable (included from coord/CMakeLists.txt once main.c exists).
pkg_check_modules(NETTLE REQUIRED IMPORTED_TARGET nettle)

add_library(coord_server_lib STATIC
  config.c errors.c ids.c wait.c node.c arena.c kv_exec.c apply.c server.c
  kv_service.c maintenance_service.c cluster_service.c coordpb_service.c)
target_include_directories(coord_server_lib PUBLIC ${CMAKE_CURRENT_SOURCE_DIR})
target_compile_definitions(coord_server_lib PUBLIC
  COORD_VERSION="${PROJECT_VERSION}" COORD_ETCD_VERSION="${COORD_ETCD_VERSION}")
target_link_libraries(coord_server_lib PUBLIC coord_store coord_rpc coord_pb PkgConfig::NETTLE
  Threads::Threads)

add_executable(coord main.c)
target_link_libraries(coord PRIVATE coord_server_lib)
