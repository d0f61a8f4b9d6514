#!/usr/bin/env bash
# The single test command: start the test-profile Redis/Postgres, build, run
# `swift test` against them.  Extra arguments go to `swift test`, e.g.
#   scripts/test.sh --filter IntegrationTests
# Test services are stopped on exit unless KEEP_SERVICES=1 or they were already
# running before this script started (so a concurrent run is not cut off).
set -euo pipefail

# shellcheck source=scripts/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

SERVICES="$ROOT/scripts/services.sh"

already_running=0
bash "$SERVICES" status test >/dev/null 2>&1 && already_running=1

cleanup() {
    if [[ ${KEEP_SERVICES:-0} != 1 && $already_running == 0 ]]; then
        bash "$SERVICES" stop test || true
    fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

bash "$SERVICES" start test
eval "$(bash "$SERVICES" env test)"
export REDIS_URL DATABASE_URL
export CARTHUB_BIN="$ROOT/.build/debug/carthub"
export CARTHUB_LUA_DIR="$ROOT/lua"
# openapi-spec-validator and schemathesis for the OpenAPI tests (pinned, project-local venv).
CARTHUB_PYTHON_TOOLS=$(bash "$ROOT/scripts/python-tools.sh")
export CARTHUB_PYTHON_TOOLS

swift build
# The shared test database gets its schema once, as an operator's would.
"$CARTHUB_BIN" migrate

rc=0
swift test "$@" || rc=$?
exit "$rc"
