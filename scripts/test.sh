#!/usr/bin/env bash
# Installs what is missing, builds coord twice (release with gcc, ASan+UBSan with clang, so both
# compilers see every file under -Werror) and runs every test: unit and simulation tests under
# both builds, integration tests on the release build.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
jobs=$(nproc)
bash "$here/scripts/deps.sh"

echo "== build (release) =="
cmake -S "$here" -B "$here/build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$here/build" -j"$jobs"

echo "== build (ASan+UBSan, clang) =="
CC=clang cmake -S "$here" -B "$here/build-asan" -DCMAKE_BUILD_TYPE=Debug -DCOORD_SANITIZE=ON >/dev/null
cmake --build "$here/build-asan" -j"$jobs"

export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1

echo "== unit and simulation tests (ASan+UBSan) =="
(cd "$here/build-asan" && ctest --output-on-failure -L 'unit|sim' -j"$jobs")

echo "== all tests (release) =="
(cd "$here/build" && ctest --output-on-failure -j1)
