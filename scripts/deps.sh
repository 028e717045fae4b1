#!/usr/bin/env bash
# Installs the Debian 12 packages coord needs to build, test and benchmark, when missing.
# Runs apt-get only if something is absent (as root, or through sudo when available).
set -euo pipefail
pkgs=(build-essential cmake pkg-config clang libclang-rt-14-dev
      libgrpc-dev nanopb libnanopb-dev protobuf-compiler
      librocksdb-dev libcmocka-dev libjansson-dev nettle-dev
      etcd-server etcd-client python3 python3-grpcio lcov iproute2 procps)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
echo "installing: ${missing[*]}" >&2
sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
# The etcd-server package must not leave a system etcd running on our ports: while it installs,
# policy-rc.d tells the package scripts not to start services.
added_policy=""
if [ ! -e /usr/sbin/policy-rc.d ]; then
  printf '#!/bin/sh\nexit 101\n' | $sudo tee /usr/sbin/policy-rc.d >/dev/null
  $sudo chmod +x /usr/sbin/policy-rc.d
  added_policy=1
fi
rc=0
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null || rc=$?
[ -n "$added_policy" ] && $sudo rm -f /usr/sbin/policy-rc.d
exit $rc
