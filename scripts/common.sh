# Sourced by run.sh, test.sh and bench.sh: the repo root as cwd, Swift on PATH, and
# the open-file limit raised as far as allowed (hubs and tests hold many sockets).
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)
cd "$ROOT"
if ! command -v swift >/dev/null 2>&1 && [[ -x /opt/swift/usr/bin/swift ]]; then
    export PATH="/opt/swift/usr/bin:$PATH"
fi
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
