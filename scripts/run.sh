#!/usr/bin/env bash
# Installs what is missing, builds, and runs coord with its defaults (like `etcd` with no flags):
# one member on 127.0.0.1:2379, data in ./default.coord. Extra arguments go to coord.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
bash "$here/scripts/deps.sh"
cmake -S "$here" -B "$here/build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$here/build" -j"$(nproc)" --target coord coordctl
exec "$here/build/coord" "$@"
