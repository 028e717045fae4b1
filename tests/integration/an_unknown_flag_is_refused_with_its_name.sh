#!/usr/bin/env bash
# Rule: a flag the server does not know makes it exit non-zero, naming the flag, without starting.
. "$(dirname "$0")/lib.sh"

# shellcheck disable=SC2046  # isolated_flags prints several words on purpose
expect_server_refuses $(isolated_flags s) --no-such-flag-xyz
note "exit $REFUSE_RC: $(printf '%s' "$REFUSE_OUT" | head -1)"
assert_contains "$REFUSE_OUT" "no-such-flag-xyz" "message for an unknown flag"
pass
