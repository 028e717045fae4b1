#!/usr/bin/env bash
# Rule: a flag value that does not parse (a number that is not a number, an unknown cluster
# state) makes the server exit non-zero, naming the flag, without starting.
. "$(dirname "$0")/lib.sh"

# shellcheck disable=SC2046  # isolated_flags prints several words on purpose
expect_server_refuses $(isolated_flags s) --max-request-bytes=lots
note "--max-request-bytes=lots: exit $REFUSE_RC: $(printf '%s' "$REFUSE_OUT" | head -1)"
assert_contains "$REFUSE_OUT" "max-request-bytes" "message for --max-request-bytes=lots"
# shellcheck disable=SC2046
expect_server_refuses $(isolated_flags t) --initial-cluster-state=sideways
note "--initial-cluster-state=sideways: exit $REFUSE_RC: $(printf '%s' "$REFUSE_OUT" | head -1)"
assert_contains "$REFUSE_OUT" "initial-cluster-state" "message for --initial-cluster-state=sideways"
pass
