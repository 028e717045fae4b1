#!/usr/bin/env bash
# Runs one transcript through the shared side-by-side tool (../shared/tools/side-by-side beside
# the repository) and then ends any server it left running: the tool starts its servers from a
# command substitution, so its own cleanup does not see their PIDs. Its temp dir is put under
# ours, so the servers it started are exactly those whose --data-dir lies there.
#   run_side_by_side.sh SERVER_BIN sidebyside/NAME.txt
# Exit code: the tool's (0 same answers, 1 they differ, 2 a server did not start).
. "$(dirname "$0")/lib.sh"

transcript=${2:?usage: run_side_by_side.sh SERVER_BIN TRANSCRIPT}
tool="$(cd "$(dirname "$0")" && pwd)/../../../shared/tools/side-by-side"
[ -f "$tool" ] || fail "side-by-side tool not found at $tool"
mkdir "$WORK/sbs"
TMPDIR="$WORK/sbs" bash "$tool" "$SERVER_BIN" "$transcript"
rc=$?
left=$(pgrep -f -- "--data-dir $WORK/sbs/" || true)
for pid in $left; do
  note "ending server PID $pid that side-by-side left running"
  kill -TERM "$pid" 2>/dev/null
done
deadline=$((SECONDS + 5))
for pid in $left; do
  while [ -d "/proc/$pid" ] && [ $SECONDS -lt $deadline ]; do sleep "$POLL_S"; done
  [ -d "/proc/$pid" ] && kill -KILL "$pid" 2>/dev/null
done
exit $rc
