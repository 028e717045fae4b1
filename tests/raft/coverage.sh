#!/usr/bin/env bash
# Line coverage of raft/ from its tests (unit, interaction scripts, CI simulator seeds).
#   tests/raft/coverage.sh [BUILD_DIR]     (default: build-cov next to the sources)
set -euo pipefail
here=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:-$here/build-cov}
cmake -S "$here" -B "$build" -DCMAKE_BUILD_TYPE=Debug -DCOORD_COVERAGE=ON >/dev/null
cmake --build "$build" -j2 --target coord_raft raft_harness raft_sim raft_interact \
  test_raft_election test_raft_replication test_raft_snapshot test_raft_membership \
  test_raft_read_transfer test_raft_codec >/dev/null
objs=$(find "$build" -type d -path '*CMakeFiles/coord_raft.dir' | head -n 1)
find "$objs" -name '*.gcda' -delete
(cd "$build" && ctest -R '^raft_' -j2 >/dev/null)
lcov --capture --directory "$objs" --output-file "$build/raft.info" -q 2>/dev/null
lcov --list "$build/raft.info" 2>/dev/null | tail -n 14
